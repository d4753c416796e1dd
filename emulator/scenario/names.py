"""The event names and payload fields the emulator really sends, in one place, so that a scenario
naming an event or a field that never occurs fails validation instead of passing by accident.

The names come from the domain (`LegState`), the bridge and play events of
`emulator.domain.service`, and the broadcast events of `emulator.webhooks.events` (`initiated`
and the completion states of the client families); `tests/test_scenario_names.py` checks that
they are exactly what those modules send.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from emulator.domain.models import LegState

__all__ = [
    "BRIDGE_STATES",
    "BROADCAST_FIELDS",
    "CALL_FIELDS",
    "COMPLETION_STATES",
    "COUNT_FIELDS",
    "LEG_STATES",
    "PLAY_STATES",
    "EventNames",
]

LEG_STATES: tuple[str, ...] = tuple(state.value for state in LegState)
BRIDGE_STATES = ("bridging", "bridged", "bridge_failed", "bridge_disconnected")
PLAY_STATES = ("initiated", "playfinished", "failederror", "menutimeout", "digitcollected")
# documented form, the 2020 family, the 2023 family and v2 (CONTRACT §5)
COMPLETION_STATES = ("completed", "broadcastcomplete", "broadcastcall_complete")

# payload keys: per-call events (leg, play and bridge) and broadcast events
CALL_FIELDS = (
    "voice_id", "voice_Id", "broadcast_id", "app_instance", "from", "to", "dialed_number",
    "attempt", "timestamp", "custom_data", "state", "reason", "disconnect_reason", "play_id",
    "playstate", "prompt_ref", "description", "digit", "digits", "bridge_id",
)  # fmt: skip
BROADCAST_FIELDS = (
    "app_instance", "appInstance", "broadcast_id", "application_name", "state", "timestamp",
    "from", "total_calls", "resultset", "resultSet", "broadcast_call_info", "stopped",
)  # fmt: skip
# the counts of the completion event, under resultset, resultSet and broadcast_call_info
COUNT_FIELDS = ("successfull_calls", "failed_calls", "total_calls")
_COUNTS_UNDER = ("resultset", "resultSet", "broadcast_call_info")


def _unique(*groups: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for group in groups for name in group))


@dataclass(frozen=True, slots=True)
class EventNames:
    """The names one scenario may use; `completion` adds a forced completion state
    (the `completion_state` setting)."""

    completion: tuple[str, ...] = ()

    @property
    def states(self) -> tuple[str, ...]:
        """Values of `state`: call legs, bridges, and broadcast events."""
        broadcast = ("initiated", *COMPLETION_STATES, *self.completion)
        return _unique(LEG_STATES, BRIDGE_STATES, broadcast)

    @property
    def playstates(self) -> tuple[str, ...]:
        return PLAY_STATES

    @property
    def events(self) -> tuple[str, ...]:
        """Every event name (`state` or `playstate`)."""
        return _unique(self.states, PLAY_STATES)

    @property
    def per_call(self) -> tuple[str, ...]:
        """Names a number's own events carry (what `sequences` lists)."""
        return _unique(LEG_STATES, BRIDGE_STATES, PLAY_STATES)

    @property
    def fields(self) -> tuple[str, ...]:
        return _unique(CALL_FIELDS, BROADCAST_FIELDS)

    def field_problem(self, path: tuple[str, ...]) -> str | None:
        """Why a payload path (`resultSet.successfull_calls`) can never be present, or None."""
        head = path[0]
        if head not in self.fields:
            return f"unknown event field {head!r}; known: {', '.join(self.fields)}"
        if len(path) > 1 and head in _COUNTS_UNDER and path[1] not in COUNT_FIELDS:
            return f"unknown field {path[1]!r} of {head}; known: {', '.join(COUNT_FIELDS)}"
        if len(path) > 1 and head not in _COUNTS_UNDER and head != "custom_data":
            return f"{head} has no fields (only resultset, resultSet, broadcast_call_info do)"
        return None
