"""One readable line per stream message, shared by the serve log and `broadcast-emulator tail`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["clock_time", "describe"]


def clock_time(iso: Any) -> str:
    """`HH:MM:SS.mmm` of an ISO instant (the virtual clock's time of day)."""
    text = str(iso or "")
    return text[11:23] if len(text) >= 23 else text


def _call(d: Mapping[str, Any]) -> str:
    return f"{d.get('number', '?')} #{d.get('attempt', '?')}"


def _request(d: Mapping[str, Any]) -> str:
    line = f"{d.get('method')} {d.get('path')} -> {d.get('status')}"
    return line + (f" ({d['dialect']})" if d.get("dialect") else "")


def _call_event(d: Mapping[str, Any]) -> str:
    p = d.get("payload") or {}
    event = d.get("event")
    kind = "play " if "playstate" in p else ""
    extra = []
    if p.get("reason"):
        extra.append(f"reason {p['reason']}")
    if p.get("digits"):
        extra.append(f"digits {p['digits']}")
    if event in ("bridging", "bridged", "bridge_failed") and p.get("to"):
        extra.append(f"to {p['to']}")
    details = f" ({', '.join(extra)})" if extra else ""
    return f"{_call(d)} {kind}{event}{details}  [{d.get('voice_id')}]"


def _webhook(d: Mapping[str, Any]) -> str:
    where = f"webhook {d.get('event')} -> {d.get('url')}"
    if d.get("delivery_state") == "delivered":
        return f"{where}: {d.get('status')} in {d.get('latency_ms')} ms"
    why = d.get("error") or f"status {d.get('status')}"
    n, m = d.get("attempt_no"), d.get("attempts_max")
    after = "given up" if d.get("delivery_state") == "dead" else "will retry"
    return f"{where} failed: {why} (attempt {n} of {m}, {after})"


def _broadcast(d: Mapping[str, Any]) -> str:
    p = d.get("progress") or {}
    s = d.get("by_state") or {}
    head = f"broadcast {d.get('broadcast_id')} {d.get('name')!r}"
    total = p.get("total", 0)
    change = d.get("change")
    if change == "created":
        return f"{head} created: {total:,} numbers"
    if change == "progress":
        return (
            f"{head}: {p.get('finished', 0):,}/{total:,} finished, "
            f"{s.get('connected', 0):,} connected, {s.get('ringing', 0):,} ringing, "
            f"{s.get('queued', 0):,} queued"
        )
    return (
        f"{head} {change}: {total:,} numbers, {p.get('successful', 0):,} successful, "
        f"{p.get('failed', 0):,} failed, {p.get('attempts', 0):,} attempts"
    )


def _clock(d: Mapping[str, Any]) -> str:
    if d.get("change") == "jump":
        moved = f"{clock_time(d.get('from'))} -> {clock_time(d.get('now'))}"
        return f"clock {moved} ({d.get('pending')} timers pending)"
    return f"clock {d.get('change')}: {d.get('mode')} at {d.get('now')}"


def _waiting(d: Mapping[str, Any]) -> str:
    what = d.get("waiting_for")
    if what is None:
        return f"{_call(d)} no longer waits for a person  [{d.get('voice_id')}]"
    return f"{_call(d)} waits for you to {what}: POST /_emulator/calls/{d.get('voice_id')}/{what}"


def _hello(d: Mapping[str, Any]) -> str:
    c = d.get("clock") or {}
    return (
        f"watching project {d.get('project')}: clock {c.get('mode')} at {c.get('now')}, "
        f"{c.get('pending')} timers pending"
    )


def _dropped(d: Mapping[str, Any]) -> str:
    if d.get("reason") == "busy":
        return (
            f"{d.get('count')} messages of other calls left out: the emulator is busy: "
            f"1 call in {d.get('sample')} is shown"
        )
    return f"{d.get('count')} messages dropped: this reader fell behind"


_LINES = {
    "request": _request,
    "call": _call_event,
    "webhook": _webhook,
    "broadcast": _broadcast,
    "clock": _clock,
    "waiting": _waiting,
    "hello": _hello,
    "dropped": _dropped,
}


def describe(data: Mapping[str, Any]) -> str:
    """The message as one line of text (without its time)."""
    line = _LINES.get(str(data.get("type")))
    return line(data) if line is not None else f"{data.get('type')}: {dict(data)}"
