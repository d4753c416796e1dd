"""The record of one world: what happens there is published once, to whoever listens.

Publishing points (the journal, the event builders, the dispatcher, the clock, the interactive
callee) call `Bus` methods only after checking `bus.listening`, so that nothing is built when
nobody listens. Listeners are *taps* (synchronous callbacks: the serve log) and the *ring* (a
bounded buffer the event-stream readers follow at their own pace, see `emulator.observe.stream`).
A slow reader never slows publishing: it loses what the ring has overwritten and is told so.
`progress` and `clock` messages are sampled: at most one per key per `sample_s` of real time,
the last change always sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from emulator.domain.models import Broadcast, CallLeg
from emulator.jsonwire import dump_bytes
from emulator.sim.clock import VirtualClock
from emulator.webhooks.delivery import Delivery, redact_url

__all__ = [
    "MESSAGE_TYPES",
    "Bus",
    "Message",
    "Ring",
    "StreamLimits",
    "Tap",
    "path_ids",
    "wall_iso",
]

MESSAGE_TYPES = ("request", "call", "webhook", "broadcast", "clock", "waiting")


@dataclass(slots=True)
class StreamLimits:
    """Bounds of the stream (per world; tests shrink them)."""

    ring_size: int = 4096  # messages kept for readers; a reader further behind loses the rest
    batch: int = 256  # messages written to a reader at once
    batch_s: float = 0.02  # readers are woken at most this often (real seconds)
    heartbeat_s: float = 15.0  # `: keep-alive` after this long with nothing else
    write_timeout_s: float = 30.0  # a reader whose socket accepts nothing this long is dropped
    behind: int = 5  # a reader that loses messages this many batches in a row is dropped
    max_clients: int = 1000  # readers at once (more get 503)
    send_buffer: int = 256 * 1024  # kernel send buffer of a stream connection (bytes)
    sample_s: float = 0.25  # at most one progress (per broadcast) or clock message this often


def wall_iso(seconds: float | None = None) -> str:
    """Wall time (now, or `seconds` since the epoch) as ISO-8601 UTC with milliseconds."""
    moment = datetime.fromtimestamp(time.time() if seconds is None else seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Message:
    """One published fact: `data` is the JSON object the stream sends (its frame made once).

    `data` may be built only when first read (`build`), so a listener that only counts (the
    serve log's delivered webhooks) costs no dict; `note` is a word about it that needs none
    (a webhook's delivery state)."""

    __slots__ = ("_build", "_data", "_frame", "broadcast_id", "note", "seq", "type", "voice_id")

    def __init__(
        self,
        seq: int,
        kind: str,
        data: dict[str, Any] | None = None,
        build: Callable[[], dict[str, Any]] | None = None,
        ids: tuple[str | None, str | None] | None = None,
        note: str = "",
    ) -> None:
        self.seq = seq
        self.type = kind
        self._data = data
        self._build = build
        if ids is None:
            ids = (data.get("broadcast_id"), data.get("voice_id")) if data else (None, None)
        self.broadcast_id, self.voice_id = ids
        self.note = note
        self._frame: bytes | None = None

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            assert self._build is not None
            self._data, self._build = self._build(), None
        return self._data

    @property
    def frame(self) -> bytes:
        """The Server-Sent Events frame of this message."""
        if self._frame is None:
            head = f"id: {self.seq}\nevent: {self.type}\ndata: ".encode()
            self._frame = head + dump_bytes(self.data) + b"\n\n"
        return self._frame


Tap = Callable[[Message], None]


class Ring:
    """The last `size` messages, by seq, and a wake-up for the readers following it."""

    def __init__(self, size: int, last_seq: int, batch_s: float) -> None:
        self.size = max(16, size)
        self.buf: list[Message | None] = [None] * self.size
        self.first = last_seq + 1  # nothing before this was ever in the ring
        self.last = last_seq
        self.readers: set[Any] = set()
        self.event = asyncio.Event()
        self._batch_s = batch_s
        self._wake: asyncio.TimerHandle | None = None

    def put(self, message: Message) -> None:
        self.buf[message.seq % self.size] = message
        self.last = message.seq
        if self._wake is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._wake = loop.call_later(self._batch_s, self.wake)

    def wake(self) -> None:
        """Wake every reader now (they read what is new, then wait again)."""
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        event, self.event = self.event, asyncio.Event()
        event.set()

    @property
    def oldest(self) -> int:
        return max(self.first, self.last - self.size + 1)

    def read(self, cursor: int, limit: int) -> tuple[int, list[Message], int]:
        """After seq `cursor`: (messages lost, up to `limit` messages, the new cursor)."""
        start = max(cursor + 1, self.oldest)
        lost = start - (cursor + 1)
        end = min(self.last, start + limit - 1)
        buf, size = self.buf, self.size
        out = [m for s in range(start, end + 1) if (m := buf[s % size]) is not None]
        return lost, out, max(cursor, end)

    def close(self) -> None:
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None


class _Sampler:
    """At most one emission per key per `interval_s` of real time; the last touch always emits."""

    def __init__(self, interval_s: float, emit: Callable[[Hashable], None]) -> None:
        self.interval_s = interval_s
        self.emit = emit
        self.last: dict[Hashable, float] = {}
        self.pending: dict[Hashable, None] = {}
        self._handle: asyncio.TimerHandle | None = None

    def touch(self, key: Hashable) -> None:
        if key in self.pending:
            return
        now = time.monotonic()
        last = self.last.get(key)
        if last is None or now - last >= self.interval_s:
            self.last[key] = now
            self.emit(key)
            return
        self.pending[key] = None
        if self._handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._handle = loop.call_later(self.interval_s - (now - last), self.flush)

    def flush(self) -> None:
        self._handle = None
        pending, self.pending = self.pending, {}
        now = time.monotonic()
        for key in pending:
            self.last[key] = now
            self.emit(key)

    def forget(self, key: Hashable) -> None:
        self.last.pop(key, None)
        self.pending.pop(key, None)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.pending.clear()
        self.last.clear()


def path_ids(path: str) -> tuple[str | None, str | None]:
    """(broadcast id, voice_id) named in a request path, if any."""
    parts = path.split("/")
    broadcast = voice = None
    for i, part in enumerate(parts[:-1]):
        if part == "broadcast":
            broadcast = parts[i + 1] or None
        elif part in ("call", "calls"):
            voice = parts[i + 1] or None
    return broadcast, voice


class Bus:
    """One world's record. Check `listening` before calling any publishing method."""

    def __init__(self, clock: VirtualClock, project: str, default: bool = True) -> None:
        self.clock = clock
        self.project = project
        self.default = default  # the server's default project (the serve log leaves it unnamed)
        self.listening = False
        self.wants: frozenset[str] = frozenset()  # the message types someone listens to
        self.taps: list[tuple[Tap, frozenset[str]]] = []
        self.ring: Ring | None = None
        self.seq = 0
        self.limits = StreamLimits()
        self.max_attempts = 5  # the delivery policy's attempts (a webhook's "n of m")
        self.leg_of: Callable[[str], CallLeg | None] = lambda voice_id: None
        self.waiting_in: Callable[[Broadcast], int] = lambda broadcast: 0
        self._broadcasts: dict[str, Broadcast] = {}  # broadcasts with a progress message due
        self._progress = _Sampler(self.limits.sample_s, self._emit_progress)
        self._clock_from: int | None = None
        self._clock = _Sampler(self.limits.sample_s, self._emit_clock)

    # -- listeners ---------------------------------------------------------------------
    def tap(self, listener: Tap, types: frozenset[str] = frozenset(MESSAGE_TYPES)) -> None:
        """Call `listener` with every message of these types, as it is published."""
        self.taps.append((listener, types))
        self._recheck()

    def untap(self, listener: Tap) -> None:
        self.taps = [(tap, types) for tap, types in self.taps if tap is not listener]
        self._recheck()

    def open_ring(self) -> Ring:
        """The ring readers follow (made on the first reader, dropped after the last)."""
        if self.ring is None:
            limits = self.limits
            self.ring = Ring(limits.ring_size, self.seq, limits.batch_s)
            self._progress.interval_s = self._clock.interval_s = limits.sample_s
            self._recheck()
        return self.ring

    def release_ring(self) -> None:
        ring = self.ring
        if ring is not None and not ring.readers:
            ring.close()
            self.ring = None
            self._recheck()

    def _recheck(self) -> None:
        wants: set[str] = set(MESSAGE_TYPES) if self.ring is not None else set()
        for _, types in self.taps:
            wants |= types
        self.wants = frozenset(wants)
        self.listening = bool(wants)
        if not self.listening:
            self._progress.close()
            self._clock.close()
            self._broadcasts.clear()

    def close(self) -> None:
        """Drop every listener (the world is going away or was reset)."""
        if self.ring is not None:
            for reader in list(self.ring.readers):
                reader.close()
            self.ring.wake()

    # -- publishing ----------------------------------------------------------------------
    def _publish(self, kind: str, data: dict[str, Any]) -> None:
        self.seq += 1
        data["type"] = kind
        data["seq"] = self.seq
        data["project"] = self.project
        if "virtual_time" not in data:
            data["virtual_time"] = self.clock.now_iso()
        if "real_time" not in data:
            data["real_time"] = wall_iso()
        self._deliver(Message(self.seq, kind, data))

    def _publish_lazy(
        self,
        kind: str,
        build: Callable[[], dict[str, Any]],
        ids: tuple[str | None, str | None],
        note: str,
    ) -> None:
        """Publish a message whose data (which must carry its own times) is built when read."""
        self.seq += 1
        seq, project = self.seq, self.project

        def complete() -> dict[str, Any]:
            data = build()
            data.update(type=kind, seq=seq, project=project)
            return data

        self._deliver(Message(seq, kind, build=complete, ids=ids, note=note))

    def _deliver(self, message: Message) -> None:
        kind = message.type
        if self.ring is not None:
            self.ring.put(message)
        for tap, types in self.taps:
            if kind in types:
                tap(message)

    def hello(self) -> dict[str, Any]:
        clock = self.clock
        return {
            "type": "hello",
            "project": self.project,
            "clock": {"mode": clock.mode.value, "now": clock.now_iso(), "pending": clock.pending},
            "seq": self.seq,
            "virtual_time": clock.now_iso(),
            "real_time": wall_iso(),
        }

    def request(self, entry: Any, broadcast: Broadcast | None = None) -> None:
        """An API (or trigger) request answered; `entry` is its journal entry."""
        if "request" not in self.wants:
            return
        broadcast_id, voice_id = path_ids(entry.path)
        body = entry.body
        if voice_id is None and isinstance(body, dict) and isinstance(body.get("voice_id"), str):
            voice_id = body["voice_id"]
        data: dict[str, Any] = {
            "method": entry.method,
            "path": entry.path,
            "status": entry.status,
            "dialect": entry.dialect,
            "journal_id": entry.seq,
            "virtual_time": self.clock.iso(entry.virtual_ms),
        }
        leg = self.leg_of(voice_id) if voice_id is not None else None
        if leg is not None:
            _call_ids(data, leg)
        elif broadcast is not None:
            data["broadcast_id"] = broadcast.broadcast_id
        elif broadcast_id is not None:
            data["broadcast_id"] = broadcast_id
        if leg is None and voice_id is not None:
            data["voice_id"] = voice_id
        self._publish("request", data)

    def call(self, leg: CallLeg, payload: dict[str, Any]) -> None:
        """A per-call event as sent to the app."""
        if "broadcast" in self.wants:
            self.progress(leg.broadcast)
        if "call" not in self.wants:
            return
        event = payload.get("state") or payload.get("playstate")
        data: dict[str, Any] = {"event": event, "payload": payload}
        _call_ids(data, leg)
        self._publish("call", data)

    def waiting(self, leg: CallLeg, what: str | None) -> None:
        """An interactive call starts (`what`: answer, press) or stops (None) waiting."""
        if "waiting" not in self.wants:
            return
        data: dict[str, Any] = {"waiting_for": what, "state": leg.state.value}
        _call_ids(data, leg)
        self._publish("waiting", data)
        self.progress(leg.broadcast)

    def attempt(self, delivery: Delivery) -> None:
        """One delivery attempt was made (the dispatcher's hook; checks `listening` itself)."""
        if "webhook" not in self.wants or not delivery.attempts:
            return
        last = delivery.attempts[-1]
        ok = last.status is not None and 200 <= last.status < 300
        n = len(delivery.attempts)
        state = "delivered" if ok else "dead" if n >= self.max_attempts else "pending"
        payload = delivery.payload
        ids = (payload.get("broadcast_id"), payload.get("voice_id"))
        self._publish_lazy("webhook", partial(self._webhook_data, delivery, n, state), ids, state)

    def _webhook_data(self, delivery: Delivery, n: int, state: str) -> dict[str, Any]:
        last = delivery.attempts[n - 1]
        payload = delivery.payload
        data: dict[str, Any] = {
            "delivery_id": delivery.seq,
            "url": redact_url(delivery.url),
            "event": delivery.event,
            "attempt_no": n,
            "attempts_max": self.max_attempts,
            "status": last.status,
            "error": last.error,
            "latency_ms": round(last.latency_ms, 3),
            "delivery_state": state,
            "virtual_time": last.at,
            "real_time": wall_iso(last.real_at),
        }
        for key in ("broadcast_id", "voice_id", "attempt"):
            if payload.get(key) is not None:
                data[key] = payload[key]
        number = payload.get("dialed_number") or payload.get("to")
        if "voice_id" in payload and number is not None:
            data["number"] = number
        return data

    # -- broadcasts ----------------------------------------------------------------------
    def broadcast(self, broadcast: Broadcast, change: str) -> None:
        """A broadcast was created, completed or stopped."""
        if "broadcast" not in self.wants:
            return
        self._progress.forget(broadcast.broadcast_id)
        self._broadcasts.pop(broadcast.broadcast_id, None)
        self._publish("broadcast", self._broadcast_data(broadcast, change))

    def progress(self, broadcast: Broadcast) -> None:
        """A broadcast's counters changed (sampled)."""
        if broadcast.ended_ms is not None:
            return
        self._broadcasts[broadcast.broadcast_id] = broadcast
        self._progress.touch(broadcast.broadcast_id)

    def _emit_progress(self, key: Hashable) -> None:
        broadcast = self._broadcasts.pop(str(key), None)
        if broadcast is not None and broadcast.ended_ms is None:
            self._publish("broadcast", self._broadcast_data(broadcast, "progress"))

    def _broadcast_data(self, broadcast: Broadcast, change: str) -> dict[str, Any]:
        by_state = broadcast.by_state()
        by_state["waiting"] = self.waiting_in(broadcast)
        data = {
            "change": change,
            "broadcast_id": broadcast.broadcast_id,
            "name": broadcast.name,
            "state": broadcast.state.value,
            "progress": broadcast.progress(),
            "by_state": by_state,
            "by_result": broadcast.results(),
        }
        if change in ("completed", "stopped") and broadcast.ended_ms is not None:
            data["virtual_time"] = self.clock.iso(broadcast.ended_ms)
        return data

    # -- the clock -----------------------------------------------------------------------
    def clock_jumped(self, from_ms: int) -> None:
        """The clock jumped forward from `from_ms` (the clock's hook; sampled)."""
        if "clock" not in self.wants:
            return
        if self._clock_from is None:
            self._clock_from = from_ms
        self._clock.touch("clock")

    def _emit_clock(self, key: Hashable) -> None:
        start, self._clock_from = self._clock_from, None
        self._clock_message("jump", start)

    def reset(self) -> None:
        """The world was reset: forget what was due to be sampled; say time is back at the start
        (listeners stay)."""
        self._progress.close()
        self._clock.close()
        self._broadcasts.clear()
        self._clock_from = None
        if "clock" in self.wants:
            self._clock_message("reset", None)

    def _clock_message(self, change: str, from_ms: int | None) -> None:
        clock = self.clock
        data: dict[str, Any] = {
            "change": change,
            "mode": clock.mode.value,
            "now": clock.now_iso(),
            "pending": clock.pending,
        }
        if from_ms is not None:
            data["from"] = clock.iso(from_ms)
        self._publish("clock", data)


def _call_ids(data: dict[str, Any], leg: CallLeg) -> None:
    data["broadcast_id"] = leg.broadcast.broadcast_id
    data["voice_id"] = leg.voice_id
    data["number"] = leg.target.number
    data["attempt"] = leg.attempt
