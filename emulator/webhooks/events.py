"""Webhook payload builders: one per event, with the superset keys every client family reads.

Each event is also published once on the world's bus (`emulator.observe.bus`), as sent, when
anyone listens: per-call events as `call` messages, broadcast changes as `broadcast` messages.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Protocol

from emulator.domain.models import Bridge, Broadcast, CallLeg, Play
from emulator.observe.bus import Bus
from emulator.sim.clock import VirtualClock
from emulator.webhooks.delivery import Delivery

__all__ = ["EventEmitter", "Transport", "completion_state"]

Payload = dict[str, Any]


class Transport(Protocol):
    """What carries an event to a URL (the dispatcher): in order per channel.

    When a delivery that names an `owner` is delivered or given up, the transport calls
    `EventEmitter.delivery_settled(owner)`.
    """

    def send(
        self, channel: str, url: str, payload: Payload, owner: Broadcast | None = None
    ) -> None: ...

    def post(self, delivery: Delivery) -> None:
        """Send a delivery made by the caller (`send` makes one from its arguments)."""


def completion_state(family_state: str | None) -> str:
    return family_state or "completed"


class EventEmitter:
    """Builds each event at the virtual instant it happens and hands it to the transport.

    Per-call events go to `call_handler_url` (or `event_url`); broadcast events to `event_url`.
    The completion event leaves only once every per-call event was delivered or given up.
    """

    def __init__(self, clock: VirtualClock, transport: Transport, bus: Bus | None = None) -> None:
        self.clock = clock
        self.transport = transport
        self.bus = bus or Bus(clock, "")
        self.completion_override: str | None = None
        # this world's kind of per-call delivery: it names the emitter that builds its payload
        # once for all its deliveries, not in a field of each (8 bytes a queued event)
        self._call_delivery = type(
            "CallDelivery", (CallDelivery,), {"__slots__": (), "emitter": self}
        )

    # -- broadcast level -------------------------------------------------------------------
    def _broadcast_base(self, broadcast: Broadcast, state: str) -> Payload:
        bid = broadcast.broadcast_id
        return {
            "app_instance": bid,
            "appInstance": bid,
            "broadcast_id": bid,
            "application_name": broadcast.name,
            "state": state,
            "timestamp": self.clock.now_iso(),
        }

    def broadcast_initiated(self, broadcast: Broadcast) -> None:
        payload = self._broadcast_base(broadcast, "initiated")
        payload["from"] = broadcast.command.from_number
        payload["total_calls"] = len(broadcast.command.recipients)
        self.transport.send("b:" + broadcast.broadcast_id, broadcast.command.event_url, payload)
        if self.bus.listening:
            self.bus.broadcast(broadcast, "created")

    def broadcast_finished(self, broadcast: Broadcast) -> None:
        if self.bus.listening:
            self.bus.broadcast(broadcast, broadcast.state.value)  # completed or stopped
        self._maybe_complete(broadcast)

    def _maybe_complete(self, broadcast: Broadcast) -> None:
        if broadcast.ended_ms is None or broadcast.outstanding or broadcast.completion_sent:
            return
        broadcast.completion_sent = True
        state = self.completion_override or completion_state(broadcast.command.completion_state)
        payload = self._broadcast_base(broadcast, state)
        # the broadcast ended at ended_ms; a slow or failing receiver may delay the event's
        # delivery, never its timestamp
        payload["timestamp"] = self.clock.iso(broadcast.ended_ms)
        counts = {
            "successfull_calls": broadcast.successful,
            "failed_calls": broadcast.failed,
            "total_calls": len(broadcast.targets),
        }
        payload["from"] = broadcast.command.from_number
        payload["resultset"] = counts
        payload["resultSet"] = dict(counts)
        payload["broadcast_call_info"] = dict(counts)
        payload["stopped"] = broadcast.state.value == "stopped"
        self.transport.send("b:" + broadcast.broadcast_id, broadcast.command.event_url, payload)

    # -- per call --------------------------------------------------------------------------
    def _send_call(
        self, leg: CallLeg, subject: Play | Bridge | None, name: str, extra: dict[str, Any] | None
    ) -> None:
        broadcast = leg.broadcast
        broadcast.outstanding += 1
        delivery = self._call_delivery(self.clock.now_ms)
        delivery.set_event(leg, subject, name, extra)
        self.transport.post(delivery)
        if self.bus.listening:
            self.bus.call(leg, delivery)

    def delivery_settled(self, broadcast: Broadcast) -> None:
        broadcast.outstanding -= 1
        self._maybe_complete(broadcast)

    def leg_state(self, leg: CallLeg, state: str, **extra: Any) -> None:
        self._send_call(leg, None, state, extra or None)

    def play_state(self, leg: CallLeg, play: Play, playstate: str, **extra: Any) -> None:
        self._send_call(leg, play, playstate, extra or None)

    def bridge_state(self, leg: CallLeg, bridge: Bridge, state: str, **extra: Any) -> None:
        self._send_call(leg, bridge, state, extra or None)

    def build(self, d: CallDelivery) -> Payload:
        """The payload of a per-call event, as it was at the virtual instant it happened (all
        it reads is fixed once the event exists)."""
        leg = d.leg
        broadcast = leg.broadcast
        bid = broadcast.broadcast_id
        payload: Payload = {
            "voice_id": leg.voice_id,
            "broadcast_id": bid,
            "app_instance": bid,
            "from": broadcast.command.from_number,
            "to": leg.target.number,
            "attempt": leg.attempt,
            "timestamp": self.clock.iso(d.virtual_ms),
        }
        own = leg.target.own
        custom = own.custom_data if own is not None else None  # v2: echoed per recipient
        if custom is None:
            custom = broadcast.command.custom_data  # v2.0: one for the whole broadcast
        if custom is not None:
            payload["custom_data"] = custom
        subject, extra = d.subject_and_extra()
        name = d.name
        if subject is None:
            payload["state"] = name
        elif isinstance(subject, Play):  # no `state` key: clients branch on it (fact sheet B.4)
            play = subject
            payload["play_id"] = play.play_id
            payload["playstate"] = name
            if play.spec.prompt_ref is not None:
                payload["prompt_ref"] = play.spec.prompt_ref
            payload.setdefault("description", name)
        else:
            bridge = subject
            payload["voice_Id"] = leg.voice_id
            payload["bridge_id"] = bridge.bridge_id
            payload["state"] = name
            payload["from"] = bridge.from_number
            payload["to"] = bridge.to
            payload["dialed_number"] = leg.target.number
        if extra:
            payload.update(extra)
        return payload


class CallDelivery(Delivery):
    """A per-call event that builds its payload when read (sent, logged, streamed), not when
    queued: at a campaign's busiest instant every number has events queued, and a payload dict
    with its timestamp string was ~340 bytes each. What it is built from never changes."""

    __slots__ = ("detail", "leg", "name")
    emitter: EventEmitter  # set on each world's subclass (`EventEmitter._call_delivery`)

    def __init__(self, virtual_ms: int) -> None:
        super().__init__(0, None, virtual_ms)

    def set_event(
        self,
        leg: CallLeg,
        subject: Play | Bridge | None,
        name: str,
        extra: dict[str, Any] | None,
    ) -> None:
        self.leg = leg
        self.name = name
        # one field for what the event is about (the Play or Bridge of a play or bridge event,
        # None for the leg's own) and its extra keys: both at once only for a few play events
        self.detail: Any = (
            extra if subject is None else subject if extra is None else (subject, extra)
        )

    def subject_and_extra(self) -> tuple[Play | Bridge | None, dict[str, Any] | None]:
        detail = self.detail
        if detail is None or isinstance(detail, dict):
            return None, detail
        if isinstance(detail, tuple):
            return detail[0], detail[1]
        return detail, None

    def _build(self) -> Payload:
        return self.emitter.build(self)

    def unload(self) -> None:
        super().unload()
        self._payload = None

    @property
    def channel(self) -> str:
        # one channel per number, not per attempt: a retry's events never overtake the last
        # events of the attempt before it
        return f"{self.leg.broadcast.broadcast_id}#{self.leg.target.index}"

    @property
    def channel_key(self) -> Hashable:
        return self.leg.target  # the number itself: no name string per event

    @property
    def url(self) -> str:
        return self.leg.broadcast.per_call_url

    @property
    def owner(self) -> Broadcast:
        return self.leg.broadcast

    @property
    def broadcast_id(self) -> Any:
        return self.leg.broadcast.broadcast_id

    @property
    def voice_id(self) -> Any:
        return self.leg.voice_id

    @property
    def event(self) -> str:
        return self.name

    def about(self) -> tuple[Any, Any, Any, Any]:
        leg = self.leg
        if isinstance(self.subject_and_extra()[0], Bridge):  # its `to` is the bridged number
            return super().about()
        return leg.broadcast.broadcast_id, leg.voice_id, leg.attempt, leg.target.number
