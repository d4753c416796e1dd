"""JSON Schemas (OpenAPI 3.1 components) of the emulated API, the control plane and the webhooks.

Requests are described as the documented form plus every spelling the normaliser accepts; answers
as the superset of keys the emulator sends. `additionalProperties` stays open where real clients
send more than we read.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SCHEMAS", "ref"]

from emulator.control.observe_schemas import OBSERVE_SCHEMAS
from emulator.control.project_schemas import PROJECT_SCHEMAS

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": props, **extra}
    if required:
        schema["required"] = list(required)
    return schema


_S: Schema = {"type": "string"}
_INT: Schema = {"type": "integer"}
_NUM: Schema = {"type": "number"}
_BOOL: Schema = {"type": "boolean"}
_TIME: Schema = {"type": "string", "format": "date-time", "description": "virtual time, UTC"}
_NULL_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}
_PHONE: Schema = {
    "type": "string",
    "description": "4-20 digits after removing spaces, dashes, dots, parentheses and one '+'",
    "examples": ["919876543210"],
}
_NUMBERS: Schema = {
    "description": "an array of numbers, or one comma-separated string",
    "oneOf": [{"type": "array", "items": {"type": ["string", "integer"]}}, _S],
}
_IDS = {"app_instance": _S, "appInstance": _S, "broadcast_id": _S}
_CALL_IDS = {"voice_id": _S, "app_instance": _S, "broadcast_id": _S}

_API: dict[str, Schema] = {
    "Error": _obj(
        {
            "state": {"const": "failed"},
            "status": {"const": "failed"},
            "result": {"type": "integer", "description": "the HTTP status"},
            "error_code": _S,
            "error_description": _S,
            "message": _S,
            "desc": _S,
            "timestamp": _TIME,
            **_IDS,
            "voice_id": _S,
        },
        ("state", "error_description", "timestamp"),
    ),
    "Prompt": _obj(
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
    "CallParam": _obj(
        {
            "interval_between_retries": {"type": "number", "description": "seconds"},
            "number_of_retries": _INT,
            "IntervalBetweenRetries": {"type": "number", "description": "milliseconds"},
            "NumberOfRetries": _INT,
            "intervalBetweenRetries": _NUM,
            "numberOfRetries": _INT,
        }
    ),
    "Recipient": _obj({"number": _PHONE, "to": _PHONE, "phone": _PHONE}),
    "BroadcastCreate": _obj(
        {
            "application_name": _S,
            "name": _S,
            "applicationName": _S,
            "owner_ref": _S,
            "from": _PHONE,
            "broadcast_numbers_array": _NUMBERS,
            "broadcast_numbers": _NUMBERS,
            "broadcast_numbers_json": {"type": "string", "description": "a JSON array"},
            "broadcastnumbersjson": {"type": "string", "description": "a JSON array"},
            "recipients": {"type": "array", "items": ref("Recipient")},
            "event_url": {"type": "string", "format": "uri"},
            "call_handler_url": {"type": "string", "format": "uri"},
            "callhandler_url": {"type": "string", "format": "uri"},
            "action_on_connect": _obj({"play": ref("Prompt")}),
            "call_param": ref("CallParam"),
            "custom_data": {},
        },
        ("from",),
        description=(
            "One numbers key is required: broadcast_numbers_array (documented), "
            "broadcastnumbersjson (2020 clients), broadcast_numbers (2023 clients) or recipients."
        ),
    ),
    "BroadcastAccepted": _obj(
        {
            **_IDS,
            "application_name": _S,
            "state": _S,
            "status": _S,
            "total_numbers": _INT,
            "timestamp": _TIME,
            "timeStamp": _TIME,
        },
        ("app_instance", "state", "timestamp"),
    ),
    "Progress": _obj(
        {
            k: _INT
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
    "ReportRow": _obj(
        {
            "dialed_number": _S,
            "state": _S,
            "attempts": _INT,
            "voice_id": _S,
            "disconnect_reason": _S,
            "result": {"type": "object"},
            "next_attempt_at": _TIME,
        }
    ),
    "BroadcastReport": _obj(
        {
            **_IDS,
            "application_name": _S,
            "owner_ref": {"type": ["string", "null"]},
            "state": _S,
            "progress": ref("Progress"),
            "resultset": _obj({"successfull_calls": _INT, "failed_calls": _INT}),
            "resultSet": {"type": "array", "items": ref("ReportRow")},
            "result_set": {"type": "array", "items": ref("ReportRow")},
            "created_at": _TIME,
            "ended_at": _NULL_TIME,
            "timestamp": _TIME,
        },
        ("app_instance", "state", "timestamp"),
    ),
    "PlayRequest": {
        "description": "a prompt, flat or nested under play",
        "anyOf": [_obj({"play": ref("Prompt")}, ("play",)), ref("Prompt")],
    },
    "ConnectRequest": {
        "description": "a bridge, flat or nested under connect",
        "anyOf": [
            _obj({"connect": _obj({"from": _PHONE, "to": _PHONE})}, ("connect",)),
            _obj({"from": _PHONE, "to": _PHONE}, ("from", "to")),
        ],
    },
    "CommandRequest": _obj(
        {
            "voice_id": _S,
            "play": ref("Prompt"),
            "connect": _obj({"from": _PHONE, "to": _PHONE}),
            "record": {},
        },
        description="one of play, connect or record, for the call voice_id (2020 clients)",
    ),
    "PlayAccepted": _obj(
        {
            **_CALL_IDS,
            "play_id": _S,
            "playstate": _S,
            "status": _S,
            "from": _S,
            "to": _S,
            "prompt_ref": _S,
            "timestamp": _TIME,
            "timeStamp": _TIME,
        },
        ("voice_id", "play_id", "timestamp"),
    ),
    "BridgeAccepted": _obj(
        {
            **_CALL_IDS,
            "bridge_id": _S,
            "state": _S,
            "status": _S,
            "description": _S,
            "from": _S,
            "to": _S,
            "timestamp": _TIME,
            "timeStamp": _TIME,
        },
        ("voice_id", "bridge_id", "timestamp"),
    ),
    "CallAnswer": _obj(
        {**_CALL_IDS, "state": _S, "status": _S, "timestamp": _TIME},
        ("voice_id", "timestamp"),
    ),
    "CallInfo": _obj(
        {
            **_CALL_IDS,
            "state": _S,
            "status": _S,
            "dialed_number": _S,
            "attempt": _INT,
            "answered": _BOOL,
            "disconnect_reason": {"type": ["string", "null"]},
            "timestamp": _TIME,
        },
        ("voice_id", "state"),
    ),
    "ActionAccepted": _obj(
        {**_CALL_IDS, "state": _S, "action": _S, "request": {}, "timestamp": _TIME},
        ("voice_id", "action"),
        description="record and hold are acknowledged and journalled; nothing is simulated",
    ),
}

_CONTROL: dict[str, Schema] = {
    "Health": _obj(
        {
            "status": {"const": "ok"},
            "clock": _S,
            "now": _TIME,
            "broadcasts": _INT,
            "live_calls": _INT,
            "webhooks": _obj(
                {k: _INT for k in ("delivered", "dead", "pending", "log_size", "log_dropped")}
            ),
            "journal": _obj({"size": _INT, "dropped": _INT}),
            "faults": _obj({"active": _INT, "fired": _INT, "fired_dropped": _INT}),
            "state_file": _obj(
                {
                    "path": {"type": ["string", "null"]},
                    "restored": {"type": "object", "additionalProperties": _INT},
                    "snapshots": _INT,
                }
            ),
            "in_flight": _INT,
            "interactive": _obj(
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
        },
        ("status",),
    ),
    "Clock": _obj(
        {
            "mode": {"enum": ["auto", "manual", "realtime"]},
            "now": _TIME,
            "now_ms": _INT,
            "start": _TIME,
            "pending": {"type": "integer", "description": "timers scheduled"},
            "speed": _NUM,
            "in_flight": _INT,
            "fired": {"type": "integer", "description": "run-until-idle: timers fired"},
        },
        ("mode", "now", "pending"),
    ),
    "Advance": _obj(
        {"seconds": {"type": "number", "minimum": 0, "maximum": 366 * 86_400}}, ("seconds",)
    ),
    "RunUntilIdle": _obj({"max_timers": {"type": "integer", "minimum": 1}}),
    "JournalEntry": _obj(
        {
            "id": _INT,
            "method": _S,
            "path": _S,
            "status": _INT,
            "virtual_time": _TIME,
            "dialect": {"type": ["string", "null"], "description": "client family of a create"},
            "body": {"description": "the JSON body received"},
        },
        ("id", "method", "path", "status"),
    ),
    "Requests": _obj(
        {
            "requests": {"type": "array", "items": ref("JournalEntry")},
            "next": {"type": ["integer", "null"], "description": "since of the next page"},
            "dropped": {"type": "integer", "description": "entries pushed out of the bound"},
            "size": {"type": "integer", "description": "the journal's bound"},
        },
        ("requests", "dropped"),
    ),
    "Attempt": _obj(
        {
            "status": {"type": ["integer", "null"]},
            "error": {"type": ["string", "null"]},
            "latency_ms": _NUM,
            "at": _TIME,
            "real_at": {"type": "number", "description": "wall time, seconds since the epoch"},
        },
        ("status", "error", "latency_ms", "at"),
    ),
    "Delivery": _obj(
        {
            "id": _INT,
            "url": _S,
            "event": {"type": "string", "description": "the payload's state or playstate"},
            "state": {"enum": ["delivered", "pending", "dead"]},
            "broadcast_id": {"type": ["string", "null"]},
            "voice_id": {"type": ["string", "null"]},
            "virtual_time": _TIME,
            "attempts": {"type": "array", "items": ref("Attempt")},
            "attempt_count": _INT,
            "last_status": {"type": ["integer", "null"]},
            "payload": {"type": "object"},
        },
        ("url", "event", "state", "attempts", "virtual_time"),
    ),
    "Webhooks": _obj(
        {
            "deliveries": {"type": "array", "items": ref("Delivery")},
            "next": {"type": ["integer", "null"]},
            "dropped": _INT,
            "size": _INT,
        },
        ("deliveries", "dropped"),
    ),
    "BroadcastSummary": _obj(
        {
            **_IDS,
            "application_name": _S,
            "family": _S,
            "state": _S,
            "progress": ref("Progress"),
            "completion_sent": _BOOL,
            "created_at": _TIME,
            "ended_at": _NULL_TIME,
        },
        ("broadcast_id", "state", "progress"),
    ),
    "Broadcasts": _obj(
        {"broadcasts": {"type": "array", "items": ref("BroadcastSummary")}}, ("broadcasts",)
    ),
    "Reset": _obj({"status": {"const": "ok"}}, ("status",)),
    "Document": {"type": "object", "description": "this OpenAPI document"},
    "Scenario": {
        "type": "object",
        "description": "a scenario (docs/scenarios.md), as JSON or YAML; version 1",
        "required": ["version"],
    },
    "ScenarioLoaded": _obj(
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

_FAULT_COMMON: dict[str, Schema] = {
    "id": _INT,
    "status": {"type": ["integer", "null"], "minimum": 100, "maximum": 599},
    "delay_s": {"type": "number", "minimum": 0, "maximum": 600},
    "times": {"type": ["integer", "null"], "minimum": 0},
    "after_s": {"type": "number", "minimum": 0, "description": "window start, virtual s"},
    "for_s": {"type": "number", "minimum": 0, "description": "window length, virtual s"},
    "probability": {"type": "number", "minimum": 0, "maximum": 1},
}
_FAULT_SPEC: Schema = {
    "description": "compact string (docs/reliability.md) or a fault object",
    "oneOf": [_S, {"type": "object"}],
}
_RELIABILITY: dict[str, Schema] = {
    "ApiFault": _obj(
        {
            **_FAULT_COMMON,
            "method": {"type": ["string", "null"]},
            "route": {"type": "string", "description": "path end; {name} = one segment"},
            "path_regex": _S,
            "retry_after_s": {"type": ["integer", "null"]},
        }
    ),
    "WebhookFault": _obj(
        {
            **_FAULT_COMMON,
            "url": {"type": ["string", "null"], "description": "regex searched in the URL"},
            "timeout": _BOOL,
            "refuse": _BOOL,
        }
    ),
    "FaultsRequest": _obj(
        {
            "api": {"oneOf": [_FAULT_SPEC, {"type": "array", "items": _FAULT_SPEC}]},
            "webhook": {"oneOf": [_FAULT_SPEC, {"type": "array", "items": _FAULT_SPEC}]},
            "kind": {"enum": ["api", "webhook"]},
            "faults": {"type": "array", "items": {"type": "object"}},
        },
        description="{api, webhook}, or one fault with kind, or {faults: [...]}",
    ),
    "Faults": _obj(
        {
            "api": {"type": "array", "items": ref("ApiFault")},
            "webhook": {"type": "array", "items": ref("WebhookFault")},
            "fired": {"type": "array", "items": {"type": "object"}},
            "fired_total": _INT,
            "fired_dropped": _INT,
            "added": {"type": "array", "items": _INT},
        },
        ("api", "webhook", "fired"),
    ),
    "Snapshot": _obj(
        {
            "status": {"const": "ok"},
            "path": _S,
            "bytes": _INT,
            "projects": _INT,
            "broadcasts": _INT,
            "legs": _INT,
            "deliveries": _INT,
        },
        ("status", "path"),
    ),
}

_WEBHOOKS: dict[str, Schema] = {
    "CallEvent": _obj(
        {
            **_CALL_IDS,
            "state": {
                "type": "string",
                "examples": ["initiated", "ringing", "connected", "disconnected", "bridged"],
            },
            "playstate": {"type": "string", "description": "play events carry no state key"},
            "play_id": _S,
            "prompt_ref": _S,
            "from": _S,
            "to": _S,
            "attempt": _INT,
            "timestamp": _TIME,
        },
        ("voice_id", "timestamp"),
    ),
    "BroadcastEvent": _obj(
        {
            **_IDS,
            "application_name": _S,
            "state": {
                "type": "string",
                "examples": ["initiated", "completed", "broadcastcomplete"],
            },
            "resultset": _obj({k: _INT for k in ("successfull_calls", "failed_calls")}),
            "resultSet": {"type": "object"},
            "timestamp": _TIME,
        },
        ("broadcast_id", "state", "timestamp"),
    ),
    "EncryptedEvent": _obj(
        {"encrypted_data": {"type": "string", "description": "createDecipher(alg, APP_ID)"}},
        ("encrypted_data",),
    ),
}

SCHEMAS: dict[str, Schema] = {
    **_API, **_CONTROL, **_RELIABILITY, **_WEBHOOKS, **PROJECT_SCHEMAS, **OBSERVE_SCHEMAS
}  # fmt: skip
