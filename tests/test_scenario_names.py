"""Event names in a scenario are checked against the names the emulator really sends: a misspelt
name in `on`, `events`, `sequences` or `event_matches` fails `validate` and `replay`, naming the
path and the known names, instead of passing (or never matching) by accident."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from emulator.cli import main
from emulator.scenario import ScenarioError, names, parse_scenario
from emulator.scenario.loader import read_tree

HEAD = """
version: 1
client:
  broadcasts:
    - numbers: ["+919700000011"]
"""
CASES = {
    "events": ("expect:\n  events: {conected: 0}\n", "expect.events.conected"),
    "on": (
        "  reactions:\n    - on: {state: conected}\n      do: hangup\n",
        "client.reactions[0].on.state",
    ),
    "on-text": ("  reactions:\n    - on: conected\n      do: hangup\n", "client.reactions[0].on"),
    "on-event": (
        "  reactions:\n    - on: {event: conected}\n      do: hangup\n",
        "client.reactions[0].on.event",
    ),
    "sequences": (
        'expect:\n  sequences:\n    "+919700000011": [initiated, ringing, conected]\n',
        "expect.sequences.+919700000011[2]",
    ),
    "event_matches.state": (
        "expect:\n  event_matches:\n    - {match: {state: conected}, count: 1}\n",
        "expect.event_matches[0].match.state",
    ),
    "event_matches.event": (
        "expect:\n  event_matches:\n    - {match: {event: playfinshed}, count: 1}\n",
        "expect.event_matches[0].match.event",
    ),
}


def _parse(text: str) -> None:
    parse_scenario(read_tree(text, "names.yaml"), "names.yaml")


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_unknown_event_name_is_refused_naming_path_and_known_names(case: str) -> None:
    tail, path = CASES[case]
    with pytest.raises(ScenarioError) as info:
        _parse(HEAD + tail)
    line = next(x for x in str(info.value).splitlines() if x.startswith(f"names.yaml: {path}:"))
    assert "unknown" in line
    assert "; known: initiated, ringing, connected, disconnected, bridging, bridged" in line
    if path.endswith(".state"):  # a state is never a playstate
        assert "playfinished" not in line and "broadcastcomplete" in line
    elif "sequences" in path:  # a number's own events: no broadcast states
        assert "playfinished" in line and "broadcastcomplete" not in line
    else:
        assert "playfinished" in line and "broadcastcomplete" in line


def test_a_misspelt_playstate_names_the_play_states() -> None:
    tail = "expect:\n  event_matches:\n    - {match: {playstate: connected}, count: 1}\n"
    with pytest.raises(ScenarioError) as info:
        _parse(HEAD + tail)
    message = str(info.value)
    assert "expect.event_matches[0].match.playstate: unknown playstate" in message
    assert "known: initiated, playfinished, failederror, menutimeout, digitcollected" in message


def test_every_name_in_a_list_of_allowed_values_is_checked() -> None:
    tail = "expect:\n  event_matches:\n    - {match: {state: [connected, bridgd]}, count: 1}\n"
    with pytest.raises(ScenarioError, match=r"match\.state\[1\]: unknown state \"bridgd\""):
        _parse(HEAD + tail)


def test_known_names_are_accepted_everywhere() -> None:
    tail = """  reactions:
    - on: {state: bridge_failed}
      do: hangup
    - on: digitcollected
      do: hangup
expect:
  events: {initiated: 2, broadcastcall_complete: 0, completed: 1, failederror: 0}
  sequences:
    "+919700000011": [initiated, ringing, connected, disconnected]
  event_matches:
    - {match: {state: [completed, broadcastcomplete]}, count: 1}
"""
    _parse(HEAD + tail)


def test_a_scenario_forcing_the_completion_state_may_expect_that_name() -> None:
    tail = "settings: {completion_state: campaign_done}\nexpect:\n  events: {campaign_done: 1}\n"
    _parse(HEAD + tail)
    with pytest.raises(ScenarioError, match="campaign_done"):
        _parse(HEAD + "expect:\n  events: {campaign_done: 1}\n")


def test_validate_and_replay_both_refuse_a_misspelt_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(HEAD + CASES["events"][0])
    assert main(["validate", str(path)]) == 1
    assert f"{path}: expect.events.conected: unknown event" in capsys.readouterr().err
    assert main(["replay", str(path)]) == 2
    assert f"{path}: expect.events.conected: unknown event" in capsys.readouterr().err


ROOT = Path(__file__).resolve().parent.parent


def _literals(path: Path, method: str, position: int) -> set[str]:
    """String literals passed as argument `position` to calls of `.method(...)` in `path`."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr == method and len(node.args) > position:
            arg = node.args[position]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add(arg.value)
    return found


def test_the_known_names_are_exactly_what_the_emulator_sends() -> None:
    from emulator.api import dialects
    from emulator.domain.models import LegState
    from emulator.webhooks.events import completion_state

    service = ROOT / "emulator" / "domain" / "service.py"
    bridging = ROOT / "emulator" / "domain" / "bridging.py"  # the service's bridges
    assert set(names.PLAY_STATES) == _literals(service, "play_state", 2)
    bridge_states = _literals(service, "bridge_state", 2) | _literals(bridging, "bridge_state", 2)
    assert set(names.BRIDGE_STATES) == bridge_states
    assert tuple(s.value for s in LegState) == names.LEG_STATES
    sent = {completion_state(s) for s in dialects._COMPLETION.values()}
    assert set(names.COMPLETION_STATES) == sent
    events = ROOT / "emulator" / "webhooks" / "events.py"
    assert _literals(events, "_broadcast_base", 1) == {"initiated"}


async def test_every_name_and_field_a_replay_receives_is_known() -> None:
    from emulator.replay.runner import ReplayOptions, replay
    from emulator.scenario import load_scenario

    known = names.EventNames()
    seen_names: set[str] = set()
    seen_fields: set[tuple[str, ...]] = set()
    for file in ("bridge-agent.yaml", "dtmf-survey.yaml", "quickstart.yaml"):
        scenario = load_scenario(ROOT / "scenarios" / file)
        result = await replay(scenario, ReplayOptions(keep_log=True))
        for line in result.log_lines:
            payload = json.loads(line)["payload"]
            seen_names.add(str(payload.get("state") or payload.get("playstate")))
            for key, value in payload.items():
                seen_fields.add((key,))
                if isinstance(value, dict) and key != "custom_data":
                    seen_fields.update((key, sub) for sub in value)
    assert seen_names <= set(known.events)
    assert {"bridged", "bridge_failed", "digitcollected", "menutimeout"} <= seen_names
    assert [f for f in sorted(seen_fields) if known.field_problem(f)] == []
    assert {f[0] for f in seen_fields} == set(known.fields) - {"custom_data"}  # none sent here
