"""Writing the state file without holding the event loop: the snapshot in slices, the bytes on disk.

A 40 MB state takes about a second of CPU to turn into JSON, however it is done. Done in one go
on the event loop (or with `json.dumps` in a worker thread, which holds the GIL while it encodes
one big object) that second is a second in which the server answers nothing. Here the snapshot
is made in slices of at most `SLICE_S` of work: each slice turns a run of rows (broadcasts,
numbers, call legs, deliveries) straight into JSON text with the C encoder, then the loop gets a
turn. No tree of dicts is built (memory stays about the size of the file). Writing the bytes,
fsync and the atomic rename happen in a worker thread (they release the GIL).

While one project is being written its clock is held (an in-flight token, and the clock driver's
lock, which every way of moving time takes), so no timer fires under the snapshot: in every
clock mode, time and every callee stand still. What API requests and webhook deliveries change
meanwhile only moves forward (a call ends, a number gets its result, a delivery settles), and each
row is read in an order that keeps what the schema checks true: a broadcast's state before its
numbers, its numbers before their calls, broadcasts before deliveries, and every delivery's state
copied in one step at the end (about 0.1 µs per delivery: 5 ms for the default log of 50,000).
A snapshot holds the broadcasts that existed when it started.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import operator
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from emulator.domain.models import Broadcast, CallLeg, CreateCommand, PlaySpec, Recipient, Target
from emulator.projects import project_settings
from emulator.state_schema import FORMAT, VERSION
from emulator.webhooks.delivery import Delivery
from emulator.world import World

__all__ = ["SLICE_S", "Slices", "write_chunks", "write_worlds"]

SLICE_S = 0.005  # the longest stretch of snapshot work between two turns of the event loop
T = TypeVar("T")
_ENCODE = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
_COMMAND = tuple(f.name for f in dataclasses.fields(CreateCommand) if f.name != "recipients")
_PLAY = tuple(f.name for f in dataclasses.fields(PlaySpec))
_STATE, _ATTEMPTS = operator.attrgetter("state"), operator.attrgetter("attempts")


class Slices:
    """JSON text made in pieces; the event loop gets a turn whenever a slice of work is done."""

    def __init__(self, slice_s: float | None = None) -> None:
        self.chunks: list[bytes] = []  # one per slice, UTF-8
        self.pauses = 0
        self._parts: list[str] = []
        self._slice_s = SLICE_S if slice_s is None else slice_s
        self._until = time.perf_counter() + self._slice_s

    def add(self, text: str) -> None:
        self._parts.append(text)

    def due(self) -> bool:
        return time.perf_counter() >= self._until

    async def pause(self) -> None:
        """End this slice: give the event loop a turn."""
        self._flush()
        self.pauses += 1
        await asyncio.sleep(0)  # noqa: TID251  (a turn of the loop, no time: nothing sleeps)
        self._until = time.perf_counter() + self._slice_s

    async def each(self, encode: Callable[[T], str], items: Iterable[T]) -> None:
        """`encode(item)` of every item, comma-separated, pausing as slices fill up."""
        parts = self._parts
        for n, item in enumerate(items):
            if n:
                parts.append(",")
            parts.append(encode(item))
            if n & 63 == 63 and self.due():
                await self.pause()

    def done(self) -> list[bytes]:
        self._flush()
        return self.chunks

    def _flush(self) -> None:
        if self._parts:
            self.chunks.append("".join(self._parts).encode("utf-8"))
            self._parts.clear()


# -- rows -------------------------------------------------------------------------------------
def _members(values: dict[str, Any]) -> str:
    """`{"a":1,"b":2}` without its braces, to be continued by hand."""
    return _ENCODE(values)[1:-1]


def _play(spec: PlaySpec | None) -> dict[str, Any] | None:
    return None if spec is None else {name: getattr(spec, name) for name in _PLAY}


def _recipient(r: Recipient) -> str:
    return _ENCODE({"number": r.number, "play": _play(r.play), "custom_data": r.custom_data})


def _target(t: Target) -> str:
    return _ENCODE({"attempts": t.attempts, "result": t.result.as_json() if t.result else None})


def _leg(leg: CallLeg) -> str:
    return _ENCODE(
        {
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
    )


def _delivery(row: tuple[Delivery, str, int]) -> str:
    d, state, attempts = row
    return _ENCODE(
        {
            "seq": d.seq,
            "channel": d.channel,
            "url": d.url,
            "payload": d.payload,
            "virtual_ms": d.virtual_ms,
            "state": state,
            "attempts": [a.as_json() for a in d.attempts[:attempts]],
        }
    )


async def _broadcast(out: Slices, b: Broadcast, legs: Sequence[CallLeg]) -> None:
    """One broadcast: its own fields first, then its numbers, then their calls."""
    head = {
        "broadcast_id": b.broadcast_id,
        "created_ms": b.created_ms,
        "ended_ms": b.ended_ms,
        "state": b.state.value,
        "completion_sent": b.completion_sent,
    }
    command = {name: getattr(b.command, name) for name in _COMMAND}
    command["play"] = _play(b.command.play)
    out.add("{" + _members(head) + ',"command":{' + _members(command) + ',"recipients":[')
    await out.each(_recipient, b.command.recipients)
    out.add(']},"targets":[')
    await out.each(_target, b.targets)
    out.add('],"legs":[')
    await out.each(_leg, legs)
    out.add("]}")


async def _legs_by_broadcast(out: Slices, legs: list[CallLeg]) -> dict[str, list[CallLeg]]:
    """Every call of every broadcast, in the order they were dialled."""
    groups: dict[str, list[CallLeg]] = {}
    for n, leg in enumerate(legs):
        groups.setdefault(leg.target.broadcast.broadcast_id, []).append(leg)
        if n & 1023 == 1023 and out.due():
            await out.pause()
    return groups


async def _world(out: Slices, world: World, counts: dict[str, int]) -> None:
    """One project, with its clock held while it is written."""
    with world.activity.token():
        async with world.driver.holding():
            made, now = world.ids.broadcasts_made, world.clock.now_ms
            broadcasts = list(world.store)
            legs = await _legs_by_broadcast(out, list(world.store.legs.values()))
            head = {
                "app_id": world.app_id,
                "app_key": world.app_key,
                "settings": project_settings(world.settings),
                "seed": world.settings.seed,
            }
            out.add("{" + _members(head) + ',"broadcasts":[')
            for i, b in enumerate(broadcasts):
                own = legs.get(b.broadcast_id, [])
                out.add("," if i else "")
                await _broadcast(out, b, own)
                counts["legs"] += len(own)
                if out.due():
                    await out.pause()
            await out.pause()  # a slice of its own for the one step that is not sliced:
            log = list(world.dispatcher.log)  # every delivery's state and attempts, at once
            states = list(map(_STATE, log))
            attempts = list(map(len, map(_ATTEMPTS, log)))
            tail = {
                "delivery_counters": world.dispatcher.counters(),
                # a reset meanwhile starts the counter (and the clock) again: keep the larger
                "broadcast_ids_made": max(made, world.ids.broadcasts_made),
                "now_ms": max(now, world.clock.now_ms),
            }
            out.add('],"deliveries":[')
            await out.each(_delivery, zip(log, states, attempts, strict=True))
            out.add("]," + _members(tail) + "}")
    counts["projects"] += 1
    counts["broadcasts"] += len(broadcasts)
    counts["deliveries"] += len(log)


async def write_worlds(
    worlds: Sequence[World], slice_s: float | None = None
) -> tuple[Slices, dict[str, int]]:
    """Every world's state as the JSON of a state file (in chunks), and what it holds, counted."""
    out = Slices(slice_s)
    counts = {"projects": 0, "broadcasts": 0, "legs": 0, "deliveries": 0}
    out.add("{" + _members({"format": FORMAT, "version": VERSION}) + ',"projects":[')
    for i, world in enumerate(worlds):
        out.add("," if i else "")
        await _world(out, world, counts)
    out.add("]}")
    out.done()
    return out, counts


def write_chunks(path: str | os.PathLike[str], chunks: Iterable[bytes]) -> int:
    """Write `chunks` to `path` atomically (a temporary file in the same folder, flushed and
    synced, renamed over the old one); returns the number of bytes written."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                written += out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_folder(target.parent)
    return written


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (where the system lets a folder be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
