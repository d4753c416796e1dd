"""The built-in client's webhook receiver: HTTP/1.1 served straight from an asyncio protocol.

A replay receives every webhook of its run (600,000 for the vendor page's 100,000-number
example), so the receiver costs what parsing a request costs and nothing more: the request line,
the headers and a `Content-Length` body, answered on the same keep-alive connection, one request at
a time per connection (as the emulator sends them). A handler answers at once, or returns an
awaitable when it has to call the API first (the webhook is answered when the reaction is done, so
virtual time waits for it). Anything that is not such a request gets a JSON error and, when the
connection cannot be trusted after it, is closed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from yarl import URL

from emulator.jsonwire import dump_bytes

__all__ = ["Answer", "Handler", "RequestHead", "WebhookReceiver", "answer_json"]

log = logging.getLogger("emulator.replay")

Answer = tuple[int, bytes]  # status, JSON body
# (a request's head, its body) -> the answer, or an awaitable of it
Handler = Callable[["RequestHead", bytes], "Answer | Awaitable[Answer]"]

MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024
_MAX_HEADS = 4096  # distinct heads remembered (a run sends a few: one per URL and body length)
_REASONS = {200: "OK", 400: "Bad Request", 405: "Method Not Allowed", 413: "Payload Too Large"}
_REASONS |= {500: "Internal Server Error", 501: "Not Implemented"}


def answer_json(status: int, data: Any) -> Answer:
    return status, dump_bytes(data)


@functools.lru_cache(maxsize=256)  # the same few answers, 600,000 times in a large replay
def _response(status: int, body: bytes, close: bool) -> bytes:
    reason = _REASONS.get(status, "Unknown")
    connection = "Connection: close\r\n" if close else ""  # keep-alive: HTTP/1.1's default
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n{connection}\r\n"
    )
    return head.encode("latin-1") + body


def _path(target: str) -> str:
    """The decoded path of a request target, exactly as aiohttp's `request.path` reads it."""
    path = target.partition("?")[0].partition("#")[0]
    return URL.build(path=path, encoded=True).path if "%" in path else path


class RequestHead:
    """A request head as the handler sees it: method, decoded path, headers by lower-case name
    (read-only: one head is shared by every request that sent the same bytes), framing."""

    __slots__ = ("close", "headers", "length", "method", "path")

    def __init__(self, raw: bytes) -> None:
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise ValueError("malformed request line")
        self.method, self.path = parts[0], _path(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise ValueError("malformed header line")
            headers[name.lower()] = value.strip()
        self.headers = headers
        connection = headers.get("connection", "").lower()
        old = parts[2] == "HTTP/1.0"
        self.close = "close" in connection or (old and "keep-alive" not in connection)
        if "transfer-encoding" in headers:
            raise NotImplementedError("chunked bodies are not supported: send Content-Length")
        length = headers.get("content-length", "0")
        if not length.isdigit():
            raise ValueError("malformed Content-Length")
        self.length = int(length)


class _Connection(asyncio.Protocol):
    """One connection from the emulator: requests answered in order, one at a time."""

    def __init__(self, receiver: WebhookReceiver) -> None:
        self.receiver = receiver
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.pending: RequestHead | None = None  # head read, body still arriving
        self.busy = False  # a handler is working on this connection's request

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.receiver.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.receiver.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        if not self.buffer and not self.busy and self.pending is None and self._whole(data):
            return
        self.buffer += data
        if not self.busy:
            self._serve()

    def _whole(self, data: bytes) -> bool:
        """The usual case, taken without copying into the buffer: `data` is one whole request."""
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = self._parse(data[:end])
        if head is None:
            return True  # refused, and the connection closed
        if len(data) != end + 4 + head.length:
            self.pending = head
            self.buffer += data[end + 4 :]
            self._serve()
            return True
        self._dispatch(head, data[end + 4 :])
        return True

    def _serve(self) -> None:
        """Answer every complete request in the buffer, until a handler has to wait."""
        while not self.busy and self.transport is not None:
            head = self.pending or self._head()
            if head is None:
                return
            if len(self.buffer) < head.length:
                self.pending = head
                return
            self.pending = None
            body = bytes(self.buffer[: head.length])
            del self.buffer[: head.length]
            self._dispatch(head, body)

    def _head(self) -> RequestHead | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD:
                self._refuse(400, "request head too large")
            return None
        raw = bytes(self.buffer[:end])
        del self.buffer[: end + 4]
        return self._parse(raw)

    def _parse(self, raw: bytes) -> RequestHead | None:
        """The head of `raw`, parsed once per distinct bytes (the emulator sends a few kinds);
        None, after answering and closing, for a head the connection cannot go on after."""
        heads = self.receiver.heads
        head = heads.get(raw)
        if head is not None:
            return head
        try:
            head = RequestHead(raw)
        except NotImplementedError as exc:
            self._refuse(501, str(exc))
            return None
        except ValueError as exc:
            self._refuse(400, str(exc))
            return None
        if head.length > MAX_BODY:
            self._refuse(413, f"body larger than {MAX_BODY} bytes")
            return None
        if len(heads) >= _MAX_HEADS:
            heads.clear()
        heads[raw] = head
        return head

    def _refuse(self, status: int, message: str) -> None:
        """A request the connection cannot continue after: answer, then close."""
        self._write(*answer_json(status, {"error": message}), close=True)

    def _dispatch(self, head: RequestHead, body: bytes) -> None:
        if head.method != "POST":
            self._write(*answer_json(405, {"error": "webhooks are POST requests"}), head.close)
            return
        try:
            answer = self.receiver.handler(head, body)
        except Exception:
            log.exception("replay: the webhook handler failed on %s", head.path)
            answer = answer_json(500, {"error": "the replay's client failed on this webhook"})
        if isinstance(answer, tuple):
            self._write(*answer, head.close)
            return
        self.busy = True
        self.receiver.track(asyncio.ensure_future(self._finish(answer, head)))

    async def _finish(self, answer: Awaitable[Answer], head: RequestHead) -> None:
        try:
            status, body = await answer
        except Exception:
            log.exception("replay: the webhook handler failed on %s", head.path)
            status, body = answer_json(500, {"error": "the replay's client failed on this webhook"})
        self.busy = False
        self._write(status, body, head.close)
        self._serve()

    def _write(self, status: int, body: bytes, close: bool) -> None:
        if self.transport is None:
            return
        self.transport.write(_response(status, body, close))
        if close:
            self.transport.close()
            self.transport = None
            self.buffer.clear()


class WebhookReceiver:
    """Serves `handler` on 127.0.0.1 (port 0: a free one); `url` says where once started."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.url = ""
        self.connections: set[_Connection] = set()
        self.heads: dict[bytes, RequestHead] = {}  # parsed heads by their bytes
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Future[None]] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> WebhookReceiver:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self.connection, host, port, backlog=1024)
        self.url = f"http://{host}:{self._server.sockets[0].getsockname()[1]}"
        return self

    def connection(self) -> asyncio.Protocol:
        """A new connection's protocol (the listening socket's factory; a pipe's, in process)."""
        return _Connection(self)

    def track(self, task: asyncio.Future[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop listening, close every connection and end the handlers still running."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
