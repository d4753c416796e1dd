"""The webhook transport: keep-alive, framing, idle expiry, reconnects, time-outs, URL targets."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from emulator.webhooks.targets import Target, parse_target
from emulator.webhooks.transport import Result, Transport

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
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    @property
    def target(self) -> Target:
        return parse_target(f"http://127.0.0.1:{self.port}/hook?x=1")


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


async def post(pool: Transport, target: Target, timeout_s: float = 5.0) -> int | None:
    """The status of one POST of `{}` (None for a failure)."""
    return (await pool.post(target, b"{}", JSON, timeout_s)).status


def test_targets_of_every_webhook_url_form() -> None:
    t = parse_target("http://localhost:3000/event?a=b")
    assert (t.scheme, t.host, t.port, t.path, t.authority) == (
        "http",
        "localhost",
        3000,
        "/event?a=b",
        "localhost:3000",
    )
    assert t.authorization is None and t.receiver == "http://localhost:3000"
    v6 = parse_target("http://[::1]/e")
    assert (v6.host, v6.port, v6.authority, v6.receiver) == ("::1", 80, "[::1]", "http://[::1]:80")
    assert parse_target("http://host").path == "/"
    upper = parse_target("HTTPS://Example.COM/Hook")
    assert (upper.scheme, upper.host, upper.port, upper.path) == (
        "https",
        "example.com",
        443,
        "/Hook",
    )
    idn = parse_target("http://bücher.example:8080/päth?q=ü")
    assert (idn.host, idn.path) == ("xn--bcher-kva.example", "/p%C3%A4th?q=%C3%BC")
    assert idn.authority == "xn--bcher-kva.example:8080"
    creds = parse_target("http://us%40er:p%3Ass@h/e")
    assert creds.authorization == "Basic " + base64.b64encode(b"us@er:p:ss").decode()
    assert parse_target("http://h/a\r\nX-Injected: 1").path.isprintable()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://h/", "http:// or https://"),
        ("http:///nohost", "http:// or https://"),
        ("http://h:99999/e", "port"),
        ("http://h:0/e", "port"),
        ("http://h:abc/e", "port"),
        ("http://exa mple.com/", "host"),
    ],
)
def test_urls_that_cannot_be_targets_say_why(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_target(url)


async def test_keeps_one_connection_alive_and_sends_a_plain_post(raw_server: Any) -> None:
    server = await raw_server(lambda request: OK)
    pool = Transport(keepalive_s=4.0)
    statuses = [
        (await pool.post(server.target, b'{"n":%d}' % i, JSON, 5.0)).status for i in range(5)
    ]
    await pool.close()
    assert statuses == [200] * 5
    assert pool.opened == 1 and server.connections == 1
    first = server.requests[0].decode()
    assert first.startswith("POST /hook?x=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.target.port}\r\n" in first
    assert "Content-Type: application/json\r\n" in first
    assert first.endswith('Content-Length: 7\r\n\r\n{"n":0}')


async def test_credentials_in_the_url_become_a_basic_header(raw_server: Any) -> None:
    server = await raw_server(lambda request: OK)
    pool = Transport()
    target = parse_target(f"http://hook%20user:s3cret@127.0.0.1:{server.port}/päth")
    assert await post(pool, target) == 200
    await pool.close()
    head = server.requests[0].decode("latin-1")
    assert head.startswith("POST /p%C3%A4th HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n" in head
    assert "Authorization: Basic " + base64.b64encode(b"hook user:s3cret").decode() in head


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
    pool = Transport(keepalive_s=4.0)
    assert [await post(pool, server.target) for _ in range(2)] == [status, status]
    await pool.close()
    assert pool.opened == (1 if reused else 2)


async def test_body_until_close(raw_server: Any) -> None:
    server = await raw_server(lambda r: b"HTTP/1.1 200 OK\r\n\r\nno length", close_after=True)
    pool = Transport(keepalive_s=4.0)
    assert await post(pool, server.target) == 200
    assert await post(pool, server.target) == 200
    await pool.close()
    assert pool.opened == 2


async def test_never_reuses_a_connection_idle_for_keepalive_s(raw_server: Any) -> None:
    server = await raw_server(lambda request: OK)
    now = [100.0]
    pool = Transport(keepalive_s=4.0, monotonic=lambda: now[0])
    await post(pool, server.target)
    now[0] += 3.9
    await post(pool, server.target)
    assert pool.opened == 1
    now[0] += 4.1
    await post(pool, server.target)
    await pool.close()
    assert pool.opened == 2


async def test_a_reused_connection_closed_by_the_receiver_is_retried_fresh(
    raw_server: Any,
) -> None:
    answers = iter([OK, b"", OK])  # the second request finds the connection closing
    server = await raw_server(lambda request: next(answers))
    pool = Transport(keepalive_s=4.0)
    assert await post(pool, server.target) == 200
    assert await post(pool, server.target) == 200
    await pool.close()
    assert len(server.requests) == 3 and pool.opened == 2


async def test_a_fresh_connection_closed_early_is_an_error(raw_server: Any) -> None:
    server = await raw_server(lambda request: b"HTTP/1.1 200 OK\r\nContent-Le", close_after=True)
    pool = Transport(keepalive_s=4.0)
    result = await pool.post(server.target, b"{}", JSON, 5.0)
    await pool.close()
    assert result.status is None and (result.error or "").startswith("disconnected")
    assert result.unreachable  # closed before answering: as good as reset


async def test_a_reused_connection_cut_mid_answer_is_not_sent_again(raw_server: Any) -> None:
    server = await raw_server(lambda request: OK)
    pool = Transport(keepalive_s=4.0)
    assert await post(pool, server.target) == 200
    server.answer = lambda request: b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\npart"
    server.close_after = True
    result = await pool.post(server.target, b"{}", JSON, 5.0)
    await pool.close()
    # the receiver had begun to answer: that was its answer, not a stale connection
    assert result.status is None and len(server.requests) == 2


async def test_garbage_and_timeouts_and_refusals_are_errors(raw_server: Any) -> None:
    garbage = await raw_server(lambda request: b"SMTP ready\r\n\r\n")
    silent = await raw_server(lambda request: None)
    pool = Transport(keepalive_s=4.0)
    bad = await pool.post(garbage.target, b"{}", JSON, 0.2)
    assert "malformed status line" in (bad.error or "") and not bad.unreachable
    assert await pool.post(silent.target, b"{}", JSON, 0.2) == Result(None, "timeout", True)
    port = silent.port
    silent.server.close()
    await silent.server.wait_closed()
    refused = await pool.post(parse_target(f"http://127.0.0.1:{port}/"), b"{}", JSON, 0.2)
    await pool.close()
    assert refused.status is None and "Connect" in (refused.error or "") and refused.unreachable


async def test_https_goes_through_the_same_pool_with_keep_alive(tmp_path: Any) -> None:
    import ssl

    from aiohttp import web

    from emulator.tls import write_certificates

    certs = write_certificates(tmp_path, ("localhost",))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    seen: list[tuple[Any, str | None]] = []

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        seen.append(
            (request.transport.get_extra_info("peername"), request.headers.get("Authorization"))
        )  # type: ignore[union-attr]
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    pool = Transport()  # certificates not verified: the vendor's samples are self-signed
    strict = Transport(verify_tls=True)
    try:
        target = parse_target(f"https://hook:pw@127.0.0.1:{port}/hook")
        assert [await post(pool, target) for _ in range(3)] == [204, 204, 204]
        refused = await strict.post(target, b"{}", JSON, 5.0)
    finally:
        await pool.close()
        await strict.close()
        await runner.cleanup()
    assert pool.opened == 1 and len({peer for peer, _ in seen}) == 1
    assert {auth for _, auth in seen} == {"Basic " + base64.b64encode(b"hook:pw").decode()}
    assert refused.status is None and "certificate" in (refused.error or "").lower()
    assert not refused.unreachable  # an untrusted receiver is no outage
