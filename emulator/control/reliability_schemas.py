"""JSON Schemas (OpenAPI 3.1 components) of fault injection, the state snapshot and the webhooks
the emulator sends."""

from __future__ import annotations

from emulator.control.schema_parts import (
    BOOL,
    CALL_IDS,
    IDS,
    INT,
    NUM,
    STR,
    TIME,
    Schema,
    obj,
    ref,
)

__all__ = ["RELIABILITY_SCHEMAS", "WEBHOOK_SCHEMAS"]

_FAULT_SPEC: Schema = {
    "description": "compact string (docs/reliability.md) or a fault object",
    "oneOf": [STR, {"anyOf": [ref("ApiFaultSpec"), ref("WebhookFaultSpec")]}],
}
_FAULT_REQUEST: dict[str, Schema] = {
    "status": {"type": ["integer", "null"], "minimum": 100, "maximum": 599},
    "delay_s": {"type": "number", "minimum": 0, "maximum": 600},
    "times": {"type": ["integer", "null"], "minimum": 0},
    "after_s": {"type": "number", "minimum": 0, "description": "window start, virtual s"},
    "for_s": {"type": "number", "minimum": 0, "description": "window length, virtual s"},
    "probability": {"type": "number", "minimum": 0, "maximum": 1},
}
_FAULT_ANSWER: dict[str, Schema] = {
    "id": INT,
    "status": {"type": ["integer", "null"]},
    "delay_s": NUM,
    "probability": NUM,
    "times": {"type": ["integer", "null"], "description": "firings allowed; null = no limit"},
    "start_ms": {"type": ["integer", "null"], "description": "window start, virtual ms"},
    "end_ms": {"type": ["integer", "null"], "description": "window end, virtual ms"},
    "fired": {"type": "integer", "description": "firings so far"},
}
RELIABILITY_SCHEMAS: dict[str, Schema] = {
    "ApiFaultSpec": obj(
        {
            **_FAULT_REQUEST,
            "kind": {"const": "api"},
            "method": {"type": ["string", "null"]},
            "route": {"type": "string", "description": "path end; {name} = one segment"},
            "path": STR,
            "path_regex": STR,
            "retry_after_s": {"type": ["integer", "null"]},
        }
    ),
    "WebhookFaultSpec": obj(
        {
            **_FAULT_REQUEST,
            "kind": {"const": "webhook"},
            "url": {"type": ["string", "null"], "description": "regex searched in the URL"},
            "timeout": BOOL,
            "refuse": BOOL,
        }
    ),
    "ApiFault": obj(
        {
            **_FAULT_ANSWER,
            "kind": {"const": "api"},
            "method": {"type": ["string", "null"]},
            "path": {"type": ["string", "null"], "description": "regex searched in the path"},
            "retry_after_s": {"type": ["integer", "null"]},
        }
    ),
    "WebhookFault": obj(
        {
            **_FAULT_ANSWER,
            "kind": {"const": "webhook"},
            "url": {"type": ["string", "null"], "description": "regex searched in the URL"},
            "timeout": BOOL,
            "refuse": BOOL,
        }
    ),
    "FaultsRequest": obj(
        {
            "api": {"oneOf": [_FAULT_SPEC, {"type": "array", "items": _FAULT_SPEC}]},
            "webhook": {"oneOf": [_FAULT_SPEC, {"type": "array", "items": _FAULT_SPEC}]},
            "kind": {"enum": ["api", "webhook"]},
            "faults": {"type": "array", "items": {"type": "object"}},
        },
        description="{api, webhook}, or one fault with kind, or {faults: [...]}",
    ),
    "Faults": obj(
        {
            "api": {"type": "array", "items": ref("ApiFault")},
            "webhook": {"type": "array", "items": ref("WebhookFault")},
            "fired": {"type": "array", "items": {"type": "object"}},
            "fired_total": INT,
            "fired_dropped": INT,
            "added": {"type": "array", "items": INT},
        },
        ("api", "webhook", "fired"),
    ),
    "Snapshot": obj(
        {
            "status": {"const": "ok"},
            "path": STR,
            "bytes": INT,
            "projects": INT,
            "broadcasts": INT,
            "legs": INT,
            "deliveries": INT,
        },
        ("status", "path"),
    ),
}

WEBHOOK_SCHEMAS: dict[str, Schema] = {
    "CallEvent": obj(
        {
            **CALL_IDS,
            "state": {
                "type": "string",
                "examples": ["initiated", "ringing", "connected", "disconnected", "bridged"],
            },
            "playstate": {"type": "string", "description": "play events carry no state key"},
            "play_id": STR,
            "prompt_ref": STR,
            "from": STR,
            "to": STR,
            "attempt": INT,
            "timestamp": TIME,
        },
        ("voice_id", "timestamp"),
    ),
    "BroadcastEvent": obj(
        {
            **IDS,
            "application_name": STR,
            "state": {
                "type": "string",
                "examples": ["initiated", "completed", "broadcastcomplete"],
            },
            "resultset": obj(
                {k: INT for k in ("successfull_calls", "failed_calls", "total_calls")}
            ),
            "resultSet": {"type": "object", "description": "the same counts as resultset"},
            "timestamp": TIME,
        },
        ("broadcast_id", "state", "timestamp"),
    ),
    "EncryptedEvent": obj(
        {"encrypted_data": {"type": "string", "description": "createDecipher(alg, APP_ID)"}},
        ("encrypted_data",),
    ),
}
