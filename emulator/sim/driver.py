"""The clock driver: the one task that moves virtual time in `auto` and `realtime` modes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

from emulator.sim.activity import Activity
from emulator.sim.clock import ClockMode, VirtualClock

__all__ = ["ClockDriver", "IdleLimitError"]

_ZERO_SLEEPS = 3


class IdleLimitError(RuntimeError):
    """`run_until_idle` hit its guard: something keeps scheduling timers forever."""


class ClockDriver:
    """Moves time: jumps when idle (`auto`), follows the wall (`realtime`), or on request.

    Its task runs only while timers are due: it ends when none is left and starts again when one
    is scheduled (or `poke()` is called), so an idle world wakes no task.
    """

    def __init__(self, clock: VirtualClock, activity: Activity, settle_ms: float = 20.0) -> None:
        self.clock = clock
        self.activity = activity
        self.settle_s = max(0.0, settle_ms) / 1000.0
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._started = False
        clock.on_schedule = self.poke

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Move time from now on (in `auto` and `realtime`); call from the event loop."""
        self._started = True
        self._ensure()

    def _ensure(self) -> None:
        if self._task is not None or not self._started or self.clock.mode is ClockMode.MANUAL:
            return
        if self.clock.next_due() is not None:  # nothing due: no task (an idle world wakes none)
            self._task = asyncio.create_task(self._run(), name="clock-driver")

    async def stop(self) -> None:
        self._started = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    @property
    def active(self) -> bool:
        """True while the driver's task exists (it ends when nothing is due)."""
        return self._task is not None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ClockDriver]:
        self.start()
        try:
            yield self
        finally:
            await self.stop()

    @asynccontextmanager
    async def holding(self) -> AsyncIterator[None]:
        """Hold virtual time still while the body runs, in every mode: the driver, `advance`
        and `run_until_idle` all move time under this lock, so no timer fires meanwhile."""
        async with self._lock:
            yield

    def poke(self) -> None:
        """Wake the driver (activity changed, a timer was added, the mode changed)."""
        self._wake.set()
        self._ensure()

    # -- waiting for quiet -----------------------------------------------------------------
    async def settle(self) -> None:
        """Return once no token is held and the settle window has passed since the last release."""
        while True:
            await self.activity.wait_idle()
            generation = self.activity.generation
            for _ in range(_ZERO_SLEEPS):
                await asyncio.sleep(0)
            remaining = self.activity.last_release + self.settle_s - time.monotonic()
            if remaining > 0:
                await asyncio.sleep(remaining)
            if self.activity.held == 0 and self.activity.generation == generation:
                return

    # -- the loops -------------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            if self.clock.mode is ClockMode.REALTIME:
                await self._run_realtime()
            else:
                await self._run_auto()
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def _run_auto(self) -> None:
        while True:
            await self.settle()
            async with self._lock:
                due = self.clock.next_due()
                if due is None:
                    return  # nothing to do: the next timer scheduled starts a new task
                if self.activity.held == 0:
                    self.clock.jump_to(due)

    async def _run_realtime(self) -> None:
        while True:
            due = self.clock.next_due()
            if due is None:
                return  # nothing to do: the next timer scheduled starts a new task
            delay = (due - self.clock.now_ms) / 1000.0 / self.clock.speed
            if delay > 0:
                self._wake.clear()
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
                continue
            async with self._lock:
                self.clock.fire_due()
            await asyncio.sleep(0)

    # -- control plane ---------------------------------------------------------------------
    async def advance(self, ms: int) -> None:
        """Move time forward `ms`, firing due timers instant by instant and letting each settle."""
        target = self.clock.now_ms + max(0, int(ms))
        await self._step_until(lambda due: due <= target, limit=None)
        async with self._lock:
            self.clock.jump_to(target)
        await self.settle()

    async def run_until_idle(self, max_timers: int = 10_000_000) -> int:
        """Fire every timer until none is left; returns how many fired."""
        return await self._step_until(lambda due: True, limit=max_timers)

    async def _step_until(self, accept: Callable[[int], bool], limit: int | None) -> int:
        fired = 0
        while True:
            await self.settle()
            async with self._lock:
                due = self.clock.next_due()
                if due is None or not accept(due):
                    return fired
                fired += self.clock.jump_to(due)
            if limit is not None and fired > limit:
                raise IdleLimitError(f"more than {limit} timers fired; giving up")
