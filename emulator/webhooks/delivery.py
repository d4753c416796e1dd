"""What a webhook delivery is: its record in the delivery log, its attempts, and the policy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from emulator.domain.models import Broadcast

__all__ = ["Attempt", "Delivery", "DeliveryPolicy", "redact_url"]


def redact_url(url: str) -> str:
    """The URL without user:password, for logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    attempts: int = 5  # total attempts per delivery (1 = no retries)
    backoff_s: float = 1.0  # first back-off; doubles each time (1-2-4-8 s)
    timeout_s: float = 10.0  # real seconds to wait for a receiver's answer
    workers: int = 64  # deliveries in flight at once (and keep-alive connections)
    keepalive_s: float = 4.0  # Node closes idle sockets after 5 s: never reuse one older than this
    verify_tls: bool = False
    log_size: int = 50_000
    outage_s: float = 30.0  # real seconds an unreachable receiver is retried with the clock held
    allow: tuple[str, ...] = ()  # hosts webhooks may go to (normalised); empty = any


@dataclass(slots=True)
class Attempt:
    """One attempt: one request, or, when the receiver could not be reached, the requests sent
    in real time while the clock was held (`outage_s` long, `probes` of them after the first);
    `status`, `error` and `latency_ms` are then those of the last one."""

    status: int | None
    error: str | None
    latency_ms: float
    at: str  # virtual time of the attempt
    real_at: float
    outage_s: float = 0.0
    probes: int = 0

    def as_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "status": self.status,
            "error": self.error,
            "latency_ms": round(self.latency_ms, 3),
            "at": self.at,
            "real_at": self.real_at,
        }
        if self.outage_s:
            row["outage_s"] = round(self.outage_s, 3)
            row["probes"] = self.probes
        return row

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Attempt:
        return cls(
            row["status"],
            row["error"],
            row["latency_ms"],
            row["at"],
            row["real_at"],
            float(row.get("outage_s", 0.0)),
            int(row.get("probes", 0)),
        )


@dataclass(slots=True, eq=False)
class Delivery:
    seq: int
    channel: str
    url: str
    payload: dict[str, Any]
    virtual_ms: int
    owner: Broadcast | None = None
    state: str = "pending"
    attempts: list[Attempt] = field(default_factory=list)
    body: bytes | None = None
    headers: dict[str, str] | None = None
    generation: int = 0

    @property
    def event(self) -> str:
        p = self.payload
        return str(p.get("state") or p.get("playstate") or "")

    def as_json(self, iso: Callable[[int], str]) -> dict[str, Any]:
        p = self.payload
        return {
            "id": self.seq,
            "url": self.url,
            "event": self.event,
            "state": self.state,
            "broadcast_id": p.get("broadcast_id"),
            "voice_id": p.get("voice_id"),
            "virtual_time": iso(self.virtual_ms),
            "attempts": [a.as_json() for a in self.attempts],
            "payload": p,
        }
