"""Clock overhead: 10,000 legs with retries on the `auto` clock, to a receiver that answers at once.

    python bench/clock.py [--numbers 10000] [--quick]

Half the numbers end in 0001 (busy on every attempt: four attempts, 5 virtual seconds apart), half
in 0005 (busy, then answered and left to hang up by themselves). The wall time is from sending the
create request to receiving the completion event; it is mostly the auto clock's cost of moving
through each virtual instant (settle window plus a delivery round trip) and the deliveries.
"""

from __future__ import annotations

import argparse

from _common import (
    append_results,
    cpu_s,
    load,
    number,
    peak_rss_mb,
    start_emulator,
    start_receiver,
)
from campaign import create_body, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--numbers", type=int, default=10_000)
    parser.add_argument("--settle-ms", default="20", help="the emulator's --settle-ms")
    parser.add_argument("--quick", action="store_true", help="200 numbers (smoke test)")
    args = parser.parse_args()
    n = 200 if args.quick else args.numbers
    numbers = [number(i, "0001" if i % 2 else "0005") for i in range(n)]
    with start_emulator("--settle-ms", args.settle_ms) as emu, start_receiver() as rcv:
        result = run(emu.match[1], rcv.match[1], create_body(rcv.match[1], numbers, False), 600.0)
        peak = peak_rss_mb(emu.pid)
        cpu = cpu_s(emu.pid)
    done = result["completion"]["resultset"]
    assert done["successfull_calls"] == (n + 1) // 2 and done["failed_calls"] == n // 2, done
    lines = [
        f"{n} legs with retries (0001 busy x4, 0005 busy then answered): wall "
        f"**{result['wall']:.2f} s**, {result['stats']['count']} webhooks "
        f"({result['webhooks_per_s']:.0f}/s), virtual duration {result['virtual_s']:.0f} s, "
        f"peak RSS {peak:.0f} MB, emulator CPU {cpu:.1f} s ({load()})",
    ]
    append_results("Clock overhead (10,000 legs with retries)", lines, args.quick)


if __name__ == "__main__":
    main()
