"""Thin handlers of the emulated API: parse, call the service, serialise."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.api.dialects import Family, normalise_bridge, normalise_create, normalise_play
from emulator.api.middleware import DIALECT, WORLD, read_json
from emulator.api.responses import (
    bridge_body,
    broadcast_body,
    hangup_body,
    json_response,
    play_body,
    report_body,
)
from emulator.domain.models import CallLeg, LegState
from emulator.errors import BadRequest, Conflict
from emulator.world import World

__all__ = ["EMULATOR", "Handlers"]

EMULATOR = web.AppKey("emulator", World)  # the default project's world (white-box tests)
# The create answer's `state` per client family: the vendor page says "initiated"; the 2023-era
# dialer SDK only registers a broadcast whose answer says "broadcastcall_initiated".
_INITIATED = {Family.V2023: "broadcastcall_initiated", Family.V2: "broadcastcall_initiated"}


class Handlers:
    """Route handlers; each acts on the world the middleware picked for its request."""

    # -- broadcasts ------------------------------------------------------------------------
    async def create(self, request: web.Request) -> web.Response:
        w = request[WORLD]
        body = await read_json(request)
        command = normalise_create(body, w.limits)
        request[DIALECT] = command.family
        broadcast = w.service.create(command)
        body = broadcast_body(
            broadcast, _INITIATED.get(command.family, "initiated"), w.clock.now_iso()
        )
        first = broadcast.targets[0]
        # the voice_id, from and to of the first call, which the 2023 dialer SDK reads
        body.update(
            voice_id=w.service.voice_id(first, 1),
            to=first.number,
            **{"from": command.from_number},
        )
        return json_response(body)

    async def report(self, request: web.Request) -> web.Response:
        w = request[WORLD]
        broadcast = w.store.broadcast(request.match_info["broadcast_id"])
        return json_response(report_body(broadcast, w.clock.now_iso(), w.clock.iso))

    async def stop(self, request: web.Request) -> web.Response:
        w = request[WORLD]
        broadcast = w.store.broadcast(request.match_info["broadcast_id"])
        w.service.stop(broadcast)
        return json_response(broadcast_body(broadcast, broadcast.state.value, w.clock.now_iso()))

    async def command(self, request: web.Request) -> web.Response:
        """POST /broadcast/{id} with `{voice_id, play|connect|record}` (2020 command style)."""
        w = request[WORLD]
        body = await read_json(request)
        if "play" in body:
            return self._play(w, self._leg_from_body(w, body, request), normalise_play(body))
        if "connect" in body:
            return self._bridge(w, self._leg_from_body(w, body, request), body)
        if "record" in body:
            leg = self._leg_from_body(w, body, request, path_fallback=True)
            return self._accepted(w, leg, "record", body["record"])
        raise BadRequest("expected one of play, connect or record in the body")

    def _leg_from_body(
        self, w: World, body: dict[str, Any], request: web.Request, path_fallback: bool = False
    ) -> CallLeg:
        voice_id = body.get("voice_id")
        if voice_id is None and path_fallback:
            # one client family puts the voice_id in the path of record requests
            voice_id = request.match_info.get("broadcast_id")
        if not isinstance(voice_id, str) or not voice_id:
            raise BadRequest("voice_id is required")
        return w.service.leg(voice_id)

    # -- per call --------------------------------------------------------------------------
    @staticmethod
    def _path_leg(request: web.Request) -> CallLeg:
        return request[WORLD].service.leg(request.match_info["voice_id"])

    async def play(self, request: web.Request) -> web.Response:
        w = request[WORLD]
        body = await read_json(request)
        return self._play(w, self._path_leg(request), normalise_play(body))

    async def play_body_voice(self, request: web.Request) -> web.Response:
        """PUT /broadcast/{id}/play with the voice_id in the body (release 1.2.0 dialect)."""
        w = request[WORLD]
        body = await read_json(request)
        return self._play(w, self._leg_from_body(w, body, request), normalise_play(body))

    def _play(self, w: World, leg: CallLeg, spec: Any) -> web.Response:
        play = w.service.play(leg, spec)
        return json_response(play_body(leg, play, w.clock.now_iso()), 202)

    async def connect(self, request: web.Request) -> web.Response:
        w = request[WORLD]
        body = await read_json(request)
        return self._bridge(w, self._path_leg(request), body)

    def _bridge(self, w: World, leg: CallLeg, body: dict[str, Any]) -> web.Response:
        from_number, to = normalise_bridge(body, w.limits.cli_numbers)
        bridge = w.service.bridge(leg, from_number, to)
        return json_response(bridge_body(leg, bridge, w.clock.now_iso()), 202)

    async def hangup(self, request: web.Request) -> web.Response:
        w = request[WORLD]
        leg = self._path_leg(request)
        w.service.hangup(leg)
        return json_response(hangup_body(leg, w.clock.now_iso()))

    async def call_info(self, request: web.Request) -> web.Response:
        w = request[WORLD]
        leg = self._path_leg(request)
        body = hangup_body(leg, w.clock.now_iso())
        body.update(
            state=leg.state.value,
            dialed_number=leg.target.number,
            attempt=leg.attempt,
            answered=leg.answered,
            disconnect_reason=leg.reason or None,
        )
        return json_response(body)

    async def call_command(self, request: web.Request) -> web.Response:
        """POST /calls/{voice_id} with `{play|connect|record}` (2020 core style; play if flat)."""
        w = request[WORLD]
        body = await read_json(request)
        leg = self._path_leg(request)
        if "connect" in body:
            return self._bridge(w, leg, body)
        if "record" in body:
            return self._accepted(w, leg, "record", body["record"])
        return self._play(w, leg, normalise_play(body))

    async def recording(self, request: web.Request) -> web.Response:
        w = request[WORLD]
        body = await read_json(request)
        return self._accepted(w, self._path_leg(request), "record", body)

    async def hold(self, request: web.Request) -> web.Response:
        w = request[WORLD]
        body = await read_json(request)
        return self._accepted(w, self._path_leg(request), "hold", body)

    async def accept(self, request: web.Request) -> web.Response:
        leg = self._path_leg(request)
        raise Conflict(
            "accept is for incoming calls; broadcast calls are outgoing", voice_id=leg.voice_id
        )

    def _accepted(self, w: World, leg: CallLeg, action: str, body: Any) -> web.Response:
        """Record and hold are journalled and acknowledged; they change nothing simulated."""
        if leg.state is not LegState.CONNECTED:
            raise Conflict(
                f"cannot {action}: call is {leg.state.value}",
                voice_id=leg.voice_id,
                app_instance=leg.broadcast.broadcast_id,
            )
        answer = hangup_body(leg, w.clock.now_iso())
        answer.update(action=action, request=body)
        return json_response(answer, 202)
