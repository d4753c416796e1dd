"""The runner's housekeeping: what a run leaves behind in the process that ran it."""

from __future__ import annotations

import gc
from pathlib import Path

from emulator.replay.runner import ReplayOptions, replay
from emulator.scenario import load_scenario

QUICKSTART = Path(__file__).resolve().parent.parent / "scenarios" / "quickstart.yaml"


async def test_a_result_has_a_short_repr() -> None:
    # asyncio formats the repr of the main task's result when `asyncio.run` ends (Python 3.11:
    # the SIGINT handler's repr holds the task); a dataclass repr of a 100,000-number run took
    # seconds of the `replay` command's time
    result = await replay(load_scenario(QUICKSTART), ReplayOptions(timeout_s=30))
    assert repr(result) == f"<ReplayResult 'quickstart' passed, {len(result.checks)} checks>"


async def test_the_garbage_collector_is_given_back_as_it_was() -> None:
    before = gc.get_threshold()
    result = await replay(load_scenario(QUICKSTART), ReplayOptions(timeout_s=30))
    assert result.passed
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
