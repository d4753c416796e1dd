"""The registry of worlds: one per project (APP_ID), picked by the credentials of each request.

The default project (`--app-id`/`--app-key`) always exists; `--project ID:KEY` adds more at start,
`POST /_emulator/projects` at run time, and with `--open-projects` any Basic credentials with a new
APP_ID create one on first use. Every world is built from the server's settings with the project's
own credentials and overrides; `prepare` (given by the app) loads serve's scenario world into each
new world, so this module never touches the scenario layer.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from emulator.config import Settings, option
from emulator.errors import BadRequest, Conflict, NotFound
from emulator.sim.clock import ClockMode, format_iso
from emulator.world import World

__all__ = [
    "APP_ID_PATTERN",
    "PROJECT_SETTINGS",
    "Projects",
    "basic_header",
    "check_app_id",
    "project_changes",
    "project_settings",
]

APP_ID_PATTERN = re.compile(r"[A-Za-z0-9._~@+-]{1,128}")
# Settings a project may set for itself (POST /_emulator/projects; saved in the state file).
PROJECT_SETTINGS = (
    "clock", "seed", "start", "settle_ms", "speed", "dial_rate", "cli_numbers",
    "webhook_encryption", "webhook_format", "webhook_attempts", "webhook_backoff_s",
    "completion_state",
)  # fmt: skip
Prepare = Callable[[World], None]


def check_app_id(app_id: str) -> str:
    """`app_id` if it can name a project (it appears in control-plane paths); ValueError if not."""
    if not isinstance(app_id, str) or not APP_ID_PATTERN.fullmatch(app_id) or app_id in (".", ".."):
        raise ValueError(
            f"APP_ID {str(app_id)[:80]!r} cannot name a project: use 1-128 letters, digits "
            "or . _ ~ @ + -"
        )
    return app_id


def basic_header(app_id: str, app_key: str) -> str:
    """The exact `Authorization` header value of these credentials."""
    return "Basic " + base64.b64encode(f"{app_id}:{app_key}".encode()).decode("ascii")


def _decode_basic(header: str) -> tuple[str, str] | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def project_settings(settings: Settings) -> dict[str, Any]:
    """A project's own settings as JSON, in the spelling `project_changes` reads back."""
    out: dict[str, Any] = {}
    for key in PROJECT_SETTINGS:
        if key == "start":
            out[key] = format_iso(settings.start_ms)
        elif key == "cli_numbers":
            out[key] = list(settings.cli_numbers)
        else:
            value = getattr(settings, key)
            out[key] = value.value if isinstance(value, ClockMode) else value
    return out


def project_changes(body: Mapping[str, Any]) -> dict[str, Any]:
    """Settings fields from the per-project settings of a request body or a state file.

    Strings are parsed as their serve flag parses them; other JSON values are checked through
    the same parser. ValueError names the key.
    """
    changes: dict[str, Any] = {}
    for key in PROJECT_SETTINGS:
        if key not in body or body[key] is None:
            continue
        value = body[key]
        if isinstance(value, list) and key == "cli_numbers":
            value = ",".join(str(v) for v in value)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"{key}: must be a string or a number, not {type(value).__name__}")
        try:
            parsed = option(key).parse(str(value))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{key}: {exc}") from None
        changes["start_ms" if key == "start" else key] = parsed
    return changes


def _nothing(world: World) -> None:
    return None


