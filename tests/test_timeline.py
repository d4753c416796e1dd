"""`GET /_emulator/broadcasts/{id}/timeline` and `/_emulator/calls`: what happened to every number,
attempt by attempt, from what the world keeps (legs, delivery log, journal)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Receiver, Running, StartEmulator, until

PERSON, BUSY, SILENT, MACHINE, INVALID = (
    "919800000010",
    "919800000001",
    "919800000002",
    "919800000003",
    "919800000004",
)
PRESSES_ONE, INTERACTIVE = "919800000006", "915550000009"
MENU = {"play": {"text": "Press one for sales", "dtmf": True}}


def _times(segments: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(state, start second, end second or None) of each segment."""

    def second(iso: str | None) -> int | None:
        return None if iso is None else int(iso[17:19]) + 60 * int(iso[14:16])

    return [(s["state"], second(s["start"]), second(s["end"])) for s in segments]


async def _timeline(emu: Running, broadcast_id: str, query: str = "") -> dict[str, Any]:
    answer: dict[str, Any] = await emu.api.control(
        "GET", f"/broadcasts/{broadcast_id}/timeline{query}"
    )
    return answer


def _by_number(timeline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["number"]: row for row in timeline["numbers"]}


async def test_every_callee_has_its_states_with_virtual_start_and_end(
    emu: Running, receiver: Receiver
) -> None:
    numbers = [PERSON, BUSY, SILENT, MACHINE, INVALID]
    created = await emu.api.create(numbers, receiver)
    await emu.api.wait_complete(receiver)
    rows = _by_number(await _timeline(emu, created["broadcast_id"]))
    person = rows[PERSON]["attempts"]
    assert _times(person[0]["segments"]) == [
        ("initiated", 0, 0),
        ("ringing", 0, 3),
        ("connected", 3, 15),
        ("playing", 3, 5),
    ]
    assert rows[PERSON]["result"] == "success" and person[0]["reason"] == "callee-hangup"
    busy = rows[BUSY]["attempts"]
    assert [a["attempt"] for a in busy] == [1, 2, 3, 4]
    assert _times(busy[1]["segments"]) == [("initiated", 6, 7)]  # busy never rings
    assert rows[BUSY]["result"] == "Busy"
    assert _times(rows[SILENT]["attempts"][0]["segments"])[1] == ("ringing", 0, 30)
    assert _times(rows[MACHINE]["attempts"][0]["segments"])[1] == ("ringing", 0, 5)
    assert _times(rows[INVALID]["attempts"][0]["segments"]) == [("initiated", 0, 0)]


async def test_each_attempt_lists_its_events_and_their_delivery_attempts(
    emu: Running, receiver: Receiver
) -> None:
    created = await emu.api.create([PERSON], receiver)
    await emu.api.wait_complete(receiver)
    attempt = _by_number(await _timeline(emu, created["broadcast_id"]))[PERSON]["attempts"][0]
    assert [e["event"] for e in attempt["events"]] == [
        "initiated",
        "ringing",
        "connected",
        "initiated",
        "playfinished",
        "disconnected",
    ]
    first = attempt["events"][0]
    assert first["delivery_state"] == "delivered" and first["url"].endswith("/call")
    assert [a["status"] for a in first["attempts"]] == [200]
    assert "payload" not in first  # payloads are in the call's own answer
    assert "events_trimmed" not in attempt and attempt["waiting_for"] is None


