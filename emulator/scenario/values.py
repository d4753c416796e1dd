"""Scenario variables: `vars` with overrides (`--set`, `--scale`) and `${expr}` substitution.

An expression is arithmetic over numbers and variable names (`${count // 10}`); a string that is
exactly one `${...}` becomes the value itself (a number stays a number), otherwise it is formatted
into the text.
"""

from __future__ import annotations

import ast
import operator
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from emulator.scenario.schema import Node

__all__ = ["Budget", "apply_overrides", "evaluate", "parse_assignment", "substitute"]

_REF = re.compile(r"\$\{([^}]*)\}")
KiB = 1024
MAX_TEXT = 64 * KiB  # characters of a string an expression makes (and of a substituted text)
MAX_INT_BITS = 64 * KiB * 8  # bits of a whole number an expression makes
MAX_EXPRESSION = 1000  # characters between ${ and }
MAX_NESTING = 32  # operators and calls inside one another
EXPRESSION_S = 0.010  # CPU seconds one expression may take
SCENARIO_S = 1.0  # CPU seconds all the expressions of one scenario may take
SCENARIO_TEXT = 4 * KiB * KiB  # characters all the expressions of one scenario may make
_ARITHMETIC: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {"min": min, "max": max, "round": round, "int": int}
_SCALARS = (int, float, str)
_TOO_LONG = "the result would be longer than 64 KiB"
_TOO_LARGE = "the result would be larger than 64 KiB"
_ALLOWED = "only numbers, variables, + - * / // %, min, max, round and int are allowed"


@dataclass
class Budget:
    """What the expressions of one scenario may spend: CPU time (per expression and in all, read
    from `clock`) and characters of text made in all. One budget per scenario load."""

    clock: Callable[[], float] = time.thread_time  # CPU time of this thread: waits do not count
    expression_s: float = EXPRESSION_S
    scenario_s: float = SCENARIO_S
    scenario_text: int = SCENARIO_TEXT
    spent_s: float = field(default=0.0, init=False)
    text: int = field(default=0, init=False)
    _started: float = field(default=0.0, init=False, repr=False)

    def start(self) -> None:
        self._started = self.clock()

    def step(self) -> None:
        """Called before each step of an evaluation: ValueError once time has run out."""
        elapsed = self.clock() - self._started
        if elapsed > self.expression_s:
            raise ValueError(f"the expression takes longer than {self.expression_s * 1000:g} ms")
        if self.spent_s + elapsed > self.scenario_s:
            raise ValueError(
                f"the scenario's ${{...}} take longer than {self.scenario_s:g} s in all"
            )

    def finish(self) -> None:
        self.spent_s += self.clock() - self._started

    def made(self, value: Any) -> None:
        """Count the text an expression made against the scenario's allowance."""
        if isinstance(value, str):
            self.text += len(value)
            if self.text > self.scenario_text:
                limit = self.scenario_text // (KiB * KiB)
                raise ValueError(f"the scenario's ${{...}} make more than {limit} MiB of text")


def evaluate(expression: str, names: Mapping[str, Any], budget: Budget | None = None) -> Any:
    """Evaluate an arithmetic expression over `names`; ValueError explains what is wrong.

    Bounded: at most 1,000 characters nested 32 deep, no string or number over 64 KiB (refused
    before it is made), at most 10 ms of CPU time (checked before every step)."""
    budget = budget if budget is not None else Budget()
    tree = _parse(expression)
    budget.start()
    try:
        value = _eval(tree.body, names, budget)
    finally:
        budget.finish()
    budget.made(value)
    return value


