"""Transport robustness, at the raw-socket level: every byte answered is JSON (CONTRACT §3).

Node sample clients send DELETEs with `Content-Type: application/json` and no body, and two of
them send `Content-Length` as a character count, shorter than the UTF-8 body for non-ASCII text.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from typing import Any

import pytest
from conftest import Receiver, Running, StartEmulator, until

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


# -- bodies the parser cannot decode, Expect, EOF, bodies longer than Content-Length -------------
def _raw_request(method: str, path: str, body: bytes, *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: x", f"Authorization: {_auth()}"]
    lines += ["Content-Type: application/json", *headers, f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


ROUTES = [
    ("POST", "/voice/v1/broadcast"),
    ("PUT", "/_emulator/scenario"),
    ("POST", "/_emulator/clock/advance"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
async def test_a_body_that_does_not_decode_gets_json_400(
    run: Running, method: str, path: str, encoding: str
) -> None:
    raw = _raw_request(method, path, b"this is not compressed", f"Content-Encoding: {encoding}")
    (answer,) = await exchange(run, raw)
    status, _, body = answer
    assert status == 400 and body["state"] == "failed", body
    assert f"Content-Encoding {encoding}" in body["error_description"], body
    assert "Brotli" not in body["error_description"]  # no install hints from inside aiohttp
    health = await run.api.control("GET", "/health")
    assert health["broadcasts"] == 0 and health["status"] == "ok"


async def test_a_gzip_body_that_decodes_is_served(run: Running, receiver: Receiver) -> None:
    body = json.dumps(run.api.create_body(["919876543210"], receiver)).encode()
    raw = _raw_request("POST", "/voice/v1/broadcast", gzip.compress(body), "Content-Encoding: gzip")
    status, _, answer = (await exchange(run, raw + request("GET", "/x", close=True)))[0]
    assert status == 200 and answer["state"] == "initiated", answer


@pytest.mark.parametrize(("method", "path"), [("GET", "/voice/v1/broadcast/b-1"), *ROUTES])
async def test_an_unknown_expect_gets_json_417(run: Running, method: str, path: str) -> None:
    (answer,) = await exchange(run, _raw_request(method, path, b"{}", "Expect: 999-bogus"))
    status, _, body = answer
    assert status == 417 and body["error_code"] == "EXPECTATION_FAILED"
    assert body["error_description"] == (
        "Expect: 999-bogus is not supported (send no Expect header, or 100-continue)"
    )


async def _half_close(run: Running, raw: bytes) -> list[tuple[int, dict[str, str], Any]]:
    """Send `raw`, close our sending side (as a client that gives up would), read the answer."""
    port = int(run.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    writer.write_eof()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return parse_responses(data)


async def test_a_body_cut_short_by_eof_gets_json_400(run: Running) -> None:
    raw = _raw_request("POST", "/voice/v1/broadcast", b'{"application_name": "x"}' + b" " * 75)
    (answer,) = await _half_close(run, raw[:-60])
    status, _, body = answer
    assert status == 400
    assert body["error_description"] == (
        "request body cut short: the client closed its side after 40 of 100 bytes"
    )
    (journalled,) = (await run.api.control("GET", "/requests"))["requests"]
    assert (journalled["method"], journalled["status"]) == ("POST", 400)


async def test_a_head_cut_short_by_eof_gets_json_400(run: Running) -> None:
    (answer,) = await _half_close(run, b"GET /voice/v1/broadcast/b-1 HTTP/1.1\r\nHost: x\r\n")
    assert answer[0] == 400
    assert answer[2]["error_description"] == "request head cut short: the client closed its side"


async def test_a_complete_request_then_eof_is_still_answered(run: Running) -> None:
    (answer,) = await _half_close(run, request("GET", "/voice/v1/broadcast/b-1"))
    assert answer[0] == 404 and answer[2]["error_description"] == "Application Not Found"


def _character_counted(text: str) -> tuple[bytes, int]:
    """A create request whose Content-Length counts characters, as the OIB and 2021 clients do."""
    body = _create_body(text)
    chars = len(body.decode())
    assert chars < len(body)
    return request("POST", "/voice/v1/broadcast", body, length=chars), chars


OVERRUN = (
    "body longer than Content-Length ({n} declared): "
    "Content-Length must count bytes, not characters"
)


@pytest.mark.parametrize("split", [False, True], ids=["one write", "head, then body"])
async def test_a_body_longer_than_content_length_is_named_and_journalled(
    run: Running, split: bool
) -> None:
    raw, chars = _character_counted("Namasté, très bien ✓")
    port = int(run.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if split:  # Node writes the head first when the body is written separately
        head, _, body = raw.partition(b"\r\n\r\n")
        writer.write(head + b"\r\n\r\n")
        await writer.drain()
        await until(lambda: run.emulator.activity.held > 0)  # the request reached the app
        writer.write(body)
    else:
        writer.write(raw)
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    (answer,) = parse_responses(data)  # one answer, then the connection is closed
    status, headers, body = answer
    assert status == 400 and headers["content-type"].startswith("application/json")
    assert body["error_description"] == OVERRUN.format(n=chars)
    assert b"Namast" not in data and b"\\x" not in data  # no echo of the raw bytes
    (journalled,) = (await run.api.control("GET", "/requests"))["requests"]
    assert (journalled["method"], journalled["path"]) == ("POST", "/voice/v1/broadcast")
    assert journalled["status"] == 400
    (fresh,) = await exchange(run, request("GET", "/voice/v1/broadcast/b-1", close=True))
    assert fresh[0] == 404  # other connections are served as before
    assert (await run.api.control("GET", "/broadcasts"))["broadcasts"] == []


async def test_requests_before_the_overrun_on_the_same_connection_are_answered(
    run: Running,
) -> None:
    raw, chars = _character_counted("Grüße aus Köln")
    answers = await exchange(run, request("GET", "/voice/v1/broadcast/b-1") + raw)
    assert [(status, b["error_description"]) for status, _, b in answers] == [
        (404, "Application Not Found"),
        (400, OVERRUN.format(n=chars)),
    ]


async def test_garbage_after_a_body_answered_earlier_gets_a_hint_without_echo(
    run: Running,
) -> None:
    """The body ended exactly where Content-Length said (and was answered); the rest came later."""
    raw, chars = _character_counted("Grüße aus Köln")
    port = int(run.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    cut = raw.index(b"\r\n\r\n") + 4 + chars
    writer.write(raw[:cut])
    first = await asyncio.wait_for(reader.readuntil(b"}"), 10)
    writer.write(raw[cut:])
    data = first + await asyncio.wait_for(reader.read(), 10)
    writer.close()
    answers = parse_responses(data)
    assert [status for status, _, _ in answers] == [400, 400]
    assert answers[1][2]["error_description"] == (
        f"malformed HTTP request: Invalid method encountered (right after a body of "
        f"Content-Length {chars}: Content-Length must count bytes, not characters)"
    )


@pytest.mark.parametrize("then", ["the rest and more", "eof"])
async def test_a_body_broken_after_its_request_was_answered_closes_quietly(
    run: Running, caplog: pytest.LogCaptureFixture, then: str
) -> None:
    """A 401 is answered before the body is read; the body then overruns its Content-Length
    (or the client closes its side): no second answer, no traceback in the log."""
    raw, _ = _character_counted("Grüße aus Köln")
    raw = raw.replace(f"Authorization: {_auth()}\r\n".encode(), b"")
    head_end = raw.index(b"\r\n\r\n") + 4
    port = int(run.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw[: head_end + 10])
    first = await asyncio.wait_for(reader.readuntil(b"}"), 10)
    if then == "eof":
        writer.write_eof()
    else:
        writer.write(raw[head_end + 10 :])
    rest = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    (answer,) = parse_responses(first + rest)
    assert answer[0] == 401
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")], caplog.text
