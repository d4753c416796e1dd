"""The pytest plugin (entry point `pytest11`): fixtures that run the emulator in-process, or
use one that is already running.

Fixtures are async and live in the test's event loop, so the project needs an asyncio plugin:
pytest-aiohttp or pytest-asyncio (with `asyncio_mode = "auto"`, or `@pytest.mark.asyncio` on
each test). This module never loads one itself. See docs/pytest.md.

With `--broadcast-emulator-url URL` (or `BROADCAST_EMULATOR_URL`) the fixtures use the emulator
at URL (a Docker service container, say): each test gets a fresh project, created through
`POST /_emulator/projects` with the test's settings and deleted at teardown, so parallel workers
(pytest-xdist) and parallel jobs share one emulator without seeing each other.
"""

from __future__ import annotations

import dataclasses
import itertools
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest

from emulator.config import OPTIONS, Settings, field_name, testing_environ
from emulator.projects import PROJECT_SETTINGS, project_settings
from emulator.testing.client import EmulatorClient
from emulator.testing.server import EmulatorServer
from emulator.testing.sink import WebhookSink
from emulator.testing.threaded import ThreadedEmulator

_F = TypeVar("_F", bound=Callable[..., Any])
_FIXTURE: Any = pytest.fixture
try:  # pytest-asyncio's decorator works in both its strict and auto modes
    import pytest_asyncio

    _FIXTURE = pytest_asyncio.fixture
except ImportError:  # pragma: no cover - another asyncio plugin handles plain async fixtures
    pass


def _async_fixture(func: _F) -> _F:
    return cast(_F, _FIXTURE(func))


__all__ = [
    "broadcast_emulator",
    "broadcast_emulator_factory",
    "broadcast_emulator_settings",
    "broadcast_emulator_sync",
    "pytest_addoption",
    "pytest_configure",
    "webhook_sink",
]

MARKER = "broadcast_emulator"
_PARSERS = {o.name: o.parse for o in OPTIONS}
StartEmulator = Callable[..., Awaitable[EmulatorClient]]
_OPTIONS = {
    "url": "URL of a running emulator: each test gets a fresh project on it (not in-process)",
    "token": "the running emulator's control token, if it has one",
    "sink_host": "address webhook_sink listens on (default 127.0.0.1; 0.0.0.0 for a container)",
    "sink_public_host": "host name the emulator reaches webhook_sink by "
    "(e.g. host.docker.internal)",
}
# Settings of the fixture's emulator that a project on a running emulator cannot have of its own
_SERVER_ONLY = (
    frozenset(f.name for f in dataclasses.fields(Settings))
    - {"start_ms" if k == "start" else k for k in PROJECT_SETTINGS}
    - {"host", "port", "app_id", "app_key", "scenario", "timings"}
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("broadcast-emulator")
    for name, text in _OPTIONS.items():
        flag = "--broadcast-emulator-" + name.replace("_", "-")
        env = f"BROADCAST_EMULATOR_{name.upper()}"
        group.addoption(flag, dest=f"broadcast_emulator_{name}", help=f"{text} [env {env}]")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**settings): settings for the broadcast_emulator fixture, e.g. "
        "clock='manual', seed=7, scenario='scenarios/busy.yaml', webhook_encryption='aes256'",
    )


def _option(config: pytest.Config, name: str) -> str | None:
    given = config.getoption(f"broadcast_emulator_{name}", None)
    return str(given) if given else testing_environ().get(name)


@dataclass(slots=True)
class _Test:
    """What one test's fixtures share: the APP_IDs of its projects (the sink decrypts with the
    first)."""

    app_ids: list[str] = field(default_factory=list)

    def password(self) -> str | None:
        return self.app_ids[0] if self.app_ids else None


_SESSION = secrets.token_hex(4)  # APP_IDs of one run's projects never collide with another's
_SERIAL = itertools.count(1)


_FIELDS = frozenset(f.name for f in dataclasses.fields(Settings))


def _setting(name: str, value: Any) -> tuple[str, Any]:
    """A marker keyword as a Settings field: strings are parsed like their CLI flag."""
    field = field_name(name)
    if field not in _FIELDS:
        known = ", ".join(sorted(_PARSERS))
        raise pytest.UsageError(f"broadcast_emulator: unknown setting {name!r}; known: {known}")
    if isinstance(value, str) and name in _PARSERS:
        try:
            value = _PARSERS[name](value)
        except ValueError as exc:
            raise pytest.UsageError(f"broadcast_emulator: {name}={value!r}: {exc}") from None
    return field, value


