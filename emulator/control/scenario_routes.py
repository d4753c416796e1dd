"""Control route `PUT /_emulator/scenario`: load the world of a scenario into a running emulator.

The body is parsed, its files read (only inside `--scenario-dir`) and its groups resolved in a
worker thread, so a large or hostile scenario never holds the event loop.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from emulator.api.middleware import CONTROL_PREFIX
from emulator.api.responses import json_response
from emulator.errors import BadRequest, PayloadTooLarge
from emulator.runtime import Emulator

__all__ = ["scenario_routes"]

_SOURCE = "request body"


def scenario_routes(emulator: Emulator) -> list[web.RouteDef]:
    async def put_scenario(request: web.Request) -> web.Response:
        """Body: a scenario in YAML or JSON. Rules, prompts, timings and faults take effect for
        calls dialled from now on; settings that cannot change at run time are listed in
        `not_applied`. It reads files only inside `--scenario-dir`."""
        # the scenario layer is imported when first used, not at start-up
        from emulator.scenario.loader import load_control_scenario
        from emulator.scenario.schema import ScenarioError
        from emulator.scenario.world import apply_world, resolve_groups

        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise PayloadTooLarge("scenario too large") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("scenario body is not valid UTF-8") from None
        try:
            scenario = await load_control_scenario(text, emulator.settings, _SOURCE)
            groups = await asyncio.to_thread(
                resolve_groups, scenario.world.groups, emulator.settings.seed
            )
            loaded = apply_world(emulator, scenario, groups)
        except ScenarioError as exc:
            raise BadRequest(str(exc)) from None
        except ValueError as exc:  # a group that cannot be resolved
            raise BadRequest(f"{_SOURCE}: {exc}") from None
        return json_response({"status": "ok", **loaded})

    return [web.put(CONTROL_PREFIX + "/scenario", put_scenario)]
