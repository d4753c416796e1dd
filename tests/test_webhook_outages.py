"""A receiver that cannot be reached loses nothing for up to --webhook-outage-s of real time
(CONTRACT §11): the clock is held while the emulator retries in real time, one request at a time,
and health and the serve log say who holds the clock; afterwards the virtual back-off applies.
Injected faults and HTTP error statuses back off on the virtual clock as before."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import struct
from typing import Any

import pytest
from faulty_receivers import (
    FaultyReceiver,
    completed,
    create_body,
    faulty_receiver,
    healthy,
    per_call,
    wait_for,
)

from emulator.sim.clock import parse_iso
from emulator.webhooks import holds

CREATE = "/voice/v1/broadcast"


async def _baseline(start_emulator: Any) -> dict[str, list[str]]:
    async with faulty_receiver(healthy) as rec:
        running = await start_emulator()
        assert (await running.api.call("POST", CREATE, create_body(rec.url)))[0] == 200
        await wait_for(lambda: completed(rec))
        return per_call(rec.arrived)


def _rows(running: Any) -> list[dict[str, Any]]:
    return [d.as_json(running.emulator.clock.iso) for d in running.emulator.dispatcher.log]


def _messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


@pytest.fixture
def quick_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Say who holds the clock after 0.05 s (health) and 0.1 s (log), not 1 s and 2 s."""
    monkeypatch.setattr(holds, "WAITING_S", 0.05)
    monkeypatch.setattr(holds, "ANNOUNCE_S", 0.1)


async def test_a_receiver_restarted_on_its_port_gets_every_event_once_in_order(
    start_emulator: Any, caplog: pytest.LogCaptureFixture, quick_holds: None
) -> None:
    caplog.set_level(logging.WARNING, "emulator.webhooks")
    expected = await _baseline(start_emulator)
    async with faulty_receiver(healthy) as rec:
        await rec.go_down()  # connections refused
        running = await start_emulator()
        em = running.emulator
        assert (await running.api.call("POST", CREATE, create_body(rec.url)))[0] == 200
        await wait_for(lambda: bool(_messages(caplog, "holds the clock (outage)")))
        held = (await running.api.control("GET", "/health"))["clock_held_by"]
        assert [(h["receiver"], h["reason"]) for h in held] == [(rec.url, "outage")]
        assert held[0]["for_s"] > 0 and held[0]["since"].endswith("Z")
        assert em.clock.now_ms == em.clock.start_ms  # the clock is held meanwhile
        await rec.listen()  # back, on the same port
        await wait_for(lambda: completed(rec))
        await wait_for(lambda: bool(_messages(caplog, "let go of the clock (outage) after")))
    assert per_call(rec.arrived) == expected  # every event once, in order, same timestamps
    rows = _rows(running)
    assert all(row["state"] == "delivered" for row in rows)
    assert all(len(row["attempts"]) == 1 for row in rows)  # the outage cost no attempt
    rode_out = [a for row in rows for a in row["attempts"] if "outage_s" in a]
    assert len(rode_out) == 1 and rode_out[0]["status"] == 200 and rode_out[0]["probes"] >= 1
    assert em.dispatcher.held_by() == []
    assert len(_messages(caplog, "cannot be reached")) == 1  # one window for the receiver


class Resets:
    """A raw HTTP receiver: while `down`, it resets every connection at once (a process being
    restarted behind a proxy); otherwise it answers 200 and keeps the JSON bodies it got."""

    def __init__(self) -> None:
        self.down = True
        self.resets = 0
        self.bodies: list[bytes] = []
        self.url = ""
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            self.resets += 1
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                self.bodies.append(await reader.readexactly(length))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def __aenter__(self) -> Resets:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()


async def test_a_receiver_resetting_connections_for_a_while_loses_nothing(
    start_emulator: Any,
) -> None:
    import json

    expected = await _baseline(start_emulator)
    async with Resets() as rec:
        running = await start_emulator(webhook_attempts=1)  # even a strict provider loses none
        assert (await running.api.call("POST", CREATE, create_body(rec.url)))[0] == 200
        await wait_for(lambda: rec.resets >= 3)  # retried in real time, one request at a time
        rec.down = False
        arrived = lambda: [json.loads(b) for b in rec.bodies]  # noqa: E731
        await wait_for(lambda: any("resultSet" in e for e in arrived()))
    assert per_call(arrived()) == expected
    assert all(row["state"] == "delivered" for row in _rows(running))


