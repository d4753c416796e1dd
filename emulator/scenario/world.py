"""The world of a scenario in a running emulator: callee rules as a `Behaviour`, and its faults.

Random draws for one attempt come from a generator seeded with (seed, broadcast, number index,
attempt), and for one bridge from (seed, bridge id), so they never depend on processing order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from emulator.config import Settings
from emulator.domain.behaviour import (
    AttemptPlan,
    Behaviour,
    BridgePlan,
    MagicNumbers,
    Outcome,
    Timings,
)
from emulator.fault_specs import FaultSpec
from emulator.faults import ApiFault, FaultBook, WebhookFault
from emulator.scenario.model import NumberSource, Rule, Scenario, World, pick
from emulator.scenario.numbers import resolve_numbers

__all__ = ["ScenarioBehaviour", "WorldTarget", "apply_world", "load_faults", "resolve_groups"]

_BRIDGE_REASONS = {"busy": "busy", "no_answer": "no-answer", "invalid": "invalid"}
# Settings that a running emulator keeps: a scenario loaded at run time reports them.
_FIXED_SETTINGS = (
    "app_id", "app_key", "cli_numbers", "clock", "settle_ms", "speed", "seed", "start_ms",
    "dial_rate", "webhook_encryption", "webhook_format", "webhook_verify_tls", "webhook_attempts",
    "webhook_backoff_s", "webhook_timeout_s", "webhook_outage_s", "webhook_workers",
    "webhook_allow",
    "completion_state", "tls_cert", "tls_key", "control_token", "max_body_bytes", "max_numbers",
    "journal_size", "delivery_log_size", "state_file", "shutdown_grace_s", "log_level",
)  # fmt: skip


class WorldTarget(Protocol):
    """What a scenario's world is loaded into (a project's world): data in, nothing reached back."""

    settings: Settings
    behaviour: Behaviour
    faults: FaultBook

    @property
    def now_ms(self) -> int: ...

    def use_behaviour(self, behaviour: Behaviour, timings: Timings | None = None) -> None: ...


def resolve_groups(groups: Mapping[str, NumberSource], seed: int) -> dict[str, frozenset[str]]:
    return {name: frozenset(resolve_numbers(src, groups, seed)) for name, src in groups.items()}


class ScenarioBehaviour:
    """Callee rules, first match wins; fields a rule leaves out come from the magic numbers."""

    def __init__(
        self, world: World, seed: int, groups: Mapping[str, frozenset[str]] | None = None
    ) -> None:
        self.world = world
        self.seed = seed
        self.timings = world.timings
        self.magic = MagicNumbers(world.timings)
        self.groups = dict(groups if groups is not None else resolve_groups(world.groups, seed))
        self.faults: list[WebhookFault | ApiFault] = []  # what this world added to the book
        self._cache: dict[str, Rule | None] = {}

    def rule_for(self, number: str) -> Rule | None:
        if number not in self._cache:
            found = next(
                (r for r in self.world.rules if r.match.matches(number, self.groups)), None
            )
            if len(self._cache) < 1_000_000:
                self._cache[number] = found
            return found
        return self._cache[number]

    def plan(self, broadcast_id: str, index: int, number: str, attempt: int) -> AttemptPlan:
        base = self.magic.plan(broadcast_id, index, number, attempt)
        rule = self.rule_for(number)
        if rule is None:
            return base
        outcome = base.outcome
        if rule.attempts:
            spec = rule.attempts[min(attempt, len(rule.attempts)) - 1]
            outcome = Outcome(pick(spec, f"{self.seed}|{broadcast_id}|{index}|{attempt}"))
        return AttemptPlan(
            outcome=outcome,
            ring_s=_first(rule.ring_s, base.ring_s),
            menu_digits=base.menu_digits if rule.digits is None else rule.digits,
            press_after_s=_first(rule.press_after_s, base.press_after_s),
            patience_s=_first(rule.patience_s, base.patience_s),
            hangup_after_s=rule.hangup_after_s,
        )

    def bridge(self, number: str, key: str = "") -> BridgePlan:
        rule = next(
            (
                r
                for r in self.world.rules
                if r.bridge is not None and r.match.matches(number, self.groups)
            ),
            None,
        )
        if rule is None or rule.bridge is None:
            return self.magic.bridge(number, key)
        spec = rule.bridge
        outcome = pick(spec.outcome, f"{self.seed}|bridge|{key or number}")
        t = self.timings
        return BridgePlan(
            answers=outcome == "answer",
            ring_s=_first(spec.ring_s, t.bridge_ring_s),
            talk_s=_first(spec.talk_s, t.bridge_talk_s),
            reason=_BRIDGE_REASONS.get(outcome, ""),
        )

    def prompt_seconds(self, prompt_name: str) -> int | None:
        seconds = self.world.prompts.get(prompt_name)
        if seconds is None and not self.world.strict_prompts:
            return self.timings.prompt_s
        return seconds


def _first(value: int | None, default: int) -> int:
    return default if value is None else value


def load_faults(book: FaultBook, faults: tuple[FaultSpec, ...], origin_ms: int) -> list[Any]:
    """Add scenario faults to `book`, built by the one fault grammar (`emulator.fault_specs`)
    with their windows counted from `origin_ms`. Returns what was added."""
    added: list[WebhookFault | ApiFault] = []
    for spec in faults:
        fault = spec.build(origin_ms)
        book.add(fault)
        added.append(fault)
    return added


def _forget_faults(book: FaultBook, faults: list[Any]) -> None:
    gone = {f.id for f in faults}
    book.webhook[:] = [f for f in book.webhook if f.id not in gone]
    book.api[:] = [f for f in book.api if f.id not in gone]


def apply_world(
    emulator: WorldTarget,
    scenario: Scenario,
    groups: Mapping[str, frozenset[str]] | None = None,
) -> dict[str, Any]:
    """Load the world part of `scenario` into a running emulator (rules, prompts, timings,
    faults). `groups`: the scenario's groups already resolved for this seed (many projects share
    them). Returns what was loaded and the settings it could not change at run time."""
    old = emulator.behaviour
    if isinstance(old, ScenarioBehaviour):
        _forget_faults(emulator.faults, old.faults)
    behaviour = ScenarioBehaviour(scenario.world, emulator.settings.seed, groups)
    behaviour.faults = load_faults(emulator.faults, scenario.world.faults, emulator.now_ms)
    emulator.use_behaviour(behaviour, scenario.world.timings)
    current = emulator.settings
    ignored = sorted(
        key
        for key, value in scenario.settings.items()
        if key in _FIXED_SETTINGS and getattr(current, key) != value
    )
    return {
        "scenario": scenario.name,
        "rules": len(scenario.world.rules),
        "prompts": len(scenario.world.prompts),
        "groups": {name: len(numbers) for name, numbers in behaviour.groups.items()},
        "faults": len(behaviour.faults),
        "not_applied": ignored,
    }
