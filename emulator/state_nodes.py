"""The small declarative validator the state file's schema is written in (`state_schema.py`).

A schema is a tree of nodes (`Obj`, `Arr`, `Str`, `Int`, ...). An `Obj` lists every key it holds
(none may be missing, none added) and may carry rules: checks across its fields that run once the
fields are known to be well typed, so a rule reads plain values. `check` raises `Invalid` at the
first thing out of place, with a path like `projects[1].broadcasts[0].legs[3].state`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "Arr",
    "Bool",
    "Const",
    "Int",
    "Invalid",
    "Json",
    "Node",
    "Num",
    "Obj",
    "Opt",
    "Problem",
    "Rule",
    "Str",
    "Url",
    "check_object",
    "format_path",
    "kind",
    "loads",
    "shown",
]

Problem = tuple[tuple[str | int, ...], str]  # (path below the object, what is wrong)
Rule = Callable[[Mapping[str, Any]], Iterator[Problem]]


class Invalid(ValueError):
    """The first thing in the file that is not what the emulator writes. Raised where it is
    found; each container it passes through on the way up puts its key in front of `parts`
    (`under`), so the happy path never builds a path."""

    def __init__(self, problem: str, below: Sequence[str | int] = ()) -> None:
        super().__init__(problem)
        self.problem = problem
        self.parts = list(below)

    def under(self, part: str | int) -> Invalid:
        self.parts.insert(0, part)
        return self

    @property
    def path(self) -> str:
        return format_path(self.parts)

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def format_path(parts: Iterable[str | int]) -> str:
    """`projects[1].broadcasts[0].state`; a key that is not a plain name is quoted (escaped:
    the path stays one printable line whatever the file holds)."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _NAME.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += "[" + json.dumps(part if len(part) <= 60 else part[:57] + "...") + "]"
    return out or "(top level)"


class _Repeated(dict[str, Any]):
    """A JSON object in which a key appears twice (`json.loads` would keep the last silently)."""

    __slots__ = ("key",)
    key: str


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) == len(pairs):
        return found
    repeated = _Repeated(found)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            repeated.key = key
            break
        seen.add(key)
    return repeated


def loads(text: str) -> Any:
    """JSON as the state file holds it. A repeated key is kept as an error for the schema to
    report with its path, and so are NaN and Infinity (which JSON does not have: json.loads
    reads them as floats, and every node refuses a number that is not finite).
    ValueError (JSONDecodeError) or RecursionError."""
    return json.loads(text, object_pairs_hook=_object)


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return "an integer" if isinstance(value, int) else "a number"


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _utf8(text: str) -> None:
    """Invalid if `text` cannot be written as UTF-8 (a lone surrogate from a `\\ud800` escape)."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise Invalid("holds a lone surrogate (\\ud800-\\udfff): not UTF-8 text") from None


# -- nodes ----------------------------------------------------------------------------------
class Node:
    """One place in the file: `check` raises `Invalid` if `value` does not fit."""

    what = "a value"

    def check(self, value: Any) -> None:
        raise NotImplementedError

    def fail(self, value: Any) -> Invalid:
        return Invalid(f"must be {self.what}, not {kind(value)}")


@dataclass(frozen=True, slots=True)
class Int(Node):
    """An integer in `low`-`high` (None: no bound on that side)."""

    low: int | None = None
    high: int | None = None
    what = "an integer"

    def check(self, value: Any) -> None:
        if type(value) is not int:
            raise self.fail(value)
        if (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        ):
            raise Invalid(f"must be between {self.low} and {self.high}, not {shown(value)}")


@dataclass(frozen=True, slots=True)
class Num(Node):
    low: float
    high: float
    above_low: bool = False  # the low end itself is not allowed
    what = "a number"

    def check(self, value: Any) -> None:
        if type(value) is not float and type(value) is not int:
            raise self.fail(value)
        if not math.isfinite(value):
            raise Invalid(f"must be a finite number, not {value!r}")
        if not self.low <= value <= self.high:
            raise Invalid(f"must be between {self.low:g} and {self.high:g}, not {value!r}")
        if self.above_low and value == self.low:
            raise Invalid(f"must be greater than {self.low:g}")


class Bool(Node):
    what = "true or false"

    def check(self, value: Any) -> None:
        if type(value) is not bool:
            raise self.fail(value)


@dataclass(frozen=True, slots=True)
class Str(Node):
    """A string: valid UTF-8 text, `min_len`-`max_len` characters, one of `choices` if given,
    matching `pattern`, accepted by `parse` (which raises ValueError)."""

    max_len: int | None = None
    choices: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    parse: Callable[[str], Any] | None = None
    min_len: int = 0
    what = "a string"

    def check(self, value: Any) -> None:
        if type(value) is not str:
            raise self.fail(value)
        _utf8(value)
        if self.choices and value not in self.choices:
            allowed = ", ".join(repr(c) for c in self.choices)
            raise Invalid(f"must be one of {allowed}, not {shown(value)}")
        if len(value) < self.min_len or (self.max_len is not None and len(value) > self.max_len):
            raise Invalid(f"must be {self.min_len}-{self.max_len} characters long")
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise Invalid(f"{shown(value)} is not {self.pattern.pattern!r}")
        if self.parse is not None:
            try:
                self.parse(value)
            except ValueError as exc:
                raise Invalid(f"{shown(value)}: {exc}") from None


class Url(Node):
    """An http:// or https:// URL string with a host (and a port in 1-65535, if any)."""

    what = "an http:// or https:// URL string"
    _text = Str(max_len=8192)

    def check(self, value: Any) -> None:
        if type(value) is not str:
            raise self.fail(value)
        self._text.check(value)
        try:
            parts = urlsplit(value.strip())
            port = parts.port
        except ValueError:
            parts, port = None, None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise Invalid(f"must be an http:// or https:// URL, not {shown(value)}")
        if port is not None and not 1 <= port <= 65535:
            raise Invalid(f"port {port} is not in 1-65535")


