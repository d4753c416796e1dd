"""Every create dialect of docs/dialects.md, normalised and then run end to end.

The row IDs are read from the page itself, so a row without a test (or a test without a row)
fails here.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import test_per_call
from conftest import Receiver, StartEmulator

from emulator.api.dialects import CreateLimits, normalise_create
from emulator.errors import BadRequest

DOC = Path(__file__).resolve().parent.parent / "docs" / "dialects.md"
FROM = "919999999999"
A, B = "919876543210", "919812345678"


def doc_ids(prefixes: str) -> set[str]:
    rows = re.findall(r"^\| ([A-Z]\d+) \|", DOC.read_text(encoding="utf-8"), re.MULTILINE)
    return {row for row in rows if row[0] in prefixes}


@dataclass(frozen=True)
class Case:
    fragment: dict[str, Any]
    numbers: tuple[str, ...] = (A,)
    name: str = ""
    interval_ms: int = 5000
    attempts: int = 4
    family: str = "documented"
    drop: tuple[str, ...] = ()  # keys of the base request this row replaces
    extra: dict[str, Any] = field(default_factory=dict)


_PHONES = json.dumps([{"phone": A}, {"phone": B}])
_NUMS = ("broadcast_numbers_array",)
_TTS = {"type": "tts", "text": "Hi", "voice": "female", "language": "en-US", "prompt_ref": "r1"}

CREATE_CASES: dict[str, Case] = {
    "N1": Case({"application_name": "Promo"}, name="Promo"),
    "N2": Case({"name": "TEST_APP"}, name="TEST_APP"),
    "N3": Case({"applicationName": "Promo"}, name="Promo"),
    "L1": Case({"broadcast_numbers_array": [A, B]}, (A, B)),
    "L2": Case({"broadcast_numbers_array": f"{A},{B}, "}, (A, B)),
    "L3": Case({"broadcast_numbers_json": _PHONES}, (A, B), drop=_NUMS),
    "L4": Case({"broadcast_numbers_json": [{"phone": A}]}, (A,), drop=_NUMS),
    "L5": Case({"broadcastnumbersjson": _PHONES}, (A, B), family="2020", drop=_NUMS),
    "L6": Case({"broadcastnumbersjson": [A, B]}, (A, B), family="2020", drop=_NUMS),
    "L7": Case({"broadcast_numbers": _PHONES}, (A, B), family="2023", drop=_NUMS),
    "L8": Case({"broadcast_numbers": [{"phone": A}]}, (A,), family="2023", drop=_NUMS),
    "L9": Case({"broadcast_numbers": json.dumps([A, B])}, (A, B), family="2023", drop=_NUMS),
    "L10": Case({"broadcast_numbers": f"{A}, {B}"}, (A, B), family="2023", drop=_NUMS),
    "L11": Case(
        {"recipients": [{"to": A, "play": _TTS, "custom_data": {"id": 1}}, {"to": B}]},
        (A, B),
        family="v2",
        drop=_NUMS,
    ),
    "L12": Case({"to": f"{A},{B}"}, (A, B), drop=_NUMS),
    "W1": Case({"call_handler_url": "CALL"}, extra={"handler": "/call"}),
    "W2": Case({"callhandler_url": "CALL"}, family="2020", extra={"handler": "/call"}),
    "W3": Case({}, extra={"handler": "/event"}),
    "T1": Case({"call_param": {"interval_between_retries": 5, "number_of_retries": 3}}),
    "T2": Case(
        {"call_param": {"IntervalBetweenRetries": 5000, "NumberOfRetries": 3}},
    ),
    "T3": Case(
        {"call_param": {"intervalBetweenRetries": 7000, "numberOfRetries": 2}},
        interval_ms=7000,
        attempts=3,
    ),
    "T4": Case({"retry": {"interval": 10, "max_attempts": 3}}, interval_ms=10_000, attempts=3),
    "T5": Case({}),
    "T6": Case(
        {"IntervalBetweenRetries": 2000, "NumberOfRetries": 1}, interval_ms=2000, attempts=2
    ),
}


def base_request(url: str) -> dict[str, Any]:
    return {"from": FROM, "broadcast_numbers_array": [A], "event_url": f"{url}/event"}


def request_for(case: Case, url: str) -> dict[str, Any]:
    body = base_request(url)
    for key in case.drop:
        body.pop(key)
    fragment = {k: (f"{url}/call" if v == "CALL" else v) for k, v in case.fragment.items()}
    body.update(fragment)
    return body


def test_every_create_row_of_the_page_has_a_case() -> None:
    assert doc_ids("NLWT") == set(CREATE_CASES)


def test_every_per_call_row_of_the_page_has_a_test() -> None:
    tested = {
        *test_per_call.PLAY_SHAPES,
        *test_per_call.BRIDGE_SHAPES,
        *test_per_call.HANGUP_SHAPES,
        *test_per_call.ACCEPTED_SHAPES,
        *test_per_call.DTMF_KEYS,
    }
    assert doc_ids("PDBHK") == tested


@pytest.mark.parametrize("row", sorted(CREATE_CASES))
def test_create_dialect_normalises(row: str) -> None:
    case = CREATE_CASES[row]
    command = normalise_create(request_for(case, "http://hooks.test"), CreateLimits())
    assert tuple(r.number for r in command.recipients) == case.numbers
    assert command.name == case.name
    assert (command.retry_interval_ms, command.max_attempts) == (case.interval_ms, case.attempts)
    assert command.family == case.family
    if row == "L11":
        assert command.recipients[0].play is not None
        assert command.recipients[0].play.prompt_ref == "r1"
        assert command.recipients[0].custom_data == {"id": 1}
        assert command.recipients[1].play is None


@pytest.mark.parametrize("row", sorted(CREATE_CASES))
async def test_create_dialect_end_to_end(
    row: str, start_emulator: StartEmulator, receiver: Receiver
) -> None:
    case = CREATE_CASES[row]
    run = await start_emulator()
    status, answer = await run.api.call(
        "POST", "/voice/v1/broadcast", request_for(case, receiver.url)
    )
    assert status == 200, answer
    assert answer["application_name"] == case.name
    report = await run.api.report(answer["app_instance"])
    assert tuple(r["dialed_number"] for r in report["resultSet"]) == case.numbers
    journal = await run.api.control("GET", "/requests")
    (entry,) = [r for r in journal["requests"] if r["method"] == "POST"]
    assert entry["dialect"] == case.family
    if "handler" in case.extra:
        done = await run.api.wait_complete(receiver)
        per_call = {
            p for p, e in zip(receiver.paths, receiver.events, strict=True) if "voice_id" in e
        }
        assert per_call == {case.extra["handler"]}
        assert receiver.paths[receiver.events.index(done)] == "/event"


@pytest.mark.parametrize("row", [r for r in sorted(CREATE_CASES) if r.startswith("T")])
async def test_retry_dialect_spaces_attempts(
    row: str, start_emulator: StartEmulator, receiver: Receiver
) -> None:
    """A busy number (ending 0001) is retried: attempts and spacing follow the dialect's units."""
    case = CREATE_CASES[row]
    run = await start_emulator()
    body = request_for(case, receiver.url)
    body["broadcast_numbers_array"] = ["919800000001"]
    status, answer = await run.api.call("POST", "/voice/v1/broadcast", body)
    assert status == 200, answer
    done = await run.api.wait_complete(receiver)
    starts = [e for e in receiver.events if e.get("state") == "initiated" and "voice_id" in e]
    assert [e["attempt"] for e in starts] == list(range(1, case.attempts + 1))
    seconds = [int(e["timestamp"][14:16]) * 60 + int(e["timestamp"][17:19]) for e in starts]
    busy_s = 1
    gap = busy_s + case.interval_ms // 1000
    assert seconds == [gap * i for i in range(case.attempts)]
    assert done["resultSet"]["failed_calls"] == 1


