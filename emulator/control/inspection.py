"""The inspection API's queries: request journal, webhook delivery log and broadcasts, filtered.

Journal and log are bounded (`--journal-size`, `--delivery-log-size`; both shown in health) and
paged with `since` (rows with an `id` greater than it, oldest first) and `limit` (at most that
many). An answer carries `next`: the `since` of the following page, or null on the last page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from emulator.errors import BadRequest
from emulator.webhooks.delivery import Delivery
from emulator.world import World

__all__ = ["DELIVERY_STATES", "Page", "broadcasts_answer", "requests_answer", "webhooks_answer"]

DELIVERY_STATES = ("delivered", "pending", "dead")
MAX_LIMIT = 100_000
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Page:
    """`since` / `limit` from the query string, validated."""

    since: int = 0
    limit: int = MAX_LIMIT

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> Page:
        return cls(_whole(query, "since", 0, 0), _whole(query, "limit", MAX_LIMIT, 1))

    def take(self, rows: Iterable[_T], seq: Callable[[_T], int]) -> tuple[list[_T], int | None]:
        """The page's rows and the `since` of the next page (None: nothing more)."""
        picked: list[_T] = []
        for row in rows:
            if seq(row) <= self.since:
                continue
            if len(picked) == self.limit:
                return picked, seq(picked[-1])
            picked.append(row)
        return picked, None


def _whole(query: Mapping[str, str], name: str, default: int, lowest: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {raw!r}") from None
    if value < lowest:
        raise BadRequest(f"{name} must be at least {lowest}")
    return min(value, MAX_LIMIT) if name == "limit" else value


def requests_answer(em: World, query: Mapping[str, str]) -> dict[str, Any]:
    """`GET /_emulator/requests`: filters `method`, `path` (substring), `status`, `dialect`."""
    page = Page.parse(query)
    method = query.get("method", "").upper()
    path = query.get("path", "")
    status = query.get("status", "")
    dialect = query.get("dialect", "")
    matching = (
        e
        for e in em.journal
        if (not method or e.method == method)
        and (not path or path in e.path)
        and (not status or str(e.status) == status)
        and (not dialect or e.dialect == dialect)
    )
    rows, after = page.take(matching, lambda e: e.seq)
    return {
        "requests": [e.as_json(em.clock.iso) for e in rows],
        "next": after,
        "dropped": em.journal_dropped,
        "size": em.journal.maxlen,
    }


def _delivery_filter(query: Mapping[str, str]) -> Callable[[Delivery], bool]:
    state = query.get("state", "")
    if state and state not in DELIVERY_STATES:
        raise BadRequest(
            f"state is the delivery state, one of {', '.join(DELIVERY_STATES)}, not {state!r}"
            " (filter event names with event=)"
        )
    broadcast = query.get("broadcast_id") or query.get("broadcast") or ""
    voice_id = query.get("voice_id", "")
    event = query.get("event", "")
    url = query.get("url", "")

    def keep(d: Delivery) -> bool:  # reads no payload: a per-call one is built when read
        return (
            (not state or d.state == state)
            and (not broadcast or d.broadcast_id == broadcast)
            and (not voice_id or d.voice_id == voice_id)
            and (not event or d.event == event)
            and (not url or url in d.url)
        )

    return keep


def webhooks_answer(em: World, query: Mapping[str, str]) -> dict[str, Any]:
    """`GET /_emulator/webhooks`: filters `broadcast_id`, `voice_id`, `state`, `event`, `url`."""
    page = Page.parse(query)
    keep = _delivery_filter(query)
    dispatcher = em.dispatcher
    rows, after = page.take((d for d in dispatcher.log if keep(d)), lambda d: d.seq)
    return {
        "deliveries": [_delivery_json(d, em) for d in rows],
        "next": after,
        "dropped": dispatcher.dropped,
        "size": dispatcher.log.maxlen,
    }


def _delivery_json(delivery: Delivery, em: World) -> dict[str, Any]:
    row = delivery.as_json(em.clock.iso)
    attempts = delivery.attempts
    row["attempt_count"] = len(attempts)
    row["last_status"] = attempts[-1].status if attempts else None
    return row


def broadcasts_answer(em: World, query: Mapping[str, str]) -> dict[str, Any]:
    """`GET /_emulator/broadcasts`: every broadcast with its progress; filter `state`."""
    iso = em.clock.iso
    state = query.get("state", "")
    rows = [
        {
            "app_instance": b.broadcast_id,
            "broadcast_id": b.broadcast_id,
            "application_name": b.name,
            "family": b.command.family,
            "state": b.state.value,
            "progress": b.progress(),
            "completion_sent": b.completion_sent,
            "created_at": iso(b.created_ms),
            "ended_at": iso(b.ended_ms) if b.ended_ms is not None else None,
        }
        for b in em.store
        if not state or b.state.value == state
    ]
    return {"broadcasts": rows}
