"""The operations of the OpenAPI document: one `op(...)` entry per route, API and control plane.

`API_OPERATIONS` is keyed by method and path under an API prefix (so `/voice/v1` and `/v1` share
one entry), `CONTROL_OPERATIONS` by method and full path. A route without an entry is left out of
the document and `tests/test_openapi.py` fails naming it: to document a route, add one line here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from emulator.control.schemas import ref

__all__ = ["API_OPERATIONS", "CONTROL_OPERATIONS", "ERROR_TEXTS", "Operation", "op"]

Operation = dict[str, Any]
ERROR_TEXTS = {
    "400": "bad input",
    "401": "missing or wrong credentials",
    "404": "unknown broadcast, call or route",
    "405": "method not allowed on this path",
    "409": "not valid in the call's state",
    "413": "body too large",
    "500": "never expected",
    "503": "unavailable (e.g. the state file cannot be written)",
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


def _call_op(op_id: str, summary: str, answer: str, body: str | None = None) -> Operation:
    """An action on a call: answered 202, and 409 when the call's state does not allow it."""
    return op(op_id, summary, answer, status="202", body=body, errors=_CALL_ERRORS, tag="call")


def _control_op(
    op_id: str, summary: str, answer: str, *, errors: Iterable[str] = (), **options: Any
) -> Operation:
    """A control-plane route: 401 (control token missing or wrong) besides `errors`."""
    return op(op_id, summary, answer, errors=("401", *errors), tag="control", **options)


def _page_op(op_id: str, summary: str) -> Operation:
    """A console route: a static file (HTML, JavaScript, CSS), not JSON; errors are JSON."""
    operation = _control_op(op_id, summary, "Document", errors=("404",))
    operation["responses"]["200"] = {"description": summary, "content": {"text/html": {}}}
    return operation


_B, _C = "/broadcast/{broadcast_id}", "/call/{voice_id}"
_BC = _B + _C

