"""The vendor page's example: a 100,000-number campaign, every 10th answered call played a
different prompt ("You are a special client"), end to end on the `auto` clock.

    python bench/campaign.py [--numbers 100000] [--special-every 10] [--quick]

Every webhook goes to a receiver in its own process; on every 10th `connected` event it plays the
special prompt through the API (`PUT .../call/{voice_id}/play`) before answering. Measured: wall
time from sending the create request to receiving the completion event, webhooks per second over
that time, the emulator's peak RSS (VmHWM) and the virtual duration of the campaign. The run checks
what it measured: every call succeeded, every 10th got the special prompt, every webhook arrived.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable
from typing import Any

from _common import (
    AUTH,
    append_results,
    cpu_s,
    http,
    load,
    number,
    peak_rss_mb,
    rss_mb,
    start_emulator,
    start_receiver,
    wait_completion,
)

from emulator.sim.clock import parse_iso

PROMPT = {"text": "Thank you for being our client", "voice": "female", "language": "en-US"}


def create_body(receiver: str, numbers: list[str], play: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "application_name": "100k campaign",
        "owner_ref": "bench",
        "broadcast_numbers_array": numbers,
        "from": "919999999999",
        "call_param": {"interval_between_retries": 5, "number_of_retries": 3},
        "event_url": f"{receiver}/event",
        "call_handler_url": f"{receiver}/call",
    }
    if play:
        body["action_on_connect"] = {"play": PROMPT}
    return body


def run(base: str, receiver: str, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Create the broadcast, wait for its completion event; the figures and receiver's counts."""
    sent = time.monotonic()
    status, created = http("POST", f"{base}/voice/v1/broadcast", body, True, timeout_s)
    assert status == 200, created
    create_s = time.monotonic() - sent
    stats = wait_completion(receiver, timeout_s)
    done = stats["completions"][0]
    wall = done["at"] - sent
    virtual = (parse_iso(done["event"]["timestamp"]) - parse_iso(created["timestamp"])) / 1000
    return {
        "wall": wall,
        "create_s": create_s,
        "virtual_s": virtual,
        "stats": stats,
        "completion": done["event"],
        "webhooks_per_s": stats["count"] / wall,
    }


def measure(
    n: int,
    special_every: int = 10,
    settle_ms: str = "20",
    attach: Callable[[str], contextlib.AbstractContextManager[Any]] | None = None,
) -> dict[str, Any]:
    """One campaign of `n` numbers in a fresh emulator and receiver (both their own processes);
    the figures, after checking what was measured. `attach(base_url)`, if given, is entered once
    the emulator is up and before the campaign starts (a stream subscriber, say); what it yields
    is in the figures as `attached`."""
    with start_emulator("--settle-ms", settle_ms) as emu:
        base = emu.match[1]
        idle = rss_mb(emu.pid)
        special = ("--special-every", str(special_every), "--api", base, "--auth", AUTH)
        with (
            start_receiver(*special) as rcv,
            attach(base) if attach is not None else contextlib.nullcontext() as attached,
        ):
            body = create_body(rcv.match[1], [number(i) for i in range(n)])
            result = run(base, rcv.match[1], body, timeout_s=1800.0)
            receiver_cpu = cpu_s(rcv.pid)
        peak = peak_rss_mb(emu.pid)
        emulator_cpu = cpu_s(emu.pid)
    stats, done = result["stats"], result["completion"]
    assert done["resultset"]["successfull_calls"] == n, done["resultset"]
    assert stats["plays"] == n // special_every and not stats["play_errors"], stats
    specials = n // special_every
    # per call: initiated, ringing, connected, play initiated, playfinished, disconnected; a special
    # call's prompt replaces the first one (one more play initiated); and the broadcast's two events
    expected = 2 + 6 * n + specials
    assert stats["count"] == expected, f"{stats['count']} webhooks, expected {expected}"
    return {
        **result,
        "idle": idle,
        "peak": peak,
        "emulator_cpu": emulator_cpu,
        "receiver_cpu": receiver_cpu,
        "specials": specials,
        "attached": attached,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--numbers", type=int, default=100_000)
    parser.add_argument("--special-every", type=int, default=10)
    parser.add_argument("--settle-ms", default="20", help="the emulator's --settle-ms")
    parser.add_argument("--quick", action="store_true", help="300 numbers (smoke test)")
    args = parser.parse_args()
    n = 300 if args.quick else args.numbers
    m = measure(n, args.special_every, args.settle_ms)
    count, peak, idle = m["stats"]["count"], m["peak"], m["idle"]
    lines = [
        f"{n} numbers, every {args.special_every}th answered call played the special prompt "
        f"({m['specials']} plays through the API): wall **{m['wall']:.1f} s**, "
        f"{count} webhooks at **{m['webhooks_per_s']:.0f}/s**, "
        f"peak RSS **{peak:.0f} MB** (idle {idle:.0f} MB), virtual duration "
        f"{m['virtual_s']:.0f} s ({load()})",
        f"the create request took {m['create_s']:.2f} s; "
        f"memory per leg ≈ {(peak - idle) * 1024 / n:.2f} KB (peak - idle, over {n} legs); CPU "
        f"per webhook: emulator {m['emulator_cpu'] / count * 1e6:.0f} µs, receiver "
        f"{m['receiver_cpu'] / count * 1e6:.0f} µs",
    ]
    append_results("Campaign (vendor example, every 10th call a special prompt)", lines, args.quick)


if __name__ == "__main__":
    main()
