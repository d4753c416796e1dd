"""The OpenAPI 3.1 document, built from the application's own route table.

Paths come from `app.router`; each route's operation comes from `emulator.control.operations`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from emulator.api.middleware import CONTROL_PREFIX, PROJECT_PREFIX
from emulator.api.routes import PREFIXES
from emulator.control.operations import (
    API_OPERATIONS,
    CONTROL_OPERATIONS,
    ERROR_TEXTS,
    Operation,
)
from emulator.control.schemas import SCHEMAS, ref

__all__ = ["build_document", "openapi_document", "route_keys"]


def _lookup(method: str, path: str) -> tuple[Operation, str] | None:
    """The operation of a route and the suffix its operationId needs to stay unique."""
    if (method, path) in CONTROL_OPERATIONS:
        return CONTROL_OPERATIONS[(method, path)], ""
    if path.startswith(PROJECT_PREFIX + "/"):  # a control route scoped to one project
        unscoped = CONTROL_PREFIX + path[len(PROJECT_PREFIX) :]
        found = CONTROL_OPERATIONS.get((method, unscoped))
        return (_in_project(found), "_inProject") if found is not None else None
    for prefix in PREFIXES:
        if path.startswith(prefix + "/") and (method, path[len(prefix) :]) in API_OPERATIONS:
            suffix = "" if prefix == PREFIXES[0] else "_" + prefix.strip("/").replace("/", "_")
            return API_OPERATIONS[(method, path[len(prefix) :])], suffix
    return None


def _in_project(operation: Operation) -> Operation:
    """A control operation acting on the project named in the path (404 if it does not exist)."""
    responses = {**operation["responses"], "404": {"$ref": "#/components/responses/E404"}}
    summary = operation["summary"] + " (of the project named in the path)"
    return {**operation, "summary": summary, "responses": responses}


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
        params = _path_params(path)
        if params:
            item["parameters"] = params
        secured: dict[str, Any] = {}
        if path.startswith(CONTROL_PREFIX):  # health stays open: container health checks need it
            secured["security"] = [] if path.endswith("/health") else [{"controlToken": []}]
        item[method.lower()] = {
            **operation,
            "operationId": operation["operationId"] + suffix,
            **secured,
        }
    return _document(paths)


def _document(paths: dict[str, Any]) -> dict[str, Any]:
    responses = {
        f"E{code}": {"description": text, "content": {"application/json": {"schema": ref("Error")}}}
        for code, text in ERROR_TEXTS.items()
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