API_OPERATIONS: dict[tuple[str, str], Operation] = {
    ("POST", "/broadcast"): op(
        "createBroadcast", "create a broadcast", "BroadcastAccepted", body="BroadcastCreate"
    ),
    ("GET", _B): op("getBroadcast", "broadcast report", "BroadcastReport"),
    ("DELETE", _B): op("stopBroadcast", "stop a broadcast", "BroadcastAccepted"),
    ("POST", _B): _call_op(
        "commandBroadcastCall",
        "play, connect or record on a call (voice_id in the body)",
        "PlayAccepted",
        body="CommandRequest",
    ),
    ("PUT", _B + "/play"): _call_op(
        "playBodyVoiceId", "play on the call named in the body", "PlayAccepted", "CommandRequest"
    ),
}
for _base, _name in ((_BC, "InBroadcast"), (_C, "")):
    API_OPERATIONS.update(
        {
            ("PUT", _base + "/play"): _call_op(
                f"play{_name}", "play a prompt", "PlayAccepted", "PlayRequest"
            ),
            ("POST", _base + "/play"): _call_op(
                f"playPost{_name}", "play a prompt (POST spelling)", "PlayAccepted", "PlayRequest"
            ),
            ("PUT", _base + "/connect"): _call_op(
                f"connect{_name}",
                "bridge the call to another number",
                "BridgeAccepted",
                "ConnectRequest",
            ),
            ("DELETE", _base): op(f"hangup{_name}", "hang up", "CallAnswer", tag="call"),
            ("GET", _base): op(f"callInfo{_name}", "the call's state", "CallInfo", tag="call"),
        }
    )
    for _method in ("PUT", "POST"):
        API_OPERATIONS[(_method, _base + "/hold")] = _call_op(
            f"hold{_method.title()}{_name}", "hold (acknowledged, journalled)", "ActionAccepted"
        )
    API_OPERATIONS[("PUT", _base + "/recording")] = _call_op(
        f"recording{_name}",
        "start or stop recording (acknowledged, journalled)",
        "ActionAccepted",
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
        ("POST", "/calls/{voice_id}"): _call_op(
            "playCalls", "play a prompt", "PlayAccepted", "PlayRequest"
        ),
    }
)

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
    ("GET", "/_emulator/clock"): _control_op("clock", "the virtual clock", "Clock"),
    ("POST", "/_emulator/clock/advance"): _control_op(
        "advance",
        "move virtual time forward, firing everything due",
        "Clock",
        body="Advance",
        errors=("400",),
    ),
    ("POST", "/_emulator/clock/run-until-idle"): _control_op(
        "runUntilIdle",
        "fire every timer until none is left",
        "Clock",
        body="RunUntilIdle",
        errors=("400", "409"),
    ),
    ("POST", "/_emulator/reset"): _control_op(
        "reset", "forget every broadcast, call, journal entry and delivery", "Reset"
    ),
    ("GET", "/_emulator/requests"): _control_op(
        "requests",
        "the request journal",
        "Requests",
        errors=("400",),
        query=(
            ("method", "string", "only this HTTP method"),
            ("path", "string", "only paths containing this"),
            ("status", "integer", "only this answer status"),
            ("dialect", "string", "only creates in this client family"),
            *_PAGE,
        ),
    ),
    ("GET", "/_emulator/webhooks"): _control_op(
        "webhooks",
        "the webhook delivery log",
        "Webhooks",
        errors=("400",),
        query=(
            ("broadcast_id", "string", "only this broadcast's deliveries"),
            ("voice_id", "string", "only this call's deliveries"),
            ("state", "string", "delivery state: delivered, pending or dead"),
            ("event", "string", "event name (the payload's state or playstate)"),
            ("url", "string", "only URLs containing this"),
            *_PAGE,
        ),
    ),
    ("GET", "/_emulator/broadcasts"): _control_op(
        "broadcasts",
        "every broadcast with its progress",
        "Broadcasts",
        query=(("state", "string", "only this state"),),
    ),
    ("GET", "/_emulator/openapi.json"): _control_op("openapi", "this document", "Document"),
    ("GET", "/_emulator/faults"): _control_op(
        "faults", "active faults and their firings", "Faults"
    ),
    ("POST", "/_emulator/faults"): _control_op(
        "addFaults",
        "add API or webhook faults (docs/reliability.md)",
        "Faults",
        body="FaultsRequest",
        errors=("400",),
    ),
    ("DELETE", "/_emulator/faults"): _control_op("clearFaults", "remove every fault", "Faults"),
    ("DELETE", "/_emulator/faults/{fault_id}"): _control_op(
        "removeFault", "remove one fault", "Faults", errors=("404",)
    ),
    ("POST", "/_emulator/snapshot"): _control_op(
        "snapshot", "write the state file now (atomically)", "Snapshot", errors=("409", "503")
    ),
    ("GET", "/_emulator/projects"): _control_op("projects", "every project", "Projects"),
    ("POST", "/_emulator/projects"): op(
        "createProject",
        "create a project: its own world, clock and credentials",
        "Project",
        status="201",
        body="ProjectCreate",
        errors=("400", "401", "409"),
        tag="control",
    ),
    ("GET", "/_emulator/projects/{app_id}"): _control_op(
        "project", "one project: credentials, settings, clock", "Project", errors=("404",)
    ),
    ("DELETE", "/_emulator/projects/{app_id}"): _control_op(
        "deleteProject",
        "forget a project entirely (409 for the default project)",
        "ProjectDeleted",
        errors=("404", "409"),
    ),
    ("PUT", "/_emulator/scenario"): _also_yaml(
        _control_op(
            "loadScenario",
            "load the world of a scenario (rules, prompts, timings, faults)",
            "ScenarioLoaded",
            body="Scenario",
            errors=("400", "413"),
        )
    ),
    **{
        ("GET", path): _page_op(op_id, summary)
        for path, op_id, summary in (
            (
                "/_emulator/ui",
                "console",
                "the console page (HTML; open it as ?token=T with a token)",
            ),
            ("/_emulator/ui/", "consoleSlash", "the console page, as /_emulator/ui"),
            ("/_emulator/ui/{file}", "consoleFile", "one of the console page's static files"),
        )
    },
}


