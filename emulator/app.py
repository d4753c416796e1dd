"""The aiohttp application: routes, middleware, lifecycle, and a runner that answers only JSON."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import web, web_protocol

from emulator import state
from emulator.api.handlers import EMULATOR, Handlers
from emulator.api.middleware import api_middleware
from emulator.api.responses import error_body, json_response
from emulator.api.routes import api_routes
from emulator.config import Settings
from emulator.control.routes import control_routes
from emulator.domain.behaviour import Behaviour
from emulator.errors import BadRequest, InternalError
from emulator.observe.serve_log import observe_app
from emulator.projects import Projects
from emulator.world import World

if TYPE_CHECKING:
    from emulator.scenario.model import Scenario

__all__ = ["EMULATOR", "PROJECTS", "EmulatorRunner", "create_app"]

log = logging.getLogger("emulator")
PROJECTS = web.AppKey("projects", Projects)  # every world of the server, by APP_ID
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
    app.add_routes(api_routes(Handlers()))
    save = None
    if settings.state_file:
        save = partial(state.save_projects, projects, settings.state_file)
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
    grace period), then save the state file."""
    projects = app[PROJECTS]
    path = projects.base.state_file
    if path:
        await state.restore_projects(projects, path)
    await projects.start()
    yield
    await projects.close(projects.base.shutdown_grace_s)
    if path:
        try:
            await state.save_projects(projects, path)
        except OSError as exc:
            log.error("could not write the state file %s: %s", path, exc)


class _JsonErrorHandler(web_protocol.RequestHandler):
    """Answers errors raised by the HTTP parser itself (bad framing, bad headers) as JSON."""

    __slots__ = ("clock_iso",)

    def __init__(self, manager: web.Server, clock_iso: Callable[[], str], **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.clock_iso = clock_iso  # the emulator's virtual `now_iso`, for the error's timestamp

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        log.debug("HTTP protocol error (%s): %s", status, exc)
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send the error")
        text = f"malformed HTTP request: {exc or message or status}"
        error = BadRequest(text) if status < 500 else InternalError("internal emulator error")
        resp = json_response(error_body(error, self.clock_iso()), error.status)
        resp.force_close()
        return resp


class _JsonServer(web.Server):
    """The runner's server, turned into one whose connections are `_JsonErrorHandler`s."""

    clock_iso: Callable[[], str]

    @staticmethod
    def adopt(server: web.Server, clock_iso: Callable[[], str]) -> _JsonServer:
        server.__class__ = _JsonServer
        assert isinstance(server, _JsonServer)
        server.clock_iso = clock_iso
        return server

    def __call__(self) -> web_protocol.RequestHandler:
        return _JsonErrorHandler(self, self.clock_iso, loop=self._loop, **self._kwargs)


class EmulatorRunner(web.AppRunner):
    """An AppRunner with a long keep-alive and JSON answers to HTTP parser errors."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        kwargs.setdefault("keepalive_timeout", KEEPALIVE_S)
        kwargs.setdefault("access_log", None)
        kwargs.setdefault("lingering_time", LINGER_S)
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        return _JsonServer.adopt(server, self.app[EMULATOR].clock.now_iso)
