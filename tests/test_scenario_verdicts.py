"""Verdicts that cannot pass by accident: every expectation kind holds on a known run and fails
when it is off by one; every shipped scenario passes and has a twin, with one expectation changed,
that fails on exactly that expectation."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from emulator.replay.runner import ReplayOptions, ReplayResult, _same_logs, replay
from emulator.scenario import load_scenario, parse_scenario
from emulator.scenario.loader import read_tree

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = sorted((ROOT / "scenarios").glob("*.yaml"))
REDUCED = {"special-client-100k.yaml": {"count": 200}}

# +15550100: busy, then answered at 8 s (retry at 5 s, 3 s of ringing), hung up at 10 s after
# a 2 s prompt; +15550101: answered at 3 s, hung up at 5 s; +15550102: no answer at 30 s and,
# retried at 34 s, at 64 s; the completion event follows at 64 s.
BASE = """
version: 1
name: verdicts
seed: 11
rules:
  - {number: "+15550100", attempts: [busy, human]}
  - {number: "+15550101", outcome: human}
  - {number: "+15550102", outcome: no_answer}
client:
  broadcasts:
    - name: demo
      numbers: ["+15550100..+15550102"]
      play: {text: "one two three four five", prompt_ref: hello}
      retries: {interval_s: 4, count: 1}
  reactions:
    - on: {playstate: playfinished}
      do: hangup
expect:
  completed: 1
  completion: {successful: 2, failed: 1, total: 3}
  broadcasts:
    demo: {state: completed, successful: 2, failed: 1, total: 3}
  results: {success: 2, NoAnswer: 1}
  numbers:
    "+15550100": {result: success, attempts: 2, ended_at_s: 10}
    "+15550101..+15550102": {ended_at_s: {min: 5, max: 64}}
  events: {connected: 2, ringing: 4}
  event_matches:
    - match: {state: connected}
      count: 2
      min_s: 3
      max_s: 8
    - match: {state: disconnected, reason: no-answer}
      count: 2
      min_s: 30
      max_s: 64
    - match: {number: "+15550100", state: initiated}
      count: 2
      distinct: voice_id
    - match: {state: ringing, number: "+15550101"}
      count: 1
      at_s: 0
    - match: {state: [completed, broadcastcomplete], resultSet.successfull_calls: 2, stopped: false}
      count: 1
      at_s: 64
    - match: {state: disconnected, reason: {regex: "^app-"}}
      count: 2
    - match: {playstate: playfinished, prompt_ref: hello, custom_data: {exists: false}}
      count: 2
  sequences:
    "+15550101": [initiated, ringing, connected, initiated, playfinished, disconnected]
  no_lost_webhooks: true
  min_virtual_s: 64
  max_virtual_s: 64
  virtual_s: 64
  deterministic: true
"""
M = "events matching "
OFF_BY_ONE: list[tuple[str, Any, str]] = [
    ("completed", 2, "broadcasts completed"),
    ("completed", 0, "broadcasts completed"),
    ("completion.successful", 3, "completion successful"),
    ("completion.failed", 0, "completion failed"),
    ("completion.total", 4, "completion total"),
    ("broadcasts.demo.successful", 1, "broadcast demo successful"),
    ("broadcasts.demo.total", 2, "broadcast demo total"),
    ("broadcasts.demo.state", "stopped", "broadcast demo state"),
    ("results.success", 3, "results success"),
    ("results.NoAnswer", 0, "results NoAnswer"),
    ("numbers.+15550100.attempts", 1, "number +15550100 attempts"),
    ("numbers.+15550100.attempts", 3, "number +15550100 attempts"),
    ("numbers.+15550100.ended_at_s", 9, "number +15550100 ended_at_s"),
    ("numbers.+15550100.ended_at_s", 11, "number +15550100 ended_at_s"),
    ("numbers.+15550100.result", "Busy", "number +15550100 result"),
    ("numbers.+15550101..+15550102.ended_at_s", {"min": 6, "max": 64},
     "numbers +15550101..+15550102 ended_at_s"),
    ("numbers.+15550101..+15550102.ended_at_s", {"min": 5, "max": 63},
     "numbers +15550101..+15550102 ended_at_s"),
    ("events.connected", 3, "events connected"),
    ("events.ringing", 3, "events ringing"),
    ("event_matches.0.count", 1, M + "state=connected"),
    ("event_matches.0.count", 3, M + "state=connected"),
    ("event_matches.0.min_s", 4, M + "state=connected min_s"),
    ("event_matches.0.max_s", 7, M + "state=connected max_s"),
    ("event_matches.1.min_s", 31, M + "state=disconnected, reason=no-answer min_s"),
    ("event_matches.1.max_s", 63, M + "state=disconnected, reason=no-answer max_s"),
    ("event_matches.2.distinct", "from", M + "state=initiated, number=+15550100 distinct from"),
    ("event_matches.3.at_s", 1, M + "state=ringing, number=+15550101 at_s"),
    ("event_matches.4.at_s", 63, M + "state in [completed, broadcastcomplete], "
     "resultSet.successfull_calls=2, stopped=False at_s"),
    ("event_matches.4.at_s", 65, M + "state in [completed, broadcastcomplete], "
     "resultSet.successfull_calls=2, stopped=False at_s"),
    ("event_matches.4.match.resultSet.successfull_calls", 1, M + "state in [completed, "
     "broadcastcomplete], resultSet.successfull_calls=1, stopped=False"),
    ("event_matches.5.count", 3, M + "state=disconnected, reason~/^app-/"),
    ("event_matches.6.count", 1, M + "playstate=playfinished, prompt_ref=hello, "
     "custom_data absent"),
    ("sequences.+15550101", ["initiated", "ringing", "connected", "initiated", "playfinished"],
     "sequence +15550101"),
    ("min_virtual_s", 65, "virtual duration at least"),
    ("max_virtual_s", 63, "virtual duration"),
    ("virtual_s", 63, "virtual duration exactly"),
    ("virtual_s", 65, "virtual duration exactly"),
]  # fmt: skip


def _set(tree: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `tree` with `expect.<path>` set; a key holding dots is matched whole first."""
    twin = copy.deepcopy(tree)
    node: Any = twin["expect"]
    parts = path.split(".")
    while parts:
        found: Any
        if isinstance(node, list):
            found, parts = int(parts[0]), parts[1:]
        else:
            for size in range(len(parts), 0, -1):  # the longest key that exists: "+1..+2"
                found = ".".join(parts[:size])
                if found in node:
                    break
            parts = parts[size:]
        if parts:
            node = node[found]
        else:
            node[found] = value
    return twin


