"""The pytest plugin (entry point `pytest11`): fixtures that run the emulator in-process.

Fixtures are async and live in the test's event loop, so the project needs an asyncio plugin:
pytest-aiohttp or pytest-asyncio (with `asyncio_mode = "auto"`, or `@pytest.mark.asyncio` on
each test). This module never loads one itself. See docs/pytest.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest

from emulator.config import OPTIONS, Settings, field_name
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
    "pytest_configure",
    "webhook_sink",
]

MARKER = "broadcast_emulator"
_PARSERS = {o.name: o.parse for o in OPTIONS}
StartEmulator = Callable[..., Awaitable[EmulatorServer]]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**settings): settings for the broadcast_emulator fixture, e.g. "
        "clock='manual', seed=7, scenario='scenarios/busy.yaml', webhook_encryption='aes256'",
    )


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


@_async_fixture
async def broadcast_emulator_factory(
    request: pytest.FixtureRequest, broadcast_emulator_settings: Settings
) -> AsyncIterator[StartEmulator]:
    """`await broadcast_emulator_factory(**changes)` starts another emulator for this test."""
    servers: list[EmulatorServer] = []
    base, scenario = apply_marks(request, broadcast_emulator_settings)

    async def start(**changes: Any) -> EmulatorServer:
        fields = dict(_setting(k, v) for k, v in changes.items())
        server = EmulatorServer(base.replace(**fields))
        servers.append(server)
        await server.start()
        if scenario is not None:
            await server.load_scenario(scenario)
        return server

    yield start
    for server in reversed(servers):
        await server.close()


@_async_fixture
async def broadcast_emulator(broadcast_emulator_factory: StartEmulator) -> EmulatorServer:
    """An emulator on 127.0.0.1:0, fresh for each test (it starts in a few milliseconds)."""
    return await broadcast_emulator_factory()


@_async_fixture
async def webhook_sink(
    request: pytest.FixtureRequest, broadcast_emulator_settings: Settings
) -> AsyncIterator[WebhookSink]:
    """A webhook receiver on 127.0.0.1:0; its handlers' errors fail the test at teardown."""
    settings, _ = apply_marks(request, broadcast_emulator_settings)
    sink = WebhookSink(password=settings.app_id)
    await sink.start()
    yield sink
    await sink.close()
    sink.check()


@pytest.fixture
def broadcast_emulator_sync(
    request: pytest.FixtureRequest, broadcast_emulator_settings: Settings
) -> Iterator[ThreadedEmulator]:
    """For synchronous tests: an emulator and a webhook sink in a background thread."""
    settings, scenario = apply_marks(request, broadcast_emulator_settings)
    with ThreadedEmulator(settings) as threaded:
        if scenario is not None:
            threaded.run(threaded.server.load_scenario(scenario))
        yield threaded
