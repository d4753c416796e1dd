"""Control route `PUT /_emulator/scenario`: load the world of a scenario into a running emulator.

The body is parsed, its files read (only inside `--scenario-dir`) and its groups made in worker
threads, so a large or hostile scenario never holds the event loop; only the swap of the world
runs on it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.api.middleware import WORLD, scoped
from emulator.api.responses import json_response
from emulator.errors import BadRequest, PayloadTooLarge
from emulator.world import World

if TYPE_CHECKING:
    from emulator.scenario.model import Scenario

__all__ = ["apply_scenario", "scenario_routes"]

_SOURCE = "request body"


async def apply_scenario(world: World, scenario: Scenario) -> dict[str, Any]:
    """Load the world of a parsed scenario (`load_control_scenario`) into `world`: its groups
    are made in a worker thread, then the world is swapped on the loop. Returns what
    `PUT /_emulator/scenario` answers; ValueError for a group that cannot be made."""
    from emulator.scenario.world import apply_world, resolve_groups

    seed = world.settings.seed
    groups = await asyncio.to_thread(resolve_groups, scenario.world.groups, seed)
    return {"status": "ok", **apply_world(world, scenario, groups)}


def scenario_routes() -> list[web.RouteDef]:
    loading = asyncio.Lock()  # one scenario at a time: loads apply in order, one thread at most

    async def put_scenario(request: web.Request) -> web.Response:
        """Body: a scenario in YAML or JSON. Rules, prompts, timings and faults take effect for
        calls dialled from now on; settings that cannot change at run time are listed in
        `not_applied`. It reads files only inside `--scenario-dir`."""
        # the scenario layer is imported when first used, not at start-up
        from emulator.scenario.loader import load_control_scenario
        from emulator.scenario.schema import ScenarioError

        world = request[WORLD]
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise PayloadTooLarge("scenario too large") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("scenario body is not valid UTF-8") from None
        try:
            async with loading:
                scenario = await load_control_scenario(text, world.settings, _SOURCE)
                return json_response(await apply_scenario(world, scenario))
        except ScenarioError as exc:
            raise BadRequest(str(exc)) from None
        except ValueError as exc:  # a group that cannot be resolved
            raise BadRequest(f"{_SOURCE}: {exc}") from None

    return scoped("PUT", "/scenario", put_scenario)