async def _run(tree: dict[str, Any], name: str = "twin.yaml") -> ReplayResult:
    return await replay(parse_scenario(tree, name), ReplayOptions(timeout_s=60))


def _failed(result: ReplayResult) -> list[str]:
    return [c.name for c in result.checks if not c.passed]


async def test_every_expectation_kind_holds_on_the_known_run() -> None:
    result = await _run(read_tree(BASE, "base.yaml"))
    assert _failed(result) == [], [c for c in result.checks if not c.passed]
    names = [c.name for c in result.checks]
    assert len(names) == len(set(names)) == 37
    assert names[-1] == "deterministic"


@pytest.mark.parametrize(
    ("path", "value", "check"), OFF_BY_ONE, ids=[f"{p}={v}" for p, v, _ in OFF_BY_ONE]
)
async def test_an_expectation_off_by_one_fails_exactly_that_check(
    path: str, value: Any, check: str
) -> None:
    tree = _set(read_tree(BASE, "base.yaml"), path, value)
    tree["expect"].pop("deterministic")  # one run is enough here
    result = await _run(tree)
    assert _failed(result) == [check]


async def test_lost_webhooks_fail_no_lost_webhooks() -> None:
    tree = read_tree(BASE, "base.yaml")
    tree["settings"] = {"webhook_attempts": 1}
    tree["faults"] = {"webhook": ["/call=500x1"]}  # the first per-call event is given up
    result = await _run(tree)
    assert "no lost webhooks" in _failed(result)
    check = next(c for c in result.checks if c.name == "no lost webhooks")
    assert check.actual == {"dead": 1, "pending": 0}


async def test_deterministic_fails_when_two_runs_differ_and_says_where() -> None:
    tree = {
        "version": 1,
        "clock": {"mode": "realtime", "speed": 1000},  # the create instant follows the wall
        "client": {"broadcasts": [{"numbers": ["+15550100"]}]},
        "expect": {"deterministic": True},
    }
    result = await _run(tree)
    (check,) = [c for c in result.checks if not c.passed]
    assert check.name == "deterministic" and check.actual.startswith("line 1 differs: run 1 {")
    assert "run 2 {" in check.actual


def test_the_determinism_check_names_the_first_difference() -> None:
    assert _same_logs(["a", "b"], ["a", "b"]).passed
    assert _same_logs(["a", "b"], ["a", "c"]).actual == "line 2 differs: run 1 b; run 2 c"
    assert _same_logs(["a"], ["a", "b"]).actual == "run 1 has 1 lines, run 2 has 2"
    assert _same_logs(["x" * 500], ["y"]).actual.endswith("...; run 2 y")


def _exact_leaves(node: Any, path: str = "") -> list[str]:
    """Paths of exact expected values (not a min or max bound) in `expect`, in file order."""
    if isinstance(node, dict):
        return [p for k, v in node.items() if k not in ("min", "max", "match")
                for p in _exact_leaves(v, f"{path}.{k}" if path else str(k))]  # fmt: skip
    if isinstance(node, list) and path.split(".")[-1] != "event_matches" and "." in path:
        return [path] if path.startswith("sequences") else []
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _exact_leaves(v, f"{path}.{i}")]
    return [path] if not isinstance(node, bool) else []


def _changed(value: Any) -> Any:
    if isinstance(value, list):
        return value[:-1]  # a sequence one event short
    if isinstance(value, str) and value.startswith("${"):
        return "${(" + value[2:-1] + ") + 1}"
    if isinstance(value, str):
        return {"completed": "stopped", "stopped": "completed"}.get(value, "Invalid")
    return value + 1


def _get(tree: Any, path: str) -> Any:
    node = tree["expect"]
    for part in path.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


@pytest.mark.parametrize("path", LIBRARY, ids=[p.name for p in LIBRARY])
async def test_every_shipped_scenario_passes_and_its_twin_fails(path: Path) -> None:
    scenario = load_scenario(path, REDUCED.get(path.name, {}))
    result = await replay(scenario, ReplayOptions(timeout_s=60))
    assert _failed(result) == [] and len(result.checks) > 2
    tree = read_tree(path.read_text(), str(path))
    if path.name in REDUCED:
        tree["vars"].update(REDUCED[path.name])
    (leaf,) = _exact_leaves(tree["expect"])[:1]
    twin_tree = _set(tree, leaf, _changed(_get(tree, leaf)))
    twin = await replay(parse_scenario(twin_tree, f"twin-{path.name}"), ReplayOptions(timeout_s=60))
    assert len(_failed(twin)) == 1, (leaf, _failed(twin))
    assert not twin.passed
