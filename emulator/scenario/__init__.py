"""Scenarios: the file format (YAML/JSON) and its application to a world. A file describes a world
(callee rules, prompts, timings, faults) and, for `replay` (the test runner in `emulator.replay`),
a client script with expectations.

The names below are imported on first use (PEP 562), so that `serve` without a scenario does not
load YAML, the schema and the loader at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.scenario.loader import load_scenario, parse_scenario
    from emulator.scenario.model import Scenario
    from emulator.scenario.schema import ScenarioError, json_schema
    from emulator.scenario.world import ScenarioBehaviour, apply_world

__all__ = [
    "Scenario",
    "ScenarioBehaviour",
    "ScenarioError",
    "apply_world",
    "json_schema",
    "load_scenario",
    "parse_scenario",
]

_HOME = {
    "Scenario": "model",
    "ScenarioBehaviour": "world",
    "ScenarioError": "schema",
    "apply_world": "world",
    "json_schema": "schema",
    "load_scenario": "loader",
    "parse_scenario": "loader",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
