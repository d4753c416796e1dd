"""The replay's one-line progress bar on stderr: numbers finished of all numbers, virtual time."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # the world the testing kit serves; only its public attributes are read
    from emulator.world import World

__all__ = ["Progress"]


class Progress:
    """Redrawn at most four times a second; `close` draws the final state and a newline."""

    def __init__(self, em: World, out: TextIO, width: int = 30) -> None:
        self.em, self.out, self.width = em, out, width
        self.last = 0.0

    def draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < 0.25:
            return
        self.last = now
        total = sum(len(b.targets) for b in self.em.store) or 1
        done = sum(b.finished for b in self.em.store)
        filled = int(self.width * done / total)
        bar = "#" * filled + "-" * (self.width - filled)
        self.out.write(f"\r[{bar}] {done}/{total} numbers  {self.em.clock.now_iso()}")
        self.out.flush()

    def close(self) -> None:
        self.draw(force=True)
        self.out.write("\n")
        self.out.flush()
