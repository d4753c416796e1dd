"""The report GET (`GET /voice/v1/broadcast/{id}`, `GET /v1/broadcast/{id}`), the request clients
poll, routed before aiohttp's generic dispatch.

aiohttp's `Application._handle` resolves every request against the ~100 routes of the emulated API
and the control plane, then builds the middleware chain; for a report poll that machinery costs
about as much as the report itself. A request whose raw path is exactly one of the two report
routes with a plain id is handed to the same route and the same middleware with the match aiohttp
would have made (`request.match_info`, its app); everything else (other methods, ids with escapes
or dots, `Expect` headers) takes the generic path. The answers are the same bytes either way
(tests/test_report_answer_bytes.py).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from emulator.api.routes import PREFIXES

__all__ = ["hot_routes"]

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
_PLAIN_ID = re.compile(r"[0-9A-Za-z_-]+").fullmatch  # what the router would match unchanged
_MATCHES_KEPT = 1024  # report paths whose match is kept (polled broadcasts; more start afresh)


def hot_routes(app: web.Application, generic: Handler) -> Handler:
    """`generic` (the app's own request handler), with report GETs routed directly."""
    middleware = app.middlewares[0]  # the one middleware (`emulator.api.middleware`)
    wanted = {prefix + "/broadcast/{broadcast_id}": prefix + "/broadcast/" for prefix in PREFIXES}
    routes: dict[str, web.AbstractRoute] = {}
    for route in app.router.routes():
        formatter = route.get_info().get("formatter")
        if route.method == "GET" and formatter in wanted:
            routes[wanted[formatter]] = route
    starts = tuple(routes)
    matches: dict[str, web.UrlMappingMatchInfo] = {}  # by raw path: a poll's match, made once

    def match_of(path: str) -> web.UrlMappingMatchInfo | None:
        head, _, broadcast_id = path.rpartition("/")
        route = routes.get(head + "/")
        if route is None or _PLAIN_ID(broadcast_id) is None:
            return None
        match = web.UrlMappingMatchInfo({"broadcast_id": broadcast_id}, route)
        match.add_app(app)
        match.freeze()  # read-only from here: one serves every request of that path
        if len(matches) >= _MATCHES_KEPT:
            matches.clear()
        matches[path] = match
        return match

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        path = request.raw_path
        if request.method != "GET" or not path.startswith(starts):
            return await generic(request)
        match = matches.get(path) or match_of(path)
        if match is None or "Expect" in request.headers:
            return await generic(request)
        assert isinstance(request, web.Request)
        request._match_info = match  # as Application._handle sets it
        return await middleware(request, match.route.handler)

    return handle
