"""Corrupted state files: each one stops `serve` with exit 2 and one line naming the place.

Every file starts as one the emulator wrote (`saved_state.py`: three projects, ended, stopped and
running broadcasts, deliveries delivered, pending and dead) and has one thing put out of place by
hand. `serve --state-file F` must refuse it before serving: exit code 2, stdout empty, exactly one
line on stderr, `state file F: PATH: problem`, no traceback. Nothing is accepted in part.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from saved_state import write_saved_state

Edit = Callable[[dict[str, Any]], str]  # changes the data; returns the path the error must name
TOKEN = re.compile(r"(\w+)|\[(-?\d+|P)\]")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("saved") / "state.json"
    asyncio.run(write_saved_state(path))
    data: dict[str, Any] = json.loads(path.read_text())
    default, team_b, team_c = data["projects"]
    # what the cases below rely on
    assert [b["state"] for b in default["broadcasts"]] == ["completed", "completed"]
    assert [(leg["index"], leg["attempt"]) for leg in default["broadcasts"][0]["legs"]] == [
        (0, 1), (1, 1), (2, 1), (1, 2)
    ]  # fmt: skip
    assert [b["state"] for b in team_b["broadcasts"]] == ["stopped"]
    assert [b["state"] for b in team_c["broadcasts"]] == ["running", "completed"]
    assert team_c["broadcasts"][0]["legs"][-1]["state"] == "ringing"
    assert {d["state"] for d in team_c["deliveries"]} == {"pending", "dead"}
    assert all(d["state"] == "delivered" for d in default["deliveries"])
    return data


def _resolve(data: Any, path: str) -> tuple[Any, str | int, str]:
    """(container, key, the path with concrete indices) of `path` in `data`."""
    node, key, shown = None, None, ""
    parent: Any = data
    for name, index in TOKEN.findall(path):
        if key is not None:
            parent = parent[key]
        if name:
            key, shown = name, f"{shown}.{name}" if shown else name
            continue
        if index == "P":
            key = next(i for i, d in enumerate(parent) if d["state"] == "pending")
        else:
            key = int(index) % len(parent)
        shown += f"[{key}]"
    node = parent
    assert key is not None
    return node, key, shown


def set_(path: str, value: Any) -> Edit:
    def edit(data: dict[str, Any]) -> str:
        node, key, shown = _resolve(data, path)
        node[key] = value
        return shown

    return edit


def drop(path: str) -> Edit:
    def edit(data: dict[str, Any]) -> str:
        node, key, shown = _resolve(data, path)
        del node[key]
        return shown

    return edit


def add(path: str, key: str, value: Any, index: int | None = None) -> Edit:
    """A key the schema does not know, in the object at `path` (or at `path[index]`)."""

    def edit(data: dict[str, Any]) -> str:
        node, where, shown = _resolve(data, path)
        target = node[where] if index is None else node[where][index]
        target[key] = value
        return f"{shown}{'' if index is None else f'[{index}]'}.{key}"

    return edit


def same_as(path: str, source: str) -> Edit:
    """Give `path` the value `source` holds (a repeated id)."""

    def edit(data: dict[str, Any]) -> str:
        from_node, from_key, _ = _resolve(data, source)
        node, key, shown = _resolve(data, path)
        node[key] = copy.deepcopy(from_node[from_key])
        return shown

    return edit


def at(where: str, edit: Edit) -> Edit:
    """`edit`, whose error is named at `where` (a rule across keys, or a deeper place)."""

    def named(data: dict[str, Any]) -> str:
        edit(data)
        return where

    return named


def both(first: Edit, second: Edit) -> Edit:
    """Two edits; the error names the second one's path."""

    def edit(data: dict[str, Any]) -> str:
        first(data)
        return second(data)

    return edit


def live_leg_in_ended_broadcast(data: dict[str, Any]) -> str:
    leg = data["projects"][0]["broadcasts"][1]["legs"][1]
    leg.update(state="connected", ended_ms=None, reason="")
    return "projects[0].broadcasts[1].targets[1].result"


def as_version_1(data: dict[str, Any]) -> str:
    """A version 1 file (one world) made from the default project, with a bad leg state."""
    world = data["projects"][0]
    data.clear()
    data.update(format="broadcast-emulator-state", version=1)
    data.update({k: v for k, v in world.items() if k not in ("app_id", "app_key", "settings")})
    data["broadcasts"][0]["legs"][2]["state"] = "sideways"
    return "broadcasts[0].legs[2].state"


