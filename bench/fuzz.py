"""Fuzz the emulated API with thousands of generated requests; every answer must be JSON below 500.

Starts `broadcast-emulator serve` as a child process (manual clock, webhooks only to 127.0.0.1),
makes a few broadcasts so generated requests also reach live calls, then sends hypothesis-generated
requests over every route shape (the strategies of tests/request_strategies.py), moving the clock
now and then. Deterministic: each round uses a fixed hypothesis seed.

    python bench/fuzz.py                  # 2,000 requests at least
    python bench/fuzz.py -n 5000 --record # and append the figures to bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from request_strategies import requests  # noqa: E402

AUTH = {"Authorization": "Basic " + base64.b64encode(b"emulator-app-id:emulator-app-key").decode()}


class Fuzzer:
    def __init__(self) -> None:
        self.statuses: collections.Counter[int] = collections.Counter()
        self.failures: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.sent = 0

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "emulator", "serve", "--port", "0", "--clock", "manual"),
            *("--webhook-allow", "127.0.0.1", "--max-numbers", "50", "--log-level", "error"),
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        line = (await asyncio.wait_for(self.proc.stdout.readline(), 30)).decode()
        self.base = line.split("serving ", 1)[1].split(" ", 1)[0]
        self.session = aiohttp.ClientSession()
        for i in range(5):
            body = {
                "application_name": f"fuzz {i}",
                "broadcast_numbers_array": [f"91980000{i}01{d}" for d in "0156"],
                "from": "919999999999",
                "event_url": "http://127.0.0.1:9/hook",
            }
            status, answer = await self.send("POST", "/voice/v1/broadcast", body)
            assert status == 200, answer
            self.ids.append(answer["broadcast_id"])
        await self.tick()

    async def tick(self) -> None:
        """Move the clock a little and learn the calls' current voice ids."""
        async with self.session.post(
            self.base + "/_emulator/clock/advance", json={"seconds": 3}
        ) as resp:
            assert resp.status == 200
        for bid in list(self.ids[:5]):
            _, report = await self.send("GET", f"/voice/v1/broadcast/{bid}", None)
            self.ids.extend(row["voice_id"] for row in report["resultSet"] if "voice_id" in row)

    async def send(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body)
        async with self.session.request(method, self.base + path, data=data, headers=AUTH) as r:
            text = await r.text(errors="replace")
            self.sent += 1
            self.statuses[r.status] += 1
            try:
                answer = json.loads(text)
            except ValueError:
                answer = None
            bad = r.status >= 500 or r.content_type != "application/json" or answer is None
            if bad:
                self.failures.append({"method": method, "path": path, "status": r.status})
            return r.status, answer

    async def close(self) -> int:
        async with self.session.get(self.base + "/_emulator/health") as resp:
            healthy = resp.status == 200 and (await resp.json())["status"] == "ok"
        await self.session.close()
        self.proc.terminate()
        code = await self.proc.wait()
        return 0 if healthy and code == 0 else 1


def run(target: int) -> dict[str, Any]:
    loop = asyncio.new_event_loop()
    fuzz = Fuzzer()
    loop.run_until_complete(fuzz.start())
    started = time.monotonic()
    rounds = 0
    try:
        while fuzz.sent < target:
            rounds += 1
            ids = st.sampled_from(list(dict.fromkeys(fuzz.ids)))

            @seed(rounds)
            @settings(
                max_examples=500,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(requests(ids=ids | st.text(max_size=20)))
            def one(request: tuple[str, str, Any]) -> None:
                loop.run_until_complete(fuzz.send(*request))

            one()
            loop.run_until_complete(fuzz.tick())
    finally:
        wall = time.monotonic() - started
        exit_code = loop.run_until_complete(fuzz.close())
        loop.close()
    return {
        "requests": fuzz.sent,
        "rounds": rounds,
        "wall_s": round(wall, 2),
        "per_s": round(fuzz.sent / wall, 1),
        "statuses": dict(sorted(fuzz.statuses.items())),
        "five_xx_or_not_json": len(fuzz.failures),
        "failures": fuzz.failures[:20],
        "healthy_after_and_exit_0": exit_code == 0,
    }


def record(result: dict[str, Any], command: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        f"\n## Fuzz: {stamp}\n",
        f"Command: `{command}`\n",
        f"- requests: {result['requests']} (hypothesis, {result['rounds']} seeded rounds), "
        f"{result['per_s']} requests/s, wall {result['wall_s']} s",
        f"- statuses: {result['statuses']}",
        f"- 5xx or non-JSON answers: {result['five_xx_or_not_json']}",
        f"- emulator healthy afterwards and exited 0: {result['healthy_after_and_exit_0']}\n",
    ]
    with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as out:
        out.write("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--requests", type=int, default=2000)
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    result = run(args.requests)
    print(json.dumps(result, indent=2))
    if args.record:
        record(
            result,
            "python bench/fuzz.py"
            + (f" -n {args.requests}" if args.requests != 2000 else "")
            + " --record",
        )
    ok = result["five_xx_or_not_json"] == 0 and result["healthy_after_and_exit_0"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
