"""Simulated time: the virtual clock, in-flight tokens and the driver that moves time."""

from __future__ import annotations

from emulator.sim.activity import Activity
from emulator.sim.clock import ClockMode, Timer, VirtualClock, format_iso, parse_iso
from emulator.sim.driver import ClockDriver

__all__ = [
    "Activity",
    "ClockDriver",
    "ClockMode",
    "Timer",
    "VirtualClock",
    "format_iso",
    "parse_iso",
]
