"""The state file: every project's broadcasts, call legs and delivery log as JSON, and restored.

Written atomically (a temporary file in the same folder, flushed, then renamed over the old one)
on shutdown and on `POST /_emulator/snapshot`; read by `serve --state-file PATH` at start. It holds
every project (version 2: `{"format", "version", "projects": [...]}`, one entry per project with
its credentials and own settings); a project in the file that the command line does not declare
is created again with them. A version 1 file (one world, before projects) restores the default
project.

Restoring: broadcasts that had ended come back as they were. Broadcasts still running when the
state was saved cannot go on (their callees' timers are not saved): they come back `stopped`,
numbers not yet finished get the result failed/Stopped, live calls are disconnected with reason
`emulator-restart`, and no webhook is made up for them. Deliveries still pending are queued again,
in order per call. The virtual clock resumes at the saved instant (or the start instant if that is
later), and broadcast ids continue from the saved counter, so new ids never collide.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import tempfile
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
)
from emulator.domain.service import STOPPED, SUCCESS
from emulator.projects import Projects, project_changes, project_settings
from emulator.webhooks.delivery import Attempt, Delivery
from emulator.world import World

__all__ = [
    "FORMAT",
    "StateError",
    "read_state",
    "restore",
    "restore_projects",
    "save_projects",
    "snapshot",
    "write_state",
]

log = logging.getLogger("emulator")
FORMAT = "broadcast-emulator-state"
VERSION = 2
RESTART_REASON = "emulator-restart"


class StateError(ValueError):
    """The state file cannot be read or does not hold emulator state."""


# -- saving ---------------------------------------------------------------------------------
async def save_projects(projects: Projects, path: str) -> dict[str, Any]:
    """Write every project's state to `path` now (atomically); returns what was written."""
    rows = [snapshot(world) for world in projects]
    data = {"format": FORMAT, "version": VERSION, "projects": rows}
    written = await asyncio.to_thread(write_state, path, data)
    projects.snapshots += 1
    return {
        "path": path,
        "bytes": written,
        "projects": len(rows),
        "broadcasts": sum(len(r["broadcasts"]) for r in rows),
        "legs": sum(len(b["legs"]) for r in rows for b in r["broadcasts"]),
        "deliveries": sum(len(r["deliveries"]) for r in rows),
    }


async def restore_projects(projects: Projects, path: str) -> None:
    """Restore every project saved in `path` (before the server starts serving)."""
    data = read_state(path)
    if data is None:
        return
    totals: dict[str, int] = {"projects": 0}
    try:
        for row in data["projects"]:
            world = await _world_for(projects, row)
            for key, count in restore(world, row).items():
                totals[key] = totals.get(key, 0) + count
            totals["projects"] += 1
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise StateError(f"{path}: damaged state file ({exc!r})") from None
    projects.restored = totals
    log.info("restored %s from %s", totals, path)


async def _world_for(projects: Projects, row: dict[str, Any]) -> World:
    app_id = row.get("app_id")
    if app_id is None:  # a version 1 file: the one world it holds is the default project
        return projects.default
    world = projects.get(app_id)
    if world is None:
        changes = project_changes(row.get("settings") or {})
        world = await projects.create(app_id, row["app_key"], changes)
    return world


def snapshot(world: World) -> dict[str, Any]:
    """One project's state, as plain JSON-ready data."""
    legs: dict[str, list[CallLeg]] = {}
    for leg in world.store.legs.values():  # every attempt, in the order they were dialled
        legs.setdefault(leg.broadcast.broadcast_id, []).append(leg)
    return {
        "app_id": world.app_id,
        "app_key": world.app_key,
        "settings": project_settings(world.settings),
        "seed": world.settings.seed,
        "now_ms": world.clock.now_ms,
        "broadcast_ids_made": world.ids.broadcasts_made,
        "broadcasts": [_broadcast_json(b, legs.get(b.broadcast_id, [])) for b in world.store],
        "deliveries": [_delivery_json(d) for d in world.dispatcher.log],
        "delivery_counters": world.dispatcher.counters(),
    }


def _broadcast_json(b: Broadcast, legs: list[CallLeg]) -> dict[str, Any]:
    return {
        "broadcast_id": b.broadcast_id,
        "command": dataclasses.asdict(b.command),
        "created_ms": b.created_ms,
        "ended_ms": b.ended_ms,
        "state": b.state.value,
        "completion_sent": b.completion_sent,
        "targets": [
            {
                "attempts": t.attempts,
                "result": t.result.as_json() if t.result else None,
            }
            for t in b.targets
        ],
        "legs": [_leg_json(leg) for leg in legs],
    }


def _leg_json(leg: CallLeg) -> dict[str, Any]:
    return {
        "voice_id": leg.voice_id,
        "index": leg.target.index,
        "attempt": leg.attempt,
        "state": leg.state.value,
        "answered": leg.answered,
        "reason": leg.reason,
        "plays": leg.plays,
        "bridges": leg.bridges,
        "menus": leg.menus,
        "started_ms": leg.started_ms,
        "ended_ms": leg.ended_ms,
    }


