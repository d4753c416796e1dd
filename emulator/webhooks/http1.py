"""One HTTP/1.1 client connection: write a request, read at most `MAX_ANSWER` bytes of its answer.

The answer matters only for its status (and, for a redirect, its `Location`): the parser reads the
status line and the framing headers, counts the body without keeping it, and stops reading once
head and body together exceed `MAX_ANSWER` bytes (CONTRACT §11). A cut answer still counts by its
status; the connection is closed, never reused.
"""

from __future__ import annotations

import asyncio
import functools
import socket

__all__ = ["MAX_ANSWER", "Connection", "Disconnected", "Response"]

MAX_ANSWER = 64 * 1024  # bytes of a receiver's answer (head + body) read at most


class Disconnected(ConnectionError):
    """The receiver closed the connection before its answer was complete.

    `silent` is True when not one byte of an answer had arrived: on a reused connection that is a
    receiver that dropped the idle socket, not its answer.
    """

    def __init__(self, message: str, silent: bool) -> None:
        super().__init__(message)
        self.silent = silent


class Response:
    """Incremental state of one HTTP/1.x response: status, framing, keep-alive, Location."""

    __slots__ = ("body_left", "chunked", "keep_alive", "location", "status", "until_close")

    def __init__(self) -> None:
        self.status = 0
        self.keep_alive = True
        self.chunked = False
        self.until_close = False
        self.body_left = 0
        self.location: str | None = None

    def head(self, raw: bytes) -> bool:
        """Read a response head; False for an interim (1xx) answer that a final one follows."""
        (
            self.status,
            self.keep_alive,
            self.chunked,
            self.until_close,
            self.body_left,
            self.location,
        ) = _framing(raw)
        return not 100 <= self.status < 200


@functools.lru_cache(maxsize=256)
def _framing(raw: bytes) -> tuple[int, bool, bool, bool, int, str | None]:
    """(status, keep-alive, chunked, until close, body length, Location) of a response head.
    Kept for the last few heads: a receiver answers every webhook with the same bytes, or
    nearly (its `Date` changes once a second), and parsing them again cost 2-3 us per webhook."""
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise ValueError(f"malformed status line: {lines[0][:80]!r}")
    status = int(code)
    if 100 <= status < 200:
        return status, True, False, False, 0, None
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    connection = fields.get("connection", "").lower()
    keep_alive = "close" not in connection and (version != "HTTP/1.0" or "keep-alive" in connection)
    location = fields.get("location")
    if status in (204, 304):
        return status, keep_alive, False, False, 0, location
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return status, keep_alive, True, False, 0, location
    if "content-length" in fields:
        length = int(fields["content-length"])
        if length < 0:
            raise ValueError("negative Content-Length")
        return status, keep_alive, False, False, length, location
    return status, False, False, True, 0, location


class Connection(asyncio.Protocol):
    """One client connection; answers one request at a time.

    `to_self` says the peer is the emulator's own listener (set by the transport when it opens
    the connection), so that no request on it may reach the control plane.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.to_self = False
        self.idle_since = 0.0
        self.deadline = 0.0  # when the current exchange times out (monotonic), for the watchdog
        self._buffer = bytearray()
        self._received = 0  # bytes of the current answer so far
        self._waiter: asyncio.Future[Response] | None = None
        self._response: Response | None = None

    # -- protocol callbacks -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            self.close()  # bytes nobody asked for: this connection cannot be trusted again
            return
        self._received += len(data)
        self._buffer += data
        try:
            self._parse()
        except ValueError as exc:
            self._fail(exc)
            return
        if self._waiter is not None and self._received > MAX_ANSWER:
            self._cut()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = self._response
        if response is not None and response.until_close and response.status:
            self._finish()  # the body ran until the close: that was its end
        else:
            silent = self._received == 0
            self._fail(Disconnected(f"connection closed: {exc or 'by the receiver'}", silent))

    # -- one exchange ---------------------------------------------------------------------------
    async def exchange(self, request: bytes, deadline: float) -> Response:
        loop = asyncio.get_running_loop()
        self.deadline = deadline
        self._waiter = loop.create_future()
        self._response = Response()
        self._buffer.clear()
        self._received = 0
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
                if len(buffer) > MAX_ANSWER:
                    raise ValueError(f"answer head larger than {MAX_ANSWER // 1024} KiB")
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
        else:
            response.body_left -= len(buffer)  # counted, not kept
            buffer.clear()

    def _parse_chunks(self, response: Response) -> None:
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

    def _cut(self) -> None:
        """More than MAX_ANSWER bytes: the status (if known) stands, the rest is not read."""
        response = self._response
        if response is None or not response.status:
            self._fail(ValueError(f"answer head larger than {MAX_ANSWER // 1024} KiB"))
            return
        response.keep_alive = False
        self._finish()
        self.close()

    def _finish(self) -> None:
        waiter, self._waiter = self._waiter, None
        self._buffer.clear()
        if waiter is not None and not waiter.done():
            assert self._response is not None
            waiter.set_result(self._response)

    def expire(self) -> None:
        """The receiver took longer than the time-out to answer."""
        self._fail(TimeoutError("no answer in time"))

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        self._buffer.clear()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()
