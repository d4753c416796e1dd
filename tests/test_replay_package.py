"""`emulator.replay` is the test runner's own package: its names resolve lazily, and the CLI,
which registers `replay` and `validate` at start-up, does not load the runner to do so."""

from __future__ import annotations

import subprocess
import sys

import emulator.replay
from emulator.replay.runner import ReplayOptions, ReplayResult, replay


def test_the_public_names_resolve_to_the_runner() -> None:
    assert sorted(emulator.replay.__all__) == ["ReplayOptions", "ReplayResult", "replay"]
    assert emulator.replay.replay is replay
    assert emulator.replay.ReplayOptions is ReplayOptions
    assert emulator.replay.ReplayResult is ReplayResult


def test_the_cli_does_not_load_the_runner_until_replay_runs() -> None:
    code = (
        "import sys, emulator.cli; "
        "print(sorted(m for m in sys.modules if m.startswith(('emulator.replay.', 'yaml'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['emulator.replay.commands']"


def test_the_scenario_package_does_not_import_the_runner() -> None:
    code = (
        "import sys, emulator.scenario.loader, emulator.scenario.world; "
        "print(sorted(m for m in sys.modules if m.startswith('emulator.replay')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
