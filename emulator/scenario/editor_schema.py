"""The JSON Schema of scenario files, built from the same names the loader uses (outcomes,
dialects, event names, payload fields, fault keys) and shipped as `scenario.schema.json` for
editors. `python -m emulator.scenario.editor_schema > emulator/scenario/scenario.schema.json`
rewrites the shipped file; a test checks the two are the same.

Repeated fragments are `$defs`. The loader's own checks go further (regular expressions, group
names, variables, number ranges, a forced `completion_state`).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from emulator.config import OPTIONS
from emulator.domain.behaviour import Timings
from emulator.fault_specs import API_KEYS, WEBHOOK_KEYS
from emulator.scenario.expectations import EXPECT_KEYS, RESULT_REASONS
from emulator.scenario.matches import DERIVED_KEYS
from emulator.scenario.model import BRIDGE_OUTCOMES
from emulator.scenario.names import COUNT_FIELDS, EventNames
from emulator.scenario.numbers import COUNTRIES
from emulator.scenario.rules import OUTCOMES
from emulator.scenario.schema import SCHEMA_VERSION
from emulator.scenario.script import DIALECTS

__all__ = ["build_json_schema", "schema_text"]

Schema = dict[str, Any]
_NAMES = EventNames()
_PHONE = r"^\s*\+?[0-9 ().\-]{4,40}\s*$"
_RANGE = r"^\s*\+?[0-9]{4,20}\s*\.\.\s*\+?[0-9]{4,20}\s*$"


def ref(name: str) -> Schema:
    return {"$ref": f"#/$defs/{name}"}


def obj(props: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "additionalProperties": False, "properties": props}
    if required:
        schema["required"] = list(required)
    return {**schema, **extra}


def _either(*options: Schema) -> Schema:
    return {"anyOf": list(options)}


def _scalar_defs() -> dict[str, Schema]:
    expr = {
        "type": "string",
        "pattern": r"\$\{[^}]*\}",
        "description": "${expression} over vars: numbers, names, + - * / // %, min, max, "
        "round, int",
    }
    return {
        "expr": expr,
        "int0": _either({"type": "integer", "minimum": 0}, ref("expr")),
        "int1": _either({"type": "integer", "minimum": 1}, ref("expr")),
        "num0": _either({"type": "number", "minimum": 0}, ref("expr")),
        "phone": _either({"type": "string", "pattern": _PHONE}, {"type": "integer"}, ref("expr")),
        "range": {
            "type": "string",
            "pattern": _RANGE,
            "description": "FIRST..LAST, inclusive, both ends the same length",
        },
        "phones": _either(
            {"type": "array", "items": _either(ref("phone"), ref("range"))}, {"type": "string"}
        ),
        "count": _either(ref("int0"), obj({"min": ref("int0"), "max": ref("int0")})),
        "seconds": _either(ref("num0"), obj({"min": ref("num0"), "max": ref("num0")})),
    }


def _number_defs() -> dict[str, Schema]:
    countries = [*COUNTRIES, *(c.lower() for c in COUNTRIES)]
    generate = obj(
        {"country": {"enum": countries}, "count": ref("int1"), "seed": ref("int0")}, ("count",)
    )
    sources = [
        ref("phones"),
        obj({"numbers": ref("phones")}, ("numbers",)),
        obj({"csv": {"type": "string"}, "column": {"type": "string"}}, ("csv",)),
        obj({"generate": generate}, ("generate",)),
    ]
    return {
        "group_source": {"anyOf": sources},
        "source": _either(ref("group_source"), obj({"group": {"type": "string"}}, ("group",))),
    }


def _mix(options: tuple[str, ...]) -> Schema:
    return {
        "type": "object",
        "propertyNames": {"enum": list(options)},
        "additionalProperties": ref("num0"),
        "minProperties": 1,
    }


def _rule_defs() -> dict[str, Schema]:
    outcome = ref("outcome")
    bridge_outcome = {"enum": [*BRIDGE_OUTCOMES[:1], "human", *BRIDGE_OUTCOMES[1:]]}
    digit = {"type": "string", "pattern": "^[0-9*#]{0,32}$"}
    digits = _either(
        {"type": "array", "items": _either({"type": "null"}, digit, {"type": "integer"})},
        digit,
        {"type": "integer", "minimum": 0},
        {"type": "null"},
    )
    bridge = obj(
        {
            "outcome": bridge_outcome,
            "mix": _mix(BRIDGE_OUTCOMES),
            "ring_s": ref("int0"),
            "talk_s": ref("int0"),
        }
    )
    keys = {
        "number": ref("phone"),
        "prefix": {"type": "string"},
        "regex": {"type": "string"},
        "group": {"type": "string"},
    }
    match = _either({"const": "any"}, obj({**keys, "any": {}}, minProperties=1, maxProperties=1))
    rule = obj(
        {
            "match": match,
            **keys,
            "attempts": {"type": "array", "minItems": 1, "items": _either(outcome, ref("mix"))},
            "outcome": outcome,
            "mix": ref("mix"),
            **{k: ref("int0") for k in ("ring_s", "press_after_s", "patience_s", "hangup_after_s")},
            "digits": digits,
            "bridge": _either(bridge_outcome, bridge),
            "comment": {"type": "string"},
        }
    )
    return {"outcome": {"enum": list(OUTCOMES)}, "mix": _mix(OUTCOMES), "rule": rule}


def _fault_defs() -> dict[str, Schema]:
    shared: dict[str, Schema] = {
        "status": _either({"type": "integer", "minimum": 100, "maximum": 599}, ref("expr")),
        "delay_s": ref("num0"),
        "times": ref("int0"),
        "after_s": ref("num0"),
        "for_s": ref("num0"),
        "probability": _either({"type": "number", "minimum": 0, "maximum": 1}, ref("expr")),
        "from_s": ref("num0"),
        "until_s": ref("num0"),
    }
    text = {"type": "string", "description": "compact form, e.g. POST /broadcast=503x2@10+60"}
    api = {
        **shared,
        "method": {"type": "string"},
        "route": {"type": "string"},
        "path_regex": {"type": "string"},
        "retry_after_s": ref("int0"),
        "kind": {"const": "api"},
    }
    webhook = {
        **shared,
        "url": {"type": "string"},
        "timeout": {"type": "boolean"},
        "refuse": {"type": "boolean"},
        "kind": {"const": "webhook"},
    }
    assert set(API_KEYS) <= set(api) and set(WEBHOOK_KEYS) <= set(webhook)
    needs_api = [{"required": [k]} for k in ("status", "delay_s")]
    needs_hook = [{"required": [k]} for k in ("status", "timeout", "refuse", "delay_s")]
    return {
        "api_fault": _either(text, obj(api, anyOf=needs_api)),
        "webhook_fault": _either(text, obj(webhook, anyOf=needs_hook)),
        "api_faults": _either(ref("api_fault"), {"type": "array", "items": ref("api_fault")}),
        "webhook_faults": _either(
            ref("webhook_fault"), {"type": "array", "items": ref("webhook_fault")}
        ),
    }


def _match_defs() -> dict[str, Schema]:
    scalar = {"type": ["string", "number", "boolean", "null"]}
    operators = [ref("regex"), ref("exists")]

    def value(one: Schema) -> Schema:
        return _either(one, {"type": "array", "minItems": 1, "items": one}, *operators)

    counts = "|".join(("resultset", "resultSet", "broadcast_call_info"))
    fields = {
        "anyOf": [
            {"enum": [*DERIVED_KEYS, *_NAMES.fields]},
            {"pattern": f"^({counts})\\.({'|'.join(COUNT_FIELDS)})$"},
            {"pattern": r"^custom_data\..+$"},
        ]
    }
    props = {key: value(ref(f"{key}_name")) for key in ("event", "state", "playstate")}
    props["number"] = value(_either(ref("phone"), ref("range")))
    props["every"] = ref("int1")
    match = {
        "type": "object",
        "properties": props,
        "propertyNames": ref("field"),
        "additionalProperties": value(scalar),
    }
    return {
        "regex": obj({"regex": {"type": "string"}}, ("regex",)),
        "exists": obj({"exists": {"type": "boolean"}}, ("exists",)),
        "event_name": {"enum": list(_NAMES.events)},
        "state_name": {"enum": list(_NAMES.states)},
        "playstate_name": {"enum": list(_NAMES.playstates)},
        "field": fields,
        "match": _either(ref("event_name"), match),
    }


def _client_defs() -> dict[str, Schema]:
    play = {
        "type": "object",
        "anyOf": [{"required": [k]} for k in ("text", "prompt_name", "prompt_ref")],
    }
    connect = {
        "type": "object",
        "required": ["to"],
        "properties": {"to": ref("phone"), "from": ref("phone")},
    }
    action = _either(
        {"enum": ["hangup", "stop"]},
        obj({"play": play}, ("play",)),
        obj({"connect": connect}, ("connect",)),
        obj({"wait": ref("num0")}, ("wait",)),
        obj({"hangup": {}}, ("hangup",)),
        obj({"stop": {}}, ("stop",)),
    )
    broadcast = obj(
        {
            "name": {"type": "string"},
            "numbers": ref("source"),
            "dialect": {"enum": list(DIALECTS)},
            "from": ref("phone"),
            "play": {"type": "object"},
            "retries": obj({"interval_s": ref("num0"), "count": ref("int0")}),
            "event_path": {"type": "string"},
            "call_path": {"type": "string"},
            "body": {"type": "object"},
            "at_s": ref("num0"),
            "stop_at_s": ref("num0"),
        },
        ("numbers",),
    )
    do = _either(ref("action"), {"type": "array", "items": ref("action")})
    reaction = obj({"on": ref("match"), "do": do}, ("on", "do"))
    return {"action": action, "broadcast": broadcast, "reaction": reaction}


def _keyed(names: Schema, values: Schema) -> Schema:
    return {"type": "object", "propertyNames": names, "additionalProperties": values}


def _expect() -> Schema:
    result = {"enum": list(RESULT_REASONS)}
    per_number = _either(
        result,
        obj(
            {
                "result": result,
                "attempts": ref("count"),
                "ended_at_s": _either(ref("seconds"), {"type": "null"}),
            },
            minProperties=1,
        ),
    )
    numbered = {"anyOf": [{"pattern": _PHONE}, {"pattern": _RANGE}]}
    totals = obj({k: ref("count") for k in ("successful", "failed", "total")})
    broadcast = obj(
        {
            "state": {"enum": ["completed", "stopped"]},
            **{k: ref("count") for k in ("successful", "failed", "total")},
        }
    )
    entry = obj(
        {
            "match": ref("match"),
            "count": ref("count"),
            "at_s": ref("num0"),
            "min_s": ref("num0"),
            "max_s": ref("num0"),
            "distinct": ref("field"),
        },
        ("match", "count"),
    )
    props = {
        "completed": ref("count"),
        "completion": totals,
        "broadcasts": {"type": "object", "additionalProperties": broadcast},
        "results": _keyed(result, ref("count")),
        "numbers": _keyed(numbered, per_number),
        "events": _keyed(ref("event_name"), ref("count")),
        "event_matches": {"type": "array", "items": entry},
        "sequences": {
            "type": "object",
            "propertyNames": numbered,
            "additionalProperties": {"type": "array", "items": {"enum": list(_NAMES.per_call)}},
        },
        "no_lost_webhooks": {"type": "boolean"},
        "deterministic": {"type": "boolean"},
        **{k: ref("num0") for k in ("max_virtual_s", "min_virtual_s", "virtual_s")},
    }
    assert set(props) == set(EXPECT_KEYS)
    return obj(props)


def _properties() -> dict[str, Schema]:
    timing_fields = tuple(f.name for f in dataclasses.fields(Timings))
    timings = {k: ref("int0") for k in timing_fields}
    timings["words_per_minute"] = _either({"type": "number", "minimum": 1}, ref("expr"))
    modes = {"enum": ["auto", "manual", "realtime"]}
    clock = obj(
        {"mode": modes, "start": {"type": "string"}, "speed": ref("num0"), "settle_ms": ref("num0")}
    )
    settings = {
        "type": "object",
        "propertyNames": {
            "enum": sorted(o.name for o in OPTIONS if o.name not in ("scenario", "host", "port"))
        },
        "description": "Any serve option by its name (`broadcast-emulator serve --help`).",
    }
    return {
        "version": {"const": SCHEMA_VERSION},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "vars": {
            "type": "object",
            "additionalProperties": {"type": ["number", "string", "boolean"]},
        },
        "seed": ref("int0"),
        "credentials": obj({"app_id": {"type": "string"}, "app_key": {"type": "string"}}),
        "cli_numbers": ref("phones"),
        "clock": _either(modes, clock),
        "timings": obj(timings),
        "prompts": {"type": "object", "additionalProperties": ref("int1")},
        "strict_prompts": {"type": "boolean"},
        "groups": {"type": "object", "additionalProperties": ref("group_source")},
        "rules": {"type": "array", "items": ref("rule")},
        "faults": obj(
            {
                "api": ref("api_faults"),
                "webhook": ref("webhook_faults"),
                "webhooks": ref("webhook_faults"),
            }
        ),
        "settings": settings,
        "client": obj(
            {
                "broadcasts": {"type": "array", "items": ref("broadcast")},
                "reactions": {"type": "array", "items": ref("reaction")},
            }
        ),
        "expect": _expect(),
    }


def build_json_schema() -> Schema:
    """The JSON Schema (draft 2020-12) of scenario files, version `SCHEMA_VERSION`."""
    defs: dict[str, Schema] = {}
    for part in (_scalar_defs, _number_defs, _rule_defs, _fault_defs, _match_defs, _client_defs):
        defs.update(part())
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://broadcast-emulator.local/scenario.schema.json",
        "title": f"broadcast-emulator scenario, version {SCHEMA_VERSION}",
        "description": "A world (callee rules, prompts, timings, faults, settings) and an "
        "optional client script with expectations for `broadcast-emulator replay`. See "
        "docs/scenarios.md.",
        "type": "object",
        "required": ["version"],
        "additionalProperties": False,
        "$defs": defs,
        "properties": _properties(),
    }


def schema_text() -> str:
    """The shipped file's text: the schema, indented, with a final newline."""
    return json.dumps(build_json_schema(), indent=2) + "\n"


if __name__ == "__main__":
    print(schema_text(), end="")
