"""Callee behaviour: what happens when a number is dialled (scenario rules, then magic numbers)."""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "AttemptPlan",
    "Behaviour",
    "BridgePlan",
    "MagicNumbers",
    "NextAttempts",
    "Outcome",
    "Timings",
    "tts_seconds",
]


class Outcome(enum.StrEnum):
    HUMAN = "human"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    MACHINE = "machine"
    INVALID = "invalid"
    INTERACTIVE = "interactive"  # a person at the console answers, presses and hangs up


@dataclass(frozen=True, slots=True)
class Timings:
    """Default durations in whole virtual seconds (CONTRACT §5); scenarios may change them."""

    ring_s: int = 3
    busy_s: int = 1
    no_answer_s: int = 30
    amd_s: int = 2
    words_per_minute: float = 150.0
    prompt_s: int = 5
    menu_timeout_s: int = 10
    press_after_s: int = 1
    patience_s: int = 10
    bridge_ring_s: int = 3
    bridge_talk_s: int = 60


@dataclass(frozen=True, slots=True)
class AttemptPlan:
    """What the callee does on one attempt."""

    outcome: Outcome
    ring_s: int
    menu_digits: tuple[str | None, ...] = ()  # digits pressed at the n-th menu; the last repeats
    press_after_s: int = 1
    patience_s: int = 10
    hangup_after_s: int | None = None  # hangs up this long after answering, whatever happens

    def digits_at(self, menu: int) -> str | None:
        """Digits pressed at the `menu`-th menu (0-based) of the call, or None."""
        if not self.menu_digits:
            return None
        return self.menu_digits[min(menu, len(self.menu_digits) - 1)]


@dataclass(frozen=True, slots=True)
class BridgePlan:
    """What a bridge target does: answer after `ring_s`, then talk `talk_s`; or fail."""

    answers: bool
    ring_s: int
    talk_s: int
    reason: str = ""


class Behaviour(Protocol):
    """Decides each attempt. Draws come from (seed, broadcast, number index, attempt) only."""

    def plan(self, broadcast_id: str, index: int, number: str, attempt: int) -> AttemptPlan: ...

    def bridge(self, number: str, key: str = "") -> BridgePlan:
        """What bridge target `number` does; `key` (the bridge id) seeds any random draw."""
        ...

    def prompt_seconds(self, prompt_name: str) -> int | None: ...


_MAGIC: dict[str, Outcome] = {
    "0001": Outcome.BUSY,
    "0002": Outcome.NO_ANSWER,
    "0003": Outcome.MACHINE,
    "0004": Outcome.INVALID,
    "0009": Outcome.INTERACTIVE,
}
_UNSET_PROMPTS = frozenset({"", "undefined", "null"})
_BRIDGE_FAILS = {"0001": "busy", "0002": "no-answer", "0004": "invalid"}


class MagicNumbers:
    """The default world: the last four digits of a number decide (CONTRACT §5)."""

    def __init__(self, timings: Timings | None = None) -> None:
        self.timings = timings or Timings()
        # a handful of distinct plans, shared by every leg (frozen): one each was 80 bytes a leg
        self._plans: dict[tuple[Outcome, bool], AttemptPlan] = {}
        self._plans_for = self.timings

    def plan(self, broadcast_id: str, index: int, number: str, attempt: int) -> AttemptPlan:
        t = self.timings
        tail = number[-4:]
        outcome = _MAGIC.get(tail, Outcome.HUMAN)
        if tail == "0005":
            outcome = Outcome.BUSY if attempt == 1 else Outcome.HUMAN
        if t is not self._plans_for:  # timings replaced: plans made with the old ones go
            self._plans, self._plans_for = {}, t
        key = (outcome, tail == "0006")
        plan = self._plans.get(key)
        if plan is None:
            digits: tuple[str | None, ...] = ("1",) if key[1] else ()
            plan = AttemptPlan(outcome, t.ring_s, digits, t.press_after_s, t.patience_s)
            self._plans[key] = plan
        return plan

    def bridge(self, number: str, key: str = "") -> BridgePlan:
        t = self.timings
        reason = _BRIDGE_FAILS.get(number[-4:], "")
        return BridgePlan(not reason, t.bridge_ring_s, t.bridge_talk_s, reason)

    def prompt_seconds(self, prompt_name: str) -> int | None:
        """Every named prompt exists except an empty or unset name ("undefined", "null") and
        names starting with "missing", which end in `failederror`."""
        name = prompt_name.strip().lower()
        if name in _UNSET_PROMPTS or name.startswith("missing"):
            return None
        return self.timings.prompt_s


class NextAttempts:
    """What the next attempt of a number does, set by a person (`PUT /_emulator/numbers/{n}/next`):
    used once, by the next attempt of that number in any broadcast, then forgotten."""

    def __init__(self) -> None:
        self._next: dict[str, tuple[Outcome, tuple[str | None, ...] | None]] = {}

    def __bool__(self) -> bool:
        return bool(self._next)

    @staticmethod
    def key(number: str) -> str:
        return number.lstrip("+")

    def set(self, number: str, outcome: Outcome, digits: tuple[str | None, ...] | None) -> None:
        self._next[self.key(number)] = (outcome, digits)

    def get(self, number: str) -> tuple[Outcome, tuple[str | None, ...] | None] | None:
        return self._next.get(self.key(number))

    def forget(self, number: str) -> bool:
        return self._next.pop(self.key(number), None) is not None

    def take(self, number: str, plan: AttemptPlan) -> AttemptPlan:
        """`plan` changed as a person asked for this number's next attempt (once)."""
        found = self._next.pop(self.key(number), None)
        if found is None:
            return plan
        outcome, digits = found
        digits = plan.menu_digits if digits is None else digits
        return dataclasses.replace(plan, outcome=outcome, menu_digits=digits)

    def clear(self) -> None:
        self._next.clear()


def tts_seconds(text: str, words_per_minute: float) -> int:
    """Whole seconds a TTS prompt lasts: words at `words_per_minute`, at least one second."""
    words = len(text.split())
    return max(1, math.ceil(words * 60.0 / max(words_per_minute, 1.0)))
