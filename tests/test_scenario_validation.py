"""Scenario validation: errors name the file and the path inside it; `validate` exits 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from emulator.cli import main
from emulator.scenario import ScenarioError, json_schema, load_scenario, parse_scenario
from emulator.scenario.loader import read_tree
from emulator.sim.clock import parse_iso

BROKEN = Path(__file__).parent / "data" / "broken"
EXPECTED = {
    "bad-outcome.yaml": ['rules[2].attempts[0]: unknown outcome "bussy"'],
    "no-version.yaml": ["version is required"],
    "bad-regex.yaml": ["rules[0].regex: not a regular expression"],
    "unknown-key.yaml": ["timings.ring_time: unknown key; expected one of ring_s"],
    "negative-ring.yaml": ["rules[0].ring_s: must be >= 0"],
    "bad-fault.yaml": [
        "faults.webhooks[0]: a webhook fault needs a status, timeout, refuse or delay_s",
        "faults.api[0]: timeout does not apply to api faults (use delay_s)",
        "faults.api[1]: path is no longer a fault key",
    ],
    "bad-client.yaml": [
        "client.broadcasts[0].numbers[1]: 'not-a-number' is not a phone number",
        'client.broadcasts[0].dialect: unknown dialect "2021"',
        "client.reactions[0].do[0].dance: unknown key",
        "client.reactions[1].do: play needs arguments",
        'client.reactions[2].on.playstate: unknown playstate "playfinshed"',
        "expect.results.sucess: unknown key",
    ],
    "unknown-group.yaml": [
        "rules[0]: unknown group 'agents'",
        "client.broadcasts[0]: unknown group 'customers'",
    ],
    "bad-yaml.yaml": ["not valid YAML: line 3, column 1"],
    "bad-mix.yaml": [
        "rules[0].mix: a mix needs at least one outcome with a weight above 0",
        "rules[1].mix.voicemail: unknown key",
    ],
    "bad-var.yaml": ["groups.people.generate.count: in '${cnt * 2}': unknown variable 'cnt'"],
}
SCHEMA_CATCHES = [
    "bad-outcome.yaml",
    "no-version.yaml",
    "unknown-key.yaml",
    "negative-ring.yaml",
    "bad-fault.yaml",
    "bad-client.yaml",
    "bad-mix.yaml",
]


def test_every_broken_file_has_expected_messages() -> None:
    assert sorted(p.name for p in BROKEN.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_file_is_rejected_with_file_and_path(name: str) -> None:
    path = BROKEN / name
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    lines = str(info.value).splitlines()
    for wanted in EXPECTED[name]:
        assert any(line.startswith(f"{path}: {wanted}") for line in lines), (wanted, lines)


@pytest.mark.parametrize("name", SCHEMA_CATCHES)
def test_the_json_schema_rejects_them_too(name: str) -> None:
    path = BROKEN / name
    validator = jsonschema.Draft202012Validator(json_schema())
    assert list(validator.iter_errors(read_tree(path.read_text(), str(path))))


def test_validate_command_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    good = Path(__file__).parent.parent / "scenarios" / "quickstart.yaml"
    assert main(["validate", str(good)]) == 0
    assert "ok" in capsys.readouterr().out
    bad = BROKEN / "bad-outcome.yaml"
    assert main(["validate", str(good), str(bad)]) == 1
    err = capsys.readouterr().err
    assert f'{bad}: rules[2].attempts[0]: unknown outcome "bussy"' in err


def test_json_scenarios_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "world.json"
    tree = {"version": 1, "seed": 9, "rules": [{"prefix": "+44", "attempts": ["busy", "human"]}]}
    path.write_text(json.dumps(tree))
    scenario = load_scenario(path)
    assert scenario.settings["seed"] == 9
    assert scenario.world.rules[0].attempts == ("busy", "human")


def test_unquoted_phone_numbers_and_on_keys_read_as_text() -> None:
    text = "version: 1\nrules:\n  - number: +919900000001\n    digits: [1, null]\n"
    scenario = parse_scenario(read_tree(text, "x.yaml"), "x.yaml")
    assert scenario.world.rules[0].match.value == "+919900000001"
    assert scenario.world.rules[0].digits == ("1", None)
    tree = read_tree("on: {state: connected}\noff: yes\n", "y.yaml")
    assert tree == {"on": {"state": "connected"}, "off": "yes"}


def test_settings_layer_uses_settings_field_names() -> None:
    text = """
