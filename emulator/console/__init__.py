"""The console: a static web page at `/_emulator/ui` that watches and steers a running emulator."""

from __future__ import annotations

from emulator.console.routes import console_routes

__all__ = ["console_routes"]
