"""The one middleware: picks the world, in-flight token, auth, journal, every error as JSON."""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from emulator.api.responses import error_body, json_response
from emulator.errors import (
    BadRequest,
    EmulatorError,
    InjectedFault,
    InternalError,
    Messages,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
)
from emulator.faults import real_delay
from emulator.projects import Projects
from emulator.world import World

__all__ = [
    "BODY",
    "BODY_BYTES",
    "CONTROL_PREFIX",
    "DIALECT",
    "MAX_DEPTH",
    "PROJECT_PREFIX",
    "WORLD",
    "api_middleware",
    "read_json",
    "render_error",
    "scoped",
    "translate_http",
]

log = logging.getLogger("emulator.api")
CONTROL_PREFIX = "/_emulator"
PROJECT_PREFIX = CONTROL_PREFIX + "/projects/{app_id}"  # the same control routes, one project
MAX_DEPTH = 64  # deeper JSON is refused: no client sends it, and it costs recursion elsewhere
JOURNAL_BODY_BYTES = 64 * 1024  # larger bodies are journalled as a summary, to bound memory
BODY_BYTES = web.RequestKey("body_bytes", int)
_BODYLESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
_READ_ONLY = frozenset({"GET", "HEAD"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BODY = web.RequestKey("body", object)  # the parsed JSON body, for the journal
DIALECT = web.RequestKey("dialect", str)  # the client family a create request was written in
WORLD = web.RequestKey("world", World)  # the project a request acts on


def scoped(method: str, path: str, handler: Handler) -> list[web.RouteDef]:
    """`METHOD /_emulator{path}` (the default project) and the same under every project."""
    return [
        web.route(method, CONTROL_PREFIX + path, handler),
        web.route(method, PROJECT_PREFIX + path, handler),
    ]


def render_error(world: World, error: EmulatorError) -> web.Response:
    return json_response(error_body(error, world.clock.now_iso()), error.status, error.headers)


def translate_http(exc: web.HTTPException, request: web.Request) -> EmulatorError:
    """aiohttp's own HTTP errors (routing, body size) as EmulatorErrors."""
    ids = _path_ids(request)
    if exc.status == 404:
        return NotFound(f"{Messages.ROUTE_NOT_FOUND}: {request.method} {request.path}", **ids)
    if exc.status == 405:
        allowed = ", ".join(sorted(getattr(exc, "allowed_methods", ()) or ()))
        return MethodNotAllowed(
            f"{Messages.METHOD_NOT_ALLOWED}: {request.method} {request.path}",
            headers={"Allow": allowed} if allowed else None,
            **ids,
        )
    if exc.status == 413:
        return PayloadTooLarge(Messages.TOO_LARGE, **ids)
    if exc.status == 400:
        return BadRequest(exc.text or "Bad request", **ids)
    return InternalError(f"{exc.status} {exc.reason}", **ids)


def _path_ids(request: web.Request) -> dict[str, Any]:
    info = request.match_info
    return {"app_instance": info.get("broadcast_id"), "voice_id": info.get("voice_id")}


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object; GET/DELETE bodies are never read."""
    if request.method in _BODYLESS:
        return {}
    raw = await request.read()  # too large: aiohttp's 413, answered by translate_http
    if not raw.strip():
        request[BODY] = {}
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"body is not valid UTF-8 (byte {exc.start})") from None
    request[BODY_BYTES] = len(raw)
    try:
        body = json.loads(text)
    except RecursionError:
        raise BadRequest(f"body is nested too deeply (at most {MAX_DEPTH} levels)") from None
    except ValueError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _depth_exceeds(body, MAX_DEPTH):
        raise BadRequest(f"body is nested too deeply (at most {MAX_DEPTH} levels)")
    if _SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(body):
        raise BadRequest("body holds an unpaired UTF-16 surrogate (\\ud800-\\udfff)")
    request[BODY] = body
    return body


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(body: Any) -> bool:
    """Text no UTF-8 can carry (it could be neither echoed nor sent on in a webhook)."""
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _depth_exceeds(value: Any, limit: int) -> bool:
    """True if `value` nests lists/objects more than `limit` deep (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def api_middleware(projects: Projects) -> Any:
    """Picks each request's world: by its Basic credentials (API) or its path (control plane)."""
    control_check = _control_check(projects.base.control_token)

    async def check_faults(request: web.Request) -> None:
        world = request[WORLD]
        if not world.faults.api:  # none set (the usual case): not even the clock is read
            return
        fault = world.faults.api_fault(request.method, request.path, world.clock.now_ms)
        if fault is None:
            return
        await real_delay(fault.delay_s)  # real time; the request's token holds virtual time
        if fault.status is not None:
            headers = {}
            if fault.retry_after_s is not None:
                headers["Retry-After"] = str(fault.retry_after_s)
            raise InjectedFault(fault.status, f"injected fault: {fault.status}", headers)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            return await _control(projects, request, handler, control_check)
        header = request.headers.get("Authorization")
        world = projects.by_header(header) or await projects.authenticate(header)
        if world is None:  # journalled in the project the credentials name, if any
            world = projects.named(header) or projects.default
            response = await _guarded(world, request, handler, _unauthorized)
        elif request.method in _READ_ONLY:
            # a read changes nothing: it neither holds time nor re-arms the settle window, so a
            # client polling the report cannot keep the clock from moving (auto mode)
            request[WORLD] = world
            check = check_faults if world.faults.api else None  # none set: the usual case
            response = await _guarded(world, request, handler, check)
        else:
            request[WORLD] = world
            world.activity.acquire()
            try:
                response = await _guarded(world, request, handler, check_faults)
            finally:
                world.activity.release()
        _journal(world, request, response)
        return response

    return middleware


async def _unauthorized(request: web.Request) -> None:
    raise Unauthorized(Messages.NOT_AUTHORIZED, **_path_ids(request))


async def _control(
    projects: Projects,
    request: web.Request,
    handler: Handler,
    check: Callable[[web.Request], Awaitable[None]],
) -> web.StreamResponse:
    """A control route acts on the project its path names, or on the default project."""

    async def pick(request: web.Request) -> None:
        await check(request)
        app_id = request.match_info.get("app_id")
        request[WORLD] = projects.default if app_id is None else projects.world(app_id)

    return await _guarded(projects.default, request, handler, pick)


async def _guarded(
    world: World,
    request: web.Request,
    handler: Handler,
    check: Callable[[web.Request], Awaitable[None]] | None,
) -> web.StreamResponse:
    """Run `handler` after routing and `check` (if any) pass; every failure comes back as a JSON
    error."""
    try:
        match_error = request.match_info.http_exception
        if match_error is not None:
            raise match_error
        if check is not None:
            await check(request)
        return await handler(request)
    except EmulatorError as error:
        return render_error(request.get(WORLD, world), error)
    except web.HTTPException as exc:
        return render_error(request.get(WORLD, world), translate_http(exc, request))
    except RecursionError:  # hostile nesting that got past the limits: refuse, keep serving
        return render_error(world, BadRequest("request is nested too deeply"))
    except Exception:
        log.exception("internal error on %s %s", request.method, request.path)
        return render_error(world, InternalError(Messages.INTERNAL))


def _control_check(token: str | None) -> Callable[[web.Request], Awaitable[None]]:
    """With a control token, every control route but `GET /_emulator/health` needs it, exactly:
    `Authorization: Bearer TOKEN`, or `?token=TOKEN` (for a browser's page and event stream)."""
    expected = f"Bearer {token}".encode()
    open_path = CONTROL_PREFIX + "/health"

    async def check(request: web.Request) -> None:
        if token is None or (request.path == open_path and request.method in _READ_ONLY):
            return
        header = request.headers.get("Authorization")
        if header is not None:
            if hmac.compare_digest(header.encode("utf-8", "replace"), expected):
                return
        elif "token" in request.query:
            given = request.query["token"].encode("utf-8", "replace")
            if hmac.compare_digest(given, expected[len("Bearer ") :]):
                return
        raise Unauthorized(Messages.CONTROL_TOKEN)

    return check


def _journal(world: World, request: web.Request, response: web.StreamResponse) -> None:
    method = request.method
    if method in _BODYLESS:  # no body read, no dialect named (`read_json`, `create`): no look-ups
        dialect, body = None, None
    else:
        dialect, body = request.get(DIALECT), _journal_body(request)
    world.record(method, request.path, response.status, dialect, body)


def _journal_body(request: web.Request) -> Any:
    """The parsed body, or a short summary of one too large to keep in the journal."""
    body = request.get(BODY)
    size = request.get(BODY_BYTES, 0)
    if size <= JOURNAL_BODY_BYTES or not isinstance(body, dict):
        return body
    return {"_elided": f"body of {size} bytes not kept", "keys": sorted(body)[:50]}
