"""Fault injection: scripted failures of webhook deliveries and API routes, counted or windowed.

Faults come from scenarios, flags and the control plane; each one matches by URL or route, fires
for a number of times or inside a window of virtual time, and every firing is logged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ApiFault", "FaultBook", "WebhookFault"]


@dataclass(slots=True)
class _Budget:
    """How often a fault may fire: `times` firings (None = unlimited) inside [start_ms, end_ms)."""

    times: int | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    fired: int = 0

    def take(self, now_ms: int) -> bool:
        if self.start_ms is not None and now_ms < self.start_ms:
            return False
        if self.end_ms is not None and now_ms >= self.end_ms:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        self.fired += 1
        return True


@dataclass(slots=True)
class WebhookFault:
    """Deliveries to URLs matching `url` (regex search; None = all) are answered `status`,
    time out, or are delayed `delay_s` real seconds before being sent normally."""

    url: str | None = None
    status: int | None = None
    timeout: bool = False
    delay_s: float = 0.0
    budget: _Budget = field(default_factory=_Budget)

    def matches(self, url: str) -> bool:
        return self.url is None or re.search(self.url, url) is not None


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

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or re.search(self.path, path) is not None


class FaultBook:
    """All active faults of one emulator, and the log of every firing."""

    def __init__(self) -> None:
        self.webhook: list[WebhookFault] = []
        self.api: list[ApiFault] = []
        self.fired: list[dict[str, Any]] = []

    @staticmethod
    def budget(
        times: int | None = None, start_ms: int | None = None, end_ms: int | None = None
    ) -> _Budget:
        return _Budget(times, start_ms, end_ms)

    def webhook_fault(self, url: str, now_ms: int) -> WebhookFault | None:
        for fault in self.webhook:
            if fault.matches(url) and fault.budget.take(now_ms):
                self.fired.append(
                    {
                        "kind": "webhook",
                        "url": url,
                        "at_ms": now_ms,
                        "status": fault.status,
                        "timeout": fault.timeout,
                    }
                )
                return fault
        return None

    def api_fault(self, method: str, path: str, now_ms: int) -> ApiFault | None:
        for fault in self.api:
            if fault.matches(method, path) and fault.budget.take(now_ms):
                self.fired.append(
                    {
                        "kind": "api",
                        "method": method,
                        "path": path,
                        "at_ms": now_ms,
                        "status": fault.status,
                    }
                )
                return fault
        return None

    def clear(self) -> None:
        self.webhook.clear()
        self.api.clear()
        self.fired.clear()