async def test_a_receiver_down_longer_than_the_window_falls_back_to_virtual_backoff(
    start_emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "emulator.webhooks")
    async with faulty_receiver(healthy) as rec:
        await rec.go_down()
        running = await start_emulator(webhook_outage_s=0.3)
        em = running.emulator
        assert (await running.api.call("POST", CREATE, create_body(rec.url)))[0] == 200
        await wait_for(lambda: em.dispatcher.pending == 0 and em.dispatcher.dead > 4)
    rows = _rows(running)
    assert rows and all(row["state"] == "dead" for row in rows)
    for row in rows:
        times = [parse_iso(a["at"]) for a in row["attempts"]]
        assert [b - a for a, b in itertools.pairwise(times)] == [1000, 2000, 4000, 8000]
        assert all("Connect" in a["error"] for a in row["attempts"])
    rode_out = [a for row in rows for a in row["attempts"] if "outage_s" in a]
    assert len(rode_out) == 1  # one window for the receiver, then the back-off alone
    assert rode_out[0]["outage_s"] > 0 and rode_out[0]["probes"] >= 1
    assert len(_messages(caplog, "still unreachable after")) == 1
    assert em.dispatcher.held_by() == []


async def test_injected_refusals_and_timeouts_back_off_on_the_virtual_clock(
    start_emulator: Any,
) -> None:
    async with faulty_receiver(healthy) as rec:
        running = await start_emulator(webhook_fault="/event=refusex1; /event=timeoutx1")
        assert (await running.api.call("POST", CREATE, create_body(rec.url)))[0] == 200
        await wait_for(lambda: completed(rec))
    first = _rows(running)[0]
    assert first["event"] == "initiated" and first["state"] == "delivered"
    errors = [a["error"] for a in first["attempts"]]
    assert errors == ["connection refused (injected)", "timeout (injected)", None]
    times = [parse_iso(a["at"]) for a in first["attempts"]]
    assert [b - a for a, b in itertools.pairwise(times)] == [1000, 2000]
    assert not any("outage_s" in a for row in _rows(running) for a in row["attempts"])


async def test_health_and_the_log_say_which_receiver_waits_to_answer(
    start_emulator: Any, caplog: pytest.LogCaptureFixture, quick_holds: None
) -> None:
    caplog.set_level(logging.WARNING, "emulator.webhooks")
    release = asyncio.Event()

    async def holds_first(hit: int, body: dict[str, Any]) -> int:
        if hit == 1:
            await release.wait()  # the receiver thinks it over until the test lets it answer
        return 200

    async with faulty_receiver(holds_first) as rec:
        running = await start_emulator()
        em = running.emulator
        assert (await running.api.call("POST", CREATE, create_body(rec.url)))[0] == 200
        await wait_for(lambda: bool(_messages(caplog, "holds the clock (waiting for answer)")))
        held = (await running.api.control("GET", "/health"))["clock_held_by"]
        assert [(h["receiver"], h["reason"]) for h in held] == [(rec.url, "waiting for answer")]
        release.set()
        await wait_for(lambda: completed(rec))
        await wait_for(lambda: bool(_messages(caplog, "let go of the clock (waiting")))
    assert len(_messages(caplog, "holds the clock")) == 1
    assert em.dispatcher.held_by() == []


async def test_reset_and_shutdown_do_not_wait_for_an_outage(start_emulator: Any) -> None:
    rec = FaultyReceiver()
    await rec.start()
    try:
        await rec.go_down()
        running = await start_emulator()
        em = running.emulator
        assert (await running.api.call("POST", CREATE, create_body(rec.url)))[0] == 200
        await wait_for(lambda: em.dispatcher.held_by() != [])
        assert await em.dispatcher.drain(5.0)  # nothing it could deliver in the grace period
        await running.api.control("POST", "/reset")
        assert em.dispatcher.held_by() == [] and em.dispatcher.pending == 0
        await wait_for(lambda: em.activity.held == 0)
        await rec.listen()
        assert (await running.api.call("POST", CREATE, create_body(rec.url)))[0] == 200
        await wait_for(lambda: completed(rec))
    finally:
        await rec.close()


def test_the_outage_window_is_a_setting_with_an_environment_twin() -> None:
    from emulator.config import load_settings, option

    assert load_settings(environ={}).webhook_outage_s == 30
    assert load_settings(environ={"EMULATOR_WEBHOOK_OUTAGE_S": "2.5"}).webhook_outage_s == 2.5
    assert load_settings({"webhook_outage_s": 0}, environ={}).webhook_outage_s == 0
    assert option("webhook_outage_s").flag == "--webhook-outage-s"
    with pytest.raises(ValueError, match="EMULATOR_WEBHOOK_OUTAGE_S"):
        load_settings(environ={"EMULATOR_WEBHOOK_OUTAGE_S": "-1"})
