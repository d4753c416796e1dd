"""The examples in docs/scenarios.md are valid scenarios, and every example with a client script
and expectations passes its replay; every key a user can write has an example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from emulator.replay.runner import ReplayOptions, replay
from emulator.scenario import parse_scenario
from emulator.scenario.loader import read_tree

DOC = Path(__file__).resolve().parent.parent / "docs" / "scenarios.md"
TEXT = DOC.read_text("utf-8")
BLOCKS = re.findall(r"```yaml\n(.*?)```", TEXT, re.DOTALL)
RUNNABLE = [i for i, block in enumerate(BLOCKS) if "\nclient:" in block and "\nexpect:" in block]
NEW_KEYS = (
    "at_s:", "min_s:", "max_s:", "distinct:", "ended_at_s:", "min_virtual_s:", "virtual_s:",
    "max_virtual_s:", "deterministic:", "regex:", "exists:", "resultSet.", "..+", "after_s:",
    "for_s:", "reason:", "count:",
)  # fmt: skip


def test_the_doc_has_examples() -> None:
    assert len(BLOCKS) >= 15 and len(RUNNABLE) >= 8


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_every_yaml_example_is_a_valid_scenario(index: int, tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text("phone\n+447700900123\n")
    text = BLOCKS[index]
    parse_scenario(read_tree(text, f"example-{index}.yaml"), f"example-{index}.yaml", str(tmp_path))


@pytest.mark.parametrize("index", RUNNABLE)
async def test_every_example_with_expectations_passes_its_replay(index: int) -> None:
    name = f"example-{index}.yaml"
    scenario = parse_scenario(read_tree(BLOCKS[index], name), name)
    result = await replay(scenario, ReplayOptions(timeout_s=30))
    assert [c for c in result.checks if not c.passed] == []
    assert len(result.checks) > 1


@pytest.mark.parametrize("key", NEW_KEYS)
def test_every_expectation_key_has_an_example_that_runs(key: str) -> None:
    blocks = [BLOCKS[i] for i in RUNNABLE] + [BLOCKS[i] for i in range(len(BLOCKS))
                                               if "faults:" in BLOCKS[i]]  # fmt: skip
    assert any(key in block for block in blocks), key


def test_the_doc_names_every_result_label_and_timing_default() -> None:
    from emulator.domain.behaviour import Timings
    from emulator.scenario.expectations import RESULT_REASONS

    labels = TEXT.split("### Result labels")[1].split("###")[0]
    for label in (*RESULT_REASONS, "unfinished"):
        assert f"| `{label}` |" in labels
    assert "waiting out its back-off" in labels
    defaults = TEXT.split("### Default timings")[1].split("## ")[0]
    for field in Timings.__dataclass_fields__:
        assert f"timings.{field}" in defaults, field
