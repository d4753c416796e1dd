"""Replay: run a scenario in-process against a real emulator server and check its expectations.

The emulator listens on 127.0.0.1 (port 0 unless asked), the built-in client's webhook receiver
on another free port; the client creates the script's broadcasts and reacts to events through the
real HTTP API. With `app_url`, the user's own app receives the webhooks and plays the client.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO

from aiohttp import web

from emulator.config import Settings, load_settings
from emulator.replay.client import ClientError, ScriptClient, create_body
from emulator.replay.expect import Check, RunFacts, check_expectations
from emulator.replay.record import EventRecorder
from emulator.runtime import Emulator
from emulator.scenario.model import BroadcastSpec, Scenario
from emulator.scenario.numbers import resolve_numbers
from emulator.scenario.world import ScenarioBehaviour, load_faults
from emulator.sim.clock import ClockMode
from emulator.testing.server import EmulatorServer

__all__ = ["ReplayOptions", "ReplayResult", "replay", "replay_settings"]

_POLL_S = 0.01
_STUCK_S = 1.0


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    app_url: str | None = None  # the user's app receives the webhooks and plays the client
    port: int = 0
    timeout_s: float = 600.0  # wall-clock limit of the whole run
    keep_log: bool = False  # keep every event for the JSON-lines log
    progress: TextIO | None = None  # where to draw a progress bar (stderr), or None


@dataclass(slots=True)
class ReplayResult:
    scenario: Scenario
    facts: RunFacts
    checks: list[Check]
    summary: dict[str, Any]
    log_lines: list[str] = field(default_factory=list)
    emulator_url: str = ""

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def replay_settings(scenario: Scenario, options: ReplayOptions) -> Settings:
    """Defaults < scenario; the environment is ignored, so a replay is the same everywhere."""
    base = Settings(
        host="127.0.0.1",
        port=options.port,
        settle_ms=20.0 if options.app_url else 0.0,
        # an external app's events are read back from the delivery log: keep all of them
        delivery_log_size=1_000_000 if options.app_url else Settings().delivery_log_size,
        shutdown_grace_s=0.0,
    )
    return load_settings(environ={}, scenario=scenario.settings, base=base)


async def replay(scenario: Scenario, options: ReplayOptions | None = None) -> ReplayResult:
    options = options or ReplayOptions()
    if not scenario.broadcasts:
        raise ValueError(f"{scenario.source}: nothing to replay: client.broadcasts is empty")
    settings = replay_settings(scenario, options)
    ordered = {
        name: resolve_numbers(src, scenario.world.groups, settings.seed)
        for name, src in scenario.world.groups.items()
    }
    behaviour = ScenarioBehaviour(
        scenario.world, settings.seed, {k: frozenset(v) for k, v in ordered.items()}
    )
    server = EmulatorServer(settings, behaviour)
    try:
        await server.start(settings.host, settings.port)
        return await _run(scenario, options, server, behaviour, ordered)
    finally:
        await server.close()


def _port(site: web.TCPSite) -> int:
    return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]


async def _run(
    scenario: Scenario,
    options: ReplayOptions,
    server: EmulatorServer,
    behaviour: ScenarioBehaviour,
    groups: dict[str, tuple[str, ...]],
) -> ReplayResult:
    em = server.emulator
    behaviour.faults = load_faults(em.faults, scenario.world.faults, em.clock.now_ms)
    expect = scenario.expect
    recorder = EventRecorder(
        options.keep_log, expect.sequences.keys(), tuple(m for m, _ in expect.event_matches)
    )
    client = ScriptClient(server, () if options.app_url else scenario.reactions, recorder)
    receiver: web.AppRunner | None = None
    wall0 = time.monotonic()
    try:
        base_url = options.app_url
        if base_url is None:
            receiver = web.AppRunner(client.app(), access_log=None)
            await receiver.setup()
            site = web.TCPSite(receiver, "127.0.0.1", 0)
            await site.start()
            base_url = f"http://127.0.0.1:{_port(site)}"
        try:
            await _create_all(scenario, client, em, base_url, groups)
        except ClientError as exc:
            finished, reason = False, str(exc)
        else:
            finished, reason = await _wait(em, client, len(scenario.broadcasts), options, wall0)
    finally:
        await client.close()
        if receiver is not None:
            await receiver.cleanup()
    if options.app_url:
        _replay_delivery_log(em, recorder)
    facts = _facts(scenario, em, client, recorder, finished, reason)
    checks = check_expectations(expect, facts)
    summary = _summary(scenario, em, facts, time.monotonic() - wall0)
    lines = recorder.log_lines() if options.keep_log else []
    return ReplayResult(scenario, facts, checks, summary, lines, server.url)


async def _create_all(
    scenario: Scenario,
    client: ScriptClient,
    em: Emulator,
    base_url: str,
    groups: dict[str, tuple[str, ...]],
) -> None:
    """Create every broadcast (at once, or from a timer for `at_s`); time waits meanwhile."""
    start = em.clock.now_ms
    em.activity.acquire()
    try:
        for order, spec in enumerate(scenario.broadcasts):
            if spec.numbers.kind == "group":
                numbers = groups.get(spec.numbers.group, ())
            else:
                numbers = resolve_numbers(spec.numbers, scenario.world.groups, em.settings.seed)
            body = create_body(spec, numbers, base_url)
            if spec.at_s > 0:
                _create_later(client, em, spec, body, order, start + int(spec.at_s * 1000))
                continue
            bid = await client.create(spec, body, order)
            if spec.stop_at_s is not None:
                client.schedule_stop(bid, start + int(spec.stop_at_s * 1000))
    finally:
        em.activity.release()


def _create_later(
    client: ScriptClient,
    em: Emulator,
    spec: BroadcastSpec,
    body: dict[str, Any],
    order: int,
    at_ms: int,
) -> None:
    async def create() -> None:
        bid = await client.create(spec, body, order)
        if spec.stop_at_s is not None:
            start = em.clock.start_ms
            client.schedule_stop(bid, start + int(spec.stop_at_s * 1000))

    client.at(at_ms, create)


def _done(em: Emulator, client: ScriptClient, expected: int) -> bool:
    if len(client.broadcast_ids) < expected or client.busy:
        return False
    broadcasts = [em.store.broadcasts.get(bid) for bid in client.broadcast_ids.values()]
    if not all(b is not None and b.completion_sent for b in broadcasts):
        return False
    return em.dispatcher.pending == 0 and em.activity.held == 0


def _idle(em: Emulator, client: ScriptClient) -> bool:
    quiet = em.activity.held == 0 and em.dispatcher.pending == 0 and not client.busy
    return quiet and em.clock.next_due() is None


async def _wait(
    em: Emulator, client: ScriptClient, expected: int, options: ReplayOptions, wall0: float
) -> tuple[bool, str]:
    """Until every broadcast has completed, nothing more can happen, or the wall limit passes."""
    progress = _Progress(em, options.progress) if options.progress is not None else None
    idle_since: float | None = None
    manual = em.clock.mode is ClockMode.MANUAL
    try:
        while True:
            if manual:
                await em.driver.run_until_idle()
            if _done(em, client, expected):
                return True, "finished"
            now = time.monotonic()
            if now - wall0 > options.timeout_s:
                return False, f"timed out after {options.timeout_s:g} s of wall time"
            idle_since = (idle_since or now) if _idle(em, client) else None
            if idle_since is not None and now - idle_since > _STUCK_S:
                return False, "stuck: nothing left to happen but not every broadcast completed"
            if progress is not None:
                progress.draw()
            await asyncio.sleep(_POLL_S)  # noqa: TID251 -- wall-clock polling of the runner
    finally:
        if progress is not None:
            progress.close()


class _Progress:
    """A one-line progress bar: numbers finished of all numbers, and virtual time."""

    def __init__(self, em: Emulator, out: TextIO, width: int = 30) -> None:
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


def _replay_delivery_log(em: Emulator, recorder: EventRecorder) -> None:
    """With an external app, the events are what the emulator delivered (its delivery log)."""
    for delivery in em.dispatcher.log:
        if delivery.state == "delivered":
            recorder.add(_path_of(delivery.url), delivery.payload)


def _path_of(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return "/" + rest.split("/", 1)[1] if "/" in rest else "/"


def _facts(
    scenario: Scenario,
    em: Emulator,
    client: ScriptClient,
    recorder: EventRecorder,
    finished: bool,
    reason: str,
) -> RunFacts:
    broadcasts: list[dict[str, Any]] = []
    numbers: dict[str, dict[str, Any]] = {}
    results: Counter[str] = Counter()
    for spec in scenario.broadcasts:
        bid = client.broadcast_ids.get(spec.name)
        b = em.store.broadcasts.get(bid) if bid is not None else None
        if b is None:
            continue
        broadcasts.append(
            {
                "name": spec.name,
                "broadcast_id": bid,
                "state": b.state.value,
                "successful": b.successful,
                "failed": b.failed,
                "total": len(b.targets),
                "attempts": b.attempts,
                "completion_sent": b.completion_sent,
            }
        )
        for target in b.targets:
            reason_text = target.result.reason if target.result else "unfinished"
            results[reason_text] += 1
            numbers.setdefault(target.number, {"result": reason_text, "attempts": target.attempts})
    virtual_s = (em.clock.now_ms - em.clock.start_ms) / 1000.0
    d = em.dispatcher
    return RunFacts(
        finished, reason, virtual_s, broadcasts, numbers, results, recorder, d.dead,
        d.pending, list(client.errors),
    )  # fmt: skip


def _summary(scenario: Scenario, em: Emulator, facts: RunFacts, wall_s: float) -> dict[str, Any]:
    return {
        "scenario": scenario.name,
        "seed": em.settings.seed,
        "numbers": sum(b["total"] for b in facts.broadcasts),
        "calls_by_outcome": dict(sorted(facts.results.items())),
        "attempts": sum(b["attempts"] for b in facts.broadcasts),
        "events": facts.recorder.total,
        "events_by_type": dict(sorted(facts.recorder.by_name.items())),
        "webhooks": {
            "delivered": em.dispatcher.delivered,
            "dead": facts.webhooks_dead,
            "pending": facts.webhooks_pending,
        },
        "faults_fired": em.faults.fired_total,
        "client_errors": len(facts.client_errors),
        "virtual_start": em.clock.iso(em.clock.start_ms),
        "virtual_end": em.clock.now_iso(),
        "virtual_s": facts.virtual_s,
        "wall_s": round(wall_s, 3),
    }
