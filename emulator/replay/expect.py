"""Checking a replay against the scenario's expectations: one `Check` per thing expected."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from emulator.replay.record import EventRecorder
from emulator.scenario.model import Count, EventMatch, Expectations

__all__ = ["Check", "RunFacts", "check_expectations"]


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
    numbers: dict[str, dict[str, Any]]  # number -> {result, attempts} (first broadcast wins)
    results: Counter[str]
    recorder: EventRecorder
    webhooks_dead: int
    webhooks_pending: int
    client_errors: list[dict[str, Any]] = field(default_factory=list)


def _count_check(name: str, wanted: Count, actual: int) -> Check:
    return Check(name, wanted.holds(actual), wanted.describe(), actual)


def _describe(match: EventMatch) -> str:
    parts = [f"{k}={getattr(match, k)}" for k in match.__slots__ if getattr(match, k) is not None]
    return ", ".join(parts) or "any event"


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
    checks.extend(_number_checks(expect, facts))
    recorder = facts.recorder
    for name, wanted in expect.events.items():
        checks.append(_count_check(f"events {name}", wanted, recorder.by_name.get(name, 0)))
    for (match, wanted), seen in zip(expect.event_matches, recorder.match_counts, strict=True):
        checks.append(_count_check(f"events matching {_describe(match)}", wanted, seen))
    for number, sequence in expect.sequences.items():
        actual = recorder.sequence(number)
        checks.append(Check(f"sequence {number}", actual == list(sequence), list(sequence), actual))
    if expect.no_lost_webhooks:
        lost = facts.webhooks_dead + facts.webhooks_pending
        detail = {"dead": facts.webhooks_dead, "pending": facts.webhooks_pending}
        checks.append(Check("no lost webhooks", lost == 0, {"dead": 0, "pending": 0}, detail))
    if expect.max_virtual_s is not None:
        ok = facts.virtual_s <= expect.max_virtual_s
        checks.append(
            Check("virtual duration", ok, f"<= {expect.max_virtual_s:g} s", facts.virtual_s)
        )
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


def _number_checks(expect: Expectations, facts: RunFacts) -> list[Check]:
    checks = []
    for number, wanted in expect.numbers.items():
        seen = facts.numbers.get(number)
        if seen is None:
            checks.append(Check(f"number {number}", False, "dialled", "not in any broadcast"))
            continue
        if "result" in wanted:
            ok = seen["result"] == wanted["result"]
            checks.append(Check(f"number {number} result", ok, wanted["result"], seen["result"]))
        if "attempts" in wanted:
            checks.append(
                _count_check(f"number {number} attempts", wanted["attempts"], seen["attempts"])
            )
    return checks
