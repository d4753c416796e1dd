"""Control routes of the project registry: list, create, show and delete projects (CONTRACT §8)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from emulator.api.middleware import CONTROL_PREFIX, WORLD, read_json
from emulator.api.responses import json_response
from emulator.config import Settings
from emulator.errors import BadRequest
from emulator.projects import PROJECT_SETTINGS, Prepare, Projects, project_changes, project_settings
from emulator.world import World

__all__ = ["PROJECT_KEYS", "project_json", "project_routes"]

PROJECT_KEYS = ("app_id", "app_key", *PROJECT_SETTINGS, "scenario")
_MAX_KEY = 256


def project_json(world: World) -> dict[str, Any]:
    """One project: credentials, its own settings, clock, and where its control routes are."""
    return {
        "app_id": world.app_id,
        "app_key": world.app_key,
        "broadcasts": len(world.store.broadcasts),
        "settings": project_settings(world.settings),
        "clock": world.clock_json(),
        "control": f"{CONTROL_PREFIX}/projects/{world.app_id}",
    }


def _credential(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > _MAX_KEY:
        raise BadRequest(f"{key} must be a non-empty string of at most {_MAX_KEY} characters")
    if not value.isprintable():
        raise BadRequest(f"{key} must be printable text")
    return value


async def _scenario_world(
    document: Any, settings: Settings, changes: Mapping[str, Any]
) -> tuple[Prepare, dict[str, Any]]:
    """Parse an inline scenario (an object, or YAML/JSON text) off the event loop, as the control
    plane reads scenarios (files only inside --scenario-dir): the world to load into the new
    project, and its settings layer (credentials included). 400 when it is not valid."""
    from emulator.scenario.loader import load_control_scenario
    from emulator.scenario.schema import ScenarioError
    from emulator.scenario.world import apply_world, resolve_groups

    source = "scenario"
    try:
        scenario = await load_control_scenario(document, settings, source)
        layer = {k: v for k, v in scenario.settings.items() if k in _LAYER}
        seed = changes.get("seed", layer.get("seed", settings.seed))
        groups = await asyncio.to_thread(resolve_groups, scenario.world.groups, seed)
    except ScenarioError as exc:
        raise BadRequest(str(exc)) from None
    except ValueError as exc:
        raise BadRequest(f"{source}: {exc}") from None

    def prepare(world: World) -> None:
        apply_world(world, scenario, groups)

    return prepare, layer


_LAYER = frozenset(
    {"app_id", "app_key"} | {"start_ms" if k == "start" else k for k in PROJECT_SETTINGS}
)


def project_routes(projects: Projects) -> list[web.RouteDef]:
    async def listing(request: web.Request) -> web.Response:
        return json_response(projects.listing())

    async def create(request: web.Request) -> web.Response:
        body = await read_json(request)
        unknown = sorted(set(body) - set(PROJECT_KEYS))
        if unknown:
            raise BadRequest(
                f"unknown keys: {', '.join(unknown)}; known: {', '.join(PROJECT_KEYS)}"
            )
        app_id, app_key = _credential(body, "app_id"), _credential(body, "app_key")
        try:
            changes = project_changes(body)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        prepare = None
        if body.get("scenario") is not None:  # the scenario's settings, under the body's
            prepare, layer = await _scenario_world(body["scenario"], projects.base, changes)
            app_id = app_id or layer.pop("app_id", None)
            app_key = app_key or layer.pop("app_key", None)
            changes = {
                **{k: v for k, v in layer.items() if k not in ("app_id", "app_key")},
                **changes,
            }
        world = await projects.create(app_id, app_key, changes, prepare)
        return json_response(project_json(world), 201)

    async def show(request: web.Request) -> web.Response:
        return json_response(project_json(request[WORLD]))

    async def delete(request: web.Request) -> web.Response:
        world = await projects.delete(request[WORLD].app_id)
        return json_response({"status": "ok", "deleted": world.app_id})

    p = CONTROL_PREFIX + "/projects"
    return [
        web.get(p, listing),
        web.post(p, create),
        web.get(p + "/{app_id}", show),
        web.delete(p + "/{app_id}", delete),
    ]
