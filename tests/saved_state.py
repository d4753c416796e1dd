"""A state file as the emulator writes it, with a bit of everything in it.

Three projects (the default one, one from `--project`, one made at run time with its own
settings); broadcasts that completed, one stopped through the API, one still running (so it is
interrupted by a restart), calls answered, retried, with plays, DTMF menus and a bridge; deliveries
delivered, pending (backing off against a receiver that is down) and dead.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from emulator import EmulatorRunner, Settings, create_app
from emulator.api.dialects import normalise_create
from emulator.app import PROJECTS
from emulator.projects import Projects
from emulator.sim.clock import ClockMode

__all__ = ["DOWN", "NO_OUTAGE", "PROJECTS_SAVED", "busy_projects", "write_saved_state"]

DOWN = "http://127.0.0.1:9"  # nothing listens there: every delivery is refused
PROJECTS_SAVED = ("emulator-app-id", "team-b", "team-c")
# where the emulator rides out an unreachable receiver in real time (--webhook-outage-s), none:
# deliveries to DOWN back off at once on the virtual clock
NO_OUTAGE: dict[str, Any] = {"webhook_outage_s": 0.0}


def _auth(app_id: str, app_key: str) -> dict[str, str]:
    token = base64.b64encode(f"{app_id}:{app_key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _create(url: str, numbers: list[str], **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "application_name": "saved state",
        "owner_ref": "tests",
        "broadcast_numbers_array": numbers,
        "from": "919999999999",
        "action_on_connect": {"play": {"text": "Hello from the saved state", "voice": "female"}},
        "call_param": {"interval_between_retries": 2, "number_of_retries": 1},
        "event_url": url + "/event",
        "call_handler_url": url + "/call",
    }
    body.update(extra)
    return body


class _Client:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def call(self, method: str, path: str, body: Any = None, **auth: str) -> Any:
        headers = _auth(
            auth.get("app_id", "emulator-app-id"), auth.get("app_key", "emulator-app-key")
        )
        async with self.session.request(method, self.base + path, json=body, headers=headers) as r:
            answer = await r.json()
            assert 200 <= r.status < 300, answer
            return answer


async def _receiver() -> tuple[web.AppRunner, str]:
    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/{tail:.*}", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def _settled(app: web.Application) -> None:
    """Until no delivery is in flight (pending ones wait for their back-off timer)."""
    for _ in range(5000):
        if all(w.activity.held == 0 for w in app[PROJECTS]):
            return
        await asyncio.sleep(0.002)
    raise AssertionError("deliveries still in flight")


async def write_saved_state(path: Path) -> dict[str, Any]:
    """Run an emulator, do a bit of everything, `POST /_emulator/snapshot` to `path`."""
    rec_runner, rec = await _receiver()
    settings = Settings(
        port=0,
        clock=ClockMode.MANUAL,
        settle_ms=0,
        state_file=str(path),
        projects=(("team-b", "key-b"),),
        webhook_attempts=2,
        webhook_backoff_s=30.0,
        **NO_OUTAGE,
    )
    app = create_app(settings)
    runner = EmulatorRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as session:
            api = _Client(session, f"http://127.0.0.1:{port}")
            return await _fill(app, api, rec)
    finally:
        await runner.cleanup()
        await rec_runner.cleanup()


async def _fill(app: web.Application, api: _Client, rec: str) -> dict[str, Any]:
    control = "/_emulator"
    # the default project: a campaign that completes (person, busy then answered, invalid)
    await api.call(
        "POST",
        "/voice/v1/broadcast",
        _create(rec, ["919800000010", "919800000005", "919800000004"]),
    )
    # ... and one whose numbers press a DTMF menu, with per-recipient data (v2 recipients)
    menu = {"text": "Press one", "dtmf": True}
    recipients = [
        {"to": "919800000006", "play": menu, "custom_data": {"row": 1, "tags": ["a", "b"]}},
        {"to": "919800000012"},
    ]
    v2 = _create(rec, [], recipients=recipients, custom_data={"campaign": "spring"})
    del v2["broadcast_numbers_array"]
    await api.call("POST", "/voice/v1/broadcast", v2)
    await api.call("POST", control + "/clock/run-until-idle")
    await _settled(app)
    # team-b (from --project): answered calls, one bridged, then stopped through the API
    team_b = {"app_id": "team-b", "app_key": "key-b"}
    stopped = await api.call(
        "POST", "/voice/v1/broadcast", _create(rec, ["919800000020", "919800000021"]), **team_b
    )
    await api.call("POST", control + "/projects/team-b/clock/advance", {"seconds": 4})
    report = await api.call("GET", f"/voice/v1/broadcast/{stopped['broadcast_id']}", **team_b)
    voice = report["resultSet"][0]["voice_id"]
    bridge = {"from": "919999999999", "to": "919800000030"}
    await api.call("PUT", f"/voice/v1/call/{voice}/connect", bridge, **team_b)
    await api.call("POST", control + "/projects/team-b/clock/advance", {"seconds": 4})
    await api.call("DELETE", f"/voice/v1/broadcast/{stopped['broadcast_id']}", **team_b)
    # team-c (made at run time, its own settings): a receiver that is down, a running campaign
    await api.call(
        "POST",
        control + "/projects",
        {"app_id": "team-c", "app_key": "key-c", "seed": 7, "speed": 2, "dial_rate": 5},
    )
    team_c = {"app_id": "team-c", "app_key": "key-c"}
    numbers = ["919800000040", "919800000001", "919800000002", "919800000003"]
    await api.call("POST", "/voice/v1/broadcast", _create(DOWN, numbers), **team_c)
    await api.call("POST", control + "/projects/team-c/clock/advance", {"seconds": 4})
    await _settled(app)
    await api.call("POST", control + "/projects/team-c/clock/advance", {"seconds": 31})
    await _settled(app)
    # ended at once (an invalid number), its completion waiting for its per-call deliveries
    await api.call("POST", "/voice/v1/broadcast", _create(DOWN, ["919800000004"]), **team_c)
    await api.call("POST", control + "/projects/team-c/clock/advance", {"seconds": 1})
    await _settled(app)
    written: dict[str, Any] = await api.call("POST", control + "/snapshot")
    return written


def busy_projects(numbers: int, broadcasts: int = 4) -> Projects:
    """A project (not started, `manual` clock) after `broadcasts` campaigns of `numbers` numbers
    in all, every call over: a person answers, hears the prompt and hangs up (six events each,
    all still queued: the dispatcher is not running). The state of a large snapshot."""
    projects = Projects(Settings(port=0, clock=ClockMode.MANUAL, settle_ms=0))
    world = projects.default
    per = max(1, numbers // broadcasts)
    for b in range(broadcasts):
        body = _create(DOWN, [f"9180{b * per + i:07d}7" for i in range(per)])
        world.service.create(normalise_create(body, world.limits))
    world.clock.jump_to(world.clock.now_ms + 24 * 3600 * 1000)
    return projects
