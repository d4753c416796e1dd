"""Webhook transport (CONTRACT §6): kept-alive connections, never reused after the idle limit; a
delivery that fails on a reused connection goes again at once on a fresh one, uncounted; a worker
survives anything a delivery throws."""

from __future__ import annotations

import asyncio
from typing import Any

from faulty_receivers import dispatcher, faulty_receiver, wait_for
from faulty_receivers import settled as _settled

from emulator.webhooks.crypto import BodyEncoder
from emulator.webhooks.delivery import redact_url


class ClosesReusedConnections:
    """A raw HTTP/1.1 receiver that answers the first request on each connection and closes the
    connection, unanswered, when a second request arrives on it (a server that dropped an idle
    keep-alive socket just as the client reused it)."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self.answered = 0
        self.url = ""
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                self.requests += 1
                served += 1
                if served > 1:
                    break
                self.answered += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def __aenter__(self) -> ClosesReusedConnections:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()


async def test_failure_on_a_reused_connection_is_retried_fresh_and_uncounted() -> None:
    async with ClosesReusedConnections() as rx, dispatcher(workers=1) as d:
        for i in range(4):
            d.send("leg", rx.url, {"state": "e", "n": i})
        await _settled(d, 4)
    assert [x.state for x in d.log] == ["delivered"] * 4
    assert [len(x.attempts) for x in d.log] == [1, 1, 1, 1]
    assert all(x.attempts[0].status == 200 for x in d.log)
    # deliveries 2 and 4 met a dropped reused connection first, then went on a fresh one
    # (which is not pooled, so delivery 3 opened a new pooled connection)
    assert rx.requests == 6 and rx.answered == 4 and rx.connections == 4


async def test_connections_are_reused_but_not_after_the_idle_limit() -> None:
    async with faulty_receiver() as rx, dispatcher(workers=1, keepalive_s=0.5) as d:
        d.send("leg", rx.url, {"n": 1})
        await _settled(d, 1)
        d.send("leg", rx.url, {"n": 2})
        await _settled(d, 2)
        await asyncio.sleep(0.7)  # the connection is now idle longer than the limit
        d.send("leg", rx.url, {"n": 3})
        await _settled(d, 3)
    first, second, third = rx.peers
    assert first == second  # reused while fresh
    assert third != second  # a new connection after the idle limit


class _Explodes(BodyEncoder):
    def encode(self, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        if payload.get("boom"):
            raise RuntimeError("encoder failure")
        return super().encode(payload)


async def test_a_worker_survives_an_internal_error_and_the_channel_moves_on() -> None:
    encoder = _Explodes("none", "app", "base64")
    async with faulty_receiver() as rx, dispatcher(encoder, workers=1, attempts=2) as d:
        d.send("leg", rx.url, {"boom": True})
        d.send("leg", rx.url, {"n": 2})
        await wait_for(lambda: len(d.log[0].attempts) == 1 and d.activity.held == 0)
        d.clock.jump_to(d.clock.now_ms + 1000)  # the back-off retry is due
        await _settled(d, 2)
        assert d.activity.held == 0
    boom, ok = d.log
    assert boom.state == "dead" and len(boom.attempts) == 2
    assert boom.attempts[0].error == "emulator error: RuntimeError"
    assert ok.state == "delivered" and rx.arrived == [{"n": 2}]


async def test_only_http_and_https_targets_are_contacted() -> None:
    async with dispatcher(attempts=1) as d:
        d.send("leg", "file:///etc/passwd", {"n": 1})
        await _settled(d, 1)
    assert d.log[0].state == "dead"
    assert "http://" in (d.log[0].attempts[0].error or "")


def test_logged_urls_hide_credentials() -> None:
    assert redact_url("https://user:secret@example.com:8443/hook?x=1") == (
        "https://***@example.com:8443/hook?x=1"
    )
    assert redact_url("http://example.com/a") == "http://example.com/a"


def _dispatcher_tasks() -> int:
    """Tasks running a coroutine of the webhook package (the dispatcher's workers)."""
    codes = [getattr(t.get_coro(), "cr_code", None) for t in asyncio.all_tasks()]
    return sum("emulator/webhooks/" in code.co_filename for code in codes if code is not None)


async def test_an_idle_dispatcher_runs_no_task_and_workers_start_on_demand() -> None:
    async with faulty_receiver() as rx, dispatcher(workers=8) as d:
        assert _dispatcher_tasks() == 0, "a started dispatcher with nothing to deliver runs tasks"
        for i in range(20):
            d.send(f"leg-{i}", rx.url, {"n": i})
        assert 0 < _dispatcher_tasks() == d.workers <= 8
        await _settled(d, 20)
        await wait_for(lambda: _dispatcher_tasks() == 0)
        d.send("leg-again", rx.url, {"n": 20})  # and they come back when there is work
        await _settled(d, 21)
    assert [x.state for x in d.log] == ["delivered"] * 21


async def test_several_dispatchers_share_one_transport_its_owner_closes() -> None:
    from emulator.sim.activity import Activity
    from emulator.sim.clock import ClockMode, VirtualClock
    from emulator.webhooks.dispatcher import Dispatcher
    from emulator.webhooks.transport import Transport

    transport = Transport()
    await transport.start()

    def make() -> Dispatcher:
        clock = VirtualClock(0, ClockMode.MANUAL)
        return Dispatcher(clock, Activity(), BodyEncoder(), transport=transport)

    first, second = make(), make()
    async with faulty_receiver() as rx:
        for d in (first, second):
            await d.start()
            d.send("leg", rx.url, {"from": id(d)})
            await _settled(d, 1)
        await first.close()  # not the owner: the shared pool stays open
        second.send("leg", rx.url, {"n": 2})
        await _settled(second, 2)
        await second.close()
        await transport.close()
    assert [x.state for x in [*first.log, *second.log]] == ["delivered"] * 3
    assert transport.opened == 1 and len(set(rx.peers)) == 1  # one kept-alive connection
