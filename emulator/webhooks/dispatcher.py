"""Webhook delivery: in order per channel, retried with back-off on the virtual clock, all logged.

Each queued delivery of a channel that is not backing off holds one in-flight token, so virtual
time stands still while events are on their way (and while the receiver reacts to them). A channel
waiting for its back-off timer holds none, so the clock can move on to the retry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from emulator.domain.models import Broadcast
from emulator.faults import FaultBook
from emulator.sim.activity import Activity
from emulator.sim.clock import VirtualClock
from emulator.webhooks.crypto import BodyEncoder
from emulator.webhooks.transport import Disconnected, HttpPool, PlainTarget

__all__ = ["Attempt", "Delivery", "DeliveryPolicy", "Dispatcher"]

log = logging.getLogger("emulator.webhooks")


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    attempts: int = 5  # total attempts per delivery (1 = no retries)
    backoff_s: float = 1.0  # first back-off; doubles each time (1-2-4-8 s)
    timeout_s: float = 10.0  # real seconds to wait for a receiver's answer
    workers: int = 64  # deliveries in flight at once (and keep-alive connections)
    keepalive_s: float = 4.0  # Node closes idle sockets after 5 s: never reuse one older than this
    verify_tls: bool = False
    log_size: int = 50_000


@dataclass(slots=True)
class Attempt:
    status: int | None
    error: str | None
    latency_ms: float
    at: str  # virtual time of the attempt
    real_at: float

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "error": self.error,
            "latency_ms": round(self.latency_ms, 3),
            "at": self.at,
            "real_at": self.real_at,
        }


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


class _Channel:
    __slots__ = ("backoff", "key", "queue", "scheduled")

    def __init__(self, key: str) -> None:
        self.key = key
        # a list, not a deque: a channel (one call leg) holds a few events, and an empty deque
        # costs 760 bytes against a list's 56, times every call with events on their way
        self.queue: list[Delivery] = []
        self.scheduled = False
        self.backoff = False


class Dispatcher:
    """Delivers webhooks through one shared `ClientSession` and a fixed pool of workers."""

    def __init__(
        self,
        clock: VirtualClock,
        activity: Activity,
        encoder: BodyEncoder,
        policy: DeliveryPolicy | None = None,
        faults: FaultBook | None = None,
    ) -> None:
        self.clock = clock
        self.activity = activity
        self.encoder = encoder
        self.policy = policy or DeliveryPolicy()
        self.log: deque[Delivery] = deque(maxlen=self.policy.log_size)
        self.dropped = 0
        self.delivered = 0
        self.dead = 0
        self.on_settled: Callable[[Broadcast], None] | None = None
        self.faults = faults or FaultBook()
        self._channels: dict[str, _Channel] = {}
        self._ready: asyncio.Queue[_Channel] = asyncio.Queue()
        self._seq = 0
        self._generation = 0
        self._session: aiohttp.ClientSession | None = None
        self._pool: HttpPool | None = None  # plain http:// receivers; the session does the rest
        self._workers: list[asyncio.Task[None]] = []

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        p = self.policy
        connector = aiohttp.TCPConnector(
            limit=p.workers,
            limit_per_host=p.workers,
            keepalive_timeout=p.keepalive_s,
            ssl=p.verify_tls,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=p.timeout_s),
            skip_auto_headers=("User-Agent",),
        )
        self._pool = HttpPool(p.keepalive_s, p.timeout_s)
        self._workers = [
            asyncio.create_task(self._work(), name=f"webhook-worker-{i}") for i in range(p.workers)
        ]

    async def close(self, drain_s: float = 0.0) -> None:
        if drain_s > 0:
            await self.drain(drain_s)
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def drain(self, timeout_s: float) -> bool:
        """Wait (real time) until no channel is ready or in flight; False on time-out."""
        deadline = time.monotonic() + timeout_s
        while any(ch.scheduled for ch in self._channels.values()):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    # -- queueing ----------------------------------------------------------------------
    @property
    def pending(self) -> int:
        return sum(len(ch.queue) for ch in self._channels.values())

    def send(self, channel: str, url: str, payload: dict[str, Any], owner: Any = None) -> None:
        self._seq += 1
        delivery = Delivery(
            self._seq, channel, url, payload, self.clock.now_ms, owner, generation=self._generation
        )
        if len(self.log) == self.log.maxlen:
            self.dropped += 1
        self.log.append(delivery)
        ch = self._channels.get(channel)
        if ch is None:
            ch = self._channels[channel] = _Channel(channel)
        ch.queue.append(delivery)
        if ch.backoff:
            return
        self.activity.acquire()
        if not ch.scheduled:
            ch.scheduled = True
            self._ready.put_nowait(ch)

    def reset(self) -> None:
        """Forget every queued delivery and the log (in-flight attempts finish unrecorded)."""
        self._generation += 1
        self._channels.clear()
        while not self._ready.empty():
            self._ready.get_nowait()
        self.log.clear()
        self.dropped = self.delivered = self.dead = 0

    # -- delivering ----------------------------------------------------------------------
    async def _work(self) -> None:
        while True:
            ch = await self._ready.get()
            if not ch.queue:
                ch.scheduled = False
                continue
            delivery = ch.queue[0]
            ok = await self._attempt(delivery)
            if delivery.generation != self._generation:
                continue  # reset while in flight: the channel is gone
            if ok or len(delivery.attempts) >= self.policy.attempts:
                self._settle(ch, delivery, ok)
            else:
                self._back_off(ch, delivery)

    def _settle(self, ch: _Channel, delivery: Delivery, ok: bool) -> None:
        del ch.queue[0]
        delivery.state = "delivered" if ok else "dead"
        delivery.body = delivery.headers = None
        if ok:
            self.delivered += 1
        else:
            self.dead += 1
            log.warning(
                "webhook given up after %d attempts: %s", len(delivery.attempts), delivery.url
            )
        try:
            if delivery.owner is not None and self.on_settled is not None:
                self.on_settled(delivery.owner)
        finally:
            if ch.queue:
                self._ready.put_nowait(ch)
            else:
                ch.scheduled = False
                self._channels.pop(ch.key, None)
            self.activity.release()

    def _back_off(self, ch: _Channel, delivery: Delivery) -> None:
        ch.backoff = True
        ch.scheduled = False
        delay_ms = int(self.policy.backoff_s * 1000 * 2 ** (len(delivery.attempts) - 1))
        self.clock.call_later(delay_ms, self._resume, ch, self._generation)
        self.activity.release(len(ch.queue))

    def _resume(self, ch: _Channel, generation: int) -> None:
        if generation != self._generation:
            return
        ch.backoff = False
        ch.scheduled = True
        self.activity.acquire(len(ch.queue))
        self._ready.put_nowait(ch)

    async def _attempt(self, delivery: Delivery) -> bool:
        if delivery.body is None:
            delivery.body, delivery.headers = self.encoder.encode(delivery.payload)
        at = self.clock.now_iso()
        real_at = time.time()
        started = time.monotonic()
        status, error = await self._post(delivery)
        latency = (time.monotonic() - started) * 1000.0
        delivery.attempts.append(Attempt(status, error, latency, at, real_at))
        return status is not None and 200 <= status < 300

    async def _post(self, delivery: Delivery) -> tuple[int | None, str | None]:
        fault = self.faults.webhook_fault(delivery.url, self.clock.now_ms)
        if fault is not None:
            if fault.delay_s > 0:
                await asyncio.sleep(fault.delay_s)
            if fault.timeout:
                return None, "timeout (injected)"
            if fault.status is not None:
                return fault.status, "injected"
        target = self._pool.target(delivery.url) if self._pool is not None else None
        if target is not None:
            status, error = await self._post_plain(target, delivery)
            if status is None or not 300 <= status < 400:
                return status, error
            # a redirect: the full client follows it as it always did
        assert self._session is not None, "dispatcher not started"
        for fresh_retry in (False, True):
            try:
                async with self._session.post(
                    delivery.url, data=delivery.body, headers=delivery.headers
                ) as resp:
                    await resp.read()
                    return resp.status, None
            except aiohttp.ServerDisconnectedError as exc:
                if fresh_retry:  # a reused connection was closed by the peer: once more, fresh
                    return None, f"disconnected: {exc}"
            except TimeoutError:
                return None, "timeout"
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                return None, f"{type(exc).__name__}: {exc}"
        return None, "unreachable"

    async def _post_plain(
        self, target: PlainTarget, delivery: Delivery
    ) -> tuple[int | None, str | None]:
        assert self._pool is not None, "dispatcher not started"
        assert delivery.body is not None
        try:
            return await self._pool.post(target, delivery.body, delivery.headers or {}), None
        except Disconnected as exc:
            return None, f"disconnected: {exc}"
        except TimeoutError:
            return None, "timeout"
        except (OSError, ValueError) as exc:
            return None, f"{type(exc).__name__}: {exc}"
