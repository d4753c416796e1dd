"""`replay --html FILE`: the run as one self-contained HTML page for CI artifacts.

The page holds a summary, every expectation's verdict (expected, actual) and, per broadcast, a
chart of the events per virtual second (every number) and a timeline with one row per number
(the first `TIMELINE_NUMBERS` of each broadcast, 100 rows a page): one segment per state of
each attempt (initiated, ringing, connected; bridging, bridged below) from its virtual start to
its end, and a mark for every webhook event. Everything is built from what the replay recorded;
CSS and the few lines of JavaScript (paging) are inline, nothing is fetched from anywhere.
"""

from __future__ import annotations

import json
from collections import defaultdict
from html import escape
from pathlib import Path
from typing import Any

from emulator.replay.record import TIMELINE_NUMBERS, Timeline
from emulator.replay.runner import ReplayResult

__all__ = ["PAGE_ROWS", "render_html", "write_html"]

PAGE_ROWS = 100
_WIDTH = 720  # px of a timeline track
_LEG = ("initiated", "ringing", "connected")
_BRIDGE = ("bridging", "bridged")
_ENDS = {"disconnected": "leg", "bridge_failed": "bridge", "bridge_disconnected": "bridge"}
_CHART_BARS = 360
_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{margin:0 0 .2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;vertical-align:top}
tr:nth-child(even){background:#f7f7f7}.verdict{font-weight:bold;font-size:1.2em}
.pass .v,.verdict.pass{color:#17803d}.fail .v,.verdict.fail{color:#c62828}
tr.fail{background:#fdecea}code{font-size:12px;white-space:pre-wrap;word-break:break-all}
.track{display:block}.seg.s-initiated{fill:#b0bec5}.seg.s-ringing{fill:#ffb300}
.seg.s-connected{fill:#43a047}.seg.s-bridging{fill:#8e99f3}.seg.s-bridged{fill:#3949ab}
.mark{stroke:#222;stroke-width:1}.mark.k-play{stroke:#6a1b9a}.mark.k-bridge{stroke:#283593}
.mark.k-end{stroke:#c62828}.mark.k-broadcast{stroke:#00838f;stroke-width:2}
.legend span{display:inline-block;margin-right:1em}.legend i{display:inline-block;width:12px;
height:12px;margin-right:4px;vertical-align:middle}.pager button{margin:0 2px}
.chart rect{shape-rendering:crispEdges}.note{color:#555}
"""
_SCRIPT = """
document.querySelectorAll('article.broadcast').forEach(function (art) {
  var pages = art.querySelectorAll('tbody.page'), nav = art.querySelector('nav.pager');
  if (!nav || pages.length < 2) return;
  function show(n) { pages.forEach(function (p, i) { p.hidden = i !== n; });
    nav.querySelectorAll('button').forEach(function (b, i) { b.disabled = i === n; }); }
  pages.forEach(function (p, i) { var b = document.createElement('button');
    b.textContent = String(i + 1); b.onclick = function () { show(i); }; nav.appendChild(b); });
  show(0);
});
"""
_COLOURS = {
    "initiated": "#b0bec5", "ringing": "#ffb300", "connected": "#43a047",
    "disconnected": "#c62828", "playfinished": "#6a1b9a", "digitcollected": "#ab47bc",
    "menutimeout": "#ce93d8", "failederror": "#f06292", "bridging": "#8e99f3",
    "bridged": "#3949ab", "bridge_failed": "#e53935", "bridge_disconnected": "#5c6bc0",
}  # fmt: skip


def _text(value: Any) -> str:
    if isinstance(value, str):
        return escape(value)
    return escape(json.dumps(value, sort_keys=True, default=str))


def _x(ms: int, span_ms: int) -> float:
    return round(_WIDTH * max(0, ms) / span_ms, 2)


# -- sections -------------------------------------------------------------------------------
def _summary(result: ReplayResult) -> str:
    s = result.summary
    hooks = s["webhooks"]
    rows = [
        ("scenario", s["scenario"]), ("source", result.scenario.source), ("seed", s["seed"]),
        ("numbers", s["numbers"]), ("attempts", s["attempts"]), ("events", s["events"]),
        ("calls by outcome", ", ".join(f"{k}: {v}" for k, v in s["calls_by_outcome"].items())),
        ("webhooks delivered / dead / pending",
         f"{hooks['delivered']} / {hooks['dead']} / {hooks['pending']}"),
        ("faults fired", s["faults_fired"]), ("client errors", s["client_errors"]),
        ("virtual duration", f"{s['virtual_s']:g} s ({s['virtual_start']} .. {s['virtual_end']})"),
        ("wall duration", f"{s['wall_s']:.2f} s"), ("finished", result.facts.reason),
    ]  # fmt: skip
    body = "".join(f"<tr><th>{_text(k)}</th><td>{_text(v)}</td></tr>" for k, v in rows)
    return f'<section id="summary"><h2>Summary</h2><table>{body}</table></section>'


def _expectations(result: ReplayResult) -> str:
    rows = []
    for check in result.checks:
        kind = "pass" if check.passed else "fail"
        rows.append(
            f'<tr class="check {kind}"><td>{_text(check.name)}</td>'
            f'<td class="v">{kind}</td><td><code>{_text(check.expected)}</code></td>'
            f"<td><code>{_text(check.actual)}</code></td></tr>"
        )
    head = "<tr><th>expectation</th><th>verdict</th><th>expected</th><th>actual</th></tr>"
    table = f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
    return f'<section id="expectations"><h2>Expectations</h2>{table}</section>'


def _legend() -> str:
    items = "".join(
        f'<span><i style="background:{colour}"></i>{name}</span>'
        for name, colour in _COLOURS.items()
    )
    return f'<p class="legend">{items}</p>'


# -- one number's track ---------------------------------------------------------------------
def _segments(events: list[tuple[int, int, str, dict[str, Any]]], end_ms: int) -> list[Any]:
    """(lane, state, attempt, start_ms, end_ms) for each state of each attempt."""
    out: list[Any] = []
    open_: dict[tuple[int, str], tuple[str, int]] = {}  # (attempt, lane) -> (state, since)
    for ms, _, name, payload in events:
        attempt = int(payload.get("attempt") or 0)
        lane = "leg" if name in _LEG else "bridge" if name in _BRIDGE else _ENDS.get(name)
        if lane is None or ("playstate" in payload and name == "initiated"):
            continue
        current = open_.pop((attempt, lane), None)
        if current is not None:
            out.append((lane, current[0], attempt, current[1], ms))
        if name in _LEG or name in _BRIDGE:
            open_[(attempt, lane)] = (name, ms)
    for (attempt, lane), (state, since) in open_.items():
        out.append((lane, state, attempt, since, max(since, end_ms)))
    return out


def _kind(name: str, payload: dict[str, Any]) -> str:
    if "playstate" in payload:
        return "play"
    if name.startswith("bridg"):
        return "bridge"
    return "end" if name == "disconnected" else "leg"


def _track(events: list[Any], origin: int, span_ms: int, end_ms: int, calls: bool = True) -> str:
    """A number's row (segments and marks), or with `calls=False` the broadcast's own marks."""
    parts = [f'<svg class="track" width="{_WIDTH}" height="18" role="img">']
    for lane, state, attempt, start, end in _segments(events, end_ms) if calls else ():
        y, h = (2, 9) if lane == "leg" else (12, 5)
        x0, x1 = _x(start - origin, span_ms), _x(end - origin, span_ms)
        tip = f"attempt {attempt}: {state} {(start - origin) / 1000:g}-{(end - origin) / 1000:g} s"
        parts.append(
            f'<rect class="seg s-{state}" data-attempt="{attempt}" data-state="{state}" '
            f'data-start-s="{(start - origin) / 1000:g}" data-end-s="{(end - origin) / 1000:g}" '
            f'x="{x0}" y="{y}" width="{max(x1 - x0, 1)}" height="{h}"><title>{escape(tip)}'
            "</title></rect>"
        )
    for ms, _, name, payload in events:
        at = (ms - origin) / 1000
        x = _x(ms - origin, span_ms)
        kind = _kind(name, payload) if calls else "broadcast"
        attempt = f" (attempt {payload.get('attempt')})" if calls else ""
        tip = f"{name} at {at:g} s{attempt}"
        parts.append(
            f'<line class="mark k-{kind}" data-event="{escape(name)}" '
            f'data-at-s="{at:g}" x1="{x}" x2="{x}" y1="0" y2="18"><title>{escape(tip)}</title>'
            "</line>"
        )
    parts.append("</svg>")
    return "".join(parts)


# -- one broadcast --------------------------------------------------------------------------
def _per_bar(timeline: Timeline, bid: str, origin: int, span_ms: int) -> tuple[int, Any]:
    """(seconds per bar, {bar: {event name: count}}) over every number of the broadcast."""
    span_s = max(1, -(-span_ms // 1000))
    group = -(-span_s // _CHART_BARS)
    start_s = origin // 1000
    bars: dict[int, dict[str, int]] = defaultdict(dict)
    for (b, second, name), n in timeline.per_second.items():
        if b == bid:
            bar = bars[(second - start_s) // group]
            bar[name] = bar.get(name, 0) + n
    return group, bars


def _chart(timeline: Timeline, bid: str, origin: int, span_ms: int) -> tuple[str, str]:
    """(caption, SVG): webhook events per virtual second of every number, stacked by name, on
    the timeline's time axis (seconds grouped when there are many)."""
    group, bars = _per_bar(timeline, bid, origin, span_ms)
    if not bars:
        return "", ""
    tallest = max(sum(c.values()) for c in bars.values())
    width = max(_x(group * 1000, span_ms), 1.0)
    parts = [f'<svg class="chart" width="{_WIDTH}" height="80" role="img">']
    for index, counts in sorted(bars.items()):
        y = 80.0
        for name, n in sorted(counts.items()):
            h = round(76 * n / tallest, 2)
            y -= h
            label = f"{index * group}-{(index + 1) * group} s: {n} {name}"
            parts.append(
                f'<rect x="{_x(index * group * 1000, span_ms)}" y="{round(y, 2)}" '
                f'width="{width}" height="{h}" fill="{_COLOURS.get(name, "#00838f")}" '
                f'data-event="{escape(name)}" data-count="{n}"><title>{escape(label)}</title>'
                "</rect>"
            )
    parts.append("</svg>")
    per = f"{group} virtual seconds" if group > 1 else "virtual second"
    caption = f"webhook events per {per}, every number (tallest bar: {tallest:,})"
    return caption, "".join(parts)


class _Broadcast:
    """One broadcast's part of the page: its time axis, rows and chart."""

    def __init__(self, result: ReplayResult, info: dict[str, Any], timeline: Timeline) -> None:
        facts = result.facts
        self.info, self.timeline = info, timeline
        self.origin, self.bid, self.name = facts.origin_ms, info["broadcast_id"], info["name"]
        self.rows = [r for r in facts.rows if r["broadcast"] == self.name]
        self.calls = {pos: ev for (b, pos), ev in timeline.calls.items() if b == self.bid}
        self.own = sorted(timeline.broadcast_events.get(self.bid, []), key=lambda e: e[0])
        times = [ms for ev in self.calls.values() for ms, *_ in ev] + [ms for ms, *_ in self.own]
        self.end_ms = self.origin + round(facts.virtual_s * 1000)
        self.span_ms = max([*times, self.end_ms]) - self.origin or 1000
        self.shown = min(len(self.rows), timeline.limit)

    def head(self) -> str:
        i = self.info
        text = (
            f"<h3>{_text(self.name)}</h3><p>broadcast <code>{_text(self.bid)}</code>: "
            f"{_text(i['state'])}, {i['successful']} successful, {i['failed']} failed of "
            f"{i['total']}; {i['attempts']} attempts. Time axis: 0 to "
            f"{self.span_ms / 1000:g} virtual s.</p>"
        )
        if self.shown < len(self.rows):
            text += (
                f'<p class="note">Rows for the first {self.shown:,} of {len(self.rows):,} '
                "numbers; the chart covers every number, and every number's result is in the "
                "--report JSON.</p>"
            )
        return text

    def track(self, events: list[Any], calls: bool = True) -> str:
        return _track(events, self.origin, self.span_ms, self.end_ms, calls)

    def row(self, position: int) -> str:
        row = self.rows[position - 1]
        events = sorted(self.calls.get(position, []), key=lambda e: (e[0], e[1]))
        ended = "" if row["ended_at_s"] is None else f"{row['ended_at_s']:g}"
        return (
            f'<tr class="number" data-number="{_text(row["number"])}" '
            f'data-result="{_text(row["result"])}"><td>{position}</td>'
            f"<td>{_text(row['number'])}</td><td>{_text(row['result'])}</td>"
            f"<td>{row['attempts']}</td><td>{ended}</td><td>{self.track(events)}</td></tr>"
        )

    def pages(self) -> list[str]:
        pages = []
        for first in range(0, self.shown, PAGE_ROWS):
            last = min(first + PAGE_ROWS, self.shown)
            body = "".join(self.row(position) for position in range(first + 1, last + 1))
            hidden = " hidden" if first else ""
            page = first // PAGE_ROWS + 1
            pages.append(f'<tbody class="page" data-page="{page}"{hidden}>{body}</tbody>')
        return pages

    def render(self) -> str:
        marks = [(ms, 0, n, p) for ms, n, p in self.own]
        caption, chart = _chart(self.timeline, self.bid, self.origin, self.span_ms)
        header_row = (
            f'<tr class="chart-row"><td></td><td colspan="4" class="note">{caption}</td>'
            f"<td>{chart}</td></tr>"
            '<tr class="broadcast-events"><td></td><td colspan="4">broadcast events</td>'
            f"<td>{self.track(marks, calls=False)}</td></tr>"
        )
        pages = self.pages()
        cols = "<th>#</th><th>number</th><th>result</th><th>attempts</th><th>ended at s</th>"
        table = (
            f'<table class="numbers"><thead><tr>{cols}<th>timeline</th></tr>{header_row}'
            f"</thead>{''.join(pages)}</table>"
        )
        pager = '<nav class="pager"></nav>' if len(pages) > 1 else ""
        return (
            f'<article class="broadcast" data-broadcast="{_text(self.name)}" '
            f'data-id="{_text(self.bid)}">{self.head()}{table}{pager}</article>'
        )


def render_html(result: ReplayResult) -> str:
    """The whole page; `result` must come from a replay with `keep_timeline=True`."""
    timeline = result.timeline or Timeline(TIMELINE_NUMBERS)
    verdict = "pass" if result.passed else "fail"
    passed = sum(c.passed for c in result.checks)
    word = "PASSED" if result.passed else "FAILED"
    title = f"replay {result.scenario.name}: {word}"
    broadcasts = "".join(_Broadcast(result, b, timeline).render() for b in result.facts.broadcasts)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>scenario {_text(result.scenario.name)}</h1>"
        f'<p class="verdict {verdict}">{word}: {passed}/{len(result.checks)} expectations hold'
        f"</p><p>{_text(result.scenario.description)}</p></header>"
        f"{_summary(result)}{_expectations(result)}"
        f'<section id="timeline"><h2>Timeline</h2>{_legend()}{broadcasts}</section>'
        f"<script>{_SCRIPT}</script></body></html>\n"
    )


def write_html(result: ReplayResult, path: str) -> None:
    Path(path).write_text(render_html(result), "utf-8")
