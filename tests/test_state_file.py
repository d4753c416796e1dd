"""The state file: snapshots are atomic; a restarted emulator answers reports for earlier
broadcasts, keeps their delivery log, re-sends what was pending, and never reuses an id."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from faulty_receivers import completed, create_body, faulty_receiver, wait_for

from emulator import EmulatorRunner, Settings, create_app
from emulator.app import EMULATOR
from emulator.cli import main
from emulator.sim.clock import ClockMode
from emulator.state import StateError, read_state, write_state

CREATE = "/voice/v1/broadcast"
MANUAL = ClockMode.MANUAL


def _stable(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "timestamp"}


async def _run_idle(running: Any) -> None:
    await running.api.run_until_idle()


async def test_snapshot_and_restore(start_emulator: Any, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    async with faulty_receiver() as rec:
        first = await start_emulator(clock=MANUAL, state_file=str(state))
        api = first.api
        _, done = await api.call("POST", CREATE, create_body(rec.url))
        await _run_idle(first)
        await wait_for(lambda: completed(rec))
        _, running = await api.call("POST", CREATE, create_body(rec.url, ["919800000020"] * 2))
        await api.advance(4)  # both calls connected
        await wait_for(lambda: first.emulator.dispatcher.pending == 0)
        written = await api.control("POST", "/snapshot")
        before = {b: await api.report(b) for b in (done["broadcast_id"], running["broadcast_id"])}
        log_before = await api.control("GET", "/webhooks")
    assert written["broadcasts"] == 2 and written["deliveries"] == len(log_before["deliveries"])
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary file left

    second = await start_emulator(clock=MANUAL, state_file=str(state))
    api = second.api
    assert _stable(await api.report(done["broadcast_id"])) == _stable(before[done["broadcast_id"]])
    cut = await api.report(running["broadcast_id"])
    assert cut["state"] == "stopped" and cut["progress"]["in_progress"] == 0
    assert before[running["broadcast_id"]]["state"] == "running"
    assert [r["result"] for r in cut["resultSet"]] == [{"code": "success", "reason": "success"}] * 2
    assert {r["disconnect_reason"] for r in cut["resultSet"]} == {"emulator-restart"}
    log_after = await api.control("GET", "/webhooks")
    assert log_after["deliveries"] == log_before["deliveries"]
    clock = await api.control("GET", "/clock")
    assert clock["now"] == before[running["broadcast_id"]]["timestamp"]
    _, new = await api.call("POST", CREATE, create_body("http://127.0.0.1:9"))
    assert new["broadcast_id"] not in before
    health = await api.control("GET", "/health")
    assert health["state_file"]["restored"] == {
        "projects": 1,
        "broadcasts": 2,
        "interrupted": 1,
        "deliveries": len(log_before["deliveries"]),
        "requeued": 0,
    }
    status, call = await api.call("GET", f"/voice/v1/call/{cut['resultSet'][0]['voice_id']}")
    assert status == 200 and call["state"] == "disconnected"


async def test_pending_deliveries_are_sent_after_a_restart(
    start_emulator: Any, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    async with faulty_receiver() as rec:
        await rec.go_down()
        # no real-time outage window: refused deliveries back off at once
        first = await start_emulator(clock=MANUAL, state_file=str(state), webhook_outage_s=0)
        await first.api.call("POST", CREATE, create_body(rec.url, ["919800000004"]))
        # an invalid number: initiated, disconnected at once; every delivery refused, backing off
        await first.api.advance(0)
        await wait_for(lambda: first.emulator.activity.held == 0)
        await first.api.control("POST", "/snapshot")
        pending = [d for d in first.emulator.dispatcher.log if d.state == "pending"]
        assert len(pending) == 3 and [len(d.attempts) for d in pending] == [1, 1, 0]
        await rec.listen()
        second = await start_emulator(clock=MANUAL, state_file=str(state))
        await wait_for(lambda: completed(rec))
        await wait_for(lambda: second.emulator.dispatcher.pending == 0)
    log = second.emulator.dispatcher.log
    assert all(d.state == "delivered" for d in log)
    assert [e["state"] for e in rec.arrived if "voice_id" in e] == ["initiated", "disconnected"]
    health = await second.api.control("GET", "/health")
    assert health["state_file"]["restored"]["requeued"] >= 2


async def test_shutdown_writes_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    app = create_app(Settings(port=0, clock=MANUAL, state_file=str(state)))
    runner = EmulatorRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    emulator = app[EMULATOR]
    from emulator.api.dialects import normalise_create

    emulator.service.create(normalise_create(create_body("http://127.0.0.1:9"), emulator.limits))
    await runner.cleanup()
    data = read_state(state)
    assert data is not None and len(data["projects"][0]["broadcasts"]) == 1


def test_a_failed_write_leaves_the_old_file_and_no_litter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state.json"
    write_state(state, {"format": "broadcast-emulator-state", "version": 1, "n": 1})

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_state(state, {"n": 2})
    assert json.loads(state.read_text())["n"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


@pytest.mark.parametrize(
    "content", ["{", "[]", '{"format": "other"}', '{"format": "broadcast-emulator-state"}']
)
def test_a_damaged_state_file_is_refused(tmp_path: Path, content: str) -> None:
    bad = tmp_path / "state.json"
    bad.write_text(content)
    with pytest.raises(StateError):
        read_state(bad)


def test_serve_refuses_a_damaged_state_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "state.json"
    bad.write_text('{"format": "broadcast-emulator-state", "version": 1, "now_ms": 0}')
    assert main(["serve", "--port", "0", "--state-file", str(bad)]) == 2
    assert "damaged state file" in capsys.readouterr().err


async def test_snapshot_needs_a_state_file(start_emulator: Any) -> None:
    running = await start_emulator()
    status, body = await running.api.call("POST", "/_emulator/snapshot", auth=False)
    assert status == 409 and "--state-file" in body["error_description"]
