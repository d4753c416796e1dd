"""A hostile-input corpus: every request below gets a JSON 4xx, the emulator stays healthy, and an
earlier broadcast is left exactly as it was."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from faulty_receivers import create_body

from emulator.sim.clock import ClockMode

CREATE = "/voice/v1/broadcast"
AUTH_PAIR = base64.b64encode(b"emulator-app-id:emulator-app-key").decode()


def _deep(depth: int, open_: str = "[", close: str = "]") -> bytes:
    return ('{"broadcast_numbers_array":' + open_ * depth + close * depth + "}").encode()


def _valid() -> dict[str, Any]:
    return create_body("http://127.0.0.1:9")


def _with(**changes: Any) -> bytes:
    body = _valid()
    body.update(changes)
    return json.dumps(body).encode()


# (name, method, path, body, extra headers); every one must answer a JSON 4xx
CORPUS: list[tuple[str, str, str, bytes | None, dict[str, str]]] = [
    ("not json", "POST", CREATE, b"not json", {}),
    ("truncated json", "POST", CREATE, json.dumps(_valid()).encode()[:57], {}),
    ("array body", "POST", CREATE, b"[1, 2]", {}),
    ("string body", "POST", CREATE, b'"broadcast"', {}),
    ("null body", "POST", CREATE, b"null", {}),
    ("NaN retry", "POST", CREATE, _with(call_param={"number_of_retries": float("nan")}), {}),
    ("invalid utf-8", "POST", CREATE, b'{"application_name": "\xff\xfe"}', {}),
    ("lone surrogate escape", "POST", CREATE, _with(broadcast_numbers_array=["\ud800"]), {}),
    ("lone surrogate in a name", "POST", CREATE, _with(application_name="x\ud800y"), {}),
    ("lone surrogate in a key", "POST", CREATE, b'{"\\udfff": 1}', {}),
    ("lone surrogate to a scenario", "PUT", "/_emulator/scenario", b'{"\\ud800": 1}', {}),
    ("empty numbers", "POST", CREATE, _with(broadcast_numbers_array=[]), {}),
    ("numbers not a list", "POST", CREATE, _with(broadcast_numbers_array={"a": 1}), {}),
    ("nested numbers", "POST", CREATE, _with(broadcast_numbers_array=[["919800000010"]]), {}),
    (
        "too many numbers",
        "POST",
        CREATE,
        _with(broadcast_numbers_array=["919800000010"] * 1001),
        {},
    ),
    ("200k junk numbers", "POST", CREATE, _with(broadcast_numbers_array=["x"] * 200_000), {}),
    ("20-kB number", "POST", CREATE, _with(broadcast_numbers_array=["9" * 20_000]), {}),
    (
        "json string of junk",
        "POST",
        CREATE,
        _with(broadcast_numbers_array=None, broadcast_numbers_json="[[[[[["),
        {},
    ),
    ("20,000-deep arrays", "POST", CREATE, _deep(20_000), {}),
    ("20,000-deep objects", "POST", CREATE, ('{"a":' * 20_000 + "1" + "}" * 20_000).encode(), {}),
    ("100-deep arrays", "POST", CREATE, _deep(100), {}),
    ("deep custom_data", "POST", CREATE, _with(custom_data=json.loads("[" * 500 + "]" * 500)), {}),
    ("ftp event_url", "POST", CREATE, _with(event_url="ftp://127.0.0.1/x"), {}),
    ("file event_url", "POST", CREATE, _with(event_url="file:///etc/passwd"), {}),
    ("javascript url", "POST", CREATE, _with(call_handler_url="javascript:alert(1)"), {}),
    ("no host url", "POST", CREATE, _with(event_url="http:///nohost"), {}),
    ("bad from", "POST", CREATE, _with(**{"from": {"x": 1}}), {}),
    ("negative retries", "POST", CREATE, _with(call_param={"number_of_retries": -1}), {}),
    ("huge retries", "POST", CREATE, _with(call_param={"number_of_retries": 10**30}), {}),
    ("play without text", "PUT", "/voice/v1/call/unknown/play", b'{"play": 5}', {}),
    ("traversal in broadcast id", "GET", CREATE + "/..%2F..%2Fetc%2Fpasswd", None, {}),
    ("dot segments", "GET", CREATE + "/%2e%2e/%2e%2e/etc/passwd", None, {}),
    ("traversal in voice id", "DELETE", "/voice/v1/call/..%2F..%2Fx", None, {}),
    ("invalid utf-8 in path", "GET", CREATE + "/%FF%FE%FD", None, {}),
    ("nul in path", "GET", CREATE + "/%00", None, {}),
    ("long id", "GET", CREATE + "/" + "a" * 6000, None, {}),
    ("unknown route", "GET", "/voice/v1/nothing/here", None, {}),
    ("wrong method", "PATCH", CREATE, b"{}", {}),
    ("xml content", "POST", CREATE, b"<xml/>", {"Content-Type": "application/xml"}),
]

AUTHORIZATION = [
    "",
    "Basic",
    "Basic ",
    "Basic !!!!",
    "Basic " + base64.b64encode(b"no-colon").decode(),
    "Basic " + base64.b64encode(b"emulator-app-id:wrong").decode(),
    "Basic " + base64.b64encode(b":").decode(),
    "Bearer " + AUTH_PAIR,
    "Basic " + AUTH_PAIR + "=====",
    "Basic " + "A" * 7000,
    "Digest username=emulator-app-id",
    "basic\t" + base64.b64encode(b"emulator-app-id:emulator-app-ke").decode(),
]


def _is_json_error(status: int, content_type: str, text: str) -> bool:
    if not 400 <= status < 500 or content_type != "application/json":
        return False
    body = json.loads(text)
    return body["state"] == "failed" and bool(body["error_description"])


@pytest.fixture
async def calm(start_emulator: Any) -> Any:
    """An emulator with one broadcast already made (manual clock: nothing moves by itself)."""
    running = await start_emulator(clock=ClockMode.MANUAL, max_numbers=1000)
    status, created = await running.api.call("POST", CREATE, _valid())
    assert status == 200
    running.broadcast_id = created["broadcast_id"]
    running.report_before = await running.api.report(created["broadcast_id"])
    return running


async def _still_intact(running: Any) -> None:
    assert await running.api.report(running.broadcast_id) == running.report_before
    health = await running.api.control("GET", "/health")
    assert health["status"] == "ok" and health["broadcasts"] == 1


async def test_the_hostile_corpus_gets_json_4xx(calm: Any) -> None:
    api = calm.api
    failures = []
    for name, method, path, body, headers in CORPUS:
        async with api.session.request(
            method,
            api.base + path,
            data=body,
            headers={**api.auth, "Content-Type": "application/json", **headers},
        ) as resp:
            text = await resp.text(errors="replace")
            if not _is_json_error(resp.status, resp.content_type, text):
                failures.append((name, resp.status, text[:200]))
    assert failures == []
    await _still_intact(calm)


async def test_escaped_surrogate_pairs_are_fine(calm: Any) -> None:
    body = json.dumps({**_valid(), "application_name": "launch \U0001f680"}).encode()
    assert b"\\ud83d\\ude80" in body  # json.dumps escapes it as a surrogate pair
    async with calm.api.session.post(
        calm.api.base + CREATE, data=body, headers={**calm.api.auth}
    ) as resp:
        assert resp.status == 200
        assert (await resp.json())["application_name"] == "launch \U0001f680"


async def test_odd_authorization_headers_get_json_401(calm: Any) -> None:
    api = calm.api
    for header in AUTHORIZATION:
        async with api.session.get(
            api.base + f"{CREATE}/{calm.broadcast_id}", headers={"Authorization": header}
        ) as resp:
            assert resp.status == 401, header
            assert _is_json_error(resp.status, resp.content_type, await resp.text()), header
    await _still_intact(calm)


async def test_non_ascii_authorization_bytes_get_json_401(calm: Any) -> None:
    head = (
        f"GET {CREATE}/{calm.broadcast_id} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic \xe9\xff\r\n"
    )
    answers = await _raw(calm.url, head.encode("latin-1") + b"Connection: close\r\n\r\n")
    assert [a[0] for a in answers] in ([401], [400])
    await _still_intact(calm)


async def test_forty_mib_body_gets_413(calm: Any) -> None:
    api = calm.api
    body = b'{"application_name": "' + b"x" * (40 * 1024 * 1024) + b'"}'
    headers = {**api.auth, "Content-Type": "application/json", "Connection": "close"}
    async with api.session.post(api.base + CREATE, data=body, headers=headers) as resp:
        assert resp.status == 413
        assert _is_json_error(resp.status, resp.content_type, await resp.text())
    await _still_intact(calm)


async def _raw(base_url: str, data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Send raw bytes; read every response until the server closes."""
    parts = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(data)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    answers = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        length = int(headers.get("Content-Length", "0"))
        answers.append((int(lines[0].split()[1]), headers, rest[:length]))
        raw = rest[length:]
    return answers


