"""Webhook throughput: events per second to a fast local receiver, against a plain client's ceiling.

    python bench/webhooks.py [--numbers 20000] [--rounds 2] [--quick]

The emulator (`auto` clock) dials `--numbers` numbers ending in 0004 (invalid: `initiated` then
`disconnected`, at once), so all the work is delivery. A receiver in its own process answers 200 at
once on keep-alive connections. The rate is events received over the span from the first to the
last event (the create request itself is timed apart). The ceiling is `bench/plain_client.py`
posting the very same bodies (taken from the emulator's delivery log) to the same receiver with the
same concurrency (`--webhook-workers`), in the same run; the best of `--rounds` is kept for each.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _common import (
    PY,
    append_results,
    child,
    cpu_s,
    http,
    load,
    number,
    start_emulator,
    start_receiver,
    wait_completion,
)

WORKERS = 64


def campaign(receiver: str, count: int) -> dict[str, object]:
    return {
        "application_name": "webhook bench",
        "broadcast_numbers_array": [number(i, "0004") for i in range(count)],
        "from": "919999999999",
        "event_url": f"{receiver}/event",
        "call_handler_url": f"{receiver}/call",
    }


def emulator_round(
    base: str, receiver: str, count: int, pid: int
) -> tuple[float, int, float, float]:
    """(events/s first→last, events, seconds the create request took, CPU s per event)."""
    http("POST", f"{base}/_emulator/reset")
    cpu_before = cpu_s(pid)
    http("POST", f"{receiver}/stats")
    sent = time.monotonic()
    status, body = http("POST", f"{base}/voice/v1/broadcast", campaign(receiver, count), True)
    create_s = time.monotonic() - sent
    assert status == 200, body
    stats = wait_completion(receiver, 600.0)
    events = int(stats["count"])
    expected = 2 * count + 2
    assert events == expected, f"received {events} events, expected {expected}"
    cpu = (cpu_s(pid) - cpu_before) / events
    return events / (float(stats["last"]) - float(stats["first"])), events, create_s, cpu


def dump_bodies(base: str, path: Path) -> int:
    _, log = http("GET", f"{base}/_emulator/webhooks")
    rows = [
        json.dumps(d["payload"], separators=(",", ":"), ensure_ascii=False)
        for d in log["deliveries"]
    ]
    path.write_text("\n".join(rows) + "\n")
    return len(rows)


def ceiling_round(receiver: str, bodies: Path) -> tuple[float, float]:
    http("POST", f"{receiver}/stats")
    argv = [
        PY,
        str(Path(__file__).parent / "plain_client.py"),
        f"{receiver}/call",
        str(bodies),
        "--concurrency",
        str(WORKERS),
    ]
    with child(argv, r"posted (\d+) in ([\d.]+) s using ([\d.]+) s", timeout_s=600.0) as plain:
        count = int(plain.match[1])
        return count / float(plain.match[2]), float(plain.match[3]) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--numbers", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="300 numbers, 1 round")
    args = parser.parse_args()
    if args.quick:
        args.numbers, args.rounds = 300, 1
    bodies = Path(tempfile.mkdtemp(prefix="bench-webhooks-")) / "bodies.jsonl"
    best_emu: tuple[float, int, float, str] = (0.0, 0, 0.0, "")
    best_plain: tuple[float, str] = (0.0, "")
    cpu_emu: list[float] = []
    cpu_plain: list[float] = []
    flags = ("--webhook-workers", str(WORKERS), "--delivery-log-size", str(2 * args.numbers + 2))
    with start_emulator(*flags) as emu, start_receiver() as rcv:
        base, receiver = emu.match[1], rcv.match[1]
        for _ in range(args.rounds):
            rate, events, create_s, cpu = emulator_round(base, receiver, args.numbers, emu.pid)
            cpu_emu.append(cpu)
            print(f"emulator: {rate:.0f} events/s ({events} events) ({load()})")
            if rate > best_emu[0]:
                best_emu = (rate, events, create_s, load())
            dump_bodies(base, bodies)
            plain, cpu = ceiling_round(receiver, bodies)
            cpu_plain.append(cpu)
            print(f"plain aiohttp client: {plain:.0f} posts/s ({load()})")
            best_plain = max(best_plain, (plain, load()))
    rate, events, create_s, at_load = best_emu
    lines = [
        f"{events} webhooks ({args.numbers} numbers, {WORKERS} workers): emulator {rate:.0f} "
        f"events/s, plain aiohttp client {best_plain[0]:.0f} posts/s "
        f"→ **{rate / best_plain[0]:.2f}x the ceiling** ({at_load})",
        f"CPU per webhook (best round): emulator {min(cpu_emu) * 1e6:.0f} µs, plain client "
        f"{min(cpu_plain) * 1e6:.0f} µs → {min(cpu_emu) / min(cpu_plain):.2f}x",
        f"the create request for {args.numbers} numbers took {create_s * 1000:.0f} ms",
    ]
    append_results("Webhook throughput", lines, args.quick)


if __name__ == "__main__":
    main()
