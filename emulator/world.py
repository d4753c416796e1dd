"""A World: everything one project (one APP_ID) sees: its clock, broadcasts, webhooks and logs.

The server holds many worlds (`emulator.projects.Projects`); nothing one world does is visible to
another or moves, holds or slows another's clock. A world is built from settings and plain data
(a callee behaviour, faults); it never reads files and never imports the scenario or state-file
layers: the app hands it what they produce. An idle world runs no task.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator.api.dialects import CreateLimits, normalise_number
from emulator.config import Settings
from emulator.domain.behaviour import Behaviour, MagicNumbers, Timings
from emulator.domain.ids import IdFactory
from emulator.domain.service import BroadcastService
from emulator.domain.store import Store
from emulator.fault_specs import parse_api_faults, parse_webhook_faults
from emulator.faults import FaultBook
from emulator.observe.bus import Bus
from emulator.observe.holds import PersonHolds
from emulator.sim.activity import Activity
from emulator.sim.clock import VirtualClock
from emulator.sim.driver import ClockDriver
from emulator.webhooks.crypto import BodyEncoder
from emulator.webhooks.delivery import DeliveryPolicy
from emulator.webhooks.dispatcher import Dispatcher
from emulator.webhooks.events import EventEmitter

__all__ = ["Emulator", "JournalEntry", "World"]

log = logging.getLogger("emulator")


@dataclass(slots=True)
class JournalEntry:
    """One API request as the journal keeps it (formatted only when read)."""

    seq: int
    virtual_ms: int
    method: str
    path: str
    status: int
    dialect: str | None
    body: Any

    def as_json(self, iso: Callable[[int], str]) -> dict[str, Any]:
        return {
            "id": self.seq,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "virtual_time": iso(self.virtual_ms),
            "dialect": self.dialect,
            "body": self.body,
        }


class World:
    """One project's world. `settings` are the project's own (its credentials, clock, seed...)."""

    def __init__(
        self, settings: Settings, behaviour: Behaviour | None = None, namespace: str = ""
    ) -> None:
        """`namespace` (the APP_ID of every project but the default one) goes into every id."""
        self.settings = settings
        self.clock = VirtualClock(settings.start_ms, settings.clock, settings.speed)
        self.activity = Activity()
        self.driver = ClockDriver(self.clock, self.activity, settings.settle_ms)
        self.store = Store()
        self.ids = IdFactory(settings.seed, namespace)
        self.behaviour: Behaviour = behaviour or MagicNumbers(settings.timings)
        self.faults = FaultBook(settings.seed)
        self._load_flag_faults()
        self.bus = Bus(self.clock, settings.app_id, default=not namespace)  # what happens here
        self.holds = PersonHolds(self.clock, self.activity, self.bus)
        self.dispatcher = Dispatcher(
            self.clock,
            self.activity,
            BodyEncoder(settings.webhook_encryption, settings.app_id, settings.webhook_format),
            _delivery_policy(settings),
            self.faults,
        )
        self.events = EventEmitter(self.clock, self.dispatcher, self.bus)
        self.events.completion_override = settings.completion_state
        self.dispatcher.on_settled = self.events.delivery_settled
        self.service = BroadcastService(
            self.clock,
            self.store,
            self.ids,
            self.behaviour,
            self.events,
            settings.timings,
            settings.dial_rate,
            self.holds,
        )
        self._observe()
        self.limits = _create_limits(settings)
        self.journal: deque[JournalEntry] = deque(maxlen=max(1, settings.journal_size))
        self.journal_dropped = 0
        self._journal_seq = 0
        self.restored: dict[str, int] = {}

    @property
    def app_id(self) -> str:
        return self.settings.app_id

    @property
    def app_key(self) -> str:
        return self.settings.app_key

    @property
    def now_ms(self) -> int:
        """The world's virtual now (what scenario faults' windows count from)."""
        return self.clock.now_ms

    def _observe(self) -> None:
        """Feed the bus from the publishing points that are not builders of their own."""
        bus = self.bus
        self.dispatcher.on_attempt = bus.attempt
        self.clock.on_jump = bus.clock_jumped
        bus.max_attempts = self.dispatcher.policy.attempts
        bus.leg_of = self.store.legs.get
        bus.waiting_in = self.waiting_in

    def waiting_in(self, broadcast: Any) -> int:
        """Interactive calls of `broadcast` waiting for a person."""
        legs = self.store.legs
        waiting = self.service.waiting
        return sum(1 for v in waiting if (leg := legs.get(v)) and leg.broadcast is broadcast)

    def use_behaviour(self, behaviour: Behaviour, timings: Timings | None = None) -> None:
        """Swap the callee behaviour (and timings) at run time; legs already dialled keep theirs."""
        self.behaviour = self.service.behaviour = behaviour
        if timings is not None:
            self.service.timings = timings

    def _load_flag_faults(self) -> None:
        now = self.clock.now_ms
        for fault in parse_api_faults(self.settings.api_fault or "", now):
            self.faults.add(fault)
        for webhook_fault in parse_webhook_faults(self.settings.webhook_fault or "", now):
            self.faults.add(webhook_fault)

    async def start(self) -> None:
        """Start delivering (the clock driver starts by itself when there is something to do)."""
        await self.dispatcher.start()
        self.driver.start()

    async def close(self, drain_s: float = 0.0) -> None:
        """Stop moving time and let queued deliveries finish for at most `drain_s` real seconds."""
        self.holds.reset()
        self.bus.close()
        await self.driver.stop()
        await self.dispatcher.close(drain_s)

    def record(self, method: str, path: str, status: int, dialect: str | None, body: Any) -> None:
        """Journal one API request (on the hot path: nothing is formatted here), and publish it."""
        self._journal_seq += 1
        if len(self.journal) == self.journal.maxlen:
            self.journal_dropped += 1
        entry = JournalEntry(
            self._journal_seq, self.clock.now_ms, method, path, status, dialect, body
        )
        self.journal.append(entry)
        created = self.service.last_created
        if created is not None:
            self.service.last_created = None
            if method == "POST" and status == 200 and path.endswith("/broadcast"):
                created.journal_id = entry.seq  # the create request of that broadcast
            else:
                created = None
        if self.bus.listening:
            self.bus.request(entry, created)

    def reset(self) -> None:
        """Forget every broadcast, call, journal entry and delivery; back to the start instant.
        Faults and the loaded scenario world stay."""
        self.holds.reset()
        self.clock.reset()
        self.dispatcher.reset()
        self.activity.reset()
        self.service.reset()
        self.journal.clear()
        self.journal_dropped = 0
        self._journal_seq = 0
        self.bus.reset()
        self.driver.poke()

    def clock_json(self) -> dict[str, Any]:
        """`GET /_emulator/clock`: mode, virtual now, timers pending, and more."""
        clock = self.clock
        return {
            "mode": clock.mode.value,
            "now": clock.now_iso(),
            "now_ms": clock.now_ms,
            "start": clock.iso(clock.start_ms),
            "pending": clock.pending,
            "speed": clock.speed,
            "in_flight": self.activity.held,
        }

    def summary(self) -> dict[str, Any]:
        """One row of `GET /_emulator/projects`."""
        clock = self.clock
        return {
            "app_id": self.app_id,
            "broadcasts": len(self.store.broadcasts),
            "clock": {"mode": clock.mode.value, "now": clock.now_iso(), "pending": clock.pending},
        }

    def health(self) -> dict[str, Any]:
        d = self.dispatcher
        return {
            "status": "ok",
            "clock": self.settings.clock.value,
            "now": self.clock.now_iso(),
            "broadcasts": len(self.store.broadcasts),
            "live_calls": sum(b.live_legs for b in self.store),
            "webhooks": {
                "delivered": d.delivered,
                "dead": d.dead,
                "pending": d.pending,
                "log_size": d.policy.log_size,
                "log_dropped": d.dropped,
            },
            "journal": {"size": self.journal.maxlen, "dropped": self.journal_dropped},
            "faults": {
                "active": len(self.faults.api) + len(self.faults.webhook),
                "fired": self.faults.fired_total,
                "fired_dropped": self.faults.fired_dropped,
            },
            "in_flight": self.activity.held,
            "timer_errors": self.clock.errors,
            "interactive": {"waiting": len(self.service.waiting), "holding": self.holds.held},
            "stream_clients": len(self.bus.ring.readers) if self.bus.ring is not None else 0,
        }


Emulator = World  # the name of one world before projects existed (kept for existing code)


def _delivery_policy(settings: Settings) -> DeliveryPolicy:
    return DeliveryPolicy(
        attempts=max(1, settings.webhook_attempts),
        backoff_s=settings.webhook_backoff_s,
        timeout_s=settings.webhook_timeout_s,
        workers=max(1, settings.webhook_workers),
        verify_tls=settings.webhook_verify_tls,
        log_size=settings.delivery_log_size,
    )


def _create_limits(settings: Settings) -> CreateLimits:
    cli = tuple(n for n in (normalise_number(c) for c in settings.cli_numbers) if n)
    allow = tuple(host.lower() for host in settings.webhook_allow)
    return CreateLimits(cli, settings.max_numbers, allow)
