"""The state file's schema, one per file version: every key, its type and range, and the rules
across keys that the emulator's own state always keeps.

`validate(data)` checks a parsed file whole before anything is restored and raises `Invalid` at
the first thing out of place (`projects[1].broadcasts[0].legs[3].state: must be one of ...`).
A rule is here when breaking it would make the restored emulator wrong later: a leg whose
number does not exist, a voice id used twice, a broadcast that ended with numbers unfinished (its
report would count them in progress forever), an id counter behind the saved broadcasts (new ids
would repeat old ones). A new file format gets a new `VERSION` and its own entry in `SCHEMAS`;
the old entries stay, so files written by earlier emulators are still read.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from emulator.domain.models import BroadcastState, LegState
from emulator.projects import PROJECT_SETTINGS, check_app_id, project_changes
from emulator.sim.clock import ClockMode, parse_iso
from emulator.state_nodes import (
    Arr,
    Bool,
    Const,
    Int,
    Invalid,
    Json,
    Node,
    Num,
    Obj,
    Opt,
    Problem,
    Str,
    Url,
    check_object,
    shown,
)
from emulator.webhooks.crypto import FORMATS, BodyEncoder

__all__ = ["FORMAT", "SCHEMAS", "VERSION", "Invalid", "validate"]

FORMAT = "broadcast-emulator-state"
VERSION = 2  # the version this emulator writes

# -- values ---------------------------------------------------------------------------------
INSTANT = Int(-62_135_596_800_000, 253_402_300_799_999)  # ms of 0001-01-01 .. 9999-12-31
ISO = Str(max_len=40, parse=parse_iso)
ID = Str(pattern=re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}"))
NUMBER = Str(pattern=re.compile(r"\+?\d{4,20}"))  # a phone number as the API normalises it
COUNT = Int(0, 10**15)
TEXT = Opt(Str())
LEG_STATES = tuple(s.value for s in LegState)
LIVE = frozenset(LEG_STATES) - {LegState.DISCONNECTED.value}
ENDED = frozenset({BroadcastState.COMPLETED.value, BroadcastState.STOPPED.value})
REASONS = ("success", "Busy", "NoAnswer", "AMD", "Invalid", "Stopped")


def _rule_play(play: Mapping[str, Any]) -> Iterator[Problem]:
    if play["text"] is None and play["prompt_name"] is None and play["prompt_ref"] is None:
        yield ("text",), "a play needs text, prompt_name or prompt_ref"


PLAY = Obj(
    {
        "text": TEXT,
        "voice": TEXT,
        "language": TEXT,
        "prompt_name": TEXT,
        "prompt_ref": TEXT,
        "dtmf": Bool(),
    },
    (_rule_play,),
)
COMMAND = Obj(
    {
        "name": Str(),
        "owner_ref": TEXT,
        "from_number": NUMBER,
        "recipients": Arr(Obj({"number": NUMBER, "play": Opt(PLAY), "custom_data": Json()}), 1),
        "play": Opt(PLAY),
        "retry_interval_ms": Int(0, 86_400_000_000),
        "max_attempts": Int(1, 101),
        "event_url": Url(),
        "call_handler_url": Opt(Url()),
        "family": Str(choices=("documented", "2020", "2023", "v2")),
        "completion_state": Opt(Str(choices=("broadcastcomplete", "broadcastcall_complete"))),
        "custom_data": Json(),
    }
)


def _rule_result(result: Mapping[str, Any]) -> Iterator[Problem]:
    if (result["code"] == "success") != (result["reason"] == "success"):
        yield ("reason",), f"{result['reason']!r} does not go with code {result['code']!r}"


RESULT = Obj(
    {"code": Str(choices=("success", "failed")), "reason": Str(choices=REASONS)}, (_rule_result,)
)


def _rule_leg(leg: Mapping[str, Any]) -> Iterator[Problem]:
    live = leg["state"] in LIVE
    if live != (leg["ended_ms"] is None):
        yield ("ended_ms",), "must be null while the call is live, and only then"
    elif live == bool(leg["reason"]):
        yield ("reason",), "must be empty while the call is live, and only then"
    elif live and leg["answered"] != (leg["state"] == "connected"):
        yield ("answered",), f"does not go with state {leg['state']!r}"
    elif leg["ended_ms"] is not None and leg["ended_ms"] < leg["started_ms"]:
        yield ("ended_ms",), "is before started_ms"


LEG = Obj(
    {
        "voice_id": ID,
        "index": Int(0, 10**8),
        "attempt": Int(1, 101),
        "state": Str(choices=LEG_STATES),
        "answered": Bool(),
        "reason": Str(max_len=64),
        "plays": COUNT,
        "bridges": COUNT,
        "menus": COUNT,
        "started_ms": INSTANT,
        "ended_ms": Opt(INSTANT),
    },
    (_rule_leg,),
)


def _rule_numbers(b: Mapping[str, Any]) -> Iterator[Problem]:
    """One target per recipient; every leg names one of them; each number's calls are attempts
    1, 2, ... in order, only the last may be live, and a number with a result has none live."""
    targets, recipients = b["targets"], b["command"]["recipients"]
    if len(targets) != len(recipients):
        yield ("targets",), f"holds {len(targets)} entries for {len(recipients)} recipients"
        return
    last: dict[int, tuple[int, bool, int]] = {}  # index -> (attempt, live, k) of its last call
    for k, leg in enumerate(b["legs"]):
        index, attempt = leg["index"], leg["attempt"]
        if index >= len(targets):
            yield ("legs", k, "index"), f"is {index}: the broadcast has {len(targets)} numbers"
            return
        before = last.get(index, (0, False, -1))
        if attempt != before[0] + 1:
            expected = before[0] + 1
            yield ("legs", k, "attempt"), f"must be {expected} (number {index}'s calls count up)"
            return
        if before[1]:
            yield ("legs", before[2], "state"), f"is live, but attempt {attempt} came after it"
            return
        last[index] = (attempt, leg["state"] in LIVE, k)
    yield from _rule_targets(b, last)


def _rule_targets(
    b: Mapping[str, Any], last: Mapping[int, tuple[int, bool, int]]
) -> Iterator[Problem]:
    ended = b["state"] in ENDED
    for i, target in enumerate(b["targets"]):
        calls, live, _ = last.get(i, (0, False, -1))
        if target["attempts"] != calls:
            yield ("targets", i, "attempts"), f"is {target['attempts']}, but {calls} saved calls"
        elif target["result"] is not None and live:
            yield ("targets", i, "result"), "is set while the number's call is live"
        elif target["result"] is None and ended:
            yield ("targets", i, "result"), f"is null, but the broadcast is {b['state']}"
        else:
            continue
        return


def _rule_broadcast(b: Mapping[str, Any]) -> Iterator[Problem]:
    ended, ended_ms = b["state"] in ENDED, b["ended_ms"]
    if ended != (ended_ms is not None):
        yield ("ended_ms",), f"must be set once the broadcast ended, and only then ({b['state']})"
    elif ended_ms is not None and ended_ms < b["created_ms"]:
        yield ("ended_ms",), "is before created_ms"
    elif b["completion_sent"] and not ended:
        yield ("completion_sent",), f"is true, but the broadcast is {b['state']}"
    else:
        for k, leg in enumerate(b["legs"]):
            if leg["started_ms"] < b["created_ms"]:
                yield ("legs", k, "started_ms"), "is before the broadcast was created"
                return


BROADCAST = Obj(
    {
        "broadcast_id": ID,
        "command": COMMAND,
        "created_ms": INSTANT,
        "ended_ms": Opt(INSTANT),
        "state": Str(choices=tuple(s.value for s in BroadcastState)),
        "completion_sent": Bool(),
        "targets": Arr(Obj({"attempts": Int(0, 101), "result": Opt(RESULT)})),
        "legs": Arr(LEG),
    },
    (_rule_broadcast, _rule_numbers),
)
ATTEMPT = Obj(
    {
        "status": Opt(Int(100, 999)),
        "error": TEXT,
        "latency_ms": Num(0, 1e12),
        "at": ISO,
        "real_at": Num(0, 1e11),
    },
    # an attempt that rode out an outage with the clock held: how long, how many requests
    optional={"outage_s": Num(0, 1e9), "probes": Int(0, 10**9)},
)


def _rule_delivery(d: Mapping[str, Any]) -> Iterator[Problem]:
    attempts = d["attempts"]
    succeeded = bool(attempts) and 200 <= (attempts[-1]["status"] or 0) < 300
    if d["state"] == "dead" and not attempts:
        yield ("state",), "is dead, but no attempt was made"
    elif d["state"] == "delivered" and not succeeded:
        yield ("state",), "is delivered, but its last attempt did not succeed"


DELIVERY = Obj(
    {
        "seq": Int(1, 10**15),
        "channel": Str(min_len=1, max_len=300),
        "url": Url(),
        "payload": Json(objects_only=True),
        "virtual_ms": INSTANT,
        "state": Str(choices=("pending", "delivered", "dead")),
        "attempts": Arr(ATTEMPT),
    },
    (_rule_delivery,),
)


def _rule_world(w: Mapping[str, Any]) -> Iterator[Problem]:
    """Ids never repeat (broadcast ids, voice ids, delivery numbers) and the id counter covers
    every saved broadcast."""
    made, broadcasts = w["broadcast_ids_made"], w["broadcasts"]
    if made < len(broadcasts):
        yield ("broadcast_ids_made",), f"is {made} for {len(broadcasts)} broadcasts: ids repeat"
        return
    ids: dict[str, int] = {}
    voices: dict[str, tuple[int, int]] = {}
    for j, b in enumerate(broadcasts):
        if ids.setdefault(b["broadcast_id"], j) != j:
            first_j = ids[b["broadcast_id"]]
            yield ("broadcasts", j, "broadcast_id"), f"repeats broadcasts[{first_j}].broadcast_id"
            return
        for k, leg in enumerate(b["legs"]):
            first = voices.setdefault(leg["voice_id"], (j, k))
            if first != (j, k):
                yield (
                    ("broadcasts", j, "legs", k, "voice_id"),
                    (f"repeats broadcasts[{first[0]}].legs[{first[1]}].voice_id"),
                )
                return
    seq = 0
    for j, d in enumerate(w["deliveries"]):
        if d["seq"] <= seq:
            yield ("deliveries", j, "seq"), f"is {d['seq']}: must be above the one before ({seq})"
            return
        seq = d["seq"]


WORLD: dict[str, Node] = {
    "seed": Int(),
    "now_ms": INSTANT,
    "broadcast_ids_made": Int(0, 10**12),
    "broadcasts": Arr(BROADCAST),
    "deliveries": Arr(DELIVERY),
    "delivery_counters": Obj({"delivered": COUNT, "dead": COUNT, "dropped": COUNT}),
}


def _rule_settings(s: Mapping[str, Any]) -> Iterator[Problem]:
    """Each setting parses as its serve flag does, and the world can be built with them."""
    for key in PROJECT_SETTINGS:
        try:
            project_changes({key: s[key]})
        except ValueError as exc:
            yield (key,), str(exc).removeprefix(f"{key}: ")
            return
    try:
        BodyEncoder(s["webhook_encryption"], "app-id", s["webhook_format"])
    except ValueError as exc:
        yield ("webhook_encryption",), str(exc)


# types here; values as the serve flags parse them (_rule_settings), so that whatever a flag
# accepts, a file written with it is read back
ANY_NUMBER = Num(-math.inf, math.inf)  # finite
SETTINGS = Obj(
    {
        "clock": Str(choices=tuple(m.value for m in ClockMode)),
        "seed": Int(),
        "start": ISO,
        "settle_ms": ANY_NUMBER,
        "speed": ANY_NUMBER,
        "dial_rate": Int(),
        "cli_numbers": Arr(Str()),
        "webhook_encryption": Str(),
        "webhook_format": Str(choices=FORMATS),
        "webhook_attempts": Int(),
        "webhook_backoff_s": ANY_NUMBER,
        "completion_state": TEXT,
    },
    (_rule_settings,),
)


def _rule_project(p: Mapping[str, Any]) -> Iterator[Problem]:
    try:
        check_app_id(p["app_id"])
    except ValueError as exc:
        yield ("app_id",), str(exc)
        return
    if p["seed"] != p["settings"]["seed"]:
        yield ("seed",), f"is {p['seed']}, but settings.seed is {p['settings']['seed']}"


PROJECT = Obj(
    {"app_id": Str(), "app_key": Str(), "settings": SETTINGS, **WORLD},
    (_rule_project, _rule_world),
)


def _rule_projects(root: Mapping[str, Any]) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    for j, project in enumerate(root["projects"]):
        first = seen.setdefault(project["app_id"], j)
        if first != j:
            yield ("projects", j, "app_id"), f"repeats projects[{first}].app_id"
            return


SCHEMAS: dict[int, Obj] = {
    # version 1: one world, before projects (restored as the default project)
    1: Obj({"format": Const(FORMAT), "version": Const(1), **WORLD}, (_rule_world,)),
    # version 2: every project, each with its credentials and own settings
    2: Obj(
        {"format": Const(FORMAT), "version": Const(2), "projects": Arr(PROJECT, 1)},
        (_rule_projects,),
    ),
}


def validate(data: Any) -> int:
    """Check a parsed state file whole against the schema of its version; returns the version.
    Raises `Invalid` at the first thing out of place."""
    check_object(data, "a JSON object")
    for key in ("format", "version"):
        if key not in data:
            raise Invalid("missing: this is not a broadcast-emulator state file", [key])
    try:
        Const(FORMAT).check(data["format"])
    except Invalid as exc:
        raise exc.under("format") from None
    version = data["version"]
    if type(version) is not int or version not in SCHEMAS:
        known = ", ".join(str(v) for v in SCHEMAS)
        raise Invalid(f"is {shown(version)}; this emulator reads versions {known}", ["version"])
    SCHEMAS[version].check(data)
    return int(version)
