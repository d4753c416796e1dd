"""The aiohttp application: routes, middleware, lifecycle, and a runner that answers only JSON."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.api.handlers import EMULATOR, Handlers
from emulator.api.hot import hot_routes
from emulator.api.middleware import api_middleware
from emulator.api.routes import api_routes
from emulator.config import Settings
from emulator.control.routes import control_routes
from emulator.domain.behaviour import Behaviour
from emulator.listener import CONNECTIONS, ConnectionStats, JsonServer, ServerLimits
from emulator.observe.serve_log import observe_app
from emulator.projects import Projects
from emulator.world import World

if TYPE_CHECKING:
    from emulator.scenario.model import Scenario
    from emulator.state import StateFile

__all__ = ["CONNECTIONS", "EMULATOR", "PROJECTS", "STATE_FILE", "EmulatorRunner", "create_app"]

log = logging.getLogger("emulator")
PROJECTS = web.AppKey("projects", Projects)  # every world of the server, by APP_ID
# only with --state-file, the one use of the state layer: it is imported then, not at start-up
STATE_FILE: web.AppKey[StateFile] = web.AppKey("state_file")
KEEPALIVE_S = 75.0  # clients must always be the side that closes (CONTRACT §3)
LINGER_S = 1.0  # after answering a request whose body was not read (413, 401), read and drop
# the rest for at most this long: enough for a local client, and shutdown is not held up


def create_app(
    settings: Settings | None = None,
    behaviour: Behaviour | None = None,
    scenario: Scenario | None = None,
) -> web.Application:
    """An application serving the emulated API and the control plane for `settings`: one world
    per project. `scenario` is `settings.scenario` already loaded (so it is not read twice); its
    world is loaded into every project made from serve's settings. `behaviour` replaces the
    default project's callee behaviour (the replay runner's scenario world)."""
    settings = settings or Settings()
    if scenario is None and settings.scenario and behaviour is None:
        from emulator.scenario.loader import load_scenario  # the scenario layer sits above

        scenario = load_scenario(settings.scenario)
    projects = Projects(settings, _scenario_world(scenario) if scenario is not None else None)
    if behaviour is not None:
        projects.default.use_behaviour(behaviour)
    app = web.Application(
        middlewares=[api_middleware(projects)],
        client_max_size=settings.max_body_bytes,
    )
    app[PROJECTS] = projects
    app[EMULATOR] = projects.default
    app[CONNECTIONS] = ConnectionStats()
    app.add_routes(api_routes(Handlers()))
    save = None
    if settings.state_file:
        from emulator.state import StateFile

        app[STATE_FILE] = StateFile(projects, settings.state_file)
        save = app[STATE_FILE].save
    app.add_routes(control_routes(projects, save))
    observe_app(app, projects)  # streams closed at shutdown; the serve log
    app.cleanup_ctx.append(_lifecycle)
    return app


def _scenario_world(scenario: Scenario) -> Callable[[World], None]:
    """Loads serve's scenario world into a new world; its groups are resolved once per seed."""
    from emulator.scenario.world import apply_world, resolve_groups

    resolved: dict[int, dict[str, frozenset[str]]] = {}

    def prepare(world: World) -> None:
        seed = world.settings.seed
        if seed not in resolved:
            resolved[seed] = resolve_groups(scenario.world.groups, seed)
        apply_world(world, scenario, resolved[seed])

    return prepare


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Restore the state file, start every world; at the end stop them (deliveries get the
    grace period), then save the state file. `StateError` if the file cannot be used
    at start (nothing is served) or cannot be saved at the end (the run's state is lost)."""
    projects = app[PROJECTS]
    state_file = app.get(STATE_FILE)
    if state_file is not None:
        await state_file.restore()
    await projects.start()
    yield
    await projects.close(projects.base.shutdown_grace_s)
    if state_file is not None:
        await state_file.save_at_exit()


class EmulatorRunner(web.AppRunner):
    """An AppRunner with a long keep-alive, JSON answers to HTTP parser errors, bounded request
    read times and a connection cap (`emulator.protocol`), and report GETs routed directly
    (`emulator.api.hot`)."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        kwargs.setdefault("keepalive_timeout", KEEPALIVE_S)
        kwargs.setdefault("access_log", None)
        kwargs.setdefault("lingering_time", LINGER_S)
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.request_handler = hot_routes(self.app, server.request_handler)
        projects = self.app[PROJECTS]
        settings = projects.base  # the server's settings; errors before routing are stamped
        limits = ServerLimits(  # with the default project's clock
            settings.header_timeout_s, settings.body_timeout_s, settings.max_connections
        )
        clock = projects.default.clock
        return JsonServer.adopt(server, clock.now_iso, limits, self.app[CONNECTIONS])

    def requests_in_progress(self) -> int:
        """API and control requests being handled right now (what a graceful stop waits for)."""
        server = self.server
        return server.requests_in_progress() if isinstance(server, JsonServer) else 0
