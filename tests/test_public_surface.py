"""The public face is a visible decision: `emulator.__all__` is pinned; modules declare theirs."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import emulator

PACKAGE = Path(emulator.__file__).resolve().parent


def test_top_level_names_are_pinned() -> None:
    assert sorted(emulator.__all__) == [
        "ClockMode",
        "Emulator",
        "EmulatorRunner",
        "Settings",
        "World",
        "create_app",
        "load_scenario",
        "load_settings",
    ]
    for name in emulator.__all__:
        assert getattr(emulator, name) is not None


def test_lazy_names_resolve_to_their_homes() -> None:
    from emulator.scenario.loader import load_scenario

    assert emulator.load_scenario is load_scenario
    scenario = importlib.import_module("emulator.scenario")
    for name in scenario.__all__:
        assert getattr(scenario, name) is not None


def test_every_module_declares_all() -> None:
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__main__.py":
            continue
        tree = ast.parse(path.read_text())
        names = {
            target.id
            for node in tree.body
            if isinstance(node, (ast.Assign, ast.AnnAssign))
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name)
        }
        if "__all__" not in names and path.name != "__init__.py":
            missing.append(str(path.relative_to(PACKAGE)))
    assert not missing, f"modules without __all__: {missing}"


def test_serving_does_not_import_the_scenario_layer_or_cryptography() -> None:
    """`serve` without a scenario or a state file starts without yaml, the scenario layer,
    cryptography, the state layer, the OpenAPI document's schemas or the stream and timeline
    views (start-up)."""
    import subprocess
    import sys

    lazy = (
        "yaml",
        "emulator.scenario",
        "cryptography",
        "emulator.state",
        "emulator.state_schema",
        "emulator.control.openapi",
        "emulator.control.schemas",
        "emulator.observe.stream",
        "emulator.observe.timeline",
    )
    code = (
        "import sys, emulator.cli, emulator.app; "
        f"print(sorted(m for m in {lazy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
