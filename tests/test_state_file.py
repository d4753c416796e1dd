"""The state file: snapshots are atomic; a restarted emulator answers reports for earlier
broadcasts, keeps their delivery log, re-sends what was pending, and never reuses an id."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from faulty_receivers import completed, create_body, faulty_receiver, wait_for
from saved_state import NO_OUTAGE, PROJECTS_SAVED, write_saved_state

from emulator import EmulatorRunner, Settings, create_app, state_schema
from emulator.app import EMULATOR
from emulator.cli import main
from emulator.domain.models import CreateCommand, PlaySpec, Recipient, Result
from emulator.projects import PROJECT_SETTINGS, Projects
from emulator.sim.clock import ClockMode
from emulator.state import SaveError, StateError, StateFile, read_state, write_state
from emulator.webhooks.delivery import Attempt

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
    assert capsys.readouterr().err == f"state file {bad}: seed: missing\n"


async def test_snapshot_needs_a_state_file(start_emulator: Any) -> None:
    running = await start_emulator()
    status, body = await running.api.call("POST", "/_emulator/snapshot", auth=False)
    assert status == 409 and "--state-file" in body["error_description"]


# -- every file the emulator writes is one it reads ------------------------------------------
def _broadcasts(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {p["app_id"]: p["broadcasts"] for p in data["projects"]}


async def test_every_file_the_emulator_writes_validates(
    start_emulator: Any, tmp_path: Path
) -> None:
    """Three projects, ended, stopped and running broadcasts, pending, dead and delivered
    deliveries: written, validated, restored, written again: the same, but for what a restart
    changes (running broadcasts stop; pending deliveries are sent again)."""
    first = tmp_path / "first.json"
    await write_saved_state(first)
    saved = read_state(first)  # validates
    assert saved is not None
    assert [p["app_id"] for p in saved["projects"]] == list(PROJECTS_SAVED)
    assert any(d["state"] == "pending" for p in saved["projects"] for d in p["deliveries"])
    second = tmp_path / "second.json"
    second.write_bytes(first.read_bytes())
    running = await start_emulator(clock=MANUAL, state_file=str(second), **NO_OUTAGE)
    await wait_for(lambda: all(w.activity.held == 0 for w in running.projects))
    await running.api.control("POST", "/snapshot")
    again = read_state(second)
    assert again is not None
    before, after = _broadcasts(saved), _broadcasts(again)
    assert before.keys() == after.keys()
    for app_id, rows in before.items():
        assert [b["broadcast_id"] for b in rows] == [b["broadcast_id"] for b in after[app_id]]
        for old, new in zip(rows, after[app_id], strict=True):
            if old["state"] == "running":  # interrupted by the restart
                assert new["state"] == "stopped" and new["completion_sent"]
                assert {leg["reason"] for leg in new["legs"]} >= {"emulator-restart"}
            else:
                assert new == old
    third = tmp_path / "third.json"
    third.write_bytes(second.read_bytes())
    await start_emulator(clock=MANUAL, state_file=str(third), **NO_OUTAGE)
    assert _broadcasts(read_state(third) or {}) == after  # a second restart changes nothing


def test_the_schema_names_every_field_the_emulator_writes() -> None:
    """When a saved dataclass gains a field, the schema (and VERSION) must follow."""
    command = state_schema.COMMAND.fields
    recipient = command["recipients"].item.fields  # type: ignore[attr-defined]
    assert set(command) == {f.name for f in dataclasses.fields(CreateCommand)}
    assert set(recipient) == {f.name for f in dataclasses.fields(Recipient)}
    assert set(state_schema.PLAY.fields) == {f.name for f in dataclasses.fields(PlaySpec)}
    attempt = {f.name for f in dataclasses.fields(Attempt)}  # some written only when set
    assert set(state_schema.ATTEMPT.fields) <= attempt
    assert attempt <= set(state_schema.ATTEMPT.fields) | set(state_schema.ATTEMPT.optional or {})
    assert set(state_schema.SETTINGS.fields) == set(PROJECT_SETTINGS)
    assert set(state_schema.RESULT.fields) == {f.name for f in dataclasses.fields(Result)}


async def test_a_bad_project_late_in_the_file_restores_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    await write_saved_state(path)
    data = json.loads(path.read_text())
    data["projects"][2]["broadcasts"][0]["legs"][0]["state"] = "sideways"
    path.write_text(json.dumps(data))
    projects = Projects(Settings(clock=MANUAL, projects=(("team-b", "key-b"),)))
    with pytest.raises(StateError, match=r"projects\[2\]\.broadcasts\[0\]\.legs\[0\]\.state"):
        await StateFile(projects, str(path)).restore()
    assert [w.app_id for w in projects] == ["emulator-app-id", "team-b"]
    assert all(not w.store.broadcasts and not w.dispatcher.log for w in projects)


# -- start-up checks and the final save ------------------------------------------------------
async def _refused(*args: str) -> str:
    """`serve` with `args` must exit 2 with one line on stderr (and serve nothing)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "emulator", "serve", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and out == b"", (out, err)
    lines = err.decode().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0], err
    return lines[0]


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder no file can be made in (root ignores permissions: /sys refuses even root)."""
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir(mode=0o500)
        return folder
    try:
        tempfile.mkstemp(dir="/sys")
    except OSError:
        return Path("/sys")
    pytest.skip("no folder refuses root here")


async def test_serve_refuses_a_state_file_in_a_missing_folder(tmp_path: Path) -> None:
    path = tmp_path / "gone" / "state.json"
    line = await _refused("--state-file", str(path))
    assert line == f"state file {path}: folder '{path.parent}' does not exist"


async def test_serve_refuses_a_state_file_in_a_folder_it_cannot_write(tmp_path: Path) -> None:
    path = _unwritable_folder(tmp_path) / "state.json"
    line = await _refused("--state-file", str(path))
    assert line.startswith(f"state file {path}: folder '{path.parent}' is not writable (")


async def test_serve_refuses_a_state_file_that_is_a_folder(tmp_path: Path) -> None:
    line = await _refused("--state-file", str(tmp_path))
    assert line == f"state file {tmp_path}: is a folder, not a file"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
async def test_serve_refuses_a_state_file_it_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{}")
    path.chmod(0)
    line = await _refused("--state-file", str(path))
    assert line == f"state file {path}: cannot be read (Permission denied)"


async def test_serve_refuses_more_projects_than_it_may_hold(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    await write_saved_state(path)  # three projects
    line = await _refused("--state-file", str(path), "--max-projects", "2")
    assert line == (
        f"state file {path}: projects: 2 projects to make again, but --max-projects 2 "
        "leaves room for 1"
    )


async def test_serve_exits_3_when_the_final_save_fails(serve: Any, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "state.json"
    served = await serve("--state-file", str(path), "--log-level", "warning")
    async with aiohttp.ClientSession() as session:
        async with session.post(served.url + "/_emulator/snapshot") as resp:
            assert resp.status == 200
        shutil.rmtree(folder)  # the folder goes away while it serves
        async with session.post(served.url + "/_emulator/snapshot") as resp:
            body = await resp.json()  # a snapshot now fails: 503, JSON, and it goes on serving
            assert resp.status == 503 and "not written" in body["error_description"], body
    served.proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(served.proc.wait(), 30) == 3
    await served.drained()
    err = "\n".join(served.log)
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if "state file" in line] == [
        f"state file {path}: not saved at shutdown (No such file or directory): "
        "the state of this run is lost"
    ], err


async def test_a_value_json_cannot_hold_fails_the_snapshot_not_the_file(tmp_path: Path) -> None:
    """A setting the command line let through as infinity: the snapshot fails with SaveError
    (503 on the control plane) instead of writing a file that could not be read back."""
    path = tmp_path / "state.json"
    write_state(path, {"format": "broadcast-emulator-state", "version": 1, "n": 1})
    store = StateFile(Projects(Settings(webhook_backoff_s=float("inf"))), str(path))
    with pytest.raises(SaveError, match=r"not written .*JSON"):
        await store.save()
    assert json.loads(path.read_text())["n"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
