"""The campaign with a console attached: the bench campaign alone, then with a reader following
`GET /_emulator/stream` (everything: requests, calls, webhook attempts, broadcast progress).

    python bench/stream.py [--numbers 100000] [--rounds 2] [--slow] [--quick]

Each round runs the campaign of `bench/campaign.py` twice in fresh processes, without and with a
subscriber (`bench/subscriber.py`, its own process, reading as fast as the kernel hands it over),
alternating which goes first. The figure is the campaign's wall time without the reader over the
time with it (goal: >= 0.9x), beside the emulator's CPU both ways; and what the reader got: every
message the world published (its last seq), or fewer with `dropped` messages saying how many it
lost. `--slow` adds a third run with a reader limited to 64 KB/s (one that cannot keep up: the
campaign must not slow down for it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
from collections.abc import Iterator
from typing import Any

from _common import BENCH, PY, append_results, child, load
from campaign import measure


def subscriber(*flags: str) -> Any:
    @contextlib.contextmanager
    def attach(base: str) -> Iterator[dict[str, Any]]:
        got: dict[str, Any] = {}
        argv = [PY, str(BENCH / "subscriber.py"), base, *flags]
        with child(argv, r"subscribed") as reader:
            try:
                yield got
            finally:
                with contextlib.suppress(Exception):
                    reader.proc.wait(30)  # it ends by itself on the completion message
                reader.stop()
                for line in reversed(reader.lines):
                    if line.startswith("{"):
                        got.update(json.loads(line))
                        break

    return attach


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--numbers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--slow", action="store_true", help="also a reader held to 64 KB/s")
    parser.add_argument("--quick", action="store_true", help="2,000 numbers, one round")
    args = parser.parse_args()
    n, rounds = (2000, 1) if args.quick else (args.numbers, args.rounds)
    alone: list[dict[str, Any]] = []
    read: list[dict[str, Any]] = []
    slow: list[dict[str, Any]] = []
    for i in range(rounds):
        order = [False, True] if i % 2 == 0 else [True, False]
        for with_reader in order:
            m = measure(n, attach=subscriber() if with_reader else None)
            (read if with_reader else alone).append(m)
            got = m["attached"] or {}
            print(
                f"round {i + 1} {'with' if with_reader else 'without'} a reader: wall "
                f"{m['wall']:.1f} s, emulator CPU {m['emulator_cpu']:.1f} s"
                + (f", reader got {got.get('messages')}, {got.get('lost')} left out" if got else "")
                + f" ({load()})",
                flush=True,
            )
        if args.slow:
            slow.append(measure(n, attach=subscriber("--slow-kbps", "64")))
    wall_alone = statistics.median(m["wall"] for m in alone)
    wall_read = statistics.median(m["wall"] for m in read)
    cpu_alone = statistics.median(m["emulator_cpu"] for m in alone)
    cpu_read = statistics.median(m["emulator_cpu"] for m in read)
    got = read[-1]["attached"]
    pairs = [a["wall"] / r["wall"] for a, r in zip(alone, read, strict=True)]
    lines = [
        f"{n} numbers, {rounds} round(s): wall without a reader {wall_alone:.1f} s, with one "
        f"{wall_read:.1f} s → **{wall_alone / wall_read:.2f}x** of the campaign without one "
        f"(goal ≥ 0.9x; round by round {', '.join(f'{x:.2f}x' for x in pairs)}); emulator CPU "
        f"{cpu_alone:.1f} s → {cpu_read:.1f} s ({cpu_read / cpu_alone:.2f}x)",
        f"the reader got {got['messages']} messages ({got['by_type']}), "
        f"{got['bytes'] / 1e6:.0f} MB, and {got['dropped']} `dropped` messages telling of "
        f"{got['lost']} left out: it saw "
        f"{100 * got['messages'] / max(1, got['messages'] + got['lost']):.0f} % of what happened",
    ]
    if slow:
        s = slow[-1]
        g = s["attached"]
        lines.append(
            f"a reader held to 64 KB/s: wall {s['wall']:.1f} s "
            f"({wall_alone / s['wall']:.2f}x of the campaign without one); it got "
            f"{g['messages']} messages and {g['dropped']} `dropped` telling of {g['lost']} lost"
        )
    append_results("Campaign with a console stream reader", lines, args.quick)


if __name__ == "__main__":
    main()
