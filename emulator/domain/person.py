"""A person playing the callee: the moves the console's triggers make on a live call.

`PersonMoves` is part of `BroadcastService`: every move goes through the service's own
transitions (`_answer`, `_disconnect`, `_menu_ended`, and so `_set_state`), at the clock's
current instant; a move the call's state does not allow is a 409 naming the reason.
"""

from __future__ import annotations

from typing import Protocol

from emulator.domain.models import CallLeg, LegState, Play
from emulator.errors import Conflict
from emulator.sim.clock import VirtualClock

__all__ = ["REJECT_REASONS", "CalleeWaits", "NoWaits", "PersonMoves", "refusal"]

# how a person may end a ringing attempt (`reject`), and the disconnect reason each gives
REJECT_REASONS = {"busy": "busy", "no_answer": "no-answer", "machine": "AMD", "invalid": "invalid"}


class CalleeWaits(Protocol):
    """Told when an interactive call starts and stops waiting for a person (`"answer"` or
    `"press"`): the world holds its clock meanwhile (auto mode) and shows it on the stream."""

    def begin(self, leg: CallLeg, what: str) -> None: ...
    def end(self, leg: CallLeg) -> None: ...


class NoWaits:
    """Nobody is told (a service built without a world)."""

    def begin(self, leg: CallLeg, what: str) -> None:
        return None

    def end(self, leg: CallLeg) -> None:
        return None


def refusal(leg: CallLeg, action: str) -> str | None:
    """Why a person's `action` (answer, reject, press, hangup) is not possible now, or None."""
    state = leg.state
    if not leg.live:
        return f"call has ended ({leg.reason or 'disconnected'})"
    if action == "answer" and state is not LegState.RINGING:
        return f"call is {state.value}, not ringing"
    if action == "reject" and state is LegState.CONNECTED:
        return "call is connected: hang up instead"
    if action == "hangup" and state is not LegState.CONNECTED:
        return f"call is {state.value}, not answered: answer or reject it"
    if action == "press" and (leg.play is None or not leg.play.waiting_digits):
        return "no menu is waiting for digits"
    return None


def _refuse(leg: CallLeg, action: str) -> None:
    reason = refusal(leg, action)
    if reason is not None:
        raise Conflict(
            f"cannot {action}: {reason}",
            voice_id=leg.voice_id,
            app_instance=leg.broadcast.broadcast_id,
        )


class _Service(Protocol):
    """What the moves need of the service they are part of."""

    clock: VirtualClock

    def _answer(self, leg: CallLeg) -> None: ...
    def _disconnect(self, leg: CallLeg, reason: str) -> None: ...
    def _menu_ended(self, leg: CallLeg, play: Play, digits: str | None) -> None: ...


class PersonMoves:
    """A person's moves on a call, at the service clock's current instant."""

    def refusal(self, leg: CallLeg, action: str) -> str | None:
        return refusal(leg, action)

    def answer(self: _Service, leg: CallLeg) -> None:
        """A person answers the ringing call now."""
        _refuse(leg, "answer")
        self.clock.cancel(leg.progress)
        self._answer(leg)

    def reject(self: _Service, leg: CallLeg, kind: str) -> None:
        """The attempt ends now as `kind` (a key of REJECT_REASONS), retried as §5 says."""
        _refuse(leg, "reject")
        self._disconnect(leg, REJECT_REASONS[kind])

    def press(self: _Service, leg: CallLeg, digits: str) -> None:
        """The callee presses `digits` at the menu waiting for them."""
        _refuse(leg, "press")
        play = leg.play
        assert play is not None
        self.clock.cancel(play.timer)
        play.timer = None
        self._menu_ended(leg, play, digits)

    def callee_hangup(self: _Service, leg: CallLeg) -> None:
        """The callee hangs up the answered call now."""
        _refuse(leg, "hangup")
        self._disconnect(leg, "callee-hangup")
