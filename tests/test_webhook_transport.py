"""The plain-HTTP webhook transport: keep-alive, framing, idle expiry, reconnects, time-outs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from emulator.webhooks.transport import Disconnected, HttpPool, PlainTarget, plain_target

Answer = Callable[[bytes], bytes | None]  # request -> raw response (None: hang, b"": close)


class RawServer:
    """A loopback HTTP server that answers each request with bytes we choose, and counts peers."""

    def __init__(self, answer: Answer, close_after: bool = False) -> None:
        self.answer = answer
        self.close_after = close_after
        self.requests: list[bytes] = []
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                raw = self.answer(request)
                if raw is None:
                    await asyncio.sleep(3600)
                    return
                if not raw:
                    break
                writer.write(raw)
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def target(self) -> PlainTarget:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        found = plain_target(f"http://127.0.0.1:{port}/hook?x=1")
        assert found is not None
        return found


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[..., Any]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answer, close_after: bool = False) -> RawServer:
        raw = RawServer(answer, close_after)
        raw.server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
        servers.append(raw.server)
        return raw

    yield start
    for server in servers:
        server.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
JSON = {"Content-Type": "application/json"}


def test_plain_target_takes_plain_http_only() -> None:
    t = plain_target("http://localhost:3000/event?a=b")
    assert t == PlainTarget("localhost", 3000, "/event?a=b", "localhost:3000")
    assert plain_target("http://[::1]/e") == PlainTarget("::1", 80, "/e", "[::1]")
    assert plain_target("http://host") == PlainTarget("host", 80, "/", "host")
    for url in ("https://h/e", "http://u:p@h/e", "http://h/é", "http://h:99999/e", "ftp://h/"):
        assert plain_target(url) is None, url


async def test_keeps_one_connection_alive_and_sends_a_plain_post(raw_server: Any) -> None:
    server = await raw_server(lambda request: OK)
    pool = HttpPool(keepalive_s=4.0, timeout_s=5.0)
    statuses = [await pool.post(server.target, b'{"n":%d}' % i, JSON) for i in range(5)]
    pool.close()
    assert statuses == [200] * 5
    assert pool.opened == 1 and server.connections == 1
    first = server.requests[0].decode()
    assert first.startswith("POST /hook?x=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.target.port}\r\n" in first
    assert "Content-Type: application/json\r\n" in first
    assert first.endswith('Content-Length: 7\r\n\r\n{"n":0}')


@pytest.mark.parametrize(
    ("raw", "reused"),
    [
        (b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", True),
        (
            b"HTTP/1.1 202 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x\r\nab\r\n0\r\nT: 1\r\n\r\n",
            True,
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 204 No Content\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", False),
    ],
)
async def test_reads_each_framing_and_reuses_only_keep_alive(
    raw_server: Any, raw: bytes, reused: bool
) -> None:
    status = int(raw.rsplit(b"HTTP/1.", 1)[1][2:5])
    server = await raw_server(lambda request: raw, close_after=not reused)
    pool = HttpPool(keepalive_s=4.0, timeout_s=5.0)
    assert [await pool.post(server.target, b"{}", JSON) for _ in range(2)] == [status, status]
    pool.close()
    assert pool.opened == (1 if reused else 2)


async def test_body_until_close(raw_server: Any) -> None:
    server = await raw_server(lambda r: b"HTTP/1.1 200 OK\r\n\r\nno length", close_after=True)
    pool = HttpPool(keepalive_s=4.0, timeout_s=5.0)
    assert await pool.post(server.target, b"{}", JSON) == 200
    assert await pool.post(server.target, b"{}", JSON) == 200
    pool.close()
    assert pool.opened == 2


async def test_never_reuses_a_connection_idle_for_keepalive_s(raw_server: Any) -> None:
    server = await raw_server(lambda request: OK)
    now = [100.0]
    pool = HttpPool(keepalive_s=4.0, timeout_s=5.0, monotonic=lambda: now[0])
    await pool.post(server.target, b"{}", JSON)
    now[0] += 3.9
    await pool.post(server.target, b"{}", JSON)
    assert pool.opened == 1
    now[0] += 4.1
    await pool.post(server.target, b"{}", JSON)
    pool.close()
    assert pool.opened == 2


async def test_a_reused_connection_closed_by_the_receiver_is_retried_fresh(
    raw_server: Any,
) -> None:
    answers = iter([OK, b"", OK])  # the second request finds the connection closing
    server = await raw_server(lambda request: next(answers))
    pool = HttpPool(keepalive_s=4.0, timeout_s=5.0)
    assert await pool.post(server.target, b"{}", JSON) == 200
    assert await pool.post(server.target, b"{}", JSON) == 200
    pool.close()
    assert len(server.requests) == 3 and pool.opened == 2


async def test_a_fresh_connection_closed_early_is_an_error(raw_server: Any) -> None:
    server = await raw_server(lambda request: b"HTTP/1.1 200 OK\r\nContent-Le", close_after=True)
    pool = HttpPool(keepalive_s=4.0, timeout_s=5.0)
    with pytest.raises(Disconnected):
        await pool.post(server.target, b"{}", JSON)
    pool.close()


async def test_garbage_and_timeouts_and_refusals_are_errors(raw_server: Any) -> None:
    garbage = await raw_server(lambda request: b"SMTP ready\r\n\r\n")
    silent = await raw_server(lambda request: None)
    pool = HttpPool(keepalive_s=4.0, timeout_s=0.2)
    with pytest.raises(ValueError, match="malformed status line"):
        await pool.post(garbage.target, b"{}", JSON)
    with pytest.raises(TimeoutError):
        await pool.post(silent.target, b"{}", JSON)
    port = silent.target.port
    silent.server.close()
    await silent.server.wait_closed()
    with pytest.raises(OSError):
        await pool.post(PlainTarget("127.0.0.1", port, "/", "x"), b"{}", JSON)
    pool.close()


async def test_dispatcher_follows_a_redirect_with_the_full_client(aiohttp_server: Any) -> None:
    from emulator.faults import FaultBook
    from emulator.sim.activity import Activity
    from emulator.sim.clock import VirtualClock
    from emulator.webhooks.crypto import BodyEncoder
    from emulator.webhooks.dispatcher import Dispatcher

    got: list[Any] = []

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("/final")

    async def final(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", moved)
    app.router.add_post("/final", final)
    server = await aiohttp_server(app)
    dispatcher = Dispatcher(VirtualClock(0), Activity(), BodyEncoder(), faults=FaultBook())
    await dispatcher.start()
    try:
        dispatcher.send("c", str(server.make_url("/hook")), {"state": "initiated"})
        assert await dispatcher.drain(5.0)
    finally:
        await dispatcher.close()
    assert got == [{"state": "initiated"}]
    assert [d.state for d in dispatcher.log] == ["delivered"]
