"""Shared fixtures: a real emulator server and a recording webhook receiver, both on 127.0.0.1:0."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from emulator import EmulatorRunner, Settings, create_app
from emulator.app import EMULATOR, PROJECTS
from emulator.projects import Projects
from emulator.world import World

pytest_plugins = ["pytester"]  # the plugin and docs tests run small projects through pytester
collect_ignore = ["plugin_project"]  # a user's project, run by tests/test_plugin.py


class Receiver:
    """Records every webhook; an optional `react` coroutine runs before answering."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.react: Callable[[dict[str, Any]], Awaitable[None]] | None = None
        self.status = 200
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.events.append(body)
        self.headers.append(dict(request.headers))
        self.paths.append(request.path)
        if self.react is not None:
            await self.react(body)
        return web.Response(status=self.status)

    def for_number(self, number: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("to") == number or e.get("dialed_number") == number]

    def names(self, number: str) -> list[str]:
        return [e.get("state") or e.get("playstate") for e in self.for_number(number)]

    def completion(self) -> dict[str, Any] | None:
        done = [e for e in self.events if "resultSet" in e]
        return done[-1] if done else None

    def on(self, path: str) -> list[dict[str, Any]]:
        """Events received on `path` (e.g. "/event" or "/call"), in arrival order."""
        return [e for e, p in zip(self.events, self.paths, strict=True) if p == path]

    def calls(self, number: str) -> list[tuple[Any, ...]]:
        """(attempt, event, virtual time HH:MM:SS, reason) of each per-call event for `number`;
        play events are named `play:<playstate>`."""
        return [
            (
                e.get("attempt"),
                e["state"] if "state" in e else f"play:{e.get('playstate')}",
                str(e.get("timestamp", ""))[11:19],
                e.get("reason"),
            )
            for e in self.for_number(number)
        ]

    async def wait_for(self, predicate: Callable[[Receiver], bool], timeout: float = 10.0) -> None:
        """Poll until `predicate(self)` holds, with a bounded wait."""
        await until(lambda: predicate(self), timeout)


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `predicate` until it holds; fail after `timeout` real seconds (no blind sleeps)."""

    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.002)

    await asyncio.wait_for(poll(), timeout)


class Api:
    """A small client of the emulated API and control plane."""

    def __init__(self, session: aiohttp.ClientSession, base: str, settings: Settings) -> None:
        self.session = session
        self.base = base
        pair = f"{settings.app_id}:{settings.app_key}".encode()
        self.auth = {"Authorization": "Basic " + base64.b64encode(pair).decode()}

    async def call(
        self, method: str, path: str, body: Any = None, auth: bool = True, **kw: Any
    ) -> tuple[int, Any]:
        headers = dict(self.auth) if auth else {}
        headers.update(kw.pop("headers", {}))
        async with self.session.request(
            method, self.base + path, json=body, headers=headers, **kw
        ) as resp:
            return resp.status, await resp.json(content_type=None)

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        async with self.session.request(method, self.base + "/_emulator" + path, json=body) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    async def advance(self, seconds: float) -> dict[str, Any]:
        answer: dict[str, Any] = await self.control("POST", "/clock/advance", {"seconds": seconds})
        return answer

    async def run_until_idle(self) -> dict[str, Any]:
        answer: dict[str, Any] = await self.control("POST", "/clock/run-until-idle")
        return answer

    def create_body(self, numbers: list[str], receiver: Receiver, **extra: Any) -> dict[str, Any]:
        """The documented create request (as the vendor page writes it), with `extra` merged."""
        body = {
            "application_name": "test campaign",
            "owner_ref": "xyz",
            "broadcast_numbers_array": numbers,
            "from": "919999999999",
            "action_on_connect": {
                "play": {
                    "text": "Hello from the emulator",
                    "voice": "female",
                    "language": "en-US",
                    "prompt_ref": "1",
                }
            },
            "call_param": {"interval_between_retries": 5, "number_of_retries": 3},
            "event_url": receiver.url + "/event",
            "call_handler_url": receiver.url + "/call",
        }
        body.update(extra)
        return body

    async def create(self, numbers: list[str], receiver: Receiver, **extra: Any) -> dict[str, Any]:
        body = self.create_body(numbers, receiver, **extra)
        status, answer = await self.call("POST", "/voice/v1/broadcast", body)
        assert status == 200, answer
        return answer

    async def report(self, broadcast_id: str) -> dict[str, Any]:
        status, answer = await self.call("GET", f"/voice/v1/broadcast/{broadcast_id}")
        assert status == 200, answer
        return answer

    async def wait_complete(self, receiver: Receiver, timeout: float = 10.0) -> dict[str, Any]:
        async def poll() -> dict[str, Any]:
            while (done := receiver.completion()) is None:
                await asyncio.sleep(0.005)
            return done

        return await asyncio.wait_for(poll(), timeout)


class Running:
    def __init__(self, emulator: World, api: Api, url: str, projects: Projects) -> None:
        self.emulator = emulator  # the default project's world
        self.api = api
        self.url = url
        self.projects = projects  # every project's world


MakeReceiver = Callable[[], Awaitable[Receiver]]


@pytest.fixture
async def make_receiver() -> AsyncIterator[MakeReceiver]:
    """Factory: `await make_receiver()` starts another recording receiver on 127.0.0.1:0."""
    runners: list[web.AppRunner] = []

    async def start() -> Receiver:
        rec = Receiver()
        app = web.Application()
        app.router.add_post("/{tail:.*}", rec.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        rec.url = f"http://127.0.0.1:{port}"
        return rec

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def receiver(make_receiver: MakeReceiver) -> Receiver:
    return await make_receiver()


StartEmulator = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_emulator() -> AsyncIterator[StartEmulator]:
    """Factory: `await start_emulator(clock="manual", ...)` runs a real emulator on port 0."""
    runners: list[web.AppRunner] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(**changes: Any) -> Running:
        changes.setdefault("settle_ms", 0)
        settings = Settings(port=0).replace(**changes)
        app = create_app(settings)
        runner = EmulatorRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}"
        session = aiohttp.ClientSession()
        sessions.append(session)
        return Running(app[EMULATOR], Api(session, url, settings), url, app[PROJECTS])

    yield start
    for session in sessions:
        await session.close()
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def emu(start_emulator: StartEmulator) -> Running:
    return await start_emulator()


# -- the `serve` command as a child process ---------------------------------------------------
LINE = re.compile(
    r"serving (?P<url>https?://\S+) "
    r"\(app id '(?P<id>[^']*)', app key '(?P<key>[^']*)', clock (?P<clock>\w+)\)"
)


class Served:
    """A `serve` child process and what its start line says."""

    def __init__(self, proc: asyncio.subprocess.Process, line: str) -> None:
        self.proc = proc
        self.line = line
        match = LINE.search(line)
        assert match, line
        self.url = match["url"]
        self.app_id, self.app_key, self.clock = match["id"], match["key"], match["clock"]
        self.log: list[str] = []  # the serve log (stderr), read so that its pipe never fills
        self._drain = asyncio.ensure_future(self._read_log())

    async def _read_log(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.log.append(raw.decode(errors="replace").rstrip("\n"))


async def _serve(*args: str, env: dict[str, str] | None = None) -> Served:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("EMULATOR_")}
    environ.update(env or {})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "emulator",
        "serve",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environ,
    )
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
    except TimeoutError:
        proc.kill()
        raise
    if not line:
        assert proc.stderr is not None
        raise AssertionError((await proc.stderr.read()).decode())
    return Served(proc, line)


Serve = Callable[..., Awaitable[Served]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Factory: `await serve(*flags, env=...)` runs `python -m emulator serve --port 0 ...`."""
    procs: list[asyncio.subprocess.Process] = []

    async def start(*args: str, env: dict[str, str] | None = None) -> Served:
        served = await _serve(*args, env=env)
        procs.append(served.proc)
        return served

    yield start
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
