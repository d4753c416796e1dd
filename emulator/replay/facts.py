"""What a finished replay knows, read from the emulator it ran against: each broadcast, each
number's result, attempts and end, the webhooks, and the summary table's figures."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from emulator.replay.client import ScriptClient
from emulator.replay.expect import RunFacts, seconds_since
from emulator.replay.record import EventRecorder, parse_ms
from emulator.scenario.model import Scenario

if TYPE_CHECKING:  # the world the testing kit serves; only its public attributes are read
    from emulator.world import World

__all__ = ["collect_facts", "record_delivery_log", "summary"]


def record_delivery_log(em: World, recorder: EventRecorder) -> None:
    """With an external app, the events are what the emulator delivered (its delivery log)."""
    for delivery in em.dispatcher.log:
        if delivery.state == "delivered":
            arrived = parse_ms(delivery.attempts[-1].at) if delivery.attempts else None
            recorder.add(_path_of(delivery.url), delivery.payload, arrived)


def _path_of(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return "/" + rest.split("/", 1)[1] if "/" in rest else "/"


def _row(name: str, target: Any, origin_ms: int) -> dict[str, Any]:
    leg = target.leg
    return {
        "broadcast": name,
        "number": target.number,
        "result": target.result.reason if target.result else "unfinished",
        "attempts": target.attempts,
        "ended_at_s": seconds_since(origin_ms, leg.ended_ms if leg is not None else None),
    }


def collect_facts(
    scenario: Scenario,
    em: World,
    client: ScriptClient,
    recorder: EventRecorder,
    outcome: tuple[bool, str],
    origin_ms: int,
) -> RunFacts:
    broadcasts: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for spec in scenario.broadcasts:
        bid = client.broadcast_ids.get(spec.name)
        b = em.store.broadcasts.get(bid) if bid is not None else None
        if b is None:
            continue
        broadcasts.append(
            {
                "name": spec.name,
                "broadcast_id": bid,
                "state": b.state.value,
                "successful": b.successful,
                "failed": b.failed,
                "total": len(b.targets),
                "attempts": b.attempts,
                "completion_sent": b.completion_sent,
            }
        )
        rows.extend(_row(spec.name, target, origin_ms) for target in b.targets)
    numbers: dict[str, dict[str, Any]] = {}
    for row in rows:
        numbers.setdefault(row["number"], row)
    results = Counter(row["result"] for row in rows)
    finished, reason = outcome
    # the run ended when the last completion event arrived; if one never arrived (given up),
    # when the runner saw that nothing more would happen
    every_one = recorder.completions >= len(broadcasts)
    end_ms = recorder.last_completion_ms if finished and every_one else None
    virtual_s = seconds_since(origin_ms, end_ms if end_ms is not None else em.clock.now_ms)
    d = em.dispatcher
    return RunFacts(
        finished, reason, virtual_s or 0.0, broadcasts, numbers, results, recorder, d.dead,
        d.pending, list(client.errors), origin_ms, rows,
    )  # fmt: skip


def summary(scenario: Scenario, em: World, facts: RunFacts, wall_s: float) -> dict[str, Any]:
    return {
        "scenario": scenario.name,
        "seed": em.settings.seed,
        "numbers": sum(b["total"] for b in facts.broadcasts),
        "calls_by_outcome": dict(sorted(facts.results.items())),
        "attempts": sum(b["attempts"] for b in facts.broadcasts),
        "events": facts.recorder.total,
        "events_by_type": dict(sorted(facts.recorder.by_name.items())),
        "webhooks": {
            "delivered": em.dispatcher.delivered,
            "dead": facts.webhooks_dead,
            "pending": facts.webhooks_pending,
        },
        "faults_fired": em.faults.fired_total,
        "client_errors": len(facts.client_errors),
        "virtual_start": em.clock.iso(facts.origin_ms),
        "virtual_end": em.clock.iso(facts.origin_ms + round(facts.virtual_s * 1000)),
        "virtual_s": facts.virtual_s,
        "wall_s": round(wall_s, 3),
    }
