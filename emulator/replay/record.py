"""What a replay saw: every webhook event, counted and (when asked) kept for the event log.

The log is ordered by (virtual time, broadcast, number position, channel, arrival within the
channel). Arrival is ordered per channel, so the same seed gives the same bytes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from emulator.scenario.model import EventMatch
from emulator.testing.sink import event_name

__all__ = ["BroadcastInfo", "EventRecorder", "event_number", "matches"]


def event_number(payload: dict[str, Any]) -> str | None:
    number = payload.get("dialed_number") or payload.get("to")
    return str(number) if number is not None else None


@dataclass(slots=True)
class BroadcastInfo:
    """A broadcast the script created: its name, order and the position of each number."""

    name: str
    order: int
    positions: dict[str, int] = field(default_factory=dict)  # number -> 1-based position


def matches(match: EventMatch, payload: dict[str, Any], info: BroadcastInfo | None) -> bool:
    name = event_name(payload)
    if match.event is not None and name != match.event:
        return False
    for key in ("state", "playstate", "prompt_ref"):
        wanted = getattr(match, key)
        if wanted is not None and str(payload.get(key)) != wanted:
            return False
    if match.digit is not None:
        digit = payload.get("digit", payload.get("digits"))
        if digit is None or str(digit) != match.digit:
            return False
    if match.attempt is not None and payload.get("attempt") != match.attempt:
        return False
    number = event_number(payload)
    if match.number is not None and number != match.number:
        return False
    if match.broadcast is not None and (info is None or info.name != match.broadcast):
        return False
    if match.every is not None:
        position = info.positions.get(number or "", 0) if info is not None else 0
        if position == 0 or position % match.every:
            return False
    return True


class EventRecorder:
    """Counts events as they arrive; keeps the log and per-number sequences only when needed."""

    def __init__(
        self,
        keep_log: bool,
        sequence_numbers: Iterable[str],
        counted: tuple[EventMatch, ...],
    ) -> None:
        self.keep_log = keep_log
        self.broadcasts: dict[str, BroadcastInfo] = {}
        self.by_name: Counter[str] = Counter()
        self.total = 0
        self.counted = counted
        self.match_counts = [0] * len(counted)
        self._sequence_numbers = frozenset(sequence_numbers)
        self._sequences: dict[str, list[tuple[Any, ...]]] = {}
        self._arrivals: Counter[str] = Counter()
        self._log: list[tuple[Any, ...]] = []

    def info(self, payload: dict[str, Any]) -> BroadcastInfo | None:
        bid = payload.get("broadcast_id") or payload.get("app_instance")
        return self.broadcasts.get(str(bid)) if bid is not None else None

    def add(self, path: str, payload: dict[str, Any]) -> BroadcastInfo | None:
        """Count (and keep, if asked) one event; the info of its broadcast, for the reactions."""
        self.total += 1
        name = event_name(payload)
        self.by_name[name] += 1
        info = self.info(payload)
        voice_id = payload.get("voice_id")
        for i, match in enumerate(self.counted):
            if matches(match, payload, info):
                self.match_counts[i] += 1
        if not self.keep_log and not self._sequence_numbers:
            return info
        channel = str(voice_id) if voice_id is not None else "b:" + str(payload.get("broadcast_id"))
        arrival = self._arrivals[channel]
        self._arrivals[channel] += 1
        number = event_number(payload) if voice_id is not None else None
        position = info.positions.get(number or "", 0) if info is not None and number else 0
        key = (
            str(payload.get("timestamp", "")),
            info.order if info is not None else -1,
            position,
            channel,
            arrival,
        )
        if number in self._sequence_numbers:
            self._sequences.setdefault(number, []).append((*key, name))
        if self.keep_log:
            record = {"url": path, "event": name, "number": number, "payload": payload}
            self._log.append((*key, json.dumps(record, sort_keys=True, separators=(",", ":"))))
        return info

    def sequence(self, number: str) -> list[str]:
        """Event names of every call to `number`, in order (by attempt, then per channel)."""
        return [row[-1] for row in sorted(self._sequences.get(number, []))]

    def log_lines(self) -> list[str]:
        return [row[-1] for row in sorted(self._log)]
