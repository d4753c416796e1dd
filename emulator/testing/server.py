"""An emulator in the test's event loop on 127.0.0.1:0, with a ready client and clock helpers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from emulator.app import EMULATOR, PROJECTS, EmulatorRunner, create_app
from emulator.config import Settings
from emulator.domain.behaviour import Behaviour
from emulator.projects import Projects
from emulator.testing.client import ApiError, EmulatorClient, Json
from emulator.world import World

__all__ = ["ApiError", "EmulatorServer"]


class EmulatorServer(EmulatorClient):
    """A real emulator server for one test, and a client of its default project.

    `url` is the server root; `api_url` the API base (`url + "/voice/v1"`); `app_id` / `app_key`
    are the HTTP Basic credentials. `emulator` is the default project's running `World` for
    white-box checks, `projects` the registry of every project.
    """

    def __init__(self, settings: Settings, behaviour: Behaviour | None = None) -> None:
        self.settings = settings.replace(port=0)
        super().__init__("", settings.app_id, settings.app_key, settings.control_token)
        self.behaviour = behaviour  # callee behaviour instead of the magic numbers (replay)
        self._runner: EmulatorRunner | None = None
        self._app: web.Application | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> EmulatorServer:
        """Serve on `host:port` (0: a free port); `url` then says where."""
        self._app = create_app(self.settings, self.behaviour)
        self._runner = EmulatorRunner(self._app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self._app[EMULATOR].listener.add_site(site)  # webhooks to its control plane are refused
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://{host}:{port}"
        await super().start()
        return self

    async def close(self) -> None:
        await super().close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> EmulatorServer:
        return await self.start()

    # -- white-box -------------------------------------------------------------------------
    @property
    def emulator(self) -> World:
        """The default project's world."""
        assert self._app is not None, "emulator not started"
        return self._app[EMULATOR]

    @property
    def http_server(self) -> web.Server:
        """The aiohttp protocol factory that serves this emulator's connections: one made from it
        without a socket (the replay's in-process pipe) is served like any other."""
        assert self._runner is not None and self._runner.server is not None, "not started"
        return self._runner.server

    @property
    def projects(self) -> Projects:
        assert self._app is not None, "emulator not started"
        return self._app[PROJECTS]

    async def load_scenario(self, path: str | Path) -> Json:
        """Load the world of a scenario file (YAML or JSON) as `serve --scenario` does: the files
        it names are read next to it. Answers what `PUT /_emulator/scenario` answers; a bad
        file raises `ScenarioError` naming the file and the path inside it."""
        from emulator.scenario import apply_world, load_scenario  # the scenario layer, on first use
        from emulator.scenario.world import resolve_groups

        scenario = await asyncio.to_thread(load_scenario, path)
        seed = self.emulator.settings.seed
        groups = await asyncio.to_thread(resolve_groups, scenario.world.groups, seed)
        return {"status": "ok", **apply_world(self.emulator, scenario, groups)}
