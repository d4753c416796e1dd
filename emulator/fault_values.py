"""The scalar readers of the fault grammar (emulator.fault_specs): each checks one value of a
fault and names its key in the error."""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "OLD_WINDOW",
    "FaultSpecError",
    "read_flag",
    "read_number",
    "read_regex",
    "read_status",
    "read_times",
    "read_window",
]

OLD_WINDOW = ("from_s", "until_s")


class FaultSpecError(argparse.ArgumentTypeError, ValueError):
    """A fault that cannot be built; the message names the key (argparse shows it for flags)."""


def read_number(value: Any, key: str, low: float = 0.0, high: float = 10.0**9) -> float:
    if isinstance(value, bool):
        raise FaultSpecError(f"{key} must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FaultSpecError(f"{key} must be a number, not {value!r}") from None
    if not low <= number <= high:
        raise FaultSpecError(f"{key} must be between {low:g} and {high:g}")
    return number


def read_status(value: Any, key: str = "status") -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FaultSpecError(f"{key} must be an HTTP status")
    try:
        status = int(value)
    except ValueError:
        raise FaultSpecError(f"{key} must be an HTTP status, not {value!r}") from None
    if not 100 <= status <= 599:
        raise FaultSpecError(f"{key} must be between 100 and 599")
    return status


def read_regex(value: Any, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise FaultSpecError(f"{key} must be a string")
    try:
        re.compile(value)
    except re.error as exc:
        raise FaultSpecError(f"{key}: bad regular expression: {exc}") from None
    return value


def read_flag(value: Any, key: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise FaultSpecError(f"{key} must be true or false")
    return value


def read_times(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FaultSpecError("times must be a whole number >= 0")
    return value


def read_window(spec: Mapping[str, Any]) -> tuple[float, float | None]:
    """(after_s, for_s), from `after_s` / `for_s` or the older `from_s` / `until_s`."""
    old = [k for k in OLD_WINDOW if spec.get(k) is not None]
    new = [k for k in ("after_s", "for_s") if spec.get(k) is not None]
    if old and new:
        raise FaultSpecError(f"give the window as after_s/for_s, not both {new[0]} and {old[0]}")
    if old:
        start = read_number(spec.get("from_s", 0), "from_s")
        if spec.get("until_s") is None:
            return start, None
        end = read_number(spec["until_s"], "until_s")
        if end < start:
            raise FaultSpecError("until_s must not be before from_s")
        return start, end - start
    after = read_number(spec.get("after_s", 0), "after_s")
    length = None if spec.get("for_s") is None else read_number(spec["for_s"], "for_s")
    return after, length
