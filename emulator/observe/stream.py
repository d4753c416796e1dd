"""`GET /_emulator/stream`: Server-Sent Events of one world, each reader at its own pace.

Every reader follows the world's ring (`emulator.observe.bus.Ring`) with its own cursor, so one
message costs the same however many readers there are, and a reader costs a cursor and a filter.
A reader that falls behind by more than the ring holds is sent one `dropped` message and jumps to
the newest; one that keeps falling behind (`behind` batches in a row), or whose socket accepts
nothing for `write_timeout_s`, is disconnected. Nothing here ever takes an in-flight token, so a
reader never holds the clock. With nothing to send, a `: keep-alive` comment goes out every
`heartbeat_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from emulator.errors import BadRequest, ServiceUnavailable
from emulator.jsonwire import dump_bytes
from emulator.observe.bus import MESSAGE_TYPES, Bus, Message, Ring, StreamLimits, wall_iso

__all__ = ["Reader", "StreamFilter", "serve_stream"]

log = logging.getLogger("emulator.stream")
_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # proxies must not buffer the stream
}
_KEEPALIVE = b": keep-alive\n\n"
_RETRY = b"retry: 2000\n\n"  # EventSource: reconnect after 2 s


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """What one reader wants: message types, and optionally one broadcast or one call."""

    types: frozenset[str] = frozenset(MESSAGE_TYPES)
    broadcast_id: str | None = None
    voice_id: str | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> StreamFilter:
        raw = query.get("types", "")
        types = frozenset(t.strip() for t in raw.split(",") if t.strip()) or frozenset(
            MESSAGE_TYPES
        )
        unknown = sorted(types - set(MESSAGE_TYPES))
        if unknown:
            raise BadRequest(
                f"types: unknown message type {unknown[0]!r}; known: {', '.join(MESSAGE_TYPES)}"
            )
        return cls(types, query.get("broadcast_id") or None, query.get("voice_id") or None)

    def keeps(self, message: Message) -> bool:
        if message.type not in self.types:
            return False
        if message.type == "clock":
            return True
        if self.broadcast_id is not None and message.broadcast_id != self.broadcast_id:
            return False
        return self.voice_id is None or message.voice_id == self.voice_id


class Reader:
    """One stream client: where it is in the ring and what it wants."""

    __slots__ = ("closed", "cursor", "filter")

    def __init__(self, want: StreamFilter, cursor: int) -> None:
        self.filter = want
        self.cursor = cursor
        self.closed = False

    def close(self) -> None:
        self.closed = True


def _start_cursor(ring: Ring, last_event_id: str | None) -> int:
    """Resume after `Last-Event-ID` while the ring still holds what follows it."""
    try:
        wanted = int(last_event_id) if last_event_id else None
    except ValueError:
        wanted = None
    if wanted is not None and ring.oldest - 1 <= wanted <= ring.last:
        return wanted
    return ring.last


async def serve_stream(request: web.Request, bus: Bus) -> web.StreamResponse:
    """Stream `bus` to this request until the client goes, falls behind, or the server stops."""
    want = StreamFilter.parse(request.query)
    limits = bus.limits
    if bus.ring is not None and len(bus.ring.readers) >= limits.max_clients:
        raise ServiceUnavailable(
            f"too many stream clients for this project (at most {limits.max_clients})"
        )
    ring = bus.open_ring()
    last_id = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    reader = Reader(want, _start_cursor(ring, last_id))
    ring.readers.add(reader)
    response = web.StreamResponse(headers=_HEADERS)
    try:
        await response.prepare(request)
        _cap_send_buffer(request, limits.send_buffer)
        await _pump(request, response, bus, ring, reader)
    except (ConnectionError, TimeoutError):
        _abort(request)
    finally:
        ring.readers.discard(reader)
        bus.release_ring()
    return response


def _cap_send_buffer(request: web.Request, size: int) -> None:
    """Bound what the kernel buffers for a client that does not read."""
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None and size > 0:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


async def _write(response: web.StreamResponse, data: bytes, limits: StreamLimits) -> None:
    await asyncio.wait_for(response.write(data), limits.write_timeout_s)


async def _pump(
    request: web.Request, response: web.StreamResponse, bus: Bus, ring: Ring, reader: Reader
) -> None:
    limits = bus.limits
    hello = bus.hello()
    hello["seq"] = reader.cursor
    await _write(response, _RETRY + _frame(reader.cursor, "hello", hello), limits)
    behind = 0
    while not reader.closed:
        if reader.cursor >= ring.last:
            try:
                await asyncio.wait_for(ring.event.wait(), limits.heartbeat_s)
            except TimeoutError:
                await _write(response, _KEEPALIVE, limits)
            continue
        lost, messages, reader.cursor = ring.read(reader.cursor, limits.batch)
        chunk = [m.frame for m in messages if reader.filter.keeps(m)]
        if lost:
            behind += 1
            if behind >= limits.behind:
                log.info("stream client %s dropped: it keeps falling behind", request.remote)
                _abort(request)
                return
            chunk.insert(0, _dropped(bus, reader.cursor, lost))
        if chunk:
            await _write(response, b"".join(chunk), limits)
        if reader.cursor >= ring.last:
            behind = 0  # caught up with the newest message


def _dropped(bus: Bus, cursor: int, count: int) -> bytes:
    data = {
        "type": "dropped",
        "count": count,
        "seq": cursor,
        "project": bus.project,
        "virtual_time": bus.clock.now_iso(),
        "real_time": wall_iso(),
    }
    return _frame(cursor, "dropped", data)


def _frame(seq: int, kind: str, data: object) -> bytes:
    return f"id: {seq}\nevent: {kind}\ndata: ".encode() + dump_bytes(data) + b"\n\n"
