"""Projects: memory of idle projects opened by first use, and the cost of project routing.

    python bench/projects.py [--projects 1000] [--duration 8] [--rounds 3] [--quick]

Two emulators run side by side, both `--open-projects` on the `manual` clock: "many" gets
`--projects` projects opened by first use (one request each with new Basic credentials), "one"
keeps only its default project. Memory: the RSS of "many" before and after opening the projects
(idle, after a garbage collection has had time to settle), per project. Routing: wrk GETs the
report of a two-number broadcast on both in alternating rounds (best of `--rounds`), once in the
default project and once in a project opened in the middle of the thousand; the yardstick is the
same route on "one".
"""

from __future__ import annotations

import argparse
import base64
import http.client as httpclient
import json
import tempfile
import time
from pathlib import Path

from _common import (
    APP_ID,
    APP_KEY,
    append_results,
    cpu_s,
    ensure_wrk,
    http,
    rss_mb,
    start_emulator,
    start_receiver,
)
from api import create_body, run_wrk


def basic(app_id: str, app_key: str) -> str:
    return "Basic " + base64.b64encode(f"{app_id}:{app_key}".encode()).decode()


def open_projects(base: str, count: int) -> float:
    """Open `count` projects by first use over one keep-alive connection; seconds it took."""
    host, port = base.removeprefix("http://").split(":")
    conn = httpclient.HTTPConnection(host, int(port), timeout=30)
    started = time.monotonic()
    try:
        for i in range(count):
            auth = basic(f"project-{i}", f"key-{i}")
            conn.request("GET", "/voice/v1/broadcast/none", headers={"Authorization": auth})
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 404, resp.status  # authenticated: its project exists now
    finally:
        conn.close()
    return time.monotonic() - started


def report_script(base: str, receiver: str, auth: str, tmp: Path, name: str) -> Path:
    """A wrk script GETting the report of a new two-number broadcast made with `auth`."""
    body = json.dumps(create_body(receiver, 2)).encode()
    host, port = base.removeprefix("http://").split(":")
    conn = httpclient.HTTPConnection(host, int(port), timeout=30)
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    conn.request("POST", "/voice/v1/broadcast", body, headers)
    created = json.loads(conn.getresponse().read())
    conn.close()
    path = f"/voice/v1/broadcast/{created['broadcast_id']}"
    script = tmp / f"{name}.lua"
    script.write_text(f'wrk.path = {json.dumps(path)}\nwrk.headers["Authorization"] = "{auth}"\n')
    return script


def settle_rss(pid: int) -> float:
    time.sleep(1.0)
    return rss_mb(pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100 projects, 1 s runs, 1 round")
    args = parser.parse_args()
    if args.quick:
        args.projects, args.duration, args.rounds = 100, 1, 1
    wrk = ensure_wrk()
    tmp = Path(tempfile.mkdtemp(prefix="bench-projects-"))
    flags = ("--clock", "manual", "--open-projects")
    with start_emulator(*flags) as many, start_emulator(*flags) as one, start_receiver() as rcv:
        receiver = rcv.match[1]
        bases = {"many": many.match[1], "one": one.match[1]}
        assert http("GET", bases["many"] + "/_emulator/health")[0] == 200
        idle = settle_rss(many.pid)
        took = open_projects(bases["many"], args.projects)
        opened = settle_rss(many.pid)
        _, health = http("GET", bases["many"] + "/_emulator/health")
        assert health["projects"] == args.projects + 1, health
        default = basic(APP_ID, APP_KEY)
        middle = args.projects // 2
        scripts = {
            ("many", "default"): report_script(bases["many"], receiver, default, tmp, "md"),
            ("many", "project"): report_script(
                bases["many"], receiver, basic(f"project-{middle}", f"key-{middle}"), tmp, "mp"
            ),
            ("one", "default"): report_script(bases["one"], receiver, default, tmp, "od"),
        }
        pids = {"many": many.pid, "one": one.pid}
        best: dict[tuple[str, str], tuple[float, float]] = {}
        for _ in range(args.rounds):
            for (server, who), script in scripts.items():
                before = cpu_s(pids[server])
                rate, bad, total = run_wrk(wrk, bases[server], script, args.duration)
                assert bad == 0, f"{bad} non-2xx answers"
                cpu = (cpu_s(pids[server]) - before) / total * 1e6
                print(f"{server:4} {who:7} {rate:8.0f} req/s {cpu:5.0f} µs CPU/req")
                if rate > best.get((server, who), (0.0, 0.0))[0]:
                    best[(server, who)] = (rate, cpu)
        after = rss_mb(many.pid)
    per_project_kb = (opened - idle) * 1024 / args.projects
    yard = best[("one", "default")]
    lines = [
        f"{args.projects} projects opened by first use in {took:.2f} s "
        f"({took / args.projects * 1e6:.0f} µs each): RSS {idle:.1f} → {opened:.1f} MB idle, "
        f"**{opened - idle:.1f} MB over idle** (goal ≤ 100 MB), **{per_project_kb:.1f} KB per "
        f"idle project**; {after:.1f} MB after the GET runs",
    ]
    for who, label in (("default", "the default project"), ("project", "a project opened by use")):
        rate, cpu = best[("many", who)]
        lines.append(
            f"report GET in {label}, of {args.projects + 1} projects: {rate:.0f}/s "
            f"({cpu:.0f} µs CPU/req) vs {yard[0]:.0f}/s ({yard[1]:.0f} µs) with one project → "
            f"**{rate / yard[0]:.3f}x** (routing cost {100 * (1 - rate / yard[0]):+.1f} %; goal "
            "≤ 5 %)"
        )
    append_results("Projects: idle memory and routing", lines, args.quick)


if __name__ == "__main__":
    main()
