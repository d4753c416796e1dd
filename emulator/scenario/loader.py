"""Loading scenario files: read YAML or JSON, substitute variables, validate, build `Scenario`.

Every problem is collected with the path where it sits and raised at once as `ScenarioError`.
A file named on the command line reads the files it names relative to its folder; a scenario
sent to the control plane goes through `parse_control_scenario`, which reads files only inside
`--scenario-dir` (`emulator.scenario.limits`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from emulator.config import OPTIONS, Settings, field_name, option
from emulator.domain.behaviour import Timings
from emulator.fault_specs import FaultSpec, FaultSpecError, fault_specs
from emulator.scenario.expectations import parse_expectations
from emulator.scenario.limits import SCENARIO_CAP, FileAccess, FileRefused, check_tree, read_capped
from emulator.scenario.model import BroadcastSpec, Reaction, Scenario, World
from emulator.scenario.names import EventNames
from emulator.scenario.numbers import parse_source
from emulator.scenario.ranges import is_range, range_numbers
from emulator.scenario.rules import parse_rules
from emulator.scenario.schema import SCHEMA_VERSION, Issue, Node, ScenarioError, Tracker
from emulator.scenario.script import parse_broadcasts, parse_reactions
from emulator.scenario.values import apply_overrides, substitute

__all__ = [
    "load_control_scenario",
    "load_scenario",
    "parse_control_scenario",
    "parse_scenario",
    "read_tree",
]

TOP_KEYS = (
    "version", "name", "description", "vars", "seed", "credentials", "cli_numbers", "clock",
    "timings", "prompts", "strict_prompts", "groups", "rules", "faults", "settings", "client",
    "expect",
)  # fmt: skip
_TIMING_FIELDS = tuple(f.name for f in dataclasses.fields(Timings))
_SETTING_NAMES = tuple(
    o.name for o in OPTIONS if o.name not in ("scenario", "scenario_dir", "host", "port")
)
_PATH_SETTINGS = ("state_file", "tls_cert", "tls_key")  # not from the control plane
_MAX_ISSUES = 50  # a control-plane answer lists at most this many problems
_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"


class _Loader(yaml.SafeLoader):
    """YAML with 1.2-style scalars: only true/false are booleans (`on:` stays a key), and a
    number with a leading `+` or `0` stays text (`+919900000001`, `0044...` are phone numbers)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL_TAG, _INT_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(_INT_TAG, re.compile(r"^-?(?:0|[1-9][0-9_]*)$"), list("-0123456789"))


def read_tree(text: str, source: str) -> Any:
    """Parse YAML (JSON is accepted: it is YAML too); errors name the line."""
    try:
        if source.endswith(".json"):
            return json.loads(text)
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: safe
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "syntax error"
        raise ScenarioError(source, [Issue("", f"not valid YAML: {where}{problem}")]) from None
    except (yaml.YAMLError, ValueError) as exc:
        raise ScenarioError(source, [Issue("", f"not valid YAML/JSON: {exc}")]) from None
    except RecursionError:
        raise ScenarioError(source, [Issue("", "nested too deeply")]) from None


def load_scenario(
    path: str | os.PathLike[str],
    assignments: Mapping[str, Any] | None = None,
    scale: float | None = None,
) -> Scenario:
    """Read and validate a scenario file (`--set` assignments and `--scale` applied to vars)."""
    source = os.fspath(path)
    try:
        text = read_capped(source, SCENARIO_CAP, "a scenario file").decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = f"not UTF-8 text (byte {exc.start + 1})"
        raise ScenarioError(source, [Issue("", f"cannot read: {problem}")]) from None
    except FileRefused as exc:
        raise ScenarioError(source, [Issue("", f"cannot read: {exc}")]) from None
    except OSError as exc:
        raise ScenarioError(source, [Issue("", f"cannot read: {exc.strerror or exc}")]) from None
    base_dir = str(Path(source).resolve().parent)
    return parse_scenario(read_tree(text, source), source, base_dir, assignments or {}, scale)


