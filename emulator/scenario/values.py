"""Scenario variables: `vars` with overrides (`--set`, `--scale`) and `${expr}` substitution.

An expression is arithmetic over numbers and variable names (`${count // 10}`); a string that is
exactly one `${...}` becomes the value itself (a number stays a number), otherwise it is formatted
into the text.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from emulator.scenario.schema import Node

__all__ = ["apply_overrides", "evaluate", "parse_assignment", "substitute"]

_REF = re.compile(r"\$\{([^}]*)\}")
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {"min": min, "max": max, "round": round, "int": int}


def evaluate(expression: str, names: Mapping[str, Any]) -> Any:
    """Evaluate an arithmetic expression over `names`; ValueError explains what is wrong."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ValueError(f"cannot parse expression {expression!r}") from None
    return _eval(tree.body, names)


def _eval(node: ast.expr, names: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise ValueError(f"unknown variable {node.id!r}")
        return names[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        try:
            return _BINARY[type(node.op)](_eval(node.left, names), _eval(node.right, names))
        except (TypeError, ZeroDivisionError) as exc:
            raise ValueError(str(exc)) from None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand, names)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        function = _FUNCTIONS.get(node.func.id)
        if function is not None and not node.keywords:
            return function(*(_eval(arg, names) for arg in node.args))
    raise ValueError("only numbers, variables, + - * / // %, min, max, round and int are allowed")


def _tidy(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _substitute_text(node: Node, names: Mapping[str, Any]) -> Any:
    text = node.value
    whole = _REF.fullmatch(text.strip())
    try:
        if whole:
            return _tidy(evaluate(whole.group(1), names))
        return _REF.sub(lambda m: str(_tidy(evaluate(m.group(1), names))), text)
    except ValueError as exc:
        node.error(f"in {text!r}: {exc}")
        return text


def substitute(node: Node, names: Mapping[str, Any]) -> Any:
    """A copy of the tree under `node` with every `${...}` replaced."""
    value = node.value
    if isinstance(value, str):
        return _substitute_text(node, names) if "${" in value else value
    if isinstance(value, list):
        return [substitute(node.child(i), names) for i in range(len(value))]
    if isinstance(value, Mapping):
        return {key: substitute(child, names) for key, child in node.items()}
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
            scaled = value * scale
            values[key] = max(1, round(scaled)) if isinstance(value, int) else scaled
    for key, value in assignments.items():
        if key not in values:
            node.error(f"--set {key}: the scenario has no variable {key!r}")
        values[key] = value
    return values
