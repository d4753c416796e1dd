"""The control plane under `/_emulator`: read and steer the running emulator."""

from __future__ import annotations

from emulator.control.routes import control_routes

__all__ = ["control_routes"]
