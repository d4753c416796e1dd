"""The state file: every project's broadcasts, call legs and delivery log as JSON, and restored.

`StateFile` is the server's one state file. At start, `restore()` checks that its folder exists
and is writable, reads the file if there is one, validates it whole against the schema of its
version (`state_schema.py`) and only then restores it, trusting what passed: a file that is not
exactly what the emulator writes stops start-up with `StateError`, one line
`state file F: path: problem` (exit code 2). `save()` writes it atomically on
`POST /_emulator/snapshot` and, through `save_at_exit()`, at shutdown (a failure there is
`StateError` with exit code 3), without holding the event loop (`state_writer.py`).

The file holds every project (version 2: `{"format", "version", "projects": [...]}`, one entry
per project with its credentials and own settings); a project in the file that the command line
does not declare is created again with them. A version 1 file (one world, before projects)
restores the default project.

Restoring: broadcasts that had ended come back as they were. Broadcasts still running when the
state was saved cannot go on (their callees' timers are not saved): they come back `stopped`,
numbers not yet finished get the result failed/Stopped, live calls are disconnected with reason
`emulator-restart`, and no webhook is made up for them. Deliveries still pending are queued again,
in order per call. The virtual clock resumes at the saved instant (or the start instant if that is
later), and broadcast ids continue from the saved counter, so new ids never collide.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from emulator.domain.models import (
    Broadcast,
    BroadcastState,
    CallLeg,
    CreateCommand,
    LegState,
    PlaySpec,
    Recipient,
    Result,
    Target,
    recipient_numbers,
)
from emulator.domain.service import STOPPED, SUCCESS
from emulator.errors import EXIT_NOT_SAVED, EXIT_REFUSED, EmulatorError, StateError
from emulator.projects import Projects, project_changes
from emulator.state_nodes import Invalid, loads
from emulator.state_schema import FORMAT, VERSION, validate
from emulator.state_writer import write_chunks, write_worlds
from emulator.webhooks.delivery import Attempt, Delivery, PlainDelivery
from emulator.world import World

__all__ = [
    "EXIT_NOT_SAVED",
    "EXIT_REFUSED",
    "FORMAT",
    "VERSION",
    "SaveError",
    "StateError",
    "StateFile",
    "read_state",
    "restore",
    "restore_projects",
    "save_projects",
    "write_state",
]

log = logging.getLogger("emulator")
RESTART_REASON = "emulator-restart"


class SaveError(OSError):
    """Writing the state file failed (the previous file, if any, is left as it was)."""

    def __init__(self, path: str, exc: BaseException) -> None:
        self.path = path
        self.reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        super().__init__(f"state file {path}: not written ({self.reason})")


class StateFile:
    """The server's state file: restored before it serves, saved on demand and at shutdown."""

    def __init__(self, projects: Projects, path: str) -> None:
        self.projects = projects
        self.path = path
        self._saving = asyncio.Lock()  # one snapshot at a time...
        self._writing = threading.Lock()  # ...and their files renamed in the order they began

    # -- start --------------------------------------------------------------------------
    def check(self) -> None:
        """The folder exists and a file can be made in it (a real probe: permissions, a
        read-only mount, a full quota); StateError otherwise. The file itself is read later."""
        folder = Path(self.path).parent
        if not folder.is_dir():
            problem = "is not a folder" if folder.exists() else "does not exist"
            raise StateError(f"state file {self.path}: folder {str(folder)!r} {problem}")
        try:
            fd, probe = tempfile.mkstemp(prefix=".probe.", dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            reason = exc.strerror or exc
            raise StateError(
                f"state file {self.path}: folder {str(folder)!r} is not writable ({reason})"
            ) from None

    async def restore(self) -> None:
        """Check, read and validate the file whole, then restore every project in it."""
        self.check()
        data = read_state(self.path)
        if data is None:
            log.info("no state file at %s yet: it is written at shutdown", self.path)
            return
        rows = data["projects"]
        self._check_room(rows)
        worlds = [await self._world_for(i, row) for i, row in enumerate(rows)]
        totals: dict[str, int] = {"projects": len(rows)}
        for world, row in zip(worlds, rows, strict=True):
            for key, count in restore(world, row).items():
                totals[key] = totals.get(key, 0) + count
        self.projects.restored = totals
        log.info("restored %s from %s", totals, self.path)

    def _check_room(self, rows: list[dict[str, Any]]) -> None:
        projects = self.projects
        new = [r for r in rows if r["app_id"] is not None and projects.get(r["app_id"]) is None]
        room = projects.limit - len(projects)
        if len(new) > room:
            raise StateError(
                f"state file {self.path}: projects: {len(new)} projects to make again, but "
                f"--max-projects {projects.limit} leaves room for {room}"
            )

    async def _world_for(self, index: int, row: dict[str, Any]) -> World:
        if row["app_id"] is None:  # a version 1 file: the one world it holds is the default
            return self.projects.default
        world = self.projects.get(row["app_id"])
        if world is not None:  # declared on the command line: its settings come from there
            return world
        try:
            changes = project_changes(row["settings"])
            return await self.projects.create(row["app_id"], row["app_key"], changes)
        except (EmulatorError, ValueError) as exc:
            raise StateError(f"state file {self.path}: projects[{index}]: {exc}") from None

    # -- saving -------------------------------------------------------------------------
    async def save(self) -> dict[str, Any]:
        """Write every project's state now; returns what was written. SaveError on failure."""
        async with self._saving:
            try:
                out, counts = await write_worlds(list(self.projects))
                written = await asyncio.to_thread(self._write, out.chunks)
            except (OSError, ValueError) as exc:  # ValueError: a value JSON cannot hold
                raise SaveError(self.path, exc) from exc
        self.projects.snapshots += 1
        return {"path": self.path, "bytes": written, **counts}

    def _write(self, chunks: list[bytes]) -> int:
        with self._writing:
            return write_chunks(self.path, chunks)

    async def save_at_exit(self) -> None:
        """The final save; StateError (exit code 3) if it fails: this run's state is lost."""
        try:
            await self.save()
        except SaveError as exc:
            error = StateError(
                f"state file {self.path}: not saved at shutdown ({exc.reason}): "
                "the state of this run is lost"
            )
            error.exit_code = EXIT_NOT_SAVED
            raise error from None


async def save_projects(projects: Projects, path: str) -> dict[str, Any]:
    """Write every project's state to `path` now (atomically); returns what was written."""
    return await StateFile(projects, path).save()


async def restore_projects(projects: Projects, path: str) -> None:
    """Restore every project saved in `path` (before the server starts serving)."""
    await StateFile(projects, path).restore()


def write_state(path: str | os.PathLike[str], data: dict[str, Any]) -> int:
    """Write `data` (already JSON-ready) to `path` atomically; returns the bytes written."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return write_chunks(path, [text.encode("utf-8")])


# -- reading --------------------------------------------------------------------------------
def read_state(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The saved state, validated whole, in the shape of the current version (a version 1 file
    as one project with `app_id` None); None when the file does not exist. StateError if it
    cannot be read or is not exactly what the emulator writes."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise StateError(f"state file {path}: is a folder, not a file") from None
    except OSError as exc:
        raise StateError(f"state file {path}: cannot be read ({exc.strerror or exc})") from None
    data = _parse(path, raw)
    try:
        version = validate(data)
    except Invalid as exc:
        raise StateError(f"state file {path}: {exc}") from None
    if version == 1:
        return {"format": FORMAT, "version": VERSION, "projects": [{**data, "app_id": None}]}
    result: dict[str, Any] = data
    return result


def _parse(path: str | os.PathLike[str], raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StateError(f"state file {path}: byte {exc.start}: not UTF-8 text") from None
    try:
        return loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise StateError(f"state file {path}: {where}: not JSON ({exc.msg})") from None
    except RecursionError:
        raise StateError(f"state file {path}: (top level): nested too deeply") from None
    except ValueError as exc:  # an integer of more digits than Python converts
        reason = str(exc).split(";")[0]
        raise StateError(f"state file {path}: (top level): not JSON ({reason})") from None


# -- restoring (of data that passed `validate`) -------------------------------------------------
def restore(world: World, data: dict[str, Any]) -> dict[str, int]:
    """Load one project's validated state into its fresh world; returns what was restored."""
    saved_now = data["now_ms"]
    if saved_now > world.clock.now_ms:
        world.clock.jump_to(saved_now)
    world.ids.continue_from(data["broadcast_ids_made"])
    interrupted = 0
    for row in data["broadcasts"]:
        broadcast = _restore_broadcast(world, row)
        if broadcast.state in (BroadcastState.RUNNING, BroadcastState.STOPPING):
            _end_interrupted(broadcast, saved_now)
            interrupted += 1
    queued = 0
    for row in data["deliveries"]:
        delivery = _restore_delivery(world, row)
        world.dispatcher.adopt(delivery)
        queued += delivery.state == "pending"
    world.dispatcher.set_counters(data["delivery_counters"])
    return {
        "broadcasts": len(data["broadcasts"]),
        "interrupted": interrupted,
        "deliveries": len(data["deliveries"]),
        "requeued": queued,
    }


def _play(raw: dict[str, Any] | None) -> PlaySpec | None:
    return None if raw is None else PlaySpec(**raw)


def _command(raw: dict[str, Any]) -> CreateCommand:
    recipients = tuple(
        Recipient(r["number"], _play(r["play"]), r["custom_data"]) for r in raw["recipients"]
    )
    return CreateCommand(**{**raw, "recipients": recipients, "play": _play(raw["play"])})


def _restore_broadcast(world: World, row: dict[str, Any]) -> Broadcast:
    b = Broadcast(row["broadcast_id"], _command(row["command"]), row["created_ms"])
    b.state = BroadcastState(row["state"])
    b.ended_ms = row["ended_ms"]
    b.completion_sent = row["completion_sent"]
    for index, (number, saved) in enumerate(
        zip(recipient_numbers(b.command.recipients), row["targets"], strict=True)
    ):
        target = Target(b, index, number)  # its attempts: its last call's, restored below
        if saved["result"] is not None:
            target.result = Result(**saved["result"])
            b.tally(target.result)
        b.attempts += saved["attempts"]
        b.targets.append(target)
    for leg_row in row["legs"]:
        leg = _restore_leg(b, leg_row)
        world.store.legs[leg.voice_id] = leg
        b.live_legs += leg.live
    world.store.add(b)
    return b


def _restore_leg(b: Broadcast, row: dict[str, Any]) -> CallLeg:
    target = b.targets[row["index"]]
    leg = CallLeg(row["voice_id"], target, row["attempt"], LegState(row["state"]))
    leg.answered, leg.reason = row["answered"], row["reason"]
    leg.plays, leg.bridges, leg.menus = row["plays"], row["bridges"], row["menus"]
    leg.started_ms, leg.ended_ms = row["started_ms"], row["ended_ms"]
    target.leg = leg  # the legs come in the order they were dialled: the last one stays
    return leg


def _end_interrupted(b: Broadcast, now_ms: int) -> None:
    """A broadcast that was running when saved: stopped, with nothing made up."""
    for target in b.targets:
        leg = target.leg
        if leg is not None and leg.live:
            leg.state = LegState.DISCONNECTED
            leg.reason = RESTART_REASON
            leg.ended_ms = now_ms
            b.live_legs -= 1
        if target.result is None:
            target.result = SUCCESS if leg is not None and leg.answered else STOPPED
            b.tally(target.result)
    b.state = BroadcastState.STOPPED
    b.ended_ms = b.ended_ms if b.ended_ms is not None else now_ms
    b.completion_sent = True


def _restore_delivery(world: World, row: dict[str, Any]) -> Delivery:
    # per-call events name their call; their delivery gates the broadcast's completion event
    voice_id = row["payload"].get("voice_id")
    leg = world.store.legs.get(voice_id) if isinstance(voice_id, str) else None
    owner = leg.broadcast if leg is not None and row["state"] == "pending" else None
    if owner is not None:
        owner.outstanding += 1
    delivery = PlainDelivery(
        row["seq"], row["channel"], row["url"], row["payload"], row["virtual_ms"], owner
    )
    delivery.state = row["state"]
    delivery.attempts = [Attempt.from_json(a) for a in row["attempts"]]
    return delivery
