"""`GET /_emulator/broadcasts/{id}/timeline`: per number, per attempt, what happened and when.

Built only from what the world keeps anyway: the store's targets and legs (each leg keeps when it
started, was answered, ended, and when its last menu began), the bounded delivery log (every event
sent and its delivery attempts, from which plays, menus and bridges are drawn) and the bounded
request journal (every API request and trigger that acted on a call). What has left the bounded
logs is reported as trimmed (`events_trimmed`, `requests_trimmed`), never invented.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from emulator.api.dialects import normalise_number
from emulator.domain.behaviour import Outcome
from emulator.domain.models import Broadcast, CallLeg, Target
from emulator.errors import BadRequest
from emulator.observe.bus import path_ids
from emulator.webhooks.delivery import Delivery, redact_url

if TYPE_CHECKING:
    from emulator.world import JournalEntry, World

__all__ = ["MAX_PAGE", "Sources", "attempt_json", "timeline_answer"]

MAX_PAGE = 1000
_UNRUNG = (Outcome.BUSY, Outcome.INVALID)  # callees that never ring
_BROADCAST_REQUESTS = 100  # the newest requests on the broadcast itself that a timeline lists


class Sources:
    """The deliveries and journal entries of a set of calls, each log read once."""

    def __init__(self, world: World, voice_ids: set[str]) -> None:
        self.world = world
        self.deliveries: dict[str, list[Delivery]] = {v: [] for v in voice_ids}
        self.requests: dict[str, list[JournalEntry]] = {v: [] for v in voice_ids}
        log = world.dispatcher.log
        self.oldest_delivery_ms = log[0].virtual_ms if log else None
        self.deliveries_dropped = world.dispatcher.dropped > 0
        wanted = self.deliveries
        for delivery in log:
            found = wanted.get(delivery.payload.get("voice_id") or "")
            if found is not None:
                found.append(delivery)
        journal = world.journal
        self.oldest_request_ms = journal[0].virtual_ms if journal else None
        self.requests_dropped = world.journal_dropped > 0
        for entry in journal:
            voice_id = _entry_voice(entry)
            if voice_id is not None and voice_id in self.requests:
                self.requests[voice_id].append(entry)


def _entry_voice(entry: JournalEntry) -> str | None:
    voice_id = path_ids(entry.path)[1]
    body = entry.body
    if voice_id is None and isinstance(body, dict) and isinstance(body.get("voice_id"), str):
        return str(body["voice_id"])
    return voice_id


def request_json(entry: JournalEntry, iso: Any) -> dict[str, Any]:
    return {
        "id": entry.seq,
        "method": entry.method,
        "path": entry.path,
        "status": entry.status,
        "virtual_time": iso(entry.virtual_ms),
    }


def event_json(delivery: Delivery, iso: Any, payload: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "event": delivery.event,
        "virtual_time": iso(delivery.virtual_ms),
        "delivery_id": delivery.seq,
        "delivery_state": delivery.state,
        "url": redact_url(delivery.url),
        "attempts": [a.as_json() for a in delivery.attempts],
    }
    if payload:
        row["payload"] = delivery.payload
    return row


def attempt_json(sources: Sources, leg: CallLeg, payloads: bool = False) -> dict[str, Any]:
    """One attempt: its segments, events (with deliveries) and the requests that acted on it."""
    world = sources.world
    iso = world.clock.iso
    deliveries = sources.deliveries.get(leg.voice_id, [])
    requests = sources.requests.get(leg.voice_id, [])
    row: dict[str, Any] = {
        "attempt": leg.attempt,
        "voice_id": leg.voice_id,
        "state": leg.state.value,
        "started_at": iso(leg.started_ms),
        "ended_at": iso(leg.ended_ms) if leg.ended_ms is not None else None,
        "reason": leg.reason or None,
        "answered": leg.answered,
        "segments": [_segment(s, iso) for s in segments(world, leg, deliveries)],
        "events": [event_json(d, iso, payloads) for d in deliveries],
        "requests": [request_json(e, iso) for e in requests],
        "waiting_for": world.service.waiting.get(leg.voice_id),
    }
    if sources.deliveries_dropped and not any(_is_leg_start(d) for d in deliveries):
        row["events_trimmed"] = True  # its first event left the log, maybe more
    oldest = sources.oldest_request_ms
    if sources.requests_dropped and (oldest is None or oldest >= leg.started_ms):
        row["requests_trimmed"] = True
    return row


def _is_leg_start(delivery: Delivery) -> bool:
    return delivery.payload.get("state") == "initiated" and "voice_id" in delivery.payload


Segment = dict[str, Any]  # state, start, end (virtual ms or None) and extra keys


def _segment(seg: Segment, iso: Any) -> dict[str, Any]:
    out = dict(seg)
    out["start"] = iso(seg["start"]) if seg["start"] is not None else None
    out["end"] = iso(seg["end"]) if seg["end"] is not None else None
    return out


def segments(world: World, leg: CallLeg, deliveries: list[Delivery]) -> list[Segment]:
    """Every state of the attempt, in order: initiated, ringing, connected (from the leg), and
    within a connected call the plays, menus and bridges (from its events)."""
    start, end = leg.started_ms, leg.ended_ms
    answered = leg.answered_ms
    if answered is None and leg.answered:  # restored from a state file: ask the events
        answered = next((d.virtual_ms for d in deliveries if d.event == "connected"), None)
    rang = leg.plan is not None and leg.plan.outcome not in _UNRUNG
    out: list[Segment] = []
    if rang:
        out.append({"state": "initiated", "start": start, "end": start})
        out.append({"state": "ringing", "start": start, "end": answered if answered else end})
    else:
        out.append({"state": "initiated", "start": start, "end": end})
    if answered is not None:
        out.append({"state": "connected", "start": answered, "end": end})
        out.extend(_inner(world, leg, deliveries))
    return out


def _inner(world: World, leg: CallLeg, deliveries: Iterable[Delivery]) -> list[Segment]:
    """Plays, menus and bridges, from the per-call events in the order they were sent."""
    out: list[Segment] = []
    current: Segment | None = None
    for delivery in deliveries:
        p, t = delivery.payload, delivery.virtual_ms
        play_state, state = p.get("playstate"), p.get("state")
        if play_state is None and state not in _BRIDGE_STATES and state != "disconnected":
            continue
        if current is not None and current["end"] is None:
            current["end"] = t
        current = None
        if play_state == "initiated":
            current = {"state": "playing", "start": t, "end": None, "play_id": p.get("play_id")}
            out.append(current)
        elif play_state in ("digitcollected", "menutimeout"):
            out.extend(_menu(world, leg, out, p, t))
        elif state in ("bridging", "bridged"):
            current = {"state": state, "start": t, "end": None, "bridge_id": p.get("bridge_id")}
            out.append(current)
    waiting = leg.play is not None and leg.play.waiting_digits and leg.menu_ms is not None
    if waiting and current is not None and current["state"] == "playing":
        current["end"] = leg.menu_ms
        out.append({"state": "menu", "start": leg.menu_ms, "end": None, "digits": None})
    return out


_BRIDGE_STATES = frozenset({"bridging", "bridged", "bridge_disconnected", "bridge_failed"})


def _menu(
    world: World, leg: CallLeg, out: list[Segment], payload: Mapping[str, Any], t: int
) -> list[Segment]:
    """The menu that ended at `t`: the play before it ends where the menu's wait began."""
    play = out[-1] if out and out[-1]["state"] == "playing" else None
    play_start = play["start"] if play is not None else None
    began = _menu_start(world, leg, payload, t, play_start)
    digits = payload.get("digits") if payload.get("playstate") == "digitcollected" else None
    if began is None:  # pressed by a person at an earlier menu: when its prompt ended is lost
        if play is not None:
            play.update(state="menu", digits=digits, prompt_included=True, end=t)
            return []
        return [{"state": "menu", "start": t, "end": t, "digits": digits}]
    if play is not None:
        play["end"] = began
    return [{"state": "menu", "start": began, "end": t, "digits": digits}]


