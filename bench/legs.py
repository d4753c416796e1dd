"""What holds the memory of a campaign at its peak: tracemalloc over an in-process emulator.

    python bench/legs.py [--numbers 20000] [--special-every 10] [--top 25] [--frames 1]

The emulator runs in this process (as `serve` builds it, on a loopback port) under tracemalloc;
the bench receiver runs in its own process, as in `campaign.py` (`--special-every 0`: it
discards events, as `scaling.py` does from 1M numbers on). The delivery log keeps
`--log-size` entries, by default n / 20: what its default 50,000 are to a 1M-number campaign, so
that a small run shows the per-number costs of a big one. While the campaign runs, a snapshot is
taken each time the traced memory has grown 5 % past the last one, so the last snapshot is the
peak's (within 5 %). Printed: the traced peak and idle, bytes per number, and the biggest
allocation sites of the peak over idle, by file:line (`--frames N`: by call stack); the bytes per
number and the top sites are appended to bench/RESULTS.md. tracemalloc slows the run several
times over: its figures are bytes, not seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import tracemalloc
from typing import Any

from _common import APP_ID, APP_KEY, AUTH, append_results, http, number, start_receiver
from _common import wait_completion as _wait_completion
from campaign import create_body

from emulator.app import EmulatorRunner, create_app
from emulator.config import Settings


class Peak:
    """Snapshots the traced heap whenever it has grown `step` past the last snapshot."""

    def __init__(self, step: float = 1.05) -> None:
        self.step = step
        self.size = 0
        self.snapshot: tracemalloc.Snapshot | None = None
        self.taken = 0

    def check(self) -> None:
        current, _ = tracemalloc.get_traced_memory()
        if current > self.size * self.step:
            self.snapshot = tracemalloc.take_snapshot()
            self.size = current
            self.taken += 1

    async def watch(self, interval_s: float = 0.2) -> None:
        while True:
            self.check()
            await asyncio.sleep(interval_s)


async def campaign(n: int, special_every: int, frames: int, log_size: int) -> dict[str, Any]:
    settings = Settings(
        port=0,
        app_id=APP_ID,
        app_key=APP_KEY,
        log_level="warning",
        delivery_log_size=log_size,
        max_body_bytes=max(16 * 1024 * 1024, 64 * n),
    )
    runner = EmulatorRunner(create_app(settings), handle_signals=False)
    await runner.setup()
    from aiohttp import web

    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    plays = ("--special-every", str(special_every), "--api", base, "--auth", AUTH)
    with start_receiver(*(plays if special_every else ())) as rcv:
        body = create_body(rcv.match[1], [number(i) for i in range(n)])
        gc.collect()
        tracemalloc.start(frames)
        idle = tracemalloc.take_snapshot()
        peak = Peak()
        watcher = asyncio.create_task(peak.watch())
        started = time.monotonic()
        status, _ = await asyncio.to_thread(http, "POST", f"{base}/voice/v1/broadcast", body, True)
        assert status == 200
        del body
        stats = await asyncio.to_thread(_wait_completion, rcv.match[1], 3600.0, 0.2)
        wall = time.monotonic() - started
        watcher.cancel()
        traced_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    await runner.cleanup()
    done = stats["completions"][0]["event"]
    assert done["resultset"]["successfull_calls"] == n, done
    return {"idle": idle, "peak": peak, "traced_peak": traced_peak, "wall": wall, "stats": stats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--numbers", type=int, default=20_000)
    parser.add_argument("--special-every", type=int, default=10)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--frames", type=int, default=1)
    parser.add_argument("--log-size", type=int, help="delivery log entries (default n / 20)")
    parser.add_argument("--quick", action="store_true", help="300 numbers (smoke test)")
    args = parser.parse_args()
    n = 300 if args.quick else args.numbers
    log_size = args.log_size or max(1, n // 20)
    m = asyncio.run(campaign(n, args.special_every, args.frames, log_size))
    peak: Peak = m["peak"]
    assert peak.snapshot is not None
    key = "traceback" if args.frames > 1 else "lineno"
    diff = peak.snapshot.compare_to(m["idle"], key)
    grown = sum(d.size_diff for d in diff)
    head = (
        f"{n} numbers (every {args.special_every or 'no'}th call special, delivery log "
        f"{log_size:,}): traced heap at the "
        f"peak **{grown / n:.0f} B per number** over idle ({grown / 1e6:.1f} MB; tracemalloc's "
        f"own peak {m['traced_peak'] / 1e6:.1f} MB, {peak.taken} snapshots, "
        f"{m['wall']:.1f} s under tracemalloc)"
    )
    lines = [head, "", "| B per number | blocks per number | where |", "|---|---|---|"]
    for d in diff[: args.top]:
        where = " <- ".join(f"{f.filename.split('/')[-1]}:{f.lineno}" for f in d.traceback)
        lines.append(f"| {d.size_diff / n:.0f} | {d.count_diff / n:.2f} | {where} |")
    append_results("Memory per number at the campaign's peak (tracemalloc)", lines, args.quick)


if __name__ == "__main__":
    main()
