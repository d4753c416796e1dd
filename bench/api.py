"""API throughput: wrk against the emulator, a bare aiohttp app and WireMock, in one run.

    python bench/api.py [--duration 10] [--rounds 2] [--no-wiremock] [--quick]

GET is `GET /voice/v1/broadcast/{id}` (the report of a two-number broadcast); POST is
`POST /voice/v1/broadcast` creating a one-number broadcast (a wrk Lua script). The emulator runs
with the `manual` clock, so reports stay the same size and no call moves during the run; each create
still sends its `initiated` webhook, to a receiver in its own process. The bare app and WireMock
answer the same routes with bodies of the same bytes. WireMock runs twice: with its defaults (the
request journal on, as CI jobs that `verify` requests need it) and tuned (`--no-request-journal
--disable-request-logging`). The best of `--rounds` is kept for each, with the server's CPU time
per request.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
from pathlib import Path

from _common import (
    AUTH,
    PY,
    Child,
    append_results,
    child,
    cpu_s,
    ensure_wiremock,
    ensure_wrk,
    free_port,
    http,
    load,
    number,
    rss_mb,
    start_emulator,
    start_receiver,
    wait_http,
)


def create_body(receiver: str, count: int) -> dict[str, object]:
    return {
        "application_name": "bench",
        "owner_ref": "bench",
        "broadcast_numbers_array": [number(i) for i in range(count)],
        "from": "919999999999",
        "action_on_connect": {
            "play": {"text": "Hello from the bench", "voice": "female", "language": "en-US"}
        },
        "call_param": {"interval_between_retries": 5, "number_of_retries": 3},
        "event_url": f"{receiver}/event",
        "call_handler_url": f"{receiver}/call",
    }


def lua_post(path: str, body: bytes) -> str:
    return (
        'wrk.method = "POST"\n'
        f"wrk.path = {json.dumps(path)}\n"
        f"wrk.body = {json.dumps(body.decode())}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = {json.dumps(AUTH)}\n'
    )


def lua_get(path: str) -> str:
    return f'wrk.path = {json.dumps(path)}\nwrk.headers["Authorization"] = {json.dumps(AUTH)}\n'


def run_wrk(wrk: str, base: str, script: Path, duration: int) -> tuple[float, int, int]:
    """(requests/s, non-2xx answers, requests) of one wrk run."""
    argv = [wrk, "-t2", "-c64", f"-d{duration}s", "-s", str(script), base]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if rate is None:
        raise RuntimeError("wrk printed no rate:\n" + out)
    return float(rate[1]), int(bad[1]) if bad else 0, int(total[1]) if total else 1


def wiremock_stubs(base: str, get_body: bytes, post_body: bytes) -> None:
    for method, pattern, body in (
        ("GET", "/voice/v1/broadcast/[^/]+", get_body),
        ("POST", "/voice/v1/broadcast", post_body),
    ):
        stub = {
            "request": {"method": method, "urlPathPattern": pattern},
            "response": {
                "status": 200,
                "body": body.decode(),
                "headers": {"Content-Type": "application/json"},
            },
        }
        status, _ = http("POST", f"{base}/__admin/mappings", stub)
        assert status == 201, f"WireMock refused the stub: {status}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-wiremock", action="store_true")
    parser.add_argument("--only", choices=("GET", "POST"), help="bench one route only")
    parser.add_argument("--quick", action="store_true", help="1 s runs, 1 round (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds = 1, 1
    wrk = ensure_wrk()
    jar = None if args.no_wiremock else ensure_wiremock()
    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    with start_emulator("--clock", "manual") as emu, start_receiver() as rcv:
        base, receiver = emu.match[1], rcv.match[1]
        status, created = http("POST", f"{base}/voice/v1/broadcast", create_body(receiver, 2), True)
        assert status == 200, created
        get_path = f"/voice/v1/broadcast/{created['app_instance']}"
        post_raw = json.dumps(create_body(receiver, 1), separators=(",", ":")).encode()
        get_body = _fetch(base + get_path)
        post_body = json.dumps(created, separators=(",", ":"), ensure_ascii=False).encode()
        (tmp / "get.json").write_bytes(get_body)
        (tmp / "post.json").write_bytes(post_body)
        (tmp / "get.lua").write_text(lua_get(get_path))
        (tmp / "post.lua").write_text(lua_post("/voice/v1/broadcast", post_raw))
        bare_argv = [
            PY,
            str(Path(__file__).parent / "bare_app.py"),
            "--get-body",
            str(tmp / "get.json"),
            "--post-body",
            str(tmp / "post.json"),
        ]
        with child(bare_argv, r"serving (http://\S+)") as bare:
            targets = {"emulator": (base, emu.pid), "bare aiohttp": (bare.match[1], bare.pid)}
            started: list[Child] = []
            for name, tuned in WIREMOCKS if jar is not None else ():
                wm = _start_wiremock(jar, get_body, post_body, tuned)
                if wm is not None:
                    started.append(wm[0])
                    targets[name] = (wm[1], wm[0].pid)
            try:
                best = _measure(wrk, targets, tmp, args)
            finally:
                for proc in started:
                    proc.stop()
            idle = rss_mb(emu.pid)
    _report(best, len(get_body), len(post_body), idle, jar is not None, args.quick)


def _fetch(url: str) -> bytes:
    import urllib.request

    request = urllib.request.Request(url, headers={"Authorization": AUTH})
    with urllib.request.urlopen(request) as resp:
        return bytes(resp.read())


# WireMock as CI jobs run it (request journal on, for `verify`), and tuned for raw speed
WIREMOCKS = (("WireMock", False), ("WireMock no-journal", True))


def _start_wiremock(jar: Path, get_body: bytes, post_body: bytes, tuned: bool):  # type: ignore[no-untyped-def]
    port = free_port()
    argv = [
        "java",
        "-jar",
        str(jar),
        "--port",
        str(port),
        "--bind-address",
        "127.0.0.1",
        "--disable-banner",
    ]
    if tuned:
        argv += ["--no-request-journal", "--disable-request-logging"]

    proc = Child(argv, None)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/__admin/mappings", timeout_s=60.0, interval_s=0.2)
        wiremock_stubs(base, get_body, post_body)
    except (TimeoutError, AssertionError) as exc:
        print(f"WireMock unavailable: {exc}")
        proc.stop()
        return None
    return proc, base


def _measure(wrk: str, targets: dict[str, tuple[str, int]], tmp: Path, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """Best (rate, non-2xx, load, server CPU µs per request) per (route, server)."""
    best: dict[tuple[str, str], tuple[float, int, str, float]] = {}
    kinds = (args.only,) if args.only else ("GET", "POST")
    for kind in () if args.quick else kinds:  # warm-up (the JVM compiles WireMock's hot path)
        for base, _ in targets.values():
            run_wrk(wrk, base, tmp / f"{kind.lower()}.lua", 3)
    for _ in range(args.rounds):
        for kind in kinds:
            for name, (base, pid) in targets.items():
                before = cpu_s(pid)
                rate, bad, total = run_wrk(wrk, base, tmp / f"{kind.lower()}.lua", args.duration)
                cpu = (cpu_s(pid) - before) / total * 1e6
                print(
                    f"{kind:4} {name:14} {rate:8.0f} req/s {cpu:6.0f} µs CPU/req  non-2xx {bad}"
                    f"  ({load()})"
                )
                if rate > best.get((kind, name), (0.0,))[0]:
                    best[(kind, name)] = (rate, bad, load(), cpu)
    return best


def _report(best, get_size: int, post_size: int, idle: float, wiremock: bool, quick: bool) -> None:  # type: ignore[no-untyped-def]
    lines = []
    for kind, size in (("GET", get_size), ("POST", post_size)):
        if (kind, "emulator") not in best:
            continue
        emu = best[(kind, "emulator")]
        bare = best[(kind, "bare aiohttp")]
        line = (
            f"{kind} ({size} B body): emulator {emu[0]:.0f}/s, bare aiohttp {bare[0]:.0f}/s "
            f"→ **{emu[0] / bare[0]:.2f}x bare**"
        )
        for name, _ in WIREMOCKS:
            if (kind, name) in best:
                wm = best[(kind, name)]
                line += f"; {name} {wm[0]:.0f}/s → **{emu[0] / wm[0]:.2f}x {name}**"
        if not wiremock:
            line += "; WireMock not available (needs npm and Java)"
        errors = sum(v[1] for k, v in best.items() if k[0] == kind)
        lines.append(line + (f"; non-2xx answers: {errors}" if errors else "") + f" ({emu[2]})")
        cpus = ", ".join(f"{k[1]} {v[3]:.0f}" for k, v in best.items() if k[0] == kind)
        lines.append(f"{kind} server CPU µs per request: {cpus}")
    lines.append(f"emulator RSS after the run: {idle:.0f} MB")
    append_results("API throughput (wrk -t2 -c64)", lines, quick)


if __name__ == "__main__":
    main()
