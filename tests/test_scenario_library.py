"""Every file in scenarios/ validates (ours and the JSON Schema) and passes its own replay."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from emulator.replay.runner import ReplayOptions, replay
from emulator.scenario import json_schema, load_scenario
from emulator.scenario.loader import read_tree

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = sorted((ROOT / "scenarios").glob("*.yaml"))
REDUCED = {"special-client-100k.yaml": {"count": 200}}


def test_the_library_has_every_scenario_the_docs_promise() -> None:
    names = {p.stem for p in LIBRARY}
    assert {
        "quickstart",
        "busy-then-answer",
        "amd-heavy",
        "dtmf-survey",
        "bridge-agent",
        "webhook-down",
        "stopped-campaign",
        "special-client-100k",
    } <= names


@pytest.mark.parametrize("path", LIBRARY, ids=[p.name for p in LIBRARY])
def test_scenario_matches_the_json_schema(path: Path) -> None:
    validator = jsonschema.Draft202012Validator(json_schema())
    errors = [e.message for e in validator.iter_errors(read_tree(path.read_text(), str(path)))]
    assert errors == []


@pytest.mark.parametrize("path", LIBRARY, ids=[p.name for p in LIBRARY])
async def test_scenario_replays_and_every_expectation_holds(path: Path) -> None:
    scenario = load_scenario(path, REDUCED.get(path.name, {}))
    assert not scenario.expect.empty, "a shipped scenario must expect something"
    result = await replay(scenario, ReplayOptions(timeout_s=60))
    failed = [c for c in result.checks if not c.passed]
    assert failed == [], result.summary
    assert result.facts.finished
    assert len(result.checks) > 2


def test_the_100k_scenario_is_full_size_unless_reduced() -> None:
    path = ROOT / "scenarios" / "special-client-100k.yaml"
    full = load_scenario(path)
    assert full.world.groups["customers"].count == 100_000
    assert load_scenario(path, scale=0.01).world.groups["customers"].count == 1000
    assert load_scenario(path, {"count": 50}).expect.completion["successful"].minimum == 50
