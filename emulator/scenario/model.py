"""The parsed scenario: frozen values for the world, the client script and the expectations."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from emulator.domain.behaviour import Timings
from emulator.fault_specs import FaultSpec

__all__ = [
    "Action",
    "BridgeSpec",
    "BroadcastSpec",
    "Count",
    "EventMatch",
    "Expectations",
    "FaultSpec",
    "FieldTest",
    "Match",
    "MatchExpectation",
    "Mix",
    "NumberExpectation",
    "NumberSource",
    "NumbersExpectation",
    "Reaction",
    "Rule",
    "Scenario",
    "Seconds",
    "SequenceExpectation",
    "World",
]

BRIDGE_OUTCOMES = ("answer", "busy", "no_answer", "invalid")
_AFTER_EVERY = frozenset({"number", "broadcast", "attempt"})


@dataclass(frozen=True, slots=True)
class Mix:
    """A weighted choice of outcomes, drawn from a seeded generator."""

    weights: tuple[tuple[str, float], ...]

    def draw(self, rng: random.Random) -> str:
        total = sum(w for _, w in self.weights)
        point = rng.random() * total
        for name, weight in self.weights:
            point -= weight
            if point < 0:
                return name
        return self.weights[-1][0]


OutcomeSpec = str | Mix  # an outcome name (Outcome value or bridge outcome) or a weighted mix


def pick(spec: OutcomeSpec, rng_key: str) -> str:
    """The outcome named by `spec`; a mix draws from a generator seeded with `rng_key` alone."""
    if isinstance(spec, Mix):
        return spec.draw(random.Random(rng_key))
    return spec


@dataclass(frozen=True, slots=True)
class Match:
    """How a rule picks numbers: exactly, by prefix, by regular expression, or by group."""

    kind: str  # "number" | "prefix" | "regex" | "group" | "any"
    value: str = ""
    pattern: re.Pattern[str] | None = None

    def matches(self, number: str, groups: dict[str, frozenset[str]]) -> bool:
        if self.kind == "any":
            return True
        if self.kind == "number":
            return number == self.value or number.lstrip("+") == self.value.lstrip("+")
        if self.kind == "prefix":
            return number.startswith(self.value) or number.lstrip("+").startswith(
                self.value.lstrip("+")
            )
        if self.kind == "regex":
            return self.pattern is not None and self.pattern.search(number) is not None
        return number in groups.get(self.value, frozenset())


@dataclass(frozen=True, slots=True)
class BridgeSpec:
    """What a number does when the app bridges a call to it."""

    outcome: OutcomeSpec = "answer"
    ring_s: int | None = None
    talk_s: int | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """A callee rule; fields left None fall back to what the magic numbers say."""

    match: Match
    attempts: tuple[OutcomeSpec, ...] = ()  # n-th attempt uses the n-th entry; the last repeats
    ring_s: int | None = None
    digits: tuple[str | None, ...] | None = None
    press_after_s: int | None = None
    patience_s: int | None = None
    hangup_after_s: int | None = None
    bridge: BridgeSpec | None = None


@dataclass(frozen=True, slots=True)
class NumberSource:
    """Where a list of numbers comes from."""

    kind: str  # "list" | "csv" | "generate" | "group"
    numbers: tuple[str, ...] = ()  # a list's numbers, or a CSV file's as read when loaded
    path: str = ""
    column: str | None = None
    country: str = ""
    count: int = 0
    seed: int | None = None
    group: str = ""


@dataclass(frozen=True, slots=True)
class World:
    """The part of a scenario a running emulator can load: callee rules, prompts, faults."""

    seed: int = 0
    timings: Timings = field(default_factory=Timings)
    prompts: dict[str, int] = field(default_factory=dict)
    strict_prompts: bool = False
    rules: tuple[Rule, ...] = ()
    groups: dict[str, NumberSource] = field(default_factory=dict)
    faults: tuple[FaultSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class FieldTest:
    """One key of an `on` / `match` filter: the value it reads and what that value must be.

    `key` is as written: a payload field or dotted path (`resultSet.successfull_calls`), or one
    of the derived keys `event` (`state` or `playstate`), `number` (the dialled number),
    `broadcast` (the script's name for it) and `digit` (`digit` or `digits`).
    """

    key: str
    op: str  # "equals" (any of `values`) | "regex" | "exists"
    values: tuple[Any, ...] = ()
    pattern: str = ""
    exists: bool = True

    def describe(self) -> str:
        if self.op == "regex":
            return f"{self.key}~/{self.pattern}/"
        if self.op == "exists":
            return f"{self.key} {'exists' if self.exists else 'absent'}"
        if len(self.values) == 1:
            return f"{self.key}={self.values[0]}"
        shown = ", ".join(str(v) for v in self.values[:5])
        more = f", ... ({len(self.values)} values)" if len(self.values) > 5 else ""
        return f"{self.key} in [{shown}{more}]"


@dataclass(frozen=True, slots=True)
class EventMatch:
    """Which webhook events a reaction or an expectation is about: every test holds, and
    (with `every`) the number's 1-based position in its broadcast is a multiple of it."""

    tests: tuple[FieldTest, ...] = ()
    every: int | None = None

    def describe(self) -> str:
        """`state=connected, every=10, broadcast=sales`: the keys in the order check names have
        always listed them (`every` before `number` and `broadcast`)."""
        parts = [t.describe() for t in self.tests]
        if self.every is not None:
            later = (i for i, t in enumerate(self.tests) if t.key in _AFTER_EVERY)
            parts.insert(next(later, len(parts)), f"every={self.every}")
        return ", ".join(parts) or "any event"


@dataclass(frozen=True, slots=True)
class Action:
    kind: str  # "play" | "connect" | "hangup" | "stop" | "wait"
    body: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Reaction:
    on: EventMatch
    actions: tuple[Action, ...]


@dataclass(frozen=True, slots=True)
class BroadcastSpec:
    name: str
    numbers: NumberSource
    dialect: str = "documented"
    from_number: str = "919999999999"
    play: dict[str, Any] | None = None
    retry_interval_s: float | None = None
    retries: int | None = None
    event_path: str = "/event"
    call_path: str = "/call"
    body: dict[str, Any] = field(default_factory=dict)
    at_s: float = 0.0
    stop_at_s: float | None = None


@dataclass(frozen=True, slots=True)
class Count:
    """An expected count: exact, or a range."""

    minimum: int | None = None
    maximum: int | None = None

    def holds(self, value: int) -> bool:
        low = self.minimum is None or value >= self.minimum
        return low and (self.maximum is None or value <= self.maximum)

    def describe(self) -> str:
        if self.minimum == self.maximum:
            return str(self.minimum)
        high = "any" if self.maximum is None else self.maximum
        return f"between {self.minimum or 0} and {high}"


@dataclass(frozen=True, slots=True)
class Seconds:
    """An expected virtual time in seconds since the replay started: exact (`low == high`), a
    range, or `none` (nothing happened, e.g. a number never dialled)."""

    low: float | None = None
    high: float | None = None
    none: bool = False

    def holds(self, value: float | None) -> bool:
        if value is None or self.none:
            return value is None and self.none
        ms = round(value * 1000)
        low = self.low is None or ms >= round(self.low * 1000)
        return low and (self.high is None or ms <= round(self.high * 1000))

    def describe(self) -> str:
        if self.none:
            return "never"
        if self.low == self.high:
            return f"{self.low:g} s"
        if self.high is None:
            return f">= {self.low:g} s"
        if self.low is None:
            return f"<= {self.high:g} s"
        return f"between {self.low:g} and {self.high:g} s"


@dataclass(frozen=True, slots=True)
class MatchExpectation:
    """An `event_matches` entry: how many events match, and when and how they differ."""

    match: EventMatch
    count: Count
    at_s: float | None = None  # every matched event happened at this virtual second
    min_s: float | None = None
    max_s: float | None = None
    distinct: str | None = None  # every matched event has another value of this field

    @property
    def timed(self) -> bool:
        return self.at_s is not None or self.min_s is not None or self.max_s is not None


@dataclass(frozen=True, slots=True)
class NumberExpectation:
    result: str | None = None
    attempts: Count | None = None
    ended_at_s: Seconds | None = None


@dataclass(frozen=True, slots=True)
class NumbersExpectation:
    """One key of `numbers`: a number, or a range standing for each of its numbers."""

    key: str
    numbers: tuple[str, ...]
    wanted: NumberExpectation


@dataclass(frozen=True, slots=True)
class SequenceExpectation:
    """One key of `sequences`: a number (or each number of a range) and its event names."""

    key: str
    numbers: tuple[str, ...]
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Expectations:
    completed: Count | None = None
    completion: dict[str, Count] = field(default_factory=dict)  # successful / failed / total
    broadcasts: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: dict[str, Count] = field(default_factory=dict)  # by reason: success, Busy, ...
    numbers: tuple[NumbersExpectation, ...] = ()
    events: dict[str, Count] = field(default_factory=dict)
    event_matches: tuple[MatchExpectation, ...] = ()
    sequences: tuple[SequenceExpectation, ...] = ()
    no_lost_webhooks: bool = False
    max_virtual_s: float | None = None
    min_virtual_s: float | None = None
    virtual_s: float | None = None
    deterministic: bool = False

    @property
    def empty(self) -> bool:
        return self == Expectations()


@dataclass(frozen=True, slots=True)
class Scenario:
    source: str
    name: str
    description: str
    world: World
    settings: dict[str, Any]  # the settings layer (Settings field names)
    broadcasts: tuple[BroadcastSpec, ...] = ()
    reactions: tuple[Reaction, ...] = ()
    expect: Expectations = field(default_factory=Expectations)
    vars: dict[str, Any] = field(default_factory=dict)
    base_dir: str = "."
