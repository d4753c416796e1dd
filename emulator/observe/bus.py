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

import time
from collections.abc import Callable, Hashable
from typing import Any

from emulator.domain.models import Broadcast, CallLeg
from emulator.observe.ring import CALL, WEBHOOK, Message, Ring, Sampler, StreamLimits, Tap, wall_iso
from emulator.sim.clock import VirtualClock
from emulator.webhooks.delivery import Delivery, redact_url

__all__ = ["MESSAGE_TYPES", "Bus", "path_ids"]

MESSAGE_TYPES = ("request", "call", "webhook", "broadcast", "clock", "waiting")


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
        self._progress = Sampler(self.limits.sample_s, self._emit_progress)
        self._clock_from: int | None = None
        self._clock = Sampler(self.limits.sample_s, self._emit_clock)

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
            self.ring = Ring(
                limits.ring_size,
                self.seq,
                limits.batch_s,
                limits.resume_kept,
                limits.share,
                self._make,
            )
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

    def _deliver(self, message: Message) -> None:
        kind = message.type
        if self.ring is not None:
            self.ring.put(message)
        for tap, types in self.taps:
            if kind in types:
                tap(message)

    def _deliver_source(
        self, kind: int, source: Delivery, extra: Any, sampled_out: bool = False
    ) -> None:
        """A per-call message: made now for the taps that want it, else when a reader takes it;
        one the readers' sampling leaves out is made for the taps only (a hole in the ring)."""
        self.seq += 1
        ring = self.ring
        if sampled_out and ring is not None:
            ring.hole(self.seq)
            message = self._make(kind, self.seq, source, extra)
            for tap, types in self.taps:
                if message.type in types:
                    tap(message)
        elif not self.taps and ring is not None:
            ring.put_source(kind, self.seq, source, extra)
        else:
            self._deliver(self._make(kind, self.seq, source, extra))

    def _sampled_out(self, voice_id: Any) -> bool:
        """Whether every reader's sampling leaves this call's messages out (counted for them,
        see `Ring.put_sample`): published then for the taps alone, if any."""
        ring = self.ring
        if ring is None or ring.put_sample == 1 or voice_id is None:
            return False
        if hash(voice_id) % ring.put_sample:
            ring.skipped += 1
            return True
        return False

    def _make(self, kind: int, seq: int, source: Any, extra: Any) -> Message:
        if kind == CALL:
            return _CallMessage(self, seq, source, extra)
        return _WebhookMessage(self, seq, source, extra)

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

    def call(self, leg: CallLeg, delivery: Delivery) -> None:
        """A per-call event as sent to the app (its message built when read, from the delivery's
        payload: what that is built from never changes)."""
        if "broadcast" in self.wants:
            self.progress(leg.broadcast)
        if "call" in self.wants:
            out = self._sampled_out(leg.voice_id)
            if not out or self.taps:
                self._deliver_source(CALL, delivery, time.time(), out)

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
        if "webhook" in self.wants and delivery.attempts:
            out = self._sampled_out(delivery.voice_id)
            if not out or self.taps:
                self._deliver_source(WEBHOOK, delivery, len(delivery.attempts), out)

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


class _CallMessage(Message):
    """A per-call event, its data built when read from what it was published with."""

    __slots__ = ("attempt", "bus", "delivery", "number", "real_s")

    def __init__(self, bus: Bus, seq: int, delivery: Any, real_s: float) -> None:
        leg: CallLeg = delivery.leg  # a per-call event's delivery (`events.CallDelivery`)
        self.seq = seq
        self.type = "call"
        self._data = None
        self._frame = None
        self.note = ""
        self.broadcast_id = leg.broadcast.broadcast_id
        self.voice_id = leg.voice_id
        self.number = leg.target.number
        self.attempt = leg.attempt
        self.bus = bus
        self.delivery = delivery
        self.real_s = real_s

    def build(self) -> dict[str, Any]:
        payload = self.delivery.peek()
        return {
            "event": payload.get("state") or payload.get("playstate"),
            "payload": payload,
            "broadcast_id": self.broadcast_id,
            "voice_id": self.voice_id,
            "number": self.number,
            "attempt": self.attempt,
            "type": "call",
            "seq": self.seq,
            "project": self.bus.project,
            "virtual_time": self.bus.clock.iso(self.delivery.virtual_ms),
            "real_time": wall_iso(self.real_s),
        }


class _WebhookMessage(Message):
    """One delivery attempt (the delivery's latest when published), its data built when read."""

    __slots__ = ("attempt_no", "bus", "delivery")

    def __init__(self, bus: Bus, seq: int, delivery: Delivery, n: int) -> None:
        status = delivery.attempts[n - 1].status
        ok = status is not None and 200 <= status < 300
        self.seq = seq
        self.type = "webhook"
        self._data = None
        self._frame = None
        self.note = "delivered" if ok else "dead" if n >= bus.max_attempts else "pending"
        self.broadcast_id = delivery.broadcast_id
        self.voice_id = delivery.voice_id
        self.attempt_no = n
        self.bus = bus
        self.delivery = delivery

    def build(self) -> dict[str, Any]:
        delivery, n, bus = self.delivery, self.attempt_no, self.bus
        last = delivery.attempts[n - 1]
        data: dict[str, Any] = {
            "delivery_id": delivery.seq,
            "url": redact_url(delivery.url),
            "event": delivery.event,
            "attempt_no": n,
            "attempts_max": bus.max_attempts,
            "status": last.status,
            "error": last.error,
            "latency_ms": round(last.latency_ms, 3),
            "delivery_state": self.note,
            "virtual_time": last.at,
            "real_time": wall_iso(last.real_at),
        }
        broadcast_id, voice_id, attempt, number = delivery.about()
        if broadcast_id is not None:
            data["broadcast_id"] = broadcast_id
        if voice_id is not None:
            data["voice_id"] = voice_id
        if attempt is not None:
            data["attempt"] = attempt
        if number is not None:
            data["number"] = number
        data.update(type="webhook", seq=self.seq, project=bus.project)
        return data
