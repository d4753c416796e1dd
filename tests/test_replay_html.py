"""`replay --html`: one self-contained page with the summary, every expectation's verdict and a
timeline of every broadcast built from what the replay recorded."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from emulator.cli import main
from emulator.replay.html import PAGE_ROWS, render_html
from emulator.replay.runner import ReplayOptions, replay
from emulator.scenario import parse_scenario
from emulator.scenario.loader import read_tree

ROOT = Path(__file__).resolve().parent.parent


class Page(HTMLParser):
    """Every element as (tag, attributes, ancestors' tags), and inline text of script/style."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str], tuple[str, ...]]] = []
        self.stack: list[str] = []
        self.texts: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}, tuple(self.stack)))
        if tag not in ("meta", "br", "i", "line", "rect") or tag in ("rect", "line"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    def having(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        found = []
        for name, got, _ in self.elements:
            if name == tag and all(v in got.get(k, "").split() or got.get(k) == v
                                   for k, v in attrs.items()):  # fmt: skip
                found.append(got)
        return found


def _check_self_contained(text: str) -> None:
    assert text.count("<html") == 1 and text.startswith("<!doctype html>")
    assert not re.search(r"https?://", text), "no URL of any kind in the page"
    assert not re.search(r"<link|<img|<iframe|@import|\bsrc\s*=", text)
    page = Page(text)
    assert page.having("style") and all("src" not in s for s in page.having("script"))


BUSY_THEN_ANSWER = """
version: 1
name: html-demo
rules:
  - {number: "+15550100", attempts: [busy, human]}
  - {number: "+15550101", outcome: human}
client:
  broadcasts:
    - name: demo
      numbers: ["+15550100", "+15550101"]
      play: {text: "one two three four five"}
      retries: {interval_s: 4, count: 1}
  reactions:
    - on: {state: connected}
      do: [{connect: {to: "+15550999"}}]
    - on: {state: bridged}
      do: [{wait: 2}, hangup]
expect:
  completion: {successful: 2}
  numbers:
    "+15550100": {result: success, attempts: 2}
    "+15550101": {attempts: 2}
"""


async def test_the_page_holds_summary_verdicts_and_a_timeline_of_every_state(
    tmp_path: Path,
) -> None:
    scenario = parse_scenario(read_tree(BUSY_THEN_ANSWER, "demo.yaml"), "demo.yaml")
    result = await replay(scenario, ReplayOptions(keep_timeline=True, keep_log=True))
    text = render_html(result)
    _check_self_contained(text)
    page = Page(text)
    assert "FAILED" in text and page.having("p", **{"class": "fail"})
    checks = page.having("tr", **{"class": "check"})
    assert len(checks) == len(result.checks)
    assert len(page.having("tr", **{"class": "fail"})) == 1  # +15550101 attempts: 1, not 2
    assert "number +15550101 attempts" in text and "<code>2</code>" in text
    (article,) = page.having("article", **{"class": "broadcast"})
    assert article["data-broadcast"] == "demo"
    rows = {r["data-number"]: r for r in page.having("tr", **{"class": "number"})}
    assert set(rows) == {"+15550100", "+15550101"} and rows["+15550100"]["data-result"] == "success"
    segments = [
        (s["data-attempt"], s["data-state"], float(s["data-start-s"]), float(s["data-end-s"]))
        for s in page.having("rect", **{"class": "seg"})
    ]
    # +15550100: attempt 1 busy (initiated 0-1 s), attempt 2 at 5 s: ring 3 s, connected at 8 s
    assert ("1", "initiated", 0.0, 1.0) in segments
    assert ("2", "initiated", 5.0, 5.0) in segments and ("2", "ringing", 5.0, 8.0) in segments
    assert any(s[:2] == ("2", "connected") and s[2] == 8.0 for s in segments)
    assert any(s[1] == "bridging" for s in segments) and any(s[1] == "bridged" for s in segments)
    marks = page.having("line", **{"class": "mark"})
    per_call = [m for m in marks if "k-broadcast" not in m["class"]]
    sent = [line for line in result.log_lines if '"number":null' not in line]
    assert len(per_call) == len(sent)  # one mark per webhook event of every number
    assert [m["data-event"] for m in marks if "k-broadcast" in m["class"]] == [
        "initiated", "completed",
    ]  # fmt: skip
    assert page.having("svg", **{"class": "chart"})


async def test_numbers_are_paged_and_rows_stop_at_the_limit() -> None:
    text = """
version: 1
client:
  broadcasts:
    - name: many
      numbers: ["+15557770100..+15557770349"]
expect:
  completed: 1
"""
    scenario = parse_scenario(read_tree(text, "many.yaml"), "many.yaml")
    result = await replay(scenario, ReplayOptions(keep_timeline=True, timeline_numbers=230))
    page = Page(render_html(result))
    bodies = page.having("tbody", **{"class": "page"})
    assert [b["data-page"] for b in bodies] == ["1", "2", "3"]
    assert "hidden" not in bodies[0] and all("hidden" in b for b in bodies[1:])
    assert len(page.having("tr", **{"class": "number"})) == 230
    assert page.having("nav", **{"class": "pager"})
    assert "Rows for the first 230 of 250 numbers" in render_html(result)
    counts = sum(int(r["data-count"]) for r in page.having("rect") if "data-count" in r)
    assert counts == result.facts.recorder.total  # the chart covers every event of every number
    assert PAGE_ROWS == 100


def test_the_cli_writes_the_page(tmp_path: Path) -> None:
    out = tmp_path / "run.html"
    scenario = ROOT / "scenarios" / "dtmf-survey.yaml"
    assert main(["replay", str(scenario), "--html", str(out), "--quiet"]) == 0
    text = out.read_text("utf-8")
    _check_self_contained(text)
    assert "PASSED" in text and text.count('class="number"') == 6
    assert 'data-event="digitcollected"' in text and 'data-event="menutimeout"' in text


def test_user_text_is_escaped() -> None:
    from emulator.replay.expect import Check

    class Fake:
        pass

    result: Any = Fake()
    result.checks = [Check("<script>x</script>", False, "<b>", "&")]
    result.passed, result.timeline = False, None
    result.scenario = parse_scenario({"version": 1, "name": "<i>n</i>"}, "x.yaml")
    result.summary = {
        "scenario": "<i>n</i>", "seed": 0, "numbers": 0, "attempts": 0, "events": 0,
        "calls_by_outcome": {}, "webhooks": {"delivered": 0, "dead": 0, "pending": 0},
        "faults_fired": 0, "client_errors": 0, "virtual_s": 0, "virtual_start": "",
        "virtual_end": "", "wall_s": 0,
    }  # fmt: skip
    result.facts = Fake()
    result.facts.reason, result.facts.broadcasts = "finished", []
    text = render_html(result)
    assert "<script>x" not in text and "&lt;script&gt;x&lt;/script&gt;" in text
    assert "<i>n</i>" not in text
