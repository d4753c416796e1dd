"""Control-plane routes: health, clock, reset, inspection, projects and OpenAPI.

Every route that acts on one project exists twice: `/_emulator/...` acts on the default project,
`/_emulator/projects/{app_id}/...` on the project named (the middleware picks the world).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.api.middleware import CONTROL_PREFIX, WORLD, read_json, scoped
from emulator.api.responses import json_response
from emulator.console.routes import console_routes
from emulator.control.inspection import broadcasts_answer, requests_answer, webhooks_answer
from emulator.control.project_routes import project_routes
from emulator.control.reliability import reliability_routes
from emulator.control.scenario_routes import scenario_routes
from emulator.control.triggers import trigger_routes
from emulator.control.watch import watch_routes
from emulator.errors import BadRequest, Conflict
from emulator.listener import CONNECTIONS
from emulator.projects import Projects
from emulator.sim.driver import IdleLimitError

__all__ = ["ControlHandlers", "control_routes"]

_MAX_ADVANCE_S = 366 * 86_400


class ControlHandlers:
    def __init__(self, projects: Projects) -> None:
        self.projects = projects

    async def health(self, request: web.Request) -> web.Response:
        answer = self.projects.health()
        stats = request.app.get(CONNECTIONS)
        if stats is not None:
            answer["connections"] = stats.as_json()
        return json_response(answer)

    async def clock(self, request: web.Request) -> web.Response:
        return json_response(request[WORLD].clock_json())

    async def advance(self, request: web.Request) -> web.Response:
        world = request[WORLD]
        body = await read_json(request)
        seconds = body.get("seconds", request.query.get("seconds"))
        try:
            value = float(seconds)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise BadRequest("seconds must be a number") from None
        if not 0 <= value <= _MAX_ADVANCE_S:
            raise BadRequest(f"seconds must be between 0 and {_MAX_ADVANCE_S}")
        await world.driver.advance(int(value * 1000))
        return json_response(world.clock_json())

    async def run_until_idle(self, request: web.Request) -> web.Response:
        world = request[WORLD]
        body = await read_json(request)
        limit = body.get("max_timers", 10_000_000)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise BadRequest("max_timers must be a positive whole number")
        try:
            fired = await world.driver.run_until_idle(limit)
        except IdleLimitError as exc:
            raise Conflict(str(exc)) from None
        return json_response({**world.clock_json(), "fired": fired})

    async def reset(self, request: web.Request) -> web.Response:
        world = request[WORLD]
        world.reset()
        return json_response({"status": "ok", **world.clock_json()})

    async def requests(self, request: web.Request) -> web.Response:
        return json_response(requests_answer(request[WORLD], request.query))

    async def webhooks(self, request: web.Request) -> web.Response:
        return json_response(webhooks_answer(request[WORLD], request.query))

    async def broadcasts(self, request: web.Request) -> web.Response:
        return json_response(broadcasts_answer(request[WORLD], request.query))

    async def openapi(self, request: web.Request) -> web.Response:
        # the document's schemas are imported when it is first asked for, not at start-up
        from emulator.control.openapi import openapi_document

        return json_response(openapi_document(request.app))


def control_routes(projects: Projects, state_file: Any = None) -> list[web.RouteDef]:
    """Every control route; `state_file` writes the state file (`POST /_emulator/snapshot`)."""
    h = ControlHandlers(projects)
    p = CONTROL_PREFIX
    return [
        web.get(p + "/health", h.health),
        web.get(p + "/openapi.json", h.openapi),
        *scoped("GET", "/clock", h.clock),
        *scoped("POST", "/clock/advance", h.advance),
        *scoped("POST", "/clock/run-until-idle", h.run_until_idle),
        *scoped("POST", "/reset", h.reset),
        *scoped("GET", "/requests", h.requests),
        *scoped("GET", "/webhooks", h.webhooks),
        *scoped("GET", "/broadcasts", h.broadcasts),
        *scenario_routes(),
        *watch_routes(),
        *trigger_routes(),
        *reliability_routes(state_file),
        *project_routes(projects),
        *console_routes(),  # the console page: /_emulator/ui
    ]