version: 1
seed: 5
credentials: {app_id: my-id, app_key: my-key}
cli_numbers: ["919999999999", "+441234567890"]
clock: {mode: manual, start: "2027-03-01T10:00:00Z"}
timings: {ring_s: 7, words_per_minute: 120}
settings: {webhook_attempts: 3, dial_rate: 5, webhook_verify_tls: true}
"""
    layer = parse_scenario(read_tree(text, "s.yaml"), "s.yaml").settings
    assert layer["seed"] == 5 and layer["app_id"] == "my-id" and layer["app_key"] == "my-key"
    assert layer["cli_numbers"] == ("919999999999", "+441234567890")
    assert layer["clock"].value == "manual" and layer["start_ms"] == parse_iso(
        "2027-03-01T10:00:00Z"
    )
    assert layer["webhook_attempts"] == 3 and layer["dial_rate"] == 5
    assert layer["webhook_verify_tls"] is True
    assert layer["timings"].ring_s == 7 and layer["timings"].words_per_minute == 120.0


def test_settings_that_make_no_sense_in_a_scenario_are_refused() -> None:
    text = "version: 1\nsettings: {port: 9000, clock: sideways}\n"
    with pytest.raises(ScenarioError) as info:
        parse_scenario(read_tree(text, "s.yaml"), "s.yaml")
    message = str(info.value)
    assert "s.yaml: settings.port: unknown key" in message
    assert "s.yaml: settings.clock: invalid value 'sideways'" in message


def test_set_must_name_a_variable() -> None:
    path = Path(__file__).parent.parent / "scenarios" / "amd-heavy.yaml"
    with pytest.raises(ScenarioError, match="--set colour: the scenario has no variable"):
        load_scenario(path, {"colour": "blue"})


def _laughs(width: int) -> str:
    """Two levels of YAML aliases: `width` x `width` values from a few kilobytes of text."""
    row = ", ".join(["1"] * width)
    refs = ", ".join(["*a"] * width)
    return f"version: 1\nvars:\n  a: &a [{row}]\n  b: [{refs}]\n"


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        (_laughs(1500), "more than 2,000,000 values (YAML aliases counted where used)"),
        ("version: 1\nvars: {a: &a [1, *a]}\n", "a YAML alias refers to a value that contains it"),
        ("version: 1\nvars: {a: " + "[" * 100 + "]" * 100 + "}\n", "nested more than 64"),
        ("version: 1\nvars: {a: " + "[" * 5000 + "]" * 5000 + "}\n", "nested too deeply"),
        ('{"version": 1, "vars": {"a": ' + "[" * 5000 + "]" * 5000 + "}}", "nested too deeply"),
    ],
)
def test_alias_bombs_cycles_and_deep_nesting_are_refused(text: str, wanted: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(read_tree(text, "b.yaml"), "b.yaml")
    assert str(info.value).startswith(f"b.yaml: {wanted}")


def test_a_tree_of_more_than_two_million_values_is_refused() -> None:
    tree = {"version": 1, "vars": {"a": list(range(2_000_000))}}
    with pytest.raises(ScenarioError, match=r"^t.json: more than 2,000,000 values"):
        parse_scenario(tree, "t.json")


def test_shared_parts_within_the_limit_are_fine() -> None:
    text = _laughs(100) + "rules:\n  - &r {number: '+441234567', outcome: busy}\n  - *r\n"
    scenario = parse_scenario(read_tree(text, "s.yaml"), "s.yaml")
    assert len(scenario.vars["b"]) == 100 and len(scenario.world.rules) == 2


async def test_hostile_trees_through_the_control_plane_are_400s(start_emulator: Any) -> None:
    running = await start_emulator()
    for text in (_laughs(1500), "version: 1\nvars: {a: &a [*a]}\n", "[" * 5000):
        async with running.api.session.put(
            running.api.base + "/_emulator/scenario", data=text
        ) as resp:
            assert resp.status == 400, await resp.text()
            assert (await resp.json())["state"] == "failed"
