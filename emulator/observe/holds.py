"""The person at the console: while an interactive call waits for them, its world's clock waits.

In `auto`, a ringing or menu-waiting interactive call (magic number `0009`, or `outcome:
interactive`) holds an in-flight token on its own world's `Activity`, like a request in flight,
until a trigger acts on it or `hold_s` of real time pass (a real-time timer on the event loop,
cancelled when the call stops waiting). On a manual or realtime clock it holds nothing. Each
start and end of a wait is also published on the world's bus.
"""

from __future__ import annotations

import asyncio

from emulator.domain.models import CallLeg
from emulator.observe.bus import Bus
from emulator.sim.activity import Activity
from emulator.sim.clock import ClockMode, VirtualClock

__all__ = ["HOLD_S", "PersonHolds"]

HOLD_S = 60.0  # real seconds a waiting call may hold the clock (CONTRACT §9)


class PersonHolds:
    """`CalleeWaits` of one world: token and timer per waiting call, at most `hold_s` each."""

    def __init__(
        self, clock: VirtualClock, activity: Activity, bus: Bus, hold_s: float = HOLD_S
    ) -> None:
        self.clock = clock
        self.activity = activity
        self.bus = bus
        self.hold_s = hold_s
        self._held: dict[str, asyncio.TimerHandle] = {}
        self.expired = 0  # holds that ran out of real time without a trigger

    @property
    def held(self) -> int:
        return len(self._held)

    def begin(self, leg: CallLeg, what: str) -> None:
        if self.bus.listening:
            self.bus.waiting(leg, what)
        if self.clock.mode is not ClockMode.AUTO or leg.voice_id in self._held:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a pure clock test): nothing can wait in real time
            return
        self.activity.acquire()
        self._held[leg.voice_id] = loop.call_later(self.hold_s, self._expire, leg.voice_id)

    def end(self, leg: CallLeg) -> None:
        if self.bus.listening:
            self.bus.waiting(leg, None)
        self._release(leg.voice_id)

    def _expire(self, voice_id: str) -> None:
        if voice_id in self._held:
            self.expired += 1
            self._release(voice_id)

    def _release(self, voice_id: str) -> None:
        handle = self._held.pop(voice_id, None)
        if handle is not None:
            handle.cancel()
            self.activity.release()

    def reset(self) -> None:
        """Forget every hold (the world was reset or is closing)."""
        for voice_id in list(self._held):
            self._release(voice_id)
