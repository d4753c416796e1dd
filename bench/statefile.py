"""State file: how long a large snapshot holds the event loop, and what it costs.

    python bench/statefile.py [--numbers 50000] [--broadcasts 10] [--quick]
                              [--compare-src DIR [--compare-label TEXT]]

Builds a real state in this process: one project on the `manual` clock, `--broadcasts`
broadcasts of `--numbers` numbers in all (a person answers, hears the prompt, hangs up: six
events each; the delivery log keeps its last 50,000), every timer fired; the deliveries are then
marked delivered (one 200 attempt each) so that a restored emulator has nothing to send. It is
written with the emulator's own `StateFile.save()` (about 40 MB with the defaults).

1. In process, while a probe task wakes every millisecond: the longest stall of the event loop
   during `save()` (wall, and the loop thread's own CPU, which other processes on the machine do
   not inflate), the save's duration and the number of slices. Yardstick: the same data written
   in one go as the emulator used to, `json.dumps` of the whole file and the write (the least a
   snapshot made in one step holds the loop for).
2. `broadcast-emulator serve --state-file F`: start-up until `GET /_emulator/health` answers
   (reading, validating and restoring F); then `POST /_emulator/snapshot` while a client thread
   sends `GET /_emulator/health` back to back: the snapshot's wall time and the longest health
   answer meanwhile (and the median).
3. With `--compare-src DIR` (a checkout of another version, e.g. `git worktree add /tmp/base
   main`), step 2 again with that version's code on the same file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client as httpclient
import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from _common import PY, append_results, child, number, wait_http

from emulator.api.dialects import normalise_create
from emulator.config import Settings
from emulator.projects import Projects
from emulator.sim.clock import ClockMode
from emulator.state import StateFile
from emulator.state_writer import write_chunks
from emulator.webhooks.delivery import Attempt

RECEIVER = "http://127.0.0.1:9"  # never contacted: every delivery is settled before saving


def build(numbers: int, broadcasts: int) -> Projects:
    """A project after `broadcasts` campaigns of `numbers` numbers in all, every call over."""
    settings = Settings(port=0, clock=ClockMode.MANUAL, settle_ms=0)
    projects = Projects(settings)
    world = projects.default
    per = max(1, numbers // broadcasts)
    for b in range(broadcasts):
        body = {
            "application_name": f"bench {b}",
            "broadcast_numbers_array": [number(b * per + i) for i in range(per)],
            "from": "919999999999",
            "action_on_connect": {"play": {"text": "Hello from the state file bench"}},
            "event_url": RECEIVER + "/event",
            "call_handler_url": RECEIVER + "/call",
        }
        world.service.create(normalise_create(body, world.limits))
    world.clock.jump_to(world.clock.now_ms + 24 * 3600 * 1000)
    at = world.clock.now_iso()
    for d in world.dispatcher.log:  # as if every receiver had answered 200 at once
        d.state = "delivered"
        d.attempts = [Attempt(200, None, 1.0, at, 1_767_258_000.0)]
    world.activity.reset()
    return projects


async def probe_save(store: StateFile) -> dict[str, float]:
    """`store.save()` while a task wakes every ms: the longest gaps between its wake-ups."""
    stop = asyncio.Event()
    gaps = {"wall": 0.0, "cpu": 0.0}

    async def probe() -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now_wall, now_cpu = time.perf_counter(), time.thread_time()
            gaps["wall"] = max(gaps["wall"], now_wall - wall - 0.001)
            gaps["cpu"] = max(gaps["cpu"], now_cpu - cpu)
            wall, cpu = now_wall, now_cpu

    task = asyncio.create_task(probe())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    written = await store.save()
    gaps["save"] = time.perf_counter() - started
    gaps["bytes"] = written["bytes"]
    stop.set()
    await task
    return gaps


def yardstick(path: Path) -> float:
    """Seconds to write the same data in one go: json.dumps of it all, then the bytes."""
    data = json.loads(path.read_text())
    started = time.perf_counter()
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    write_chunks(path.with_suffix(".yardstick"), [text])
    took = time.perf_counter() - started
    path.with_suffix(".yardstick").unlink()
    return took


class HealthProbe(threading.Thread):
    """GET /_emulator/health back to back over one connection; keeps every latency."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        host, port = base.removeprefix("http://").split(":")
        self.conn = httpclient.HTTPConnection(host, int(port), timeout=60)
        self.latencies: list[float] = []
        self.running = True

    def run(self) -> None:
        while self.running:
            started = time.perf_counter()
            self.conn.request("GET", "/_emulator/health")
            self.conn.getresponse().read()
            self.latencies.append(time.perf_counter() - started)
        self.conn.close()