def _menu_start(
    world: World, leg: CallLeg, payload: Mapping[str, Any], t: int, play_start: int | None
) -> int | None:
    lowest = play_start if play_start is not None else leg.started_ms
    if leg.menu_ms is not None and lowest <= leg.menu_ms <= t:
        return leg.menu_ms  # the call's last menu
    if payload.get("playstate") == "menutimeout":
        return t - world.service.timings.menu_timeout_s * 1000
    plan = leg.plan
    if plan is not None and plan.outcome is not Outcome.INTERACTIVE and plan.menu_digits:
        began = t - plan.press_after_s * 1000
        return began if began >= lowest else None
    return None


# -- the timeline of one broadcast -----------------------------------------------------------
def _page(query: Mapping[str, str]) -> tuple[int, int]:
    def whole(name: str, default: int, lowest: int) -> int:
        raw = query.get(name, "")
        if raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"{name} must be a whole number, not {raw[:40]!r}") from None
        if value < lowest:
            raise BadRequest(f"{name} must be at least {lowest}")
        return value

    return whole("offset", 0, 0), min(whole("limit", 100, 1), MAX_PAGE)


def _matching(broadcast: Broadcast, query: Mapping[str, str]) -> list[Target] | None:
    """The targets the filters keep (None: no filter, every target)."""
    number = query.get("number", "")
    state = query.get("state", "")
    result = query.get("result", "")
    if not (number or state or result):
        return None
    wanted = normalise_number(number) if number else None
    if number and wanted is None:
        raise BadRequest(f"number: not a phone number: {number[:40]!r}")
    key = wanted.lstrip("+") if wanted else None
    return [
        t
        for t in broadcast.targets
        if (key is None or t.number.lstrip("+") == key)
        and (not state or t.state == state)
        and (not result or (t.result is not None and t.result.reason == result))
    ]