FAMILY_CASES: dict[str, tuple[dict[str, Any], str, str]] = {
    "F1": ({"broadcastnumbersjson": json.dumps([{"phone": A}])}, "initiated", "broadcastcomplete"),
    "F2": ({"callhandler_url": "CALL"}, "initiated", "broadcastcomplete"),
    "F3": (
        {"broadcast_numbers": json.dumps([{"phone": A}]), "callhandler_url": "CALL"},
        "broadcastcall_initiated",
        "broadcastcall_complete",
    ),
    "F4": (
        {"recipients": [{"to": A, "play": _TTS}]},
        "broadcastcall_initiated",
        "broadcastcall_complete",
    ),
    "F5": (
        {"broadcast_numbers_json": json.dumps([A]), "call_handler_url": "CALL"},
        "initiated",
        "completed",
    ),
}


def family_request(fragment: dict[str, Any], url: str) -> dict[str, Any]:
    numbers = any(k.startswith("broadcast") or k == "recipients" for k in fragment)
    return request_for(Case(fragment, drop=_NUMS if numbers else ()), url)


def test_every_family_row_of_the_page_has_a_case() -> None:
    assert doc_ids("F") == set(FAMILY_CASES)


@pytest.mark.parametrize("row", sorted(FAMILY_CASES))
async def test_family_decides_create_and_completion_state(
    row: str, start_emulator: StartEmulator, receiver: Receiver
) -> None:
    fragment, created_state, completion = FAMILY_CASES[row]
    run = await start_emulator()
    body = family_request(fragment, receiver.url)
    status, answer = await run.api.call("POST", "/voice/v1/broadcast", body)
    assert status == 200 and answer["state"] == created_state
    done = await run.api.wait_complete(receiver)
    assert done["state"] == completion
    assert done["resultset"] == done["resultSet"]
    assert done["resultSet"]["successfull_calls"] + done["resultSet"]["failed_calls"] == 1
    assert receiver.events[-1] is done


