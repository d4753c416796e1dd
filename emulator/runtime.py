"""The Emulator: one object that wires clock, domain, webhooks and journal for one server."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emulator import state
from emulator.api.dialects import CreateLimits, normalise_number
from emulator.config import Settings
from emulator.domain.behaviour import Behaviour, MagicNumbers, Timings
from emulator.domain.ids import IdFactory
from emulator.domain.service import BroadcastService
from emulator.domain.store import Store
from emulator.fault_specs import parse_api_faults, parse_webhook_faults
from emulator.faults import FaultBook
from emulator.sim.activity import Activity
from emulator.sim.clock import VirtualClock
from emulator.sim.driver import ClockDriver
from emulator.webhooks.crypto import BodyEncoder
from emulator.webhooks.delivery import DeliveryPolicy
from emulator.webhooks.dispatcher import Dispatcher
from emulator.webhooks.events import EventEmitter
from emulator.webhooks.targets import Listener, allow_list

if TYPE_CHECKING:
    from emulator.scenario.model import Scenario

__all__ = ["Emulator", "JournalEntry"]

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


class Emulator:
    """Everything one running emulator owns. Created by `create_app`; no aiohttp server here."""

    def __init__(
        self,
        settings: Settings,
        behaviour: Behaviour | None = None,
        scenario: Scenario | None = None,
    ) -> None:
        """`scenario`, when given, is `settings.scenario` already loaded (not read again)."""
        self.settings = settings
        self.clock = VirtualClock(settings.start_ms, settings.clock, settings.speed)
        self.activity = Activity()
        self.driver = ClockDriver(self.clock, self.activity, settings.settle_ms)
        self.store = Store()
        self.ids = IdFactory(settings.seed)
        self.behaviour: Behaviour = behaviour or MagicNumbers(settings.timings)
        self.faults = FaultBook(settings.seed)
        self._load_flag_faults()
        self.listener = Listener()  # where the server listens: filled once its site starts
        self.dispatcher = Dispatcher(
            self.clock,
            self.activity,
            BodyEncoder(settings.webhook_encryption, settings.app_id, settings.webhook_format),
            _delivery_policy(settings),
            self.faults,
            listener=self.listener,
        )
        self.events = EventEmitter(self.clock, self.dispatcher)
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
        )
        self.limits = _create_limits(settings, self.listener)
        self.journal: deque[JournalEntry] = deque(maxlen=max(1, settings.journal_size))
        self.journal_dropped = 0
        self._journal_seq = 0
        self.restored: dict[str, int] = {}
        self.snapshots = 0
        if scenario is not None:
            from emulator.scenario import apply_world

            apply_world(self, scenario)
        elif settings.scenario and behaviour is None:
            self.load_scenario_file(settings.scenario)

    def load_scenario_file(self, path: str) -> dict[str, Any]:
        """Load the world of a scenario file (rules, prompts, timings, faults)."""
        from emulator.scenario import apply_world, load_scenario  # the scenario layer sits above

        return apply_world(self, load_scenario(path))

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
        if self.settings.state_file:
            self._restore_state(self.settings.state_file)
        await self.dispatcher.start()
        self.driver.start()

    def _restore_state(self, path: str) -> None:
        data = state.read_state(path)
        if data is None:
            return
        try:
            self.restored = state.restore(self, data)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise state.StateError(f"{path}: damaged state file ({exc!r})") from None
        log.info("restored %s from %s", self.restored, path)

    async def save_state(self) -> dict[str, Any]:
        """Write the state file now (atomically); returns what was written."""
        path = self.settings.state_file
        if not path:
            raise ValueError("no --state-file configured")
        data = state.snapshot(self)
        written = await asyncio.to_thread(state.write_state, path, data)
        self.snapshots += 1
        return {
            "path": path,
            "bytes": written,
            "broadcasts": len(data["broadcasts"]),
            "legs": sum(len(b["legs"]) for b in data["broadcasts"]),
            "deliveries": len(data["deliveries"]),
        }

    async def close(self) -> None:
        """Stop moving time, let queued deliveries finish (bounded), then save the state file."""
        await self.driver.stop()
        await self.dispatcher.close(self.settings.shutdown_grace_s)
        if self.settings.state_file:
            try:
                await self.save_state()
            except OSError as exc:
                log.error("could not write the state file %s: %s", self.settings.state_file, exc)

    def record(self, method: str, path: str, status: int, dialect: str | None, body: Any) -> None:
        """Journal one API request (on the hot path: nothing is formatted here)."""
        self._journal_seq += 1
        if len(self.journal) == self.journal.maxlen:
            self.journal_dropped += 1
        self.journal.append(
            JournalEntry(self._journal_seq, self.clock.now_ms, method, path, status, dialect, body)
        )

    def reset(self) -> None:
        """Forget every broadcast, call, journal entry and delivery; back to the start instant."""
        self.clock.reset()
        self.dispatcher.reset()
        self.activity.reset()
        self.service.reset()
        self.journal.clear()
        self.journal_dropped = 0
        self._journal_seq = 0
        self.driver.poke()

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
            "state_file": {
                "path": self.settings.state_file,
                "restored": self.restored,
                "snapshots": self.snapshots,
            },
            "in_flight": self.activity.held,
            "clock_held_by": d.held_by(),
            "timer_errors": self.clock.errors,
        }


def _delivery_policy(settings: Settings) -> DeliveryPolicy:
    return DeliveryPolicy(
        attempts=max(1, settings.webhook_attempts),
        backoff_s=settings.webhook_backoff_s,
        timeout_s=settings.webhook_timeout_s,
        workers=max(1, settings.webhook_workers),
        verify_tls=settings.webhook_verify_tls,
        log_size=settings.delivery_log_size,
        outage_s=settings.webhook_outage_s,
        allow=allow_list(settings.webhook_allow),
    )


def _create_limits(settings: Settings, listener: Listener) -> CreateLimits:
    cli = tuple(n for n in (normalise_number(c) for c in settings.cli_numbers) if n)
    return CreateLimits(cli, settings.max_numbers, allow_list(settings.webhook_allow), listener)
