"""The JSON Schema shipped for editors: built from the loader's own names, covering every key,
small (repeated fragments are `$defs`), and accepting every shipped scenario and docs example."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from emulator.fault_specs import API_KEYS, WEBHOOK_KEYS
from emulator.scenario import json_schema, parse_scenario
from emulator.scenario.editor_schema import build_json_schema, schema_text
from emulator.scenario.expectations import EXPECT_KEYS
from emulator.scenario.loader import TOP_KEYS, read_tree

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "emulator" / "scenario" / "scenario.schema.json"
LIBRARY = sorted((ROOT / "scenarios").glob("*.yaml"))
DOCS = [ROOT / "docs" / "scenarios.md", ROOT / "docs" / "reliability.md"]
EXAMPLES = [
    (f"{doc.name}[{i}]", block)
    for doc in DOCS
    for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.DOTALL))
]
VALIDATOR = jsonschema.Draft202012Validator(json_schema())


def _errors(tree: Any) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in VALIDATOR.iter_errors(tree)]


def test_the_shipped_file_is_what_the_builder_makes() -> None:
    regenerate = "python -m emulator.scenario.editor_schema > " + str(SHIPPED.relative_to(ROOT))
    assert SHIPPED.read_text() == schema_text(), f"regenerate: {regenerate}"
    jsonschema.Draft202012Validator.check_schema(build_json_schema())


def test_no_fragment_is_repeated_inline() -> None:
    """The integer-or-expression fragment once appeared 56 times; now every repeated piece is
    a `$defs` entry referenced by name."""
    seen: Counter[str] = Counter()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            text = json.dumps(node, sort_keys=True)
            if len(text) > 60:
                seen[text] += 1
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json_schema())
    assert max(seen.values()) <= 3
    assert SHIPPED.stat().st_size < 40_000  # 61 KB before $defs, with fewer keys


@pytest.mark.parametrize("path", LIBRARY, ids=[p.name for p in LIBRARY])
def test_every_shipped_scenario_matches_the_schema(path: Path) -> None:
    assert _errors(read_tree(path.read_text(), str(path))) == []


@pytest.mark.parametrize(("name", "block"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_every_docs_example_matches_the_schema(name: str, block: str) -> None:
    assert _errors(read_tree(block, name)) == []


def test_the_schema_knows_every_key_the_loader_takes() -> None:
    schema = json_schema()
    props, defs = schema["properties"], schema["$defs"]
    assert set(props) == set(TOP_KEYS)
    assert set(props["expect"]["properties"]) == set(EXPECT_KEYS)
    entry = props["expect"]["properties"]["event_matches"]["items"]["properties"]
    assert set(entry) == {"match", "count", "at_s", "min_s", "max_s", "distinct"}
    number = props["expect"]["properties"]["numbers"]["additionalProperties"]["anyOf"][1]
    assert set(number["properties"]) == {"result", "attempts", "ended_at_s"}
    api, webhook = (defs[k]["anyOf"][1]["properties"] for k in ("api_fault", "webhook_fault"))
    assert set(API_KEYS) | {"from_s", "until_s"} == set(api)
    assert set(WEBHOOK_KEYS) | {"from_s", "until_s"} == set(webhook)
    assert {"regex", "exists", "range", "match", "field"} <= set(defs)


NEW_KEYS = """
version: 1
cli_numbers: ["+15557770101..+15557770103"]
client:
  broadcasts:
    - numbers: ["+15557770101..+15557770110", "+15557770201"]
  reactions:
    - on: {state: [connected, bridged], reason: {exists: false}, "resultSet.total_calls": 3}
      do: hangup
expect:
  numbers:
    "+15557770101..+15557770105": {result: success, attempts: 1, ended_at_s: {min: 3, max: 9}}
    "+15557770201": {ended_at_s: null}
  sequences:
    "+15557770106..+15557770107": [initiated, ringing, connected, disconnected]
  event_matches:
    - match: {state: connected, to: {regex: "^\\\\+1555"}, custom_data.crm: {exists: false}}
      count: 10
      at_s: 3
      distinct: voice_id
    - {match: disconnected, count: {min: 1}, min_s: 3, max_s: 20, distinct: number}
  min_virtual_s: 5
  virtual_s: 13
  max_virtual_s: 20
  deterministic: true
"""


def test_every_new_key_is_accepted_and_misspellings_are_not() -> None:
    tree = read_tree(NEW_KEYS, "new.yaml")
    assert _errors(tree) == []
    parse_scenario(tree, "new.yaml")  # the loader takes it too
    expect = tree["expect"]
    for wrong in (
        {"events": {"conected": 1}},
        {"event_matches": [{"match": {"state": "conected"}, "count": 1}]},
        {"event_matches": [{"match": {"promt_ref": "x"}, "count": 1}]},
        {"event_matches": [{"match": {"to": {"regexp": "x"}}, "count": 1}]},
        {"event_matches": [{"match": "connected", "count": 1, "at": 3}]},
        {"sequences": {"+15557770106": ["initiated", "conected"]}},
        {"numbers": {"+15557770101": {"ended_at": 3}}},
        {"deterministic": "yes"},
    ):
        assert _errors({**tree, "expect": {**expect, **wrong}}), wrong
