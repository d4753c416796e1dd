"""The parsed scenario: frozen values for the world, the client script and the expectations."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from emulator.domain.behaviour import Timings

__all__ = [
    "Action",
    "BridgeSpec",
    "BroadcastSpec",
    "Count",
    "EventMatch",
    "Expectations",
    "FaultSpec",
    "Match",
    "Mix",
    "NumberSource",
    "Reaction",
    "Rule",
    "Scenario",
    "World",
]

BRIDGE_OUTCOMES = ("answer", "busy", "no_answer", "invalid")


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
class FaultSpec:
    """A webhook (`kind="webhook"`) or API (`kind="api"`) fault, by count and/or window."""

    kind: str
    target: str | None = None  # URL regex (webhook) or path regex (api)
    method: str | None = None
    status: int | None = None
    timeout: bool = False
    delay_s: float = 0.0
    retry_after_s: int | None = None
    times: int | None = None
    from_s: float | None = None
    until_s: float | None = None


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
class EventMatch:
    """Which webhook events a reaction or an expectation is about; None = any."""

    event: str | None = None  # state or playstate
    state: str | None = None
    playstate: str | None = None
    prompt_ref: str | None = None
    digit: str | None = None
    every: int | None = None  # the 1-based position of the number in its broadcast is a multiple
    number: str | None = None
    broadcast: str | None = None
    attempt: int | None = None


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
class Expectations:
    completed: Count | None = None
    completion: dict[str, Count] = field(default_factory=dict)  # successful / failed / total
    broadcasts: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: dict[str, Count] = field(default_factory=dict)  # by reason: success, Busy, ...
    numbers: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, Count] = field(default_factory=dict)
    event_matches: tuple[tuple[EventMatch, Count], ...] = ()
    sequences: dict[str, tuple[str, ...]] = field(default_factory=dict)
    no_lost_webhooks: bool = False
    max_virtual_s: float | None = None

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
