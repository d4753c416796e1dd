"""JSON Schemas (OpenAPI 3.1 components) of the routes that watch and steer a project: the event
stream's messages, a broadcast's timeline, calls, and the triggers (CONTRACT §9)."""

from __future__ import annotations

from emulator.control.schema_parts import BOOL, INT, NULL_TIME, STR, TIME, Schema, obj, ref

__all__ = ["OBSERVE_SCHEMAS"]

_OPT_S: Schema = {"type": ["string", "null"]}
_TRIGGER: Schema = {"enum": ["answer", "reject", "press", "hangup"]}
_WAITING: Schema = {"enum": ["answer", "press", None], "description": "what a person must do"}
_DIGITS: Schema = {"type": "string", "pattern": "^[0-9*#]{1,32}$"}
_OUTCOME: Schema = {
    "enum": ["human", "busy", "no_answer", "machine", "invalid", "interactive"],
}


def _list(name: str) -> Schema:
    return {"type": "array", "items": ref(name)}


_STATES = ("queued", "initiated", "ringing", "connected", "retrying", "disconnected", "waiting")

# one call attempt, as the timeline shows it (and, with more, `GET /_emulator/calls/{voice_id}`)
_ATTEMPT: dict[str, Schema] = {
    "attempt": INT,
    "voice_id": STR,
    "state": STR,
    "started_at": TIME,
    "ended_at": NULL_TIME,
    "reason": _OPT_S,
    "answered": BOOL,
    "segments": _list("Segment"),
    "events": _list("SentEvent"),
    "requests": _list("ActingRequest"),
    "waiting_for": _WAITING,
    "events_trimmed": {"type": "boolean", "description": "events left the delivery log"},
    "requests_trimmed": {"type": "boolean", "description": "requests left the journal"},
}

OBSERVE_SCHEMAS: dict[str, Schema] = {
    "Segment": obj(
        {
            "state": {
                "enum": [
                    "initiated", "ringing", "connected", "playing", "menu", "bridging", "bridged",
                ]
            },
            "start": NULL_TIME,
            "end": {**NULL_TIME, "description": "null while it lasts"},
            "play_id": STR,
            "bridge_id": STR,
            "digits": _OPT_S,
            "prompt_included": {
                "type": "boolean",
                "description": "a menu whose prompt's end is not known: the segment covers both",
            },
        },
        ("state", "start", "end"),
    ),
    "SentEvent": obj(
        {
            "event": STR,
            "virtual_time": TIME,
            "delivery_id": INT,
            "delivery_state": {"enum": ["delivered", "pending", "dead"]},
            "url": STR,
            "attempts": {"type": "array", "items": ref("Attempt")},
            "payload": {"type": "object", "description": "as sent (call detail only)"},
        },
        ("event", "virtual_time", "delivery_id", "delivery_state", "attempts"),
    ),
    "ActingRequest": obj(
        {"id": INT, "method": STR, "path": STR, "status": INT, "virtual_time": TIME},
        ("id", "method", "path", "status"),
    ),
    "CallAttempt": obj(
        _ATTEMPT, ("attempt", "voice_id", "segments", "events", "requests", "waiting_for")
    ),
    "TimelineNumber": obj(
        {
            "number": STR,
            "index": INT,
            "state": {"enum": list(_STATES[:-1])},
            "result": {**_OPT_S, "description": "result reason: success, Busy, NoAnswer, ..."},
            "result_code": _OPT_S,
            "attempts": _list("CallAttempt"),
        },
        ("number", "index", "state", "result", "attempts"),
    ),
    "Timeline": obj(
        {
            "broadcast_id": STR,
            "name": STR,
            "state": STR,
            "created_at": TIME,
            "ended_at": NULL_TIME,
            "total_numbers": INT,
            "matched": {"type": "integer", "description": "numbers the filters keep"},
            "offset": INT,
            "limit": INT,
            "next_offset": {"type": ["integer", "null"]},
            "summary": obj(
                {
                    "by_state": obj({k: INT for k in _STATES}),
                    "by_result": {"type": "object", "additionalProperties": INT},
                    "progress": ref("Progress"),
                },
                ("by_state", "by_result"),
            ),
            "numbers": _list("TimelineNumber"),
            "requests": _list("ActingRequest"),
            "requests_total": INT,
            "requests_trimmed": BOOL,
        },
        ("broadcast_id", "state", "total_numbers", "offset", "limit", "summary", "numbers"),
    ),
    "CallRow": obj(
        {
            "voice_id": STR,
            "broadcast_id": STR,
            "number": STR,
            "attempt": INT,
            "state": STR,
            "waiting_for": _WAITING,
            "since": TIME,
        },
        ("voice_id", "broadcast_id", "number", "attempt", "state", "waiting_for", "since"),
    ),
    "Calls": obj(
        {"calls": _list("CallRow"), "waiting": INT, "live": INT}, ("calls", "waiting", "live")
    ),
    "Call": obj(
        {
            **_ATTEMPT,
            "broadcast_id": STR,
            "number": STR,
            "attempts_so_far": INT,
            "result": _OPT_S,
            "since": TIME,
            "allowed": {"type": "array", "items": _TRIGGER},
            "reasons": {
                "type": "object",
                "description": "why each trigger not allowed is not",
                "additionalProperties": STR,
            },
        },
        ("attempt", "voice_id", "broadcast_id", "number", "state", "allowed", "reasons"),
    ),
    "Press": obj({"digits": _DIGITS}, ("digits",)),
    "Reject": obj(
        {"as": {"enum": ["busy", "no_answer", "machine", "invalid"], "default": "busy"}}
    ),
    "NextAttempt": obj(
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
    "NextAnswer": obj(
        {
            "number": STR,
            "next": {
                "oneOf": [
                    obj({"outcome": _OUTCOME, "digits": {"type": ["array", "null"]}}),
                    {"type": "null"},
                ]
            },
            "forgotten": BOOL,
        },
        ("number", "next"),
    ),
    "StreamMessage": obj(
        {
            "type": {
                "enum": [
                    "hello", "request", "call", "webhook", "broadcast", "clock", "waiting",
                    "dropped",
                ]
            },
            "seq": INT,
            "project": STR,
            "virtual_time": TIME,
            "real_time": {"type": "string", "format": "date-time", "description": "wall time"},
            "broadcast_id": STR,
            "voice_id": STR,
            "number": STR,
            "attempt": INT,
            "count": {"type": "integer", "description": "dropped: messages this client missed"},
            "reason": {
                "enum": ["behind", "busy"],
                "description": "dropped: it fell behind the ring, or the stream is sampled",
            },
            "sample": {"type": "integer", "description": "dropped (busy): 1 call in this many"},
        },
        ("type", "seq", "project"),
        description="the data object of one Server-Sent Event (docs/inspection.md)",
    ),
}  # fmt: skip
