"""Call legs end to end through a real server: every magic number, webhooks, virtual time."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from conftest import Receiver, StartEmulator

from emulator.sim.clock import parse_iso

PERSON = "15551234567"
BUSY, NO_ANSWER, MACHINE, INVALID, BUSY_THEN_PERSON, PRESSES_ONE = (
    f"1555000000{i}" for i in range(1, 7)
)


def _attempts(events: list[tuple[Any, ...]], n: int, *per_attempt: tuple[Any, ...]) -> None:
    """Assert `events` is `per_attempt` repeated for attempts 1..n (times not compared)."""
    expected = [(a, *step) for a in range(1, n + 1) for step in per_attempt]
    assert [(e[0], e[1], e[3]) for e in events] == expected


# -- the default world: one broadcast dialling every magic number --------------------------
async def test_every_magic_number_follows_its_contracted_sequence(
    emu: Any, receiver: Receiver
) -> None:
    numbers = [PERSON, BUSY, NO_ANSWER, MACHINE, INVALID, BUSY_THEN_PERSON, PRESSES_ONE]
    created = await emu.api.create(numbers, receiver)
    done = await emu.api.wait_complete(receiver)
    # person: rings 3 s, hears the 2 s greeting (4 words), hangs up 10 s after it ends
    assert receiver.calls(PERSON) == [
        (1, "initiated", "09:00:00", None),
        (1, "ringing", "09:00:00", None),
        (1, "connected", "09:00:03", None),
        (1, "play:initiated", "09:00:03", None),
        (1, "play:playfinished", "09:00:05", None),
        (1, "disconnected", "09:00:15", "callee-hangup"),
    ]
    # busy on all 4 attempts (3 retries), each dialled 5 s after the previous one ended
    busy = receiver.calls(BUSY)
    _attempts(busy, 4, ("initiated", None), ("disconnected", "busy"))
    assert [e[2] for e in busy if e[1] == "initiated"] == [
        "09:00:00",
        "09:00:06",
        "09:00:12",
        "09:00:18",
    ]
    # no answer: rings 30 s on every attempt
    no_answer = receiver.calls(NO_ANSWER)
    _attempts(no_answer, 4, ("initiated", None), ("ringing", None), ("disconnected", "no-answer"))
    assert [e[2] for e in no_answer if e[1] == "disconnected"] == [
        "09:00:30",
        "09:01:05",
        "09:01:40",
        "09:02:15",
    ]
    # machine: rings, never connected, retried like busy
    _attempts(
        receiver.calls(MACHINE), 4, ("initiated", None), ("ringing", None), ("disconnected", "AMD")
    )
    # invalid: fails at once, never retried
    assert receiver.calls(INVALID) == [
        (1, "initiated", "09:00:00", None),
        (1, "disconnected", "09:00:00", "invalid"),
    ]
    # busy, then a person on the second attempt
    assert receiver.calls(BUSY_THEN_PERSON) == [
        (1, "initiated", "09:00:00", None),
        (1, "disconnected", "09:00:01", "busy"),
        (2, "initiated", "09:00:06", None),
        (2, "ringing", "09:00:06", None),
        (2, "connected", "09:00:09", None),
        (2, "play:initiated", "09:00:09", None),
        (2, "play:playfinished", "09:00:11", None),
        (2, "disconnected", "09:00:21", "callee-hangup"),
    ]
    # 0006 with no menu behaves like a person
    assert [e[1] for e in receiver.calls(PRESSES_ONE)] == [e[1] for e in receiver.calls(PERSON)]

    assert done["resultset"] == {"successfull_calls": 3, "failed_calls": 4, "total_calls": 7}
    assert done["resultSet"]["successfull_calls"] == 3
    assert done["resultSet"]["failed_calls"] == 4
    assert done["state"] == "completed"
    assert done["app_instance"] == created["app_instance"]
    assert done["timestamp"] == "2026-01-01T09:02:15.000Z"

    report = await emu.api.report(created["app_instance"])
    results = {row["dialed_number"]: row["result"] for row in report["resultSet"]}
    assert results == {
        PERSON: {"code": "success", "reason": "success"},
        BUSY: {"code": "failed", "reason": "Busy"},
        NO_ANSWER: {"code": "failed", "reason": "NoAnswer"},
        MACHINE: {"code": "failed", "reason": "AMD"},
        INVALID: {"code": "failed", "reason": "Invalid"},
        BUSY_THEN_PERSON: {"code": "success", "reason": "success"},
        PRESSES_ONE: {"code": "success", "reason": "success"},
    }
    assert report["result_set"] == report["resultSet"]
    assert {row["state"] for row in report["resultSet"]} == {"disconnected"}


async def test_per_call_events_carry_the_ids_and_virtual_iso_timestamps(
    emu: Any, receiver: Receiver
) -> None:
    created = await emu.api.create([BUSY_THEN_PERSON], receiver)
    await emu.api.wait_complete(receiver)
    bid = created["app_instance"]
    calls = receiver.on("/call")
    assert len(calls) == 8
    for event in calls:
        assert event["broadcast_id"] == bid and event["app_instance"] == bid
        assert event["from"] == "919999999999"
        assert event["to"] == BUSY_THEN_PERSON
        assert event["timestamp"].startswith("2026-01-01T09:00:")
        assert event["timestamp"].endswith("Z") and len(event["timestamp"]) == 24
    voice_ids = [e["voice_id"] for e in calls]
    assert len(set(voice_ids)) == 2  # a new voice_id for each attempt
    assert [e["attempt"] for e in calls] == [1, 1, 2, 2, 2, 2, 2, 2]
    plays = [e for e in calls if "playstate" in e]
    assert [p["playstate"] for p in plays] == ["initiated", "playfinished"]
    for play in plays:
        assert "state" not in play  # clients branch on `state` first (fact sheet B.4)
        assert play["prompt_ref"] == "1"
        assert play["play_id"] == plays[0]["play_id"]
    disconnected = [e for e in calls if e.get("state") == "disconnected"]
    assert [e["reason"] for e in disconnected] == ["busy", "callee-hangup"]


async def test_event_url_gets_initiated_first_and_completion_after_every_call_event(
    emu: Any, receiver: Receiver
) -> None:
    created = await emu.api.create([PERSON, BUSY, INVALID], receiver)
    done = await emu.api.wait_complete(receiver)
    broadcast_events = receiver.on("/event")
    assert [e["state"] for e in broadcast_events] == ["initiated", "completed"]
    initiated = broadcast_events[0]
    assert initiated["app_instance"] == created["app_instance"]
    assert initiated["appInstance"] == initiated["broadcast_id"] == created["app_instance"]
    assert initiated["application_name"] == "test campaign"
    assert initiated["timestamp"] == "2026-01-01T09:00:00.000Z"
    assert receiver.events[-1] is done  # nothing per call arrives after the completion
    assert receiver.events[0] == initiated  # the broadcast starts before its first dial


async def test_without_call_handler_url_per_call_events_go_to_event_url(
    emu: Any, receiver: Receiver
) -> None:
    body = emu.api.create_body([INVALID], receiver)
    del body["call_handler_url"]
    status, _ = await emu.api.call("POST", "/voice/v1/broadcast", body)
    assert status == 200
    await emu.api.wait_complete(receiver)
    assert set(receiver.paths) == {"/event"}
    assert [e.get("state") for e in receiver.events] == [
        "initiated",
        "initiated",
        "disconnected",
        "completed",
    ]


async def test_custom_retry_parameters_are_honoured(emu: Any, receiver: Receiver) -> None:
    await emu.api.create(
        [BUSY],
        receiver,
        call_param={"interval_between_retries": 42, "number_of_retries": 1},
    )
    await emu.api.wait_complete(receiver)
    assert [(e[0], e[1], e[2]) for e in receiver.calls(BUSY)] == [
        (1, "initiated", "09:00:00"),
        (1, "disconnected", "09:00:01"),
        (2, "initiated", "09:00:43"),
        (2, "disconnected", "09:00:44"),
    ]


async def test_retry_defaults_are_five_seconds_and_three_retries(
    emu: Any, receiver: Receiver
) -> None:
    body = emu.api.create_body([BUSY], receiver)
    del body["call_param"]
    status, _ = await emu.api.call("POST", "/voice/v1/broadcast", body)
    assert status == 200
    await emu.api.wait_complete(receiver)
    starts = [e[2] for e in receiver.calls(BUSY) if e[1] == "initiated"]
    assert starts == ["09:00:00", "09:00:06", "09:00:12", "09:00:18"]


async def test_named_prompt_lasts_five_seconds_and_echoes_prompt_ref(
    emu: Any, receiver: Receiver
) -> None:
    await emu.api.create(
        [PERSON],
        receiver,
        action_on_connect={"play": {"prompt_name": "welcome", "prompt_ref": 7}},
    )
    await emu.api.wait_complete(receiver)
    plays = [e for e in receiver.on("/call") if "playstate" in e]
    assert [(p["playstate"], p["timestamp"][11:19]) for p in plays] == [
        ("initiated", "09:00:03"),
        ("playfinished", "09:00:08"),
    ]
    assert {p["prompt_ref"] for p in plays} == {"7"}  # always a string


async def test_without_action_on_connect_a_person_hangs_up_ten_seconds_after_connected(
    emu: Any, receiver: Receiver
) -> None:
    body = emu.api.create_body([PERSON], receiver)
    del body["action_on_connect"]
    status, _ = await emu.api.call("POST", "/voice/v1/broadcast", body)
    assert status == 200
    await emu.api.wait_complete(receiver)
    assert receiver.calls(PERSON)[-2:] == [
        (1, "connected", "09:00:03", None),
        (1, "disconnected", "09:00:13", "callee-hangup"),
    ]


async def test_menu_prompt_gets_a_one_from_0006(emu: Any, receiver: Receiver) -> None:
    await emu.api.create(
        [PRESSES_ONE],
        receiver,
        action_on_connect={"play": {"text": "Press one", "dtmf": True, "prompt_ref": "m"}},
    )
    await emu.api.wait_complete(receiver)
    plays = [e for e in receiver.on("/call") if "playstate" in e]
    assert [(p["playstate"], p["timestamp"][11:19]) for p in plays] == [
        ("initiated", "09:00:03"),
        ("digitcollected", "09:00:05"),
    ]
    assert plays[1]["digit"] == "1"


async def test_all_numbers_are_dialled_at_once(emu: Any, receiver: Receiver) -> None:
    numbers = [f"155512{i:02d}789" for i in range(20)]
    await emu.api.create(numbers, receiver)
    await emu.api.wait_complete(receiver)
    first = [e for e in receiver.on("/call") if e.get("state") == "initiated"]
    assert len(first) == 20
    assert {e["timestamp"] for e in first} == {"2026-01-01T09:00:00.000Z"}


async def test_dial_rate_spreads_attempts_over_virtual_seconds(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(dial_rate=2)
    numbers = [f"155512{i:02d}789" for i in range(5)]
    await emu.api.create(numbers, receiver)
    await emu.api.wait_complete(receiver)
    started = sorted(
        e["timestamp"][11:19] for e in receiver.on("/call") if e.get("state") == "initiated"
    )
    assert started == ["09:00:00", "09:00:00", "09:00:01", "09:00:01", "09:00:02"]


async def test_six_numbers_with_retries_complete_in_auto_mode(emu: Any, receiver: Receiver) -> None:
    """The whole campaign (2 min 15 s of virtual time) runs without any wall-clock wait."""
    numbers = [BUSY, NO_ANSWER, MACHINE, INVALID, BUSY_THEN_PERSON, PERSON]
    await emu.api.create(numbers, receiver)
    done = await emu.api.wait_complete(receiver, timeout=5)
    assert done["resultset"]["successfull_calls"] == 2
    assert done["resultset"]["failed_calls"] == 4
    clock = await emu.api.control("GET", "/clock")
    assert clock["now"] == "2026-01-01T09:02:15.000Z"
    assert clock["pending"] == 0
    health = await emu.api.control("GET", "/health")
    assert health["timer_errors"] == 0
    assert health["webhooks"]["delivered"] == len(receiver.events)


async def test_realtime_clock_runs_the_broadcast_at_speed(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(clock="realtime", speed=1000.0)
    await emu.api.create([BUSY_THEN_PERSON], receiver, call_param={"number_of_retries": 1})
    done = await emu.api.wait_complete(receiver, timeout=10)
    assert done["resultset"]["successfull_calls"] == 1
    states = [e[1] for e in receiver.calls(BUSY_THEN_PERSON)]
    assert states == [
        "initiated",
        "disconnected",
        "initiated",
        "ringing",
        "connected",
        "play:initiated",
        "play:playfinished",
        "disconnected",
    ]
    stamps = [parse_iso(e["timestamp"]) for e in receiver.for_number(BUSY_THEN_PERSON)]
    assert stamps == sorted(stamps)
    # durations are exact however late a timer fires: busy 1 s, retry 5 s, ring 3 s, ...
    steps = [b - a for a, b in itertools.pairwise(stamps)]
    assert steps == [1000, 5000, 0, 3000, 0, 2000, 10_000]
    clock = await emu.api.control("GET", "/clock")
    assert clock["mode"] == "realtime"


async def test_manual_clock_moves_only_through_the_control_plane(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(clock="manual")
    created = await emu.api.create([PERSON], receiver)
    await receiver.wait_for(lambda r: len(r.events) == 1)  # the broadcast initiated event
    clock = await emu.api.control("GET", "/clock")
    assert (clock["mode"], clock["now"], clock["pending"]) == (
        "manual",
        "2026-01-01T09:00:00.000Z",
        1,
    )
    assert receiver.calls(PERSON) == []
    await emu.api.advance(0)  # fire what is due now: the dial
    assert [e[1] for e in receiver.calls(PERSON)] == ["initiated", "ringing"]
    clock = await emu.api.advance(3)
    assert clock["now"] == "2026-01-01T09:00:03.000Z"
    assert [e[1] for e in receiver.calls(PERSON)][2:] == ["connected", "play:initiated"]
    await emu.api.advance(1.5)
    assert len(receiver.calls(PERSON)) == 4
    clock = await emu.api.advance(0.5)
    assert receiver.calls(PERSON)[-1] == (1, "play:playfinished", "09:00:05", None)
    idle = await emu.api.run_until_idle()
    assert idle["now"] == "2026-01-01T09:00:15.000Z"
    assert idle["pending"] == 0 and idle["fired"] == 1
    done = await emu.api.wait_complete(receiver)
    assert done["app_instance"] == created["app_instance"]
    assert done["timestamp"] == "2026-01-01T09:00:15.000Z"


async def test_reset_forgets_broadcasts_and_restarts_time(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(clock="manual")
    created = await emu.api.create([PERSON], receiver)
    await emu.api.advance(4)
    answer = await emu.api.control("POST", "/reset")
    assert answer["now"] == "2026-01-01T09:00:00.000Z" and answer["pending"] == 0
    status, body = await emu.api.call("GET", f"/voice/v1/broadcast/{created['app_instance']}")
    assert status == 404 and body["state"] == "failed"
    requests = await emu.api.control("GET", "/requests")
    assert [r["method"] for r in requests["requests"]] == ["GET"]  # only the GET above
    deliveries = await emu.api.control("GET", "/webhooks")
    assert deliveries["deliveries"] == []
    again = await emu.api.create([PERSON], receiver)
    assert again["app_instance"] == created["app_instance"]  # ids restart with the seed


async def test_health_reports_ok(emu: Any) -> None:
    health = await emu.api.control("GET", "/health")
    assert health["status"] == "ok"
    assert health["clock"] == "auto" and health["now"] == "2026-01-01T09:00:00.000Z"


async def test_an_app_reacting_inside_the_webhook_acts_at_the_event_instant(
    emu: Any, receiver: Receiver
) -> None:
    async def hang_up_on_connect(event: dict[str, Any]) -> None:
        if event.get("state") == "connected":
            path = f"/voice/v1/broadcast/{event['broadcast_id']}/call/{event['voice_id']}"
            status, _ = await emu.api.call("DELETE", path)
            assert status == 200

    receiver.react = hang_up_on_connect
    await emu.api.create([PERSON], receiver)
    await emu.api.wait_complete(receiver)
    assert receiver.calls(PERSON)[2:] == [
        (1, "connected", "09:00:03", None),
        (1, "play:initiated", "09:00:03", None),
        (1, "disconnected", "09:00:03", "app-hangup"),
    ]


async def test_an_app_reacting_after_answering_acts_within_the_settle_cushion(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(settle_ms=150)
    tasks: list[asyncio.Task[Any]] = []

    async def hang_up_later(event: dict[str, Any]) -> None:
        if event.get("state") == "connected":  # answer the webhook first, then call the API
            path = f"/voice/v1/call/{event['voice_id']}"
            tasks.append(asyncio.create_task(emu.api.call("DELETE", path)))

    receiver.react = hang_up_later
    body = emu.api.create_body([PERSON], receiver)
    del body["action_on_connect"]
    status, _ = await emu.api.call("POST", "/voice/v1/broadcast", body)
    assert status == 200
    await emu.api.wait_complete(receiver)
    assert [(await t)[0] for t in tasks] == [200]
    assert receiver.calls(PERSON)[-1] == (1, "disconnected", "09:00:03", "app-hangup")


async def test_events_of_one_number_arrive_in_order_across_attempts(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    """A slow answer to attempt 1's events must not let attempt 2's events overtake them."""
    emu = await start_emulator(clock="realtime", speed=1000.0)

    async def slow_first_attempt(event: dict[str, Any]) -> None:
        if event.get("state") == "initiated" and event.get("attempt") == 1:
            await asyncio.sleep(0.1)  # 100 virtual seconds at this speed

    receiver.react = slow_first_attempt
    await emu.api.create([BUSY], receiver, call_param={"number_of_retries": 1})
    await emu.api.wait_complete(receiver)
    assert [(e[0], e[1]) for e in receiver.calls(BUSY)] == [
        (1, "initiated"),
        (1, "disconnected"),
        (2, "initiated"),
        (2, "disconnected"),
    ]


async def test_reset_mid_campaign_leaves_a_clean_emulator(emu: Any, make_receiver: Any) -> None:
    old = await make_receiver()
    gate = asyncio.Event()

    async def stuck(event: dict[str, Any]) -> None:
        await gate.wait()  # a delivery of the old campaign is in flight during the reset

    old.react = stuck
    await emu.api.create([PERSON, NO_ANSWER], old)
    await old.wait_for(lambda r: len(r.events) >= 1)
    await emu.api.control("POST", "/reset")
    fresh = await make_receiver()
    created = await emu.api.create([BUSY_THEN_PERSON], fresh)
    gate.set()
    done = await emu.api.wait_complete(fresh)
    assert done["app_instance"] == created["app_instance"]
    assert [e[1:3] for e in fresh.calls(BUSY_THEN_PERSON)][:3] == [
        ("initiated", "09:00:00"),
        ("disconnected", "09:00:01"),
        ("initiated", "09:00:06"),
    ]
    assert done["timestamp"] == "2026-01-01T09:00:21.000Z"
    assert old.completion() is None  # the forgotten campaign sends nothing more
    health = await emu.api.control("GET", "/health")
    assert health["broadcasts"] == 1 and health["in_flight"] == 0
