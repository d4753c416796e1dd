"""`GET /_emulator/stream`: Server-Sent Events of one world, each reader at its own pace.

Every reader follows the world's ring (`emulator.observe.ring.Ring`) with its own cursor, so one
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
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from emulator.errors import BadRequest, ServiceUnavailable
from emulator.jsonwire import dump_bytes
from emulator.observe.bus import MESSAGE_TYPES, Bus
from emulator.observe.ring import PER_CALL, Keep, Ring, StreamLimits, wall_iso

__all__ = ["Reader", "StreamFilter", "serve_stream"]

log = logging.getLogger("emulator.stream")
_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # proxies must not buffer the stream
}
_KEEPALIVE = b": keep-alive\n\n"
_RETRY = b"retry: 2000\n\n"  # EventSource: reconnect after 2 s


_ALL = frozenset(MESSAGE_TYPES)


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

    @property
    def everything(self) -> bool:
        return self.types == _ALL and self.broadcast_id is None and self.voice_id is None

    def keeps(self, kind: str, broadcast_id: Any, voice_id: Any) -> bool:
        """Whether this reader wants a message of type `kind` about these ids."""
        if kind not in self.types:
            return False
        if kind == "clock":
            return True
        if self.broadcast_id is not None and broadcast_id != self.broadcast_id:
            return False
        return self.voice_id is None or voice_id == self.voice_id


class Reader:
    """One stream client: where it is in the ring and what it wants."""

    __slots__ = ("closed", "cursor", "filter", "skipped")

    def __init__(self, want: StreamFilter, cursor: int, notice_s: float = 1.0) -> None:
        self.filter = want
        self.cursor = cursor
        self.closed = False
        self.skipped = _Skipped(notice_s)  # what sampling left out, not yet told

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
    reader = Reader(want, _start_cursor(ring, last_id), limits.busy_notice_s)
    reader.skipped.seen = ring.skipped
    ring.join(reader, want.everything)
    response = web.StreamResponse(headers=_HEADERS)
    try:
        await response.prepare(request)
        _cap_send_buffer(request, limits.send_buffer)
        await _pump(request, response, bus, ring, reader)
    except (ConnectionError, TimeoutError):
        _abort(request)
    finally:
        ring.leave(reader, want.everything)
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
    skipped = reader.skipped
    budget = ring.budget
    while not reader.closed:
        if reader.cursor >= ring.last:
            skipped.take(ring)
            if skipped.count and (skipped.due() or budget.sample == 1):  # or sampling is over
                await _write(response, skipped.notice(bus, reader.cursor, budget.sample), limits)
            try:  # what is left out is told within `every_s`, even if nothing else happens
                wait_s = skipped.every_s if skipped.count else limits.heartbeat_s
                await asyncio.wait_for(ring.event.wait(), wait_s)
            except TimeoutError:
                if not skipped.count:
                    await _write(response, _KEEPALIVE, limits)
            continue
        started = time.perf_counter()
        lost, messages, reader.cursor = ring.read(reader.cursor, limits.batch, _keep(reader, ring))
        skipped.take(ring)
        ring.release()
        if len(ring.readers) > 1:  # made once for all of them
            chunk = [m.frame for m in messages]
        else:
            chunk = [m.render() for m in messages]
        if lost:
            behind += 1
            if behind >= limits.behind:
                log.info("stream client %s dropped: it keeps falling behind", request.remote)
                _abort(request)
                return
            chunk.insert(0, _dropped(bus, reader.cursor, lost, "behind"))
        if skipped.due():
            chunk.insert(0, skipped.notice(bus, reader.cursor, budget.sample))
        if chunk:
            data = b"".join(chunk)
            _charge(ring, time.perf_counter() - started)  # not the wait for a slow client
            await _write(response, data, limits)
        else:
            _charge(ring, time.perf_counter() - started)
        if reader.cursor >= ring.last:
            behind = 0  # caught up with the newest message
        else:
            await asyncio.sleep(0)  # a burst is framed a batch at a time, the world runs between


def _charge(ring: Ring, spent_s: float) -> None:
    """Charge the ring's budget; while every reader takes everything, what sampling leaves out
    is not even kept."""
    budget = ring.budget
    budget.charge(spent_s)
    ring.put_sample = 1 if ring.partial else budget.sample


def _keep(reader: Reader, ring: Ring) -> Keep | None:
    """What `reader` takes of the ring now: everything (None), or what its filter wants of the
    calls the budget samples (counting what sampling left out)."""
    want = reader.filter
    sample = ring.budget.sample
    if sample == 1 or want.voice_id is not None:  # one call's few messages: never sampled
        return None if want.everything else want.keeps
    skipped = reader.skipped
    wants = None if want.everything else want.keeps

    def keep(kind: str, broadcast_id: Any, voice_id: Any) -> bool:
        if wants is not None and not wants(kind, broadcast_id, voice_id):
            return False
        if voice_id is None or kind not in PER_CALL or hash(voice_id) % sample == 0:
            return True
        skipped.count += 1
        return False

    return keep


class _Skipped:
    """Messages a sampled stream left out for one reader, told at most once a second."""

    def __init__(self, every_s: float = 1.0) -> None:
        self.count = 0
        self.seen = 0  # the ring's `skipped` when last looked at
        self.every_s = every_s
        self.told = time.monotonic()

    def take(self, ring: Ring) -> None:
        """Count what the bus left out for every reader since the last look."""
        self.count += ring.skipped - self.seen
        self.seen = ring.skipped

    def due(self) -> bool:
        return self.count > 0 and time.monotonic() - self.told >= self.every_s

    def notice(self, bus: Bus, cursor: int, sample: int) -> bytes:
        count, self.count, self.told = self.count, 0, time.monotonic()
        return _dropped(bus, cursor, count, "busy", sample)


def _dropped(bus: Bus, cursor: int, count: int, reason: str, sample: int | None = None) -> bytes:
    data: dict[str, object] = {
        "type": "dropped",
        "count": count,
        "reason": reason,
        "seq": cursor,
        "project": bus.project,
        "virtual_time": bus.clock.now_iso(),
        "real_time": wall_iso(),
    }
    if sample is not None:
        data["sample"] = sample
    return _frame(cursor, "dropped", data)


def _frame(seq: int, kind: str, data: object) -> bytes:
    return f"id: {seq}\nevent: {kind}\ndata: ".encode() + dump_bytes(data) + b"\n\n"
