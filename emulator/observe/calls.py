"""`GET /_emulator/calls` and `GET /_emulator/calls/{voice_id}`: the calls of one world, and one
call in full with the triggers a person may use on it now."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from emulator.domain.models import CallLeg, LegState
from emulator.errors import BadRequest
from emulator.observe.timeline import Sources, attempt_json

if TYPE_CHECKING:
    from emulator.world import World

__all__ = ["TRIGGERS", "call_detail", "calls_answer"]

TRIGGERS = ("answer", "reject", "press", "hangup")
MAX_CALLS = 1000
_TRUE = ("1", "true", "yes", "on")


def _flag(query: Mapping[str, str], name: str) -> bool:
    raw = query.get(name, "").strip().lower()
    if raw not in ("", "0", "false", "no", "off", *_TRUE):
        raise BadRequest(f"{name} must be true or false, not {raw[:40]!r}")
    return raw in _TRUE


def _limit(query: Mapping[str, str]) -> int:
    raw = query.get("limit", "")
    if raw == "":
        return 100
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"limit must be a whole number, not {raw[:40]!r}") from None
    if value < 1:
        raise BadRequest("limit must be at least 1")
    return min(value, MAX_CALLS)


def since_ms(world: World, leg: CallLeg) -> int:
    """When the call's current state (or its wait for a person) began."""
    what = world.service.waiting.get(leg.voice_id)
    if what == "press" and leg.menu_ms is not None:
        return leg.menu_ms
    if leg.state is LegState.DISCONNECTED and leg.ended_ms is not None:
        return leg.ended_ms
    if leg.state is LegState.CONNECTED and leg.answered_ms is not None:
        return leg.answered_ms
    return leg.started_ms


def call_row(world: World, leg: CallLeg) -> dict[str, Any]:
    return {
        "voice_id": leg.voice_id,
        "broadcast_id": leg.broadcast.broadcast_id,
        "number": leg.target.number,
        "attempt": leg.attempt,
        "state": leg.state.value,
        "waiting_for": world.service.waiting.get(leg.voice_id),
        "since": world.clock.iso(since_ms(world, leg)),
    }


def calls_answer(world: World, query: Mapping[str, str]) -> dict[str, Any]:
    """`?waiting=true`: calls waiting for a person first (longest waiting first), then the other
    live calls; `?live=true`: live calls only; neither: the newest calls. `limit` (100)."""
    waiting, live, limit = _flag(query, "waiting"), _flag(query, "live"), _limit(query)
    broadcast_id = query.get("broadcast_id") or None
    service = world.service
    chosen: list[CallLeg] = []
    if waiting:
        legs = world.store.legs
        first = sorted(
            (leg for v in service.waiting if (leg := legs.get(v)) is not None),
            key=lambda leg: since_ms(world, leg),
        )
        chosen = _take(first, limit, broadcast_id)
    if waiting or live:
        rest = (leg for leg in service.live.values() if leg.voice_id not in service.waiting)
        chosen += _take(rest, limit - len(chosen), broadcast_id)
    else:
        chosen = _take(reversed(world.store.legs.values()), limit, broadcast_id)
    return {
        "calls": [call_row(world, leg) for leg in chosen],
        "waiting": len(service.waiting),
        "live": len(service.live),
    }


def _take(legs: Iterable[CallLeg], limit: int, broadcast_id: str | None) -> list[CallLeg]:
    out: list[CallLeg] = []
    for leg in legs:
        if len(out) >= limit:
            break
        if broadcast_id is None or leg.broadcast.broadcast_id == broadcast_id:
            out.append(leg)
    return out


def call_detail(world: World, voice_id: str) -> dict[str, Any]:
    """One attempt as the timeline shows it, with every payload, and the triggers allowed now."""
    leg = world.service.leg(voice_id)
    sources = Sources(world, {voice_id})
    body = attempt_json(sources, leg, payloads=True)
    refusals = {t: world.service.refusal(leg, t) for t in TRIGGERS}
    target = leg.target
    body.update(
        broadcast_id=leg.broadcast.broadcast_id,
        number=target.number,
        attempts_so_far=target.attempts,
        result=target.result.reason if target.result is not None else None,
        since=world.clock.iso(since_ms(world, leg)),
        allowed=[t for t in TRIGGERS if refusals[t] is None],
        reasons={t: reason for t, reason in refusals.items() if reason is not None},
    )
    return body