def _stream_op() -> Operation:
    """The event stream: Server-Sent Events, each `data:` one `StreamMessage`."""
    operation = _control_op(
        "stream",
        "Server-Sent Events of everything that happens in the project",
        "StreamMessage",
        errors=("400", "503"),
        query=(
            ("types", "string", "comma-separated: request,call,webhook,broadcast,clock,waiting"),
            ("broadcast_id", "string", "only what concerns this broadcast (and the clock)"),
            ("voice_id", "string", "only what concerns this call (and the clock)"),
            ("last_event_id", "string", "resume after this seq (or the Last-Event-ID header)"),
        ),
    )
    answer = operation["responses"]["200"]
    answer["content"] = {"text/event-stream": answer["content"]["application/json"]}
    return operation


def _trigger(op_id: str, summary: str, body: str | None = None) -> Operation:
    """A person's move on a call: answers the call's new state; 404 unknown, 409 not now."""
    return _control_op(op_id, summary, "Call", body=body, errors=("400", "404", "409"))


_CALLS = "/_emulator/calls/{voice_id}"
_NEXT = "/_emulator/numbers/{number}/next"
CONTROL_OPERATIONS.update(
    {
        ("GET", "/_emulator/stream"): _stream_op(),
        ("GET", "/_emulator/broadcasts/{broadcast_id}/timeline"): _control_op(
            "timeline",
            "per number, per attempt: states, events and their deliveries, requests",
            "Timeline",
            errors=("400", "404"),
            query=(
                ("offset", "integer", "skip this many numbers (default 0)"),
                ("limit", "integer", "at most this many numbers (default 100, at most 1,000)"),
                ("number", "string", "only this number"),
                ("state", "string", "only numbers in this state now"),
                ("result", "string", "only numbers with this result reason"),
            ),
        ),
        ("GET", "/_emulator/calls"): _control_op(
            "calls",
            "calls of the project: waiting for a person first, live, or the newest",
            "Calls",
            errors=("400",),
            query=(
                ("waiting", "boolean", "calls waiting for a person first, then the live ones"),
                ("live", "boolean", "only calls not disconnected yet"),
                ("broadcast_id", "string", "only this broadcast's calls"),
                ("limit", "integer", "at most this many (default 100, at most 1,000)"),
            ),
        ),
        ("GET", _CALLS): _control_op(
            "call",
            "one call: states, every payload and delivery, requests, triggers allowed now",
            "Call",
            errors=("404",),
        ),
        ("POST", _CALLS + "/press"): _trigger(
            "press", "the callee presses these digits now", "Press"
        ),
        ("POST", _CALLS + "/hangup"): _trigger("calleeHangup", "the callee hangs up now"),
        ("POST", _CALLS + "/answer"): _trigger("answer", "a person answers the ringing call now"),
        ("POST", _CALLS + "/reject"): _trigger(
            "reject", "the ringing attempt ends as busy, no answer, machine or invalid", "Reject"
        ),
        ("PUT", _NEXT): _control_op(
            "setNextAttempt",
            "the next attempt of this number (any broadcast) behaves so, once",
            "NextAnswer",
            body="NextAttempt",
            errors=("400",),
        ),
        ("GET", _NEXT): _control_op(
            "nextAttempt", "what the next attempt of this number will do", "NextAnswer",
            errors=("400",),
        ),
        ("DELETE", _NEXT): _control_op(
            "forgetNextAttempt", "forget what was set for the next attempt", "NextAnswer",
            errors=("400",),
        ),
    }
)  # fmt: skip
