"""Deterministic identifiers: every id is a function of the seed and what it names."""

from __future__ import annotations

import hashlib

__all__ = ["IdFactory"]


class IdFactory:
    """Makes UUID-shaped ids from (seed, namespace, kind, parts), so ids never depend on event
    order. The namespace is empty for the default project and the APP_ID for every other one, so
    two projects with the same seed never share an id."""

    def __init__(self, seed: int, namespace: str = "") -> None:
        self.seed = seed
        self._prefix = f"{seed}|{namespace}|" if namespace else f"{seed}|"
        self._broadcasts = 0

    def broadcast(self) -> str:
        self._broadcasts += 1
        return self.make("broadcast", self._broadcasts)

    def make(self, kind: str, *parts: object) -> str:
        key = f"{self._prefix}{kind}|" + "|".join(str(p) for p in parts)
        h = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"

    @property
    def broadcasts_made(self) -> int:
        """How many broadcast ids were made (a restored state file continues from here)."""
        return self._broadcasts

    def continue_from(self, count: int) -> None:
        """Never hand out the first `count` broadcast ids again."""
        self._broadcasts = max(self._broadcasts, count)

    def reset(self) -> None:
        self._broadcasts = 0
