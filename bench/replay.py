"""The vendor page's example as users run it: `broadcast-emulator replay
scenarios/special-client-100k.yaml`, beside its yardstick, the same workload in `campaign.py`.

    python bench/replay.py [--numbers 100000] [--rounds 1] [--quick]

The replay is the command the README gives, run as a subprocess: the emulator, the scripted client
and its webhook receiver in one process; every 100,000 numbers it takes 600,002 webhooks and
200,000 API calls (a play on every `connected`, a hang-up on every `playfinished`), and checks
every expectation of the scenario. Measured: the command's wall time, from start to exit (what a
user waits for), the run's own `wall duration` (its summary line), its CPU time and its peak RSS
(`ru_maxrss` of the process, from `wait4`). The yardstick, in the same run and on the same
machine: `campaign.py`'s campaign of as many numbers, the emulator and a raw receiver each in its
own process (610,002 webhooks, 10,000 plays through the API). With `--rounds N` the two alternate
N times and each figure is the median.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from typing import Any

import campaign
from _common import PY, ROOT, append_results, load

SCENARIO = "scenarios/special-client-100k.yaml"


def replay_argv(n: int | None) -> list[str]:
    """The command the README gives (`broadcast-emulator` if installed, else `python -m`)."""
    exe = shutil.which("broadcast-emulator")
    argv = [exe] if exe else [PY, "-m", "emulator"]
    argv += ["replay", SCENARIO]  # as typed; its output is a file here, so no progress bar
    return argv + (["--set", f"count={n}"] if n is not None else [])


def run_replay(argv: list[str], timeout_s: float) -> dict[str, Any]:
    """Run the replay to its exit: wall time, CPU time and peak RSS of that one process (from
    `wait4`), the run's own wall duration, and its verdict."""
    with tempfile.TemporaryFile("w+") as out:
        started = time.monotonic()
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True)
        killer = threading.Timer(timeout_s, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0 or "PASSED" not in text:
        raise SystemExit(f"the replay failed (exit {proc.returncode}):\n{text[-3000:]}")
    own = re.search(r"wall duration\s+([\d.]+) s", text)
    events = re.search(r"\n  events\s+(\d+)", text)
    checks = re.search(r"PASSED: (\d+/\d+)", text)
    return {
        "wall": wall,
        "own_wall": float(own[1]) if own else float("nan"),
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak": usage.ru_maxrss / 1024.0,  # KB on Linux
        "events": int(events[1]) if events else 0,
        "checks": checks[1] if checks else "?",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--numbers", type=int, help="the scenario's count (default: its 100,000)")
    parser.add_argument("--rounds", type=int, default=1, help="replay and yardstick, alternated")
    parser.add_argument("--timeout", type=float, default=1200.0, help="per replay, seconds")
    parser.add_argument("--quick", action="store_true", help="300 numbers (smoke test)")
    args = parser.parse_args()
    n = 300 if args.quick else args.numbers
    size = n or 100_000
    load_before = load()
    rounds = [
        (run_replay(replay_argv(n), args.timeout), campaign.measure(size))
        for _ in range(max(1, args.rounds))
    ]
    append_results(f"Replay of the vendor example ({size:,} numbers) beside its yardstick",
                   _lines(rounds, size, load_before), args.quick)  # fmt: skip


def _lines(
    rounds: list[tuple[dict[str, Any], dict[str, Any]]], size: int, before: str
) -> list[str]:
    def median(key: str, which: int) -> float:
        return statistics.median(float(r[which][key]) for r in rounds)

    replay, yard = rounds[-1]
    wall, yard_wall = median("wall", 0), median("wall", 1)
    each = f"median of {len(rounds)} rounds" if len(rounds) > 1 else "one round"
    return [
        f"`broadcast-emulator replay {SCENARIO}`"
        + (f" `--set count={size}`" if size != 100_000 else "")
        + f": **{wall:.1f} s** from start to exit (the run itself {median('own_wall', 0):.1f} s), "
        f"CPU {median('cpu', 0):.1f} s, peak RSS **{median('peak', 0):.0f} MB**; "
        f"{replay['events']} webhooks and {2 * size} API calls, {replay['checks']} expectations "
        f"hold ({each})",
        f"yardstick, same run: `campaign.py` with {size:,} numbers (emulator and receiver in "
        f"separate processes, {yard['stats']['count']} webhooks, {yard['specials']} plays): "
        f"**{yard_wall:.1f} s** from its create request to its completion event, CPU: emulator "
        f"{median('emulator_cpu', 1):.1f} s, receiver {median('receiver_cpu', 1):.1f} s; peak "
        f"RSS {median('peak', 1):.0f} MB → replay / campaign **{wall / yard_wall:.2f}x** "
        f"(start to exit), {median('own_wall', 0) / yard_wall:.2f}x (run to run)",
        f"load before: {before}; after: {load()}",
    ]


if __name__ == "__main__":
    main()
