"""The serve log: what happens in every project, one readable line each (logger
`emulator.activity`, INFO), and what observation needs from the application's lifecycle.

Lines: every API request and trigger (method, path, status, virtual time, the project when it is
not the default one), every change of a broadcast but its progress, every failed delivery attempt
(URL, event, status or error, attempt n of m), every interactive call that starts waiting for a
person. Successful deliveries get a line each only while they are few: past `shown` in one second
of real time, one summary line counts them ("1,234 webhooks delivered in the last second (5
projects)"). The log listens only when that logger is enabled for INFO, so a quieter `serve`
builds nothing for it.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.observe.bus import Bus
from emulator.observe.lines import clock_time, describe
from emulator.observe.ring import Message

if TYPE_CHECKING:
    from emulator.projects import Projects
    from emulator.world import World

__all__ = ["ACTIVITY_LOGGER", "ServeLog", "observe_app"]

ACTIVITY_LOGGER = "emulator.activity"
_LOGGED = frozenset({"request", "webhook", "broadcast", "waiting"})  # not calls, not the clock


class ServeLog:
    """Taps every world's bus and writes the serve log."""

    def __init__(self, logger: logging.Logger | None = None, shown: int = 10) -> None:
        self.log = logger or logging.getLogger(ACTIVITY_LOGGER)
        self.shown = shown  # successful deliveries logged one by one per second
        self._delivered = 0
        self._projects: set[str] = set()
        self._handle: asyncio.TimerHandle | None = None

    def watch(self, world: World) -> None:
        bus = world.bus
        bus.tap(partial(self.on_message, bus), _LOGGED)

    def on_message(self, bus: Bus, message: Message) -> None:
        kind = message.type
        if kind == "webhook" and message.note == "delivered":
            self._success(bus, message)
            return
        d = message.data
        if kind == "broadcast" and d.get("change") == "progress":
            return
        if kind == "waiting" and d.get("waiting_for") is None:
            return
        self._line(bus, d)

    def _line(self, bus: Bus, data: dict[str, Any]) -> None:
        where = "" if bus.default else f" [project {bus.project}]"
        self.log.info("%s at %s%s", describe(data), clock_time(data.get("virtual_time")), where)

    def _success(self, bus: Bus, message: Message) -> None:
        """Counted (its data is never built), and shown while they are few."""
        self._delivered += 1
        self._projects.add(bus.project)
        if self._delivered <= self.shown:
            self._line(bus, message.data)
        if self._handle is None:
            try:
                self._handle = asyncio.get_running_loop().call_later(1.0, self.flush)
            except RuntimeError:
                self.flush()

    def flush(self) -> None:
        """End the current second: one summary line if deliveries were too many to show."""
        self._handle = None
        count, projects = self._delivered, len(self._projects)
        self._delivered = 0
        self._projects.clear()
        if count > self.shown:
            plural = "s" if projects != 1 else ""
            self.log.info(
                "%s webhooks delivered in the last second (%d project%s)",
                f"{count:,}",
                projects,
                plural,
            )

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self.flush()


def observe_app(app: web.Application, projects: Projects) -> None:
    """Close every event stream when the server shuts down (before it waits for open requests),
    and write the serve log when `emulator.activity` is enabled for INFO."""

    async def close_streams(app: web.Application) -> None:
        for world in projects:
            world.bus.close()

    app.on_shutdown.append(close_streams)
    if not logging.getLogger(ACTIVITY_LOGGER).isEnabledFor(logging.INFO):
        return
    serve_log = ServeLog()
    projects.watch(serve_log.watch)

    async def stop_log(app: web.Application) -> None:
        serve_log.close()

    app.on_cleanup.append(stop_log)
