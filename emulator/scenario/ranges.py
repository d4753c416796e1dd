"""Number ranges in scenario lists: `"+15557770101..+15557770110"` stands for every number from
the first to the last, inclusive. Both ends are phone numbers of the same length (so the range
never changes how many digits a number has), the first is not after the last, and a range holds
at most `MAX_RANGE` numbers.
"""

from __future__ import annotations

from emulator.api.dialects import normalise_number
from emulator.scenario.schema import Node

__all__ = ["MAX_RANGE", "expand_range", "is_range", "range_numbers"]

MAX_RANGE = 1_000_000
_SEPARATOR = ".."


def is_range(value: object) -> bool:
    return isinstance(value, str) and _SEPARATOR in value


def expand_range(text: str) -> tuple[str, ...]:
    """Every number of the range `text`, in order; ValueError says what is wrong with it."""
    parts = text.split(_SEPARATOR)
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise ValueError(f"{text!r} is not a range: write FIRST..LAST, e.g. +15550100..+15550199")
    first, last = (normalise_number(p.strip()) for p in parts)
    for end, given in ((first, parts[0]), (last, parts[1])):
        if end is None:
            raise ValueError(f"range {text!r}: {given.strip()!r} is not a phone number")
    assert first is not None and last is not None
    if len(first) != len(last):
        raise ValueError(f"range {text!r}: both ends must have the same length ({first}, {last})")
    plus = "+" if first.startswith("+") else ""
    low, high = int(first.lstrip("+")), int(last.lstrip("+"))
    if low > high:
        raise ValueError(f"range {text!r}: the first number is after the last")
    size = high - low + 1
    if size > MAX_RANGE:
        raise ValueError(f"range {text!r} holds {size:,} numbers; at most {MAX_RANGE:,} allowed")
    width = len(first) - len(plus)
    return tuple(f"{plus}{n:0{width}d}" for n in range(low, high + 1))


def range_numbers(node: Node) -> tuple[str, ...]:
    """The numbers of the range at `node`; an error on `node` (and none) if it is not one."""
    try:
        return expand_range(str(node.value))
    except ValueError as exc:
        node.error(str(exc))
        return ()