@dataclass(frozen=True, slots=True)
class Const(Node):
    value: object

    def check(self, value: Any) -> None:
        if type(value) is not type(self.value) or value != self.value:
            raise Invalid(f"must be {json.dumps(self.value)}, not {shown(value)}")


@dataclass(frozen=True, slots=True)
class Opt(Node):
    """`node`, or null."""

    node: Node

    def check(self, value: Any) -> None:
        if value is not None:
            self.node.check(value)


@dataclass(frozen=True, slots=True)
class Arr(Node):
    item: Node
    min_len: int = 0
    what = "an array"

    def check(self, value: Any) -> None:
        if type(value) is not list:
            raise self.fail(value)
        if len(value) < self.min_len:
            raise Invalid(f"must hold at least {self.min_len} (it holds {len(value)})")
        check, index = self.item.check, 0
        try:
            for index, item in enumerate(value):  # noqa: B007  (the index of a failure)
                check(item)
        except Invalid as exc:
            raise exc.under(index) from None


def check_object(value: Any, what: str) -> None:
    if type(value) is _Repeated:
        raise Invalid("appears twice in its object", [value.key])
    if type(value) is not dict:
        raise Invalid(f"must be {what}, not {kind(value)}")


@dataclass(frozen=True, slots=True)
class Obj(Node):
    """An object with every key of `fields`, maybe some of `optional` (written only when they
    hold something), and no other; then each rule, which may trust the fields' types."""

    fields: Mapping[str, Node]
    rules: tuple[Rule, ...] = ()
    optional: Mapping[str, Node] | None = None
    what = "an object"

    def check(self, value: Any) -> None:
        check_object(value, self.what)
        fields = self.fields
        if len(value) != len(fields) or value.keys() != fields.keys():
            self._keys(value)
        key = ""
        try:
            for key, node in fields.items():
                node.check(value[key])
            for key, node in (self.optional or {}).items():
                if key in value:
                    node.check(value[key])
        except Invalid as exc:
            raise exc.under(key) from None
        for rule in self.rules:
            for below, problem in rule(value):
                raise Invalid(problem, below)

    def _keys(self, value: Mapping[str, Any]) -> None:
        optional = self.optional or {}
        for key in value:
            if key not in self.fields and key not in optional:
                raise Invalid("unknown key", [key])
        for key in self.fields:
            if key not in value:
                raise Invalid("missing", [key])


@dataclass(frozen=True, slots=True)
class Json(Node):
    """Any JSON value the API accepted (custom_data, webhook payloads): finite numbers, UTF-8
    strings, objects and arrays nested at most `max_depth` levels; `objects_only` for a
    webhook payload."""

    max_depth: int = 64
    objects_only: bool = False

    def check(self, value: Any) -> None:
        if self.objects_only:
            check_object(value, "an object")
        _json(value, 0, self.max_depth)


def _json(value: Any, depth: int, max_depth: int) -> None:
    kind_ = type(value)
    if kind_ is str:
        _utf8(value)
    elif kind_ is dict or kind_ is list or kind_ is _Repeated:
        if depth >= max_depth:
            raise Invalid(f"nested deeper than {max_depth} levels")
        if kind_ is _Repeated:
            check_object(value, "an object")
        items = enumerate(value) if kind_ is list else value.items()
        key: str | int = ""
        try:
            for key, item in items:
                if type(key) is str:
                    _utf8(key)
                if type(item) is not int and item is not None and type(item) is not bool:
                    _json(item, depth + 1, max_depth)
        except Invalid as exc:
            raise exc.under(key) from None
    elif kind_ is float:
        if not math.isfinite(value):
            raise Invalid("must be a finite number")
    elif value is not None and kind_ is not bool and kind_ is not int:
        raise Invalid(f"is not JSON ({kind_.__name__})")
