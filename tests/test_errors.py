"""Every error of CONTRACT §3: status, JSON error shape, the field named, and no state change."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import pytest
from conftest import Receiver, Running, StartEmulator

from emulator.errors import Messages

PERSON = "15551234567"


async def raw(
    emu: Running, method: str, path: str, data: bytes | None = None, **headers: str
) -> tuple[int, str, dict[str, Any], aiohttp.typedefs.LooseHeaders]:
    """Send bytes as they are; return status, content type, JSON body and headers."""
    async with emu.api.session.request(method, emu.url + path, data=data, headers=headers) as resp:
        text = await resp.text()
        return resp.status, resp.content_type, json.loads(text), resp.headers


def assert_error(status: int, body: dict[str, Any], expected: int, *needles: str) -> None:
    assert status == expected, body
    assert body["state"] == "failed"
    assert body["timestamp"].startswith("2026-01-01T")
    for needle in needles:
        assert needle in body["error_description"], body["error_description"]


async def assert_untouched(emu: Running) -> None:
    """A refused request left no broadcast, no timer and no webhook behind."""
    em = emu.emulator
    assert em.store.broadcasts == {} and em.store.legs == {}
    assert em.clock.pending == 0
    deliveries = await emu.api.control("GET", "/webhooks")
    assert deliveries["deliveries"] == []


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


# (case id, change to the documented body, text the error must contain)
BAD_CREATES: list[tuple[str, dict[str, Any], str]] = [
    ("from missing", {"from": None}, Messages.CLI),
    ("from not a number", {"from": "my-company"}, Messages.CLI),
    ("from too short", {"from": "123"}, Messages.CLI),
    ("application_name object", {"application_name": {"a": 1}}, "application_name"),
    ("owner_ref list", {"owner_ref": [1]}, "owner_ref"),
    ("numbers missing", {"broadcast_numbers_array": None}, "broadcast_numbers_array"),
    ("numbers not a list", {"broadcast_numbers_array": {"a": 1}}, "broadcast_numbers_array"),
    ("numbers empty", {"broadcast_numbers_array": []}, "broadcast_numbers_array"),
    ("entry not a number", {"broadcast_numbers_array": [PERSON, "abc"]}, "abc"),
    ("entry too short", {"broadcast_numbers_array": ["123"]}, "broadcast_numbers_array[0]"),
    ("entry too long", {"broadcast_numbers_array": ["1" * 21]}, "broadcast_numbers_array[0]"),
    ("entry a bool", {"broadcast_numbers_array": [True]}, "broadcast_numbers_array[0]"),
    (
        "json not json",
        {"broadcast_numbers_array": None, "broadcast_numbers_json": "[{phone:1}"},
        "broadcast_numbers_json",
    ),
    (
        "json without phone",
        {"broadcast_numbers_array": None, "broadcast_numbers_json": '[{"tel": "15551234567"}]'},
        "broadcast_numbers_json[0]",
    ),
    (
        "json a number",
        {"broadcast_numbers_array": None, "broadcast_numbers_json": 5},
        "broadcast_numbers_json",
    ),
    ("call_param a string", {"call_param": "fast"}, "call_param"),
    (
        "interval negative",
        {"call_param": {"interval_between_retries": -1}},
        "interval_between_retries",
    ),
    (
        "interval text",
        {"call_param": {"interval_between_retries": "soon"}},
        "interval_between_retries",
    ),
    ("retries fraction", {"call_param": {"number_of_retries": 1.5}}, "number_of_retries"),
    ("retries negative", {"call_param": {"number_of_retries": -1}}, "number_of_retries"),
    ("retries a bool", {"call_param": {"number_of_retries": True}}, "number_of_retries"),
    ("retries huge", {"call_param": {"number_of_retries": 1000}}, "number_of_retries"),
    ("event_url missing", {"event_url": None}, "event_url"),
    ("event_url not http", {"event_url": "ftp://example.com/x"}, "event_url"),
    ("event_url no host", {"event_url": "http://"}, "event_url"),
    ("call_handler_url not a url", {"call_handler_url": "call me"}, "call_handler_url"),
    ("action_on_connect a string", {"action_on_connect": "play"}, "action_on_connect"),
    ("play a string", {"action_on_connect": {"play": "hi"}}, "action_on_connect.play"),
    ("play empty", {"action_on_connect": {"play": {"voice": "male"}}}, "action_on_connect.play"),
    (
        "play text object",
        {"action_on_connect": {"play": {"text": {"a": 1}}}},
        "action_on_connect.play.text",
    ),
    (
        "play dtmf nonsense",
        {"action_on_connect": {"play": {"text": "hi", "dtmf": "perhaps"}}},
        "action_on_connect.play.dtmf",
    ),
]


@pytest.mark.parametrize(
    ("change", "needle"), [c[1:] for c in BAD_CREATES], ids=[c[0] for c in BAD_CREATES]
)
async def test_invalid_create_is_refused_naming_the_field_and_changes_nothing(
    emu: Running, receiver: Receiver, change: dict[str, Any], needle: str
) -> None:
    body = emu.api.create_body([PERSON], receiver)
    for key, value in change.items():
        body = _without(body, key) if value is None else {**body, key: value}
    status, ctype, answer, _ = await raw(
        emu, "POST", "/voice/v1/broadcast", json.dumps(body).encode(), **emu.api.auth
    )
    assert ctype == "application/json"
    assert_error(status, answer, 400, needle)
    await assert_untouched(emu)


@pytest.mark.parametrize(
    "data",
    [b"{not json", b"[1, 2]", b'"text"', b"", b"\xff\xfe", b"[" * 100_000],
    ids=["broken", "array", "string", "empty", "not utf-8", "deep"],
)
async def test_a_body_that_is_not_a_json_object_is_refused(emu: Running, data: bytes) -> None:
    status, ctype, body, _ = await raw(emu, "POST", "/v1/broadcast", data, **emu.api.auth)
    assert ctype == "application/json"
    assert_error(status, body, 400)
    await assert_untouched(emu)


async def test_a_refused_request_does_not_use_up_an_id(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    fresh, refused = await start_emulator(), await start_emulator()
    body = fresh.api.create_body([PERSON], receiver)
    status, _ = await refused.api.call("POST", "/voice/v1/broadcast", {**body, "from": "x"})
    assert status == 400
    first = await fresh.api.create([PERSON], receiver)
    second = await refused.api.create([PERSON], receiver)
    assert first["app_instance"] == second["app_instance"]


async def test_cli_numbers_limit_the_accepted_from(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(cli_numbers=("+91 99999-99999",))
    body = emu.api.create_body([PERSON], receiver)
    status, answer = await emu.api.call("POST", "/v1/broadcast", {**body, "from": "918888888888"})
    assert_error(status, answer, 400, Messages.CLI)
    assert answer["application_name"] == "test campaign"
    await assert_untouched(emu)
    status, _ = await emu.api.call("POST", "/v1/broadcast", {**body, "from": "+919999999999"})
    assert status == 200


async def test_numbers_in_every_documented_shape_are_accepted(
    emu: Running, receiver: Receiver
) -> None:
    shapes: list[dict[str, Any]] = [
        {"broadcast_numbers_array": "15551234567, 15557654321"},
        {"broadcast_numbers_array": ["+1 (555) 123-4567", "1555.765.4321"]},
        {
            "broadcast_numbers_array": None,
            "broadcast_numbers_json": '[{"phone": "15551234567"}, {"phone": "15557654321"}]',
        },
    ]
    for change in shapes:
        body = emu.api.create_body([], receiver)
        for key, value in change.items():
            body = _without(body, key) if value is None else {**body, key: value}
        status, created = await emu.api.call("POST", "/voice/v1/broadcast", body)
        assert status == 200, created
        report = await emu.api.report(created["app_instance"])
        numbers = [row["dialed_number"].lstrip("+") for row in report["resultSet"]]
        assert numbers == ["15551234567", "15557654321"]


# -- 401 ---------------------------------------------------------------------------------
def _basic(user: str, key: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()


@pytest.mark.parametrize(
    "header",
    [
        None,
        _basic("emulator-app-id", "wrong"),
        _basic("someone", "emulator-app-key"),
        "Bearer emulator-app-key",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
    ],
    ids=["missing", "wrong key", "wrong id", "bearer", "garbage", "no colon"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/voice/v1/broadcast"),
        ("GET", "/voice/v1/broadcast/abc"),
        ("DELETE", "/v1/broadcast/abc"),
        ("DELETE", "/voice/v1/broadcast/abc/call/def"),
    ],
)
async def test_bad_credentials_get_401(
    emu: Running, header: str | None, method: str, path: str
) -> None:
    headers = {} if header is None else {"Authorization": header}
    status, ctype, body, _ = await raw(emu, method, path, b"{}", **headers)
    assert ctype == "application/json"
    assert_error(status, body, 401, Messages.NOT_AUTHORIZED)
    await assert_untouched(emu)


async def test_other_spellings_of_the_right_credentials_pass(emu: Running) -> None:
    token = base64.b64encode(b"emulator-app-id:emulator-app-key").decode()
    for header in (f"basic {token}", f"Basic  {token} ", f"BASIC {token}"):
        status, _, body, _ = await raw(emu, "GET", "/voice/v1/broadcast/abc", Authorization=header)
        assert status == 404, (header, body)


# -- 404, 405, 413 -------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_unknown_broadcast_is_404_with_its_id(emu: Running, method: str) -> None:
    status, ctype, body, _ = await raw(emu, method, "/voice/v1/broadcast/nope", **emu.api.auth)
    assert ctype == "application/json"
    assert_error(status, body, 404, Messages.APP_NOT_FOUND)
    assert body["app_instance"] == "nope"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/voice/v1/broadcast/nope/call/nobody"),
        ("GET", "/voice/v1/call/nobody"),
        ("PUT", "/v1/broadcast/undefined/call/nobody/play"),
        ("DELETE", "/voice/v1/calls/nobody"),
    ],
)
async def test_unknown_call_is_404_with_its_voice_id(emu: Running, method: str, path: str) -> None:
    data = json.dumps({"text": "hi"}).encode()
    status, ctype, body, _ = await raw(emu, method, path, data, **emu.api.auth)
    assert ctype == "application/json"
    assert_error(status, body, 404, Messages.CALL_NOT_FOUND)
    assert body["voice_id"] == "nobody"


@pytest.mark.parametrize(
    "path", ["/voice/v1/nothing", "/v2/broadcast", "/", "/voice/v1/broadcast/a/b/c/d/e"]
)
async def test_unknown_route_is_404_json(emu: Running, path: str) -> None:
    status, ctype, body, _ = await raw(emu, "GET", path, **emu.api.auth)
    assert ctype == "application/json"
    assert_error(status, body, 404, Messages.ROUTE_NOT_FOUND)


@pytest.mark.parametrize(
    ("method", "path"),
    [("PATCH", "/voice/v1/broadcast"), ("GET", "/v1/broadcast"), ("PUT", "/v1/broadcast/x")],
)
async def test_wrong_method_is_405_json_with_allow(emu: Running, method: str, path: str) -> None:
    status, ctype, body, headers = await raw(emu, method, path, **emu.api.auth)
    assert ctype == "application/json"
    assert_error(status, body, 405, Messages.METHOD_NOT_ALLOWED)
    assert headers.get("Allow")  # type: ignore[union-attr]


async def test_body_too_large_is_413_json_and_changes_nothing(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(max_body_bytes=2048)
    body = emu.api.create_body([PERSON] * 200, receiver)
    data = json.dumps(body).encode()
    assert len(data) > 2048
    status, ctype, answer, _ = await raw(emu, "POST", "/voice/v1/broadcast", data, **emu.api.auth)
    assert ctype == "application/json"
    assert_error(status, answer, 413)
    await assert_untouched(emu)
    created = await emu.api.create([PERSON], receiver)  # and it keeps serving
    assert created["state"] == "initiated"


async def test_error_bodies_carry_the_documented_shape(emu: Running) -> None:
    status, _, body, _ = await raw(emu, "GET", "/voice/v1/broadcast/f1aa", **emu.api.auth)
    assert status == 404
    assert {"state", "error_description", "timestamp", "app_instance"} <= set(body)
    assert body["appInstance"] == body["broadcast_id"] == "f1aa"
    assert body["timestamp"] == "2026-01-01T09:00:00.000Z"


async def test_errors_are_journalled_but_leave_the_clock_alone(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(clock="manual")
    body = emu.api.create_body([PERSON], receiver)
    await emu.api.call("POST", "/voice/v1/broadcast", {**body, "event_url": 5})
    journal = await emu.api.control("GET", "/requests")
    assert [(r["method"], r["status"]) for r in journal["requests"]] == [("POST", 400)]
    clock = await emu.api.control("GET", "/clock")
    assert clock["pending"] == 0 and clock["now"] == "2026-01-01T09:00:00.000Z"


# -- control plane -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "body", [b'{"seconds": "soon"}', b'{"seconds": -1}', b"{}", b'{"seconds": 1e12}', b"[1"]
)
async def test_advance_refuses_bad_seconds(emu: Running, body: bytes) -> None:
    status, ctype, answer, _ = await raw(emu, "POST", "/_emulator/clock/advance", body)
    assert ctype == "application/json"
    assert_error(status, answer, 400)
    clock = await emu.api.control("GET", "/clock")
    assert clock["now"] == "2026-01-01T09:00:00.000Z"


async def test_run_until_idle_guard_answers_409(
    start_emulator: StartEmulator, receiver: Receiver
) -> None:
    emu = await start_emulator(clock="manual")
    await emu.api.create([PERSON], receiver)
    data = json.dumps({"max_timers": 2}).encode()
    status, _, answer, _ = await raw(emu, "POST", "/_emulator/clock/run-until-idle", data)
    assert_error(status, answer, 409, "2")
    status, _, answer, _ = await raw(
        emu, "POST", "/_emulator/clock/run-until-idle", b'{"max_timers": 0}'
    )
    assert_error(status, answer, 400, "max_timers")


async def test_unknown_control_route_is_404_json(emu: Running) -> None:
    status, ctype, body, _ = await raw(emu, "GET", "/_emulator/nothing")
    assert ctype == "application/json"
    assert_error(status, body, 404)
