"""`replay --report`: every number of every broadcast with its result, attempts and the virtual
second its last attempt ended; the file stays valid JSON in its one-number-per-line layout."""

from __future__ import annotations

import json
from pathlib import Path

from emulator.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_the_report_lists_every_number_with_result_attempts_and_end(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    scenario = ROOT / "scenarios" / "stopped-campaign.yaml"
    assert main(["replay", str(scenario), "--report", str(report), "--quiet"]) == 0
    text = report.read_text()
    data = json.loads(text)
    rows = data["numbers"]
    assert len(rows) == 30 and len(text.splitlines()) > 30
    assert set(rows[0]) == {"broadcast", "number", "result", "attempts", "ended_at_s"}
    by_number = {r["number"]: r for r in rows}
    first, last = by_number["+33612341001"], by_number["+33612341030"]
    assert first == {
        "broadcast": "flash-sale", "number": "+33612341001", "result": "success",
        "attempts": 1, "ended_at_s": 8.0,  # answered at 3 s, still listening when stopped at 8 s
    }  # fmt: skip
    assert last == {
        "broadcast": "flash-sale", "number": "+33612341030", "result": "Stopped",
        "attempts": 0, "ended_at_s": None,  # never dialled: no attempt ended
    }  # fmt: skip
    assert {r["result"] for r in rows} == {"success", "Stopped"}
    assert data["summary"]["numbers"] == 30 and data["passed"] is True


STOPPED = """
version: 1
rules:
  - {number: "+15550100", outcome: human, ring_s: 5}
  - {number: "+15550101", outcome: busy}
  - {number: "+15550103", outcome: busy}
client:
  broadcasts:
    - name: labels
      numbers: ["+15550100", "+15550101", "+15550102"]
      retries: {interval_s: 60, count: 3}
      stop_at_s: 30
    - name: retried
      numbers: ["+15550103"]
      retries: {interval_s: 5, count: 1}
  reactions:
    - on: {state: ringing, number: "+15550100"}
      do: hangup
    - on: {state: initiated, number: "+15550103", attempt: 1}
      do: hangup
expect:
  numbers:
    "+15550100": {result: Stopped, attempts: 1, ended_at_s: 0}    # the app hung up while ringing
    "+15550101": {result: Stopped, attempts: 1, ended_at_s: 1}    # waiting out its back-off
    "+15550102": {result: success, attempts: 1, ended_at_s: 13}
    "+15550103": {result: Busy, attempts: 2, ended_at_s: 6}   # a busy attempt hung up is retried
  results: {Stopped: 2, success: 1, Busy: 1}
"""


async def test_the_result_labels_the_docs_describe() -> None:
    from emulator.replay.runner import ReplayOptions, replay
    from emulator.scenario import parse_scenario
    from emulator.scenario.loader import read_tree

    scenario = parse_scenario(read_tree(STOPPED, "labels.yaml"), "labels.yaml")
    result = await replay(scenario, ReplayOptions(timeout_s=30))
    assert [c for c in result.checks if not c.passed] == []
