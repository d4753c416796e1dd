"""Control-plane routes for faults (`/_emulator/faults`) and the state file (`/snapshot`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from emulator.api.middleware import CONTROL_PREFIX, read_json
from emulator.api.responses import json_response
from emulator.errors import BadRequest, Conflict, NotFound, ServiceUnavailable
from emulator.fault_specs import faults_body_specs
from emulator.faults import ApiFault, WebhookFault
from emulator.runtime import Emulator

__all__ = ["ReliabilityHandlers", "faults_from_body", "reliability_routes"]

Fault = ApiFault | WebhookFault


def faults_from_body(body: Mapping[str, Any], now_ms: int) -> list[Fault]:
    """`{"api": [...], "webhook": [...]}` (compact strings or objects, one or a list), one fault
    object with `"kind": "api"|"webhook"`, or `{"faults": [such objects]}`, built with their
    windows counted from `now_ms`; ValueError says what is wrong (the grammar of
    `emulator.fault_specs`, the same as flags and scenario files)."""
    return [spec.build(now_ms) for spec in faults_body_specs(body)]


class ReliabilityHandlers:
    def __init__(self, emulator: Emulator) -> None:
        self.em = emulator

    def _faults(self) -> dict[str, Any]:
        return self.em.faults.as_json(self.em.clock.iso)

    async def list_faults(self, request: web.Request) -> web.Response:
        return json_response(self._faults())

    async def add_faults(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        try:
            faults = faults_from_body(body, self.em.clock.now_ms)
        except ValueError as exc:
            raise BadRequest(f"fault: {exc}") from None
        if not faults:
            raise BadRequest("no fault given")
        added = [self.em.faults.add(f) for f in faults]
        return json_response({"added": added, **self._faults()})

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.em.faults.clear()
        return json_response(self._faults())

    async def remove_fault(self, request: web.Request) -> web.Response:
        raw = request.match_info["fault_id"]
        if not raw.isdigit() or not self.em.faults.remove(int(raw)):
            raise NotFound(f"no fault with id {raw[:40]!r}")
        return json_response(self._faults())

    async def snapshot(self, request: web.Request) -> web.Response:
        if not self.em.settings.state_file:
            raise Conflict("no state file: start the emulator with --state-file PATH")
        try:
            written = await self.em.save_state()
        except OSError as exc:
            raise ServiceUnavailable(f"cannot write the state file: {exc}") from None
        return json_response({"status": "ok", **written})


def reliability_routes(emulator: Emulator) -> list[web.RouteDef]:
    h = ReliabilityHandlers(emulator)
    p = CONTROL_PREFIX
    return [
        web.get(p + "/faults", h.list_faults),
        web.post(p + "/faults", h.add_faults),
        web.delete(p + "/faults", h.clear_faults),
        web.delete(p + "/faults/{fault_id}", h.remove_fault),
        web.post(p + "/snapshot", h.snapshot),
    ]
