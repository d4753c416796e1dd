"""What a webhook delivery is: its record in the delivery log, its attempts, and the policy."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from emulator.domain.models import Broadcast

__all__ = ["Attempt", "Delivery", "DeliveryPolicy", "PlainDelivery", "redact_url"]


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


class Delivery:
    """One webhook: its payload, where it goes, and what became of it (the delivery log's row).

    Where it goes (`channel`, `url`, `owner`) is the subclass's: `PlainDelivery` stores it, a
    per-call event (`events.CallDelivery`) reads it from its call, since a campaign queues
    millions of those at once. For the same reason `attempts` is a shared empty tuple until the
    first attempt (an empty list each was 56 bytes).
    """

    __slots__ = (
        "_payload",
        "attempts",
        "encoded",
        "next",
        "seq",
        "state",
        "virtual_ms",
    )

    def __init__(self, seq: int, payload: dict[str, Any] | None, virtual_ms: int) -> None:
        self.seq = seq
        self._payload = payload
        self.virtual_ms = virtual_ms
        self.state = "pending"
        self.attempts: list[Attempt] | tuple[Attempt, ...] = ()
        # the body and headers as sent (encrypted, if so), from the first attempt until settled
        self.encoded: tuple[bytes, dict[str, str]] | None = None
        self.next: Delivery | None = None  # the next one of its channel, while queued

    @property
    def channel(self) -> str:
        """The channel's name: deliveries of one channel go out one after the other, in order."""
        raise NotImplementedError

    @property
    def channel_key(self) -> Hashable:
        """What the dispatcher keys the channel by (the name, unless a subclass has better)."""
        return self.channel

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def owner(self) -> Broadcast | None:
        """The broadcast whose completion waits for this delivery, if any."""
        raise NotImplementedError

    @property
    def payload(self) -> dict[str, Any]:
        payload = self._payload
        if payload is None:
            payload = self._payload = self._build()
        return payload

    def peek(self) -> dict[str, Any]:
        """The payload for a reader (the event stream): kept, as `payload` keeps it, while the
        delivery is still to be sent (sending needs it next); built and not kept once it has
        settled, so that reading a settled delivery leaves it as small as settling made it."""
        payload = self._payload
        if payload is None:
            payload = self._build()
            if self.state == "pending":
                self._payload = payload
        return payload

    def about(self) -> tuple[Any, Any, Any, Any]:
        """(broadcast_id, voice_id, attempt, number) the delivery is about, as the event stream
        names them (a subclass may know them without its payload)."""
        p = self.peek()
        number = p.get("dialed_number") or p.get("to") if "voice_id" in p else None
        return p.get("broadcast_id"), p.get("voice_id"), p.get("attempt"), number

    def _build(self) -> dict[str, Any]:
        """The payload of a delivery made without one (a subclass builds it when read)."""
        raise NotImplementedError

    def record(self, attempt: Attempt) -> None:
        if isinstance(self.attempts, list):
            self.attempts.append(attempt)
        else:
            self.attempts = [*self.attempts, attempt]

    def unload(self) -> None:
        """Settled: drop what sending needed (a payload that can be built again goes too)."""
        self.encoded = None

    @property
    def broadcast_id(self) -> Any:
        return self.payload.get("broadcast_id")

    @property
    def voice_id(self) -> Any:
        return self.payload.get("voice_id")

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


class PlainDelivery(Delivery):
    """A delivery that stores its payload and where it goes (broadcast events, restored ones)."""

    __slots__ = ("_channel", "_owner", "_url")

    def __init__(
        self,
        seq: int,
        channel: str,
        url: str,
        payload: dict[str, Any],
        virtual_ms: int,
        owner: Broadcast | None = None,
    ) -> None:
        super().__init__(seq, payload, virtual_ms)
        self._channel = channel
        self._url = url
        self._owner = owner

    @property
    def channel(self) -> str:
        return self._channel

    @property
    def url(self) -> str:
        return self._url

    @property
    def owner(self) -> Broadcast | None:
        return self._owner
