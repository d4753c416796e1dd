"""Control route `PUT /_emulator/scenario`: load the world of a scenario into a running emulator."""

from __future__ import annotations

from aiohttp import web

from emulator.api.middleware import WORLD, scoped
from emulator.api.responses import json_response
from emulator.errors import BadRequest, PayloadTooLarge

__all__ = ["scenario_routes"]

_SOURCE = "request body"


def scenario_routes() -> list[web.RouteDef]:
    async def put_scenario(request: web.Request) -> web.Response:
        """Body: a scenario in YAML or JSON. Rules, prompts, timings and faults take effect for
        calls dialled from now on; settings that cannot change at run time are listed in
        `not_applied`."""
        # the scenario layer is imported when first used, not at start-up
        from emulator.scenario.loader import parse_scenario, read_tree
        from emulator.scenario.schema import ScenarioError
        from emulator.scenario.world import apply_world

        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise PayloadTooLarge("scenario too large") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("scenario body is not valid UTF-8") from None
        try:
            scenario = parse_scenario(read_tree(text, _SOURCE), _SOURCE)
            loaded = apply_world(request[WORLD], scenario)
        except ScenarioError as exc:
            raise BadRequest(str(exc)) from None
        except ValueError as exc:  # a group that cannot be resolved (e.g. a missing CSV)
            raise BadRequest(f"{_SOURCE}: {exc}") from None
        return json_response({"status": "ok", **loaded})

    return scoped("PUT", "/scenario", put_scenario)
