"""Snapshots of a large state do not hold the event loop, hold the project's clock while they
are made, and are consistent however busy the emulator is meanwhile."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeReceiver, StartEmulator, until
from saved_state import busy_projects

from emulator import state_writer
from emulator.sim.clock import ClockMode
from emulator.state import StateFile, read_state, save_projects

LONGEST_CPU_S = 0.1  # CONTRACT §12; the real figure (~20 ms of wall time) is in bench/statefile.py


async def _longest_stall(work: Any) -> tuple[float, int]:
    """Run `work` while a task wakes every millisecond: the most CPU time the process spent
    between two of its wake-ups (its threads' work that kept the loop from the task: the loop
    thread's own, or a worker holding the GIL; time the machine gave other processes does not
    count, so a busy machine does not fail the test), and how many times it woke."""
    stop = asyncio.Event()
    longest, wakes = 0.0, 0

    async def probe() -> None:
        nonlocal longest, wakes
        last = time.process_time()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = time.process_time()
            longest, wakes, last = max(longest, now - last), wakes + 1, now

    task = asyncio.create_task(probe())
    await asyncio.sleep(0.005)
    longest, wakes = 0.0, 0
    try:
        await work
    finally:
        stop.set()
        await task
    return longest, wakes


async def test_a_large_snapshot_never_holds_the_loop_long(tmp_path: Path) -> None:
    projects = busy_projects(10_000)  # 10,000 calls, the last 50,000 deliveries: ~26 MB
    path = tmp_path / "state.json"
    longest, wakes = await _longest_stall(save_projects(projects, str(path)))
    assert path.stat().st_size > 20_000_000
    assert longest < LONGEST_CPU_S, f"the loop was held for {longest * 1000:.0f} ms of CPU"
    assert wakes > 20  # the probe kept running while the file was made
    data = read_state(path)  # and what was written is a valid state file
    assert data is not None and len(data["projects"][0]["deliveries"]) == 50_000


@pytest.mark.parametrize("mode", [ClockMode.AUTO, ClockMode.MANUAL, ClockMode.REALTIME])
async def test_no_timer_fires_while_a_project_is_written(
    start_emulator: StartEmulator,
    make_receiver: MakeReceiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: ClockMode,
) -> None:
    monkeypatch.setattr(state_writer, "SLICE_S", 0.0)  # a turn of the loop every 64 rows
    receiver = await make_receiver()
    # 20 dials a virtual second, booked a second at a time: timers fall due all along the
    # campaign (in realtime at speed 50: every 20 ms of wall time, for 30 virtual seconds)
    running = await start_emulator(
        clock=mode, speed=50.0, dial_rate=20, state_file=str(tmp_path / "s.json")
    )
    world = running.emulator
    numbers = [f"9180{i:07d}7" for i in range(600)]  # people: ring 3 s, talk, hang up
    await running.api.create(numbers, receiver)
    if mode is ClockMode.MANUAL:
        await running.api.advance(2)
    await until(lambda: world.clock.pending > 0 and world.store.legs)
    seen: list[tuple[int, int, bool]] = []  # (timers fired, tokens held, a timer is due)
    pause = state_writer.Slices.pause

    async def watching(self: state_writer.Slices) -> None:
        due = world.clock.next_due()
        overdue = due is not None and due <= world.clock.now_ms
        seen.append((world.clock.fired, world.activity.held, overdue))
        await asyncio.sleep(0.005)  # a slow disk: the snapshot spans real time (and realtime's
        await pause(self)  # clock goes on: its timers fall due meanwhile)

    monkeypatch.setattr(state_writer.Slices, "pause", watching)
    advance = None
    if mode is ClockMode.MANUAL:  # a client moving time meanwhile waits for the snapshot
        advance = asyncio.create_task(running.api.advance(60))
    await running.api.control("POST", "/snapshot")
    assert len(seen) > 10
    assert len({fired for fired, _, _ in seen}) == 1, "a timer fired under the snapshot"
    assert all(held >= 1 for _, held, _ in seen)  # the snapshot's in-flight token
    if mode is ClockMode.REALTIME:  # the wall went on: timers fell due, and waited
        assert any(overdue for _, _, overdue in seen)
    if advance is not None:
        await advance
    await until(lambda: world.clock.fired > seen[-1][0])  # timers were due; they go on after


async def test_a_snapshot_taken_while_clients_act_is_consistent(
    start_emulator: StartEmulator,
    make_receiver: MakeReceiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Broadcasts created and stopped, calls hung up and webhooks delivered while the file is
    made: every file validates, and restores."""
    monkeypatch.setattr(state_writer, "SLICE_S", 0.0)
    receiver = await make_receiver()
    path = tmp_path / "state.json"
    running = await start_emulator(clock=ClockMode.AUTO, state_file=str(path))
    api = running.api
    created = [await api.create([f"9181{i:07d}7" for i in range(200)], receiver) for _ in range(3)]
    await until(lambda: len(running.emulator.store.legs) >= 300)

    async def meddle() -> None:
        for i in range(10):
            await api.create([f"9182{i:07d}7", "919800000004"], receiver)
            await api.call("DELETE", f"/voice/v1/broadcast/{created[i % 3]['broadcast_id']}")
            for leg in list(running.emulator.store.legs.values())[:3]:
                await api.call("DELETE", f"/voice/v1/call/{leg.voice_id}")
            await asyncio.sleep(0)

    for _ in range(3):
        busy = asyncio.create_task(meddle())
        written = await api.control("POST", "/snapshot")
        await busy
        data = read_state(path)
        assert data is not None and written["broadcasts"] == len(data["projects"][0]["broadcasts"])
    second = await start_emulator(state_file=str(path))  # and it restores
    assert len(second.emulator.store.broadcasts) == written["broadcasts"]


async def test_two_snapshots_at_once_are_written_one_after_the_other(tmp_path: Path) -> None:
    projects = busy_projects(2_000)
    store = StateFile(projects, str(tmp_path / "state.json"))
    first, second = await asyncio.gather(store.save(), store.save())
    assert first["bytes"] == second["bytes"] and projects.snapshots == 2
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
    assert read_state(tmp_path / "state.json") is not None


def test_the_state_file_bench_runs_in_its_quick_mode() -> None:
    bench = Path(__file__).resolve().parent.parent / "bench"
    results = (bench / "RESULTS.md").read_text()
    done = subprocess.run(
        [sys.executable, str(bench / "statefile.py"), "--quick"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "longest event-loop stall" in done.stdout and "longest GET" in done.stdout
    assert (bench / "RESULTS.md").read_text() == results  # quick runs append nothing
