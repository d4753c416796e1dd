"""What a replay saw: every webhook event, counted as it arrives and, when asked, kept for the
event log, the sequences of some numbers and the HTML timeline.

Log order: virtual time, then within one instant the broadcasts' `initiated` events, the
per-call events and last the completion events (as they arrive: a completion event leaves only
after every per-call event of its broadcast), then the broadcast's order in the script, the
number's position and the order of arrival per number. Arrival is ordered per number (the
emulator delivers one number's events one at a time), so the same seed gives the same bytes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from emulator.replay.match import MISSING, BroadcastInfo, MatchIndex, event_number, read_key
from emulator.scenario.model import MatchExpectation
from emulator.testing.sink import event_name

__all__ = ["TIMELINE_NUMBERS", "EventRecorder", "MatchStats", "Timeline", "parse_ms"]

Payload = dict[str, Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_BROADCAST_INITIATED, _PER_CALL, _COMPLETION = 0, 1, 2
TIMELINE_NUMBERS = 2000  # numbers per broadcast kept in full for the HTML timeline


def parse_ms(stamp: str) -> int:
    """An event's ISO-8601 `timestamp` as ms since the epoch (exact: no float on the way)."""
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - _EPOCH) // _MS


class MatchStats:
    """What the events matching one `event_matches` entry looked like: count, earliest and
    latest time, and (with `distinct`) how many values repeated."""

    __slots__ = ("_seen", "count", "distinct", "earliest", "examples", "latest", "repeated")

    def __init__(self, distinct: str | None) -> None:
        self.count = 0
        self.distinct = distinct
        self.earliest: int | None = None
        self.latest: int | None = None
        self.repeated = 0
        self.examples: list[Any] = []  # a few values seen more than once
        self._seen: set[Any] = set()

    def time(self, ms: int) -> None:
        if self.earliest is None or ms < self.earliest:
            self.earliest = ms
        if self.latest is None or ms > self.latest:
            self.latest = ms

    def value(self, value: Any) -> None:
        key = None if value is MISSING else json.dumps(value, sort_keys=True, default=str)
        if key in self._seen:
            self.repeated += 1
            if len(self.examples) < 5 and value not in self.examples:
                self.examples.append(None if value is MISSING else value)
        else:
            self._seen.add(key)

    @property
    def values(self) -> int:
        return len(self._seen)


class Timeline:
    """The raw material of the HTML timeline: each number's events (the first
    `TIMELINE_NUMBERS` of each broadcast) and, for every number, counts per virtual second."""

    def __init__(self, limit: int = TIMELINE_NUMBERS) -> None:
        self.limit = limit
        self.calls: dict[tuple[str, int], list[tuple[int, int, str, Payload]]] = {}
        self.broadcast_events: dict[str, list[tuple[int, str, Payload]]] = {}
        self.per_second: Counter[tuple[str, int, str]] = Counter()

    def add(self, bid: str, position: int, ms: int, arrival: int, name: str, p: Payload) -> None:
        self.per_second[(bid, ms // 1000, name)] += 1
        if position == 0:
            self.broadcast_events.setdefault(bid, []).append((ms, name, p))
        elif position <= self.limit:
            self.calls.setdefault((bid, position), []).append((ms, arrival, name, p))


class EventRecorder:
    """Counts events as they arrive; keeps the log, sequences and timeline only when asked."""

    def __init__(
        self,
        keep_log: bool,
        sequence_numbers: Iterable[str],
        counted: tuple[MatchExpectation, ...],
        keep_timeline: bool = False,
        timeline_numbers: int = TIMELINE_NUMBERS,
    ) -> None:
        self.keep_log = keep_log
        self.broadcasts: dict[str, BroadcastInfo] = {}
        self.by_name: Counter[str] = Counter()
        self.total = 0
        self.stats = [MatchStats(entry.distinct) for entry in counted]
        pairs = zip(counted, self.stats, strict=True)
        self.counted = MatchIndex([(entry.match, (entry, stats)) for entry, stats in pairs])
        self.last_completion_ms: int | None = None  # virtual arrival of the last completion
        self.completions = 0
        self.timeline = Timeline(timeline_numbers) if keep_timeline else None
        self._sequence_numbers = frozenset(sequence_numbers)
        self._sequences: dict[str, list[tuple[Any, ...]]] = {}
        self._arrivals: Counter[tuple[str, str]] = Counter()
        self._log: list[tuple[Any, ...]] = []
        self._ms: dict[str, int] = {}
        self._ordered = keep_log or bool(self._sequence_numbers) or keep_timeline

    def info(self, payload: Payload) -> BroadcastInfo | None:
        bid = payload.get("broadcast_id") or payload.get("app_instance")
        return self.broadcasts.get(str(bid)) if bid is not None else None

    def ms(self, payload: Payload) -> int:
        """The virtual ms of an event's `timestamp` (cached: events share instants)."""
        stamp = str(payload.get("timestamp", ""))
        found = self._ms.get(stamp)
        if found is None:
            if len(self._ms) > 100_000:
                self._ms.clear()
            found = self._ms[stamp] = parse_ms(stamp) if stamp else 0
        return found

    def add(self, path: str, payload: Payload, now_ms: int | None = None) -> BroadcastInfo | None:
        """Count (and keep, if asked) one event that arrived at virtual `now_ms`; returns the
        info of its broadcast, for the reactions."""
        self.total += 1
        name = event_name(payload)
        self.by_name[name] += 1
        info = self.info(payload)
        for matches, (entry, stats) in self.counted.candidates(payload):
            if matches(payload, info):
                self._matched(stats, entry, payload, info)
        per_call = payload.get("voice_id") is not None
        if not per_call and name != "initiated":
            self.completions += 1
            self.last_completion_ms = now_ms
        if self._ordered:
            self._keep(path, payload, info, name, per_call)
        return info

    def _matched(
        self, stats: MatchStats, entry: MatchExpectation, payload: Payload, info: Any
    ) -> None:
        stats.count += 1
        if entry.timed:
            stats.time(self.ms(payload))
        if entry.distinct is not None:
            stats.value(read_key(entry.distinct, payload, info))

    def _keep(
        self, path: str, payload: Payload, info: BroadcastInfo | None, name: str, per_call: bool
    ) -> None:
        bid = str(payload.get("broadcast_id") or payload.get("app_instance"))
        number = event_number(payload) if per_call else None
        position = info.positions.get(number or "", 0) if info is not None and number else 0
        rank = _PER_CALL if per_call else _COMPLETION
        if not per_call and name == "initiated":
            rank = _BROADCAST_INITIATED
        channel = (bid, number or "")
        arrival = self._arrivals[channel]
        self._arrivals[channel] = arrival + 1
        stamp = str(payload.get("timestamp", ""))
        key = (stamp, rank, info.order if info is not None else -1, position, arrival)
        if number in self._sequence_numbers:
            self._sequences.setdefault(number, []).append((*key, name))
        if self.keep_log:
            record = {"url": path, "event": name, "number": number, "payload": payload}
            self._log.append((*key, json.dumps(record, sort_keys=True, separators=(",", ":"))))
        if self.timeline is not None:
            self.timeline.add(bid, position, self.ms(payload), arrival, name, payload)

    def sequence(self, number: str) -> list[str]:
        """Event names of every call to `number`, in order (by attempt, then per channel)."""
        return [row[-1] for row in sorted(self._sequences.get(number, []))]

    def log_lines(self) -> list[str]:
        return [row[-1] for row in sorted(self._log)]