def apply_marks(request: pytest.FixtureRequest, base: Settings) -> tuple[Settings, Path | None]:
    """`base` with every `broadcast_emulator` marker applied (closest wins); the scenario path."""
    changes: dict[str, Any] = {}
    for mark in reversed(list(request.node.iter_markers(MARKER))):
        changes.update(mark.kwargs)
    scenario = changes.pop("scenario", None) or base.scenario
    fields = dict(_setting(k, v) for k, v in changes.items())
    settings = base.replace(**fields, scenario=None)
    if scenario is None:
        return settings, None
    path = Path(scenario)
    return settings, path if path.is_absolute() else request.path.parent / path


@pytest.fixture
def broadcast_emulator_settings() -> Settings:
    """The emulator's settings; override this fixture to change them for a module or project."""
    return Settings(port=0)


@pytest.fixture
def _broadcast_emulator_test() -> _Test:
    return _Test()


@_async_fixture
async def broadcast_emulator_factory(
    request: pytest.FixtureRequest,
    broadcast_emulator_settings: Settings,
    _broadcast_emulator_test: _Test,
) -> AsyncIterator[StartEmulator]:
    """`await broadcast_emulator_factory(**changes)` starts another emulator for this test (or,
    against a running emulator, creates another project)."""
    clients: list[EmulatorClient] = []
    base, scenario = apply_marks(request, broadcast_emulator_settings)
    url = _option(request.config, "url")

    async def start(**changes: Any) -> EmulatorClient:
        settings = base.replace(**dict(_setting(k, v) for k, v in changes.items()))
        if url is None:
            server = EmulatorServer(settings)
            clients.append(server)
            await server.start()
            if scenario is not None:
                await server.load_scenario(scenario)
            _broadcast_emulator_test.app_ids.append(server.app_id)
            return server
        body = _project_body(settings, scenario)
        token = _option(request.config, "token")
        client = await EmulatorClient.new_project(url, token, **body)
        clients.append(client)
        _broadcast_emulator_test.app_ids.append(client.app_id)
        return client

    yield start
    for client in reversed(clients):
        if not isinstance(client, EmulatorServer):
            await client.delete_project()
        await client.close()


def _project_body(settings: Settings, scenario: Path | None) -> dict[str, Any]:
    """The project a test's settings describe, for `POST /_emulator/projects`."""
    defaults = Settings()
    server_only = sorted(k for k in _SERVER_ONLY if getattr(settings, k) != getattr(defaults, k))
    if server_only:
        raise pytest.UsageError(
            f"broadcast_emulator: {', '.join(server_only)} cannot be set per project on a running "
            "emulator (--broadcast-emulator-url): start that emulator with them instead"
        )
    body: dict[str, Any] = project_settings(settings)
    body["app_id"] = f"pytest-{_SESSION}-{next(_SERIAL)}"
    if scenario is not None:
        body["scenario"] = scenario.read_text("utf-8")
    return body


@_async_fixture
async def broadcast_emulator(broadcast_emulator_factory: StartEmulator) -> EmulatorClient:
    """An emulator on 127.0.0.1:0, fresh for each test (it starts in a few milliseconds); with
    `--broadcast-emulator-url`, a fresh project on that running emulator."""
    return await broadcast_emulator_factory()


@_async_fixture
async def webhook_sink(
    request: pytest.FixtureRequest,
    broadcast_emulator_settings: Settings,
    _broadcast_emulator_test: _Test,
) -> AsyncIterator[WebhookSink]:
    """A webhook receiver on 127.0.0.1:0; its handlers' errors fail the test at teardown."""
    settings, _ = apply_marks(request, broadcast_emulator_settings)
    external = _option(request.config, "url") is not None
    sink = WebhookSink(password=_broadcast_emulator_test.password if external else settings.app_id)
    host = _option(request.config, "sink_host") or "127.0.0.1"
    await sink.start(host, 0, _option(request.config, "sink_public_host"))
    yield sink
    await sink.close()
    sink.check()


@pytest.fixture
def broadcast_emulator_sync(
    request: pytest.FixtureRequest, broadcast_emulator_settings: Settings
) -> Iterator[ThreadedEmulator]:
    """For synchronous tests: an emulator and a webhook sink in a background thread (with
    `--broadcast-emulator-url`, a fresh project on that emulator)."""
    settings, scenario = apply_marks(request, broadcast_emulator_settings)
    config = request.config
    url = _option(config, "url")
    sink = (_option(config, "sink_host") or "127.0.0.1", _option(config, "sink_public_host"))
    if url is None:
        threaded = ThreadedEmulator(settings, sink_host=sink)
    else:
        project = _project_body(settings, scenario)
        token = _option(config, "token")
        threaded = ThreadedEmulator(settings, url=url, token=token, project=project, sink_host=sink)
    with threaded:
        if scenario is not None and url is None:
            threaded.run(threaded.server.load_scenario(scenario))
        yield threaded
