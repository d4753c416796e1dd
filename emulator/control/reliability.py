"""Control-plane routes for faults (`/_emulator/faults`) and the state file (`/snapshot`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from emulator.api.middleware import WORLD, read_json, scoped
from emulator.api.responses import json_response
from emulator.errors import BadRequest, Conflict, NotFound, ServiceUnavailable
from emulator.fault_specs import faults_body_specs
from emulator.faults import ApiFault, WebhookFault

__all__ = ["ReliabilityHandlers", "faults_from_body", "reliability_routes"]

Fault = ApiFault | WebhookFault


def faults_from_body(body: Mapping[str, Any], now_ms: int) -> list[Fault]:
    """`{"api": [...], "webhook": [...]}` (compact strings or objects, one or a list), one fault
    object with `"kind": "api"|"webhook"`, or `{"faults": [such objects]}`, built with their
    windows counted from `now_ms`; ValueError says what is wrong (the grammar of
    `emulator.fault_specs`, the same as flags and scenario files)."""
    return [spec.build(now_ms) for spec in faults_body_specs(body)]


SaveState = Callable[[], Awaitable[dict[str, Any]]]


class ReliabilityHandlers:
    """Faults of the request's project, and the state file of every project."""

    def __init__(self, save_state: SaveState | None) -> None:
        self.save_state = save_state

    @staticmethod
    def _faults(request: web.Request) -> dict[str, Any]:
        world = request[WORLD]
        return world.faults.as_json(world.clock.iso)

    async def list_faults(self, request: web.Request) -> web.Response:
        return json_response(self._faults(request))

    async def add_faults(self, request: web.Request) -> web.Response:
        world = request[WORLD]
        body = await read_json(request)
        try:
            faults = faults_from_body(body, world.clock.now_ms)
        except ValueError as exc:
            raise BadRequest(f"fault: {exc}") from None
        if not faults:
            raise BadRequest("no fault given")
        added = [world.faults.add(f) for f in faults]
        return json_response({"added": added, **self._faults(request)})

    async def clear_faults(self, request: web.Request) -> web.Response:
        request[WORLD].faults.clear()
        return json_response(self._faults(request))

    async def remove_fault(self, request: web.Request) -> web.Response:
        raw = request.match_info["fault_id"]
        if not raw.isdigit() or not request[WORLD].faults.remove(int(raw)):
            raise NotFound(f"no fault with id {raw[:40]!r}")
        return json_response(self._faults(request))

    async def snapshot(self, request: web.Request) -> web.Response:
        """Write the state file (every project's state) now."""
        if self.save_state is None:
            raise Conflict("no state file: start the emulator with --state-file PATH")
        try:
            written = await self.save_state()
        except OSError as exc:
            raise ServiceUnavailable(f"cannot write the state file: {exc}") from None
        return json_response({"status": "ok", **written})


def reliability_routes(save_state: SaveState | None) -> list[web.RouteDef]:
    h = ReliabilityHandlers(save_state)
    return [
        *scoped("GET", "/faults", h.list_faults),
        *scoped("POST", "/faults", h.add_faults),
        *scoped("DELETE", "/faults", h.clear_faults),
        *scoped("DELETE", "/faults/{fault_id}", h.remove_fault),
        *scoped("POST", "/snapshot", h.snapshot),
    ]
