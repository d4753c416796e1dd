"""The event stream under a campaign's load: bursts, sampling when busy, and what it keeps."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from conftest import Receiver, StartEmulator, until
from test_stream import SSE, _completed

from emulator.observe import ring as ring_module
from emulator.observe.bus import Bus
from emulator.observe.lines import describe
from emulator.observe.ring import Budget, Message, wall_iso
from emulator.sim.clock import VirtualClock


@pytest.fixture
async def session() -> Any:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        yield s


def _numbers(n: int) -> list[str]:
    return [f"9197{i:07d}7" for i in range(n)]


def _per_call(receiver: Receiver) -> list[dict[str, Any]]:
    return [e for e in receiver.events if "voice_id" in e]


async def test_a_burst_bigger_than_4096_messages_reaches_a_fast_reader_whole(
    start_emulator: StartEmulator, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    """5,000 numbers dialled at one instant publish 5,000 `call` messages before any reader can
    run: the ring holds the burst (it held 4,096 messages, and such a reader lost most calls)."""
    emu = await start_emulator()
    emu.emulator.bus.limits.share = 1.0  # the burst, not the budget, is what this is about
    sse = await SSE(session, emu.url + "/_emulator/stream?types=call,broadcast").start()
    await emu.api.create(_numbers(5000), receiver, action_on_connect={})
    await emu.api.wait_complete(receiver, timeout=120)
    await until(lambda: _completed(sse), timeout=60)
    await until(lambda: len(sse.data("call")) == len(_per_call(receiver)), timeout=30)
    assert not sse.data("dropped")
    await sse.close()


@pytest.mark.parametrize("tapped", [False, True], ids=["readers only", "with the serve log"])
async def test_a_busy_stream_keeps_whole_calls_and_every_other_message(
    start_emulator: StartEmulator,
    receiver: Receiver,
    session: aiohttp.ClientSession,
    tapped: bool,
) -> None:
    """Sampled one call in 4: every message of a kept call, none of the others, all requests
    and broadcast changes, and `dropped` notices (reason busy) that add up to what was left out.
    A tap (the serve log) still gets every message the readers' sampling leaves out."""
    emu = await start_emulator()
    limits = emu.emulator.bus.limits
    limits.busy_notice_s = 0.0  # tell at once, so the test needs no real time to pass
    tap: list[Message] = []
    if tapped:
        emu.emulator.bus.tap(tap.append, frozenset({"call", "webhook"}))
    sse = await SSE(session, emu.url + "/_emulator/stream").start()
    ring = emu.emulator.bus.ring
    assert ring is not None
    ring.budget.sample, ring.budget.adjust_s = 4, float("inf")  # busy, and it stays so
    created = await emu.api.create(_numbers(40), receiver)
    await emu.api.wait_complete(receiver)
    await until(lambda: _completed(sse))
    events = _per_call(receiver)
    kept = {e["voice_id"] for e in events if hash(e["voice_id"]) % 4 == 0}
    assert kept and len(kept) < 30  # some calls in, most out
    mine = [e for e in events if e["voice_id"] in kept]
    await until(lambda: len([h for h in sse.data("webhook") if "voice_id" in h]) == len(mine))
    calls = sse.data("call")
    assert {c["voice_id"] for c in calls} == kept
    assert sorted(json.dumps(c["payload"], sort_keys=True) for c in calls) == sorted(
        json.dumps(e, sort_keys=True) for e in events if e["voice_id"] in kept
    )
    hooks = [h for h in sse.data("webhook") if "voice_id" in h]
    assert {h["voice_id"] for h in hooks} == kept
    broadcast_wide = [e for e in receiver.events if "voice_id" not in e]  # never sampled out
    assert len(broadcast_wide) == 2
    await until(lambda: len(sse.data("webhook")) - len(hooks) == 2)
    assert [r["path"] for r in sse.data("request")] == ["/voice/v1/broadcast"]
    changes = [d["change"] for d in sse.data("broadcast")]
    assert changes[0] == "created" and changes[-1] == "completed"
    assert all(d["broadcast_id"] == created["broadcast_id"] for d in sse.data("broadcast"))
    notices = sse.data("dropped")
    assert notices and {(d["reason"], d["sample"]) for d in notices} == {("busy", 4)}
    left_out = 2 * len([e for e in events if e["voice_id"] not in kept])  # call + its attempt
    await until(lambda: sum(d["count"] for d in sse.data("dropped")) == left_out)
    assert describe(notices[0]).endswith("the emulator is busy: 1 call in 4 is shown")
    assert ring.skipped > 0  # most left out as they were published, not when read
    if tapped:
        assert len([m for m in tap if m.type == "call"]) == len(events)
        assert {m.voice_id for m in tap if m.type == "webhook"} >= {e["voice_id"] for e in events}
    await sse.close()