def timeline_answer(world: World, broadcast_id: str, query: Mapping[str, str]) -> dict[str, Any]:
    broadcast = world.store.broadcast(broadcast_id)
    offset, limit = _page(query)
    matched = _matching(broadcast, query)
    pool = broadcast.targets if matched is None else matched
    page = pool[offset : offset + limit]
    legs = {t.index: _legs(world, t) for t in page}
    sources = Sources(world, {leg.voice_id for found in legs.values() for leg in found})
    iso = world.clock.iso
    by_state = broadcast.by_state()
    by_state["waiting"] = world.waiting_in(broadcast)
    return {
        "broadcast_id": broadcast.broadcast_id,
        "name": broadcast.name,
        "state": broadcast.state.value,
        "created_at": iso(broadcast.created_ms),
        "ended_at": iso(broadcast.ended_ms) if broadcast.ended_ms is not None else None,
        "total_numbers": len(broadcast.targets),
        "matched": len(pool),
        "offset": offset,
        "limit": limit,
        "next_offset": offset + limit if offset + limit < len(pool) else None,
        "summary": {
            "by_state": by_state,
            "by_result": broadcast.results(),
            "progress": broadcast.progress(),
        },
        "numbers": [_number(sources, t, legs[t.index]) for t in page],
        **_broadcast_requests(world, broadcast),
    }


def _legs(world: World, target: Target) -> list[CallLeg]:
    found = (world.store.legs.get(world.service.voice_id(target, n)) for n in _attempts(target))
    return [leg for leg in found if leg is not None]


def _attempts(target: Target) -> range:
    return range(1, target.attempts + 1)


def _number(sources: Sources, target: Target, legs: list[CallLeg]) -> dict[str, Any]:
    result = target.result
    return {
        "number": target.number,
        "index": target.index,
        "state": target.state,
        "result": result.reason if result is not None else None,
        "result_code": result.code if result is not None else None,
        "attempts": [attempt_json(sources, leg) for leg in legs],
    }


def _broadcast_requests(world: World, broadcast: Broadcast) -> dict[str, Any]:
    """The requests on the broadcast itself, not on one of its calls: its create, reports, stop
    (the newest 100)."""
    bid = broadcast.broadcast_id
    rows = [
        e
        for e in world.journal
        if e.seq == broadcast.journal_id
        or (path_ids(e.path)[0] == bid and _entry_voice(e) is None)  # per call: its attempt's
    ]
    iso = world.clock.iso
    oldest = world.journal[0].virtual_ms if world.journal else None
    trimmed = world.journal_dropped > 0 and (oldest is None or oldest >= broadcast.created_ms)
    return {
        "requests": [request_json(e, iso) for e in rows[-_BROADCAST_REQUESTS:]],
        "requests_total": len(rows),
        "requests_trimmed": trimmed,
    }
