"""The replay's own wire: the raw webhook receiver, the keep-alive API client, the in-process pipe,
and the dispatcher reaching a receiver in its own process without a socket."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from conftest import until

from emulator.config import Settings
from emulator.replay.api import ApiClient, ApiDisconnected
from emulator.replay.direct import DirectApi
from emulator.replay.pipe import join
from emulator.replay.receiver import Answer, RequestHead, WebhookReceiver
from emulator.replay.report import report_json
from emulator.replay.runner import WIRES, ReplayOptions, replay
from emulator.scenario import load_scenario, parse_scenario
from emulator.scenario.loader import read_tree
from emulator.testing.server import EmulatorServer

OK: Answer = (200, b'{"status": "ok"}')


@dataclass
class Got:
    path: str
    headers: dict[str, str]
    body: bytes


class Recorder:
    """A handler that keeps what it got; `hold` makes it answer only when released."""

    def __init__(self) -> None:
        self.requests: list[Got] = []
        self.hold: asyncio.Event | None = None

    def __call__(self, head: RequestHead, body: bytes) -> Answer | Any:
        self.requests.append(Got(head.path, head.headers, body))
        if self.hold is None:
            return OK
        return self._later()

    async def _later(self) -> Answer:
        assert self.hold is not None
        await self.hold.wait()
        return OK


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[WebhookReceiver, Recorder]]:
    handler = Recorder()
    rx = await WebhookReceiver(handler).start()
    yield rx, handler
    await rx.close()


async def _connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, _, port = url.removeprefix("http://").rpartition(":")
    return await asyncio.open_connection(host, int(port))


def _post(path: str, body: bytes, *extra: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: x", *extra, f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode("latin-1")
    lines = head.split("\r\n")
    fields = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
    body = await asyncio.wait_for(reader.readexactly(int(fields["content-length"])), 10)
    return int(lines[0].split(" ")[1]), fields, body


# -- the receiver ---------------------------------------------------------------------------------
async def test_requests_are_answered_in_order_on_one_kept_alive_connection(
    receiver: tuple[WebhookReceiver, Recorder],
) -> None:
    rx, handler = receiver
    reader, writer = await _connect(rx.url)
    one, two, three = (_post(f"/call/{i}", b'{"n": %d}' % i) for i in range(3))
    writer.write(one + two)  # two requests in one write (pipelined)
    writer.write(three[:10])  # and one cut in pieces
    await writer.drain()
    await until(lambda: len(handler.requests) == 2)
    writer.write(three[10:])
    answers = [await _answer(reader) for _ in range(3)]
    assert [a[0] for a in answers] == [200, 200, 200]
    assert all(a[2] == b'{"status": "ok"}' for a in answers)
    assert [r.path for r in handler.requests] == ["/call/0", "/call/1", "/call/2"]
    assert [json.loads(r.body) for r in handler.requests] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert handler.requests[0].headers["host"] == "x"
    writer.close()


async def test_a_handler_that_waits_holds_the_next_request_until_it_answers(
    receiver: tuple[WebhookReceiver, Recorder],
) -> None:
    rx, handler = receiver
    handler.hold = asyncio.Event()
    reader, writer = await _connect(rx.url)
    writer.write(_post("/a", b"{}") + _post("/b", b"{}"))
    await until(lambda: len(handler.requests) == 1)
    assert [r.path for r in handler.requests] == ["/a"]  # /b waits for /a's answer
    handler.hold.set()
    assert (await _answer(reader))[0] == 200
    assert (await _answer(reader))[0] == 200
    assert [r.path for r in handler.requests] == ["/a", "/b"]
    writer.close()


async def test_the_path_is_decoded_as_aiohttp_decodes_it(
    receiver: tuple[WebhookReceiver, Recorder],
) -> None:
    rx, handler = receiver
    seen: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response()

    app = web.Application()
    app.router.add_post("/{tail:.*}", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    targets = ["/plain", "/a%20b?x=1", "/a%2Fb", "/x%2By", "/%E2%9C%93/ok"]
    try:
        for url in (rx.url, f"http://127.0.0.1:{port}"):
            reader, writer = await _connect(url)
            for target in targets:
                writer.write(_post(target, b"{}"))
                await _answer(reader)
            writer.close()
    finally:
        await runner.cleanup()
    assert [r.path for r in handler.requests] == seen
    assert seen[1] == "/a b"


@pytest.mark.parametrize(
    ("request_bytes", "status", "closed"),
    [
        (b"GET /call HTTP/1.1\r\nHost: x\r\n\r\n", 405, False),
        (b"POST /call\r\nHost: x\r\n\r\n", 400, True),
        (b"POST /call HTTP/1.1\r\nbad header\r\n\r\n", 400, True),
        (b"POST /call HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, True),
        (b"POST /call HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501, True),
        (b"POST /call HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 413, True),
    ],
)
async def test_what_is_not_a_webhook_gets_a_json_error(
    receiver: tuple[WebhookReceiver, Recorder], request_bytes: bytes, status: int, closed: bool
) -> None:
    rx, handler = receiver
    reader, writer = await _connect(rx.url)
    writer.write(request_bytes)
    got, fields, body = await _answer(reader)
    assert got == status
    assert fields["content-type"].startswith("application/json")
    assert "error" in json.loads(body)
    assert handler.requests == []
    if closed:
        assert fields["connection"] == "close"
        assert await asyncio.wait_for(reader.read(), 10) == b""
    else:  # the connection goes on
        writer.write(_post("/call", b"{}"))
        assert (await _answer(reader))[0] == 200
    writer.close()


async def test_a_failing_handler_answers_500_and_the_connection_goes_on() -> None:
    calls: list[str] = []

    def handler(head: RequestHead, body: bytes) -> Answer:
        calls.append(head.path)
        if head.path == "/boom":
            raise RuntimeError("broken reaction")
        return OK

    rx = await WebhookReceiver(handler).start()
    try:
        reader, writer = await _connect(rx.url)
        writer.write(_post("/boom", b"{}") + _post("/fine", b"{}"))
        assert (await _answer(reader))[0] == 500
        assert (await _answer(reader))[0] == 200
        writer.close()
    finally:
        await rx.close()
    assert calls == ["/boom", "/fine"]


async def test_connection_close_is_honoured(receiver: tuple[WebhookReceiver, Recorder]) -> None:
    rx, _ = receiver
    reader, writer = await _connect(rx.url)
    writer.write(_post("/call", b"{}", "Connection: close"))
    assert (await _answer(reader))[1]["connection"] == "close"
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()


# -- the API client -------------------------------------------------------------------------------
class RawServer:
    """A scripted HTTP server: `script(n, request_bytes)` gives the bytes to answer the n-th
    request with, and whether to close the connection after them."""

    def __init__(self, script: Any) -> None:
        self.script = script
        self.requests: list[bytes] = []
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> RawServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode().split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":")[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                answer, close = self.script(len(self.requests), head + body)
                writer.write(answer)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()


def _ok(body: bytes = b'{"ok": true}', *extra: str) -> bytes:
    head = ["HTTP/1.1 200 OK", *extra, f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def test_the_api_client_keeps_one_connection_alive_and_sends_its_headers() -> None:
    server = await RawServer(lambda n, raw: (_ok(b'{"n": %d}' % n), False)).start()
    client = ApiClient(server.url, {"Authorization": "Basic abc"})
    try:
        answers = [await client.request("PUT", f"/play/{i}", b'{"x": 1}') for i in range(3)]
    finally:
        client.close()
        await server.close()
    assert answers == [(200, b'{"n": 1}'), (200, b'{"n": 2}'), (200, b'{"n": 3}')]
    assert client.opened == 1 and server.connections == 1
    first = server.requests[0].decode()
    assert first.startswith("PUT /play/0 HTTP/1.1\r\n")
    assert "Authorization: Basic abc\r\n" in first and first.endswith('\r\n\r\n{"x": 1}')


async def test_an_idle_connection_the_server_dropped_is_replaced_once() -> None:
    # the server reads the 2nd request and closes without a word: the client sends it again
    def script(n: int, raw: bytes) -> tuple[bytes, bool]:
        return (b"", True) if n == 2 else (_ok(), False)

    server = await RawServer(script).start()
    client = ApiClient(server.url, {})
    try:
        assert (await client.request("GET", "/a"))[0] == 200
        assert (await client.request("GET", "/b"))[0] == 200
    finally:
        client.close()
        await server.close()
    assert client.opened == 2
    assert [r.split(b" ")[1] for r in server.requests] == [b"/a", b"/b", b"/b"]


async def test_a_server_that_never_answers_is_not_asked_forever() -> None:
    server = await RawServer(lambda n, raw: (b"", True)).start()
    client = ApiClient(server.url, {})
    try:
        with pytest.raises(ApiDisconnected):
            await client.request("GET", "/a")
    finally:
        client.close()
        await server.close()
    assert len(server.requests) == 1  # a fresh connection that fails is not tried again


async def test_an_answer_cut_short_is_an_error_and_not_sent_again() -> None:
    cut = b'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"partial'
    server = await RawServer(lambda n, raw: (cut, True)).start()
    client = ApiClient(server.url, {})
    try:
        with pytest.raises(ConnectionError) as caught:
            await client.request("PUT", "/play")
    finally:
        client.close()
        await server.close()
    assert not isinstance(caught.value, ApiDisconnected)
    assert len(server.requests) == 1


CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'4\r\n{"a"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n'
)


@pytest.mark.parametrize(
    ("answer", "reused"),
    [
        (CHUNKED, True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 8\r\n\r\n{\"a\": 1}", False),
        (b"HTTP/1.0 200 OK\r\n\r\n{\"a\": 1}", False),
        (b"HTTP/1.1 100 Continue\r\n\r\n" + _ok(b'{"a": 1}'), True),
    ],
)  # fmt: skip
async def test_answers_are_read_whatever_their_framing(answer: bytes, reused: bool) -> None:
    server = await RawServer(lambda n, raw: (answer, not reused)).start()
    client = ApiClient(server.url, {})
    try:
        assert await client.request("GET", "/a") == (200, b'{"a": 1}')
        assert await client.request("GET", "/b") == (200, b'{"a": 1}')
    finally:
        client.close()
        await server.close()
    assert client.opened == (1 if reused else 2)


async def test_an_answer_that_never_comes_times_out() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = ApiClient(f"http://127.0.0.1:{port}", {}, timeout_s=0.2)
    try:
        with pytest.raises(TimeoutError):
            await client.request("GET", "/a")
    finally:
        client.close()
        server.close()


def test_the_api_client_talks_plain_http_only() -> None:
    with pytest.raises(ValueError, match="plain http"):
        ApiClient("https://127.0.0.1:1", {})


# -- the in-process pipe --------------------------------------------------------------------------
class Collect(asyncio.Protocol):
    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.lost = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.data.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost += 1


async def _joined() -> tuple[Collect, Collect]:
    far: list[Collect] = []

    def factory() -> Collect:
        far.append(Collect())
        return far[-1]

    near = Collect()
    join(near, factory)
    return near, far[0]


async def test_the_pipe_carries_bytes_in_order_on_a_later_turn_of_the_loop() -> None:
    near, far = await _joined()
    assert near.transport is not None and far.transport is not None
    near.transport.write(b"one ")
    near.transport.writelines([b"two ", b"three"])
    assert far.data == []  # never inside the writer's call
    await until(lambda: bool(far.data))
    assert b"".join(far.data) == b"one two three"
    far.transport.write(b"back")
    await until(lambda: bool(near.data))
    assert near.data == [b"back"]
    assert near.transport.get_extra_info("peername") == ("127.0.0.1", 0)


async def test_closing_one_end_delivers_what_was_written_then_ends_both() -> None:
    near, far = await _joined()
    assert near.transport is not None and far.transport is not None
    near.transport.write(b"last words")
    near.transport.close()
    assert near.transport.is_closing() and far.transport.is_closing()
    near.transport.write(b"ignored")
    await until(lambda: near.lost == 1 and far.lost == 1)
    assert far.data == [b"last words"]


async def test_paused_reading_holds_the_bytes_until_resumed() -> None:
    near, far = await _joined()
    assert near.transport is not None and far.transport is not None
    far.transport.pause_reading()
    near.transport.write(b"a")
    near.transport.write(b"b")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert far.data == []
    far.transport.resume_reading()
    await until(lambda: bool(far.data))
    assert far.data == [b"ab"]


# -- the dispatcher reaches a receiver in its own process -----------------------------------------
async def test_the_dispatcher_reaches_a_local_receiver_without_a_socket() -> None:
    handler = Recorder()
    rx = WebhookReceiver(handler)
    with socket.socket() as probe:  # an address nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = await EmulatorServer(Settings(settle_ms=0)).start()
    try:
        transport = server.emulator.dispatcher.transport
        assert transport is not None
        transport.local[("127.0.0.1", port)] = lambda protocol: join(protocol, rx.connection)
        url = f"http://127.0.0.1:{port}/event"
        await server.create_broadcast(["919999900001"], event_url=url, call_handler_url=url)
        await server.wait_for_completion(timeout_s=30)
    finally:
        await server.close()
    events = [json.loads(r.body) for r in handler.requests]
    assert events[0]["state"] == "initiated" and "resultSet" in events[-1]
    assert all(r.path == "/event" for r in handler.requests)


# -- the replay on every wire -------------------------------------------------------------------
LIBRARY = Path(__file__).resolve().parent.parent / "scenarios"


@pytest.mark.parametrize(
    ("name", "assignments"),
    [
        ("special-client-100k.yaml", {"count": 300}),  # play and hang up through the API
        ("bridge-agent.yaml", {}),  # connect, wait on the virtual clock, hang up
        ("webhook-down.yaml", {}),  # failed deliveries and their retries
        ("stopped-campaign.yaml", {}),  # a stop at a virtual instant
    ],
)
async def test_every_wire_gives_the_same_run(name: str, assignments: dict[str, Any]) -> None:
    await _same_on_every_wire(load_scenario(LIBRARY / name, assignments))


REFUSED = """
version: 1
seed: 3
settings: {webhook_encryption: aes256}
faults:
  api:
    - {route: "/play", status: 503, after_s: 0, for_s: 3600}