def parse_control_scenario(
    body: str | bytes | Any, settings: Settings, source: str = "request body"
) -> Scenario:
    """A scenario sent to the control plane (`PUT /_emulator/scenario`, `POST /_emulator/projects`):
    YAML or JSON text (str or UTF-8 bytes) or an already parsed tree. It reads files only inside
    `settings.scenario_dir` (none when unset) and may not set file paths (`state_file`, ...).
    Blocking (YAML, CSV files): call it off the event loop, as `load_control_scenario` does.
    ScenarioError lists at most 50 problems."""
    try:
        if isinstance(body, bytes):
            try:
                body = body.decode("utf-8")
            except UnicodeDecodeError:
                raise ScenarioError(source, [Issue("", "not valid UTF-8")]) from None
        tree = read_tree(body, source) if isinstance(body, str) else body
        refused = _path_settings(tree)
        try:
            scenario = parse_scenario(tree, source, files=FileAccess.control(settings.scenario_dir))
        except ScenarioError as exc:
            raise ScenarioError(source, exc.issues + refused) from None
        if refused:
            raise ScenarioError(source, refused)
        return scenario
    except ScenarioError as exc:
        raise ScenarioError(source, _shortened(exc.issues)) from None


async def load_control_scenario(
    body: str | bytes | Any, settings: Settings, source: str = "request body"
) -> Scenario:
    """`parse_control_scenario` in a worker thread: the event loop keeps answering meanwhile."""
    return await asyncio.to_thread(parse_control_scenario, body, settings, source)


def _path_settings(tree: Any) -> list[Issue]:
    given = tree.get("settings") if isinstance(tree, Mapping) else None
    if not isinstance(given, Mapping):
        return []
    message = (
        "a scenario sent to the control plane cannot set a file path; "
        "set it when starting the emulator"
    )
    return [Issue(f"settings.{key}", message) for key in _PATH_SETTINGS if key in given]


def _shortened(issues: list[Issue]) -> list[Issue]:
    """At most `_MAX_ISSUES` issues, each at most 500 characters: an answer stays small."""
    kept = [Issue(i.path[:200], i.message[:500]) for i in issues[:_MAX_ISSUES]]
    if len(issues) > _MAX_ISSUES:
        kept.append(Issue("", f"... and {len(issues) - _MAX_ISSUES} more problems"))
    return kept


def parse_scenario(
    tree: Any,
    source: str = "<scenario>",
    base_dir: str = ".",
    assignments: Mapping[str, Any] | None = None,
    scale: float | None = None,
    *,
    files: FileAccess | None = None,
) -> Scenario:
    """Validate a loaded tree and build its `Scenario`. The files it names are read through
    `files` (default: any file, relative to `base_dir`)."""
    try:
        check_tree(tree)
    except ValueError as exc:
        raise ScenarioError(source, [Issue("", str(exc))]) from None
    files = files if files is not None else FileAccess.local(base_dir)
    tracker = Tracker()
    root = Node(tree, "", tracker)
    if not root.mapping(TOP_KEYS):
        raise ScenarioError(source, tracker.issues)
    names = apply_overrides(root.get("vars") or Node({}, "vars", tracker), assignments or {}, scale)
    root = Node(substitute(root, names), "", tracker)
    scenario = _build(root, source, files, names)
    if tracker.issues:
        raise ScenarioError(source, tracker.issues)
    return scenario


def _build(root: Node, source: str, files: FileAccess, names: dict[str, Any]) -> Scenario:
    version = root.get("version")
    if version is None:
        root.error(f"version is required (the current version is {SCHEMA_VERSION})")
    elif version.value != SCHEMA_VERSION:
        version.error(f"unsupported version {version.value!r}; expected {SCHEMA_VERSION}")
    settings = _settings_layer(root)
    groups = _groups(root.get("groups"), files)
    world = World(
        seed=int(settings.get("seed", 0)),
        timings=_timings(root.get("timings")),
        prompts=_prompts(root.get("prompts")),
        strict_prompts=_flag(root.get("strict_prompts")),
        rules=parse_rules(root.get("rules"), tuple(groups)),
        groups=groups,
        faults=_faults(root.get("faults")),
    )
    settings["timings"] = world.timings
    forced = settings.get("completion_state")
    event_names = EventNames((forced,) if forced else ())
    client = root.get("client")
    broadcasts: tuple[BroadcastSpec, ...] = ()
    reactions: tuple[Reaction, ...] = ()
    if client is not None and client.mapping(("broadcasts", "reactions")):
        broadcasts = parse_broadcasts(client.get("broadcasts"), files, tuple(groups))
        reactions = parse_reactions(client.get("reactions"), event_names)
    name = root.get("name")
    description = root.get("description")
    return Scenario(
        source=source,
        name=name.text() if name else Path(source).stem,
        description=description.text() if description else "",
        world=world,
        settings=settings,
        broadcasts=broadcasts,
        reactions=reactions,
        expect=parse_expectations(root.get("expect"), event_names),
        vars=names,
        base_dir=files.base_dir,
    )


