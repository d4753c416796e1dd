"""The virtual clock: integer milliseconds and a deterministic heap of instants and their timers."""

from __future__ import annotations

import enum
import heapq
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

__all__ = ["ClockMode", "Timer", "VirtualClock", "format_iso", "parse_iso"]

log = logging.getLogger("emulator.clock")


class ClockMode(enum.StrEnum):
    AUTO = "auto"
    MANUAL = "manual"
    REALTIME = "realtime"


class Timer:
    """A scheduled callback; `cancel()` makes it a no-op (it stays in its instant's list).

    A timer that fired, or that a clock reset dropped, is detached: cancelling it changes nothing.
    """

    __slots__ = ("_args", "_bucket", "callback", "due")

    def __init__(
        self,
        due: int,
        callback: Callable[..., None],
        args: Any,
        bucket: _Bucket | None = None,
    ) -> None:
        self.due = due
        self.callback = callback
        self._args = args  # the callback's arguments: a tuple, or the one argument (`_OneArg`)
        self._bucket = bucket  # the list of its instant that holds it, while it waits there

    def fire(self) -> None:
        self.callback(*self._args)

    @property
    def cancelled(self) -> bool:
        """Cancelled, fired or dropped: no longer waiting (no flag of its own: 16 bytes a timer)."""
        return self._bucket is None

    def cancel(self) -> None:
        bucket = self._bucket
        if bucket is not None:
            bucket.live -= 1
            bucket.clock._live -= 1
            self._bucket = None

    def detach(self) -> None:
        """The clock no longer holds this timer: it can neither fire nor be counted."""
        self._bucket = None


class _OneArg(Timer):
    """A timer whose callback takes one argument, kept as is: most timers of a campaign are a
    call's next move, and a tuple of one was 48 bytes each."""

    __slots__ = ()

    def fire(self) -> None:
        self.callback(self._args)


class _Bucket:
    """The timers of one (due, priority), in the order they were scheduled: the heap holds one
    entry per instant, not one per timer (a campaign schedules a timer per number per step, a
    million at one instant)."""

    __slots__ = ("clock", "due", "live", "next", "timers")

    def __init__(self, clock: VirtualClock, due: int) -> None:
        self.clock = clock
        self.due = due  # one int object for all its timers (each made its own: 32 bytes)
        self.timers: list[Timer | None] = []
        self.live = 0  # timers not cancelled and not fired yet
        self.next = 0  # the first timer not fired yet (a bucket resumed after an earlier one)


_Entry = tuple[int, int, _Bucket]


