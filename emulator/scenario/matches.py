"""The `on` / `match` filter of reactions and `event_matches`: which webhook events it is about.

`connected` alone is an event name (`state` or `playstate`). A mapping tests payload fields by
name or dotted path (`resultSet.successfull_calls`) and the derived keys `event`, `number`,
`broadcast`, `digit` and `every`; each key takes a value, a list of allowed values,
`{regex: "..."}` or `{exists: true|false}`. Event names and field names are checked against what
the emulator sends (`emulator.scenario.names`), so a misspelt one is an error, not a filter that
never matches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from emulator.api.dialects import normalise_number
from emulator.scenario.model import EventMatch, FieldTest
from emulator.scenario.names import EventNames
from emulator.scenario.ranges import is_range, range_numbers
from emulator.scenario.schema import Node

__all__ = ["DERIVED_KEYS", "check_event_name", "parse_event_match"]

DERIVED_KEYS = ("event", "number", "broadcast", "digit", "every")
# the keys of the first format, in the order check names have always listed them
_ORDER = ("event", "state", "playstate", "prompt_ref", "digit", "every", "number", "broadcast")
_OPERATORS = ("regex", "exists")


def check_event_name(node: Node, name: str, names: tuple[str, ...], what: str = "event") -> bool:
    """Record an error on `node` unless `name` is one of `names`."""
    if name in names:
        return True
    node.error(f"unknown {what} {_quoted(name)}; known: {', '.join(names)}")
    return False


def _quoted(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def parse_event_match(node: Node, names: EventNames) -> EventMatch:
    """`connected` (an event name) or a mapping of keys to values, lists, regex or exists."""
    if isinstance(node.value, str):
        check_event_name(node, node.value, names.events)
        return EventMatch((FieldTest("event", "equals", (node.value,)),))
    if not node.mapping():
        return EventMatch()
    tests: list[FieldTest] = []
    every: int | None = None
    for key, child in node.items():
        if key == "every":
            every = child.integer(1, minimum=1)
            continue
        test = _field_test(key, child, names)
        if test is not None:
            tests.append(test)
    tests.sort(key=lambda t: _ORDER.index(t.key) if t.key in _ORDER else len(_ORDER))
    return EventMatch(tuple(tests), every)


def _field_test(key: str, node: Node, names: EventNames) -> FieldTest | None:
    if key not in DERIVED_KEYS:
        problem = names.field_problem(tuple(key.split(".")))
        if problem is not None:
            node.error(problem)
            return None
    value = node.value
    if isinstance(value, Mapping):
        return _operator(key, node)
    items = list(node.elements()) if isinstance(value, list) else [node]
    if isinstance(value, list) and not items:
        node.error("an empty list matches nothing; give at least one value")
        return None
    values: list[Any] = []
    for item in items:
        values.extend(_values(key, item, names))
    return FieldTest(key, "equals", tuple(dict.fromkeys(values)))


def _operator(key: str, node: Node) -> FieldTest | None:
    if not node.mapping(_OPERATORS) or len(node.value) != 1:
        if isinstance(node.value, Mapping) and len(node.value) != 1:
            node.error("give one of {regex: ...} or {exists: true|false}")
        return None
    op, child = next(node.items())
    if op == "exists":
        return FieldTest(key, "exists", exists=child.boolean(True))
    pattern = child.text()
    try:
        re.compile(pattern)
    except re.error as exc:
        child.error(f"not a regular expression: {exc}")
        return None
    return FieldTest(key, "regex", pattern=pattern)


def _values(key: str, node: Node, names: EventNames) -> list[Any]:
    """The allowed values one scalar stands for (a number range stands for all its numbers)."""
    value = node.value
    if isinstance(value, (list, Mapping)):
        node.error("a list of allowed values holds plain values only")
        return []
    if key == "number":
        return _numbers(node)
    if key in ("event", "state", "playstate"):
        known = {"event": names.events, "state": names.states, "playstate": names.playstates}[key]
        what = "playstate" if key == "playstate" else "event" if key == "event" else "state"
        return [value] if check_event_name(node, str(value), known, what) else []
    if key in ("attempt", "every") and (isinstance(value, bool) or not isinstance(value, int)):
        node.error(f"{key} is a whole number, not {_quoted(value)}")
        return []
    return [value]


def _numbers(node: Node) -> list[str]:
    if is_range(node.value):
        return list(range_numbers(node))
    number = normalise_number(node.value)
    if number is None:
        node.error(f"{node.value!r} is not a phone number")
        return []
    return [number]
