"""Test-double kit: the pytest plugin's building blocks, usable without pytest too."""

from __future__ import annotations

from emulator.testing.client import ApiError, EmulatorClient
from emulator.testing.server import EmulatorServer
from emulator.testing.sink import Received, SinkError, WebhookSink, event_name
from emulator.testing.threaded import ThreadedEmulator

__all__ = [
    "ApiError",
    "EmulatorClient",
    "EmulatorServer",
    "Received",
    "SinkError",
    "ThreadedEmulator",
    "WebhookSink",
    "event_name",
]
