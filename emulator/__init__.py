"""broadcast-emulator: a local emulator of the EnableX Voice Message Broadcast API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator.app import EmulatorRunner, create_app
from emulator.config import Settings, load_settings
from emulator.sim.clock import ClockMode
from emulator.world import Emulator, World

if TYPE_CHECKING:
    from emulator.scenario.loader import load_scenario

__all__ = [
    "ClockMode",
    "Emulator",
    "EmulatorRunner",
    "Settings",
    "World",
    "create_app",
    "load_scenario",
    "load_settings",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """`load_scenario` is imported on first use: `serve` without a scenario never needs it."""
    if name == "load_scenario":
        from emulator.scenario.loader import load_scenario

        return load_scenario
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
