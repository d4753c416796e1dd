"""The record of a world: published once, built only when someone listens, sampled where it must
be, and the serve log that reads it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from conftest import Receiver, Running, StartEmulator, until

from emulator.observe.bus import Bus, path_ids
from emulator.observe.ring import CALL, WEBHOOK, Message, Ring
from emulator.observe.serve_log import ServeLog
from emulator.sim.clock import VirtualClock

PERSON, BUSY = "919800000010", "919800000001"


def _tap(emu: Running) -> list[Message]:
    seen: list[Message] = []
    emu.emulator.bus.tap(seen.append)
    return seen


async def test_nothing_is_built_when_nobody_listens(
    emu: Running, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    original, original_source = Bus._deliver, Bus._deliver_source

    def deliver(self: Bus, message: Message) -> None:
        built.append(message.type)
        original(self, message)

    def deliver_source(self: Bus, kind: int, *rest: Any) -> None:
        built.append({CALL: "call", WEBHOOK: "webhook"}[kind])
        original_source(self, kind, *rest)

    monkeypatch.setattr(Bus, "_deliver", deliver)
    monkeypatch.setattr(Bus, "_deliver_source", deliver_source)
    await emu.api.create([PERSON, BUSY], receiver)
    await emu.api.wait_complete(receiver)
    assert not emu.emulator.bus.listening and built == []
    seen = _tap(emu)
    receiver.events.clear()
    await emu.api.create([PERSON], receiver)
    await emu.api.wait_complete(receiver)
    assert {"request", "call", "webhook", "broadcast"} <= set(built) and seen


async def test_progress_is_sampled_and_its_last_state_is_never_lost(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(clock="manual")
    bus = emu.emulator.bus
    seen = _tap(emu)
    bus._progress.interval_s = bus._clock.interval_s = 0.05
    numbers = [f"9198{i:07d}7" for i in range(200)]
    await emu.api.create(numbers, receiver, action_on_connect=None)
    await emu.api.advance(3)  # every call answered at once: hundreds of changes
    await until(lambda: not bus._progress.pending and not bus._clock.pending)
    progress = [m.data for m in seen if m.type == "broadcast" and m.data["change"] == "progress"]
    calls = [m for m in seen if m.type == "call"]
    assert len(calls) >= 600 and 1 <= len(progress) <= 5
    assert progress[-1]["by_state"]["connected"] == 200  # the trailing one has the last state
    clocks = [m.data for m in seen if m.type == "clock"]
    assert clocks[-1]["now"] == "2026-01-01T09:00:03.000Z" and len(clocks) <= 3


async def test_clock_jumps_are_sampled_with_where_they_started(
    start_emulator: StartEmulator,
) -> None:
    emu = await start_emulator(clock="manual")
    bus = emu.emulator.bus
    bus._clock.interval_s = 60.0
    seen = _tap(emu)
    for _ in range(5):
        await emu.api.advance(1)
    first = [m.data for m in seen if m.type == "clock"]
    assert len(first) == 1 and first[0]["from"] == "2026-01-01T09:00:00.000Z"
    bus._clock.flush()  # what the sampler held back: one message from the first jump held
    last = [m.data for m in seen if m.type == "clock"][-1]
    assert last["from"] == "2026-01-01T09:00:01.000Z" and last["now"].endswith("09:00:05.000Z")
    await emu.api.control("POST", "/reset")
    assert [m.data["change"] for m in seen if m.type == "clock"][-1] == "reset"


def test_path_ids() -> None:
    assert path_ids("/voice/v1/broadcast/B/call/V/play") == ("B", "V")
    assert path_ids("/v1/calls/V") == (None, "V")
    assert path_ids("/_emulator/projects/p/calls/V/press") == (None, "V")
    assert path_ids("/voice/v1/broadcast") == (None, None)


def test_ring_counts_what_a_slow_reader_lost() -> None:
    async def run() -> None:
        bus = Bus(VirtualClock(0), "p")
        bus.limits.ring_size = 16
        ring = bus.open_ring()
        for i in range(40):
            bus._publish("request", {"i": i})
        lost, messages, cursor = ring.read(0, 8)
        assert (lost, [m.data["i"] for m in messages], cursor) == (24, list(range(24, 32)), 32)
        lost, messages, cursor = ring.read(cursor, 100)
        assert (lost, len(messages), cursor) == (0, 8, 40)
        assert isinstance(ring, Ring) and len(ring.buf) == 16

    asyncio.run(run())


# -- the serve log -------------------------------------------------------------------------
@pytest.fixture
def activity(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="emulator.activity")
    return caplog


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "emulator.activity"]


async def test_serve_log_has_requests_broadcast_changes_and_failed_attempts(
    start_emulator: StartEmulator, make_receiver: Any, activity: pytest.LogCaptureFixture
) -> None:
    emu = await start_emulator(projects=(("billing", "key-b"),), webhook_attempts=2)
    receiver = await make_receiver()
    receiver.status = 503
    await emu.api.create([PERSON], receiver)
    await until(lambda: any("completed" in line for line in _lines(activity)))
    lines = _lines(activity)
    assert "POST /voice/v1/broadcast -> 200 (documented) at 09:00:00.000" in lines
    assert any(" created: 1 numbers at 09:00:00.000" in line for line in lines)
    failed = [line for line in lines if "failed: status 503" in line]
    assert failed and "(attempt 1 of 2, will retry)" in failed[0]
    assert any("(attempt 2 of 2, given up)" in line for line in failed)
    assert any("completed: 1 numbers, 1 successful, 0 failed, 1 attempts" in x for x in lines)
    status, _ = await emu.api.call(
        "GET", "/voice/v1/broadcast/nope", headers={"Authorization": "Basic YmlsbGluZzprZXktYg=="},
        auth=False,
    )  # fmt: skip
    assert status == 404
    # the completion webhook may still be failing meanwhile: look for the line, not the last one
    assert any(
        line.endswith("GET /voice/v1/broadcast/nope -> 404 at 09:00:00.000 [project billing]")
        for line in _lines(activity)
    ), _lines(activity)


async def test_serve_log_sums_up_successful_deliveries_when_they_are_many(
    activity: pytest.LogCaptureFixture,
) -> None:
    log = ServeLog(shown=3)
    buses = [Bus(VirtualClock(0), p, default=(p == "a")) for p in ("a", "b")]
    for i in range(10):
        bus = buses[i % 2]
        data = {"type": "webhook", "delivery_state": "delivered", "event": "ringing", "url": "u"}
        message = Message(i, "webhook", {**data, "virtual_time": ""}, note="delivered")
        log.on_message(bus, message)
    log.close()  # the end of the second (a timer on the loop otherwise)
    lines = _lines(activity)
    assert len(lines) == 4 and lines[-1] == "10 webhooks delivered in the last second (2 projects)"
    assert lines[1].endswith("[project b]")
