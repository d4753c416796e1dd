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

__all__ = ["Answer", "Handler", "WebhookReceiver", "WebhookRequest", "answer_json"]

log = logging.getLogger("emulator.replay")

Answer = tuple[int, bytes]  # status, JSON body
# a request -> its answer, or an awaitable of it
Handler = Callable[["WebhookRequest"], "Answer | Awaitable[Answer]"]

MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 405: "Method Not Allowed", 413: "Payload Too Large"}
_REASONS |= {500: "Internal Server Error", 501: "Not Implemented"}


def answer_json(status: int, data: Any) -> Answer:
    return status, dump_bytes(data)


@functools.lru_cache(maxsize=256)  # the same few answers, 600,000 times in a large replay
def _response(status: int, body: bytes, close: bool) -> bytes:
    reason = _REASONS.get(status, "Unknown")
    connection = "close" if close else "keep-alive"
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: {connection}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _path(target: str) -> str:
    """The decoded path of a request target, exactly as aiohttp's `request.path` reads it."""
    path = target.partition("?")[0].partition("#")[0]
    return URL.build(path=path, encoded=True).path if "%" in path else path


class WebhookRequest:
    """One request as the handler sees it: its decoded path, its headers by lower-case name,
    its body."""

    __slots__ = ("body", "close", "headers", "length", "method", "path")

    def __init__(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
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
        self.body = b""
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
        self.pending: WebhookRequest | None = None  # head read, body still arriving
        self.busy = False  # a handler is working on this connection's request

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.receiver.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.receiver.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._serve()

    def _serve(self) -> None:
        """Answer every complete request in the buffer, until a handler has to wait."""
        while not self.busy and self.transport is not None:
            request = self.pending or self._head()
            if request is None:
                return
            if len(self.buffer) < request.length:
                self.pending = request
                return
            self.pending = None
            request.body = bytes(self.buffer[: request.length])
            del self.buffer[: request.length]
            self._dispatch(request)

    def _head(self) -> WebhookRequest | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD:
                self._refuse(400, "request head too large")
            return None
        head = bytes(self.buffer[:end])
        del self.buffer[: end + 4]
        try:
            request = WebhookRequest(head)
        except NotImplementedError as exc:
            self._refuse(501, str(exc))
            return None
        except ValueError as exc:
            self._refuse(400, str(exc))
            return None
        if request.length > MAX_BODY:
            self._refuse(413, f"body larger than {MAX_BODY} bytes")
            return None
        return request

    def _refuse(self, status: int, message: str) -> None:
        """A request the connection cannot continue after: answer, then close."""
        self._write(*answer_json(status, {"error": message}), close=True)

    def _dispatch(self, request: WebhookRequest) -> None:
        if request.method != "POST":
            self._write(*answer_json(405, {"error": "webhooks are POST requests"}), request.close)
            return
        try:
            answer = self.receiver.handler(request)
        except Exception:
            log.exception("replay: the webhook handler failed on %s", request.path)
            answer = answer_json(500, {"error": "the replay's client failed on this webhook"})
        if isinstance(answer, tuple):
            self._write(*answer, request.close)
            return
        self.busy = True
        self.receiver.track(asyncio.ensure_future(self._finish(answer, request)))

    async def _finish(self, answer: Awaitable[Answer], request: WebhookRequest) -> None:
        try:
            status, body = await answer
        except Exception:
            log.exception("replay: the webhook handler failed on %s", request.path)
            status, body = answer_json(500, {"error": "the replay's client failed on this webhook"})
        self.busy = False
        self._write(status, body, request.close)
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
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Future[None]] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> WebhookReceiver:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port, backlog=1024)
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
