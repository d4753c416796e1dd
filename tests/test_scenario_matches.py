"""The `on` / `match` filter: payload fields by name or dotted path, with a value, a list,
regex or exists; the keys of the first format keep their meaning and their check names."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.replay.match import BroadcastInfo, compile_match
from emulator.scenario import ScenarioError, parse_scenario

CONNECTED = {"voice_id": "v1", "broadcast_id": "b", "state": "connected", "to": "+15550100",
             "attempt": 2, "timestamp": "2026-01-01T09:00:03.000Z"}  # fmt: skip
PLAY = {"voice_id": "v1", "broadcast_id": "b", "playstate": "digitcollected", "digit": "1",
        "digits": "1", "prompt_ref": 7, "to": "+15550100", "attempt": 2}  # fmt: skip
DONE = {"broadcast_id": "b", "state": "broadcastcomplete", "stopped": False,
        "resultSet": {"successfull_calls": 3, "failed_calls": 0, "total_calls": 3}}  # fmt: skip
BRIDGED = {"voice_id": "v1", "broadcast_id": "b", "state": "bridged", "to": "+442071838750",
           "dialed_number": "+15550100", "bridge_id": "x", "attempt": 1}  # fmt: skip
INFO = BroadcastInfo("sales", 0, {"+15550100": 10})


def _match(on: Any) -> Any:
    tree = {"version": 1, "client": {"broadcasts": [{"numbers": ["+15550100"]}],
                                     "reactions": [{"on": on, "do": "hangup"}]}}  # fmt: skip
    scenario = parse_scenario(tree, "m.yaml")
    return scenario.reactions[0].on


@pytest.mark.parametrize(
    ("on", "payload", "matched"),
    [
        ("connected", CONNECTED, True),
        ("digitcollected", PLAY, True),
        ({"state": "connected"}, PLAY, False),  # a play event has no state
        ({"state": ["ringing", "connected"]}, CONNECTED, True),
        ({"attempt": 2}, CONNECTED, True),
        ({"attempt": [1, 3]}, CONNECTED, False),
        ({"digit": 1}, PLAY, True),  # YAML's 1 is JSON's "1"
        ({"prompt_ref": "7"}, PLAY, True),
        ({"number": "+15550100"}, BRIDGED, True),  # the dialled number, not the bridge's `to`
        ({"to": "+442071838750"}, BRIDGED, True),
        ({"number": ["+15550099..+15550101"]}, CONNECTED, True),
        ({"broadcast": "sales", "every": 5}, CONNECTED, True),
        ({"every": 3}, CONNECTED, False),
        ({"resultSet.successfull_calls": 3, "stopped": False}, DONE, True),
        ({"resultSet.successfull_calls": "3"}, DONE, True),
        ({"stopped": "false"}, DONE, False),  # booleans are never text
        ({"bridge_id": {"exists": True}}, BRIDGED, True),
        ({"bridge_id": {"exists": True}}, CONNECTED, False),
        ({"custom_data": {"exists": False}}, CONNECTED, True),
        ({"to": {"regex": "^\\+44"}}, BRIDGED, True),
        ({"to": {"regex": "^\\+44"}}, CONNECTED, False),
        ({"reason": {"regex": "."}}, CONNECTED, False),  # absent: no regex matches
        ({"event": ["connected", "bridged"], "attempt": 1}, BRIDGED, True),
    ],
)
def test_a_filter_matches_what_it_says(on: Any, payload: dict[str, Any], matched: bool) -> None:
    assert compile_match(_match(on))(payload, INFO) is matched


def test_check_names_list_the_keys_in_their_first_order() -> None:
    match = _match({"broadcast": "new", "attempt": 2, "state": "connected", "every": 3})
    assert match.describe() == "state=connected, every=3, broadcast=new, attempt=2"
    assert _match({"reason": ["busy", "no-answer"]}).describe() == "reason in [busy, no-answer]"
    assert _match({"to": {"regex": "^\\+44"}}).describe() == "to~/^\\+44/"
    assert _match({"custom_data.crm": {"exists": False}}).describe() == "custom_data.crm absent"


@pytest.mark.parametrize(
    ("on", "message"),
    [
        ({"promt_ref": "x"}, "on.promt_ref: unknown event field 'promt_ref'; known: voice_id"),
        (
            {"resultSet.successful_calls": 1},
            "on.resultSet.successful_calls: unknown field 'successful_calls' of resultSet",
        ),
        ({"state.name": 1}, "on.state.name: state has no fields"),
        ({"to": {"regex": "("}}, "on.to.regex: not a regular expression"),
        ({"to": {"regexp": "x"}}, "on.to.regexp: unknown key; expected one of regex, exists"),
        ({"to": {"regex": "a", "exists": True}}, "on.to: give one of {regex: ...} or {exists"),
        ({"to": []}, "on.to: an empty list matches nothing"),
        ({"to": [["a"]]}, "on.to[0]: a list of allowed values holds plain values only"),
        ({"attempt": "two"}, "on.attempt: attempt is a whole number"),
        ({"number": "12"}, "on.number: '12' is not a phone number"),
    ],
)
def test_a_filter_that_could_never_match_is_an_error(on: Any, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        _match(on)
    assert f"m.yaml: client.reactions[0].{message}" in str(info.value)
