"""The OpenAPI 3.1 document, built from the application's own route table.

Paths come from `app.router`; each route's operation comes from `API_OPERATIONS` (keyed by method
and path under an API prefix, so `/voice/v1` and `/v1` share one entry) or `CONTROL_OPERATIONS`
(keyed by method and full path). A route added without an entry here is left out of the document,
and `tests/test_openapi.py` fails naming it: to document a new route, add one `op(...)` line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from emulator.api.routes import PREFIXES
from emulator.control.schemas import SCHEMAS, ref

__all__ = [
    "API_OPERATIONS",
    "CONTROL_OPERATIONS",
    "build_document",
    "op",
    "openapi_document",
    "route_keys",
]

Operation = dict[str, Any]
_ERRORS = {
    "400": "bad input",
    "401": "missing or wrong credentials",
    "404": "unknown broadcast, call or route",
    "405": "method not allowed on this path",
    "409": "not valid in the call's state",
    "413": "body too large",
    "500": "never expected",
}
_API_ERRORS = ("400", "401", "404", "405", "413", "500")


def op(
    op_id: str,
    summary: str,
    answer: str,
    *,
    status: str = "200",
    body: str | None = None,
    errors: Iterable[str] = _API_ERRORS,
    tag: str = "broadcast",
    query: Iterable[tuple[str, str, str]] = (),
) -> Operation:
    """One operation: its id, summary, success schema, request schema and error statuses."""
    operation: Operation = {
        "operationId": op_id,
        "summary": summary,
        "tags": [tag],
        "responses": {status: _json(answer, summary)},
    }
    for code in errors:
        operation["responses"][code] = {"$ref": f"#/components/responses/E{code}"}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": _of(body)}}
    params = [_query(name, kind, text) for name, kind, text in query]
    if params:
        operation["parameters"] = params
    return operation


def _also_yaml(operation: Operation) -> Operation:
    """The same request body accepted as YAML too."""
    content = operation["requestBody"]["content"]
    content["application/yaml"] = content["application/json"]
    return operation


def _of(name: str) -> dict[str, Any]:
    return {"schema": ref(name)}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": _of(schema)}}


def _query(name: str, kind: str, text: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": text,
        "schema": {"type": kind},
    }


_CALL_ERRORS = (*_API_ERRORS, "409")
_B, _C = "/broadcast/{broadcast_id}", "/call/{voice_id}"
_BC = _B + _C

API_OPERATIONS: dict[tuple[str, str], Operation] = {
    ("POST", "/broadcast"): op(
        "createBroadcast", "create a broadcast", "BroadcastAccepted", body="BroadcastCreate"
    ),
    ("GET", _B): op("getBroadcast", "broadcast report", "BroadcastReport"),
    ("DELETE", _B): op("stopBroadcast", "stop a broadcast", "BroadcastAccepted"),
    ("POST", _B): op(
        "commandBroadcastCall",
        "play, connect or record on a call (voice_id in the body)",
        "PlayAccepted",
        status="202",
        body="CommandRequest",
        errors=_CALL_ERRORS,
        tag="call",
    ),
    ("PUT", _B + "/play"): op(
        "playBodyVoiceId",
        "play on the call named in the body",
        "PlayAccepted",
        status="202",
        body="CommandRequest",
        errors=_CALL_ERRORS,
        tag="call",
    ),
}
for _base, _name in ((_BC, "InBroadcast"), (_C, "")):
    API_OPERATIONS.update(
        {
            ("PUT", _base + "/play"): op(
                f"play{_name}",
                "play a prompt",
                "PlayAccepted",
                status="202",
                body="PlayRequest",
                errors=_CALL_ERRORS,
                tag="call",
            ),
            ("POST", _base + "/play"): op(
                f"playPost{_name}",
                "play a prompt (POST spelling)",
                "PlayAccepted",
                status="202",
                body="PlayRequest",
                errors=_CALL_ERRORS,
                tag="call",
            ),
            ("PUT", _base + "/connect"): op(
                f"connect{_name}",
                "bridge the call to another number",
                "BridgeAccepted",
                status="202",
                body="ConnectRequest",
                errors=_CALL_ERRORS,
                tag="call",
            ),
            ("DELETE", _base): op(f"hangup{_name}", "hang up", "CallAnswer", tag="call"),
            ("GET", _base): op(f"callInfo{_name}", "the call's state", "CallInfo", tag="call"),
        }
    )
for _base, _name in ((_BC, "InBroadcast"), (_C, "")):
    for _method in ("PUT", "POST"):
        API_OPERATIONS[(_method, _base + "/hold")] = op(
            f"hold{_method.title()}{_name}",
            "hold (acknowledged, journalled)",
            "ActionAccepted",
            status="202",
            errors=_CALL_ERRORS,
            tag="call",
        )
    API_OPERATIONS[("PUT", _base + "/recording")] = op(
        f"recording{_name}",
        "start or stop recording (acknowledged, journalled)",
        "ActionAccepted",
        status="202",
        errors=_CALL_ERRORS,
        tag="call",
    )
API_OPERATIONS.update(
    {
        ("PUT", _C + "/accept"): op(
            "accept",
            "accept an incoming call: always 409 for broadcast calls",
            "CallAnswer",
            errors=_CALL_ERRORS,
            tag="call",
        ),
        ("DELETE", "/calls/{voice_id}"): op("hangupCalls", "hang up", "CallAnswer", tag="call"),
        ("POST", "/calls/{voice_id}"): op(
            "playCalls",
            "play a prompt",
            "PlayAccepted",
            status="202",
            body="PlayRequest",
            errors=_CALL_ERRORS,
            tag="call",
        ),
    }
)

_CTL_ERRORS = ("401",)
_PAGE = (
    ("since", "integer", "only rows with an id greater than this"),
    ("limit", "integer", "at most this many rows (the answer's next pages on)"),
)
CONTROL_OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/_emulator/health"): op(
        "health",
        "200 once serving (never needs the control token)",
        "Health",
        errors=(),
        tag="control",
    ),
    ("GET", "/_emulator/clock"): op(
        "clock", "the virtual clock", "Clock", errors=_CTL_ERRORS, tag="control"
    ),
    ("POST", "/_emulator/clock/advance"): op(
        "advance",
        "move virtual time forward, firing everything due",
        "Clock",
        body="Advance",
        errors=(*_CTL_ERRORS, "400"),
        tag="control",
    ),
    ("POST", "/_emulator/clock/run-until-idle"): op(
        "runUntilIdle",
        "fire every timer until none is left",
        "Clock",
        body="RunUntilIdle",
        errors=(*_CTL_ERRORS, "400", "409"),
        tag="control",
    ),
    ("POST", "/_emulator/reset"): op(
        "reset",
        "forget every broadcast, call, journal entry and delivery",
        "Reset",
        errors=_CTL_ERRORS,
        tag="control",
    ),
    ("GET", "/_emulator/requests"): op(
        "requests",
        "the request journal",
        "Requests",
        errors=(*_CTL_ERRORS, "400"),
        tag="control",
        query=(
            ("method", "string", "only this HTTP method"),
            ("path", "string", "only paths containing this"),
            ("status", "integer", "only this answer status"),
            ("dialect", "string", "only creates in this client family"),
            *_PAGE,
        ),
    ),
    ("GET", "/_emulator/webhooks"): op(
        "webhooks",
        "the webhook delivery log",
        "Webhooks",
        errors=(*_CTL_ERRORS, "400"),
        tag="control",
        query=(
            ("broadcast_id", "string", "only this broadcast's deliveries"),
            ("voice_id", "string", "only this call's deliveries"),
            ("state", "string", "delivery state: delivered, pending or dead"),
            ("event", "string", "event name (the payload's state or playstate)"),
            ("url", "string", "only URLs containing this"),
            *_PAGE,
        ),
    ),
    ("GET", "/_emulator/broadcasts"): op(
        "broadcasts",
        "every broadcast with its progress",
        "Broadcasts",
        errors=_CTL_ERRORS,
        tag="control",
        query=(("state", "string", "only this state"),),
    ),
    ("GET", "/_emulator/openapi.json"): op(
        "openapi", "this document", "Document", errors=_CTL_ERRORS, tag="control"
    ),
    ("PUT", "/_emulator/scenario"): _also_yaml(
        op(
            "loadScenario",
            "load the world of a scenario (rules, prompts, timings, faults)",
            "ScenarioLoaded",
            body="Scenario",
            errors=(*_CTL_ERRORS, "400", "413"),
            tag="control",
        )
    ),
}


def _lookup(method: str, path: str) -> tuple[Operation, str] | None:
    """The operation of a route and the suffix its operationId needs to stay unique."""
    if (method, path) in CONTROL_OPERATIONS:
        return CONTROL_OPERATIONS[(method, path)], ""
    for prefix in PREFIXES:
        if path.startswith(prefix + "/") and (method, path[len(prefix) :]) in API_OPERATIONS:
            suffix = "" if prefix == PREFIXES[0] else "_" + prefix.strip("/").replace("/", "_")
            return API_OPERATIONS[(method, path[len(prefix) :])], suffix
    return None


def route_keys(app: web.Application) -> list[tuple[str, str]]:
    """(method, path template) of every route the app serves, HEAD (aiohttp's GET twin) aside."""
    keys = []
    for route in app.router.routes():
        canonical = route.resource.canonical if route.resource is not None else ""
        if route.method != "HEAD" and canonical:
            keys.append((route.method, canonical))
    return keys


def _path_params(path: str) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
    ]


