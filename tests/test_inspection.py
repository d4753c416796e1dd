"""The inspection API: request journal, webhook delivery log, broadcasts, and the control token."""

from __future__ import annotations

from typing import Any

import aiohttp

PERSON = "919876540000"
BUSY = "919876540001"


async def _get(emu: Any, route: str, **params: Any) -> tuple[int, Any]:
    async with emu.api.session.get(emu.url + "/_emulator" + route, params=params) as resp:
        return resp.status, await resp.json()


async def test_journal_records_api_requests_with_dialect_and_body(emu: Any, receiver: Any) -> None:
    created = await emu.api.create([PERSON], receiver)
    await emu.api.report(created["broadcast_id"])
    await emu.api.call("GET", "/v1/broadcast/unknown")
    _, page = await _get(emu, "/requests")
    rows = page["requests"]
    assert [(r["method"], r["status"]) for r in rows] == [("POST", 200), ("GET", 200), ("GET", 404)]
    assert rows[0]["path"] == "/voice/v1/broadcast"
    assert rows[0]["dialect"] == "documented"
    assert rows[0]["body"]["broadcast_numbers_array"] == [PERSON]
    assert rows[0]["virtual_time"] == "2026-01-01T09:00:00.000Z"
    assert page["dropped"] == 0 and page["next"] is None


async def test_journal_filters_and_pages(emu: Any) -> None:
    for n in range(5):
        await emu.api.call("GET", f"/voice/v1/broadcast/b{n}")
    await emu.api.call("DELETE", "/v1/broadcast/b9")
    _, gets = await _get(emu, "/requests", method="get")
    assert [r["path"] for r in gets["requests"]] == [f"/voice/v1/broadcast/b{n}" for n in range(5)]
    _, by_path = await _get(emu, "/requests", path="/v1/broadcast/b9")
    assert [r["method"] for r in by_path["requests"]] == ["DELETE"]
    _, first = await _get(emu, "/requests", limit=2)
    assert [r["id"] for r in first["requests"]] == [1, 2] and first["next"] == 2
    _, second = await _get(emu, "/requests", limit=2, since=first["next"])
    assert [r["id"] for r in second["requests"]] == [3, 4] and second["next"] == 4
    _, last = await _get(emu, "/requests", limit=2, since=second["next"])
    assert [r["id"] for r in last["requests"]] == [5, 6] and last["next"] is None
    _, by_status = await _get(emu, "/requests", status=404, method="DELETE")
    assert len(by_status["requests"]) == 1


async def test_bad_paging_is_a_json_400(emu: Any) -> None:
    for params in ({"limit": "x"}, {"limit": "0"}, {"since": "-1"}):
        status, body = await _get(emu, "/requests", **params)
        assert status == 400 and body["state"] == "failed", params
        assert next(iter(params)) in body["error_description"]


async def test_journal_is_bounded_and_the_bound_is_in_health(start_emulator: Any) -> None:
    emu = await start_emulator(journal_size=3)
    for n in range(5):
        await emu.api.call("GET", f"/voice/v1/broadcast/b{n}")
    _, page = await _get(emu, "/requests")
    assert [r["id"] for r in page["requests"]] == [3, 4, 5]
    assert page["dropped"] == 2 and page["size"] == 3
    health = await emu.api.control("GET", "/health")
    assert health["journal"] == {"size": 3, "dropped": 2}


async def test_delivery_log_filters_by_call_event_and_delivery_state(
    start_emulator: Any, receiver: Any
) -> None:
    emu = await start_emulator(webhook_attempts=2)
    receiver.status = 500
    created = await emu.api.create([BUSY], receiver)
    await emu.api.control("POST", "/clock/run-until-idle", {})
    bid = created["broadcast_id"]
    _, everything = await _get(emu, "/webhooks", broadcast_id=bid)
    assert everything["deliveries"] and all(d["state"] == "dead" for d in everything["deliveries"])
    first = everything["deliveries"][0]
    assert [a["status"] for a in first["attempts"]] == [500, 500]
    assert first["attempt_count"] == 2 and first["last_status"] == 500
    attempt = first["attempts"][1]
    assert attempt["at"] == "2026-01-01T09:00:01.000Z"  # the 1 s back-off, in virtual time
    assert attempt["latency_ms"] >= 0 and attempt["real_at"] > 1e9 and attempt["error"] is None
    voice_id = receiver.for_number(BUSY)[0]["voice_id"]
    _, call = await _get(emu, "/webhooks", voice_id=voice_id)
    assert [d["event"] for d in call["deliveries"]] == ["initiated", "disconnected"]
    _, disconnected = await _get(emu, "/webhooks", event="disconnected", voice_id=voice_id)
    assert len(disconnected["deliveries"]) == 1
    _, delivered = await _get(emu, "/webhooks", state="delivered")
    assert delivered["deliveries"] == []
    _, dead = await _get(emu, "/webhooks", state="dead", limit=1)
    assert len(dead["deliveries"]) == 1 and dead["next"] == dead["deliveries"][0]["id"]


async def test_state_filter_means_delivery_state(emu: Any) -> None:
    status, body = await _get(emu, "/webhooks", state="connected")
    assert status == 400
    assert "delivered, pending, dead" in body["error_description"]
    assert "event=" in body["error_description"]


async def test_broadcasts_list_progress(emu: Any, receiver: Any) -> None:
    created = await emu.api.create([PERSON, BUSY], receiver)
    _, running = await _get(emu, "/broadcasts")
    [row] = running["broadcasts"]
    assert row["broadcast_id"] == created["broadcast_id"]
    assert row["progress"]["total"] == 2 and row["state"] == "running"
    await emu.api.wait_complete(receiver)
    _, done = await _get(emu, "/broadcasts", state=row["state"])
    assert done["broadcasts"] == []
    _, everything = await _get(emu, "/broadcasts")
    progress = everything["broadcasts"][0]["progress"]
    assert progress["finished"] == 2 and progress["successful"] == 1 and progress["failed"] == 1


async def test_control_token_protects_the_control_plane(start_emulator: Any) -> None:
    emu = await start_emulator(control_token="s3cret")
    url = emu.url + "/_emulator"
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/requests") as resp:
            assert resp.status == 401
            assert (await resp.json())["state"] == "failed"
        wrong = {"Authorization": "Bearer nope"}
        async with session.post(url + "/reset", headers=wrong) as resp:
            assert resp.status == 401
        right = {"Authorization": "Bearer s3cret"}
        async with session.get(url + "/requests", headers=right) as resp:
            assert resp.status == 200
        async with session.get(url + "/health") as resp:
            assert resp.status == 200
    status, _ = await emu.api.call("GET", "/voice/v1/broadcast/x")
    assert status == 404  # the API keeps its own Basic auth
