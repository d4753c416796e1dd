"""Load: many concurrent broadcasts against one emulator; exact counts, nothing lost, wall time and
peak memory.

Starts `broadcast-emulator serve` as a child process (auto clock) and a recording webhook receiver
in this process, creates the broadcasts all at once, waits for every completion event, then checks:
every report has every number finished with the expected results; the receiver got exactly the
expected number of events, each once, every call's events in order; the emulator delivered every
webhook (none dead, none pending). Linux: peak RSS is read from /proc.

    python bench/load.py                     # 50 broadcasts x 1,000 numbers
    python bench/load.py -b 10 -n 200        # smaller
    python bench/load.py --record            # append the figures to bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from typing import Any

import aiohttp
from _common import AUTH, ROOT, peak_rss_mb, rss_mb, start_emulator
from aiohttp import web

HEADERS = {"Authorization": AUTH}
RETRIES = 1  # number_of_retries in every create request: two attempts per number at most
# per-call events of one number, by its last four digits (CONTRACT §5; TTS play, no menu)
ATTEMPTS = RETRIES + 1
EVENTS = {"0001": 2 * ATTEMPTS, "0002": 3 * ATTEMPTS, "0003": 3 * ATTEMPTS, "0004": 2, "0005": 8}
HUMAN_EVENTS = 6  # initiated, ringing, connected, play initiated, playfinished, disconnected
FAILING = {"0001", "0002", "0003", "0004"}


class Receiver:
    """Counts every webhook; remembers each call's event order."""

    def __init__(self) -> None:
        self.count = 0
        self.keys: Counter[tuple[Any, ...]] = Counter()
        self.calls: dict[str, list[str]] = {}
        self.completions: dict[str, dict[str, Any]] = {}
        self.done = asyncio.Event()
        self.expected_completions = 0

    async def handle(self, request: web.Request) -> web.Response:
        event = json.loads(await request.read())
        self.count += 1
        name = event.get("state") or event.get("playstate")
        voice_id = event.get("voice_id")
        self.keys[(voice_id, event.get("broadcast_id"), name, event["timestamp"])] += 1
        if voice_id:
            self.calls.setdefault(voice_id, []).append(name)
        elif "resultSet" in event:
            self.completions[event["broadcast_id"]] = event
            if len(self.completions) == self.expected_completions:
                self.done.set()
        return web.Response()


def numbers_for(broadcast: int, count: int) -> list[str]:
    return [f"91{broadcast:04d}{i:06d}" for i in range(count)]


def expected_events(numbers: list[str]) -> int:
    return sum(EVENTS.get(n[-4:], HUMAN_EVENTS) for n in numbers) + 2  # + initiated, completion


async def run(base: str, pid: int, broadcasts: int, per: int) -> dict[str, Any]:
    """Drive the emulator at `base` (process `pid`) with the broadcasts; figures and problems."""
    receiver = Receiver()
    receiver.expected_completions = broadcasts
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    hook = f"http://127.0.0.1:{port}"
    rss_start = rss_mb(pid)
    all_numbers = [numbers_for(b, per) for b in range(broadcasts)]
    async with aiohttp.ClientSession() as session:

        async def create(numbers: list[str]) -> str:
            body = {
                "application_name": "load",
                "broadcast_numbers_array": numbers,
                "from": "919999999999",
                "action_on_connect": {"play": {"text": "Your order has shipped", "voice": "f"}},
                "call_param": {"interval_between_retries": 5, "number_of_retries": RETRIES},
                "event_url": hook + "/event",
                "call_handler_url": hook + "/call",
            }
            async with session.post(base + "/voice/v1/broadcast", json=body, headers=HEADERS) as r:
                assert r.status == 200, await r.text()
                return str((await r.json())["broadcast_id"])

        started = time.monotonic()
        ids = await asyncio.gather(*(create(n) for n in all_numbers))
        created_s = time.monotonic() - started
        await asyncio.wait_for(receiver.done.wait(), 1800)
        wall = time.monotonic() - started
        async with session.get(base + "/_emulator/health") as r:
            health = await r.json()
        while health["webhooks"]["pending"]:
            await asyncio.sleep(0.1)
            async with session.get(base + "/_emulator/health") as r:
                health = await r.json()
        reports = []
        for bid in ids:
            async with session.get(base + f"/voice/v1/broadcast/{bid}", headers=HEADERS) as r:
                reports.append(await r.json())
    rss_end = rss_mb(pid)
    peak = peak_rss_mb(pid)
    await runner.cleanup()
    return _check(receiver, reports, all_numbers, health) | {
        "broadcasts": broadcasts,
        "numbers_each": per,
        "legs": broadcasts * per,
        "create_all_s": round(created_s, 2),
        "wall_s": round(wall, 2),
        "events_per_s": round(receiver.count / wall),
        "rss_start_mb": round(rss_start, 1),
        "rss_end_mb": round(rss_end, 1),
        "peak_rss_mb": round(peak, 1),
        "kb_per_number": round((rss_end - rss_start) * 1024 / (broadcasts * per), 2),
    }