client:
  broadcasts:
    - numbers: ["+919700000061", "+919700000062", "+919700000063"]
      dialect: "2020"
  reactions:
    - on: connected
      do:
        - play: {text: "never heard", prompt_ref: "x"}
    - on: disconnected
      do: hangup
expect:
  completed: 1
"""


async def test_refused_calls_and_encrypted_webhooks_are_the_same_on_every_wire() -> None:
    # every play answered 503 by an injected fault, every hang-up of a finished call 409: the
    # client errors (status and JSON answer) and the decrypted events must not depend on the wire
    result = await _same_on_every_wire(parse_scenario(read_tree(REFUSED, "r.yaml"), "r.yaml"))
    statuses = sorted(e["status"] for e in result.facts.client_errors)
    assert statuses == [409] * 3 + [503] * 3
    assert all(isinstance(e["answer"], dict) for e in result.facts.client_errors)


async def _same_on_every_wire(scenario: Any) -> Any:
    runs = [
        await replay(scenario, ReplayOptions(timeout_s=60, keep_log=True, wire=wire))
        for wire in WIRES
    ]
    seen = [(report_json(r), r.log_lines) for r in runs]
    for report, _ in seen:
        del report["summary"]["wall_s"]
    assert seen[0] == seen[1] == seen[2]
    assert all(r.passed for r in runs)
    assert len(runs[0].log_lines) == runs[0].facts.recorder.total > 0
    return runs[0]


async def test_calls_go_over_http_when_aiohttp_builds_requests_otherwise(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(self: DirectApi, method: str, path: str, body: bytes) -> Any:
        raise TypeError("RawRequestMessage() takes 11 arguments")

    monkeypatch.setattr(DirectApi, "_request", refuse)
    scenario = load_scenario(LIBRARY / "special-client-100k.yaml", {"count": 20})
    result = await replay(scenario, ReplayOptions(timeout_s=60))
    assert result.passed and result.facts.client_errors == []
    warnings = [r.getMessage() for r in caplog.records if r.name == "emulator.replay"]
    assert len(warnings) == 1 and "the client's calls go over HTTP" in warnings[0]


async def test_a_direct_call_is_journalled_and_answered_like_one_over_http() -> None:
    server = await EmulatorServer(Settings(settle_ms=0)).start()
    headers = {"Authorization": server.auth_header, "Content-Type": "application/json"}
    direct = DirectApi(server.http_server, headers)
    over_http = ApiClient(server.url, headers)
    try:
        path = "/voice/v1/broadcast/nope/call/nope/play?x=1"
        answers = [await api.request("PUT", path, b'{"text": "hi"}') for api in (direct, over_http)]
        journal = await server.requests()
    finally:
        direct.close()
        over_http.close()
        await server.close()
    assert answers[0] == answers[1] and answers[0][0] == 404
    for row in journal:
        del row["id"]
    assert journal[0] == journal[1]
    assert (journal[0]["method"], journal[0]["path"]) == (
        "PUT",
        "/voice/v1/broadcast/nope/call/nope/play",
    )
    assert journal[0]["body"] == {"text": "hi"}


async def test_direct_calls_go_on_when_the_server_closed_their_connection() -> None:
    server = await EmulatorServer(Settings(settle_ms=0)).start()
    direct = DirectApi(server.http_server, {"Authorization": server.auth_header})
    try:
        path = "/voice/v1/broadcast/nope"
        first = await direct.request("GET", path)
        old = direct._connection()
        old.transport.close()  # as the server's keep-alive time-out would
        await until(lambda: old.transport is None)
        second = await direct.request("GET", path)
        new = direct._protocol
        assert new is not old and new.transport is not None and not new.transport.is_closing()
    finally:
        direct.close()
        await server.close()
    assert first == second and first[0] == 404
