"""Scenario validation: typed reads of a loaded YAML/JSON tree that name the path of every error.

Errors are data: each `Issue` carries the path inside the file (`rules[2].attempts[0]`) and a
message; `ScenarioError` carries the file and every issue found, and renders them as
`scenarios/x.yaml: rules[2].attempts[0]: unknown outcome "bussy"`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["SCHEMA_VERSION", "Issue", "Node", "ScenarioError", "Tracker", "json_schema"]

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Issue:
    path: str
    message: str

    def render(self, source: str) -> str:
        where = f"{source}: " if source else ""
        return f"{where}{self.path}: {self.message}" if self.path else f"{where}{self.message}"


class ScenarioError(ValueError):
    """A scenario that cannot be used; `str()` lists every issue, one per line."""

    def __init__(self, source: str, issues: list[Issue]) -> None:
        self.source = source
        self.issues = issues
        super().__init__("\n".join(issue.render(source) for issue in issues))


class Tracker:
    """Collects issues while a tree is read, so one pass reports every error at once."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def add(self, path: str, message: str) -> None:
        self.issues.append(Issue(path, message))


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


class Node:
    """A value in the tree and its path. Readers return a default and record an issue on error."""

    __slots__ = ("path", "tracker", "value")

    def __init__(self, value: Any, path: str, tracker: Tracker) -> None:
        self.value = value
        self.path = path
        self.tracker = tracker

    def error(self, message: str) -> None:
        self.tracker.add(self.path, message)

    # -- structure ---------------------------------------------------------------------
    def mapping(self, allowed: tuple[str, ...] | None = None, numeric_keys: bool = False) -> bool:
        """True when the value is a mapping with string keys (all in `allowed`, if given).

        `numeric_keys` also accepts whole-number keys (YAML reads an unquoted phone number so).
        """
        if not isinstance(self.value, Mapping):
            self.error(f"must be a mapping, not {_kind(self.value)}")
            return False
        ok = True
        for key in self.value:
            if numeric_keys and isinstance(key, int) and not isinstance(key, bool):
                continue
            if not isinstance(key, str):
                self.error(f"keys must be strings, not {key!r}")
                ok = False
            elif allowed is not None and key not in allowed:
                self.tracker.add(
                    _join(self.path, key), f"unknown key; expected one of {', '.join(allowed)}"
                )
                ok = False
        return ok

    def get(self, key: str) -> Node | None:
        if not isinstance(self.value, Mapping) or key not in self.value:
            return None
        return Node(self.value[key], _join(self.path, key), self.tracker)

    def child(self, key: str | int) -> Node:
        return Node(self.value[key], _join(self.path, key), self.tracker)

    def items(self) -> Iterator[tuple[str, Node]]:
        if isinstance(self.value, Mapping):
            for key in self.value:
                yield str(key), Node(self.value[key], _join(self.path, str(key)), self.tracker)

    def elements(self) -> Iterator[Node]:
        if not isinstance(self.value, list):
            self.error(f"must be a list, not {_kind(self.value)}")
            return
        for index, value in enumerate(self.value):
            yield Node(value, _join(self.path, index), self.tracker)

    # -- scalars -----------------------------------------------------------------------
    def text(self, default: str = "") -> str:
        if isinstance(self.value, str):
            return self.value
        if isinstance(self.value, (int, float)) and not isinstance(self.value, bool):
            return str(self.value)
        self.error(f"must be a string, not {_kind(self.value)}")
        return default

    def integer(self, default: int = 0, minimum: int | None = 0) -> int:
        value = self.value
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(f"must be a whole number, not {_kind(self.value)}")
            return default
        if minimum is not None and value < minimum:
            self.error(f"must be >= {minimum}")
            return default
        return value

    def number(self, default: float = 0.0, minimum: float | None = 0.0) -> float:
        value = self.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.error(f"must be a number, not {_kind(value)}")
            return default
        if minimum is not None and value < minimum:
            self.error(f"must be >= {minimum:g}")
            return default
        return float(value)

    def boolean(self, default: bool = False) -> bool:
        if isinstance(self.value, bool):
            return self.value
        self.error(f"must be true or false, not {_kind(self.value)}")
        return default

    def choice(self, options: tuple[str, ...], what: str) -> str | None:
        if isinstance(self.value, str) and self.value in options:
            return self.value
        shown = json.dumps(self.value) if isinstance(self.value, str) else _kind(self.value)
        self.error(f"unknown {what} {shown}; expected one of {', '.join(options)}")
        return None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of scenario files (version 1), shipped as `scenario.schema.json`."""
    text = resources.files("emulator.scenario").joinpath("scenario.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