B0 = "projects[0].broadcasts[0]"
CMD = f"{B0}.command"
LEG0 = f"{B0}.legs[0]"
PENDING = "projects[2].deliveries[P]"
SETTINGS = "projects[2].settings"

CASES: list[tuple[str, Edit]] = [
    # what the issue found accepted silently, or answered with a 500 later
    ("payload-is-a-list", set_(f"{PENDING}.payload", ["state", "connected"])),
    ("url-is-an-int", set_(f"{PENDING}.url", 8080)),
    ("url-not-http", set_(f"{PENDING}.url", "ftp://127.0.0.1/event")),
    ("url-port-out-of-range", set_(f"{PENDING}.url", "http://127.0.0.1:99999/call")),
    ("event-url-missing-host", set_(f"{CMD}.event_url", "http:///event")),
    # enum values
    ("leg-state", set_(f"{LEG0}.state", "flying")),
    ("broadcast-state", set_(f"{B0}.state", "paused")),
    ("delivery-state", set_(f"{PENDING}.state", "sent")),
    ("result-reason", at(f"{B0}.targets[0].result.reason",
                         set_(f"{B0}.targets[0].result", {"code": "failed", "reason": "Bored"}))),
    ("result-pair", set_(f"{B0}.targets[0].result.reason", "Busy")),
    ("clock-mode", set_(f"{SETTINGS}.clock", "sometimes")),
    # types, keys
    ("created-ms-string", set_(f"{B0}.created_ms", "yesterday")),
    ("plays-bool", set_(f"{LEG0}.plays", True)),
    ("completion-sent-int", set_(f"{B0}.completion_sent", 1)),
    ("attempt-status-string", set_("projects[0].deliveries[0].attempts[0].status", "200")),
    ("missing-key", drop("projects[0].broadcasts[1].completion_sent")),
    ("missing-counter", drop("projects[1].delivery_counters.dead")),
    ("unknown-key-in-leg", add(f"{B0}.legs[2]", "mood", "cheerful")),
    ("unknown-key-in-project", add("projects", "colour", "red", index=1)),
    ("unknown-setting", add("projects[1].settings", "colour", "red")),
    ("unknown-key-with-a-newline",  # the message stays one line: the key is quoted, escaped
     at('projects[1].settings["colour\\nred"]', add("projects[1].settings", "colour\nred", 1))),
    ("recipient-not-a-number", set_(f"{CMD}.recipients[0].number", "hello")),
    # numbers out of range
    ("negative-attempts", set_(f"{B0}.targets[0].attempts", -1)),
    ("absurd-now", set_("projects[1].now_ms", 10**20)),
    ("absurd-max-attempts", set_(f"{CMD}.max_attempts", 10**9)),
    ("negative-latency", set_("projects[0].deliveries[0].attempts[0].latency_ms", -5)),
    ("negative-outage", add("projects[0].deliveries[0].attempts", "outage_s", -1.0, index=0)),
    # references and counts that would break the emulator later
    ("leg-index-out-of-range", set_(f"{B0}.legs[3].index", 99)),
    ("voice-id-repeats", same_as(f"{B0}.legs[1].voice_id", f"{LEG0}.voice_id")),
    ("voice-id-repeats-across-broadcasts",
     same_as("projects[0].broadcasts[1].legs[0].voice_id", f"{LEG0}.voice_id")),
    ("broadcast-id-repeats",
     same_as("projects[0].broadcasts[1].broadcast_id", f"{B0}.broadcast_id")),
    ("id-counter-behind", set_("projects[0].broadcast_ids_made", 1)),
    ("delivery-seq-repeats",
     same_as("projects[0].deliveries[1].seq", "projects[0].deliveries[0].seq")),
    ("attempt-gap", set_(f"{B0}.legs[3].attempt", 3)),
    ("target-attempts", set_(f"{B0}.targets[2].attempts", 2)),
    ("targets-for-recipients", at(f"{B0}.targets", drop(f"{B0}.targets[1]"))),
    ("ended-with-number-unfinished", set_(f"{B0}.targets[2].result", None)),
    ("live-leg-in-ended-broadcast", live_leg_in_ended_broadcast),
    ("ended-before-created", set_(f"{B0}.ended_ms", 1000)),
    ("running-with-end", set_("projects[2].broadcasts[0].ended_ms", 1767258000000)),
    ("delivered-without-attempt",
     at("projects[0].deliveries[0].state", set_("projects[0].deliveries[0].attempts", []))),
    ("dead-without-attempt",
     both(set_(f"{PENDING}.attempts", []), set_(f"{PENDING}.state", "dead"))),
    ("seed-differs", set_("projects[2].seed", 8)),
    # projects
    ("app-id-repeats", same_as("projects[2].app_id", "projects[1].app_id")),
    ("app-id-cannot-name-a-project", set_("projects[1].app_id", "team/b")),
    ("no-projects", set_("projects", [])),
    ("settings-speed-zero", set_(f"{SETTINGS}.speed", 0)),
    ("settings-start", set_(f"{SETTINGS}.start", "yesterday")),
    ("settings-cipher", set_(f"{SETTINGS}.webhook_encryption", "rot13")),
    ("settings-format", set_(f"{SETTINGS}.webhook_format", "morse")),
    # JSON values anywhere
    ("custom-data-too-deep", at(f"{CMD}.custom_data" + "[0]" * 64,
                                set_(f"{CMD}.custom_data", json.loads("[" * 70 + "]" * 70)))),
    ("version-3", set_("version", 3)),
    ("format-other", set_("format", "another-tool")),
    ("version-1-file", as_version_1),
]  # fmt: skip

