"""Webhook receivers that misbehave on purpose, and helpers to compare what arrived."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from conftest import until

from emulator.sim.activity import Activity
from emulator.sim.clock import ClockMode, VirtualClock
from emulator.webhooks.crypto import BodyEncoder
from emulator.webhooks.delivery import DeliveryPolicy
from emulator.webhooks.dispatcher import Dispatcher

# What a receiver does with one request: an HTTP status, or None to drop the connection.
Decision = int | None
Policy = Callable[[int, dict[str, Any]], Awaitable[Decision]]

NUMBERS = ["919800000010", "919800000011", "919800000005", "919800000001"]


async def healthy(hit: int, body: dict[str, Any]) -> Decision:
    return 200


class FaultyReceiver:
    """Answers as `policy` says; `arrived` holds the bodies answered 2xx, in arrival order."""

    def __init__(self, policy: Policy = healthy) -> None:
        self.policy = policy
        self.hits = 0
        self.arrived: list[dict[str, Any]] = []
        self.peers: list[tuple[str, int]] = []
        self.url = ""
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.hits += 1
        self.peers.append(request.transport.get_extra_info("peername")[:2])  # type: ignore[union-attr]
        decision = await self.policy(self.hits, body)
        if decision is None:
            assert request.transport is not None
            request.transport.close()  # a receiver that goes away mid-request
            return web.Response(status=500)
        if 200 <= decision < 300:
            self.arrived.append(body)
        return web.Response(status=decision)

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        await self.listen(port)

    async def listen(self, port: int | None = None) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port if port is None else port)
        await self._site.start()
        server = self._site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.port}"

    async def go_down(self) -> None:
        """Stop listening: connections are refused until `listen()`."""
        assert self._site is not None
        await self._site.stop()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@asynccontextmanager
async def faulty_receiver(policy: Policy = healthy) -> AsyncIterator[FaultyReceiver]:
    receiver = FaultyReceiver(policy)
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.close()


def create_body(receiver_url: str, numbers: list[str] | None = None) -> dict[str, Any]:
    return {
        "application_name": "reliability",
        "broadcast_numbers_array": numbers or NUMBERS,
        "from": "919999999999",
        "action_on_connect": {"play": {"text": "Hello there", "voice": "female"}},
        "call_param": {"interval_between_retries": 5, "number_of_retries": 2},
        "event_url": receiver_url + "/event",
        "call_handler_url": receiver_url + "/call",
    }


def per_call(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Events grouped by call (voice_id; broadcast-level ones under ""), as canonical JSON."""
    out: dict[str, list[str]] = {}
    for event in events:
        key = str(event.get("voice_id") or "")
        out.setdefault(key, []).append(json.dumps(event, sort_keys=True))
    return out


async def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """`conftest.until` with the longer bound that retries and back-off need."""
    await until(predicate, timeout)


def completed(receiver: FaultyReceiver) -> bool:
    return any("resultSet" in e for e in receiver.arrived)


@asynccontextmanager
async def dispatcher(encoder: Any = None, **policy: Any) -> AsyncIterator[Dispatcher]:
    """A started dispatcher on a manual clock, closed at the end of the block."""
    clock = VirtualClock(0, ClockMode.MANUAL)
    d = Dispatcher(
        clock, Activity(), encoder or BodyEncoder("none", "app", "base64"), DeliveryPolicy(**policy)
    )
    await d.start()
    try:
        yield d
    finally:
        await d.close()


async def settled(d: Dispatcher, count: int) -> None:
    """Wait until `count` deliveries of `d` are delivered or dead."""
    await wait_for(lambda: sum(x.state != "pending" for x in d.log) >= count)
