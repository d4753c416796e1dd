"""Fuzz the emulated API with thousands of generated requests; every answer must be JSON below 500.

Starts `broadcast-emulator serve` as a child process (manual clock, webhooks only to 127.0.0.1),
makes a few broadcasts so generated requests also reach live calls, then:

1. sends hypothesis-generated requests over every route shape (the strategies of
   tests/request_strategies.py), moving the clock now and then; each round has a fixed seed;
2. if schemathesis is installed (`pip install schemathesis`), runs `st run` against the
   emulator's own `/_emulator/openapi.json` (checks not_a_server_error and
   content_type_conformance; fixed seed; fault injection routes left out, since faults answer 5xx
   on purpose).

    python bench/fuzz.py                  # 2,000 hypothesis requests at least, then schemathesis
    python bench/fuzz.py -n 5000 --record # and append the figures to bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from _common import APP_ID, APP_KEY, AUTH, ROOT, start_emulator
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

sys.path.insert(0, str(ROOT / "tests"))

from request_strategies import requests

HEADERS = {"Authorization": AUTH}
FLAGS = ("--clock", "manual", "--webhook-allow", "127.0.0.1", "--max-numbers", "50")
FLAGS += ("--log-level", "error")


class Fuzzer:
    def __init__(self, base: str) -> None:
        self.base = base
        self.statuses: collections.Counter[int] = collections.Counter()
        self.failures: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.sent = 0

    async def start(self) -> None:
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
        async with self.session.request(method, self.base + path, data=data, headers=HEADERS) as r:
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

    def schemathesis(self, per_operation: int) -> dict[str, Any] | None:
        """Run schemathesis against the served OpenAPI document; None if it is not installed."""
        st = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
        if st is None:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "st.json"
            command = [
                st, "run", self.base + "/_emulator/openapi.json",
                "-a", f"{APP_ID}:{APP_KEY}",
                "-c", "not_a_server_error,content_type_conformance",
                "--exclude-path", "/_emulator/faults",
                "-n", str(per_operation), "--seed", "1", "--generation-database", "none",
                "--no-color", "--report", "json", "--report-json-path", str(report),
            ]  # fmt: skip
            subprocess.run(command, cwd=tmp, capture_output=True, check=False)
            data = json.loads(report.read_text())
        return {
            "version": data["schemathesis_version"],
            "operations": data["operations"]["tested"],
            "test_cases": data["test_cases"]["generated"],
            "with_failures": data["test_cases"]["with_failures"],
            "errored": data["test_cases"]["errored"],
            "failures": data["failures"][:5],
            "exit_code": data["exit_code"],
        }

    async def close(self) -> bool:
        """Close the session; whether the emulator still answers healthy."""
        async with self.session.get(self.base + "/_emulator/health") as resp:
            healthy = resp.status == 200 and (await resp.json())["status"] == "ok"
        await self.session.close()
        return healthy


def run(target: int, per_operation: int) -> dict[str, Any]:
    with start_emulator(*FLAGS) as emu:
        result = fuzz_emulator(emu.match[1], target, per_operation)
    result["healthy_after_and_exit_0"] &= emu.proc.returncode == 0
    return result


def fuzz_emulator(base: str, target: int, per_operation: int) -> dict[str, Any]:
    loop = asyncio.new_event_loop()
    fuzz = Fuzzer(base)
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
        wall = time.monotonic() - started
        st_started = time.monotonic()
        schemathesis = fuzz.schemathesis(per_operation) if per_operation else None
        st_wall = time.monotonic() - st_started
    finally:
        healthy = loop.run_until_complete(fuzz.close())
        loop.close()
    return {
        "requests": fuzz.sent,
        "rounds": rounds,
        "wall_s": round(wall, 2),
        "per_s": round(fuzz.sent / wall, 1),
        "statuses": dict(sorted(fuzz.statuses.items())),
        "five_xx_or_not_json": len(fuzz.failures),
        "failures": fuzz.failures[:20],
        "healthy_after_and_exit_0": healthy,
        "schemathesis": schemathesis and {**schemathesis, "wall_s": round(st_wall, 2)},
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
    st = result["schemathesis"]
    if st:
        lines[-1] = lines[-1].rstrip("\n")
        lines.append(
            f"- schemathesis {st['version']} against /_emulator/openapi.json (checks "
            f"not_a_server_error, content_type_conformance; seed 1): {st['operations']} "
            f"operations, {st['test_cases']} test cases, {st['with_failures']} with failures, "
            f"{st['errored']} errored, exit code {st['exit_code']}, wall {st['wall_s']} s\n"
        )
    with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as out:
        out.write("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--requests", type=int, default=2000)
    parser.add_argument(
        "--st-examples", type=int, default=20, help="schemathesis examples per operation (0: skip)"
    )
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    result = run(args.requests, args.st_examples)
    print(json.dumps(result, indent=2))
    if args.record:
        record(result, "python " + " ".join(["bench/fuzz.py", *sys.argv[1:]]))
    st = result["schemathesis"]
    ok = result["five_xx_or_not_json"] == 0 and result["healthy_after_and_exit_0"]
    ok = ok and (st is None or (st["with_failures"] == 0 and st["errored"] == 0))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