def build_document(routes: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of these routes (routes without an operation are left out)."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path in routes:
        found = _lookup(method, path)
        if found is None:
            continue
        operation, suffix = found
        item = paths.setdefault(path, {})
        if _path_params(path):
            item["parameters"] = _path_params(path)
        secured: dict[str, Any] = {}
        if path.startswith("/_emulator"):  # health stays open: container health checks need it
            secured["security"] = [] if path.endswith("/health") else [{"controlToken": []}]
        item[method.lower()] = {
            **operation,
            "operationId": operation["operationId"] + suffix,
            **secured,
        }
    return _document(paths)


def _document(paths: dict[str, Any]) -> dict[str, Any]:
    responses = {
        f"E{code}": {"description": text, "content": {"application/json": _of("Error")}}
        for code, text in _ERRORS.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "broadcast-emulator",
            "version": "0.1.0",
            "description": (
                "The EnableX Voice Message Broadcast API as the emulator serves it (every route "
                "under /voice/v1 and /v1, HTTP Basic APP_ID:APP_KEY), and its control plane "
                "under /_emulator (open, or a bearer token with --control-token). Every "
                "answer is JSON, errors included."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"basicAuth": []}],
        "tags": [{"name": "broadcast"}, {"name": "call"}, {"name": "control"}],
        "paths": paths,
        "webhooks": _webhooks(),
        "components": {
            "schemas": SCHEMAS,
            "responses": responses,
            "securitySchemes": {
                "basicAuth": {"type": "http", "scheme": "basic"},
                "controlToken": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def _webhooks() -> dict[str, Any]:
    def hook(op_id: str, summary: str, schema: str) -> dict[str, Any]:
        body = {
            "content": {
                "application/json": {"schema": {"oneOf": [ref(schema), ref("EncryptedEvent")]}}
            }
        }
        return {
            "post": {
                "operationId": op_id,
                "summary": summary,
                "requestBody": body,
                "responses": {"200": {"description": "any 2xx acknowledges"}},
            }
        }

    return {
        "callEvent": hook("callEvent", "to call_handler_url: per-call events", "CallEvent"),
        "broadcastEvent": hook(
            "broadcastEvent", "to event_url: broadcast events", "BroadcastEvent"
        ),
    }


def openapi_document(app: web.Application) -> dict[str, Any]:
    """The document of the routes `app` serves."""
    return build_document(route_keys(app))
