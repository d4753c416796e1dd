"""Bridging an answered call to another number (`PUT .../call/{voice_id}/connect`).

`BridgeMoves` is part of `BroadcastService`: the bridge rings its target on the service's clock,
then talks or fails as the callee behaviour's `BridgePlan` says; when it ends the call goes back
to waiting for the app (`_await_callee`).
"""

from __future__ import annotations

from typing import Protocol

from emulator.domain.behaviour import Behaviour
from emulator.domain.ids import IdFactory
from emulator.domain.models import Bridge, CallLeg
from emulator.errors import Conflict
from emulator.sim.clock import VirtualClock

__all__ = ["BridgeMoves"]


class _Events(Protocol):
    def bridge_state(self, leg: CallLeg, bridge: Bridge, state: str, **extra: object) -> None: ...


class _Service(Protocol):
    """What bridging needs of the service it is part of."""

    @property
    def clock(self) -> VirtualClock: ...
    @property
    def ids(self) -> IdFactory: ...
    @property
    def events(self) -> _Events: ...
    @property
    def behaviour(self) -> Behaviour: ...

    def _require_connected(self, leg: CallLeg, action: str) -> None: ...
    def _cancel_play(self, leg: CallLeg) -> None: ...
    def _await_callee(self, leg: CallLeg) -> None: ...
    def _bridged(self, leg: CallLeg, bridge: Bridge, talk_s: int) -> None: ...
    def _bridge_ended(self, leg: CallLeg, bridge: Bridge) -> None: ...
    def _bridge_failed(self, leg: CallLeg, bridge: Bridge, reason: str) -> None: ...


class BridgeMoves:
    """Bridges of a call, at the service clock's current instant."""

    def bridge(self: _Service, leg: CallLeg, from_number: str, to: str) -> Bridge:
        self._require_connected(leg, "connect")
        if leg.bridge is not None:
            raise Conflict("call is already bridged", voice_id=leg.voice_id)
        self._cancel_play(leg)
        self.clock.cancel(leg.progress)
        leg.progress = None
        leg.bridges += 1
        bridge = Bridge(self.ids.make("bridge", leg.voice_id, leg.bridges), from_number, to)
        leg.bridge = bridge
        self.events.bridge_state(leg, bridge, "bridging")
        plan = self.behaviour.bridge(to, bridge.bridge_id)
        if plan.answers:
            bridge.timer = self.clock.call_later(
                plan.ring_s * 1000, self._bridged, leg, bridge, plan.talk_s
            )
        else:
            bridge.timer = self.clock.call_later(
                plan.ring_s * 1000, self._bridge_failed, leg, bridge, plan.reason
            )
        return bridge

    def _bridged(self: _Service, leg: CallLeg, bridge: Bridge, talk_s: int) -> None:
        bridge.state = "bridged"
        self.events.bridge_state(leg, bridge, "bridged")
        bridge.timer = self.clock.call_later(talk_s * 1000, self._bridge_ended, leg, bridge)

    def _bridge_ended(self: _Service, leg: CallLeg, bridge: Bridge) -> None:
        bridge.state = "bridge_disconnected"
        bridge.timer = None
        leg.bridge = None
        self.events.bridge_state(leg, bridge, "bridge_disconnected", reason="target-hangup")
        self._await_callee(leg)

    def _bridge_failed(self: _Service, leg: CallLeg, bridge: Bridge, reason: str) -> None:
        bridge.state = "bridge_failed"
        bridge.timer = None
        leg.bridge = None
        self.events.bridge_state(leg, bridge, "bridge_failed", reason=reason, description=reason)
        self._await_callee(leg)
