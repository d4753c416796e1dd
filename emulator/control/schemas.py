"""JSON Schemas (OpenAPI 3.1 components) of the emulated API and the control plane, with the other
modules' (projects, observing, faults and webhooks) gathered into one `SCHEMAS`.

Requests are described as the documented form plus every spelling the normaliser accepts; answers
as the superset of keys the emulator sends. `additionalProperties` stays open where real clients
send more than we read.
"""

from __future__ import annotations

__all__ = ["SCHEMAS", "ref"]

from emulator.control.observe_schemas import OBSERVE_SCHEMAS
from emulator.control.project_schemas import PROJECT_SCHEMAS
from emulator.control.reliability_schemas import RELIABILITY_SCHEMAS, WEBHOOK_SCHEMAS
from emulator.control.schema_parts import (
    BOOL,
    CALL_IDS,
    IDS,
    INT,
    NULL_TIME,
    NUM,
    STR,
    TIME,
    Schema,
    obj,
    ref,
)

_PHONE: Schema = {
    "type": "string",
    "description": "4-20 digits after removing spaces, dashes, dots, parentheses and one '+'",
    "examples": ["919876543210"],
}
_NUMBERS: Schema = {
    "description": "an array of numbers, or one comma-separated string",
    "oneOf": [{"type": "array", "items": {"type": ["string", "integer"]}}, STR],
}
_API: dict[str, Schema] = {
    "Error": obj(
        {
            "state": {"const": "failed"},
            "status": {"const": "failed"},
            "result": {"type": "integer", "description": "the HTTP status"},
            "error_code": STR,
            "error_description": STR,
            "message": STR,
            "desc": STR,
            "timestamp": TIME,
            **IDS,
            "voice_id": STR,
        },
        ("state", "error_description", "timestamp"),
    ),
    "Prompt": obj(
        {
            "text": {"type": "string", "description": "text to speak (TTS)"},
            "voice": {"type": "string", "examples": ["female"]},
            "language": {"type": "string", "examples": ["en-US"]},
            "prompt_name": {"type": "string", "description": "a named (recorded) prompt"},
            "prompt_ref": {"type": "string", "description": "echoed in play events"},
            "dtmf": {"type": ["boolean", "string"], "description": "collect a digit (menu)"},
            "dmtf": {"type": ["boolean", "string"], "description": "misspelling some clients send"},
        },
        description="needs text or prompt_name",
    ),
    "CallParam": obj(
        {
            "interval_between_retries": {"type": "number", "description": "seconds"},
            "number_of_retries": INT,
            "IntervalBetweenRetries": {"type": "number", "description": "milliseconds"},
            "NumberOfRetries": INT,
            "intervalBetweenRetries": NUM,
            "numberOfRetries": INT,
        }
    ),
    "Recipient": obj({"number": _PHONE, "to": _PHONE, "phone": _PHONE}),
    "BroadcastCreate": obj(
        {
            "application_name": STR,
            "name": STR,
            "applicationName": STR,
            "owner_ref": STR,
            "from": _PHONE,
            "broadcast_numbers_array": _NUMBERS,
            "broadcast_numbers": _NUMBERS,
            "broadcast_numbers_json": {"type": "string", "description": "a JSON array"},
            "broadcastnumbersjson": {"type": "string", "description": "a JSON array"},
            "recipients": {"type": "array", "items": ref("Recipient")},
            "event_url": {"type": "string", "format": "uri"},
            "call_handler_url": {"type": "string", "format": "uri"},
            "callhandler_url": {"type": "string", "format": "uri"},
            "action_on_connect": obj({"play": ref("Prompt")}),
            "call_param": ref("CallParam"),
            "custom_data": {},
        },
        ("from",),
        description=(
            "One numbers key is required: broadcast_numbers_array (documented), "
            "broadcastnumbersjson (2020 clients), broadcast_numbers (2023 clients) or recipients."
        ),
    ),
    "BroadcastAccepted": obj(
        {
            **IDS,
            "application_name": STR,
            "state": STR,
            "status": STR,
            "total_numbers": INT,
            "timestamp": TIME,
            "timeStamp": TIME,
            "voice_id": {"type": "string", "description": "the first call's (the dialer SDK)"},
            "from": STR,
            "to": {"type": "string", "description": "the first call's number"},
        },
        ("app_instance", "state", "timestamp"),
    ),
    "Progress": obj(
        {
            k: INT
            for k in (
                "total",
                "finished",
                "in_progress",
                "pending",
                "successful",
                "failed",
                "attempts",
            )
        }
    ),
    "ReportRow": obj(
        {
            "dialed_number": STR,
            "state": STR,
            "attempts": INT,
            "voice_id": STR,
            "disconnect_reason": STR,
            "result": {"type": "object"},
            "next_attempt_at": TIME,
        }
    ),
    "BroadcastReport": obj(
        {
            **IDS,
            "application_name": STR,
            "owner_ref": {"type": ["string", "null"]},
            "state": STR,
            "progress": ref("Progress"),
            "resultset": obj({"successfull_calls": INT, "failed_calls": INT}),
            "resultSet": {"type": "array", "items": ref("ReportRow")},
            "result_set": {"type": "array", "items": ref("ReportRow")},
            "created_at": TIME,
            "ended_at": NULL_TIME,
            "timestamp": TIME,
        },
        ("app_instance", "state", "timestamp"),
    ),
    "PlayRequest": {
        "description": "a prompt, flat or nested under play",
        "anyOf": [obj({"play": ref("Prompt")}, ("play",)), ref("Prompt")],
    },
    "ConnectRequest": {
        "description": "a bridge, flat or nested under connect",
        "anyOf": [
            obj({"connect": obj({"from": _PHONE, "to": _PHONE})}, ("connect",)),
            obj({"from": _PHONE, "to": _PHONE}, ("from", "to")),
        ],
    },
    "CommandRequest": obj(
        {
            "voice_id": STR,
            "play": ref("Prompt"),
            "connect": obj({"from": _PHONE, "to": _PHONE}),
            "record": {},
        },
        description="one of play, connect or record, for the call voice_id (2020 clients)",
    ),
    "PlayAccepted": obj(
        {
            **CALL_IDS,
            "play_id": STR,
            "playstate": STR,
            "status": STR,
            "from": STR,
            "to": STR,
            "prompt_ref": STR,
            "timestamp": TIME,
            "timeStamp": TIME,
        },
        ("voice_id", "play_id", "timestamp"),
    ),
    "BridgeAccepted": obj(
        {
            **CALL_IDS,
            "bridge_id": STR,
            "state": STR,
            "status": STR,
            "description": STR,
            "from": STR,
            "to": STR,
            "timestamp": TIME,
            "timeStamp": TIME,
        },
        ("voice_id", "bridge_id", "timestamp"),
    ),
    "CallAnswer": obj(
        {**CALL_IDS, "state": STR, "status": STR, "timestamp": TIME},
        ("voice_id", "timestamp"),
    ),
    "CallInfo": obj(
        {
            **CALL_IDS,
            "state": STR,
            "status": STR,
            "dialed_number": STR,
            "attempt": INT,
            "answered": BOOL,
            "disconnect_reason": {"type": ["string", "null"]},
            "timestamp": TIME,
        },
        ("voice_id", "state"),
    ),
    "ActionAccepted": obj(
        {**CALL_IDS, "state": STR, "action": STR, "request": {}, "timestamp": TIME},
        ("voice_id", "action"),
        description="record and hold are acknowledged and journalled; nothing is simulated",
    ),
}

