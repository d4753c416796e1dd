"""Parsing a scenario's callee rules: what to match, the outcome (or mix) of each attempt, the
digits pressed, and what a bridged number does."""

from __future__ import annotations

import re
from collections.abc import Mapping

from emulator.domain.behaviour import Outcome
from emulator.scenario.model import BRIDGE_OUTCOMES, BridgeSpec, Match, Mix, OutcomeSpec, Rule
from emulator.scenario.schema import Node

__all__ = ["OUTCOMES", "opt_int", "parse_rules"]

OUTCOMES = tuple(o.value for o in Outcome)
_RULE_KEYS = (
    "match", "number", "prefix", "regex", "group", "attempts", "outcome", "mix", "ring_s",
    "digits", "press_after_s", "patience_s", "hangup_after_s", "bridge", "comment",
)  # fmt: skip


def _outcome(node: Node, options: tuple[str, ...]) -> OutcomeSpec:
    if isinstance(node.value, Mapping):
        return _mix(node, options)
    if options is BRIDGE_OUTCOMES and node.value == "human":
        return "answer"
    return node.choice(options, "outcome") or options[0]


def _mix(node: Node, options: tuple[str, ...]) -> Mix:
    weights: list[tuple[str, float]] = []
    node.mapping(options)
    for key, child in node.items():
        weight = child.number(0.0)
        if key in options and weight > 0:
            weights.append((key, weight))
    if not weights:
        node.error("a mix needs at least one outcome with a weight above 0")
        return Mix(((options[0], 1.0),))
    return Mix(tuple(weights))


def parse_rules(node: Node | None, groups: tuple[str, ...]) -> tuple[Rule, ...]:
    if node is None:
        return ()
    return tuple(rule for child in node.elements() if (rule := _rule(child, groups)) is not None)


def _rule(node: Node, groups: tuple[str, ...]) -> Rule | None:
    if not node.mapping(_RULE_KEYS):
        return None
    match = _match(node)
    if match.kind == "group" and match.value not in groups:
        node.error(f"unknown group {match.value!r}; define it under groups")
    attempts: tuple[OutcomeSpec, ...] = ()
    spec = node.get("attempts")
    if spec is not None:
        attempts = tuple(_outcome(child, OUTCOMES) for child in spec.elements())
        if not attempts and isinstance(spec.value, list):
            spec.error("must list at least one outcome")
    for key in ("outcome", "mix"):
        single = node.get(key)
        if single is not None:
            attempts = (_outcome(single, OUTCOMES),)
    return Rule(
        match=match,
        attempts=attempts,
        ring_s=opt_int(node, "ring_s"),
        digits=_digits(node.get("digits")),
        press_after_s=opt_int(node, "press_after_s"),
        patience_s=opt_int(node, "patience_s"),
        hangup_after_s=opt_int(node, "hangup_after_s"),
        bridge=_bridge(node.get("bridge")),
    )


def opt_int(node: Node, key: str) -> int | None:
    child = node.get(key)
    return None if child is None else child.integer()


def _match(node: Node) -> Match:
    """`match: {number|prefix|regex|group: ...}` or the same key directly on the rule."""
    holder: Node = node.get("match") or node
    if holder is not node and isinstance(holder.value, str) and holder.value == "any":
        return Match("any")
    if holder is not node and not holder.mapping(("number", "prefix", "regex", "group", "any")):
        return Match("any")
    kinds = [k for k in ("number", "prefix", "regex", "group", "any") if holder.get(k) is not None]
    if len(kinds) != 1:
        node.error("a rule needs exactly one of match.number, prefix, regex, group or any")
        return Match("any")
    child = holder.get(kinds[0])
    assert child is not None
    if kinds[0] == "any":
        return Match("any")
    text = child.text()
    if kinds[0] == "regex":
        try:
            return Match("regex", text, re.compile(text))
        except re.error as exc:
            child.error(f"not a regular expression: {exc}")
    return Match(kinds[0], text)


def _digits(node: Node | None) -> tuple[str | None, ...] | None:
    if node is None:
        return None
    if not isinstance(node.value, list):
        return (_digit(node),)
    return tuple(_digit(child) for child in node.elements())


def _digit(node: Node) -> str | None:
    if node.value is None or node.value == "":
        return None
    text = node.text()
    if not re.fullmatch(r"[0-9*#]{1,32}", text):
        node.error(f"digits must be 0-9, * or #, not {text!r}")
    return text


def _bridge(node: Node | None) -> BridgeSpec | None:
    if node is None:
        return None
    if isinstance(node.value, str):
        return BridgeSpec(_outcome(node, BRIDGE_OUTCOMES))
    if not node.mapping(("outcome", "mix", "ring_s", "talk_s")):
        return None
    spec = node.get("outcome") or node.get("mix")
    return BridgeSpec(
        outcome=_outcome(spec, BRIDGE_OUTCOMES) if spec is not None else "answer",
        ring_s=opt_int(node, "ring_s"),
        talk_s=opt_int(node, "talk_s"),
    )
