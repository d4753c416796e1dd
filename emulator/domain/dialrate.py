"""The dial-rate book: how many new call attempts each virtual second has taken (`--dial-rate`)."""

from __future__ import annotations

__all__ = ["DialBook"]

_PRUNE_AT = 1024  # booked seconds kept before seconds already gone by are first forgotten


class DialBook:
    """Books each new attempt into the first virtual second, at or after the one it asks for,
    that has capacity left. Full seconds are skipped in near-constant time (a path-compressed
    chain of full seconds), so a million numbers book as fast as a few."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._used: dict[int, int] = {}
        self._next: dict[int, int] = {}  # full second -> a later second to try
        self._kept_from = 0
        self._prune_at = _PRUNE_AT

    def book(self, at_ms: int, now_ms: int) -> int:
        """The instant at which an attempt wanted at `at_ms` may be dialled (and book it)."""
        if self.rate <= 0:
            return at_ms
        self._forget_before(now_ms // 1000)
        second = self._free(at_ms // 1000)
        used = self._used.get(second, 0) + 1
        self._used[second] = used
        if used >= self.rate:
            self._next[second] = second + 1
        return max(at_ms, second * 1000)

    def _free(self, second: int) -> int:
        chain = self._next
        path = []
        while second in chain:
            path.append(second)
            second = chain[second]
        for full in path:
            chain[full] = second
        return second

    def _forget_before(self, second: int) -> None:
        # only once the book has doubled since the last pruning: a book holding many seconds
        # still to come would otherwise be copied whole every virtual second
        if second <= self._kept_from or len(self._used) < self._prune_at:
            return
        self._kept_from = second
        self._used = {s: n for s, n in self._used.items() if s >= second}
        self._next = {s: n for s, n in self._next.items() if s >= second}
        self._prune_at = max(_PRUNE_AT, 2 * len(self._used))

    def clear(self) -> None:
        self._used.clear()
        self._next.clear()
        self._kept_from = 0
        self._prune_at = _PRUNE_AT