def _delivery_json(d: Delivery) -> dict[str, Any]:
    return {
        "seq": d.seq,
        "channel": d.channel,
        "url": d.url,
        "payload": d.payload,
        "virtual_ms": d.virtual_ms,
        "state": d.state,
        "attempts": [a.as_json() for a in d.attempts],
    }


def write_state(path: str | os.PathLike[str], data: dict[str, Any]) -> int:
    """Write `data` to `path` atomically; returns the number of bytes written."""
    target = Path(path)
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(text)


# -- restoring ------------------------------------------------------------------------------
def read_state(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The saved state, or None when the file does not exist yet."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StateError(f"{path}: cannot read the state file: {exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise StateError(f"{path}: not a state file (bad JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StateError(f"{path}: not a broadcast-emulator state file")
    if data.get("version") == 1:  # one world, written before projects: the default project
        return {**data, "version": VERSION, "projects": [{**data, "app_id": None}]}
    if data.get("version") != VERSION:
        raise StateError(f"{path}: state file version {data.get('version')} is not {VERSION}")
    return data


def restore(emulator: World, data: dict[str, Any]) -> dict[str, int]:
    """Load one project's saved state into its fresh world; returns what was restored, counted."""
    saved_now = int(data["now_ms"])
    if saved_now > emulator.clock.now_ms:
        emulator.clock.jump_to(saved_now)
    emulator.ids.continue_from(int(data.get("broadcast_ids_made", 0)))
    interrupted = 0
    for row in data["broadcasts"]:
        broadcast = _restore_broadcast(emulator, row)
        if broadcast.ended_ms is None or row["state"] in ("running", "stopping"):
            _end_interrupted(broadcast, saved_now)
            interrupted += 1
    queued = 0
    for row in data["deliveries"]:
        delivery = _restore_delivery(emulator, row)
        emulator.dispatcher.adopt(delivery)
        queued += delivery.state == "pending"
    emulator.dispatcher.set_counters(data.get("delivery_counters", {}))
    return {
        "broadcasts": len(data["broadcasts"]),
        "interrupted": interrupted,
        "deliveries": len(data["deliveries"]),
        "requeued": queued,
    }


def _command(raw: dict[str, Any]) -> CreateCommand:
    known = {f.name for f in dataclasses.fields(CreateCommand)}
    values = {k: v for k, v in raw.items() if k in known}
    values["recipients"] = tuple(
        Recipient(r["number"], _play(r.get("play")), r.get("custom_data"))
        for r in raw["recipients"]
    )
    values["play"] = _play(raw.get("play"))
    return CreateCommand(**values)


def _play(raw: dict[str, Any] | None) -> PlaySpec | None:
    if raw is None:
        return None
    known = {f.name for f in dataclasses.fields(PlaySpec)}
    return PlaySpec(**{k: v for k, v in raw.items() if k in known})


def _restore_broadcast(emulator: World, row: dict[str, Any]) -> Broadcast:
    b = Broadcast(row["broadcast_id"], _command(row["command"]), int(row["created_ms"]))
    b.state = BroadcastState(row["state"])
    b.ended_ms = row["ended_ms"]
    b.completion_sent = bool(row["completion_sent"])
    for index, (recipient, saved) in enumerate(
        zip(b.command.recipients, row["targets"], strict=True)
    ):
        target = Target(b, index, recipient, attempts=int(saved["attempts"]))
        if saved["result"] is not None:
            target.result = Result(**saved["result"])
            b.tally(target.result)
        b.attempts += target.attempts
        b.targets.append(target)
    for leg_row in row["legs"]:
        leg = _restore_leg(b, leg_row)
        emulator.store.legs[leg.voice_id] = leg
        b.live_legs += leg.live
    emulator.store.add(b)
    return b


def _restore_leg(b: Broadcast, row: dict[str, Any]) -> CallLeg:
    target = b.targets[int(row["index"])]
    leg = CallLeg(row["voice_id"], target, int(row["attempt"]), LegState(row["state"]))
    leg.answered = bool(row["answered"])
    leg.reason = row["reason"]
    leg.plays, leg.bridges, leg.menus = row["plays"], row["bridges"], row["menus"]
    leg.started_ms, leg.ended_ms = row["started_ms"], row["ended_ms"]
    target.leg = leg
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


def _restore_delivery(emulator: World, row: dict[str, Any]) -> Delivery:
    # per-call events name their call; their delivery gates the broadcast's completion event
    voice_id = row["payload"].get("voice_id") if isinstance(row["payload"], dict) else None
    leg = emulator.store.legs.get(voice_id) if isinstance(voice_id, str) else None
    owner = leg.broadcast if leg is not None and row["state"] == "pending" else None
    if owner is not None:
        owner.outstanding += 1
    delivery = Delivery(
        int(row["seq"]), row["channel"], row["url"], row["payload"], int(row["virtual_ms"]), owner
    )
    delivery.state = row["state"]
    delivery.attempts = [Attempt.from_json(a) for a in row["attempts"]]
    return delivery
