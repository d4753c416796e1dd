"""The examples in docs/scenarios.md are valid scenarios, and the first one passes its replay."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from emulator.replay.runner import ReplayOptions, replay
from emulator.scenario import parse_scenario
from emulator.scenario.loader import read_tree

DOC = Path(__file__).resolve().parent.parent / "docs" / "scenarios.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text("utf-8"), re.DOTALL)


def test_the_doc_has_examples() -> None:
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_every_yaml_example_is_a_valid_scenario(index: int, tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text("phone\n+447700900123\n")
    text = BLOCKS[index]
    parse_scenario(read_tree(text, f"example-{index}.yaml"), f"example-{index}.yaml", str(tmp_path))


async def test_the_first_example_passes_its_replay() -> None:
    scenario = parse_scenario(read_tree(BLOCKS[0], "first.yaml"), "first.yaml")
    result = await replay(scenario, ReplayOptions(timeout_s=30))
    assert [c for c in result.checks if not c.passed] == []
