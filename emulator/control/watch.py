"""Control routes to watch a project: its event stream, a broadcast's timeline, its calls.

The views (`emulator.observe`) are imported when first asked for, not at start-up."""

from __future__ import annotations

from aiohttp import web

from emulator.api.middleware import WORLD, scoped
from emulator.api.responses import json_response

__all__ = ["watch_routes"]


async def _stream(request: web.Request) -> web.StreamResponse:
    from emulator.observe.stream import serve_stream

    return await serve_stream(request, request[WORLD].bus)


async def _timeline(request: web.Request) -> web.Response:
    from emulator.observe.timeline import timeline_answer

    world = request[WORLD]
    answer = timeline_answer(world, request.match_info["broadcast_id"], request.query)
    return json_response(answer)


async def _calls(request: web.Request) -> web.Response:
    from emulator.observe.calls import calls_answer

    return json_response(calls_answer(request[WORLD], request.query))


async def _call(request: web.Request) -> web.Response:
    from emulator.observe.calls import call_detail

    return json_response(call_detail(request[WORLD], request.match_info["voice_id"]))


def watch_routes() -> list[web.RouteDef]:
    return [
        *scoped("GET", "/stream", _stream),
        *scoped("GET", "/broadcasts/{broadcast_id}/timeline", _timeline),
        *scoped("GET", "/calls", _calls),
        *scoped("GET", "/calls/{voice_id}", _call),
    ]
