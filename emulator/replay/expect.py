"""Checking a replay against the scenario's expectations: one `Check` per thing expected.

Times are virtual seconds since the replay started (`RunFacts.origin_ms`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator.replay.record import EventRecorder, MatchStats
from emulator.scenario.model import (
    Count,
    Expectations,
    MatchExpectation,
    NumbersExpectation,
    Seconds,
    SequenceExpectation,
)

__all__ = ["Check", "RunFacts", "check_expectations", "seconds_since"]

_SHOWN = 5  # numbers listed in a failed check about a range


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    passed: bool
    expected: Any
    actual: Any

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "expected": self.expected,
            "actual": self.actual,
        }


@dataclass(slots=True)
class RunFacts:
    """What happened in a replay, in plain values."""

    finished: bool
    reason: str
    virtual_s: float
    broadcasts: list[dict[str, Any]]  # name, broadcast_id, state, successful, failed, total...
    numbers: dict[str, dict[str, Any]]  # number -> {result, attempts, ended_at_s} (first wins)
    results: Counter[str]
    recorder: EventRecorder
    webhooks_dead: int
    webhooks_pending: int
    client_errors: list[dict[str, Any]] = field(default_factory=list)
    origin_ms: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)  # every number of every broadcast


def seconds_since(origin_ms: int, ms: int | None) -> float | None:
    return None if ms is None else (ms - origin_ms) / 1000


def _count_check(name: str, wanted: Count, actual: int) -> Check:
    return Check(name, wanted.holds(actual), wanted.describe(), actual)


def check_expectations(expect: Expectations, facts: RunFacts) -> list[Check]:
    checks = [Check("run finished", facts.finished, "finished", facts.reason)]
    if expect.completed is not None:
        done = sum(1 for b in facts.broadcasts if b["completion_sent"])
        checks.append(_count_check("broadcasts completed", expect.completed, done))
    for key, wanted in expect.completion.items():
        total = sum(b[key] for b in facts.broadcasts)
        checks.append(_count_check(f"completion {key}", wanted, total))
    checks.extend(_broadcast_checks(expect, facts))
    for reason, wanted in expect.results.items():
        checks.append(_count_check(f"results {reason}", wanted, facts.results.get(reason, 0)))
    for wanted_number in expect.numbers:
        checks.extend(_number_checks(wanted_number, facts))
    recorder = facts.recorder
    for name, wanted in expect.events.items():
        checks.append(_count_check(f"events {name}", wanted, recorder.by_name.get(name, 0)))
    for entry, stats in zip(expect.event_matches, recorder.stats, strict=True):
        checks.extend(_match_checks(entry, stats, facts.origin_ms))
    for sequence in expect.sequences:
        checks.append(_sequence_check(sequence, recorder))
    if expect.no_lost_webhooks:
        lost = facts.webhooks_dead + facts.webhooks_pending
        detail = {"dead": facts.webhooks_dead, "pending": facts.webhooks_pending}
        checks.append(Check("no lost webhooks", lost == 0, {"dead": 0, "pending": 0}, detail))
    checks.extend(_duration_checks(expect, facts.virtual_s))
    return checks


def _duration_checks(expect: Expectations, virtual_s: float) -> list[Check]:
    checks = []
    if expect.max_virtual_s is not None:
        ok = Seconds(None, expect.max_virtual_s).holds(virtual_s)
        checks.append(Check("virtual duration", ok, f"<= {expect.max_virtual_s:g} s", virtual_s))
    if expect.min_virtual_s is not None:
        ok = Seconds(expect.min_virtual_s, None).holds(virtual_s)
        label = "virtual duration at least"
        checks.append(Check(label, ok, f">= {expect.min_virtual_s:g} s", virtual_s))
    if expect.virtual_s is not None:
        ok = Seconds(expect.virtual_s, expect.virtual_s).holds(virtual_s)
        label = "virtual duration exactly"
        checks.append(Check(label, ok, f"{expect.virtual_s:g} s", virtual_s))
    return checks


def _broadcast_checks(expect: Expectations, facts: RunFacts) -> list[Check]:
    checks = []
    by_name = {b["name"]: b for b in facts.broadcasts}
    for name, wanted in expect.broadcasts.items():
        seen = by_name.get(name)
        if seen is None:
            checks.append(Check(f"broadcast {name}", False, "created", "not created"))
            continue
        for key, value in wanted.items():
            label = f"broadcast {name} {key}"
            if isinstance(value, Count):
                checks.append(_count_check(label, value, seen[key]))
            else:
                checks.append(Check(label, seen[key] == value, value, seen[key]))
    return checks


def _number_checks(entry: NumbersExpectation, facts: RunFacts) -> list[Check]:
    """One check per field; a range is one check per field over all its numbers."""
    single = len(entry.numbers) == 1
    label = f"number {entry.numbers[0]}" if single else f"numbers {entry.key}"
    absent = [n for n in entry.numbers if n not in facts.numbers]
    if absent:
        return [Check(label, False, "dialled", _listed(absent, "not in any broadcast"))]
    seen = [facts.numbers[n] for n in entry.numbers]
    wanted = entry.wanted
    checks = []
    if wanted.result is not None:
        result = wanted.result
        checks.append(_per_number(label, "result", entry, seen, result, result.__eq__))
    if wanted.attempts is not None:
        attempts = wanted.attempts
        checks.append(
            _per_number(label, "attempts", entry, seen, attempts.describe(), attempts.holds)
        )
    if wanted.ended_at_s is not None:
        ended = wanted.ended_at_s
        checks.append(_per_number(label, "ended_at_s", entry, seen, ended.describe(), ended.holds))
    return checks


def _per_number(
    label: str,
    key: str,
    entry: NumbersExpectation,
    seen: list[dict[str, Any]],
    shown: Any,
    ok: Callable[[Any], bool],
) -> Check:
    if len(seen) == 1:
        actual = seen[0][key]
        return Check(f"{label} {key}", ok(actual), shown, actual)
    wrong = [f"{n}: {facts[key]}" for n, facts in zip(entry.numbers, seen, strict=True)
             if not ok(facts[key])]  # fmt: skip
    actual = f"all {len(seen)} as expected" if not wrong else _listed(wrong, "differ")
    return Check(f"{label} {key}", not wrong, f"{shown} for each of {len(seen)}", actual)


def _listed(items: list[str], what: str) -> str:
    head = ", ".join(items[:_SHOWN])
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return f"{len(items)} {what}: {head}{more}"


def _match_checks(entry: MatchExpectation, stats: MatchStats, origin_ms: int) -> list[Check]:
    label = f"events matching {entry.match.describe()}"
    checks = [_count_check(label, entry.count, stats.count)]
    earliest = seconds_since(origin_ms, stats.earliest)
    latest = seconds_since(origin_ms, stats.latest)
    if entry.at_s is not None:
        at = Seconds(entry.at_s, entry.at_s)
        ok = at.holds(earliest) and at.holds(latest) if stats.count else True
        shown = f"each at {entry.at_s:g} s"
        checks.append(Check(f"{label} at_s", ok, shown, _span(earliest, latest)))
    if entry.min_s is not None:
        ok = stats.count == 0 or Seconds(entry.min_s, None).holds(earliest)
        checks.append(
            Check(f"{label} min_s", ok, f"each at or after {entry.min_s:g} s", _first(earliest))
        )
    if entry.max_s is not None:
        ok = stats.count == 0 or Seconds(None, entry.max_s).holds(latest)
        checks.append(
            Check(f"{label} max_s", ok, f"each at or before {entry.max_s:g} s", _last(latest))
        )
    if entry.distinct is not None:
        checks.append(_distinct_check(label, entry.distinct, stats))
    return checks


def _span(earliest: float | None, latest: float | None) -> str:
    if earliest is None or latest is None:
        return "no event matched"
    if earliest == latest:
        return f"each at {earliest:g} s"
    return f"from {earliest:g} s to {latest:g} s"


def _first(earliest: float | None) -> str:
    return "no event matched" if earliest is None else f"first at {earliest:g} s"


def _last(latest: float | None) -> str:
    return "no event matched" if latest is None else f"last at {latest:g} s"


def _distinct_check(label: str, key: str, stats: MatchStats) -> Check:
    expected = f"{stats.count} different values of {key}"
    if not stats.repeated:
        return Check(f"{label} distinct {key}", True, expected, f"{stats.values} different")
    shown = ", ".join(str(v) for v in stats.examples)
    actual = f"{stats.values} different among {stats.count} events; repeated: {shown}"
    return Check(f"{label} distinct {key}", False, expected, actual)


def _sequence_check(entry: SequenceExpectation, recorder: EventRecorder) -> Check:
    wanted = list(entry.names)
    if len(entry.numbers) == 1:
        actual = recorder.sequence(entry.numbers[0])
        return Check(f"sequence {entry.numbers[0]}", actual == wanted, wanted, actual)
    label = f"sequences {entry.key}"
    wrong = [n for n in entry.numbers if recorder.sequence(n) != wanted]
    if not wrong:
        return Check(label, True, wanted, f"all {len(entry.numbers)} as expected")
    first = f"; {wrong[0]} got {recorder.sequence(wrong[0])}"
    return Check(label, False, wanted, _listed(wrong, "differ") + first)
