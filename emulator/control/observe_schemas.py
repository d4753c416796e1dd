"""JSON Schemas (OpenAPI 3.1 components) of the routes that watch and steer a project: the event
stream's messages, a broadcast's timeline, calls, and the triggers (CONTRACT §9)."""

from __future__ import annotations

from typing import Any

__all__ = ["OBSERVE_SCHEMAS"]

Schema = dict[str, Any]
_S: Schema = {"type": "string"}
_INT: Schema = {"type": "integer"}
_NUM: Schema = {"type": "number"}
_BOOL: Schema = {"type": "boolean"}
_OPT_S: Schema = {"type": ["string", "null"]}
_TIME: Schema = {"type": "string", "format": "date-time", "description": "virtual time, UTC"}
_OPT_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}
_TRIGGER: Schema = {"enum": ["answer", "reject", "press", "hangup"]}
_WAITING: Schema = {"enum": ["answer", "press", None], "description": "what a person must do"}
_DIGITS: Schema = {"type": "string", "pattern": "^[0-9*#]{1,32}$"}
_OUTCOME: Schema = {
    "enum": ["human", "busy", "no_answer", "machine", "invalid", "interactive"],
}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": props, **extra}
    if required:
        schema["required"] = list(required)
    return schema


def _list(name: str) -> Schema:
    return {"type": "array", "items": _ref(name)}


_STATES = ("queued", "initiated", "ringing", "connected", "retrying", "disconnected", "waiting")

OBSERVE_SCHEMAS: dict[str, Schema] = {
    "Segment": _obj(
        {
            "state": {
                "enum": [
                    "initiated", "ringing", "connected", "playing", "menu", "bridging", "bridged",
                ]
            },
            "start": _OPT_TIME,
            "end": {**_OPT_TIME, "description": "null while it lasts"},
            "play_id": _S,
            "bridge_id": _S,
            "digits": _OPT_S,
            "prompt_included": {
                "type": "boolean",
                "description": "a menu whose prompt's end is not known: the segment covers both",
            },
        },
        ("state", "start", "end"),
    ),
    "SentEvent": _obj(
        {
            "event": _S,
            "virtual_time": _TIME,
            "delivery_id": _INT,
            "delivery_state": {"enum": ["delivered", "pending", "dead"]},
            "url": _S,
            "attempts": {"type": "array", "items": _ref("Attempt")},
            "payload": {"type": "object", "description": "as sent (call detail only)"},
        },
        ("event", "virtual_time", "delivery_id", "delivery_state", "attempts"),
    ),
    "ActingRequest": _obj(
        {"id": _INT, "method": _S, "path": _S, "status": _INT, "virtual_time": _TIME},
        ("id", "method", "path", "status"),
    ),
    "CallAttempt": _obj(
        {
            "attempt": _INT,
            "voice_id": _S,
            "state": _S,
            "started_at": _TIME,
            "ended_at": _OPT_TIME,
            "reason": _OPT_S,
            "answered": _BOOL,
            "segments": _list("Segment"),
            "events": _list("SentEvent"),
            "requests": _list("ActingRequest"),
            "waiting_for": _WAITING,
            "events_trimmed": {"type": "boolean", "description": "events left the delivery log"},
            "requests_trimmed": {"type": "boolean", "description": "requests left the journal"},
        },
        ("attempt", "voice_id", "segments", "events", "requests", "waiting_for"),
    ),
    "TimelineNumber": _obj(
        {
            "number": _S,
            "index": _INT,
            "state": {"enum": list(_STATES[:-1])},
            "result": {**_OPT_S, "description": "result reason: success, Busy, NoAnswer, ..."},
            "result_code": _OPT_S,
            "attempts": _list("CallAttempt"),
        },
        ("number", "index", "state", "result", "attempts"),
    ),
    "Timeline": _obj(
        {
            "broadcast_id": _S,
            "name": _S,
            "state": _S,
            "created_at": _TIME,
            "ended_at": _OPT_TIME,
            "total_numbers": _INT,
            "matched": {"type": "integer", "description": "numbers the filters keep"},
            "offset": _INT,
            "limit": _INT,
            "next_offset": {"type": ["integer", "null"]},
            "summary": _obj(
                {
                    "by_state": _obj({k: _INT for k in _STATES}),
                    "by_result": {"type": "object", "additionalProperties": _INT},
                    "progress": _ref("Progress"),
                },
                ("by_state", "by_result"),
            ),
            "numbers": _list("TimelineNumber"),
            "requests": _list("ActingRequest"),
            "requests_total": _INT,
            "requests_trimmed": _BOOL,
        },
        ("broadcast_id", "state", "total_numbers", "offset", "limit", "summary", "numbers"),
    ),
    "CallRow": _obj(
        {
            "voice_id": _S,
            "broadcast_id": _S,
            "number": _S,
            "attempt": _INT,
            "state": _S,
            "waiting_for": _WAITING,
            "since": _TIME,
        },
        ("voice_id", "broadcast_id", "number", "attempt", "state", "waiting_for", "since"),
    ),
    "Calls": _obj(
        {"calls": _list("CallRow"), "waiting": _INT, "live": _INT}, ("calls", "waiting", "live")
    ),
    "Call": {
        "allOf": [
            _ref("CallAttempt"),
            _obj(
                {
                    "broadcast_id": _S,
                    "number": _S,
                    "attempts_so_far": _INT,
                    "result": _OPT_S,
                    "since": _TIME,
                    "allowed": {"type": "array", "items": _TRIGGER},
                    "reasons": {
                        "type": "object",
                        "description": "why each trigger not allowed is not",
                        "additionalProperties": _S,
                    },
                },
                ("broadcast_id", "number", "state", "allowed", "reasons"),
            ),
        ]
    },
    "Press": _obj({"digits": _DIGITS}, ("digits",)),
    "Reject": _obj(
        {"as": {"enum": ["busy", "no_answer", "machine", "invalid"], "default": "busy"}}
    ),
    "NextAttempt": _obj(
        {
            "outcome": _OUTCOME,
            "digits": {
                "description": "digits pressed at the n-th menu (null: none); the last repeats",
                "oneOf": [
                    {"type": "array", "items": {"oneOf": [_DIGITS, {"type": "null"}]}},
                    _DIGITS,
                ],
            },
        },
        ("outcome",),
    ),
    "NextAnswer": _obj(
        {
            "number": _S,
            "next": {
                "oneOf": [
                    _obj({"outcome": _OUTCOME, "digits": {"type": ["array", "null"]}}),
                    {"type": "null"},
                ]
            },
            "forgotten": _BOOL,
        },
        ("number", "next"),
    ),
    "StreamMessage": _obj(
        {
            "type": {
                "enum": [
                    "hello", "request", "call", "webhook", "broadcast", "clock", "waiting",
                    "dropped",
                ]
            },
            "seq": _INT,
            "project": _S,
            "virtual_time": _TIME,
            "real_time": {"type": "string", "format": "date-time", "description": "wall time"},
            "broadcast_id": _S,
            "voice_id": _S,
            "number": _S,
            "attempt": _INT,
        },
        ("type", "seq", "project"),
        description="the data object of one Server-Sent Event (docs/inspection.md)",
    ),
}  # fmt: skip
