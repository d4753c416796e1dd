"""Event filters made executable: a scenario's `EventMatch` compiled into one predicate over a
webhook payload, for the reactions of the client and the `event_matches` of the recorder.

Values compare loosely where YAML and JSON disagree on spelling (`digit: 1` matches `"1"`, `3`
matches `3.0`), never across booleans; a field that is absent matches only `{exists: false}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from emulator.scenario.model import EventMatch, FieldTest
from emulator.testing.sink import event_name

__all__ = [
    "MISSING",
    "BroadcastInfo",
    "MatchIndex",
    "Matcher",
    "compile_match",
    "event_number",
    "read_key",
]

Payload = dict[str, Any]
MISSING: Any = object()


@dataclass(slots=True)
class BroadcastInfo:
    """A broadcast the script created: its name, order and the position of each number."""

    name: str
    order: int
    positions: dict[str, int] = field(default_factory=dict)  # number -> 1-based position


Matcher = Callable[[Payload, "BroadcastInfo | None"], bool]
_Getter = Callable[[Payload, "BroadcastInfo | None"], Any]


def event_number(payload: Payload) -> str | None:
    """The number a per-call event is about (a bridge event's `to` is the bridge target)."""
    number = payload.get("dialed_number") or payload.get("to")
    return str(number) if number is not None else None


def _walk(payload: Payload, path: tuple[str, ...]) -> Any:
    value: Any = payload
    for part in path:
        if isinstance(value, dict):
            value = value.get(part, MISSING)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


def _getter(key: str) -> _Getter:
    if key == "event":
        return lambda p, i: event_name(p) or MISSING
    if key == "number":
        return lambda p, i: event_number(p) or MISSING
    if key == "broadcast":
        return lambda p, i: i.name if i is not None else MISSING
    if key == "digit":
        return lambda p, i: p.get("digit", p.get("digits", MISSING))
    if "." in key:
        path = tuple(key.split("."))
        return lambda p, i: _walk(p, path)
    return lambda p, i: p.get(key, MISSING)


def read_key(key: str, payload: Payload, info: BroadcastInfo | None) -> Any:
    """The value `key` reads from an event (MISSING when absent), as `distinct` needs it."""
    return _getter(key)(payload, info)


def loose(value: Any) -> Any:
    """A hashable form under which YAML's and JSON's spellings of one value are equal."""
    if value.__class__ is str:
        return value
    if isinstance(value, bool) or value is None:
        return (value,)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    return ("json", json.dumps(value, sort_keys=True, default=str))


def _compile_test(test: FieldTest) -> Matcher:
    get = _getter(test.key)
    if test.op == "exists":
        wanted = test.exists
        return lambda p, i: (get(p, i) is not MISSING) is wanted
    if test.op == "regex":
        search = re.compile(test.pattern).search

        def regex(p: Payload, i: BroadcastInfo | None) -> bool:
            value = get(p, i)
            return value is not MISSING and search(str(value)) is not None

        return regex
    allowed = frozenset(loose(v) for v in test.values)
    if len(allowed) == 1:
        (only,) = allowed
        return lambda p, i: (v := get(p, i)) is not MISSING and loose(v) == only
    return lambda p, i: (v := get(p, i)) is not MISSING and loose(v) in allowed


def compile_match(match: EventMatch) -> Matcher:
    """One predicate: every test holds, and the number's position is a multiple of `every`."""
    tests = tuple(_compile_test(t) for t in match.tests)
    every = match.every

    def matches(payload: Payload, info: BroadcastInfo | None) -> bool:
        for test in tests:
            if not test(payload, info):
                return False
        if every is None:
            return True
        position = info.positions.get(event_number(payload) or "", 0) if info else 0
        return position != 0 and position % every == 0

    return matches


_T = TypeVar("_T")
_GATES = ("state", "playstate")  # the fields most filters test first: an event has one of them
_MAX_KINDS = 1024  # distinct (state, playstate) pairs remembered


def _gate(match: EventMatch) -> tuple[str, frozenset[Any]] | None:
    """The values `state` or `playstate` must have for `match` to hold, if it says so."""
    for test in match.tests:
        if test.key in _GATES and test.op == "equals":
            return test.key, frozenset(loose(v) for v in test.values)
    return None


class MatchIndex(Generic[_T]):
    """Filters, each with a value, sorted out by the `state` and `playstate` they need: for an
    event, `candidates` are the entries that may match it, in their given order (each still to
    be tried in full). Most events of a large run are ones no filter is about (`ringing`,
    `initiated`...): those try none."""

    def __init__(self, entries: Sequence[tuple[EventMatch, _T]]) -> None:
        self.entries = tuple((compile_match(m), value, _gate(m)) for m, value in entries)
        self._kinds: dict[tuple[Any, Any], tuple[tuple[Matcher, _T], ...]] = {}

    def candidates(self, payload: Payload) -> tuple[tuple[Matcher, _T], ...]:
        kind = (_loose_field(payload, "state"), _loose_field(payload, "playstate"))
        found = self._kinds.get(kind)
        if found is None:
            if len(self._kinds) >= _MAX_KINDS:
                self._kinds.clear()
            found = self._kinds[kind] = tuple(
                (matches, value)
                for matches, value, gate in self.entries
                if gate is None or kind[_GATES.index(gate[0])] in gate[1]
            )
        return found


def _loose_field(payload: Payload, key: str) -> Any:
    value = payload.get(key, MISSING)
    return MISSING if value is MISSING else loose(value)