async def test_body_longer_than_content_length_gets_json_answers(calm: Any) -> None:
    body = json.dumps(_valid()).encode()
    head = (
        f"POST {CREATE} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {AUTH_PAIR}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body) - 12}\r\n\r\n"
    )
    answers = await _raw(calm.url, head.encode() + body)
    assert answers and answers[0][0] == 400
    for status, headers, payload in answers:
        assert 400 <= status < 500 and headers["Content-Type"].startswith("application/json")
        assert json.loads(payload)["state"] == "failed"
    await _still_intact(calm)


async def test_garbage_request_line_gets_json_400(calm: Any) -> None:
    answers = await _raw(calm.url, b"\x16\x03\x01\x02\x00 garbage\r\n\r\n")
    assert [a[0] for a in answers] == [400]
    assert json.loads(answers[0][2])["state"] == "failed"
    await _still_intact(calm)


@pytest.mark.parametrize("value", [None, 0, 1.5, True, "x", [], {}, [[]], "9" * 30])
async def test_wrong_types_in_every_create_field_never_5xx(calm: Any, value: Any) -> None:
    api = calm.api
    for key in _valid():
        body = _valid()
        body[key] = value
        status, answer = await api.call("POST", CREATE, body)
        assert status in (200, 400), (key, value, answer)
        assert answer["state"] == ("failed" if status == 400 else "initiated"), (key, answer)
    health = await api.control("GET", "/health")
    assert health["status"] == "ok"
    assert await api.report(calm.broadcast_id) == calm.report_before
