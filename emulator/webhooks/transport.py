"""Keep-alive HTTP/1.1 POSTs to plain `http://` receivers, at a fraction of a client session's cost.

Webhooks are small POSTs whose answer only matters for its status, sent by the thousand to a few
receivers: a generic client's per-request machinery (URL objects, cookie jar, header merging,
response objects, timers) costs several times the write and the read. `HttpPool` keeps idle
connections per receiver (never reused after `keepalive_s` idle, CONTRACT §6), writes each request
in one piece and parses just the status line, the framing headers and the body's length.

`plain_target(url)` says which URLs it takes; everything else (https, credentials in the URL,
non-ASCII) and every redirect stays with aiohttp's `ClientSession` in the dispatcher.

A receiver in the emulator's own process (the replay's built-in client) can be reached without a
socket: `local[(host, port)]` attaches a new connection's protocol to it in memory instead.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

__all__ = ["Attach", "Disconnected", "HttpPool", "PlainTarget", "plain_target"]

# joins a new client protocol to a receiver in this process (it calls `connection_made` itself)
Attach = Callable[[asyncio.Protocol], object]

_MAX_HEAD = 64 * 1024  # a response head larger than this is not a webhook receiver's answer
_MAX_TARGETS = 1024  # distinct URLs remembered by one pool (a run sends to a handful)


class Disconnected(ConnectionError):
    """The receiver closed the connection before its answer was complete."""


class PlainTarget(NamedTuple):
    host: str
    port: int
    target: str  # request target: path and query
    authority: str  # the Host header


def plain_target(url: str) -> PlainTarget | None:
    """Where a plain-HTTP POST goes, or None when the URL needs the full client."""
    if not url.startswith("http://") or not url.isascii():
        return None
    try:
        parts = urlsplit(url)
        port = parts.port or 80
    except ValueError:
        return None
    host = parts.hostname
    if not host or parts.username is not None or parts.password is not None:
        return None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if any(c in target for c in " \r\n"):
        return None
    return PlainTarget(host, port, target, parts.netloc)


class _Response:
    """Incremental parser of one HTTP/1.x response: status, framing, keep-alive."""

    __slots__ = ("body_left", "chunked", "keep_alive", "status", "until_close")

    def __init__(self) -> None:
        self.status = 0
        self.keep_alive = True
        self.chunked = False
        self.until_close = False
        self.body_left = 0

    def head(self, raw: bytes) -> bool:
        """Read a response head; False for an interim (1xx) answer that a final one follows."""
        status, self.keep_alive, self.chunked, self.until_close, self.body_left = _framing(raw)
        self.status = status
        return not 100 <= status < 200


@functools.lru_cache(maxsize=256)
def _framing(raw: bytes) -> tuple[int, bool, bool, bool, int]:
    """(status, keep-alive, chunked, until close, body length) of a response head. Kept for
    the last few heads: a receiver answers every webhook with the same bytes, or nearly (its
    `Date` changes once a second), and parsing them again cost 2-3 us per webhook."""
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise ValueError(f"malformed status line: {lines[0][:80]!r}")
    status = int(code)
    if 100 <= status < 200:
        return status, True, False, False, 0
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    connection = fields.get("connection", "").lower()
    keep_alive = "close" not in connection and (version != "HTTP/1.0" or "keep-alive" in connection)
    if status in (204, 304):
        return status, keep_alive, False, False, 0
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return status, keep_alive, True, False, 0
    if "content-length" in fields:
        return status, keep_alive, False, False, int(fields["content-length"])
    return status, False, False, True, 0


class _Connection(asyncio.Protocol):
    """One client connection; answers one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.started = 0.0  # when the current exchange began (monotonic), for the watchdog
        self._buffer = bytearray()
        self._waiter: asyncio.Future[_Response] | None = None
        self._response: _Response | None = None

    # -- protocol callbacks -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is None:
            self.close()  # bytes nobody asked for: this connection cannot be trusted again
            return
        try:
            self._parse()
        except ValueError as exc:
            self._fail(exc)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = self._response
        if response is not None and response.until_close and response.status:
            self._finish()  # the body ran until the close: that was its end
        else:
            self._fail(Disconnected(f"connection closed: {exc or 'by the receiver'}"))

    # -- one exchange ---------------------------------------------------------------------------
    async def exchange(self, request: bytes, now: float) -> _Response:
        loop = asyncio.get_running_loop()
        self.started = now
        self._waiter = loop.create_future()
        self._response = _Response()
        self._buffer.clear()
        assert self.transport is not None
        self.transport.write(request)
        return await self._waiter

    def _parse(self) -> None:
        response = self._response
        assert response is not None
        buffer = self._buffer
        while not response.status or 100 <= response.status < 200:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > _MAX_HEAD:
                    raise ValueError("response head too large")
                return
            final = response.head(bytes(buffer[:end]))
            del buffer[: end + 4]
            if not final:
                response.status = 0
        if response.chunked:
            self._parse_chunks(response)
        elif response.until_close:
            buffer.clear()
        elif len(buffer) >= response.body_left:
            if len(buffer) > response.body_left:
                response.keep_alive = False  # more than the answer: do not reuse
            self._finish()

    def _parse_chunks(self, response: _Response) -> None:
        buffer = self._buffer
        while True:
            if response.body_left:
                if len(buffer) < response.body_left + 2:
                    return
                del buffer[: response.body_left + 2]
                response.body_left = 0
            end = buffer.find(b"\r\n")
            if end < 0:
                return
            size = int(bytes(buffer[:end]).split(b";")[0].strip(), 16)
            if size == 0:  # the last chunk, then optional trailer lines and an empty line
                if buffer.find(b"\r\n\r\n", end) >= 0:
                    self._finish()
                return
            del buffer[: end + 2]
            response.body_left = size

    def _finish(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            assert self._response is not None
            waiter.set_result(self._response)

    def expire(self) -> None:
        """The receiver took longer than the time-out to answer."""
        self._fail(TimeoutError("no answer in time"))

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class HttpPool:
    """Idle keep-alive connections per receiver; `post` returns the answer's status.

    Time-outs are enforced by one watchdog that runs while exchanges are in flight (a timer per
    request would cost more than the request), so an exchange fails between `timeout_s` and
    `timeout_s` plus a quarter of it (at most 0.25 s) after it started.
    """

    def __init__(
        self,
        keepalive_s: float,
        timeout_s: float,
        monotonic: Callable[[], float] = time.monotonic,
        local: Mapping[tuple[str, int], Attach] | None = None,
    ) -> None:
        self.keepalive_s = keepalive_s
        self.timeout_s = timeout_s
        self._monotonic = monotonic
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._targets: dict[str, PlainTarget | None] = {}
        self._heads: dict[tuple[PlainTarget, tuple[tuple[str, str], ...]], bytes] = {}
        self.opened = 0  # connections opened so far (reuse shows as few)
        self.local = local if local is not None else {}  # receivers reached without a socket

    def target(self, url: str) -> PlainTarget | None:
        """`plain_target(url)`, remembered for the few URLs a run sends to."""
        try:
            return self._targets[url]
        except KeyError:
            if len(self._targets) >= _MAX_TARGETS:
                self._targets.clear()
            found = self._targets[url] = plain_target(url)
            return found

    async def post(self, target: PlainTarget, body: bytes, headers: Mapping[str, str]) -> int:
        """POST `body`; on a reused connection the receiver closed, once more on a fresh one."""
        request = b"%b%d\r\n\r\n%b" % (self._head(target, headers), len(body), body)
        key = (target.host, target.port)
        started = self._monotonic()
        conn = self._take(key, started)
        keep = True
        if conn is not None:
            try:
                return await self._exchange(key, conn, request, started)
            except Disconnected:
                # closed by the receiver while idle: not its answer. Once more on a fresh
                # connection, used once only (as a receiver that drops idle ones may want)
                keep = False
        async with asyncio.timeout(self.timeout_s - (self._monotonic() - started)):
            conn = await self._open(key)
        return await self._exchange(key, conn, request, started, keep)

    def _head(self, target: PlainTarget, headers: Mapping[str, str]) -> bytes:
        """The request head up to the Content-Length value: the same for every webhook sent to
        one URL, so it is written once (3 us per request otherwise)."""
        key = (target, tuple(headers.items()))
        try:
            return self._heads[key]
        except KeyError:
            if len(self._heads) >= _MAX_TARGETS:
                self._heads.clear()
            lines = [f"POST {target.target} HTTP/1.1", f"Host: {target.authority}"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            lines.append("Content-Length: ")
            head = self._heads[key] = "\r\n".join(lines).encode("latin-1")
            return head

    async def _open(self, key: tuple[str, int]) -> _Connection:
        attach = self.local.get(key)
        if attach is not None:
            conn = _Connection()
            attach(conn)
        else:
            loop = asyncio.get_running_loop()
            _, conn = await loop.create_connection(_Connection, key[0], key[1])
        self.opened += 1
        return conn

    async def _exchange(
        self,
        key: tuple[str, int],
        conn: _Connection,
        request: bytes,
        started: float,
        keep: bool = True,
    ) -> int:
        self._busy.add(conn)
        self._arm_watchdog()
        try:
            response = await conn.exchange(request, started)
        except BaseException:
            conn.close()
            raise
        finally:
            self._busy.discard(conn)
        if keep and response.keep_alive and not conn.closed:
            conn.idle_since = self._monotonic()
            self._idle.setdefault(key, []).append(conn)
            self._arm_sweeper()
        else:
            conn.close()
        return response.status

    def _take(self, key: tuple[str, int], now: float) -> _Connection | None:
        idle = self._idle.get(key)
        limit = now - self.keepalive_s
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.idle_since >= limit:
                return conn
            conn.close()
        return None

    # -- exchanges fail after timeout_s ------------------------------------------------------
    def _arm_watchdog(self) -> None:
        if self._watchdog is None:
            period = min(max(self.timeout_s / 4, 0.005), 0.25)
            self._watchdog = asyncio.get_running_loop().call_later(period, self._watch)

    def _watch(self) -> None:
        self._watchdog = None
        limit = self._monotonic() - self.timeout_s
        for conn in [c for c in self._busy if c.started <= limit]:
            conn.expire()
        if self._busy:
            self._arm_watchdog()

    # -- idle connections are closed after keepalive_s ------------------------------------------
    def _arm_sweeper(self) -> None:
        if self._sweeper is None:
            loop = asyncio.get_running_loop()
            self._sweeper = loop.call_later(self.keepalive_s, self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        limit = self._monotonic() - self.keepalive_s
        for key, idle in list(self._idle.items()):
            keep = [c for c in idle if not c.closed and c.idle_since >= limit]
            for conn in idle:
                if conn not in keep:
                    conn.close()
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]
        if self._idle:
            self._arm_sweeper()

    def close(self) -> None:
        for handle in (self._sweeper, self._watchdog):
            if handle is not None:
                handle.cancel()
        self._sweeper = self._watchdog = None
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
        for conn in list(self._busy):
            conn.close()
