"""`${...}` expressions are bounded: no value over 64 KiB (checked before it is built), no
evaluation over 10 ms, no deep or long expression, and bad operands are a clear error, never a
crash (CONTRACT §12)."""

from __future__ import annotations

import itertools
import tracemalloc
from typing import Any

import pytest

from emulator.scenario import ScenarioError, parse_scenario
from emulator.scenario.loader import read_tree
from emulator.scenario.values import Budget, evaluate

BIG_INT = int("9" * 4000)  # the largest a YAML or JSON file can give (Python's 4,300 digits)


def _scenario(text: str) -> Any:
    return parse_scenario(read_tree("version: 1\n" + text, "w.yaml"), "w.yaml")


def _refused(expression: str, names: dict[str, Any] | None = None) -> str:
    with pytest.raises(ValueError) as info:
        evaluate(expression, names or {})
    return str(info.value)


def test_everyday_expressions_still_work() -> None:
    names = {"count": 1000, "name": "camp", "rate": 0.5}
    assert evaluate("count * 30 // 100", names) == 300
    assert evaluate("max(1, count // 3) + min(2, 3)", names) == 335
    assert evaluate("round(rate * 3, 1)", names) == 1.5
    assert evaluate("int(count / 7)", names) == 142
    assert evaluate("name + '-' + name", names) == "camp-camp"
    assert evaluate("'ab' * 3", names) == "ababab"
    assert evaluate("-count % 7", names) == 1


def test_a_huge_string_is_refused_before_it_is_built() -> None:
    tracemalloc.start()
    try:
        message = _refused("'ab' * 50000000")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message == "the result would be longer than 64 KiB"
    assert peak < 1024 * 1024  # nothing near 100 MB was allocated
    assert _refused("s + s", {"s": "a" * 40_000}) == "the result would be longer than 64 KiB"
    assert _refused("3 * s", {"s": "abc" * 10_000}) == "the result would be longer than 64 KiB"
    assert evaluate("s + s", {"s": "a" * 30_000}) == "a" * 60_000


def test_numbers_may_not_grow_past_64_kib() -> None:
    big = 1 << 300_000
    assert _refused("x * x", {"x": big}) == "the result would be larger than 64 KiB"
    assert _refused("x * 'a'", {"x": big}) == "the result would be longer than 64 KiB"
    assert evaluate("y * y", {"y": 1 << 100_000}) == 1 << 200_000
    assert _refused("round(5, -1000000)") == "round: ndigits must be between -308 and 308"
    assert _refused("10 ** 10").startswith("only numbers, variables, + - * / // %")
    eight = "(" + " * ".join(["x"] * 8) + ")"
    with pytest.raises(ScenarioError) as info:  # repeated multiplication of the largest YAML int
        _scenario(f"vars: {{x: {BIG_INT}}}\nname: '${{{' * '.join([eight] * 8)}}}'\n")
    assert "64 KiB" in str(info.value) or "10 ms" in str(info.value)


def test_long_and_deep_expressions_are_refused() -> None:
    assert _refused("1 + " * 300 + "1") == "the expression is longer than 1,000 characters"
    assert _refused("-(" * 40 + "1" + ")" * 40) == "the expression is nested more than 32 deep"
    assert _refused("+".join(["1"] * 400)) == "the expression is nested more than 32 deep"
    assert _refused("(" * 250 + "1" + ")" * 250).startswith("cannot parse expression")


def test_an_evaluation_longer_than_10_ms_is_stopped() -> None:
    ticks = itertools.count(0, 0.003)  # a clock that moves 3 ms per reading
    budget = Budget(clock=lambda: next(ticks))
    with pytest.raises(ValueError, match="the expression takes longer than 10 ms"):
        evaluate("1 + 2 + 3 + 4 + 5 + 6", {}, budget)
    assert evaluate("1 + 2", {}, Budget(clock=lambda: next(ticks))) == 3


def test_a_scenario_has_a_budget_for_all_its_expressions() -> None:
    big = "vars:\n  s: " + "a" * 60_000 + "\n"
    assert _scenario(big + "description: '${s}'\n").description == "a" * 60_000
    many = "".join("    - '${s}'\n" for _ in range(80))  # 80 x 60,000 characters
    with pytest.raises(ScenarioError) as info:
        _scenario(big + "  l:\n" + many)
    assert "the scenario's ${...} make more than 4 MiB of text" in str(info.value)
    with pytest.raises(ScenarioError, match=r"w.yaml: name: in '\$\{s\}\$\{s\}': the text would"):
        _scenario("vars: {s: " + "a" * 40_000 + "}\nname: '${s}${s}'\n")


@pytest.mark.parametrize(
    ("expression", "wanted"),
    [
        ("-'a'", "bad operand type for unary -: 'str'"),
        ("min()", "min expected at least 1 argument, got 0"),
        ("int(1e400)", "cannot convert float infinity to integer"),
        ("l * 3", "only numbers and text can be computed with, not a list"),
        ("min(l)", "only numbers and text can be computed with, not a list"),
        ("'%0999999999d' % 1", "% works on numbers only"),
        ("x / 3", "integer division result too large for a float"),
    ],
)
def test_bad_operands_are_errors_not_crashes(expression: str, wanted: str) -> None:
    assert wanted in _refused(expression, {"l": [1, 2], "x": BIG_INT**20})


def test_errors_name_the_path_in_the_scenario() -> None:
    with pytest.raises(ScenarioError) as info:
        _scenario("vars: {s: ab}\nname: '${s * 50000000}'\n")
    assert str(info.value) == (
        "w.yaml: name: in '${s * 50000000}': the result would be longer than 64 KiB"
    )
    long = "${" + "1 + " * 400 + "1}"
    with pytest.raises(ScenarioError) as info:
        _scenario(f"name: '{long}'\n")
    assert str(info.value).startswith("w.yaml: name: in '${1 + 1 + 1")
    assert len(str(info.value)) < 200  # the expression is not quoted whole
