"""Replay: run a scenario in-process against a real emulator server and check its expectations.

The emulator is the testing kit's `EmulatorServer` on 127.0.0.1 (port 0 unless asked), the
built-in client's webhook receiver on another free port; the client creates the script's
broadcasts and reacts to events through the real HTTP API. With `app_url`, the user's own app
receives the webhooks and plays the client. With `expect.deterministic`, the scenario runs twice
and the two event logs must be the same bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from emulator.config import Settings, load_settings
from emulator.replay.client import ClientError, ScriptClient, create_body
from emulator.replay.expect import Check, RunFacts, check_expectations
from emulator.replay.facts import collect_facts, record_delivery_log, summary
from emulator.replay.pipe import join
from emulator.replay.progress import Progress
from emulator.replay.receiver import WebhookReceiver
from emulator.replay.record import TIMELINE_NUMBERS, EventRecorder, Timeline
from emulator.scenario.model import BroadcastSpec, Scenario
from emulator.scenario.numbers import resolve_numbers
from emulator.scenario.world import ScenarioBehaviour, load_faults
from emulator.sim.clock import ClockMode
from emulator.testing.server import EmulatorServer

if TYPE_CHECKING:  # the world the testing kit serves; only its public attributes are read
    from emulator.world import World

__all__ = ["WIRES", "ReplayOptions", "ReplayResult", "replay", "replay_settings"]

WIRES = ("direct", "pipes", "sockets")
_POLL_S = 0.01
_STUCK_S = 1.0


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    app_url: str | None = None  # the user's app receives the webhooks and plays the client
    port: int = 0
    timeout_s: float = 600.0  # wall-clock limit of the whole run
    keep_log: bool = False  # keep every event for the JSON-lines log
    progress: TextIO | None = None  # where to draw a progress bar (stderr), or None
    keep_timeline: bool = False  # keep each number's events for the HTML page
    timeline_numbers: int = TIMELINE_NUMBERS  # numbers per broadcast drawn row by row
    # how the built-in client and the emulator talk: "direct" (webhooks through in-process pipes,
    # API calls handed straight to the application), "pipes" (both as HTTP through in-process
    # pipes) or "sockets" (both through loopback sockets): the same run, the CPU of it differs
    wire: str = "direct"
    # the process ends after this run (the CLI): its objects are left to the exit, not collected
    process_ends: bool = False


@dataclass(slots=True, repr=False)
class ReplayResult:
    scenario: Scenario
    facts: RunFacts
    checks: list[Check]
    summary: dict[str, Any]
    log_lines: list[str] = field(default_factory=list)
    emulator_url: str = ""
    timeline: Timeline | None = None

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def __repr__(self) -> str:
        # short: asyncio writes the repr of a finished task's result in places (Python 3.11
        # formats the SIGINT handler's, holding the main task, when `asyncio.run` ends), and the
        # dataclass repr of a 100,000-number run takes seconds
        verdict = "passed" if self.passed else "failed"
        return f"<ReplayResult {self.scenario.name!r} {verdict}, {len(self.checks)} checks>"


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
    """Run `scenario` and check its expectations (twice, with `deterministic: true`)."""
    options = options or ReplayOptions()
    with _collector(options.process_ends):
        return await _replay(scenario, options)


@contextlib.contextmanager
def _collector(process_ends: bool) -> Iterator[None]:
    """The garbage collector tuned for a run that allocates millions of short-lived objects
    next to a large heap that lives until the end (the legs, the delivery log, the events kept):
    what exists before the run is frozen out of every collection, and the youngest generation
    is collected every 50,000 allocations instead of 700, the older ones less often (each
    collection re-examines the survivors: 23 % of a 10,000-number replay's CPU before). The
    thresholds are restored afterwards and the frozen objects made collectable again; when the
    process ends with the run (the CLI), what it built is frozen instead: the full collection
    the run has run up, and the interpreter's at exit, would walk millions of objects (over a
    second for 100,000 numbers) to free memory the exit frees anyway."""
    old = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        if process_ends:
            gc.freeze()
        else:
            gc.unfreeze()


async def _replay(scenario: Scenario, options: ReplayOptions) -> ReplayResult:
    if options.wire not in WIRES:
        raise ValueError(f"unknown wire {options.wire!r}: one of {', '.join(WIRES)}")
    if not scenario.broadcasts:
        raise ValueError(f"{scenario.source}: nothing to replay: client.broadcasts is empty")
    if not scenario.expect.deterministic:
        return await _replay_once(scenario, options)
    first = await _replay_once(scenario, dataclasses.replace(options, keep_log=True))
    second = await _replay_once(
        scenario, dataclasses.replace(options, keep_log=True, keep_timeline=False, progress=None)
    )
    first.checks.append(_same_logs(first.log_lines, second.log_lines))
    if not options.keep_log:
        first.log_lines = []
    return first


def _same_logs(one: list[str], two: list[str]) -> Check:
    """Byte-identical event logs; otherwise the first line that differs, in both runs."""
    expected = "two runs with byte-identical event logs"
    if one == two:
        return Check("deterministic", True, expected, f"{len(one)} identical lines")
    line = next((i for i, (a, b) in enumerate(zip(one, two, strict=False)) if a != b), None)
    if line is None:
        actual = f"run 1 has {len(one)} lines, run 2 has {len(two)}"
    else:
        actual = f"line {line + 1} differs: run 1 {_cut(one[line])}; run 2 {_cut(two[line])}"
    return Check("deterministic", False, expected, actual)


def _cut(line: str, limit: int = 400) -> str:
    return line if len(line) <= limit else line[:limit] + "..."


async def _replay_once(scenario: Scenario, options: ReplayOptions) -> ReplayResult:
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


async def _run(
    scenario: Scenario,
    options: ReplayOptions,
    server: EmulatorServer,
    behaviour: ScenarioBehaviour,
    groups: dict[str, tuple[str, ...]],
) -> ReplayResult:
    em = server.emulator
    origin = em.clock.now_ms  # "since the replay started": fault windows and expected times
    behaviour.faults = load_faults(em.faults, scenario.world.faults, origin)
    expect = scenario.expect
    sequenced = [n for entry in expect.sequences for n in entry.numbers]
    recorder = EventRecorder(
        options.keep_log,
        sequenced,
        expect.event_matches,
        options.keep_timeline,
        options.timeline_numbers,
    )
    reactions = () if options.app_url else scenario.reactions
    client = ScriptClient(server, reactions, recorder, wire=options.wire)
    receiver: WebhookReceiver | None = None
    wall0 = time.monotonic()
    try:
        base_url = options.app_url
        if base_url is None:
            receiver = await WebhookReceiver(client.webhook).start("127.0.0.1", 0)
            base_url = receiver.url
            if options.wire != "sockets":
                _deliver_in_process(em, receiver)
        try:
            await _create_all(scenario, client, em, base_url, groups)
        except ClientError as exc:
            outcome = (False, str(exc))
        else:
            outcome = await _wait(em, client, len(scenario.broadcasts), options, wall0)
    finally:
        if receiver is not None:
            await receiver.close()
        await client.close()
    if options.app_url:
        record_delivery_log(em, recorder)
    facts = collect_facts(scenario, em, client, recorder, outcome, origin)
    checks = check_expectations(expect, facts)
    figures = summary(scenario, em, facts, time.monotonic() - wall0)
    lines = recorder.log_lines() if options.keep_log else []
    return ReplayResult(scenario, facts, checks, figures, lines, server.url, recorder.timeline)


def _deliver_in_process(em: World, receiver: WebhookReceiver) -> None:
    """The emulator reaches the receiver's address through an in-process pipe (its URL, its
    listening socket and its answers stay the same)."""
    host, _, port = receiver.url.removeprefix("http://").rpartition(":")

    def attach(protocol: asyncio.Protocol) -> None:
        join(protocol, receiver.connection)

    transport = em.dispatcher.transport
    assert transport is not None, "the emulator is serving: its transport exists"
    transport.local[(host, int(port))] = attach


async def _create_all(
    scenario: Scenario,
    client: ScriptClient,
    em: World,
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
                _create_later(client, em, spec, body, order, start + round(spec.at_s * 1000))
                continue
            bid = await client.create(spec, body, order)
            if spec.stop_at_s is not None:
                client.schedule_stop(bid, start + round(spec.stop_at_s * 1000))
    finally:
        em.activity.release()


def _create_later(
    client: ScriptClient,
    em: World,
    spec: BroadcastSpec,
    body: dict[str, Any],
    order: int,
    at_ms: int,
) -> None:
    async def create() -> None:
        bid = await client.create(spec, body, order)
        if spec.stop_at_s is not None:
            start = em.clock.start_ms
            client.schedule_stop(bid, start + round(spec.stop_at_s * 1000))

    client.at(at_ms, create)


def _done(em: World, client: ScriptClient, expected: int) -> bool:
    if len(client.broadcast_ids) < expected or client.busy:
        return False
    broadcasts = [em.store.broadcasts.get(bid) for bid in client.broadcast_ids.values()]
    if not all(b is not None and b.completion_sent for b in broadcasts):
        return False
    return em.dispatcher.pending == 0 and em.activity.held == 0


def _idle(em: World, client: ScriptClient) -> bool:
    quiet = em.activity.held == 0 and em.dispatcher.pending == 0 and not client.busy
    return quiet and em.clock.next_due() is None


async def _wait(
    em: World, client: ScriptClient, expected: int, options: ReplayOptions, wall0: float
) -> tuple[bool, str]:
    """Until every broadcast has completed, nothing more can happen, or the wall limit passes."""
    progress = Progress(em, options.progress) if options.progress is not None else None
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
