"""JSON Schemas (OpenAPI 3.1 components) of the project registry's control routes."""

from __future__ import annotations

from emulator.control.schema_parts import INT, STR, Schema, ref

__all__ = ["PROJECT_SCHEMAS"]

_CLOCK: Schema = ref("Clock")
_SETTINGS: dict[str, Schema] = {
    "clock": {"enum": ["auto", "manual", "realtime"]},
    "seed": INT,
    "start": {"type": "string", "format": "date-time", "description": "virtual start instant"},
    "settle_ms": {"type": "number", "minimum": 0},
    "speed": {"type": "number", "exclusiveMinimum": 0},
    "dial_rate": {"type": "integer", "minimum": 0},
    "cli_numbers": {
        "description": "numbers assigned to the project: a list or one comma-separated string",
        "oneOf": [{"type": "array", "items": STR}, STR],
    },
    "webhook_encryption": {"type": "string", "examples": ["none", "aes256"]},
    "webhook_format": {"enum": ["base64", "hex"]},
    "webhook_attempts": {"type": "integer", "minimum": 1},
    "webhook_backoff_s": {"type": "number", "minimum": 0},
    "completion_state": {"type": ["string", "null"]},
}

PROJECT_SCHEMAS: dict[str, Schema] = {
    "ProjectCreate": {
        "type": "object",
        "description": "missing app_id / app_key are generated; other settings default to serve's",
        "properties": {
            "app_id": {"type": "string", "pattern": "^[A-Za-z0-9._~@+-]{1,128}$"},
            "app_key": {"type": "string", "minLength": 1, "maxLength": 256},
            **_SETTINGS,
            "scenario": {
                "description": "an inline scenario document (object, or YAML/JSON text)",
                "type": ["object", "string"],
            },
        },
        "additionalProperties": False,
    },
    "Project": {
        "type": "object",
        "properties": {
            "app_id": STR,
            "app_key": STR,
            "broadcasts": INT,
            "settings": {"type": "object", "properties": _SETTINGS},
            "clock": _CLOCK,
            "control": {"type": "string", "description": "where its control routes are"},
        },
        "required": ["app_id", "app_key", "clock"],
    },
    "ProjectSummary": {
        "type": "object",
        "properties": {
            "app_id": STR,
            "broadcasts": INT,
            "clock": {
                "type": "object",
                "properties": {"mode": STR, "now": STR, "pending": INT},
                "required": ["mode", "now", "pending"],
            },
        },
        "required": ["app_id", "broadcasts", "clock"],
    },
    "Projects": {
        "type": "object",
        "properties": {
            "projects": {"type": "array", "items": {"$ref": "#/components/schemas/ProjectSummary"}}
        },
        "required": ["projects"],
    },
    "ProjectDeleted": {
        "type": "object",
        "properties": {"status": {"const": "ok"}, "deleted": STR},
        "required": ["status", "deleted"],
    },
}
