"""Scenarios: YAML/JSON files that describe a world (callee rules, prompts, faults) and, for
`replay` (`emulator.scenario.runner`), a client script with expectations."""

from __future__ import annotations

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
