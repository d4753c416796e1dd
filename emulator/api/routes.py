"""The route table of the emulated API, mounted under both `/voice/v1` and `/v1`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from emulator.api.handlers import Handlers

__all__ = ["PREFIXES", "api_routes"]

PREFIXES = ("/voice/v1", "/v1")
Route = tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]


def _table(h: Handlers) -> list[Route]:
    call = "/call/{voice_id}"
    in_broadcast = "/broadcast/{broadcast_id}/call/{voice_id}"
    return [
        ("POST", "/broadcast", h.create),
        ("GET", "/broadcast/{broadcast_id}", h.report),
        ("DELETE", "/broadcast/{broadcast_id}", h.stop),
        ("POST", "/broadcast/{broadcast_id}", h.command),
        ("PUT", "/broadcast/{broadcast_id}/play", h.play_body_voice),
        ("PUT", in_broadcast + "/play", h.play),
        ("POST", in_broadcast + "/play", h.play),
        ("PUT", in_broadcast + "/connect", h.connect),
        ("PUT", in_broadcast + "/hold", h.hold),
        ("POST", in_broadcast + "/hold", h.hold),
        ("PUT", in_broadcast + "/recording", h.recording),
        ("DELETE", in_broadcast, h.hangup),
        ("GET", in_broadcast, h.call_info),
        ("PUT", call + "/play", h.play),
        ("POST", call + "/play", h.play),
        ("PUT", call + "/connect", h.connect),
        ("PUT", call + "/hold", h.hold),
        ("POST", call + "/hold", h.hold),
        ("PUT", call + "/recording", h.recording),
        ("PUT", call + "/accept", h.accept),
        ("DELETE", call, h.hangup),
        ("GET", call, h.call_info),
        ("DELETE", "/calls/{voice_id}", h.hangup),
        ("POST", "/calls/{voice_id}", h.call_command),
    ]


def api_routes(handlers: Handlers) -> list[web.RouteDef]:
    return [
        web.route(method, prefix + path, handler)
        for prefix in PREFIXES
        for method, path, handler in _table(handlers)
    ]
