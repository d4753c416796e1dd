"""Start-up: process start to the first 200 on `/_emulator/health`, against a bare aiohttp app.

    python bench/startup.py [--runs 7] [--cold] [--quick]

Each process is started the same way (`python <module or script>`), polled every 2 ms, and timed
from `Popen` to the first 200; runs alternate between the two and the medians are compared. The
emulator's idle RSS is read from /proc one second after it answered.

The emulator's modules are byte-compiled first, as `pip install` leaves them and as any start
after the first leaves a checkout (aiohttp's always are: pip compiled them). Where
PYTHONDONTWRITEBYTECODE is set (some CI images and containers) a checkout is compiled anew at
every start: `--cold` measures that, with the emulator's `__pycache__` removed before each run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from _common import (
    APP_ID,
    APP_KEY,
    PY,
    ROOT,
    Child,
    append_results,
    free_port,
    load,
    rss_mb,
    wait_http,
)

BARE = [PY, str(Path(__file__).parent / "bare_app.py")]
EMULATOR = [PY, "-m", "emulator", "serve", "--app-id", APP_ID, "--app-key", APP_KEY]


def bytecode(cold: bool) -> None:
    """Compile the emulator's modules (or, `cold`, remove what was compiled)."""
    package = ROOT / "emulator"
    if cold:
        for cache in package.rglob("__pycache__"):
            shutil.rmtree(cache)
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"  # the children inherit it
    else:
        subprocess.run([PY, "-m", "compileall", "-q", str(package)], check=True)


def time_start(argv: list[str], settle_s: float = 1.0, cold: bool = False) -> tuple[float, float]:
    """Seconds from process start to the first 200 on health, and RSS (MB) `settle_s` later."""
    if cold and argv is EMULATOR:
        bytecode(cold=True)
    port = free_port()
    started = time.monotonic()
    proc = Child([*argv, "--port", str(port)], None)
    try:
        ready = wait_http(f"http://127.0.0.1:{port}/_emulator/health", timeout_s=30.0)
        time.sleep(settle_s)
        return ready - started, rss_mb(proc.pid)
    finally:
        proc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cold", action="store_true", help="no compiled modules (see above)")
    parser.add_argument("--quick", action="store_true", help="2 runs (smoke test)")
    args = parser.parse_args()
    runs = 2 if args.quick else args.runs
    bytecode(cold=args.cold)
    emu: list[tuple[float, float]] = []
    bare: list[tuple[float, float]] = []
    for _ in range(runs):
        settle_s = 0.1 if args.quick else 1.0
        emu.append(time_start(EMULATOR, settle_s, args.cold))
        bare.append(time_start(BARE, settle_s))
        print(f"emulator {emu[-1][0] * 1000:.0f} ms, bare {bare[-1][0] * 1000:.0f} ms ({load()})")
    e = statistics.median(t for t, _ in emu)
    b = statistics.median(t for t, _ in bare)
    rss = statistics.median(r for _, r in emu)
    how = "with no compiled modules (--cold)" if args.cold else "modules compiled"
    lines = [
        f"start-up to first 200 on /_emulator/health (median of {runs}, {how}): "
        f"emulator {e * 1000:.0f} ms, bare aiohttp {b * 1000:.0f} ms → **{e / b:.2f}x bare**",
        f"idle RSS: emulator **{rss:.1f} MB**, bare aiohttp "
        f"{statistics.median(r for _, r in bare):.1f} MB",
    ]
    if args.cold:
        bytecode(cold=False)  # leave the checkout as a normal start would
    append_results("Start-up and idle RSS", lines, args.quick)


if __name__ == "__main__":
    main()
