"""Per-call control of broadcast legs: every route shape of fact sheet §B.3, on the manual clock."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Receiver, Running, StartEmulator

from emulator import ClockMode
from emulator.domain.behaviour import Timings

FROM = "919999999999"
NUMBER = "919876543210"


class Leg:
    """One answered broadcast call and the helpers to steer and watch it."""

    def __init__(self, run: Running, receiver: Receiver, broadcast_id: str, voice_id: str):
        self.run, self.receiver = run, receiver
        self.b, self.v = broadcast_id, voice_id

    async def advance(self, seconds: float) -> None:
        await self.run.api.advance(seconds)

    async def settle(self) -> None:
        await self.run.api.run_until_idle()

    def events(self) -> list[dict[str, Any]]:
        return [e for e in self.receiver.events if e.get("voice_id") == self.v]

    def names(self) -> list[str]:
        return [e.get("state") or f"play:{e['playstate']}" for e in self.events()]

    def fill(self, path: str) -> str:
        return path.format(b=self.b, v=self.v)


async def _answered_leg(
    start_emulator: StartEmulator, receiver: Receiver, number: str = NUMBER, **settings: Any
) -> Leg:
    run = await start_emulator(clock=ClockMode.MANUAL, **settings)
    body = {"broadcast_numbers_array": [number], "action_on_connect": None}
    created = await run.api.create([number], receiver, **body)
    leg = Leg(run, receiver, created["app_instance"], "")
    await leg.advance(3)
    connected = [e for e in receiver.events if e.get("state") == "connected"]
    assert connected, receiver.events
    leg.v = connected[0]["voice_id"]
    return leg


TTS = {"text": "Press one for sales", "voice": "female", "language": "en-US"}

PLAY_SHAPES = {
    "P1": ("PUT", "/voice/v1/broadcast/{b}/call/{v}/play", lambda v: dict(TTS)),
    "P2": ("PUT", "/voice/v1/broadcast/{b}/play", lambda v: {"voice_id": v, **TTS}),
    "P3": ("POST", "/voice/v1/broadcast/{b}", lambda v: {"voice_id": v, "play": dict(TTS)}),
    "P4": ("PUT", "/voice/v1/call/{v}/play", lambda v: dict(TTS)),
    "P5": ("PUT", "/voice/v1/call/{v}/play", lambda v: {"play": {"type": "tts", **TTS}}),
    "P6": ("POST", "/voice/v1/call/{v}/play", lambda v: dict(TTS)),
    "P7": ("POST", "/voice/v1/calls/{v}", lambda v: {"play": dict(TTS)}),
    "P8": ("PUT", "/v1/broadcast/{b}/call/{v}/play", lambda v: dict(TTS)),
}


@pytest.mark.parametrize("shape", sorted(PLAY_SHAPES))
async def test_play_route_shapes(
    shape: str, start_emulator: StartEmulator, receiver: Receiver
) -> None:
    leg = await _answered_leg(start_emulator, receiver)
    method, path, make = PLAY_SHAPES[shape]
    body = make(leg.v)
    target = body.get("play", body)
    target["prompt_ref"] = f"ref-{shape}"
    status, answer = await leg.run.api.call(method, leg.fill(path), body)
    assert status == 202, answer
    assert answer["voice_id"] == leg.v and answer["play_id"]
    assert answer["playstate"] == "initiated"
    await leg.advance(2)
    plays = [e for e in leg.events() if "playstate" in e]
    assert [(e["playstate"], e["prompt_ref"]) for e in plays] == [
        ("initiated", f"ref-{shape}"),
        ("playfinished", f"ref-{shape}"),
    ]
    assert all("state" not in e and e["broadcast_id"] == leg.b for e in plays)
    assert plays[0]["play_id"] == answer["play_id"]


DTMF_KEYS = {"D1": "dtmf", "D2": "dmtf"}


@pytest.mark.parametrize("shape", sorted(DTMF_KEYS))
async def test_menu_times_out_after_configured_seconds(
    shape: str, start_emulator: StartEmulator, receiver: Receiver
) -> None:
    key = DTMF_KEYS[shape]
    timings = Timings(menu_timeout_s=4)
    leg = await _answered_leg(start_emulator, receiver, timings=timings)
    body = {**TTS, "prompt_ref": "menu", key: True}  # 4 words: 2 s of speech
    status, _ = await leg.run.api.call("PUT", leg.fill("/voice/v1/call/{v}/play"), body)
    assert status == 202
    await leg.advance(5)
    assert leg.names()[-1] == "play:initiated"  # 2 s prompt + 4 s menu not yet over
    await leg.advance(1)
    assert leg.names()[-1] == "play:menutimeout"
    timeout = leg.events()[-1]
    assert timeout["timestamp"] == "2026-01-01T09:00:09.000Z" and timeout["prompt_ref"] == "menu"
    assert "playfinished" not in " ".join(leg.names())


async def test_menu_collects_digit_as_string(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    leg = await _answered_leg(start_emulator, receiver, number="919800000006")
    body = {**TTS, "prompt_ref": "menu", "dtmf": "true"}
    await leg.run.api.call("PUT", leg.fill("/voice/v1/broadcast/{b}/call/{v}/play"), body)
    await leg.advance(3)
    collected = leg.events()[-1]
    assert collected["playstate"] == "digitcollected"
    assert collected["digit"] == "1" and collected["digits"] == "1"
    assert "state" not in collected and collected["prompt_ref"] == "menu"


async def test_unknown_prompt_fails(start_emulator: StartEmulator, receiver: Receiver) -> None:
    leg = await _answered_leg(start_emulator, receiver)
    body = {"prompt_name": "missing_greeting", "prompt_ref": "p"}
    status, answer = await leg.run.api.call("PUT", leg.fill("/voice/v1/call/{v}/play"), body)
    assert status == 202 and answer["playstate"] == "initiated"
    await leg.advance(1)
    assert leg.names()[-2:] == ["play:initiated", "play:failederror"]
    assert "missing_greeting" in leg.events()[-1]["description"]


async def test_named_prompt_plays_for_five_seconds(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    leg = await _answered_leg(start_emulator, receiver)
    body = {"prompt_name": "welcome", "prompt_ref": "w"}
    await leg.run.api.call("POST", leg.fill("/voice/v1/call/{v}/play"), body)
    await leg.advance(5)
    finished = leg.events()[-1]
    assert finished["playstate"] == "playfinished"
    assert finished["timestamp"] == "2026-01-01T09:00:08.000Z"


BRIDGE_SHAPES = {
    "B1": ("PUT", "/voice/v1/broadcast/{b}/call/{v}/connect", False),
    "B2": ("POST", "/voice/v1/broadcast/{b}", True),
    "B3": ("PUT", "/voice/v1/call/{v}/connect", False),
}


def _bridge_body(shape: str, voice_id: str, to: str) -> dict[str, Any]:
    if BRIDGE_SHAPES[shape][2]:
        return {"voice_id": voice_id, "connect": {"from": FROM, "to": to}}
    return {"from": FROM, "to": to}


@pytest.mark.parametrize("shape", sorted(BRIDGE_SHAPES))
async def test_bridge_route_shapes(
    shape: str, start_emulator: StartEmulator, receiver: Receiver
) -> None:
    leg = await _answered_leg(start_emulator, receiver)
    method, path, _ = BRIDGE_SHAPES[shape]
    to = "919812345678"
    status, answer = await leg.run.api.call(method, leg.fill(path), _bridge_body(shape, leg.v, to))
    assert status == 202, answer
    assert answer["bridge_id"] and answer["state"] == "initiated" and answer["voice_id"] == leg.v
    await leg.advance(3)
    assert leg.names()[-2:] == ["bridging", "bridged"]
    assert leg.events()[-1]["bridge_id"] == answer["bridge_id"]
    status, _ = await leg.run.api.call("DELETE", leg.fill("/voice/v1/call/{v}"))
    assert status == 200
    await leg.settle()
    assert leg.names()[-2:] == ["bridge_disconnected", "disconnected"]


async def test_bridge_target_hangs_up_then_callee(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    leg = await _answered_leg(start_emulator, receiver)
    body = {"from": FROM, "to": "919812345678"}
    await leg.run.api.call("PUT", leg.fill("/voice/v1/call/{v}/connect"), body)
    await leg.advance(63)  # 3 s ring, 60 s talk
    assert leg.names()[-3:] == ["bridging", "bridged", "bridge_disconnected"]
    await leg.settle()
    assert leg.names()[-1] == "disconnected"
    report = await leg.run.api.report(leg.b)
    assert report["resultset"]["successfull_calls"] == 1


@pytest.mark.parametrize("tail", ["0001", "0002", "0004"])
async def test_bridge_fails_for_magic_targets(
    tail: str, start_emulator: StartEmulator, receiver: Receiver
) -> None:
    leg = await _answered_leg(start_emulator, receiver)
    body = {"from": FROM, "to": "9198123" + tail}
    status, _ = await leg.run.api.call("PUT", leg.fill("/voice/v1/call/{v}/connect"), body)
    assert status == 202
    await leg.advance(3)
    assert leg.names()[-2:] == ["bridging", "bridge_failed"]
    # the call goes on: the app may play again
    status, _ = await leg.run.api.call("PUT", leg.fill("/voice/v1/call/{v}/play"), dict(TTS))
    assert status == 202


async def test_bridge_from_must_be_a_phone_number(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    leg = await _answered_leg(start_emulator, receiver)
    body = {"from": "undefined", "to": "919812345678"}
    status, answer = await leg.run.api.call("PUT", leg.fill("/voice/v1/call/{v}/connect"), body)
    assert status == 400
    assert "CLI number is not assigned" in answer["error_description"]


HANGUP_SHAPES = {
    "H1": "/voice/v1/broadcast/{b}/call/{v}",
    "H2": "/voice/v1/call/{v}",
    "H3": "/voice/v1/calls/{v}",
}


@pytest.mark.parametrize("shape", sorted(HANGUP_SHAPES))
async def test_hangup_route_shapes(
    shape: str, start_emulator: StartEmulator, receiver: Receiver
) -> None:
    leg = await _answered_leg(start_emulator, receiver)
    status, answer = await leg.run.api.call("DELETE", leg.fill(HANGUP_SHAPES[shape]))
    assert status == 200
    assert answer["app_instance"] == leg.b and answer["voice_id"] == leg.v
    assert answer["state"] == "success" and answer["timestamp"] == "2026-01-01T09:00:03.000Z"
    await leg.settle()
    assert leg.names()[-1] == "disconnected"
    done = receiver.completion()
    assert done is not None and done["resultset"]["successfull_calls"] == 1


async def test_hangup_while_ringing_counts_as_failed(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    run = await start_emulator(clock=ClockMode.MANUAL)
    await run.api.create([NUMBER], receiver, number_of_retries=0)
    await run.api.advance(1)
    voice_id = receiver.events[-1]["voice_id"]
    status, _ = await run.api.call("DELETE", f"/voice/v1/call/{voice_id}")
    assert status == 200
    await run.api.run_until_idle()
    done = receiver.completion()
    assert done is not None and done["resultset"]["failed_calls"] == 1


@pytest.mark.parametrize("broadcast_id", ["undefined", "0000-not-a-broadcast", "OTHER"])
async def test_leg_found_by_voice_id_whatever_the_broadcast_id(
    broadcast_id: str, start_emulator: StartEmulator, receiver: Receiver
) -> None:
    leg = await _answered_leg(start_emulator, receiver)
    if broadcast_id == "OTHER":
        other = await leg.run.api.create(["919800000077"], receiver)
        broadcast_id = other["app_instance"]
    path = f"/voice/v1/broadcast/{broadcast_id}/call/{leg.v}/play"
    status, answer = await leg.run.api.call("PUT", path, dict(TTS))
    assert status == 202 and answer["broadcast_id"] == leg.b
    status, _ = await leg.run.api.call(
        "PUT", f"/voice/v1/broadcast/{broadcast_id}/play", {"voice_id": leg.v, **TTS}
    )
    assert status == 202
    status, answer = await leg.run.api.call(
        "DELETE", f"/voice/v1/broadcast/{broadcast_id}/call/{leg.v}"
    )
    assert status == 200 and answer["app_instance"] == leg.b


async def test_operations_on_an_ended_leg_are_409_json(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    leg = await _answered_leg(start_emulator, receiver)
    await leg.run.api.call("DELETE", leg.fill("/voice/v1/call/{v}"))
    attempts = [
        ("PUT", "/voice/v1/call/{v}/play", dict(TTS)),
        ("POST", "/voice/v1/broadcast/{b}", {"voice_id": leg.v, "play": dict(TTS)}),
        ("PUT", "/voice/v1/call/{v}/connect", {"from": FROM, "to": "919812345678"}),
        ("DELETE", "/voice/v1/call/{v}", None),
        ("PUT", "/voice/v1/call/{v}/hold", {"hold": True}),
        ("PUT", "/voice/v1/call/{v}/recording", {"start": True}),
    ]
    for method, path, body in attempts:
        status, answer = await leg.run.api.call(method, leg.fill(path), body)
        assert status == 409, (method, path, answer)
        assert answer["state"] == "failed" and answer["voice_id"] == leg.v
        assert answer["error_description"] and answer["timestamp"]


async def test_play_while_ringing_is_409(start_emulator: StartEmulator, receiver: Receiver) -> None:
    run = await start_emulator(clock=ClockMode.MANUAL)
    await run.api.create([NUMBER], receiver)
    await run.api.advance(1)
    voice_id = receiver.events[-1]["voice_id"]
    status, answer = await run.api.call("PUT", f"/voice/v1/call/{voice_id}/play", dict(TTS))
    assert status == 409 and "ringing" in answer["error_description"]


async def test_unknown_voice_id_is_404_json(start_emulator: StartEmulator) -> None:
    run = await start_emulator(clock=ClockMode.MANUAL)
    status, answer = await run.api.call("PUT", "/voice/v1/call/nope/play", dict(TTS))
    assert status == 404 and answer["state"] == "failed" and answer["voice_id"] == "nope"


ACCEPTED_SHAPES = {
    "K1": ("POST", "/voice/v1/broadcast/{v}", {"record": {"start": True, "recording_name": "r"}}),
    "K2": ("POST", "/voice/v1/broadcast/{v}", {"record": {"stop": True}}),
    "K3": ("PUT", "/voice/v1/call/{v}/recording", {"start": True}),
    "K4": ("PUT", "/voice/v1/call/{v}/hold", {"hold": True}),
    "K5": ("POST", "/voice/v1/call/{v}/hold", {"hold": False}),
}


@pytest.mark.parametrize("shape", sorted(ACCEPTED_SHAPES))
async def test_record_and_hold_are_accepted_and_journalled(
    shape: str, start_emulator: StartEmulator, receiver: Receiver
) -> None:
    leg = await _answered_leg(start_emulator, receiver)
    method, path, body = ACCEPTED_SHAPES[shape]
    status, answer = await leg.run.api.call(method, leg.fill(path), body)
    assert status == 202, answer
    assert answer["voice_id"] == leg.v and answer["status"] == "success"
    journal = await leg.run.api.control("GET", "/requests")
    entry = journal["requests"][-1]
    assert entry["path"] == leg.fill(path) and entry["status"] == 202 and entry["body"] == body
    assert leg.names()[-1] == "connected"  # nothing simulated changed


async def test_stop_broadcast_ends_live_calls_then_completes(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    leg = await _answered_leg(start_emulator, receiver)
    status, answer = await leg.run.api.call("DELETE", f"/voice/v1/broadcast/{leg.b}")
    assert status == 200
    assert answer["app_instance"] == leg.b and answer["application_name"] == "test campaign"
    assert answer["timeStamp"] == "2026-01-01T09:00:03.000Z"
    await leg.settle()
    assert leg.names()[-1] == "disconnected"
    assert leg.events()[-1]["disconnect_reason"] == "stopped"
    done = receiver.completion()
    assert done is not None and receiver.events[-1] is done and done["stopped"] is True
    status, answer = await leg.run.api.call("PUT", leg.fill("/voice/v1/call/{v}/play"), dict(TTS))
    assert status == 409


async def test_play_with_voice_id_in_body_needs_it(start_emulator: StartEmulator) -> None:
    run = await start_emulator(clock=ClockMode.MANUAL)
    status, answer = await run.api.call("PUT", "/voice/v1/broadcast/b-1/play", dict(TTS))
    assert status == 400 and answer["error_description"] == "voice_id is required"