# text-level damage: (id, change to the file's text, start of the path in the message)
RAW: list[tuple[str, Callable[[str], str], str]] = [
    ("truncated", lambda text: text[: len(text) // 2], "line 1 column"),
    ("not-an-object", lambda text: f"[{text}]", "(top level)"),
    ("nan", lambda text: re.sub(r'"latency_ms":[-0-9.e]+', '"latency_ms":NaN', text, count=1),
     "projects[0].deliveries[0].attempts[0].latency_ms: "),
    ("infinity", lambda text: text.replace('"speed":1.0', '"speed":-Infinity', 1),
     "projects[0].settings.speed: "),
    ("repeated-key", lambda text: text.replace('"state":', '"state":"x","state":', 1),
     "projects[0].broadcasts[0].state: "),
    ("lone-surrogate", lambda text: text.replace('"name":"', '"name":"\\ud800', 1),
     "projects[0].broadcasts[0].command.name: "),
    ("nested-too-deeply", lambda text: "[" * 100_000 + "]" * 100_000, "(top level): "),
    ("huge-integer", lambda text: text.replace('"seed":0', '"seed":' + "9" * 5000, 1),
     "(top level): "),
    ("empty", lambda text: "", "line 1 column 1: "),
]  # fmt: skip


async def _serve_once(path: Path) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `serve --state-file path`; AssertionError if it serves."""
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "emulator", "serve", "--port", "0", "--clock", "manual"],
        *["--state-file", str(path)],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    if line:  # its start line: the file was accepted
        proc.kill()
        await proc.wait()
        raise AssertionError(f"serve accepted {path.name} and served it: {line.decode()!r}")
    err = await proc.stderr.read()
    return await proc.wait(), "", err.decode()


def assert_refused(path: Path, where: str) -> str:
    code, out, err = asyncio.run(_serve_once(path))
    lines = err.splitlines()
    assert code == 2, out + err
    assert "Traceback" not in err and out == ""
    assert len(lines) == 1, err
    assert lines[0].startswith(f"state file {path}: {where}"), lines[0]
    return lines[0]


@pytest.mark.parametrize(("name", "edit"), CASES, ids=[c[0] for c in CASES])
def test_a_damaged_state_file_stops_start_up(
    saved: dict[str, Any], tmp_path: Path, name: str, edit: Edit
) -> None:
    data = copy.deepcopy(saved)
    where = edit(data)
    path = tmp_path / "state.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert_refused(path, where + ": ")
    assert json.loads(path.read_text()) == data  # the file is left as it was


@pytest.mark.parametrize(("name", "change", "where"), RAW, ids=[r[0] for r in RAW])
def test_damaged_json_stops_start_up(
    saved: dict[str, Any], tmp_path: Path, name: str, change: Callable[[str], str], where: str
) -> None:
    path = tmp_path / "state.json"
    text = change(json.dumps(saved, separators=(",", ":")))
    path.write_text(text, encoding="utf-8")
    assert_refused(path, where)


def test_not_utf8_stops_start_up(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    raw = b'{"format": "broadcast-emulator-state", "version": 2, "\xff": 1}'
    path.write_bytes(raw)
    offset = raw.index(b"\xff")
    assert "UTF-8" in assert_refused(path, f"byte {offset}: ")


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) + len(RAW) >= 24
