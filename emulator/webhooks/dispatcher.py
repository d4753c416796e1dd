"""Webhook delivery: in order per channel, retried with back-off on the virtual clock, all logged.

Each queued delivery of a channel that is not backing off holds one in-flight token, so virtual
time stands still while events are on their way (and while the receiver reacts to them). A channel
waiting for its back-off timer holds none, so the clock can move on to the retry.

A receiver that cannot be reached (refused, reset, timed out) loses nothing for up to
`policy.outage_s` real seconds: the attempt that met it keeps its token and retries in real time
(0.1 s growing to 1 s between requests), other channels to that receiver are parked with theirs,
and once the receiver answers they all go on; when the window passes first, the attempt fails and
backs off as usual (`holds.Outages`). Injected faults and HTTP error statuses always back off on
the virtual clock.

Workers are tasks started on demand, up to `policy.workers`, when a channel becomes ready; they
end when nothing is ready, so an idle dispatcher runs no task. Requests go through a `Transport`,
which several dispatchers may share.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

from emulator.domain.models import Broadcast
from emulator.faults import FaultBook, real_delay
from emulator.sim.activity import Activity
from emulator.sim.clock import VirtualClock
from emulator.webhooks.channel import Channel
from emulator.webhooks.crypto import BodyEncoder
from emulator.webhooks.delivery import (
    Attempt,
    Delivery,
    DeliveryPolicy,
    PlainDelivery,
    redact_url,
)
from emulator.webhooks.holds import Holds, Outage, Outages
from emulator.webhooks.targets import Listener, Target
from emulator.webhooks.transport import Result, Transport
from emulator.webhooks.workers import Workers

__all__ = ["Dispatcher"]

log = logging.getLogger("emulator.webhooks")

_FIRST_PROBE_S = 0.1  # real delay before the first retry of an unreachable receiver...
_LAST_PROBE_S = 1.0  # ...doubling up to this


class Dispatcher:
    """Delivers webhooks through a (possibly shared) `Transport` with workers started on demand."""

    def __init__(
        self,
        clock: VirtualClock,
        activity: Activity,
        encoder: BodyEncoder,
        policy: DeliveryPolicy | None = None,
        faults: FaultBook | None = None,
        transport: Transport | None = None,
        listener: Listener | None = None,
    ) -> None:
        """`transport`: a shared one, started and closed by its owner; without one the
        dispatcher makes its own (`listener` tells it where the emulator listens)."""
        self.clock = clock
        self.activity = activity
        self.encoder = encoder
        self.policy = policy or DeliveryPolicy()
        self.log: deque[Delivery] = deque(maxlen=self.policy.log_size)
        self.dropped = 0
        self.delivered = 0
        self.dead = 0
        self.on_settled: Callable[[Broadcast], None] | None = None
        self.on_attempt: Callable[[Delivery], None] = lambda delivery: None  # the world's record
        self.faults = faults or FaultBook()
        self._channels: dict[Hashable, Channel] = {}
        self._workers: Workers[Channel] = Workers(self._serve, self.policy.workers)
        self._seq = 0
        self._generation = 0
        self._transport = transport
        self._owns_transport = transport is None
        self._listener = listener
        self._verify = self.policy.verify_tls  # per dispatcher, even through a shared pool
        self._inflight: dict[Delivery, float] = {}  # attempt in flight -> its start (monotonic)
        self._outages = Outages(self.policy.outage_s, time.monotonic, time.time)
        self._holds = Holds(
            self._outages, self._inflight, self._receiver_of, time.monotonic, time.time
        )

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        if self._transport is None:
            p = self.policy
            self._transport = Transport(p.keepalive_s, p.verify_tls, self._listener)
            await self._transport.start()
        self._workers.start()  # and so the deliveries restored before the start go out

    @property
    def transport(self) -> Transport | None:
        return self._transport

    @property
    def workers(self) -> int:
        """Worker tasks running now (0 when there is nothing to deliver)."""
        return self._workers.count

    async def close(self, drain_s: float = 0.0) -> None:
        if drain_s > 0:
            await self.drain(drain_s)
        await self._workers.close()
        self._holds.stop()
        if self._owns_transport and self._transport is not None:
            await self._transport.close()
            self._transport = None

    async def drain(self, timeout_s: float) -> bool:
        """Wait (real time) until no channel is ready or in flight; False on time-out. Channels
        waiting for an unreachable receiver are not waited for (they stay pending, like those
        waiting out a back-off)."""
        deadline = time.monotonic() + timeout_s
        while any(ch.scheduled and not (ch.parked or ch.probing) for ch in self._channels.values()):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    # -- queueing ----------------------------------------------------------------------
    @property
    def pending(self) -> int:
        return sum(len(ch) for ch in self._channels.values())

    @property
    def draining(self) -> int:
        """Deliveries `drain` waits for: those of every channel ready or in flight (a channel
        backing off is not waited for)."""
        return sum(len(ch) for ch in self._channels.values() if ch.scheduled)

    def send(
        self, channel: str, url: str, payload: dict[str, Any], owner: Broadcast | None = None
    ) -> None:
        self.post(PlainDelivery(0, channel, url, payload, self.clock.now_ms, owner))

    def post(self, delivery: Delivery) -> None:
        """Number, log and queue a delivery made by the caller (one that builds its payload
        when read)."""
        self._seq += 1
        delivery.seq = self._seq
        if len(self.log) == self.log.maxlen:
            self.dropped += 1
        self.log.append(delivery)
        self._enqueue(delivery)

    def _enqueue(self, delivery: Delivery) -> None:
        key = delivery.channel_key
        ch = self._channels.get(key)
        if ch is None:
            ch = self._channels[key] = Channel(key)
        ch.append(delivery)
        if ch.backoff:
            return
        self.activity.acquire()
        if not ch.scheduled:
            ch.scheduled = True
            self._make_ready(ch)

    def _current(self, ch: Channel) -> bool:
        """False once a reset has dropped `ch` (an attempt in flight then finishes unrecorded)."""
        return self._channels.get(ch.key) is ch

    def _make_ready(self, ch: Channel, spawn: bool = True) -> None:
        """Queue `ch` for a worker; `spawn=False` from a worker that will look again itself."""
        self._workers.push(ch, spawn)

    def reset(self) -> None:
        """Forget every queued delivery and the log (in-flight attempts finish unrecorded)."""
        self._generation += 1
        self._channels.clear()
        self._workers.ready.clear()
        for outage in self._outages.clear():
            outage.parked.clear()
        self.log.clear()
        self.dropped = self.delivered = self.dead = 0

    # -- delivering ----------------------------------------------------------------------
    async def _serve(self, ch: Channel) -> None:
        delivery = ch.head
        if delivery is None:
            ch.scheduled = False
            return
        target = self._target(delivery)
        if self._outages.records and isinstance(target, Target):
            outage = self._outages.get(target.key)
            if outage is not None and not outage.expired:
                self._park(ch, outage)
                return
        ok = await self._attempt(ch, delivery, target)
        if ok is None or not self._current(ch):
            return  # parked, or reset while in flight: the channel is gone
        if ok or len(delivery.attempts) >= self.policy.attempts:
            self._settle(ch, delivery, ok)
        else:
            self._back_off(ch, delivery)

    def _target(self, delivery: Delivery) -> Target | str:
        if self._transport is None:
            return "emulator error: dispatcher not started"
        return self._transport.target(delivery.url)

    def _settle(self, ch: Channel, delivery: Delivery, ok: bool) -> None:
        ch.popleft()
        delivery.state = "delivered" if ok else "dead"
        delivery.unload()
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
            if ch.head is not None:
                self._make_ready(ch, spawn=False)
            else:
                ch.scheduled = False
                self._channels.pop(ch.key, None)
            self.activity.release()

    def _back_off(self, ch: Channel, delivery: Delivery) -> None:
        ch.backoff = True
        ch.scheduled = False
        delay_ms = int(self.policy.backoff_s * 1000 * 2 ** (len(delivery.attempts) - 1))
        self.clock.call_later(delay_ms, self._resume, ch, self._generation)
        self.activity.release(len(ch))

    def _resume(self, ch: Channel, generation: int) -> None:
        if generation != self._generation:
            return
        ch.backoff = False
        ch.scheduled = True
        self.activity.acquire(len(ch))
        self._make_ready(ch)

    async def _attempt(self, ch: Channel, delivery: Delivery, target: Target | str) -> bool | None:
        """One attempt, recorded; None when the channel was parked instead (not an attempt)."""
        at = self.clock.now_iso()
        real_at = time.time()
        started = time.monotonic()
        self._inflight[delivery] = started
        self._holds.watch()
        outage_s, probes = 0.0, 0
        try:
            if delivery.encoded is None:
                delivery.encoded = self.encoder.encode(delivery.payload)
            result = await self._post(delivery, target)
            if result.unreachable and isinstance(target, Target) and self.policy.outage_s > 0:
                ride = await self._ride_out(ch, delivery, target, result)
                if ride is None:
                    return None
                result, outage_s, probes, started = ride
            elif self._outages.records and isinstance(target, Target):
                self._answered(target, result)
        except Exception as exc:  # an attempt that cannot even be made is a failed attempt
            log.exception(
                "webhook attempt failed inside the emulator: %s", redact_url(delivery.url)
            )
            result = Result(None, f"emulator error: {type(exc).__name__}")
        finally:
            self._inflight.pop(delivery, None)
            if self._holds.announced:
                self._holds.check()
        latency = (time.monotonic() - started) * 1000.0
        delivery.record(
            Attempt(result.status, result.error, latency, at, real_at, outage_s, probes)
        )
        self.on_attempt(delivery)
        return result.status is not None and 200 <= result.status < 300

    async def _post(self, delivery: Delivery, target: Target | str) -> Result:
        fault = self.faults.webhook_fault(delivery.url, self.clock.now_ms)
        if fault is not None:
            await real_delay(fault.delay_s)
            if fault.timeout:
                return Result(None, "timeout (injected)")
            if fault.refuse:
                return Result(None, "connection refused (injected)")
            if fault.status is not None:
                return Result(fault.status, "injected")
        if isinstance(target, str):
            return Result(None, target)
        allow = self.policy.allow
        if allow and target.host not in allow:
            return Result(None, f"refused: host {target.host!r} is not in --webhook-allow")
        assert self._transport is not None and delivery.encoded is not None
        body, headers = delivery.encoded
        return await self._transport.post(
            target, body, headers, self.policy.timeout_s, self._verify
        )

    # -- outages -------------------------------------------------------------------------
    async def _ride_out(
        self, ch: Channel, delivery: Delivery, target: Target, first: Result
    ) -> tuple[Result, float, int, float] | None:
        """Retry an unreachable receiver in real time, clock held, up to `policy.outage_s`:
        (last result, seconds waited, requests sent meanwhile, start of the last one), or None
        when another delivery is already doing it (then this channel is parked)."""
        outage = self._outages.get(target.key)
        if outage is not None:
            if outage.expired:
                return first, 0.0, 0, self._inflight.get(delivery, time.monotonic())
            self._park(ch, outage)
            return None
        outage = self._outages.open(target.key, target.receiver, first.error or "unreachable")
        began = self._inflight.pop(delivery, time.monotonic())  # the outage reports the hold now
        result, probes, last, ended = first, 0, began, False
        ch.probing = True
        try:
            result, probes, last = await self._probe(ch, delivery, target, outage, first)
            ended = True
        finally:  # whatever happens, the parked channels go on (or they would hold time)
            ch.probing = False
            if self._current(ch):
                self._end_outage(target, outage, result if ended else None)
        return result, max(0.0, last - began), probes, last

    async def _probe(
        self, ch: Channel, delivery: Delivery, target: Target, outage: Outage, result: Result
    ) -> tuple[Result, int, float]:
        assert self._transport is not None and delivery.encoded is not None
        body, headers = delivery.encoded
        delay, probes, last = _FIRST_PROBE_S, 0, time.monotonic()
        while result.unreachable and self._current(ch):
            remaining = outage.deadline - time.monotonic()
            if remaining <= 0:
                break
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, _LAST_PROBE_S)
            if not self._current(ch):
                break
            last = time.monotonic()
            result = await self._transport.post(
                target, body, headers, self.policy.timeout_s, self._verify
            )
            probes += 1
        return result, probes, last

    def _end_outage(self, target: Target, outage: Outage, result: Result | None) -> None:
        """The receiver answered, or the window passed; None: the probing was cut short
        (shutdown), so the outage is forgotten without a verdict."""
        if self._outages.get(target.key) is outage:
            if result is None:
                self._outages.records.pop(target.key, None)
            elif result.unreachable:
                outage.error = result.error or outage.error
                self._outages.expire(outage)
            else:
                self._outages.answered(target.key)
        self._release(outage)
        self._holds.check()

    def _answered(self, target: Target, result: Result) -> None:
        """Any answer from a receiver (or a failure other than unreachable) ends its outage,
        open or expired; the channels parked on it go on."""
        if not result.unreachable:
            outage = self._outages.answered(target.key)
            if outage is not None:
                self._release(outage)

    def _release(self, outage: Outage) -> None:
        parked, outage.parked = outage.parked, []
        for ch in parked:
            ch.parked = False
            self._make_ready(ch)

    def _park(self, ch: Channel, outage: Outage) -> None:
        ch.parked = True
        outage.parked.append(ch)

    # -- who holds the clock ---------------------------------------------------------------
    def held_by(self) -> list[dict[str, Any]]:
        """Receivers holding the clock now: `[{receiver, reason, since, for_s}]`, `reason`
        "outage" (unreachable, retried in real time) or "waiting for answer" (over 1 s)."""
        return self._holds.rows()

    def _receiver_of(self, delivery: Delivery) -> str:
        target = self._target(delivery)
        return target.receiver if isinstance(target, Target) else redact_url(delivery.url)

    # -- state file --------------------------------------------------------------------
    def adopt(self, delivery: Delivery) -> None:
        """Put a restored delivery back in the log; a pending one is queued again, in order."""
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