def _parse(expression: str) -> ast.Expression:
    text = expression.strip()
    if len(text) > MAX_EXPRESSION:
        raise ValueError(f"the expression is longer than {MAX_EXPRESSION:,} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ValueError(f"cannot parse expression {_quote(expression)}") from None
    if _depth(tree.body) > MAX_NESTING:
        raise ValueError(f"the expression is nested more than {MAX_NESTING} deep")
    return tree


def _depth(root: ast.AST) -> int:
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth <= MAX_NESTING:
            stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _eval(node: ast.expr, names: Mapping[str, Any], budget: Budget) -> Any:
    budget.step()
    if isinstance(node, ast.Constant) and isinstance(node.value, _SCALARS):
        return _checked(node.value)
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise ValueError(f"unknown variable {node.id!r}")
        return names[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        left = _scalar(_eval(node.left, names, budget))
        right = _scalar(_eval(node.right, names, budget))
        return _arithmetic(node.op, left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return _guarded(operator.neg, _scalar(_eval(node.operand, names, budget)))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        function = _FUNCTIONS.get(node.func.id)
        if function is not None and not node.keywords:
            args = [_scalar(_eval(arg, names, budget)) for arg in node.args]
            return _call(node.func.id, function, args)
    raise ValueError(_ALLOWED)


def _arithmetic(op: ast.operator, left: Any, right: Any) -> Any:
    """`left op right`, refusing before it is made a result over 64 KiB."""
    if isinstance(op, ast.Mod) and isinstance(left, str):
        raise ValueError("% works on numbers only")  # not printf-style formatting of text
    if isinstance(op, ast.Mult):
        _check_product(left, right)
    elif isinstance(op, ast.Add) and isinstance(left, str) and isinstance(right, str):
        _check_length(len(left) + len(right))
    return _checked(_guarded(_ARITHMETIC[type(op)], left, right))


def _check_product(left: Any, right: Any) -> None:
    text, count = (left, right) if isinstance(left, str) else (right, left)
    if isinstance(text, str):
        if isinstance(count, int) and not isinstance(count, bool) and count > 0:
            _check_length(len(text) * min(count, MAX_TEXT + 1))
    elif (
        isinstance(left, int)
        and isinstance(right, int)
        and _bits(left) + _bits(right) > MAX_INT_BITS
    ):
        raise ValueError(_TOO_LARGE)


def _call(name: str, function: Callable[..., Any], args: list[Any]) -> Any:
    digits = args[1] if name == "round" and len(args) == 2 else 0
    if isinstance(digits, int) and not -308 <= digits <= 308:  # 10**(10**6) is not made
        raise ValueError("round: ndigits must be between -308 and 308")
    return _checked(_guarded(function, *args))


def _guarded(function: Callable[..., Any], *args: Any) -> Any:
    try:
        return function(*args)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
        raise ValueError(str(exc)) from None


def _scalar(value: Any) -> Any:
    if not isinstance(value, _SCALARS):
        kind = "a list" if isinstance(value, list) else type(value).__name__
        if isinstance(value, Mapping):
            kind = "a mapping"
        elif value is None:
            kind = "null"
        raise ValueError(f"only numbers and text can be computed with, not {kind}")
    return value


def _checked(value: Any) -> Any:
    if isinstance(value, str):
        _check_length(len(value))
    elif isinstance(value, int) and _bits(value) > MAX_INT_BITS:
        raise ValueError(_TOO_LARGE)
    return value


def _check_length(length: int) -> None:
    if length > MAX_TEXT:
        raise ValueError(_TOO_LONG)


def _bits(value: int) -> int:
    return abs(value).bit_length()


def _quote(text: str, most: int = 60) -> str:
    """`text` quoted for a message, cut short when long."""
    return repr(text) if len(text) <= most else repr(text[:most]) + "..."


def _tidy(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _substitute_text(node: Node, names: Mapping[str, Any], budget: Budget) -> Any:
    text = node.value
    whole = _REF.fullmatch(text.strip())
    try:
        if whole:
            return _tidy(evaluate(whole.group(1), names, budget))
        return _format(text, names, budget)
    except ValueError as exc:
        node.error(f"in {_quote(text)}: {exc}")
        return text


def _format(text: str, names: Mapping[str, Any], budget: Budget) -> str:
    """`text` with each `${...}` written in; the whole may not grow past 64 KiB."""
    parts, length, end = [], 0, 0
    for match in _REF.finditer(text):
        part = str(_tidy(_scalar(evaluate(match.group(1), names, budget))))
        parts += [text[end : match.start()], part]
        length += match.start() - end + len(part)
        end = match.end()
        if length > MAX_TEXT:
            raise ValueError("the text would be longer than 64 KiB")
    return "".join([*parts, text[end:]])


def substitute(node: Node, names: Mapping[str, Any], budget: Budget | None = None) -> Any:
    """A copy of the tree under `node` with every `${...}` replaced (one `budget` for all)."""
    budget = budget if budget is not None else Budget()
    value = node.value
    if isinstance(value, str):
        return _substitute_text(node, names, budget) if "${" in value else value
    if isinstance(value, list):
        return [substitute(node.child(i), names, budget) for i in range(len(value))]
    if isinstance(value, Mapping):
        return {key: substitute(child, names, budget) for key, child in node.items()}
    return value


def parse_assignment(text: str) -> tuple[str, Any]:
    """`name=value` from `--set` (the value is read as a YAML scalar: 1000, 0.5, true, text)."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise ValueError(f"--set wants NAME=VALUE, not {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return name.strip(), value


def apply_overrides(
    node: Node, assignments: Mapping[str, Any], scale: float | None
) -> dict[str, Any]:
    """The scenario's `vars`, scaled (whole numbers stay whole, at least 1) then overridden."""
    values: dict[str, Any] = {}
    if node.value is not None and node.mapping():
        values = {key: child.value for key, child in node.items()}
    if scale is not None:
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            try:
                scaled = value * scale
                values[key] = max(1, round(scaled)) if isinstance(value, int) else scaled
            except OverflowError:  # a whole number beyond a float's range
                node.child(key).error("too large for --scale")
    for key, value in assignments.items():
        if key not in values:
            node.error(f"--set {key}: the scenario has no variable {key!r}")
        values[key] = value
    return values
