"""One fault grammar: the serve flags, the control plane's JSON and scenario files build the same
faults from the same keys; old spellings keep their meaning or fail naming the new key."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from emulator.control.reliability import faults_from_body
from emulator.fault_specs import FaultSpecError, parse_api_faults, parse_webhook_faults
from emulator.faults import ApiFault, FaultBook, WebhookFault
from emulator.scenario import ScenarioError, parse_scenario
from emulator.scenario.world import load_faults

NOW = 5_000
API = [
    {"method": "POST", "route": "/broadcast", "status": 503, "times": 2},
    {"route": "/broadcast/{id}", "status": 429, "retry_after_s": 5, "after_s": 10, "for_s": 30},
    {"path_regex": "/call/[^/]+/play$", "delay_s": 0.5, "probability": 0.5},
    {"status": 500},
]
WEBHOOK = [
    {"url": "/call", "status": 500, "times": 3},
    {"refuse": True, "after_s": 0, "for_s": 60},
    {"url": "example\\.com", "timeout": True, "probability": 0.25},
    {"delay_s": 1.5, "times": 10},
]
COMPACT_API = "POST /broadcast=503x2; /broadcast/{id}=429:5@10+30; *=500"
COMPACT_WEBHOOK = "/call=500x3; *=refuse@0+60; *=delay:1.5x10"


def _shapes(faults: list[Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in f.as_json().items() if k != "id"} for f in faults]


def _from_scenario(section: dict[str, Any], key: str = "webhook") -> list[Any]:
    groups = {"api": section.get("api", []), key: section.get("webhook", [])}
    text = yaml.safe_dump({"version": 1, "faults": groups})
    scenario = parse_scenario(yaml.safe_load(text), "faults.yaml")
    return load_faults(FaultBook(), scenario.world.faults, NOW)


def _from_flags(section: dict[str, Any]) -> list[Any]:
    api = parse_api_faults(json.dumps(section.get("api", [])), NOW)
    webhook = parse_webhook_faults(json.dumps(section.get("webhook", [])), NOW)
    return [*api, *webhook]


@pytest.mark.parametrize("key", ["webhook", "webhooks"])
def test_the_same_objects_build_the_same_faults_everywhere(key: str) -> None:
    section = {"api": API, "webhook": WEBHOOK}
    control = _shapes(faults_from_body(section, NOW))
    assert _shapes(_from_flags(section)) == control
    assert _shapes(_from_scenario(section, key)) == control
    assert [type(f) for f in faults_from_body(section, NOW)] == [ApiFault] * 4 + [WebhookFault] * 4


def test_compact_strings_mean_the_same_in_a_flag_a_scenario_and_the_control_plane() -> None:
    flags = _shapes(
        [*parse_api_faults(COMPACT_API, NOW), *parse_webhook_faults(COMPACT_WEBHOOK, NOW)]
    )
    section = {"api": [COMPACT_API], "webhook": COMPACT_WEBHOOK}
    assert _shapes(faults_from_body(section, NOW)) == flags
    assert _shapes(_from_scenario(section)) == flags
    one = _shapes(faults_from_body({"api": [*API[:2], API[3]]}, NOW))
    assert one == flags[:3]  # the compact spelling is the object spelling


def test_route_is_a_path_end_and_path_regex_is_searched_in_every_entry_point() -> None:
    section = {
        "api": [{"route": "/broadcast", "status": 500}, {"path_regex": "call", "status": 500}]
    }
    for faults in (faults_from_body(section, 0), _from_flags(section), _from_scenario(section)):
        route, regex = faults
        assert route.matches("POST", "/voice/v1/broadcast")
        assert not route.matches("POST", "/voice/v1/broadcast/abc")
        assert regex.matches("PUT", "/v1/broadcast/b/call/v/play")


@pytest.mark.parametrize(
    "entry", ["flag", "control", "scenario"], ids=["flag", "control", "scenario"]
)
def test_path_is_refused_everywhere_naming_route_and_path_regex(entry: str) -> None:
    section = {"api": [{"path": "/broadcast", "status": 500}]}
    build = {"flag": _from_flags, "control": lambda s: faults_from_body(s, 0)}.get(entry)
    with pytest.raises(ValueError) as info:
        (build or _from_scenario)(section)
    message = str(info.value)
    assert "path is no longer a fault key" in message
    assert (
        "use route for a path end" in message and "path_regex for a regular expression" in message
    )
    if entry == "scenario":
        assert isinstance(info.value, ScenarioError) and "faults.api[0]: path" in message


def test_from_s_and_until_s_keep_their_meaning_as_the_window_by_its_ends() -> None:
    old = {
        "api": [{"status": 500, "from_s": 10, "until_s": 70}],
        "webhook": [{"status": 503, "until_s": 30}],
    }
    new = {
        "api": [{"status": 500, "after_s": 10, "for_s": 60}],
        "webhook": [{"status": 503, "for_s": 30}],
    }
    want = _shapes(faults_from_body(new, NOW))
    assert want[0]["start_ms"] == NOW + 10_000 and want[0]["end_ms"] == NOW + 70_000
    assert _shapes(faults_from_body(old, NOW)) == want
    assert _shapes(_from_flags(old)) == want
    assert _shapes(_from_scenario(old)) == want


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"status": 500, "from_s": 1, "for_s": 2},
            "give the window as after_s/for_s, not both for_s and from_s",
        ),
        ({"status": 500, "from_s": 9, "until_s": 2}, "until_s must not be before from_s"),
        ({"status": 500, "url": "/x"}, "url does not apply to api faults"),
        ({"status": 500, "timeout": True}, "timeout does not apply to api faults (use delay_s)"),
        ({"status": 500, "colour": "red"}, "unknown fault key 'colour'; expected one of method"),
        ({"status": 700}, "status must be between 100 and 599"),
        ({"delay_s": 601}, "delay_s must be between 0 and 600"),
        ({"route": "/x"}, "an api fault needs a status or a delay_s"),
        ({"route": "/x", "path_regex": "x", "status": 500}, "give route or path_regex, not both"),
        ({"status": 500, "kind": "webhook"}, "kind is 'webhook' in a list of api faults"),
    ],
)
def test_bad_api_faults_say_the_same_thing_everywhere(spec: dict[str, Any], message: str) -> None:
    section = {"api": [spec]}
    for build in (lambda: faults_from_body(section, 0), lambda: _from_flags(section)):
        with pytest.raises(FaultSpecError, match=re.escape(message)):
            build()
    with pytest.raises(ScenarioError) as info:
        _from_scenario(section)
    assert f"faults.api[0]: {message}" in str(info.value)


def test_webhook_keys_that_belong_to_api_faults_are_refused_with_the_webhook_key() -> None:
    with pytest.raises(FaultSpecError, match=r"route does not apply to webhook faults \(use url"):
        faults_from_body({"webhook": [{"route": "/call", "status": 500}]}, 0)


def test_scenario_faults_take_probability_refuse_and_a_429_default_retry_after() -> None:
    faults = _from_scenario(
        {"api": [{"status": 429}], "webhook": [{"refuse": True, "probability": 0.5}]}
    )
    assert faults[0].retry_after_s == 1
    assert faults[1].refuse and faults[1].probability == 0.5
    with pytest.raises(ScenarioError, match="faults: give webhook or webhooks, not both"):
        parse_scenario({"version": 1, "faults": {"webhook": [], "webhooks": []}}, "x.yaml")
