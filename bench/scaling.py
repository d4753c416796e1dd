"""Scaling: wall time and peak RSS of the campaign at 1k, 10k, 100k and 1M numbers.

    python bench/scaling.py [--sizes 1000,10000,100000,1000000] [--quick]

Each size runs in a fresh emulator (`auto` clock) with every webhook delivered to a receiver in its
own process. Up to 100k the receiver plays the special prompt on every 10th answered call (the
vendor example); from 1M on it only discards events. Memory per leg is (peak - idle RSS) / legs.
A 1M-number create request is about 20 MB of JSON, so that run raises `--max-body-bytes`.
"""

from __future__ import annotations

import argparse

from _common import (
    AUTH,
    append_results,
    load,
    number,
    peak_rss_mb,
    rss_mb,
    start_emulator,
    start_receiver,
)
from campaign import create_body, run

SPECIAL_UP_TO = 100_000


def one(n: int) -> str:
    flags = ("--max-body-bytes", str(64 * n)) if n * 20 > 16 * 1024 * 1024 else ()
    with start_emulator(*flags) as emu:
        idle = rss_mb(emu.pid)
        special = n <= SPECIAL_UP_TO
        plays = ("--special-every", "10", "--api", emu.match[1], "--auth", AUTH) if special else ()
        with start_receiver(*plays) as rcv:
            body = create_body(rcv.match[1], [number(i) for i in range(n)])
            result = run(emu.match[1], rcv.match[1], body, timeout_s=3600.0)
        peak = peak_rss_mb(emu.pid)
    assert result["completion"]["resultset"]["successfull_calls"] == n
    per_leg = (peak - idle) * 1024 / n
    row = (
        f"| {n:,} | {'every 10th special' if special else 'discard'} | {result['wall']:.1f} s | "
        f"{result['stats']['count']:,} | {result['webhooks_per_s']:.0f}/s | {peak:.0f} MB | "
        f"{per_leg:.2f} KB | {load()} |"
    )
    print(row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--quick", action="store_true", help="200 numbers (smoke test)")
    args = parser.parse_args()
    sizes = [200] if args.quick else [int(s) for s in args.sizes.split(",")]
    head = [
        "",
        "| numbers | receiver | wall | webhooks | webhooks/s | peak RSS | per leg | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = [one(n) for n in sizes]
    lines = ["campaign cost by size (one fresh emulator per size):", *head, *rows]
    append_results("Scaling", lines, args.quick)


if __name__ == "__main__":
    main()
