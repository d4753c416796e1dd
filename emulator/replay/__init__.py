"""Replay: the test runner of scenarios. It starts a real emulator through the public testing kit
(`emulator.testing.EmulatorServer`), plays the scenario's client script against its HTTP API,
records every webhook and checks the expectations; then writes the summary, the JSON report,
JUnit XML, the JSON-lines event log and the HTML page.

The names below are imported on first use (PEP 562): the CLI imports `emulator.replay.commands`
at start-up, which must not load aiohttp clients, YAML or the runner.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.replay.runner import ReplayOptions, ReplayResult, replay

__all__ = ["ReplayOptions", "ReplayResult", "replay"]

_HOME = {"ReplayOptions": "runner", "ReplayResult": "runner", "replay": "runner"}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
