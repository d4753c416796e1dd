"""Webhook delivery loses nothing: failing, down, slow and timing-out receivers get the same events
(payloads and virtual timestamps) as a healthy one, in per-call order; what is given up is dead."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from faulty_receivers import (
    Decision,
    FaultyReceiver,
    completed,
    create_body,
    faulty_receiver,
    healthy,
    per_call,
    wait_for,
)

from emulator.sim.clock import parse_iso


async def _run(start_emulator: Any, receiver: FaultyReceiver, **settings: Any) -> Any:
    running = await start_emulator(**settings)
    status, answer = await running.api.call(
        "POST", "/voice/v1/broadcast", create_body(receiver.url)
    )
    assert status == 200, answer
    return running


async def _baseline(start_emulator: Any) -> dict[str, list[str]]:
    async with faulty_receiver(healthy) as rec:
        await _run(start_emulator, rec)
        await wait_for(lambda: completed(rec))
        return per_call(rec.arrived)


def _deliveries(running: Any) -> list[dict[str, Any]]:
    return [d.as_json(running.emulator.clock.iso) for d in running.emulator.dispatcher.log]


async def test_receiver_failing_the_first_deliveries_gets_every_event(start_emulator: Any) -> None:
    expected = await _baseline(start_emulator)

    async def flaky(hit: int, body: dict[str, Any]) -> Decision:
        return {1: 503, 2: None, 3: 500, 4: 404}.get(hit, 200)

    async with faulty_receiver(flaky) as rec:
        running = await _run(start_emulator, rec)
        await wait_for(lambda: completed(rec))
    assert per_call(rec.arrived) == expected
    rows = _deliveries(running)
    assert all(row["state"] == "delivered" for row in rows)
    assert all(row["attempts"][-1]["status"] == 200 for row in rows)
    failed = [a for row in rows for a in row["attempts"][:-1]]
    # the dropped connection is a failed attempt, unless it was a reused connection: then the
    # delivery went again at once on a fresh one, without counting an attempt (CONTRACT §6)
    assert {a["status"] for a in failed} >= {503, 500, 404} and len(failed) in (3, 4)
    assert rec.hits == len(rows) + 4
    health = running.emulator.health()["webhooks"]
    assert health["dead"] == 0 and health["delivered"] == len(rows)


async def test_receiver_down_for_sixty_virtual_seconds_gets_every_event(
    start_emulator: Any,
) -> None:
    expected = await _baseline(start_emulator)
    async with faulty_receiver(healthy) as rec:
        await rec.go_down()  # connections refused
        # 1+2+4+8+16+32 s > 60 s; no real-time outage window: the back-off alone rides it out
        running = await start_emulator(webhook_attempts=8, webhook_outage_s=0)
        em = running.emulator
        tasks = []

        def bring_up() -> None:
            em.activity.acquire()  # hold virtual time until the receiver listens again

            async def up() -> None:
                try:
                    await rec.listen()
                finally:
                    em.activity.release()

            tasks.append(asyncio.ensure_future(up()))

        em.activity.acquire()  # no jump to the timer below before the broadcast exists
        em.clock.call_at(em.clock.start_ms + 60_000, bring_up)
        status, _ = await running.api.call("POST", "/voice/v1/broadcast", create_body(rec.url))
        em.activity.release()
        assert status == 200
        await wait_for(lambda: completed(rec))
        await asyncio.gather(*tasks)
    assert per_call(rec.arrived) == expected
    rows = _deliveries(running)
    assert all(row["state"] == "delivered" for row in rows)
    up_at = em.clock.start_ms + 60_000
    for row in rows:
        *failed, last = row["attempts"]
        assert all(a["status"] is None and "Connect" in a["error"] for a in failed)
        assert all(parse_iso(a["at"]) < up_at for a in failed)
        assert last["status"] == 200 and parse_iso(last["at"]) >= up_at
    assert max(len(row["attempts"]) for row in rows) == 7  # 0, 1, 3, 7, 15, 31, 63 s


async def test_slow_receiver_never_shifts_virtual_time(start_emulator: Any) -> None:
    expected = await _baseline(start_emulator)

    async def slow_once(hit: int, body: dict[str, Any]) -> Decision:
        if hit == 2:
            await asyncio.sleep(2.0)  # real seconds: the emulator waits, time stands still
        return 200

    async with faulty_receiver(slow_once) as rec:
        running = await _run(start_emulator, rec)
        await wait_for(lambda: completed(rec))
    assert per_call(rec.arrived) == expected
    slow = [a for row in _deliveries(running) for a in row["attempts"] if a["latency_ms"] > 1900]
    assert len(slow) == 1 and slow[0]["status"] == 200


async def test_timed_out_delivery_is_retried(start_emulator: Any) -> None:
    expected = await _baseline(start_emulator)

    async def hangs_once(hit: int, body: dict[str, Any]) -> Decision:
        if hit == 1:
            await asyncio.sleep(5.0)  # cancelled when the emulator gives up waiting
        return 200

    async with faulty_receiver(hangs_once) as rec:
        # no real-time outage window: a time-out is then a failed attempt, backed off
        running = await _run(start_emulator, rec, webhook_timeout_s=1.0, webhook_outage_s=0)
        await wait_for(lambda: completed(rec))
    assert per_call(rec.arrived) == expected
    timed_out = [row for row in _deliveries(running) if len(row["attempts"]) == 2]
    assert len(timed_out) == 1
    first, second = timed_out[0]["attempts"]
    assert first["error"] == "timeout" and second["status"] == 200
    assert parse_iso(second["at"]) - parse_iso(first["at"]) == 1000


async def test_given_up_deliveries_are_dead_after_backoff_1_2_4_8(start_emulator: Any) -> None:
    async def broken(hit: int, body: dict[str, Any]) -> Decision:
        return 500

    async with faulty_receiver(broken) as rec:
        running = await _run(start_emulator, rec)
        em = running.emulator
        await wait_for(lambda: em.dispatcher.pending == 0 and em.dispatcher.dead > 0)
        await wait_for(lambda: any("resultSet" in r["payload"] for r in _deliveries(running)))
        await wait_for(lambda: em.dispatcher.pending == 0)
    rows = _deliveries(running)
    assert rows and all(row["state"] == "dead" for row in rows)
    for row in rows:
        times = [parse_iso(a["at"]) for a in row["attempts"]]
        assert [b - a for a, b in itertools.pairwise(times)] == [1000, 2000, 4000, 8000]
        assert all(a["status"] == 500 for a in row["attempts"])
    # per call, the next event waits until the previous one is given up
    by_call: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_call.setdefault(row["voice_id"] or "", []).append(row)
    for calls in by_call.values():
        for before, after in itertools.pairwise(calls):
            assert parse_iso(after["attempts"][0]["at"]) >= parse_iso(before["attempts"][-1]["at"])
    health = em.health()["webhooks"]
    assert health["dead"] == len(rows) and health["delivered"] == 0
    assert rec.hits == 5 * len(rows)


async def test_one_attempt_mimics_a_strict_provider(start_emulator: Any) -> None:
    async def broken(hit: int, body: dict[str, Any]) -> Decision:
        return 503

    async with faulty_receiver(broken) as rec:
        running = await _run(start_emulator, rec, webhook_attempts=1)
        em = running.emulator
        await wait_for(lambda: any("resultSet" in r["payload"] for r in _deliveries(running)))
        await wait_for(lambda: em.dispatcher.pending == 0)
    rows = _deliveries(running)
    assert all(row["state"] == "dead" and len(row["attempts"]) == 1 for row in rows)
    assert rec.hits == len(rows) == em.dispatcher.dead


async def test_backoff_is_configurable(start_emulator: Any) -> None:
    seen: list[str] = []

    async def first_event_fails_twice(hit: int, body: dict[str, Any]) -> Decision:
        if "voice_id" in body:
            return 200
        seen.append(body["state"])
        return 500 if len(seen) <= 2 else 200

    async with faulty_receiver(first_event_fails_twice) as rec:
        running = await _run(start_emulator, rec, webhook_backoff_s=3, webhook_attempts=3)
        await wait_for(lambda: completed(rec))
    first = _deliveries(running)[0]
    assert first["event"] == "initiated" and first["state"] == "delivered"
    times = [parse_iso(a["at"]) for a in first["attempts"]]
    assert [b - a for a, b in itertools.pairwise(times)] == [3000, 6000]
