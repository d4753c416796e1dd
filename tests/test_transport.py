"""Transport robustness, at the raw-socket level: every byte answered is JSON (CONTRACT §3).

Node sample clients send DELETEs with `Content-Type: application/json` and no body, and two of
them send `Content-Length` as a character count, shorter than the UTF-8 body for non-ASCII text.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from conftest import Receiver, Running, StartEmulator

from emulator import ClockMode, Settings


def _auth() -> str:
    s = Settings()
    return "Basic " + base64.b64encode(f"{s.app_id}:{s.app_key}".encode()).decode()


def request(
    method: str,
    path: str,
    body: bytes | None = None,
    length: int | None = None,
    close: bool = False,
    auth: bool = True,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: api.enablex.io"]
    if auth:
        lines.append(f"Authorization: {_auth()}")
    lines.append("Content-Type: application/json")
    if body is not None:
        lines.append(f"Content-Length: {len(body) if length is None else length}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def exchange(run: Running, raw: bytes) -> list[tuple[int, dict[str, str], Any]]:
    """Send `raw` on one connection, read until the server closes, parse every response."""
    port = int(run.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return parse_responses(data)


def parse_responses(data: bytes) -> list[tuple[int, dict[str, str], Any]]:
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"incomplete response: {data[:200]!r}"
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        size = int(headers["content-length"])
        body, data = rest[:size], rest[size:]
        assert headers["content-type"].startswith("application/json"), (status_line, body)
        out.append((int(status_line.split()[1]), headers, json.loads(body)))
    return out


@pytest.fixture
async def run(start_emulator: StartEmulator) -> Running:
    return await start_emulator(clock=ClockMode.MANUAL)


async def test_delete_and_get_bodies_are_never_parsed(run: Running) -> None:
    raw = (
        request("DELETE", "/voice/v1/call/v-1", b"this is not json")
        + request("GET", "/voice/v1/broadcast/b-1", b"\xff\xfe{")
        + request("DELETE", "/voice/v1/broadcast/b-1/call/v-1", close=True)
    )
    answers = await exchange(run, raw)
    assert [(s, b["error_description"]) for s, _, b in answers] == [
        (404, "Call Not Found"),
        (404, "Application Not Found"),
        (404, "Call Not Found"),
    ]


async def test_node_style_bodyless_delete_hangs_up(run: Running, receiver: Receiver) -> None:
    await run.api.create(["919876543210"], receiver, action_on_connect=None)
    await run.api.advance(3)
    voice_id = receiver.events[-1]["voice_id"]
    # no Content-Length and no body, as `req.end('')` sends; then a second request on the socket
    raw = request("DELETE", f"/voice/v1/call/{voice_id}") + request(
        "GET", f"/voice/v1/call/{voice_id}", close=True
    )
    answers = await exchange(run, raw)
    assert [s for s, _, _ in answers] == [200, 200]
    assert answers[0][2]["state"] == "success" and answers[1][2]["state"] == "disconnected"


def _create_body(text: str) -> bytes:
    body = {
        "name": "TEST_APP",
        "broadcastnumbersjson": json.dumps([{"phone": "919876543210"}]),
        "from": "919999999999",
        "action_on_connect": {"play": {"text": text, "voice": "female", "language": "en-US"}},
        "event_url": "http://127.0.0.1:9/event",
    }
    return json.dumps(body, ensure_ascii=False).encode()


async def test_character_count_content_length_gets_json_400_and_serving_goes_on(
    run: Running,
) -> None:
    body = _create_body("Namasté, très bien ✓")
    chars = len(body.decode())
    assert chars < len(body)
    raw = request("POST", "/voice/v1/broadcast", body, length=chars) + request(
        "GET", "/voice/v1/broadcast/b-1", close=True
    )
    answers = await exchange(run, raw)
    assert answers, "no answer at all"
    assert answers[0][0] == 400 and answers[0][2]["state"] == "failed"
    assert all(status in (400, 404) for status, _, _ in answers)
    # the emulator keeps serving on a fresh connection, and created nothing
    (fresh,) = await exchange(run, request("GET", "/voice/v1/broadcast/b-1", close=True))
    assert fresh[0] == 404
    assert (await run.api.control("GET", "/broadcasts"))["broadcasts"] == []


async def test_leftover_bytes_arriving_later_are_answered_as_json(run: Running) -> None:
    """The truncated body reaches the handler first (a JSON 400), the leftover bytes later."""
    body = _create_body("Grüße aus Köln")
    chars = len(body.decode())
    port = int(run.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = request("POST", "/voice/v1/broadcast", body, length=chars)
    writer.write(head[: len(head) - (len(body) - chars)])
    await writer.drain()
    first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    size = int(first.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    first += await reader.readexactly(size)
    writer.write(body[chars:] + request("GET", "/voice/v1/broadcast/b-1", close=True))
    rest = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    answers = parse_responses(first + rest)
    assert answers[0][0] == 400 and "JSON" in answers[0][2]["error_description"]
    assert [status for status, _, _ in answers[1:]] == [400]


@pytest.mark.parametrize("cut", [1, 2, 3])
async def test_truncated_bodies_in_the_middle_of_a_character(run: Running, cut: int) -> None:
    body = _create_body("✓✓✓")  # each ✓ is three bytes
    raw = request("POST", "/voice/v1/broadcast", body, length=len(body) - cut, close=True)
    answers = await exchange(run, raw)
    assert answers[0][0] == 400


async def test_non_utf8_body_is_json_400(run: Running) -> None:
    body = _create_body("hello").replace(b"hello", b"h\xe9llo")
    (answer,) = await exchange(run, request("POST", "/voice/v1/broadcast", body, close=True))
    assert answer[0] == 400 and "UTF-8" in answer[2]["error_description"]


@pytest.mark.parametrize(
    "raw",
    [
        b"HELLO\r\n\r\n",
        b"GET /voice/v1/broadcast/x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /voice/v1/broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: nope\r\n\r\n",
    ],
)
async def test_http_parser_errors_are_json(run: Running, raw: bytes) -> None:
    answers = await exchange(run, raw)
    assert answers and all(status == 400 for status, _, _ in answers)
    (fresh,) = await exchange(run, request("GET", "/voice/v1/broadcast/b-1", close=True))
    assert fresh[0] == 404


async def test_loosely_typed_values_are_accepted(run: Running, receiver: Receiver) -> None:
    body = {
        "name": "TEST_APP",
        "broadcast_numbers": json.dumps([{"phone": " 919876543210"}]),
        "from": "+91 99999-99999",
        "action_on_connect": {
            "play": {
                "text": "undefined",
                "voice": "undefined",
                "language": "english_us",
                "prompt_ref": "welcome",
                "dtmf": "false",
            }
        },
        "call_param": {"IntervalBetweenRetries": "5000", "NumberOfRetries": "3"},
        "event_url": receiver.url + "/event",
    }
    status, answer = await run.api.call("POST", "/voice/v1/broadcast", body)
    assert status == 200, answer


async def test_from_undefined_is_refused_with_the_cli_message(
    run: Running, receiver: Receiver
) -> None:
    body = {
        "name": "TEST_APP",
        "broadcast_numbers": json.dumps([{"phone": "919876543210"}]),
        "from": "undefined",
        "event_url": receiver.url + "/event",
    }
    status, answer = await run.api.call("POST", "/voice/v1/broadcast", body)
    assert status == 400
    assert answer["error_description"] == "CLI number is not assigned/wrong CLI number"
    assert answer["application_name"] == "TEST_APP"
