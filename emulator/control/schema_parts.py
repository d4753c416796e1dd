"""The building blocks every JSON Schema module of the OpenAPI document shares."""

from __future__ import annotations

from typing import Any

__all__ = [
    "BOOL", "CALL_IDS", "IDS", "INT", "NULL_TIME", "NUM", "STR", "TIME", "Schema", "obj", "ref"
]  # fmt: skip

Schema = dict[str, Any]

STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
TIME: Schema = {"type": "string", "format": "date-time", "description": "virtual time, UTC"}
NULL_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}
# the ids an answer or an event names its broadcast (and call) by
IDS: dict[str, Schema] = {"app_instance": STR, "appInstance": STR, "broadcast_id": STR}
CALL_IDS: dict[str, Schema] = {"voice_id": STR, "app_instance": STR, "broadcast_id": STR}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(props: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    """An object schema with these properties, `required` listed only when there are any."""
    schema: Schema = {"type": "object", "properties": props, **extra}
    if required:
        schema["required"] = list(required)
    return schema