async def test_a_stream_of_one_call_is_never_sampled(
    start_emulator: StartEmulator, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    emu = await start_emulator(clock="manual")
    everything = await SSE(session, emu.url + "/_emulator/stream").start()
    ring = emu.emulator.bus.ring
    assert ring is not None
    await emu.api.create(_numbers(8), receiver)
    await emu.api.advance(0)  # dialled: each call's `initiated` is sent
    legs = list(emu.emulator.store.legs.values())
    left_out = next(leg for leg in legs if hash(leg.voice_id) % 4)  # sampling would skip it
    one = SSE(session, emu.url + f"/_emulator/stream?voice_id={left_out.voice_id}")
    await one.start()
    ring.budget.sample, ring.budget.adjust_s = 4, float("inf")  # busy from here on
    await emu.api.run_until_idle()
    await emu.api.wait_complete(receiver)
    mine = [e for e in receiver.events if e.get("voice_id") == left_out.voice_id]
    after = mine[2:]  # `initiated` and `ringing` were sent before this reader came
    await until(lambda: len(one.data("call")) == len(after))
    assert [c["payload"] for c in one.data("call")] == after
    assert not one.data("dropped")
    assert left_out.voice_id not in {c["voice_id"] for c in everything.data("call")[8:]}
    await asyncio.gather(one.close(), everything.close())


async def test_a_reader_that_filters_everything_out_costs_no_message(
    start_emulator: StartEmulator,
    receiver: Receiver,
    session: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[int] = []
    original = Bus._make

    def make(self: Bus, kind: int, seq: int, source: Any, extra: Any) -> Any:
        made.append(kind)
        return original(self, kind, seq, source, extra)

    monkeypatch.setattr(Bus, "_make", make)
    emu = await start_emulator()
    sse = await SSE(session, emu.url + "/_emulator/stream?types=broadcast").start()
    await emu.api.create(_numbers(20), receiver)
    await emu.api.wait_complete(receiver)
    await until(lambda: _completed(sse))
    assert made == []  # the ring kept 240 deliveries, and never made their messages
    everything = await SSE(session, emu.url + "/_emulator/stream").start()
    receiver.events.clear()
    await emu.api.create(_numbers(2), receiver)
    await until(lambda: _completed(everything))
    assert len(made) >= 2 * len(_per_call(receiver))  # made once another reader took them
    await asyncio.gather(sse.close(), everything.close())


async def test_what_every_reader_has_read_is_let_go_of_but_the_newest(
    start_emulator: StartEmulator, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    emu = await start_emulator()
    bus = emu.emulator.bus
    bus.limits.resume_kept = 100
    sse = await SSE(session, emu.url + "/_emulator/stream").start()
    await emu.api.create(_numbers(100), receiver)
    await emu.api.wait_complete(receiver)
    await until(lambda: _completed(sse))
    ring = bus.ring
    assert ring is not None
    await until(lambda: sse.messages[-1]["data"]["seq"] == ring.last)
    held = sum(1 for entry in ring.buf if entry is not None)
    assert ring.last > 1000 and held <= 100 + bus.limits.batch, held
    assert ring.oldest > ring.last - 100 - bus.limits.batch  # resumable: the newest only
    await sse.close()


def test_the_budget_samples_as_many_calls_as_its_share_needs_and_eases_off_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr(ring_module.time, "perf_counter", lambda: now[0])
    budget = Budget(share=0.05, burst_s=0.05, adjust_s=0.25)
    now[0] += 0.3
    budget.charge(0.04)  # a small campaign's burst: within what it may spend at once
    assert budget.sample == 1
    samples = []
    for _ in range(4):  # a whole stream costs 20 % of the time, a sampled one its part of that
        now[0] += 0.3
        budget.charge(0.3 * 0.2 / budget.sample)
        samples.append(budget.sample)
    assert samples == [4, 4, 4, 4]  # 1 call in 4 costs the 5 % share: no more, no less
    now[0] += 0.1
    budget.charge(0.09)  # a moment's spike changes nothing before the window ends
    assert budget.sample == 4
    now[0] += 0.2
    budget.charge(0.0)
    assert budget.sample == 24  # that window cost 6x the share: six times fewer calls
    for _ in range(4):  # the campaign is over: the bucket refills, sampling eases off
        now[0] += 2.0
        budget.charge(0.0)
    assert budget.sample == 1
    bus = Bus(VirtualClock(0), "p")
    assert bus.limits.share == 0.03 and bus.open_ring().budget.share == 0.03


def test_wall_times_are_what_datetime_writes() -> None:
    def reference(seconds: float) -> str:
        moment = datetime.fromtimestamp(seconds, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    rng = random.Random(7)
    moments = [0.0, 0.0004995, 0.9999996, 1.9995, 59.9999999, 1797680324.9319994]
    moments += [rng.uniform(0, 4e9) for _ in range(20_000)]
    moments += [1.7e9 + i * 0.00037 for i in range(20_000)]  # many in one millisecond
    for seconds in moments:
        assert wall_iso(seconds) == reference(seconds), seconds
    assert wall_iso().endswith("Z") and len(wall_iso()) == 24
