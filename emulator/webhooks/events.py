"""Webhook payload builders: one per event, with the superset keys every client family reads.

Each event is also published once on the world's bus (`emulator.observe.bus`), as sent, when
anyone listens: per-call events as `call` messages, broadcast changes as `broadcast` messages.
"""

from __future__ import annotations

from typing import Any, Protocol

from emulator.domain.models import Bridge, Broadcast, CallLeg, Play
from emulator.observe.bus import Bus
from emulator.sim.clock import VirtualClock

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
    def _call_base(self, leg: CallLeg) -> Payload:
        broadcast = leg.broadcast
        bid = broadcast.broadcast_id
        payload: Payload = {
            "voice_id": leg.voice_id,
            "broadcast_id": bid,
            "app_instance": bid,
            "from": broadcast.command.from_number,
            "to": leg.target.number,
            "attempt": leg.attempt,
            "timestamp": self.clock.now_iso(),
        }
        custom = leg.target.recipient.custom_data  # v2: echoed per recipient
        if custom is None:
            custom = broadcast.command.custom_data  # v2.0: one for the whole broadcast
        if custom is not None:
            payload["custom_data"] = custom
        return payload

    def _send_call(self, leg: CallLeg, payload: Payload) -> None:
        broadcast = leg.broadcast
        broadcast.outstanding += 1
        # one channel per number, not per attempt: a retry's events never overtake the last
        # events of the attempt before it
        channel = f"{broadcast.broadcast_id}#{leg.target.index}"
        self.transport.send(channel, broadcast.per_call_url, payload, broadcast)
        if self.bus.listening:
            self.bus.call(leg, payload)

    def delivery_settled(self, broadcast: Broadcast) -> None:
        broadcast.outstanding -= 1
        self._maybe_complete(broadcast)

    def leg_state(self, leg: CallLeg, state: str, **extra: Any) -> None:
        payload = self._call_base(leg)
        payload["state"] = state
        payload.update(extra)
        self._send_call(leg, payload)

    def play_state(self, leg: CallLeg, play: Play, playstate: str, **extra: Any) -> None:
        payload = self._call_base(leg)  # no `state` key: clients branch on it (fact sheet B.4)
        payload["play_id"] = play.play_id
        payload["playstate"] = playstate
        if play.spec.prompt_ref is not None:
            payload["prompt_ref"] = play.spec.prompt_ref
        payload.setdefault("description", playstate)
        payload.update(extra)
        self._send_call(leg, payload)

    def bridge_state(self, leg: CallLeg, bridge: Bridge, state: str, **extra: Any) -> None:
        payload = self._call_base(leg)
        payload["voice_Id"] = leg.voice_id
        payload["bridge_id"] = bridge.bridge_id
        payload["state"] = state
        payload["from"] = bridge.from_number
        payload["to"] = bridge.to
        payload["dialed_number"] = leg.target.number
        payload.update(extra)
        self._send_call(leg, payload)