@pytest.mark.parametrize("forced", ["broadcastcomplete", "broadcastcall_complete", "done"])
async def test_completion_state_flag_overrides_every_family(
    forced: str, start_emulator: StartEmulator, receiver: Receiver
) -> None:
    from emulator.cli import build_parser, settings_from_args

    args = build_parser().parse_args(["serve", "--completion-state", forced])
    run = await start_emulator(completion_state=settings_from_args(args).completion_state)
    for fragment, _, _ in FAMILY_CASES.values():
        body = family_request(fragment, receiver.url)
        assert (await run.api.call("POST", "/voice/v1/broadcast", body))[0] == 200

    async def all_done() -> None:
        while sum(1 for e in receiver.events if "resultSet" in e) < len(FAMILY_CASES):
            await asyncio.sleep(0.005)

    await asyncio.wait_for(all_done(), 10)
    assert {e["state"] for e in receiver.events if "resultSet" in e} == {forced}


BAD_CREATES = {
    "comma string where JSON is required": (
        {"broadcast_numbers_json": f"{A},{B}"},
        "broadcast_numbers_json must hold a JSON array",
    ),
    "invalid JSON": ({"broadcastnumbersjson": "[{"}, "broadcastnumbersjson is not valid JSON"),
    "not a number": ({"broadcast_numbers": json.dumps([{"phone": "abc"}])}, "is not a phone"),
    "no numbers": ({}, "broadcast_numbers_array or broadcast_numbers_json is required"),
    "empty list": ({"broadcast_numbers_array": []}, "holds no numbers"),
    "retry count text": ({"call_param": {"NumberOfRetries": "three"}}, "must be a number"),
    "retry not an object": ({"retry": 3}, "retry must be an object"),
}


@pytest.mark.parametrize("label", sorted(BAD_CREATES))
def test_bad_creates_name_the_field(label: str) -> None:
    fragment, message = BAD_CREATES[label]
    body = base_request("http://hooks.test")
    if label != "retry count text" and label != "retry not an object":
        body.pop("broadcast_numbers_array")
    body.update(fragment)
    with pytest.raises(BadRequest, match=re.escape(message)):
        normalise_create(body, CreateLimits())


def test_completion_state_from_environment_and_scenario_layers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from emulator.cli import build_parser, settings_from_args
    from emulator.config import load_settings

    env = load_settings(environ={"EMULATOR_COMPLETION_STATE": "broadcastcomplete"})
    assert env.completion_state == "broadcastcomplete"
    monkeypatch.delenv("EMULATOR_COMPLETION_STATE", raising=False)
    scenario = tmp_path / "world.yaml"
    scenario.write_text("version: 1\nsettings:\n  completion_state: broadcastcall_complete\n")
    args = build_parser().parse_args(["serve", "--scenario", str(scenario)])
    assert settings_from_args(args).completion_state == "broadcastcall_complete"
