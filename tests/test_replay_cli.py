"""`broadcast-emulator replay`: exit codes, reports, and byte-identical event logs per seed."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from emulator.cli import main

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"

FAILING = """
version: 1
name: failing
seed: 3
client:
  broadcasts:
    - name: one
      numbers: ["+919800000011", "+919800000001"]
      play: {text: "hello there"}
      retries: {interval_s: 1, count: 0}
expect:
  completion: {successful: 2}
  numbers:
    "+919800000001": {result: Busy, attempts: 1}
"""


def test_quickstart_replay_exits_0_and_writes_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, junit = tmp_path / "r.json", tmp_path / "j.xml"
    code = main(["replay", str(QUICKSTART), "--report", str(report), "--junit", str(junit)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASSED" in out and "calls" not in out.split("expectations:")[1]
    data = json.loads(report.read_text())
    assert data["passed"] is True and data["finished"] is True
    assert data["summary"]["calls_by_outcome"] == {
        "AMD": 1,
        "Busy": 1,
        "Invalid": 1,
        "NoAnswer": 1,
        "success": 1,
    }
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert suite.get("failures") == "0" and int(suite.get("tests", "0")) >= 10


def test_a_failing_expectation_exits_1_and_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "failing.yaml"
    path.write_text(FAILING)
    junit = tmp_path / "j.xml"
    assert main(["replay", str(path), "--junit", str(junit), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "FAIL completion successful: expected 2, got 1" in out
    assert "ok   number +919800000001 result" in out
    failures = [
        case.get("name")
        for case in ET.parse(junit).getroot().iter("testcase")
        if case.find("failure") is not None
    ]
    assert failures == ["completion successful"]


def test_an_invalid_scenario_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\nrules: [{number: '+4412345', outcome: bussy}]\n")
    assert main(["replay", str(path)]) == 2
    assert f'{path}: rules[0].outcome: unknown outcome "bussy"' in capsys.readouterr().err
    empty = tmp_path / "empty.yaml"
    empty.write_text("version: 1\n")
    assert main(["replay", str(empty)]) == 2
    assert "nothing to replay" in capsys.readouterr().err


def test_same_seed_gives_byte_identical_event_logs(tmp_path: Path) -> None:
    """A mix of outcomes, retries, DTMF and bridges: the logs of two runs are the same bytes."""
    scenario = ROOT / "scenarios" / "bridge-agent.yaml"
    logs = []
    for run in range(2):
        out = tmp_path / f"events-{run}.jsonl"
        assert main(["replay", str(scenario), "--events", str(out), "--quiet"]) == 0
        logs.append(out.read_bytes())
    assert logs[0] == logs[1]
    lines = logs[0].decode().splitlines()
    assert len(lines) > 100
    first = json.loads(lines[0])
    assert first["event"] == "initiated" and first["url"] == "/event"
    assert all(json.dumps(json.loads(line), sort_keys=True, separators=(",", ":")) == line
               for line in lines)  # fmt: skip


def test_another_seed_gives_another_draw(tmp_path: Path) -> None:
    scenario = ROOT / "scenarios" / "amd-heavy.yaml"
    logs = []
    for seed in ("3", "4"):
        out = tmp_path / f"amd-{seed}.jsonl"
        args = ["--events", str(out), "--quiet", "--set", "count=40", "--seed", seed]
        main(["replay", str(scenario), *args])
        logs.append(out.read_bytes())
    assert logs[0] != logs[1]


def test_set_and_scale_resize_a_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = ROOT / "scenarios" / "special-client-100k.yaml"
    report = tmp_path / "r.json"
    assert main(["replay", str(path), "--scale", "0.001", "--report", str(report)]) == 0
    data = json.loads(report.read_text())
    assert data["vars"] == {"count": 100}
    assert data["summary"]["numbers"] == 100
    assert "special" not in capsys.readouterr().err
