"""What every bench script shares: processes on loopback, RSS, load, tools, and RESULTS.md.

Every process a bench starts is a child on 127.0.0.1 that the bench stops itself (terminate, then
kill after a grace period), so a bench never leaves anything running and never leaves loopback.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "APP_ID",
    "APP_KEY",
    "AUTH",
    "BENCH",
    "PY",
    "ROOT",
    "Child",
    "append_results",
    "child",
    "cpu_s",
    "ensure_wiremock",
    "ensure_wrk",
    "free_port",
    "http",
    "load",
    "number",
    "peak_rss_mb",
    "rss_mb",
    "start_emulator",
    "start_receiver",
    "wait_completion",
    "wait_http",
]

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
APP_ID, APP_KEY = "bench-app", "bench-key"
AUTH = "Basic " + base64.b64encode(f"{APP_ID}:{APP_KEY}".encode()).decode()
RESULTS = BENCH / "RESULTS.md"
CACHE = BENCH / ".cache"


def load() -> str:
    """The 1-minute load average and the core count, as `uptime` shows them."""
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f} on {os.cpu_count()} cores"


def number(i: int, tail: str = "7") -> str:
    """A distinct phone number; its tail picks the callee (CONTRACT §5: `7` = a person)."""
    return f"9180{i:07d}{tail}"


# -- processes ---------------------------------------------------------------------------------
class Child:
    """A child process whose stdout is read on a thread (so it never blocks on a full pipe)."""

    def __init__(self, argv: Sequence[str], ready: str | None, timeout_s: float = 30.0) -> None:
        self.argv = list(argv)
        self.proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self._match: re.Match[str] | None = None
        self._found = threading.Event()
        self._ready = re.compile(ready) if ready else None
        threading.Thread(target=self._read, daemon=True).start()
        if self._ready is not None and not self._found.wait(timeout_s):
            self.stop()
            raise RuntimeError(f"{self.argv[:4]} not ready in {timeout_s}s:\n" + self.output())

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            if self._ready is not None and self._match is None:
                self._match = self._ready.search(line)
                if self._match is not None:
                    self._found.set()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def match(self) -> re.Match[str]:
        assert self._match is not None
        return self._match

    def output(self) -> str:
        return "\n".join(self.lines[-30:])

    def stop(self, grace_s: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def child(
    argv: Sequence[str], ready: str | None = None, timeout_s: float = 30.0
) -> Iterator[Child]:
    proc = Child(argv, ready, timeout_s)
    try:
        yield proc
    finally:
        proc.stop()


@contextlib.contextmanager
def start_emulator(*flags: str) -> Iterator[Child]:
    """`broadcast-emulator serve` on a free loopback port; `.match[1]` is its base URL.

    With `BENCH_PROFILE=path` in the environment, py-spy samples the emulator for the whole bench
    and writes collapsed stacks to `path` (read them with `python bench/profile_top.py path`).
    """
    argv = [PY, "-m", "emulator", "serve", "--port", "0", "--app-id", APP_ID]
    argv += ["--app-key", APP_KEY, "--log-level", "warning", *flags]
    with child(argv, r"serving (http://\S+)") as emu:
        out = os.environ.get("BENCH_PROFILE")
        if not out:
            yield emu
            return
        spy = shutil.which("py-spy") or str(Path(PY).with_name("py-spy"))
        record = [spy, "record", "-p", str(emu.pid), "-r", "200", "-f", "raw", "-o", out]
        profiler = subprocess.Popen(record, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield emu
        finally:
            profiler.send_signal(2)  # SIGINT: py-spy writes its file and exits
            try:
                profiler.wait(30)
            except subprocess.TimeoutExpired:
                profiler.kill()


def start_receiver(*flags: str) -> contextlib.AbstractContextManager[Child]:
    """The bench's webhook receiver (a separate process); `.match[1]` is its base URL."""
    return child([PY, str(BENCH / "receiver.py"), *flags], r"receiving (http://\S+)")


def _status_of(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    return _status_of(pid, "VmRSS")


def peak_rss_mb(pid: int) -> float:
    return _status_of(pid, "VmHWM")


# -- HTTP without dependencies (the bench driver must not compete for the event loop) ----------
def http(
    method: str, url: str, body: Any = None, auth: bool = False, timeout_s: float = 600.0
) -> tuple[int, Any]:
    """One request over a fresh loopback connection; returns (status, parsed JSON or None)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = AUTH
    data = None if body is None else json.dumps(body).encode()
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), data, headers)
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw) if raw else None
    except ValueError:
        return resp.status, raw


def wait_http(url: str, timeout_s: float = 30.0, interval_s: float = 0.002) -> float:
    """Poll `url` until it answers 200; returns the monotonic instant it did."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if http("GET", url, timeout_s=2.0)[0] == 200:
                return time.monotonic()
        time.sleep(interval_s)
    raise TimeoutError(f"{url} did not answer 200 within {timeout_s}s")


def wait_completion(receiver: str, timeout_s: float, interval_s: float = 0.05) -> dict[str, Any]:
    """Poll the bench receiver's `/stats` until it holds a completion event; returns the stats."""
    deadline = time.monotonic() + timeout_s
    while True:
        _, stats = http("GET", f"{receiver}/stats")
        if stats["completions"]:
            return dict(stats)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no completion after {timeout_s}s: {stats['count']} events")
        time.sleep(interval_s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- tools the benches install themselves --------------------------------------------------------
def _run(argv: Sequence[str], timeout_s: float = 600.0) -> bool:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def ensure_wrk() -> str:
    """The path of `wrk`, installed from the OS packages when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = ["apt-get", "install", "-y", "-qq", "wrk"]
    if not _run(apt):
        _run(["apt-get", "update", "-qq"])
        _run(apt)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("bench: wrk is missing and `apt-get install -y wrk` failed")
    return found


def ensure_wiremock() -> Path | None:
    """The standalone WireMock jar (npm package `wiremock`), or None if npm or Java is missing."""
    if not (shutil.which("java") and shutil.which("npm")):
        return None
    jars = sorted((CACHE / "node_modules" / "wiremock" / "build").glob("*.jar"))
    if not jars:
        CACHE.mkdir(exist_ok=True)
        npm = ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE), "wiremock"]
        _run(npm, timeout_s=300)
        jars = sorted((CACHE / "node_modules" / "wiremock" / "build").glob("*.jar"))
    return jars[-1] if jars else None


# -- results -----------------------------------------------------------------------------------
def command_line() -> str:
    rel = os.path.relpath(sys.argv[0], ROOT)
    return shlex.join(["python", rel, *sys.argv[1:]])


def append_results(title: str, lines: Sequence[str], quick: bool = False) -> None:
    """Print the figures and append them (date, command, load) to bench/RESULTS.md."""
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = [f"### {title} — {stamp}", "", f"`{command_line()}` ({load()})", ""]
    block += [line if line.startswith("|") or not line else f"- {line}" for line in lines]
    text = "\n".join(block) + "\n\n"
    print(text, end="")
    if quick:
        return  # --quick runs are smoke runs: their figures are not worth keeping
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(text)