class Projects:
    """Every world of the server, by APP_ID, and which credentials open which one."""

    def __init__(self, settings: Settings, prepare: Prepare | None = None) -> None:
        self.base = settings
        self.prepare = prepare
        self.open = settings.open_projects
        self.limit = max(1, settings.max_projects)
        self._worlds: dict[str, World] = {}
        self._by_header: dict[str, World] = {}
        self._started = False
        self._opening: dict[str, asyncio.Future[World | None]] = {}
        self.restored: dict[str, int] = {}
        self.snapshots = 0
        self.created = 0  # projects made at run time (POST, first use, state file), deleted or not
        self._watchers: list[Prepare] = []  # told of every world, now and to come
        self.default = self._add(World(settings))
        for app_id, app_key in settings.projects:
            self._add(World(settings.replace(app_id=app_id, app_key=app_key), namespace=app_id))

    # -- lookup -------------------------------------------------------------------------
    def __iter__(self) -> Iterator[World]:
        return iter(list(self._worlds.values()))

    def __len__(self) -> int:
        return len(self._worlds)

    def get(self, app_id: str) -> World | None:
        return self._worlds.get(app_id)

    def world(self, app_id: str) -> World:
        """The world of `app_id`, or a JSON 404."""
        found = self._worlds.get(app_id)
        if found is None:
            raise NotFound(f"no project with APP_ID {app_id[:80]!r}")
        return found

    def by_header(self, header: str | None) -> World | None:
        """The world whose exact Basic header this is (the hot path: one dict lookup)."""
        return self._by_header.get(header) if header is not None else None

    def named(self, header: str | None) -> World | None:
        """The world whose APP_ID the Basic header names, whatever the key (for the journal)."""
        pair = _decode_basic(header) if header else None
        return self._worlds.get(pair[0]) if pair is not None else None

    async def authenticate(self, header: str | None) -> World | None:
        """The world these credentials open; with `--open-projects` a new APP_ID opens a new
        project with the key it came with. None: 401."""
        found = self.by_header(header)
        if found is not None or header is None:
            return found
        pair = _decode_basic(header)
        if pair is None:
            return None
        app_id, app_key = pair
        world = self._worlds.get(app_id)
        if world is not None:  # another spelling of the header (e.g. "basic"): compare exactly
            ok = hmac.compare_digest(app_key.encode(), world.app_key.encode())
            return world if ok else None
        if not self.open or not APP_ID_PATTERN.fullmatch(app_id) or len(self) >= self.limit:
            return None
        return await self._open(app_id, app_key)

    async def _open(self, app_id: str, app_key: str) -> World | None:
        pending = self._opening.get(app_id)
        if pending is not None:  # two first requests at once: one project, one key
            world = await asyncio.shield(pending)
            ok = world is not None and hmac.compare_digest(app_key.encode(), world.app_key.encode())
            return world if ok else None
        future: asyncio.Future[World | None] = asyncio.get_running_loop().create_future()
        self._opening[app_id] = future
        try:
            world = await self.create(app_id, app_key, {})
        except (BadRequest, Conflict):
            world = None
        finally:
            self._opening.pop(app_id, None)
        future.set_result(world)
        return world

    # -- lifecycle ----------------------------------------------------------------------
    def _add(self, world: World) -> World:
        if world.app_id in self._worlds:
            raise ValueError(f"APP_ID {world.app_id!r} is given twice")
        check_app_id(world.app_id)
        if self.prepare is not None:
            self.prepare(world)
        self._worlds[world.app_id] = world
        self._by_header[basic_header(world.app_id, world.app_key)] = world
        return world

    def watch(self, watcher: Prepare) -> None:
        """Call `watcher` with every world now, and with every world made from now on."""
        self._watchers.append(watcher)
        for world in self:
            watcher(world)

    async def start(self) -> None:
        self._started = True
        for world in self:
            await world.start()

    async def close(self, drain_s: float = 0.0) -> None:
        """Stop every world, letting deliveries finish for at most `drain_s` (all at once)."""
        self._started = False
        await asyncio.gather(*(world.close(drain_s) for world in self))

    async def create(
        self,
        app_id: str | None,
        app_key: str | None,
        changes: Mapping[str, Any],
        prepare: Prepare | None = None,
    ) -> World:
        """A new project from the server's settings with `changes`; `prepare` replaces serve's
        scenario world. 400 for a bad APP_ID, 409 if it exists or the limit is reached."""
        app_id = app_id if app_id is not None else "project-" + secrets.token_hex(6)
        app_key = app_key if app_key is not None else secrets.token_hex(16)
        try:
            check_app_id(app_id)
        except ValueError as exc:
            raise BadRequest(f"app_id: {exc}") from None
        if app_id in self._worlds:
            raise Conflict(f"a project with APP_ID {app_id!r} exists")
        if len(self) >= self.limit:
            raise Conflict(f"project limit reached ({self.limit}; see --max-projects)")
        try:
            settings = self.base.replace(app_id=app_id, app_key=app_key, **changes)
            world = World(settings, namespace=app_id)
            (prepare or self.prepare or _nothing)(world)
        except ValueError as exc:  # nothing is registered: no half-made project
            raise BadRequest(f"project {app_id!r}: {exc}") from None
        self._worlds[app_id] = world
        self._by_header[basic_header(app_id, app_key)] = world
        self.created += 1
        for watcher in self._watchers:
            watcher(world)
        if self._started:
            await world.start()
        return world

    async def delete(self, app_id: str) -> World:
        """Forget a project entirely (409 for the default project, 404 if unknown)."""
        world = self.world(app_id)
        if world is self.default:
            raise Conflict("the default project cannot be deleted (restart with other --app-id)")
        del self._worlds[app_id]
        self._by_header = {h: w for h, w in self._by_header.items() if w is not world}
        await world.close()
        return world

    # -- answers ------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """`GET /_emulator/health`: the default project's health, and the server's."""
        answer = self.default.health()
        answer["projects"] = len(self)
        answer["projects_created"] = self.created
        answer["state_file"] = {
            "path": self.base.state_file,
            "restored": self.restored,
            "snapshots": self.snapshots,
        }
        return answer

    def listing(self) -> dict[str, Any]:
        return {"projects": [world.summary() for world in self]}
