"""The aiohttp application: routes, middleware, lifecycle, and a runner that answers only JSON."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.api.handlers import EMULATOR, Handlers
from emulator.api.middleware import api_middleware
from emulator.api.routes import api_routes
from emulator.config import Settings
from emulator.control.routes import control_routes
from emulator.domain.behaviour import Behaviour
from emulator.listener import ConnectionStats, JsonServer, ServerLimits
from emulator.runtime import Emulator

if TYPE_CHECKING:
    from emulator.scenario.model import Scenario

__all__ = ["CONNECTIONS", "EMULATOR", "EmulatorRunner", "create_app"]

log = logging.getLogger("emulator")
KEEPALIVE_S = 75.0  # clients must always be the side that closes (CONTRACT §3)
LINGER_S = 1.0  # after answering a request whose body was not read (413, 401), read and drop
# the rest for at most this long: enough for a local client, and shutdown is not held up
CONNECTIONS = web.AppKey("connections", ConnectionStats)  # what the server refused or cut short


def create_app(
    settings: Settings | None = None,
    behaviour: Behaviour | None = None,
    scenario: Scenario | None = None,
) -> web.Application:
    """An application serving the emulated API and the control plane for `settings`
    (`scenario`: `settings.scenario` already loaded, so it is not read twice)."""
    emulator = Emulator(settings or Settings(), behaviour, scenario)
    app = web.Application(
        middlewares=[api_middleware(emulator)],
        client_max_size=emulator.settings.max_body_bytes,
    )
    app[EMULATOR] = emulator
    app[CONNECTIONS] = ConnectionStats()
    app.add_routes(api_routes(Handlers(emulator)))
    app.add_routes(control_routes(emulator))
    app.cleanup_ctx.append(_lifecycle)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    emulator = app[EMULATOR]
    await emulator.start()
    yield
    await emulator.close()


class EmulatorRunner(web.AppRunner):
    """An AppRunner with a long keep-alive, JSON answers to HTTP parser errors, bounded request
    read times and a connection cap (`emulator.protocol`)."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        kwargs.setdefault("keepalive_timeout", KEEPALIVE_S)
        kwargs.setdefault("access_log", None)
        kwargs.setdefault("lingering_time", LINGER_S)
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        emulator = self.app[EMULATOR]
        settings = emulator.settings
        limits = ServerLimits(
            settings.header_timeout_s, settings.body_timeout_s, settings.max_connections
        )
        return JsonServer.adopt(server, emulator.clock.now_iso, limits, self.app[CONNECTIONS])

    def requests_in_progress(self) -> int:
        """API and control requests being handled right now (what a graceful stop waits for)."""
        server = self.server
        return server.requests_in_progress() if isinstance(server, JsonServer) else 0