def _flag(node: Node | None) -> bool:
    return node.boolean() if node is not None else False


# -- settings layer ----------------------------------------------------------------------
def _settings_layer(root: Node) -> dict[str, Any]:
    """Settings field values the scenario sets (the `scenario` layer of `load_settings`)."""
    layer: dict[str, Any] = {}
    generic = root.get("settings")
    if generic is not None:
        generic.mapping(_SETTING_NAMES)
        for key, child in generic.items():
            if key in _SETTING_NAMES:
                _setting(layer, key, child)
    for key in ("seed", "cli_numbers"):
        given = root.get(key)
        if given is not None:
            _setting(layer, key, given)
    credentials = root.get("credentials")
    if credentials is not None and credentials.mapping(("app_id", "app_key")):
        for key, child in credentials.items():
            layer[key] = child.text()
    clock = root.get("clock")
    if clock is not None:
        _clock(layer, clock)
    return layer


def _setting(layer: dict[str, Any], name: str, node: Node) -> None:
    value = node.value
    if isinstance(value, list):
        value = ",".join(_listed(node) if name == "cli_numbers" else (str(v) for v in value))
    try:
        parsed = option(name).parse(str(value).lower() if isinstance(value, bool) else str(value))
    except (ValueError, TypeError) as exc:
        node.error(f"invalid value {value!r}: {exc}")
        return
    layer[field_name(name)] = parsed


def _listed(node: Node) -> list[str]:
    """A list of numbers as text, each range replaced by its numbers."""
    out: list[str] = []
    for item in node.elements():
        out.extend(range_numbers(item) if is_range(item.value) else (str(item.value),))
    return out


def _clock(layer: dict[str, Any], node: Node) -> None:
    if isinstance(node.value, str):
        _setting(layer, "clock", node)
        return
    if node.mapping(("mode", "start", "speed", "settle_ms")):
        for key, child in node.items():
            _setting(layer, "clock" if key == "mode" else key, child)


# -- world -----------------------------------------------------------------------------
def _timings(node: Node | None) -> Timings:
    if node is None or not node.mapping(_TIMING_FIELDS):
        return Timings()
    values: dict[str, Any] = {}
    for key, child in node.items():
        if key == "words_per_minute":
            values[key] = child.number(150.0, minimum=1.0)
        else:
            values[key] = child.integer(getattr(Timings(), key))
    return Timings(**values)


def _prompts(node: Node | None) -> dict[str, int]:
    if node is None or not node.mapping():
        return {}
    return {name: child.integer(5, minimum=1) for name, child in node.items()}


def _groups(node: Node | None, files: FileAccess) -> dict[str, Any]:
    if node is None or not node.mapping():
        return {}
    return {name: parse_source(child, files, allow_group=False) for name, child in node.items()}


# -- faults ----------------------------------------------------------------------------
_FAULT_GROUPS = {"api": "api", "webhook": "webhook", "webhooks": "webhook"}


def _faults(node: Node | None) -> tuple[FaultSpec, ...]:
    """`{api: [...], webhook: [...]}`: compact strings or objects, as the control plane takes
    them (`emulator.fault_specs`); `webhooks` is the same list as `webhook`."""
    if node is None or not node.mapping(tuple(_FAULT_GROUPS)):
        return ()
    if node.get("webhook") is not None and node.get("webhooks") is not None:
        node.error("give webhook or webhooks, not both")
    out: list[FaultSpec] = []
    for key, group in node.items():
        items = list(group.elements()) if isinstance(group.value, list) else [group]
        for item in items:
            try:
                out.extend(fault_specs(_FAULT_GROUPS[key], item.value))
            except FaultSpecError as exc:
                item.error(str(exc))
    return tuple(out)
