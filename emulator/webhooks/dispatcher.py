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
from typing import Any

import aiohttp

from emulator.domain.models import Broadcast
from emulator.faults import FaultBook, real_delay
from emulator.sim.activity import Activity
from emulator.sim.clock import VirtualClock
from emulator.webhooks.crypto import BodyEncoder
from emulator.webhooks.delivery import Attempt, Delivery, DeliveryPolicy, redact_url
from emulator.webhooks.transport import Attach, Disconnected, HttpPool, PlainTarget

__all__ = ["Dispatcher"]

log = logging.getLogger("emulator.webhooks")
_STALE = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


class _Reuse:
    """Per-request trace context: did this request go out on a reused (pooled) connection?"""

    __slots__ = ("reused",)

    def __init__(self) -> None:
        self.reused = False


async def _on_reuse(session: Any, context: Any, params: Any) -> None:
    context.trace_request_ctx.reused = True


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
        self._pool: HttpPool | None = None  # plain http:// receivers; the sessions do the rest
        self._fresh: aiohttp.ClientSession | None = None
        self._workers: list[asyncio.Task[None]] = []
        # plain http:// receivers in this process, by (host, port), reached without a socket
        # (the replay's built-in client registers its receiver here)
        self.local_receivers: dict[tuple[str, int], Attach] = {}

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        p = self.policy
        trace = aiohttp.TraceConfig()
        trace.on_connection_reuseconn.append(_on_reuse)
        self._session = self._new_session(
            aiohttp.TCPConnector(
                limit=p.workers,
                limit_per_host=p.workers,
                keepalive_timeout=p.keepalive_s,
                ssl=p.verify_tls,
            ),
            [trace],
        )
        self._pool = HttpPool(p.keepalive_s, p.timeout_s, local=self.local_receivers)
        # a delivery that failed on a reused connection is sent again on a fresh one
        self._fresh = self._new_session(aiohttp.TCPConnector(force_close=True, ssl=p.verify_tls))
        self._workers = [
            asyncio.create_task(self._work(), name=f"webhook-worker-{i}") for i in range(p.workers)
        ]

    def _new_session(
        self, connector: aiohttp.BaseConnector, traces: list[aiohttp.TraceConfig] | None = None
    ) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.policy.timeout_s),
            skip_auto_headers=("User-Agent",),
            trace_configs=traces,
        )

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
        for session in (self._session, self._fresh):
            if session is not None:
                await session.close()
        self._session = self._fresh = None

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

    def send(
        self, channel: str, url: str, payload: dict[str, Any], owner: Broadcast | None = None
    ) -> None:
        self._seq += 1
        delivery = Delivery(
            self._seq, channel, url, payload, self.clock.now_ms, owner, generation=self._generation
        )
        if len(self.log) == self.log.maxlen:
            self.dropped += 1
        self.log.append(delivery)
        self._enqueue(delivery)

    def _enqueue(self, delivery: Delivery) -> None:
        channel = delivery.channel
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
            try:
                await self._serve(ch)
            except Exception:  # never lose a worker: the channel would hold time forever
                log.exception("webhook worker failed on channel %s", ch.key)

    async def _serve(self, ch: _Channel) -> None:
        if not ch.queue:
            ch.scheduled = False
            return
        delivery = ch.queue[0]
        ok = await self._attempt(delivery)
        if delivery.generation != self._generation:
            return  # reset while in flight: the channel is gone
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
                "webhook given up after %d attempts: %s",
                len(delivery.attempts),
                redact_url(delivery.url),
            )
        try:
            if delivery.owner is not None and self.on_settled is not None:
                self.on_settled(delivery.owner)
        except Exception:
            log.exception("completion bookkeeping failed for %s", delivery.channel)
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
        at = self.clock.now_iso()
        real_at = time.time()
        started = time.monotonic()
        try:
            if delivery.body is None:
                delivery.body, delivery.headers = self.encoder.encode(delivery.payload)
            status, error = await self._post(delivery)
        except Exception as exc:  # an attempt that cannot even be made is a failed attempt
            log.exception(
                "webhook attempt failed inside the emulator: %s", redact_url(delivery.url)
            )
            status, error = None, f"emulator error: {type(exc).__name__}"
        latency = (time.monotonic() - started) * 1000.0
        delivery.attempts.append(Attempt(status, error, latency, at, real_at))
        return status is not None and 200 <= status < 300

    async def _post(self, delivery: Delivery) -> tuple[int | None, str | None]:
        fault = self.faults.webhook_fault(delivery.url, self.clock.now_ms)
        if fault is not None:
            await real_delay(fault.delay_s)
            if fault.timeout:
                return None, "timeout (injected)"
            if fault.refuse:
                return None, "connection refused (injected)"
            if fault.status is not None:
                return fault.status, "injected"
        if not delivery.url.startswith(("http://", "https://")):
            return None, "refused: webhook URLs must be http:// or https://"
        target = self._pool.target(delivery.url) if self._pool is not None else None
        if target is not None:
            answer = await self._send_plain(target, delivery)
            if isinstance(answer, BaseException):
                return None, _describe(answer)
            if not 300 <= answer < 400:
                return answer, None
            # a redirect: aiohttp's client follows it, as it always did
        assert self._session is not None and self._fresh is not None, "dispatcher not started"
        reuse = _Reuse()
        result = await self._send(self._session, delivery, reuse)
        if isinstance(result, BaseException):
            if not (reuse.reused and isinstance(result, _STALE)):
                return None, _describe(result)
            # the peer closed a kept-alive connection: once more, at once, on a fresh one
            result = await self._send(self._fresh, delivery, None)
            if isinstance(result, BaseException):
                return None, _describe(result)
        return result, None

    @staticmethod
    async def _send(
        session: aiohttp.ClientSession, delivery: Delivery, reuse: _Reuse | None
    ) -> int | BaseException:
        try:
            async with session.post(
                delivery.url, data=delivery.body, headers=delivery.headers, trace_request_ctx=reuse
            ) as resp:
                await resp.read()
                return resp.status
        except (aiohttp.ClientError, OSError, ValueError, TimeoutError) as exc:
            return exc

    async def _send_plain(self, target: PlainTarget, delivery: Delivery) -> int | BaseException:
        """POST over the keep-alive pool (which retries a stale connection once by itself)."""
        assert self._pool is not None and delivery.body is not None
        try:
            return await self._pool.post(target, delivery.body, delivery.headers or {})
        except (OSError, ValueError, TimeoutError) as exc:
            return exc

    # -- state file --------------------------------------------------------------------
    def adopt(self, delivery: Delivery) -> None:
        """Put a restored delivery back in the log; a pending one is queued again, in order."""
        delivery.generation = self._generation
        self._seq = max(self._seq, delivery.seq)
        self.log.append(delivery)
        if delivery.state == "pending":
            self._enqueue(delivery)

    def counters(self) -> dict[str, int]:
        return {"delivered": self.delivered, "dead": self.dead, "dropped": self.dropped}

    def set_counters(self, counters: dict[str, int]) -> None:
        self.delivered = int(counters.get("delivered", 0))
        self.dead = int(counters.get("dead", 0))
        self.dropped = int(counters.get("dropped", 0))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, (aiohttp.ServerDisconnectedError, Disconnected)):
        return f"disconnected: {exc}"
    return f"{type(exc).__name__}: {exc}"