class VirtualClock:
    """Owns virtual `now` (ms since the epoch) and the timers due on it.

    Timers fire in (due, priority, sequence) order, so the same inputs give the same order.
    Only the driver and the control plane move time; everything else reads `now_ms`.
    """

    def __init__(
        self,
        start_ms: int,
        mode: ClockMode = ClockMode.AUTO,
        speed: float = 1.0,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self.start_ms = start_ms
        self.mode = mode
        self.speed = speed
        self._wall = wall
        self._wall0 = wall()
        self._now = start_ms
        self._heap: list[_Entry] = []  # one entry per (due, priority) with a bucket
        self._buckets: dict[tuple[int, int], _Bucket] = {}
        self._live = 0
        self.fired = 0
        self.errors = 0  # callbacks that raised (logged; the clock goes on)
        self.on_schedule: Callable[[], None] | None = None
        self.on_jump: Callable[[int], None] | None = None  # told the instant a jump left
        self._firing: int | None = None  # due instant of the timer being fired, if any
        self._iso_second = -1
        self._iso_head = ""
        self._iso_ms = -1
        self._iso_text = ""

    # -- reading -------------------------------------------------------------------------
    @property
    def now_ms(self) -> int:
        if self._firing is not None:  # a timer acts at its due instant, however late it fires
            return self._firing
        if self.mode is ClockMode.REALTIME:
            return max(self._now, self._wall_ms())
        return self._now

    def _wall_ms(self) -> int:
        return self.start_ms + round((self._wall() - self._wall0) * self.speed * 1000.0)

    def now_iso(self) -> str:
        return self.iso(self.now_ms)

    def iso(self, ms: int) -> str:
        """`format_iso`, remembering the last second formatted (events share instants)."""
        if ms == self._iso_ms:  # every event of an instant: one string, made once
            return self._iso_text
        seconds, millis = divmod(ms, 1000)
        if seconds != self._iso_second:
            self._iso_second = seconds
            self._iso_head = format_iso(seconds * 1000)[:-5]
        self._iso_ms, self._iso_text = ms, f"{self._iso_head}.{millis:03d}Z"
        return self._iso_text

    @property
    def pending(self) -> int:
        return self._live

    def next_due(self) -> int | None:
        heap = self._heap
        while heap and heap[0][2].live == 0:  # every timer of it cancelled
            due, priority, _ = heapq.heappop(heap)
            del self._buckets[due, priority]
        return heap[0][0] if heap else None

    # -- scheduling ----------------------------------------------------------------------
    def call_at(
        self, due_ms: int, callback: Callable[..., None], *args: Any, priority: int = 0
    ) -> Timer:
        due = max(int(due_ms), self._now)
        bucket = self._buckets.get((due, priority))
        if bucket is None:
            bucket = self._buckets[due, priority] = _Bucket(self, due)
            heapq.heappush(self._heap, (due, priority, bucket))
        if len(args) == 1:
            timer: Timer = _OneArg(bucket.due, callback, args[0], bucket)
        else:
            timer = Timer(bucket.due, callback, args, bucket)
        bucket.timers.append(timer)
        bucket.live += 1
        self._live += 1
        if self.on_schedule is not None:
            self.on_schedule()
        return timer

    def call_later(
        self, delay_ms: int, callback: Callable[..., None], *args: Any, priority: int = 0
    ) -> Timer:
        return self.call_at(self.now_ms + int(delay_ms), callback, *args, priority=priority)

    def cancel(self, timer: Timer | None) -> None:
        if timer is not None:
            timer.cancel()

    # -- moving time ---------------------------------------------------------------------
    def fire_due(self) -> int:
        """Fire every timer due at or before now (including ones scheduled while firing)."""
        return self._fire_until(self.now_ms)

    def jump_to(self, instant_ms: int) -> int:
        """Fire everything due by `instant_ms`, each at its own due instant, then set now there.

        Time never goes backwards: an instant in the past only fires what is due now.
        """
        before = self._now
        fired = self._fire_until(max(instant_ms, self.now_ms))
        if instant_ms > self._now:
            self._now = instant_ms
        self._rebase_wall()
        if self.on_jump is not None and self._now > before:
            self.on_jump(before)
        return fired

    def _fire_until(self, limit: int) -> int:
        heap = self._heap
        count = 0
        while heap and heap[0][0] <= limit:
            due, priority, bucket = heapq.heappop(heap)
            if bucket.live:
                self._now = max(self._now, due)
                count += self._fire_bucket(due, priority, bucket)
                if bucket.next < len(bucket.timers):
                    continue  # back on the heap, after a timer of a lower priority
            del self._buckets[due, priority]
        self.fired += count
        return count

    def _fire_bucket(self, due: int, priority: int, bucket: _Bucket) -> int:
        """Fire `bucket`'s timers in order, with those scheduled into it meanwhile; stop early
        (back on the heap) when one schedules a timer of the same instant and a lower priority."""
        heap, timers, count = self._heap, bucket.timers, 0
        self._firing = self._now  # a timer acts at its due instant, however late it fires
        try:
            while bucket.next < len(timers):
                timer = timers[bucket.next]
                timers[bucket.next] = None  # fired timers go now, not when the instant ends
                bucket.next += 1
                if timer is None or timer._bucket is None:  # cancelled
                    continue
                bucket.live -= 1
                self._live -= 1
                timer.detach()  # a fired timer can no longer be cancelled
                try:
                    timer.fire()
                except Exception:  # one broken callback must not stop time for every other call
                    self.errors += 1
                    log.exception("timer callback %r failed", timer.callback)
                count += 1
                if heap and heap[0][0] == due and heap[0][1] < priority:
                    if bucket.next < len(timers):
                        heapq.heappush(heap, (due, priority, bucket))
                    break
        finally:
            self._firing = None
        return count

    def _rebase_wall(self) -> None:
        if self.mode is ClockMode.REALTIME and self._now > self._wall_ms():
            self._wall0 = self._wall() - (self._now - self.start_ms) / 1000.0 / self.speed

    def reset(self, start_ms: int | None = None) -> None:
        """Forget every timer and go back to the start instant."""
        if start_ms is not None:
            self.start_ms = start_ms
        for bucket in self._buckets.values():
            for timer in bucket.timers:
                if timer is not None:
                    timer.detach()
        self._heap.clear()
        self._buckets.clear()
        self._live = 0
        self._now = self.start_ms
        self._wall0 = self._wall()
        self.fired = 0
        self.errors = 0


def format_iso(ms: int) -> str:
    """ISO-8601 UTC with milliseconds, as JavaScript's `toISOString()` writes it."""
    seconds, millis = divmod(ms, 1000)
    head = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{head}.{millis:03d}Z"


def parse_iso(text: str) -> int:
    """Parse an ISO-8601 instant (a trailing Z means UTC; naive means UTC) to ms."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)
