"""SIGTERM: the server stops accepting requests, lets the delivery in flight finish, writes the
state file, and exits 0."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import Serve
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
