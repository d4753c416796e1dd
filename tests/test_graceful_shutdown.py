"""SIGTERM: the server stops accepting requests, lets the delivery in flight finish, writes the
state file, and exits 0."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import Serve, Served, until
from faulty_receivers import Decision, create_body, faulty_receiver


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_sigterm_finishes_the_delivery_in_flight_and_saves_state(
    tmp_path: Path, serve: Serve
) -> None:
    state = tmp_path / "state.json"
    in_flight = asyncio.Event()

    async def slow_first_call_event(hit: int, body: dict[str, Any]) -> Decision:
        if "voice_id" in body and not in_flight.is_set():
            in_flight.set()
            await asyncio.sleep(1.0)
        return 200

    async with faulty_receiver(slow_first_call_event) as rec:
        served = await serve(
            *("--settle-ms", "0", "--state-file", str(state), "--shutdown-grace-s", "5")
        )
        proc, base = served.proc, served.url
        auth = {"Authorization": aiohttp.encode_basic_auth(served.app_id, served.app_key)}
        async with aiohttp.ClientSession() as session:
            body = create_body(rec.url, ["919800000010"])
            async with session.post(base + "/voice/v1/broadcast", json=body, headers=auth) as r:
                assert r.status == 200
                broadcast_id = (await r.json())["broadcast_id"]
            await asyncio.wait_for(in_flight.wait(), 10)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 20) == 0
            with pytest.raises(aiohttp.ClientConnectionError):
                await session.get(base + "/_emulator/health")
    slow = [e for e in rec.arrived if "voice_id" in e]
    assert slow and slow[0]["state"] == "initiated"  # the delivery in flight was answered
    data = json.loads(state.read_text())["projects"][0]
    assert [b["broadcast_id"] for b in data["broadcasts"]] == [broadcast_id]
    first_call = next(d for d in data["deliveries"] if d["channel"] != "b:" + broadcast_id)
    assert first_call["state"] == "delivered"
    assert first_call["attempts"][0]["latency_ms"] >= 1000


async def _log_line_with(served: Served, needle: str) -> str:
    """The first line of the serve log (stderr) that holds `needle` (log lines come before)."""
    await until(lambda: any(needle in line for line in served.log), timeout=10)
    return next(line for line in served.log if needle in line)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_ctrl_c_says_what_it_waits_for_and_a_second_one_stops_at_once(
    tmp_path: Path, serve: Serve
) -> None:
    state = tmp_path / "state.json"
    arrived, release = asyncio.Event(), asyncio.Event()

    async def hang_on_the_first_call_event(hit: int, body: dict[str, Any]) -> Decision:
        if "voice_id" in body:
            arrived.set()
            await release.wait()
        return 200

    async with faulty_receiver(hang_on_the_first_call_event) as rec:
        served = await serve(
            *("--settle-ms", "0", "--state-file", str(state), "--shutdown-grace-s", "60")
        )
        auth = {"Authorization": aiohttp.encode_basic_auth(served.app_id, served.app_key)}
        async with aiohttp.ClientSession() as session:
            body = create_body(rec.url, ["919800000010"])
            async with session.post(served.url + "/voice/v1/broadcast", json=body, headers=auth):
                pass
        await asyncio.wait_for(arrived.wait(), 10)
        served.proc.send_signal(signal.SIGINT)
        line = await _log_line_with(served, "stopping")
        # the hung event and those of the same call queued behind it (`ringing`, same instant)
        assert re.fullmatch(
            r"broadcast-emulator: stopping: waiting up to 60 s for \d+ webhook deliveries in "
            rf"flight, then saving {re.escape(str(state))}; Ctrl-C again to stop at once",
            line,
        ), line
        served.proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(served.proc.wait(), 10)  # far less than the 60 s grace
        release.set()
    assert code == 130  # 128 + SIGINT, as shells report an interrupted command
    await served.drained()
    rest = served.log[served.log.index(line) + 1 :]
    assert rest == ["broadcast-emulator: second SIGINT: stopped at once, without waiting or saving"]
    assert not state.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_a_stop_with_nothing_in_flight_says_so_briefly(serve: Serve) -> None:
    served = await serve("--settle-ms", "0")
    served.proc.send_signal(signal.SIGTERM)
    assert await _log_line_with(served, "stopping") == "broadcast-emulator: stopping"
    assert await asyncio.wait_for(served.proc.wait(), 20) == 0
