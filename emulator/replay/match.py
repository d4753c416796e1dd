"""Event filters made executable: a scenario's `EventMatch` compiled into one predicate over a
webhook payload, for the reactions of the client and the `event_matches` of the recorder.

Values compare loosely where YAML and JSON disagree on spelling (`digit: 1` matches `"1"`, `3`
matches `3.0`), never across booleans; a field that is absent matches only `{exists: false}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator.scenario.model import EventMatch, FieldTest
from emulator.testing.sink import event_name

__all__ = ["MISSING", "BroadcastInfo", "Matcher", "compile_match", "event_number", "read_key"]

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