@contextlib.contextmanager
def code_from(src: Path | None) -> Iterator[None]:
    """Children started meanwhile import the emulator from `src` (None: this checkout)."""
    # PYTHONSAFEPATH: not the current folder (this checkout) first on sys.path
    changes = {"PYTHONPATH": str(src.resolve()), "PYTHONSAFEPATH": "1"} if src else {}
    saved = {key: os.environ.get(key) for key in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def served_snapshot(path: Path, src: Path | None) -> dict[str, float]:
    """Start `serve` on `path` (code from `src`, or this checkout); snapshot under a probe."""
    argv = [PY, "-m", "emulator", "serve", "--port", "0", "--clock", "manual"]
    argv += ["--log-level", "warning", "--state-file", str(path)]
    started = time.monotonic()
    with code_from(src), child(argv, r"serving (http://\S+)", timeout_s=300) as emu:
        base = emu.match[1]
        ready = wait_http(base + "/_emulator/health") - started
        probe = HealthProbe(base)
        probe.start()
        time.sleep(0.5)
        before = len(probe.latencies)
        t0 = time.perf_counter()
        conn = httpclient.HTTPConnection(*base.removeprefix("http://").split(":"), timeout=600)
        conn.request("POST", "/_emulator/snapshot")
        answer = json.loads(conn.getresponse().read())
        took = time.perf_counter() - t0
        during = probe.latencies[before:]
        probe.running = False
        probe.join(10)
    return {
        "start": ready,
        "snapshot": took,
        "bytes": float(answer.get("bytes", 0)),
        "longest": max(during) if during else took,
        "median": statistics.median(during) if during else took,
        "answers": float(len(during)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--numbers", type=int, default=50_000)
    parser.add_argument("--broadcasts", type=int, default=10)
    parser.add_argument("--compare-src", type=Path, help="another version's checkout to compare")
    parser.add_argument("--compare-label", help="what --compare-src is (default: its path)")
    parser.add_argument("--quick", action="store_true", help="small sizes; append nothing")
    args = parser.parse_args()
    numbers = 2_000 if args.quick else args.numbers
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.json"
        projects = build(numbers, args.broadcasts)
        store = StateFile(projects, str(path))
        inproc = asyncio.run(probe_save(store))
        one_go = yardstick(path)
        here = served_snapshot(path, None)
        other = served_snapshot(path, args.compare_src) if args.compare_src else None
    mb = inproc["bytes"] / 1e6
    lines = [
        f"state: {numbers} numbers in {args.broadcasts} broadcasts, 50,000 deliveries kept: "
        f"**{mb:.1f} MB**",
        f"in process: save {inproc['save']:.2f} s; longest event-loop stall **"
        f"{inproc['wall'] * 1000:.1f} ms** wall ({inproc['cpu'] * 1000:.1f} ms of the loop "
        f"thread's CPU); the same bytes in one go (json.dumps + write): {one_go:.2f} s",
        f"serve: start-up with the file (read, validate, restore) {here['start']:.2f} s; "
        f"POST /_emulator/snapshot {here['snapshot']:.2f} s, longest GET /_emulator/health "
        f"meanwhile **{here['longest'] * 1000:.1f} ms** (median {here['median'] * 1000:.1f} ms, "
        f"{here['answers']:.0f} answers)",
    ]
    if other is not None:
        lines.append(
            f"{args.compare_label or args.compare_src} (same file): start-up "
            f"{other['start']:.2f} s; snapshot "
            f"{other['snapshot']:.2f} s, longest health answer meanwhile "
            f"**{other['longest'] * 1000:.1f} ms** ({other['answers']:.0f} answers)"
        )
    append_results("State file snapshot", lines, quick=args.quick)


if __name__ == "__main__":
    main()
