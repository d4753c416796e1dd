"""Parsing `expect`: what must hold at the end of a replay (checked by `emulator.replay.expect`).

Counts are a whole number or `{min, max}`; virtual times are seconds since the replay started,
exact or `{min, max}`. Every event name is checked against what the emulator sends.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from emulator.api.dialects import normalise_number
from emulator.scenario.matches import DERIVED_KEYS, check_event_name, parse_event_match
from emulator.scenario.model import (
    Count,
    Expectations,
    MatchExpectation,
    NumberExpectation,
    NumbersExpectation,
    Seconds,
    SequenceExpectation,
)
from emulator.scenario.names import EventNames
from emulator.scenario.ranges import is_range, range_numbers
from emulator.scenario.schema import Node

__all__ = ["EXPECT_KEYS", "RESULT_REASONS", "parse_expectations"]

RESULT_REASONS = ("success", "Busy", "NoAnswer", "AMD", "Invalid", "Stopped")
EXPECT_KEYS = (
    "completed", "completion", "broadcasts", "results", "numbers", "events", "event_matches",
    "sequences", "no_lost_webhooks", "max_virtual_s", "min_virtual_s", "virtual_s",
    "deterministic",
)  # fmt: skip
_MATCH_ENTRY_KEYS = ("match", "count", "at_s", "min_s", "max_s", "distinct")
_NUMBER_KEYS = ("result", "attempts", "ended_at_s")


def parse_expectations(node: Node | None, names: EventNames) -> Expectations:
    if node is None or not node.mapping(EXPECT_KEYS):
        return Expectations()
    get = node.get
    completed = get("completed")
    return Expectations(
        completed=_count(completed) if completed is not None else None,
        completion=_counts(get("completion"), ("successful", "failed", "total")),
        broadcasts=_per_broadcast(get("broadcasts")),
        results=_counts(get("results"), RESULT_REASONS),
        numbers=_per_number(get("numbers")),
        events=_events(get("events"), names),
        event_matches=_event_matches(get("event_matches"), names),
        sequences=_sequences(get("sequences"), names),
        no_lost_webhooks=_flag(get("no_lost_webhooks")),
        max_virtual_s=_seconds(get("max_virtual_s")),
        min_virtual_s=_seconds(get("min_virtual_s")),
        virtual_s=_seconds(get("virtual_s")),
        deterministic=_flag(get("deterministic")),
    )


def _flag(node: Node | None) -> bool:
    return node.boolean() if node is not None else False


def _seconds(node: Node | None) -> float | None:
    return None if node is None else node.number()


def _count(node: Node) -> Count:
    if isinstance(node.value, Mapping):
        if not node.mapping(("min", "max")):
            return Count()
        low, high = node.get("min"), node.get("max")
        count = Count(low.integer() if low else None, high.integer() if high else None)
        if low is None and high is None:
            node.error("give min, max or both")
        elif _inverted(count.minimum, count.maximum):
            node.error("min is above max: no count can hold")
        return count
    value = node.integer()
    return Count(value, value)


def _time(node: Node) -> Seconds:
    """`12` (exact), `{min: 10, max: 20}`, or null (never: no attempt ended)."""
    if node.value is None:
        return Seconds(none=True)
    if isinstance(node.value, Mapping):
        if not node.mapping(("min", "max")):
            return Seconds()
        low, high = node.get("min"), node.get("max")
        if low is None and high is None:
            node.error("give min, max or both")
        seconds = Seconds(low.number() if low else None, high.number() if high else None)
        if _inverted(seconds.low, seconds.high):
            node.error("min is above max: no time can hold")
        return seconds
    value = node.number()
    return Seconds(value, value)


def _inverted(low: float | None, high: float | None) -> bool:
    return low is not None and high is not None and low > high


def _counts(node: Node | None, keys: tuple[str, ...] | None) -> dict[str, Count]:
    if node is None or not node.mapping(keys):
        return {}
    return {key: _count(child) for key, child in node.items()}


def _events(node: Node | None, names: EventNames) -> dict[str, Count]:
    if node is None or not node.mapping():
        return {}
    out: dict[str, Count] = {}
    for key, child in node.items():
        if key not in names.events:
            child.error(f"unknown event; known: {', '.join(names.events)}")
        out[key] = _count(child)
    return out


def _per_broadcast(node: Node | None) -> dict[str, dict[str, Any]]:
    if node is None or not node.mapping():
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name, child in node.items():
        if not child.mapping(("state", "successful", "failed", "total")):
            continue
        entry: dict[str, Any] = {}
        for key, value in child.items():
            if key == "state":
                entry[key] = value.choice(("completed", "stopped"), "broadcast state")
            else:
                entry[key] = _count(value)
        out[name] = entry
    return out


def _number_keys(node: Node | None) -> Iterator[tuple[str, tuple[str, ...], Node]]:
    """(key as written, the numbers it stands for, its value) for each key of `node`; a key may
    be a range. A number named by two keys is an error (which one would hold?)."""
    if node is None or not node.mapping(numeric_keys=True):
        return
    seen: dict[str, str] = {}
    for raw, child in node.items():
        numbers = _key_numbers(raw, child)
        twice = next((n for n in numbers if n in seen), None)
        if twice is not None:
            child.error(f"{twice} is already expected under {seen[twice]!r}")
            continue
        seen.update(dict.fromkeys(numbers, raw))
        if numbers:
            yield raw, numbers, child


def _key_numbers(raw: str, child: Node) -> tuple[str, ...]:
    if is_range(raw):
        return range_numbers(Node(raw, child.path, child.tracker))
    number = normalise_number(raw)
    if number is None:
        child.error(f"{raw!r} is not a phone number")
        return ()
    return (number,)


def _per_number(node: Node | None) -> tuple[NumbersExpectation, ...]:
    out = []
    for key, numbers, child in _number_keys(node):
        if isinstance(child.value, str):
            wanted = NumberExpectation(result=child.choice(RESULT_REASONS, "result"))
        elif child.mapping(_NUMBER_KEYS):
            result, attempts, ended = (child.get(k) for k in _NUMBER_KEYS)
            wanted = NumberExpectation(
                result=result.choice(RESULT_REASONS, "result") if result is not None else None,
                attempts=_count(attempts) if attempts is not None else None,
                ended_at_s=_time(ended) if ended is not None else None,
            )
            if wanted == NumberExpectation():
                child.error(f"expects nothing; give {', '.join(_NUMBER_KEYS)}")
        else:
            continue
        out.append(NumbersExpectation(key, numbers, wanted))
    return tuple(out)


def _event_matches(node: Node | None, names: EventNames) -> tuple[MatchExpectation, ...]:
    if node is None:
        return ()
    out = []
    for entry in node.elements():
        if not entry.mapping(_MATCH_ENTRY_KEYS):
            continue
        match, count = entry.get("match"), entry.get("count")
        if match is None or count is None:
            entry.error("needs match and count")
            continue
        at, low, high = (entry.get(k) for k in ("at_s", "min_s", "max_s"))
        if at is not None and (low is not None or high is not None):
            entry.error("at_s is exact: give it alone, or min_s / max_s")
        out.append(
            MatchExpectation(
                match=parse_event_match(match, names),
                count=_count(count),
                at_s=_seconds(at),
                min_s=_seconds(low),
                max_s=_seconds(high),
                distinct=_distinct(entry.get("distinct"), names),
            )
        )
    return tuple(out)


def _distinct(node: Node | None, names: EventNames) -> str | None:
    if node is None:
        return None
    key = node.text()
    if key in DERIVED_KEYS and key != "every":
        return key
    problem = names.field_problem(tuple(key.split(".")))
    if problem is not None:
        node.error(problem)
        return None
    return key


def _sequences(node: Node | None, names: EventNames) -> tuple[SequenceExpectation, ...]:
    out = []
    for key, numbers, child in _number_keys(node):
        sequence = []
        for item in child.elements():
            name = item.text()
            if check_event_name(item, name, names.per_call, "per-call event"):
                sequence.append(name)
        out.append(SequenceExpectation(key, numbers, tuple(sequence)))
    return tuple(out)
