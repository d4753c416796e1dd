"""Number ranges (`"+15557770101..+15557770110"`) wherever a scenario takes a list of numbers:
inclusive, both ends the same length, bounded, with errors that say what is wrong."""

from __future__ import annotations

import pytest

from emulator.scenario import ScenarioError, parse_scenario
from emulator.scenario.loader import read_tree
from emulator.scenario.ranges import MAX_RANGE, expand_range


def _load(text: str) -> object:
    return parse_scenario(read_tree(text, "r.yaml"), "r.yaml")


def test_a_range_is_every_number_from_first_to_last_inclusive() -> None:
    assert expand_range("+15557770101..+15557770103") == (
        "+15557770101", "+15557770102", "+15557770103",
    )  # fmt: skip
    assert expand_range(" 0044100..0044101 ") == ("0044100", "0044101")  # leading zeros kept
    assert expand_range("+1 555 777 0199..+1 (555) 777-0201") == (
        "+15557770199", "+15557770200", "+15557770201",
    )  # fmt: skip
    assert expand_range("+15550100..+15550100") == ("+15550100",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("+15550100..+155501000", "both ends must have the same length"),
        ("+15550100..15550101", "both ends must have the same length"),
        ("+15550109..+15550100", "the first number is after the last"),
        ("+15550100..", "is not a range: write FIRST..LAST"),
        ("+1555..0100..+15550200", "is not a range"),
        ("+1555x0100..+15550200", "'+1555x0100' is not a phone number"),
        ("+10000000000..+10001000000", f"holds 1,000,001 numbers; at most {MAX_RANGE:,}"),
    ],
)
def test_a_bad_range_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("+", r"\+").replace("(", r"\(")):
        expand_range(text)


def test_ranges_in_broadcasts_groups_cli_numbers_and_filters() -> None:
    scenario = _load("""
version: 1
cli_numbers: ["+919999999990..+919999999992"]
groups:
  team: {numbers: ["+447700900100..+447700900102"]}
client:
  broadcasts:
    - numbers: ["+15557770101..+15557770103", "+15557770200"]
    - numbers: "+15557770301..+15557770302,+15557770400"
  reactions:
    - on: {number: ["+15557770101..+15557770102"]}
      do: hangup
""")
    first, second = scenario.broadcasts  # type: ignore[attr-defined]
    assert first.numbers.numbers == ("+15557770101", "+15557770102", "+15557770103", "+15557770200")
    assert second.numbers.numbers == ("+15557770301", "+15557770302", "+15557770400")
    assert scenario.world.groups["team"].numbers[-1] == "+447700900102"  # type: ignore[attr-defined]
    assert scenario.settings["cli_numbers"] == (  # type: ignore[attr-defined]
        "+919999999990", "+919999999991", "+919999999992",
    )  # fmt: skip
    (test,) = scenario.reactions[0].on.tests  # type: ignore[attr-defined]
    assert test.values == ("+15557770101", "+15557770102")


def test_ranges_as_expectation_keys_stand_for_each_number() -> None:
    scenario = _load("""
version: 1
client:
  broadcasts:
    - numbers: ["+15557770101..+15557770110"]
expect:
  numbers:
    "+15557770101..+15557770105": {result: success}
    "+15557770106": Busy
  sequences:
    "+15557770107..+15557770108": [initiated, ringing, connected, disconnected]
""")
    numbers = scenario.expect.numbers  # type: ignore[attr-defined]
    assert [len(n.numbers) for n in numbers] == [5, 1]
    assert scenario.expect.sequences[0].numbers == ("+15557770107", "+15557770108")  # type: ignore[attr-defined]


def test_errors_name_the_path_of_the_bad_range() -> None:
    with pytest.raises(ScenarioError) as info:
        _load("""
version: 1
cli_numbers: ["+1555..+15550"]
client:
  broadcasts:
    - numbers: ["+15550100", "+15550109..+15550100"]
expect:
  numbers:
    "+15550100..+15550105": success
    "+15550103": Busy
  event_matches:
    - {match: {number: "+1555..+155"}, count: 1}
""")
    lines = str(info.value).splitlines()
    for wanted in (
        "r.yaml: cli_numbers[0]: range '+1555..+15550': both ends must have the same length",
        "r.yaml: client.broadcasts[0].numbers[1]: range '+15550109..+15550100': the first",
        "r.yaml: expect.numbers.+15550103: +15550103 is already expected under '+15550100..",
        "r.yaml: expect.event_matches[0].match.number: range '+1555..+155': '+155' is not a phone",
    ):
        assert any(line.startswith(wanted) for line in lines), (wanted, lines)
