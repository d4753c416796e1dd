"""broadcast-emulator: a local emulator of the EnableX Voice Message Broadcast API."""

from __future__ import annotations

from emulator.app import EmulatorRunner, create_app
from emulator.config import Settings, load_settings
from emulator.runtime import Emulator
from emulator.scenario import load_scenario
from emulator.sim.clock import ClockMode

__all__ = [
    "ClockMode",
    "Emulator",
    "EmulatorRunner",
    "Settings",
    "create_app",
    "load_scenario",
    "load_settings",
]
__version__ = "0.1.0"