async def test_requests_that_acted_on_a_call_and_on_the_broadcast(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(clock="manual")
    created = await emu.api.create([PERSON], receiver, action_on_connect=None)
    bid = created["broadcast_id"]
    await emu.api.advance(3)
    voice_id = receiver.for_number(PERSON)[0]["voice_id"]
    play = {"play": {"text": "one two three four five", "voice": "female"}}
    status, _ = await emu.api.call("PUT", f"/voice/v1/broadcast/{bid}/call/{voice_id}/play", play)
    assert status == 202
    await emu.api.report(bid)
    await emu.api.advance(2)
    bridge = {"from": "919999999999", "to": "919811112222"}
    status, _ = await emu.api.call("PUT", f"/voice/v1/call/{voice_id}/connect", bridge)
    assert status == 202
    await emu.api.advance(4)
    await emu.api.call("DELETE", f"/voice/v1/call/{voice_id}")
    timeline = await _timeline(emu, bid)
    attempt = timeline["numbers"][0]["attempts"][0]
    assert [(r["method"], r["status"]) for r in attempt["requests"]] == [
        ("PUT", 202),
        ("PUT", 202),
        ("DELETE", 200),
    ]
    assert _times(attempt["segments"]) == [
        ("initiated", 0, 0),
        ("ringing", 0, 3),
        ("connected", 3, 9),
        ("playing", 3, 5),
        ("bridging", 5, 8),
        ("bridged", 8, 9),
    ]
    assert [(r["method"], r["path"]) for r in timeline["requests"]] == [
        ("POST", "/voice/v1/broadcast"),
        ("GET", f"/voice/v1/broadcast/{bid}"),
    ]


async def test_menus_are_split_from_their_prompts_and_a_waiting_menu_is_open(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(clock="manual")
    created = await emu.api.create([PRESSES_ONE, INTERACTIVE], receiver, action_on_connect=MENU)
    await emu.api.advance(0)
    voice_id = next(iter(emu.emulator.service.waiting))
    await emu.api.call("POST", f"/_emulator/calls/{voice_id}/answer", auth=False)
    await emu.api.advance(7)
    rows = _by_number(await _timeline(emu, created["broadcast_id"]))
    assert _times(rows[PRESSES_ONE]["attempts"][0]["segments"])[3:] == [
        ("playing", 3, 5),
        ("menu", 5, 6),  # 0006 presses 1 a second after the prompt ends
    ]
    assert rows[PRESSES_ONE]["attempts"][0]["segments"][-1]["digits"] == "1"
    waiting = rows[INTERACTIVE]["attempts"][0]
    assert waiting["waiting_for"] == "press"
    assert _times(waiting["segments"])[2:] == [
        ("connected", 0, None),
        ("playing", 0, 2),
        ("menu", 2, None),
    ]


async def test_summary_counts_numbers_by_state_and_result(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(clock="manual", dial_rate=1)
    created = await emu.api.create([PERSON, BUSY, SILENT], receiver)
    bid = created["broadcast_id"]
    await emu.api.advance(0)
    summary = (await _timeline(emu, bid))["summary"]
    assert summary["by_state"] == {
        "queued": 2,
        "initiated": 0,
        "ringing": 1,
        "connected": 0,
        "retrying": 0,
        "disconnected": 0,
        "waiting": 0,
    }
    await emu.api.advance(2)  # BUSY dialled at 1 s, busy at 2 s: retrying
    by_state = (await _timeline(emu, bid))["summary"]["by_state"]
    assert by_state["retrying"] == 1 and by_state["ringing"] == 2 and by_state["queued"] == 0
    await emu.api.run_until_idle()
    summary = (await _timeline(emu, bid))["summary"]
    assert summary["by_result"] == {"success": 1, "Busy": 1, "NoAnswer": 1}
    assert summary["by_state"]["disconnected"] == 3


async def test_pages_and_filters(start_emulator: StartEmulator, receiver: Receiver) -> None:
    emu = await start_emulator(clock="manual")
    numbers = [f"9198000{i:03d}{tail}" for i in range(125) for tail in ("10",)] + [BUSY]
    created = await emu.api.create(numbers, receiver, action_on_connect=None)
    bid = created["broadcast_id"]
    page = await _timeline(emu, bid, "?limit=50")
    assert (page["offset"], page["limit"], page["next_offset"], len(page["numbers"])) == (
        0,
        50,
        50,
        50,
    )
    assert page["total_numbers"] == page["matched"] == 126
    last = await _timeline(emu, bid, "?offset=100&limit=50")
    assert len(last["numbers"]) == 26 and last["next_offset"] is None
    assert last["numbers"][0]["index"] == 100
    assert (await _timeline(emu, bid, "?limit=5000"))["limit"] == 1000
    assert (await _timeline(emu, bid, "?offset=999"))["numbers"] == []
    await emu.api.run_until_idle()
    busy = await _timeline(emu, bid, "?result=Busy")
    assert [r["number"] for r in busy["numbers"]] == [BUSY] and busy["matched"] == 1
    one = await _timeline(emu, bid, "?number=%2B" + BUSY)  # the same number with a +
    assert [r["number"] for r in one["numbers"]] == [BUSY]
    done = await _timeline(emu, bid, "?state=disconnected&limit=1")
    assert done["matched"] == 126 and done["next_offset"] == 1


@pytest.mark.parametrize(
    "query", ["?offset=-1", "?limit=0", "?limit=ten", "?offset=1.5", "?number=abc"]
)
async def test_bad_paging_is_a_json_400(emu: Running, receiver: Receiver, query: str) -> None:
    created = await emu.api.create([PERSON], receiver)
    status, body = await emu.api.call(
        "GET", f"/_emulator/broadcasts/{created['broadcast_id']}/timeline{query}", auth=False
    )
    assert status == 400 and body["state"] == "failed"


async def test_unknown_broadcast_is_a_json_404(emu: Running) -> None:
    status, body = await emu.api.call("GET", "/_emulator/broadcasts/nope/timeline", auth=False)
    assert status == 404 and body["state"] == "failed"


async def test_what_left_the_bounded_logs_is_reported_as_trimmed(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(delivery_log_size=8, journal_size=2)
    created = await emu.api.create([BUSY], receiver)
    await emu.api.wait_complete(receiver)
    for _ in range(3):
        await emu.api.report(created["broadcast_id"])
    attempts = (await _timeline(emu, created["broadcast_id"]))["numbers"][0]["attempts"]
    assert len(attempts) == 4  # the legs are kept; their events were not all
    assert attempts[0]["events_trimmed"] is True  # its `initiated` left the log
    assert [e["event"] for e in attempts[0]["events"]] == ["disconnected"]
    assert "events_trimmed" not in attempts[-1]
    assert [e["event"] for e in attempts[-1]["events"]] == ["initiated", "disconnected"]
    assert all(a["requests_trimmed"] for a in attempts)


# -- calls -----------------------------------------------------------------------------------
async def test_calls_waiting_for_a_person_come_first(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(clock="manual")
    await emu.api.create([PERSON, INTERACTIVE, SILENT], receiver)
    await emu.api.advance(1)
    answer = await emu.api.control("GET", "/calls?waiting=true")
    assert answer["waiting"] == 1 and answer["live"] == 3
    rows = answer["calls"]
    assert rows[0]["number"] == INTERACTIVE and rows[0]["waiting_for"] == "answer"
    assert rows[0]["since"] == "2026-01-01T09:00:00.000Z"
    assert {r["number"] for r in rows[1:]} == {PERSON, SILENT}
    assert all(r["waiting_for"] is None for r in rows[1:])
    assert len((await emu.api.control("GET", "/calls?waiting=true&limit=1"))["calls"]) == 1
    await emu.api.advance(30)
    assert (await emu.api.control("GET", "/calls?live=true"))["calls"] == []
    newest = (await emu.api.control("GET", "/calls?limit=2"))["calls"]
    assert len(newest) == 2 and all(r["state"] == "disconnected" for r in newest)


async def test_call_detail_has_every_payload_and_the_triggers_allowed(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(clock="manual")
    await emu.api.create([INTERACTIVE], receiver)
    await emu.api.advance(0)
    await until(lambda: len(receiver.events) >= 3)
    voice_id = next(iter(emu.emulator.service.waiting))
    call = await emu.api.control("GET", f"/calls/{voice_id}")
    assert call["state"] == "ringing" and call["waiting_for"] == "answer"
    assert call["allowed"] == ["answer", "reject"]
    assert call["reasons"] == {
        "press": "no menu is waiting for digits",
        "hangup": "call is ringing, not answered: answer or reject it",
    }
    assert [e["payload"]["state"] for e in call["events"]] == ["initiated", "ringing"]
    assert call["events"][0]["payload"]["voice_id"] == voice_id
    status, body = await emu.api.call("GET", "/_emulator/calls/nope", auth=False)
    assert status == 404 and body["state"] == "failed"
    status, body = await emu.api.call("GET", "/_emulator/calls?waiting=maybe", auth=False)
    assert status == 400
