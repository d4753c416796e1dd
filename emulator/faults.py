"""Fault injection: scripted failures of webhook deliveries and API routes, counted or windowed.

Faults come from scenarios, flags and the control plane; each one matches by URL or route, fires
for a number of times or inside a window of virtual time (optionally only with a probability,
drawn from a generator seeded with the emulator's seed and the fault's id, so runs repeat), and
every firing is logged in a bounded log.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["ApiFault", "FaultBook", "WebhookFault", "real_delay"]

FIRED_LOG_SIZE = 10_000


@dataclass(slots=True)
class _Budget:
    """How often a fault may fire: `times` firings (None = unlimited) inside [start_ms, end_ms)."""

    times: int | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    fired: int = 0

    def open(self, now_ms: int) -> bool:
        if self.start_ms is not None and now_ms < self.start_ms:
            return False
        if self.end_ms is not None and now_ms >= self.end_ms:
            return False
        return self.times is None or self.fired < self.times

    def take(self, now_ms: int) -> bool:
        if not self.open(now_ms):
            return False
        self.fired += 1
        return True

    def as_json(self) -> dict[str, Any]:
        return {
            "times": self.times,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "fired": self.fired,
        }


@dataclass(slots=True)
class WebhookFault:
    """Deliveries to URLs matching `url` (regex search; None = all) are answered `status`,
    time out, fail to connect, or are delayed `delay_s` real seconds before being sent normally."""

    url: str | None = None
    status: int | None = None
    timeout: bool = False
    delay_s: float = 0.0
    budget: _Budget = field(default_factory=_Budget)
    refuse: bool = False  # fail as a connection error, as a receiver that is down
    probability: float = 1.0
    id: int = 0

    def matches(self, url: str) -> bool:
        return self.url is None or re.search(self.url, url) is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": "webhook",
            "url": self.url,
            "status": self.status,
            "timeout": self.timeout,
            "refuse": self.refuse,
            "delay_s": self.delay_s,
            "probability": self.probability,
            **self.budget.as_json(),
        }


@dataclass(slots=True)
class ApiFault:
    """API requests whose method and path match are answered `status` (with `Retry-After`
    for 429/503 when `retry_after_s` is set) or delayed `delay_s` real seconds."""

    path: str | None = None  # regex searched in the request path; None = every API route
    method: str | None = None
    status: int | None = None
    retry_after_s: int | None = None
    delay_s: float = 0.0
    budget: _Budget = field(default_factory=_Budget)
    probability: float = 1.0
    id: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or re.search(self.path, path) is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": "api",
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "retry_after_s": self.retry_after_s,
            "delay_s": self.delay_s,
            "probability": self.probability,
            **self.budget.as_json(),
        }


_F = TypeVar("_F", "ApiFault", "WebhookFault")


class FaultBook:
    """All active faults of one emulator, and the bounded log of every firing."""

    def __init__(self, seed: int = 0, fired_size: int = FIRED_LOG_SIZE) -> None:
        self.seed = seed
        self.webhook: list[WebhookFault] = []
        self.api: list[ApiFault] = []
        self.fired: deque[dict[str, Any]] = deque(maxlen=max(1, fired_size))
        self.fired_total = 0
        self._next_id = 0
        self._rngs: dict[int, random.Random] = {}

    @staticmethod
    def budget(
        times: int | None = None, start_ms: int | None = None, end_ms: int | None = None
    ) -> _Budget:
        return _Budget(times, start_ms, end_ms)

    @property
    def fired_dropped(self) -> int:
        return self.fired_total - len(self.fired)

    def add(self, fault: WebhookFault | ApiFault) -> int:
        """Register a fault (after the ones already there); returns its id."""
        self._next_id += 1
        fault.id = self._next_id
        if isinstance(fault, WebhookFault):
            self.webhook.append(fault)
        else:
            self.api.append(fault)
        return fault.id

    def _assign_ids(self) -> None:
        """Faults appended to the public lists directly (not by `add`) get an id when seen."""
        faults: list[ApiFault | WebhookFault] = [*self.api, *self.webhook]
        for fault in faults:
            if fault.id == 0:
                self._next_id += 1
                fault.id = self._next_id

    def remove(self, fault_id: int) -> bool:
        self._assign_ids()
        before = len(self.webhook) + len(self.api)
        self.webhook = [f for f in self.webhook if f.id != fault_id]
        self.api = [f for f in self.api if f.id != fault_id]
        return len(self.webhook) + len(self.api) < before

    def _lucky(self, fault: WebhookFault | ApiFault) -> bool:
        if fault.probability >= 1.0:
            return True
        self._assign_ids()
        # by fault id, never by id(): a removed fault's address may be reused by a new one
        rng = self._rngs.get(fault.id)
        if rng is None:
            kind = "webhook" if isinstance(fault, WebhookFault) else "api"
            rng = self._rngs[fault.id] = random.Random(f"{self.seed}|fault|{kind}|{fault.id}")
        return rng.random() < fault.probability

    def webhook_fault(self, url: str, now_ms: int) -> WebhookFault | None:
        if not self.webhook:  # asked once per delivery attempt: no closure when nothing is set
            return None
        fault = self._first(self.webhook, lambda f: f.matches(url), now_ms)
        if fault is not None:
            self._fired(
                "webhook", fault, now_ms, url=url, timeout=fault.timeout, refuse=fault.refuse
            )
        return fault

    def api_fault(self, method: str, path: str, now_ms: int) -> ApiFault | None:
        if not self.api:  # asked once per request: no closure when nothing is set
            return None
        fault = self._first(self.api, lambda f: f.matches(method, path), now_ms)
        if fault is not None:
            self._fired("api", fault, now_ms, method=method, path=path)
        return fault

    def _first(self, faults: Sequence[_F], matches: Callable[[_F], bool], now_ms: int) -> _F | None:
        """The first fault that matches, is open now and (if probabilistic) draws to fire."""
        for fault in faults:
            if matches(fault) and fault.budget.open(now_ms) and self._lucky(fault):
                fault.budget.take(now_ms)
                return fault
        return None

    def _fired(self, kind: str, fault: ApiFault | WebhookFault, now_ms: int, **where: Any) -> None:
        self.fired_total += 1
        self.fired.append(
            {
                "kind": kind,
                "fault_id": fault.id,
                **where,
                "at_ms": now_ms,
                "status": fault.status,
                "delay_s": fault.delay_s,
            }
        )

    def as_json(self, iso: Any = None) -> dict[str, Any]:
        self._assign_ids()
        fired = [dict(e, at=iso(e["at_ms"])) if iso else dict(e) for e in self.fired]
        return {
            "api": [f.as_json() for f in self.api],
            "webhook": [f.as_json() for f in self.webhook],
            "fired": fired,
            "fired_total": self.fired_total,
            "fired_dropped": self.fired_dropped,
        }

    def clear(self) -> None:
        self.webhook.clear()
        self.api.clear()
        self.fired.clear()
        self.fired_total = 0
        self._rngs.clear()


async def real_delay(seconds: float) -> None:
    """An injected delay: real (wall) seconds, on purpose; the caller holds its in-flight token."""
    if seconds > 0:
        await asyncio.sleep(seconds)
