"""Parsing the client script: the broadcasts to create and the reactions to events."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from emulator.api.dialects import normalise_number
from emulator.scenario.limits import FileAccess
from emulator.scenario.matches import parse_event_match
from emulator.scenario.model import Action, BroadcastSpec, NumberSource, Reaction
from emulator.scenario.names import EventNames
from emulator.scenario.numbers import parse_source
from emulator.scenario.schema import Node

__all__ = ["DIALECTS", "parse_broadcasts", "parse_reactions"]

DIALECTS = ("documented", "2020", "2023", "v2")
_BROADCAST_KEYS = (
    "name", "numbers", "dialect", "from", "play", "retries", "event_path", "call_path", "body",
    "at_s", "stop_at_s",
)  # fmt: skip
_ACTIONS = ("play", "connect", "hangup", "stop", "wait")


# -- broadcasts ------------------------------------------------------------------------
def parse_broadcasts(
    node: Node | None, files: FileAccess, groups: tuple[str, ...] = ()
) -> tuple[BroadcastSpec, ...]:
    if node is None:
        return ()
    specs = []
    for child in node.elements():
        spec = _broadcast(child, files)
        if spec is None:
            continue
        if spec.numbers.kind == "group" and spec.numbers.group not in groups:
            child.error(f"unknown group {spec.numbers.group!r}; define it under groups")
        specs.append(spec)
    names = [s.name for s in specs]
    for name in {n for n in names if names.count(n) > 1}:
        node.error(f"broadcast name {name!r} is used twice")
    return tuple(specs)


def _broadcast(node: Node, files: FileAccess) -> BroadcastSpec | None:
    if not node.mapping(_BROADCAST_KEYS):
        return None
    numbers = node.get("numbers")
    if numbers is None:
        node.error("numbers is required")
    source = parse_source(numbers, files) if numbers else NumberSource("list")
    dialect = node.get("dialect")
    name = node.get("name")
    interval, retries = _retries(node.get("retries"))
    from_node = node.get("from")
    from_number = "919999999999"
    if from_node is not None:
        from_number = from_node.text()
        if normalise_number(from_number) is None:
            from_node.error(f"{from_number!r} is not a phone number")
    return BroadcastSpec(
        name=name.text() if name else f"broadcast {node.path.rsplit('[', 1)[-1].rstrip(']')}",
        numbers=source,
        dialect=(dialect.choice(DIALECTS, "dialect") if dialect else None) or "documented",
        from_number=from_number,
        play=_object(node.get("play")),
        retry_interval_s=interval,
        retries=retries,
        event_path=_path(node.get("event_path"), "/event"),
        call_path=_path(node.get("call_path"), "/call"),
        body=_object(node.get("body")) or {},
        at_s=_number(node.get("at_s")) or 0.0,
        stop_at_s=_number(node.get("stop_at_s")),
    )


def _retries(node: Node | None) -> tuple[float | None, int | None]:
    if node is None or not node.mapping(("interval_s", "count")):
        return None, None
    interval, count = node.get("interval_s"), node.get("count")
    return (
        interval.number() if interval is not None else None,
        count.integer() if count is not None else None,
    )


def _object(node: Node | None) -> dict[str, Any] | None:
    if node is None or not node.mapping():
        return None
    return dict(node.value)


def _path(node: Node | None, default: str) -> str:
    if node is None:
        return default
    text = node.text(default)
    if not text.startswith(("/", "http://", "https://")):
        node.error("must be a path starting with / or a full http(s) URL")
    return text


def _number(node: Node | None) -> float | None:
    return None if node is None else node.number()


# -- reactions -------------------------------------------------------------------------
def parse_reactions(node: Node | None, names: EventNames) -> tuple[Reaction, ...]:
    found = _pairs(node, ("on", "do"), "a reaction needs on and do")
    return tuple(Reaction(parse_event_match(on, names), _actions(do)) for on, do in found)


def _pairs(node: Node | None, keys: tuple[str, ...], missing: str) -> Iterator[tuple[Node, Node]]:
    """The first two values of each list element that is a mapping of `keys` (the first two
    required): elements with other keys are reported."""
    if node is None:
        return
    for child in node.elements():
        if not child.mapping(keys):
            continue
        first, second = child.get(keys[0]), child.get(keys[1])
        if first is None or second is None:
            child.error(missing)
            continue
        yield first, second


def _actions(node: Node) -> tuple[Action, ...]:
    items = list(node.elements()) if isinstance(node.value, list) else [node]
    return tuple(a for item in items if (a := _action(item)) is not None)


def _action(node: Node) -> Action | None:
    if isinstance(node.value, str):
        kind = node.choice(_ACTIONS, "action")
        if kind in ("play", "connect", "wait"):
            node.error(f"{kind} needs arguments, e.g. {{{kind}: ...}}")
            return None
        return Action(kind) if kind else None
    if not node.mapping(_ACTIONS) or len(node.value) != 1:
        if isinstance(node.value, Mapping) and len(node.value) != 1:
            node.error("an action is one of play, connect, hangup, stop or wait")
        return None
    kind, child = next(node.items())
    if kind == "wait":
        return Action("wait", seconds=child.number())
    if kind in ("hangup", "stop"):
        return Action(kind)
    body = _object(child) or {}
    if kind == "play" and not any(k in body for k in ("text", "prompt_name", "prompt_ref")):
        child.error("play needs text, prompt_name or prompt_ref")
    if kind == "connect" and normalise_number(body.get("to")) is None:
        child.error("connect needs to: a phone number")
    return Action(kind, body=body)