_CLOCK: dict[str, Schema] = {
    "mode": {"enum": ["auto", "manual", "realtime"]},
    "now": TIME,
    "now_ms": INT,
    "start": TIME,
    "pending": {"type": "integer", "description": "timers scheduled"},
    "speed": NUM,
    "in_flight": INT,
}
_CONNECTION_COUNTS = (
    "open", "max", "refused", "head_timeouts", "body_timeouts", "cut_short", "overruns",
)  # fmt: skip
_CONTROL: dict[str, Schema] = {
    "Health": obj(
        {
            "status": {"const": "ok"},
            "clock": STR,
            "now": TIME,
            "broadcasts": INT,
            "live_calls": INT,
            "webhooks": obj(
                {k: INT for k in ("delivered", "dead", "pending", "log_size", "log_dropped")}
            ),
            "journal": obj({"size": INT, "dropped": INT}),
            "faults": obj({"active": INT, "fired": INT, "fired_dropped": INT}),
            "state_file": obj(
                {
                    "path": {"type": ["string", "null"]},
                    "restored": {"type": "object", "additionalProperties": INT},
                    "snapshots": INT,
                }
            ),
            "in_flight": INT,
            "interactive": obj(
                {
                    "waiting": {"type": "integer", "description": "calls waiting for a person"},
                    "holding": {"type": "integer", "description": "of those, holding the clock"},
                }
            ),
            "stream_clients": {"type": "integer", "description": "event-stream clients now"},
            "projects": {"type": "integer", "description": "projects the server holds"},
            "projects_created": {
                "type": "integer",
                "description": "projects made since start (POST, first use, state file)",
            },
            "clock_held_by": {
                "type": "array",
                "description": "webhook receivers holding the clock: unreachable (outage) or "
                "slow to answer (over 1 s)",
                "items": obj(
                    {
                        "receiver": {"type": "string", "description": "scheme://host:port"},
                        "reason": {"enum": ["outage", "waiting for answer"]},
                        "since": {"type": "string", "format": "date-time", "description": "real"},
                        "for_s": NUM,
                    },
                    ("receiver", "reason", "since", "for_s"),
                ),
            },
            "timer_errors": {"type": "integer", "description": "timers that raised (logged)"},
            "connections": obj(
                {k: INT for k in _CONNECTION_COUNTS},
                description="client connections now, the cap, and what was refused or cut short",
            ),
        },
        ("status",),
    ),
    "Clock": obj(
        {**_CLOCK, "fired": {"type": "integer", "description": "run-until-idle: timers fired"}},
        ("mode", "now", "pending"),
    ),
    "Advance": obj(
        {"seconds": {"type": "number", "minimum": 0, "maximum": 366 * 86_400}}, ("seconds",)
    ),
    "RunUntilIdle": obj({"max_timers": {"type": "integer", "minimum": 1}}),
    "JournalEntry": obj(
        {
            "id": INT,
            "method": STR,
            "path": STR,
            "status": INT,
            "virtual_time": TIME,
            "dialect": {"type": ["string", "null"], "description": "client family of a create"},
            "body": {"description": "the JSON body received"},
        },
        ("id", "method", "path", "status"),
    ),
    "Requests": obj(
        {
            "requests": {"type": "array", "items": ref("JournalEntry")},
            "next": {"type": ["integer", "null"], "description": "since of the next page"},
            "dropped": {"type": "integer", "description": "entries pushed out of the bound"},
            "size": {"type": "integer", "description": "the journal's bound"},
        },
        ("requests", "dropped"),
    ),
    "Attempt": obj(
        {
            "status": {"type": ["integer", "null"]},
            "error": {"type": ["string", "null"]},
            "latency_ms": NUM,
            "at": TIME,
            "real_at": {"type": "number", "description": "wall time, seconds since the epoch"},
            "outage_s": {
                "type": "number",
                "description": "real seconds the attempt held the clock for an unreachable "
                "receiver (present only then)",
            },
            "probes": {"type": "integer", "description": "requests sent meanwhile"},
        },
        ("status", "error", "latency_ms", "at"),
    ),
    "Delivery": obj(
        {
            "id": INT,
            "url": STR,
            "event": {"type": "string", "description": "the payload's state or playstate"},
            "state": {"enum": ["delivered", "pending", "dead"]},
            "broadcast_id": {"type": ["string", "null"]},
            "voice_id": {"type": ["string", "null"]},
            "virtual_time": TIME,
            "attempts": {"type": "array", "items": ref("Attempt")},
            "attempt_count": INT,
            "last_status": {"type": ["integer", "null"]},
            "payload": {"type": "object"},
        },
        ("url", "event", "state", "attempts", "virtual_time"),
    ),
    "Webhooks": obj(
        {
            "deliveries": {"type": "array", "items": ref("Delivery")},
            "next": {"type": ["integer", "null"]},
            "dropped": INT,
            "size": INT,
        },
        ("deliveries", "dropped"),
    ),
    "BroadcastSummary": obj(
        {
            **IDS,
            "application_name": STR,
            "family": STR,
            "state": STR,
            "progress": ref("Progress"),
            "completion_sent": BOOL,
            "created_at": TIME,
            "ended_at": NULL_TIME,
        },
        ("broadcast_id", "state", "progress"),
    ),
    "Broadcasts": obj(
        {"broadcasts": {"type": "array", "items": ref("BroadcastSummary")}}, ("broadcasts",)
    ),
    "Reset": obj(
        {"status": {"const": "ok"}, **_CLOCK},
        ("status", "mode", "now"),
        description="the clock after the reset (back at its start instant); faults are kept",
    ),
    "Document": {"type": "object", "description": "this OpenAPI document"},
    "Scenario": {
        "type": "object",
        "description": "a scenario (docs/scenarios.md), as JSON or YAML; version 1",
        "required": ["version"],
    },
    "ScenarioLoaded": obj(
        {
            "status": {"const": "ok"},
            "scenario": {"type": ["string", "null"]},
            "rules": {"type": "integer"},
            "prompts": {"type": "integer"},
            "groups": {"type": "object", "additionalProperties": {"type": "integer"}},
            "faults": {"type": "integer"},
            "not_applied": {"type": "array", "items": {"type": "string"}},
        },
        ("status",),
    ),
}

SCHEMAS: dict[str, Schema] = {
    **_API, **_CONTROL, **RELIABILITY_SCHEMAS, **WEBHOOK_SCHEMAS,
    **PROJECT_SCHEMAS, **OBSERVE_SCHEMAS,
}  # fmt: skip
