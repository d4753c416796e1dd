"""The built-in client's API calls (play, hangup, connect, stop) over keep-alive HTTP/1.1.

A large replay makes hundreds of thousands of them, one per reaction, while the webhook that caused
it waits for its answer; a general-purpose client's per-request machinery (URL objects, cookie jar,
header merging, response objects, a timer each) would cost more than the emulator spends answering.
`ApiClient` keeps idle connections to the one emulator it talks to, writes each request in one
piece (the head is the same for every call but the path) and reads the status, the framing and the
body. A connection the emulator closed while it was idle is replaced once, at once. With `attach`,
new connections are joined to the emulator in this process (`emulator.replay.pipe`) instead of
opened through a socket: the same bytes either way.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

__all__ = ["ApiClient", "ApiDisconnected", "Attach"]

Attach = Callable[[asyncio.Protocol], object]  # joins a new connection's protocol to the emulator

_MAX_HEAD = 64 * 1024


class ApiDisconnected(ConnectionError):
    """The emulator closed the connection before its answer was complete."""


class _Answer:
    """Incremental parser of one HTTP/1.1 response: status, framing, body."""

    __slots__ = ("body", "chunked", "keep_alive", "left", "status", "until_close")

    def __init__(self) -> None:
        self.status = 0
        self.keep_alive = True
        self.chunked = False
        self.until_close = False
        self.left = 0
        self.body = bytearray()

    def head(self, raw: bytes) -> None:
        self.status, self.keep_alive, self.chunked, self.until_close, self.left = _framing(raw)


@functools.lru_cache(maxsize=256)
def _framing(raw: bytes) -> tuple[int, bool, bool, bool, int]:
    """(status, keep-alive, chunked, until close, body length) of an answer's head, kept for
    the last few: the emulator's answers to one kind of call share their head but for `Date`,
    which changes once a second."""
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise ValueError(f"malformed status line: {lines[0][:80]!r}")
    status = int(rest[:3])
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    connection = fields.get("connection", "").lower()
    keep_alive = "close" not in connection and (version != "HTTP/1.0" or "keep-alive" in connection)
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return status, keep_alive, True, False, 0
    if "content-length" in fields:
        length = fields["content-length"]
        if not length.isdigit():
            raise ValueError(f"malformed Content-Length: {length[:40]!r}")
        return status, keep_alive, False, False, int(length)
    if status in (204, 304) or 100 <= status < 200:
        return status, keep_alive, False, False, 0
    return status, False, False, True, 0


class _Connection(asyncio.Protocol):
    """One connection to the emulator; one exchange at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.started = 0.0
        self._buffer = bytearray()
        self._answer: _Answer | None = None
        self._waiter: asyncio.Future[_Answer] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        answer = self._answer
        if answer is not None and answer.until_close and answer.status:
            self._finish()
        elif answer is not None and (answer.status or self._buffer):
            self._fail(ConnectionError(f"answer cut short: {exc or 'closed by the emulator'}"))
        else:  # nothing of an answer: the request was not taken, it may be sent again
            self._fail(ApiDisconnected(f"connection closed: {exc or 'by the emulator'}"))

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            self.close()  # bytes nobody asked for: do not reuse this connection
            return
        self._buffer += data
        try:
            self._parse()
        except ValueError as exc:
            self._fail(exc)

    async def exchange(self, request: bytes, now: float) -> _Answer:
        self.started = now
        self._answer = _Answer()
        self._buffer.clear()
        self._waiter = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(request)
        return await self._waiter

    def _parse(self) -> None:
        answer, buffer = self._answer, self._buffer
        assert answer is not None
        while not answer.status:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > _MAX_HEAD:
                    raise ValueError("response head too large")
                return
            answer.head(bytes(buffer[:end]))
            del buffer[: end + 4]
            if 100 <= answer.status < 200:
                answer.status = 0  # an interim answer: the final one follows
        if answer.chunked:
            self._chunks(answer)
        elif answer.until_close:
            answer.body += buffer
            buffer.clear()
        elif len(buffer) >= answer.left:
            answer.body += buffer[: answer.left]
            if len(buffer) > answer.left:
                answer.keep_alive = False  # more than the answer: do not reuse
            self._finish()

    def _chunks(self, answer: _Answer) -> None:
        buffer = self._buffer
        while True:
            if answer.left:
                if len(buffer) < answer.left + 2:
                    return
                answer.body += buffer[: answer.left]
                del buffer[: answer.left + 2]
                answer.left = 0
            end = buffer.find(b"\r\n")
            if end < 0:
                return
            size = int(bytes(buffer[:end]).split(b";")[0].strip(), 16)
            if size == 0:
                if buffer.find(b"\r\n\r\n", end) >= 0:
                    self._finish()
                return
            del buffer[: end + 2]
            answer.left = size

    def _finish(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            assert self._answer is not None
            waiter.set_result(self._answer)

    def expire(self) -> None:
        self._fail(TimeoutError("the emulator did not answer in time"))

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class ApiClient:
    """Requests to the emulator at `url` (`http://host:port`) with fixed `headers` (the
    credentials); `request` returns the answer's status and body bytes.

    Raises `ApiDisconnected`, `TimeoutError` (no answer within `timeout_s`, checked by one
    watchdog while requests are in flight), `OSError` or `ValueError` (an unreadable answer).
    """

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str],
        timeout_s: float = 300.0,
        attach: Attach | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the replay's client talks plain http:// only, not {url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        lines = [f"Host: {parts.netloc}", *(f"{k}: {v}" for k, v in headers.items())]
        self._head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode("latin-1")
        self.timeout_s = timeout_s
        self.attach = attach
        self._idle: list[_Connection] = []
        self._busy: set[_Connection] = set()
        self._watchdog: asyncio.TimerHandle | None = None
        self.opened = 0

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        start = f"{method} {path} HTTP/1.1\r\n".encode("latin-1")
        raw = b"%b%b%d\r\n\r\n%b" % (start, self._head, len(body), body)
        started = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if conn.closed:
                continue
            try:
                return await self._exchange(conn, raw, started)
            except ApiDisconnected:
                break  # closed while idle, before it could answer: once more, on a new one
        conn = await self._open()
        return await self._exchange(conn, raw, started)

    async def _open(self) -> _Connection:
        self.opened += 1
        if self.attach is not None:
            conn = _Connection()
            self.attach(conn)
            return conn
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.timeout_s):
            _, conn = await loop.create_connection(_Connection, self.host, self.port)
        return conn

    async def _exchange(self, conn: _Connection, raw: bytes, started: float) -> tuple[int, bytes]:
        self._busy.add(conn)
        self._arm_watchdog()
        try:
            answer = await conn.exchange(raw, started)
        except BaseException:
            conn.close()
            raise
        finally:
            self._busy.discard(conn)
        if answer.keep_alive and not conn.closed:
            self._idle.append(conn)
        else:
            conn.close()
        return answer.status, bytes(answer.body)

    def _arm_watchdog(self) -> None:
        if self._watchdog is None:
            period = min(max(self.timeout_s / 4, 0.005), 1.0)
            self._watchdog = asyncio.get_running_loop().call_later(period, self._watch)

    def _watch(self) -> None:
        self._watchdog = None
        limit = time.monotonic() - self.timeout_s
        for conn in [c for c in self._busy if c.started <= limit]:
            conn.expire()
        if self._busy:
            self._arm_watchdog()

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        for conn in self._idle + list(self._busy):
            conn.close()
        self._idle.clear()
