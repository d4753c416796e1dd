"""Replay output: the summary table, the JSON report, JUnit XML and the JSON-lines event log
(the HTML page is `emulator.replay.html`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from emulator.replay.runner import ReplayResult

__all__ = ["report_json", "summary_text", "write_events", "write_junit", "write_report"]


def summary_text(result: ReplayResult) -> str:
    """A plain-text table: calls by outcome, attempts, events, durations, then each check."""
    s = result.summary
    rows: list[tuple[str, str]] = [("numbers", str(s["numbers"]))]
    rows += [(f"  {reason}", str(n)) for reason, n in s["calls_by_outcome"].items()]
    rows += [
        ("attempts", str(s["attempts"])),
        ("events", str(s["events"])),
    ]
    rows += [(f"  {name}", str(n)) for name, n in s["events_by_type"].items()]
    hooks = s["webhooks"]
    rows += [
        ("webhooks delivered/dead", f"{hooks['delivered']}/{hooks['dead']}"),
        ("faults fired", str(s["faults_fired"])),
        ("client errors", str(s["client_errors"])),
        ("virtual duration", f"{s['virtual_s']:g} s ({s['virtual_start']} .. {s['virtual_end']})"),
        ("wall duration", f"{s['wall_s']:.2f} s"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"scenario {s['scenario']} (seed {s['seed']})"]
    lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    lines.append("expectations:")
    for check in result.checks:
        mark = "ok  " if check.passed else "FAIL"
        detail = "" if check.passed else f": expected {check.expected}, got {check.actual}"
        lines.append(f"  {mark} {check.name}{detail}")
    passed = sum(c.passed for c in result.checks)
    verdict = "PASSED" if result.passed else "FAILED"
    lines.append(f"{verdict}: {passed}/{len(result.checks)} expectations hold")
    return "\n".join(lines)


def report_json(result: ReplayResult) -> dict[str, Any]:
    facts = result.facts
    return {
        "scenario": result.scenario.name,
        "source": result.scenario.source,
        "passed": result.passed,
        "finished": facts.finished,
        "reason": facts.reason,
        "summary": result.summary,
        "expectations": [c.as_json() for c in result.checks],
        "broadcasts": facts.broadcasts,
        "client_errors": facts.client_errors[:100],
        "vars": result.scenario.vars,
        "numbers": facts.rows,
    }


def write_report(result: ReplayResult, path: str) -> None:
    """The report, indented, with `numbers` last and one number per line: every number of
    every broadcast (`broadcast`, `number`, `result`, `attempts`, `ended_at_s`), which keeps a
    100,000-number report near 13 MB and quick to write."""
    report = report_json(result)
    rows = report.pop("numbers")
    head = json.dumps(report, indent=2, sort_keys=True, default=str)
    lines = ",\n    ".join(json.dumps(row, sort_keys=True, default=str) for row in rows)
    numbers = f'"numbers": [\n    {lines}\n  ]' if rows else '"numbers": []'
    Path(path).write_text(f"{head[:-2]},\n  {numbers}\n}}\n", "utf-8")


def write_junit(result: ReplayResult, path: str) -> None:
    """One test suite (the scenario) with one test case per expectation."""
    failures = sum(not c.passed for c in result.checks)
    suite = ET.Element(
        "testsuite",
        name=result.scenario.name,
        tests=str(len(result.checks)),
        failures=str(failures),
        errors="0",
        time=f"{result.summary['wall_s']:.3f}",
    )
    for check in result.checks:
        case = ET.SubElement(
            suite, "testcase", classname=f"scenario.{result.scenario.name}", name=check.name
        )
        if not check.passed:
            failure = ET.SubElement(
                case, "failure", message=f"expected {check.expected}, got {check.actual}"
            )
            failure.text = json.dumps(check.as_json(), default=str)
    root = ET.Element("testsuites")
    root.append(suite)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)


def write_events(result: ReplayResult, path: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for line in result.log_lines:
            out.write(line + "\n")
