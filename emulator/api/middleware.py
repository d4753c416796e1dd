"""The one API middleware: in-flight token, auth, journal, and rendering every error as JSON."""

from __future__ import annotations

import base64
import binascii
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
from emulator.runtime import Emulator

__all__ = [
    "BODY",
    "BODY_BYTES",
    "CONTROL_PREFIX",
    "DIALECT",
    "MAX_DEPTH",
    "api_middleware",
    "read_json",
    "render_error",
    "translate_http",
]

log = logging.getLogger("emulator.api")
CONTROL_PREFIX = "/_emulator"
MAX_DEPTH = 64  # deeper JSON is refused: no client sends it, and it costs recursion elsewhere
JOURNAL_BODY_BYTES = 64 * 1024  # larger bodies are journalled as a summary, to bound memory
BODY_BYTES = web.RequestKey("body_bytes", int)
_BODYLESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BODY = web.RequestKey("body", object)  # the parsed JSON body, for the journal
DIALECT = web.RequestKey("dialect", str)  # the client family a create request was written in


def render_error(emulator: Emulator, error: EmulatorError) -> web.Response:
    return json_response(error_body(error, emulator.clock.now_iso()), error.status, error.headers)


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


class _Credentials:
    """Compares the Authorization header with the configured pair in constant time."""

    def __init__(self, app_id: str, app_key: str) -> None:
        pair = f"{app_id}:{app_key}".encode()
        self.expected = b"Basic " + base64.b64encode(pair)
        self.app_id = app_id.encode()
        self.app_key = app_key.encode()

    def accepts(self, header: str | None) -> bool:
        if header is None:
            return False
        if hmac.compare_digest(header.encode("utf-8", "replace"), self.expected):
            return True
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, sep, password = decoded.partition(b":")
        if not sep:
            return False
        ok_user = hmac.compare_digest(user.strip(), self.app_id)
        ok_key = hmac.compare_digest(password.strip(), self.app_key)
        return ok_user and ok_key


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


def api_middleware(emulator: Emulator) -> Any:
    credentials = _Credentials(emulator.settings.app_id, emulator.settings.app_key)
    control_check = _control_check(emulator)

    async def auth_check(request: web.Request) -> None:
        if not credentials.accepts(request.headers.get("Authorization")):
            raise Unauthorized(Messages.NOT_AUTHORIZED, **_path_ids(request))
        fault = emulator.faults.api_fault(request.method, request.path, emulator.clock.now_ms)
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
            return await _guarded(emulator, request, handler, control_check)
        emulator.activity.acquire()
        try:
            response = await _guarded(emulator, request, handler, auth_check)
        finally:
            emulator.activity.release()
        _journal(emulator, request, response)
        return response

    return middleware


async def _guarded(
    emulator: Emulator,
    request: web.Request,
    handler: Handler,
    check: Callable[[web.Request], Awaitable[None]],
) -> web.StreamResponse:
    """Run `handler` after routing and `check` pass; every failure comes back as a JSON error."""
    try:
        match_error = request.match_info.http_exception
        if match_error is not None:
            raise match_error
        await check(request)
        return await handler(request)
    except EmulatorError as error:
        return render_error(emulator, error)
    except web.HTTPException as exc:
        return render_error(emulator, translate_http(exc, request))
    except RecursionError:  # hostile nesting that got past the limits: refuse, keep serving
        return render_error(emulator, BadRequest("request is nested too deeply"))
    except Exception:
        log.exception("internal error on %s %s", request.method, request.path)
        return render_error(emulator, InternalError(Messages.INTERNAL))


def _control_check(emulator: Emulator) -> Callable[[web.Request], Awaitable[None]]:
    token = emulator.settings.control_token
    expected = f"Bearer {token}".encode()

    async def check(request: web.Request) -> None:
        if token is None or request.path.endswith("/health"):
            return
        given = request.headers.get("Authorization", "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, expected):
            raise Unauthorized(Messages.CONTROL_TOKEN)

    return check


def _journal(emulator: Emulator, request: web.Request, response: web.StreamResponse) -> None:
    emulator.record(
        request.method, request.path, response.status, request.get(DIALECT), _journal_body(request)
    )


def _journal_body(request: web.Request) -> Any:
    """The parsed body, or a short summary of one too large to keep in the journal."""
    body = request.get(BODY)
    size = request.get(BODY_BYTES, 0)
    if size <= JOURNAL_BODY_BYTES or not isinstance(body, dict):
        return body
    return {"_elided": f"body of {size} bytes not kept", "keys": sorted(body)[:50]}
