"""Control-plane routes: health, clock, reset, inspection (journal, deliveries) and OpenAPI."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.api.middleware import CONTROL_PREFIX, read_json
from emulator.api.responses import json_response
from emulator.control.inspection import broadcasts_answer, requests_answer, webhooks_answer
from emulator.control.openapi import openapi_document
from emulator.control.reliability import reliability_routes
from emulator.control.scenario_routes import scenario_routes
from emulator.errors import BadRequest, Conflict
from emulator.runtime import Emulator
from emulator.sim.driver import IdleLimitError

__all__ = ["ControlHandlers", "control_routes"]

_MAX_ADVANCE_S = 366 * 86_400


class ControlHandlers:
    def __init__(self, emulator: Emulator) -> None:
        self.em = emulator

    async def health(self, request: web.Request) -> web.Response:
        return json_response(self.em.health())

    def _clock(self) -> dict[str, Any]:
        clock = self.em.clock
        return {
            "mode": clock.mode.value,
            "now": clock.now_iso(),
            "now_ms": clock.now_ms,
            "start": clock.iso(clock.start_ms),
            "pending": clock.pending,
            "speed": clock.speed,
            "in_flight": self.em.activity.held,
        }

    async def clock(self, request: web.Request) -> web.Response:
        return json_response(self._clock())

    async def advance(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        seconds = body.get("seconds", request.query.get("seconds"))
        try:
            value = float(seconds)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise BadRequest("seconds must be a number") from None
        if not 0 <= value <= _MAX_ADVANCE_S:
            raise BadRequest(f"seconds must be between 0 and {_MAX_ADVANCE_S}")
        await self.em.driver.advance(int(value * 1000))
        return json_response(self._clock())

    async def run_until_idle(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        limit = body.get("max_timers", 10_000_000)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise BadRequest("max_timers must be a positive whole number")
        try:
            fired = await self.em.driver.run_until_idle(limit)
        except IdleLimitError as exc:
            raise Conflict(str(exc)) from None
        return json_response({**self._clock(), "fired": fired})

    async def reset(self, request: web.Request) -> web.Response:
        self.em.reset()
        return json_response({"status": "ok", **self._clock()})

    async def requests(self, request: web.Request) -> web.Response:
        return json_response(requests_answer(self.em, request.query))

    async def webhooks(self, request: web.Request) -> web.Response:
        return json_response(webhooks_answer(self.em, request.query))

    async def broadcasts(self, request: web.Request) -> web.Response:
        return json_response(broadcasts_answer(self.em, request.query))

    async def openapi(self, request: web.Request) -> web.Response:
        return json_response(openapi_document(request.app))


def control_routes(emulator: Emulator) -> list[web.RouteDef]:
    h = ControlHandlers(emulator)
    p = CONTROL_PREFIX
    return [
        web.get(p + "/health", h.health),
        web.get(p + "/clock", h.clock),
        web.post(p + "/clock/advance", h.advance),
        web.post(p + "/clock/run-until-idle", h.run_until_idle),
        web.post(p + "/reset", h.reset),
        web.get(p + "/requests", h.requests),
        web.get(p + "/webhooks", h.webhooks),
        web.get(p + "/broadcasts", h.broadcasts),
        web.get(p + "/openapi.json", h.openapi),
        *scenario_routes(emulator),
        *reliability_routes(emulator),
    ]
