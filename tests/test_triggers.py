"""Triggers (CONTRACT §9): a person plays the callee of a live call, on the project's clock."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from conftest import Receiver, Running, StartEmulator, until

from emulator import Settings, create_app
from emulator.control.openapi import openapi_document

PERSON = "919800000010"  # answers after 3 s, listens, hangs up 10 s after the prompt ends
SILENT = "919800000002"  # rings, never answers
BUSY = "919800000001"
MENU = {"play": {"text": "Press one for sales", "dtmf": True, "prompt_ref": "menu"}}


async def _trigger(emu: Running, voice_id: str, action: str, body: Any = None) -> Any:
    status, answer = await emu.api.call(
        "POST", f"/_emulator/calls/{voice_id}/{action}", body, auth=False
    )
    return status, answer


def _voice(receiver: Receiver, number: str, attempt: int = 1) -> str:
    return next(e["voice_id"] for e in receiver.for_number(number) if e.get("attempt") == attempt)


@pytest.fixture
async def manual(start_emulator: StartEmulator) -> Running:
    return await start_emulator(clock="manual")


async def test_answer_a_ringing_call_that_would_never_be_answered(
    manual: Running, receiver: Receiver
) -> None:
    await manual.api.create([SILENT], receiver)
    await manual.api.advance(1)
    voice_id = _voice(receiver, SILENT)
    status, call = await _trigger(manual, voice_id, "answer")
    assert status == 200, call
    assert call["state"] == "connected" and call["answered"] is True
    assert call["allowed"] == ["hangup"] and "press" in call["reasons"]
    await until(lambda: "connected" in receiver.names(SILENT))
    connected = next(e for e in receiver.for_number(SILENT) if e.get("state") == "connected")
    assert connected["timestamp"] == "2026-01-01T09:00:01.000Z"  # the project's virtual now
    await manual.api.run_until_idle()
    report = await manual.api.report(call["broadcast_id"])
    assert report["resultSet"][0]["result"] == {"code": "success", "reason": "success"}


async def test_press_at_a_waiting_menu_sends_digitcollected(
    manual: Running, receiver: Receiver
) -> None:
    await manual.api.create([PERSON], receiver, action_on_connect=MENU)
    await manual.api.advance(3)  # answered, the menu prompt plays (4 words: 2 s)
    voice_id = _voice(receiver, PERSON)
    status, early = await _trigger(manual, voice_id, "press", {"digits": "1"})
    assert status == 409 and "no menu is waiting" in early["error_description"]
    await manual.api.advance(2)  # the prompt has ended: the menu waits (10 s)
    status, call = await _trigger(manual, voice_id, "press", {"digits": "12#"})
    assert status == 200, call
    await until(lambda: "digitcollected" in receiver.names(PERSON))
    pressed = [e for e in receiver.for_number(PERSON) if e.get("playstate") == "digitcollected"]
    assert pressed[0]["digits"] == "12#" and pressed[0]["timestamp"].endswith("09:00:05.000Z")
    assert [s["state"] for s in call["segments"]][-2:] == ["playing", "menu"]


async def test_hangup_ends_the_call_as_the_callee(manual: Running, receiver: Receiver) -> None:
    await manual.api.create([PERSON], receiver)
    await manual.api.advance(3)
    voice_id = _voice(receiver, PERSON)
    status, call = await _trigger(manual, voice_id, "hangup")
    assert status == 200 and call["state"] == "disconnected" and call["reason"] == "callee-hangup"
    assert call["allowed"] == [] and set(call["reasons"]) == {"answer", "reject", "press", "hangup"}
    await until(lambda: "disconnected" in receiver.names(PERSON))
    gone = next(e for e in receiver.for_number(PERSON) if e.get("state") == "disconnected")
    assert gone["reason"] == "callee-hangup"
    status, again = await _trigger(manual, voice_id, "hangup")
    assert status == 409 and "ended" in again["error_description"]
    assert again["voice_id"] == voice_id


@pytest.mark.parametrize(
    ("kind", "reason", "result"),
    [
        ("busy", "busy", "Busy"),
        ("no_answer", "no-answer", "NoAnswer"),
        ("machine", "AMD", "AMD"),
        ("invalid", "invalid", "Invalid"),
    ],
)
async def test_reject_ends_the_attempt_that_way_and_retries_as_section_5_says(
    manual: Running, receiver: Receiver, kind: str, reason: str, result: str
) -> None:
    created = await manual.api.create(
        [SILENT], receiver, call_param={"interval_between_retries": 5, "number_of_retries": 1}
    )
    await manual.api.advance(1)
    status, call = await _trigger(manual, _voice(receiver, SILENT), "reject", {"as": kind})
    assert status == 200 and call["reason"] == reason
    await manual.api.advance(6)
    attempts = {e["attempt"] for e in receiver.for_number(SILENT)}
    assert attempts == ({1} if kind == "invalid" else {1, 2})  # invalid is never retried
    if kind == "invalid":
        report = await manual.api.report(created["broadcast_id"])
        assert report["resultSet"][0]["result"]["reason"] == result


async def test_reject_without_as_is_busy(manual: Running, receiver: Receiver) -> None:
    await manual.api.create([SILENT], receiver)
    await manual.api.advance(1)
    status, call = await _trigger(manual, _voice(receiver, SILENT), "reject")
    assert status == 200 and call["reason"] == "busy"


async def test_unknown_calls_ended_calls_and_bad_input_are_json_errors(
    manual: Running, receiver: Receiver
) -> None:
    for action in ("press", "hangup", "answer", "reject"):
        status, body = await _trigger(manual, "no-such-call", action, {"digits": "1"})
        assert status == 404 and body["state"] == "failed", (action, body)
    await manual.api.create([BUSY], receiver)
    await manual.api.advance(0)
    voice_id = _voice(receiver, BUSY)
    status, body = await _trigger(manual, voice_id, "answer")
    assert status == 409 and "not ringing" in body["error_description"]
    status, body = await _trigger(manual, voice_id, "hangup")
    assert status == 409 and "answer or reject" in body["error_description"]
    for digits in ("", "12a", "1" * 33, None, ["1"], True, -1):
        status, body = await _trigger(manual, voice_id, "press", {"digits": digits})
        assert status == 400 and "digits" in body["error_description"], digits
    status, body = await _trigger(manual, voice_id, "press", {})
    assert status == 400
    status, body = await _trigger(manual, voice_id, "reject", {"as": "angry"})
    assert status == 400 and "busy, no_answer" in body["error_description"]
    status, body = await manual.api.call(
        "POST", f"/_emulator/calls/{voice_id}/press", data=b"{not json", auth=False
    )
    assert status == 400
    await manual.api.advance(1)  # busy ends the attempt
    status, body = await _trigger(manual, voice_id, "reject", {"as": "busy"})
    assert status == 409 and "ended" in body["error_description"]


async def test_every_trigger_is_journalled_in_its_project(
    manual: Running, receiver: Receiver
) -> None:
    await manual.api.create([SILENT], receiver)
    await manual.api.advance(1)
    voice_id = _voice(receiver, SILENT)
    await _trigger(manual, voice_id, "press", {"digits": "1"})  # 409
    await _trigger(manual, voice_id, "answer")
    journal = (await manual.api.control("GET", "/requests?path=/_emulator/calls/"))["requests"]
    assert [(e["method"], e["path"].rsplit("/", 1)[1], e["status"]) for e in journal] == [
        ("POST", "press", 409),
        ("POST", "answer", 200),
    ]
    assert journal[0]["body"] == {"digits": "1"}
    assert journal[1]["virtual_time"] == "2026-01-01T09:00:01.000Z"
    call = await manual.api.control("GET", f"/calls/{voice_id}")
    assert [r["status"] for r in call["requests"]] == [409, 200]


async def test_next_attempt_of_a_number_is_used_once_in_any_broadcast(
    manual: Running, receiver: Receiver
) -> None:
    status, answer = await manual.api.call(
        "PUT",
        "/_emulator/numbers/+919800000010/next",
        {"outcome": "busy"},
        auth=False,
    )
    assert status == 200 and answer == {
        "number": "+919800000010",
        "next": {"outcome": "busy", "digits": None},
    }
    got = await manual.api.control("GET", "/numbers/919800000010/next")
    assert got["next"]["outcome"] == "busy"
    await manual.api.create([PERSON], receiver)  # the number without its +: the same number
    await manual.api.run_until_idle()
    first, second = (
        [e.get("state") for e in receiver.for_number(PERSON) if e.get("attempt") == n]
        for n in (1, 2)
    )
    assert first == ["initiated", "disconnected"]  # busy, once
    assert "connected" in second
    assert (await manual.api.control("GET", "/numbers/919800000010/next"))["next"] is None


async def test_next_attempt_with_digits_and_forgetting_it(
    manual: Running, receiver: Receiver
) -> None:
    path = f"/_emulator/numbers/{PERSON}/next"
    status, _ = await manual.api.call(
        "PUT", path, {"outcome": "human", "digits": ["7", None]}, auth=False
    )
    assert status == 200
    await manual.api.create([PERSON], receiver, action_on_connect=MENU)
    await manual.api.run_until_idle()
    pressed = [e for e in receiver.for_number(PERSON) if e.get("playstate") == "digitcollected"]
    assert pressed[0]["digits"] == "7"
    await manual.api.call("PUT", path, {"outcome": "busy"}, auth=False)
    status, answer = await manual.api.call("DELETE", path, auth=False)
    assert status == 200 and answer["forgotten"] is True and answer["next"] is None
    status, answer = await manual.api.call("DELETE", path, auth=False)
    assert answer["forgotten"] is False


@pytest.mark.parametrize(
    "body",
    [
        {"outcome": "bored"},
        {},
        {"outcome": "human", "digits": ["1x"]},
        {"outcome": "human", "digits": []},
        {"outcome": "human", "digits": "ok"},
    ],
)
async def test_next_attempt_refuses_bad_outcomes_and_digits(manual: Running, body: Any) -> None:
    status, answer = await manual.api.call(
        "PUT", f"/_emulator/numbers/{PERSON}/next", body, auth=False
    )
    assert status == 400 and answer["state"] == "failed", answer


async def test_next_attempt_refuses_what_is_not_a_number(manual: Running) -> None:
    status, answer = await manual.api.call(
        "PUT", "/_emulator/numbers/abc/next", {"outcome": "busy"}, auth=False
    )
    assert status == 400 and "not a phone number" in answer["error_description"]


async def test_triggers_act_in_the_project_named_and_nowhere_else(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(clock="manual", projects=(("billing", "key-b"),))
    await emu.api.create([SILENT], receiver)
    await emu.api.advance(1)
    voice_id = _voice(receiver, SILENT)
    status, body = await emu.api.call(
        "POST", f"/_emulator/projects/billing/calls/{voice_id}/answer", auth=False
    )
    assert status == 404  # the default project's call is not billing's
    status, body = await emu.api.call(
        "POST", f"/_emulator/projects/{emu.emulator.app_id}/calls/{voice_id}/answer", auth=False
    )
    assert status == 200 and body["state"] == "connected"
    billing = emu.projects.world("billing")
    assert [e.status for e in billing.journal] == [404]  # journalled where it was sent
    assert not billing.store.legs


async def test_trigger_answers_fit_the_openapi_document(
    manual: Running, receiver: Receiver
) -> None:
    document = openapi_document(create_app(Settings()))
    resolver = {"components": document["components"]}

    def check(path: str, method: str, status: int, body: Any) -> None:
        answer = document["paths"][path][method]["responses"][str(status)]
        if "$ref" in answer:
            answer = document["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
        schema = {**answer["content"]["application/json"]["schema"], **resolver}
        jsonschema.validate(body, schema)

    created = await manual.api.create([SILENT, PERSON], receiver, action_on_connect=MENU)
    await manual.api.advance(1)
    voice_id = _voice(receiver, SILENT)
    call = "/_emulator/calls/{voice_id}"
    status, body = await _trigger(manual, voice_id, "answer")
    check(call + "/answer", "post", status, body)
    status, body = await _trigger(manual, voice_id, "answer")
    check(call + "/answer", "post", status, body)
    await manual.api.advance(2)
    status, body = await _trigger(manual, voice_id, "press", {"digits": "1"})
    check(call + "/press", "post", status, body)
    status, body = await _trigger(manual, voice_id, "hangup")
    check(call + "/hangup", "post", status, body)
    status, body = await _trigger(manual, "nope", "reject")
    check(call + "/reject", "post", status, body)
    check(call, "get", 200, await manual.api.control("GET", f"/calls/{voice_id}"))
    check("/_emulator/calls", "get", 200, await manual.api.control("GET", "/calls?waiting=1"))
    timeline = await manual.api.control("GET", f"/broadcasts/{created['broadcast_id']}/timeline")
    check("/_emulator/broadcasts/{broadcast_id}/timeline", "get", 200, timeline)
    status, body = await manual.api.call(
        "PUT", "/_emulator/numbers/15550000009/next", {"outcome": "interactive"}, auth=False
    )
    check("/_emulator/numbers/{number}/next", "put", status, body)
