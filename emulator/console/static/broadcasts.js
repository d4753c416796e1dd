// The broadcasts: the list's items with their progress, the chosen one's title and summary
// chips, and the timeline's legend. Pure builders: app.js decides when and where they go.

import { h } from "./dom.js";
import { count, ms, span, shortId } from "./format.js";
import { LANES_FROM } from "./paint.js";
import { stateInfo, resultLabel, swatch, LANES, STATES } from "./states.js";

/** ok, failed, live and queued numbers of a broadcast, from its progress. */
export function progressParts(b) {
  const p = b.progress || {};
  const total = p.total || 0;
  const live = p.in_progress || 0;
  const queued = Math.max(0, total - (p.finished || 0) - live);
  return { total, ok: p.successful || 0, failed: p.failed || 0, live, queued };
}

/** One broadcast in the list: a button with its progress bar and counts. */
export function broadcastItem(b, selected, onOpen) {
  const parts = progressParts(b);
  const pct = (n) => `${(100 * n) / Math.max(1, parts.total)}%`;
  const bar = h("span", { class: "progress", "aria-hidden": "true" });
  for (const [key, value] of [["ok", parts.ok], ["failed", parts.failed], ["live", parts.live], ["queued", parts.queued]]) {
    const seg = h("span", { class: `seg seg-${key}` });
    seg.style.width = pct(value);
    bar.append(seg);
  }
  const text = `ok ${count(parts.ok)} · failed ${count(parts.failed)} · live ${count(parts.live)} · queued ${count(parts.queued)}`;
  return h(
    "li",
    { dataset: { id: b.broadcast_id }, class: selected ? "selected" : "" },
    h(
      "button",
      {
        type: "button",
        class: "broadcast-item",
        dataset: { focus: "broadcast" }, // its label changes with its counts
        "aria-current": selected ? "true" : null,
        "aria-label": `${b.application_name || "broadcast"} ${b.state}: ${text}`,
        onclick: () => onOpen(b.broadcast_id),
      },
      h("span", { class: "name" }, b.application_name || shortId(b.broadcast_id)),
      h("span", { class: `bstate bstate-${b.state}` }, b.state || ""),
      bar,
      h("span", { class: "counts" }, text),
    ),
  );
}

/** The chosen broadcast's title line. */
export function broadcastHead(b, nowIso) {
  const p = progressParts(b);
  const end = b.ended_at ? ms(b.ended_at) : ms(nowIso);
  return [
    h("h2", { id: "broadcast-title" }, `“${b.application_name || "broadcast"}”`),
    h("span", { class: "ids", title: b.broadcast_id }, shortId(b.broadcast_id)),
    h("span", { class: `bstate bstate-${b.state}` }, b.state),
    h("span", {}, `${count(p.total)} numbers · ${span(end - ms(b.created_at))} virtual`),
  ];
}

/** Chips: numbers per result and per current state, from a timeline answer's summary. */
export function summaryChips(answer) {
  const byState = (answer.summary && answer.summary.by_state) || {};
  const byResult = (answer.summary && answer.summary.by_result) || {};
  const chip = (label, value, cls) => h("span", { class: `chip ${cls}` }, `${label} ${count(value)}`);
  return [
    h("span", { class: "chips", "aria-label": "numbers by result" },
      Object.entries(byResult).map(([r, n]) => chip(resultLabel(r), n, `result-${r}`))),
    h("span", { class: "chips", "aria-label": "numbers by current state" },
      LANES.filter((s) => byState[s]).map((s) => chip(stateInfo(s).label, byState[s], `state-${s}`))),
    answer.total_numbers > LANES_FROM ? h("span", { class: "note" }, `${count(answer.total_numbers)} numbers: one lane per state above, rows fetched a page at a time`) : null,
  ];
}

/** The legend: every state's swatch and every mark's symbol. */
export function legendItems() {
  const states = ["initiated", "ringing", "connected", "playing", "menu", "bridged", "retrying"];
  return [
    states.map((s) => h("span", { class: "legend-item" }, swatch(s), STATES[s].label)),
    h("span", { class: "legend-item" }, "▲ webhook delivered"),
    h("span", { class: "legend-item" }, "△ delivered after retries"),
    h("span", { class: "legend-item" }, "○ pending"),
    h("span", { class: "legend-item" }, "✗ dead"),
    h("span", { class: "legend-item" }, "◆ request of the app"),
    h("span", { class: "legend-item" }, "┆ dashed: waiting for you"),
  ];
}