def _check(
    receiver: Receiver,
    reports: list[dict[str, Any]],
    all_numbers: list[list[str]],
    health: dict[str, Any],
) -> dict[str, Any]:
    problems = []
    expected = sum(expected_events(n) for n in all_numbers)
    if receiver.count != expected:
        problems.append(f"received {receiver.count} events, expected {expected}")
    duplicates = sum(c - 1 for c in receiver.keys.values() if c > 1)
    if duplicates:
        problems.append(f"{duplicates} duplicate events")
    for voice_id, names in receiver.calls.items():
        if names[0] != "initiated" or names[-1] != "disconnected":
            problems.append(f"call {voice_id} out of order: {names}")
            break
    for report, numbers in zip(reports, all_numbers, strict=True):
        failing = sum(n[-4:] in FAILING for n in numbers)
        progress = report["progress"]
        want = (len(numbers), len(numbers) - failing, failing)
        got = (progress["finished"], progress["successful"], progress["failed"])
        if report["state"] != "completed" or got != want:
            problems.append(f"{report['broadcast_id']}: {report['state']} {got} != {want}")
        done = receiver.completions[report["broadcast_id"]]["resultset"]
        if (done["successfull_calls"], done["failed_calls"]) != want[1:]:
            problems.append(f"completion event counts {done} != {want[1:]}")
    hooks = health["webhooks"]
    if hooks["dead"] or hooks["pending"] or hooks["delivered"] != receiver.count:
        problems.append(f"emulator webhooks {hooks} vs received {receiver.count}")
    return {
        "events_expected": expected,
        "events_received": receiver.count,
        "duplicates": duplicates,
        "emulator_webhooks": hooks,
        "problems": problems[:10],
    }


def record(result: dict[str, Any], command: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    cpu = os.cpu_count()
    lines = [
        f"\n## Load: {stamp}\n",
        f"Command: `{command}` ({cpu} CPUs shared, emulator and receiver on one machine)\n",
        f"- {result['broadcasts']} concurrent broadcasts x {result['numbers_each']} numbers = "
        f"{result['legs']} numbers; all created in {result['create_all_s']} s",
        f"- events: expected {result['events_expected']}, received {result['events_received']}, "
        f"duplicates {result['duplicates']}; emulator: {result['emulator_webhooks']}",
        f"- problems: {result['problems'] or 'none'}",
        f"- wall time to the last completion event: {result['wall_s']} s "
        f"({result['events_per_s']} webhooks/s)",
        f"- emulator RSS: {result['rss_start_mb']} MB at start, {result['rss_end_mb']} MB at "
        f"the end, peak {result['peak_rss_mb']} MB; {result['kb_per_number']} KB per number "
        "(state, delivery log and journal included)\n",
    ]
    with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as out:
        out.write("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-b", "--broadcasts", type=int, default=50)
    parser.add_argument("-n", "--numbers", type=int, default=1000)
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    parser.add_argument("serve_args", nargs="*", help="extra serve flags (after --)")
    args = parser.parse_args()
    with start_emulator(*args.serve_args) as emu:
        result = asyncio.run(run(emu.match[1], emu.pid, args.broadcasts, args.numbers))
    result["exit_code"] = emu.proc.returncode
    print(json.dumps(result, indent=2))
    if args.record:
        record(result, "python " + " ".join(["bench/load.py", *sys.argv[1:]]))
    return 0 if not result["problems"] and result["exit_code"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
