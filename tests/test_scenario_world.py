"""The scenario Behaviour: first match wins, magic-number fallback, order-free seeded draws."""

from __future__ import annotations

from collections import Counter
from typing import Any

from emulator.domain.behaviour import Outcome
from emulator.scenario import ScenarioBehaviour, parse_scenario
from emulator.scenario.loader import read_tree
from emulator.scenario.numbers import generate_numbers


def _behaviour(text: str, seed: int = 0) -> ScenarioBehaviour:
    scenario = parse_scenario(read_tree("version: 1\n" + text, "w.yaml"), "w.yaml")
    return ScenarioBehaviour(scenario.world, seed)


RULES = """
groups:
  vip: ["+447700900001"]
rules:
  - number: "+447700900001"
    attempts: [busy, busy, human]
    ring_s: 6
  - group: vip
    outcome: invalid
  - prefix: "+4477"
    digits: ["2", null]
    press_after_s: 3
    hangup_after_s: 40
  - regex: "^\\\\+1555"
    mix: {human: 1, machine: 1}
"""


def test_first_matching_rule_wins_and_the_last_attempt_repeats() -> None:
    b = _behaviour(RULES)
    outcomes = [b.plan("bid", 0, "+447700900001", n).outcome for n in (1, 2, 3, 4)]
    assert outcomes == [Outcome.BUSY, Outcome.BUSY, Outcome.HUMAN, Outcome.HUMAN]
    assert b.plan("bid", 0, "+447700900001", 1).ring_s == 6


def test_fields_a_rule_leaves_out_come_from_the_magic_numbers() -> None:
    b = _behaviour(RULES)
    plan = b.plan("bid", 3, "+447700000001", 1)  # prefix rule; magic tail 0001 = busy
    assert plan.outcome is Outcome.BUSY
    assert plan.menu_digits == ("2", None) and plan.press_after_s == 3
    assert plan.hangup_after_s == 40 and plan.ring_s == 3
    assert plan.digits_at(0) == "2" and plan.digits_at(5) is None
    unmatched = b.plan("bid", 0, "+919800000006", 1)  # no rule: magic 0006 presses 1
    assert unmatched.outcome is Outcome.HUMAN and unmatched.menu_digits == ("1",)


def test_mix_draws_depend_only_on_seed_broadcast_index_and_attempt() -> None:
    b = _behaviour(RULES, seed=7)
    keys = [("b1", i, f"+1555000{i:04d}", a) for i in range(300) for a in (1, 2)]
    forward = [b.plan(*k).outcome for k in keys]
    again = _behaviour(RULES, seed=7)
    backward = [again.plan(*k).outcome for k in reversed(keys)][::-1]
    assert forward == backward
    counts = Counter(forward)
    assert set(counts) == {Outcome.HUMAN, Outcome.MACHINE}
    assert 240 < counts[Outcome.HUMAN] < 360  # 50/50 of 600 draws
    other_seed = _behaviour(RULES, seed=8)
    assert [other_seed.plan(*k).outcome for k in keys] != forward


def test_bridge_rules_draw_per_bridge_id() -> None:
    b = _behaviour(
        "rules:\n  - number: '+15550001111'\n    bridge: {mix: {answer: 1, busy: 1}, talk_s: 9}\n"
    )
    plans = [b.bridge("+15550001111", f"bridge-{i}") for i in range(200)]
    assert {p.answers for p in plans} == {True, False}
    assert all(p.talk_s == 9 for p in plans)
    assert {p.reason for p in plans if not p.answers} == {"busy"}
    assert [b.bridge("+15550001111", f"bridge-{i}") for i in range(200)] == plans
    magic = b.bridge("+15550000001", "x")  # no bridge rule: magic 0001 fails the bridge
    assert not magic.answers and magic.reason == "busy"


def test_prompts_have_durations_and_strict_prompts_fail_unknown_names() -> None:
    loose = _behaviour("prompts: {welcome: 7}\ntimings: {prompt_s: 4}\n")
    assert loose.prompt_seconds("welcome") == 7 and loose.prompt_seconds("other") == 4
    strict = _behaviour("prompts: {welcome: 7}\nstrict_prompts: true\n")
    assert strict.prompt_seconds("other") is None


def test_generated_numbers_are_distinct_phone_numbers_fixed_by_the_seed() -> None:
    numbers = generate_numbers("IN", 500, 3)
    assert len(set(numbers)) == 500
    assert all(n.startswith("+91") and 9 <= len(n) <= 16 for n in numbers)
    assert generate_numbers("IN", 500, 3) == numbers
    assert generate_numbers("IN", 500, 4) != numbers
    assert all(n.startswith("+44") for n in generate_numbers("GB", 50, 1))


def test_groups_from_csv_files(tmp_path: Any) -> None:
    (tmp_path / "list.csv").write_text("name,phone\nana,+44 7700 900123\nbo,(0161) 4960066\n")
    text = "version: 1\ngroups:\n  listed: {csv: list.csv, column: phone}\n"
    scenario = parse_scenario(read_tree(text, "c.yaml"), "c.yaml", str(tmp_path))
    b = ScenarioBehaviour(scenario.world, 0)
    assert b.groups["listed"] == frozenset({"+447700900123", "01614960066"})
