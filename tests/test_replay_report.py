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
