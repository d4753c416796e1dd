"""The report at every moment of a broadcast, and stopping one, through a real server."""

from __future__ import annotations

from typing import Any

from conftest import Receiver, StartEmulator

PERSON, BUSY, NO_ANSWER, INVALID = "15551234567", "15550000001", "15550000002", "15550000004"


def _rows(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["dialed_number"]: row for row in report["resultSet"]}


async def test_report_follows_each_number_during_and_after_the_broadcast(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(clock="manual")
    created = await emu.api.create([PERSON, BUSY, NO_ANSWER, INVALID], receiver)
    bid = created["app_instance"]

    report = await emu.api.report(bid)
    assert {r["state"] for r in report["resultSet"]} == {"queued"}
    assert report["progress"]["total"] == 4 and report["progress"]["finished"] == 0
    assert report["state"] == "running"

    await emu.api.advance(0)
    rows = _rows(await emu.api.report(bid))
    assert rows[PERSON]["state"] == "ringing" and "result" not in rows[PERSON]
    assert rows[BUSY]["state"] == "initiated"
    assert rows[NO_ANSWER]["state"] == "ringing"
    assert rows[INVALID]["state"] == "disconnected"
    assert rows[INVALID]["result"] == {"code": "failed", "reason": "Invalid"}

    await emu.api.advance(3)
    report = await emu.api.report(bid)
    rows = _rows(report)
    assert rows[PERSON]["state"] == "connected"
    assert rows[BUSY]["state"] == "retrying"
    assert rows[BUSY]["next_attempt_at"] == "2026-01-01T09:00:06.000Z"
    assert rows[BUSY]["attempts"] == 1
    progress = report["progress"]
    assert (progress["finished"], progress["in_progress"], progress["failed"]) == (1, 2, 1)
    assert report["timestamp"] == "2026-01-01T09:00:03.000Z"

    await emu.api.run_until_idle()
    report = await emu.api.report(bid)
    rows = _rows(report)
    assert {r["state"] for r in rows.values()} == {"disconnected"}
    assert rows[PERSON]["result"] == {"code": "success", "reason": "success"}
    assert rows[BUSY]["result"] == {"code": "failed", "reason": "Busy"}
    assert rows[BUSY]["attempts"] == 4
    assert rows[NO_ANSWER]["result"] == {"code": "failed", "reason": "NoAnswer"}
    assert report["result_set"] == report["resultSet"]
    assert report["resultset"] == {"successfull_calls": 1, "failed_calls": 3}
    assert report["state"] == "completed"
    assert report["progress"]["finished"] == 4
    assert report["app_instance"] == report["appInstance"] == report["broadcast_id"] == bid
    assert report["application_name"] == "test campaign"
    assert report["owner_ref"] == "xyz"


async def test_report_is_answered_on_both_prefixes(emu: Any, receiver: Receiver) -> None:
    created = await emu.api.create([INVALID], receiver)
    for prefix in ("/voice/v1", "/v1"):
        status, body = await emu.api.call("GET", f"{prefix}/broadcast/{created['app_instance']}")
        assert status == 200 and body["app_instance"] == created["app_instance"]


async def test_create_answers_the_documented_keys_and_aliases(emu: Any, receiver: Receiver) -> None:
    for prefix in ("/voice/v1", "/v1"):
        body = emu.api.create_body([INVALID], receiver)
        status, created = await emu.api.call("POST", f"{prefix}/broadcast", body)
        assert status == 200
        assert created["state"] == "initiated"
        assert created["application_name"] == "test campaign"
        assert created["app_instance"] == created["appInstance"] == created["broadcast_id"]
        assert created["timestamp"] == "2026-01-01T09:00:00.000Z"


async def test_stop_ends_live_calls_dials_no_more_and_sends_the_completion(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(clock="manual")
    created = await emu.api.create([PERSON, BUSY, NO_ANSWER], receiver)
    bid = created["app_instance"]
    await emu.api.advance(4)  # person connected, busy waiting to retry at 6, no-answer ringing
    status, stopped = await emu.api.call("DELETE", f"/voice/v1/broadcast/{bid}")
    assert status == 200
    assert stopped["app_instance"] == bid and stopped["application_name"] == "test campaign"
    assert stopped["timeStamp"] == stopped["timestamp"] == "2026-01-01T09:00:04.000Z"
    done = await emu.api.wait_complete(receiver)
    assert done["resultset"] == {"successfull_calls": 1, "failed_calls": 2, "total_calls": 3}
    assert done["timestamp"] == "2026-01-01T09:00:04.000Z"
    assert receiver.calls(PERSON)[-1] == (1, "disconnected", "09:00:04", "stopped")
    assert receiver.calls(NO_ANSWER)[-1] == (1, "disconnected", "09:00:04", "stopped")
    assert receiver.events[-1] is done

    count = len(receiver.events)
    clock = await emu.api.run_until_idle()
    assert clock["pending"] == 0 and clock["now"] == "2026-01-01T09:00:04.000Z"
    report = await emu.api.report(bid)
    assert report["state"] == "stopped"
    assert _rows(report)[BUSY]["result"] == {"code": "failed", "reason": "Stopped"}
    assert _rows(report)[BUSY]["attempts"] == 1

    status, again = await emu.api.call("DELETE", f"/voice/v1/broadcast/{bid}")
    assert status == 200 and again["app_instance"] == bid and again["state"] == "stopped"
    assert await emu.api.report(bid) == {**report, "timestamp": report["timestamp"]}
    deliveries = await emu.api.control("GET", "/webhooks")
    assert len(deliveries["deliveries"]) == count == len(receiver.events)


async def test_stop_of_a_finished_broadcast_changes_nothing(emu: Any, receiver: Receiver) -> None:
    created = await emu.api.create([INVALID], receiver)
    await emu.api.wait_complete(receiver)
    before = await emu.api.report(created["app_instance"])
    status, body = await emu.api.call("DELETE", f"/v1/broadcast/{created['app_instance']}")
    assert status == 200 and body["state"] == "completed"
    assert await emu.api.report(created["app_instance"]) == before
    assert [e.get("state") for e in receiver.on("/event")] == ["initiated", "completed"]


async def test_stop_before_any_dial_fails_every_number_and_completes(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(clock="manual")
    created = await emu.api.create([PERSON, BUSY], receiver)
    status, _ = await emu.api.call("DELETE", f"/voice/v1/broadcast/{created['app_instance']}")
    assert status == 200
    done = await emu.api.wait_complete(receiver)
    assert done["resultset"]["failed_calls"] == 2
    await emu.api.run_until_idle()
    assert receiver.on("/call") == []
