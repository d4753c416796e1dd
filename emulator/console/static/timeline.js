// One broadcast's timeline on a canvas: one row per number, one bar segment per state of each
// attempt, a mark per webhook (shaped by its delivery state) and per API request of the app.
//
// Rows are virtualised: the scroller holds one empty spacer as tall as every row, the canvas
// draws only the rows in view, and rows are fetched from the timeline endpoint a page at a time
// (a bounded cache of pages), so a 100,000-number broadcast never has 100,000 of anything in the
// browser. Above LANES_FROM numbers an aggregate lane per state sits above the rows.

import { h, fill } from "./dom.js";
import { clockTime, ms, offset, deliveryKind, DELIVERY, count } from "./format.js";
import { stateInfo, resultLabel } from "./states.js";
import { painting, ROW_H, AXIS_H, NAME_W, LANES_FROM } from "./paint.js";

export { LANES_FROM };

const PAGE = 100;
const MAX_PAGES = 40;

export class Timeline {
  constructor(root, { fetchPage, onOpen, onSummary, metrics }) {
    this.fetchPage = fetchPage; // (offset, limit, filter) -> Promise<timeline answer>
    this.onOpen = onOpen; // (row, attempt) -> void
    this.onSummary = onSummary; // (answer) -> void
    this.metrics = metrics;
    this.pages = new Map(); // page index -> {rows, stale}
    this.loading = new Map();
    this.total = 0;
    this.t0 = 0;
    this.t1 = 1;
    this.now = 0;
    this.selected = 0;
    this.attemptIndex = -1;
    this.filter = {};
    this.generation = 0;
    this.history = [];
    this.summary = null;
    this.build(root);
  }

  build(root) {
    this.lanes = h("canvas", { class: "tl-lanes", hidden: true, role: "img" });
    this.canvas = h("canvas", { class: "tl-canvas", "aria-hidden": "true" });
    this.spacer = h("div", { class: "tl-spacer" });
    this.scroller = h(
      "div",
      {
        class: "tl-scroll",
        tabindex: "0",
        role: "region",
        "aria-label": "timeline rows: arrow keys move, Enter opens the call, + and - zoom",
        "aria-describedby": "tl-live",
      },
      this.spacer,
    );
    this.tip = h("div", { class: "tl-tip", role: "tooltip", hidden: true });
    this.live = h("div", { id: "tl-live", class: "sr-only", "aria-live": "polite" });
    this.empty = h("p", { class: "tl-empty", hidden: true }, "No numbers match.");
    const stage = h("div", { class: "tl-stage" }, this.canvas, this.scroller, this.tip);
    this.stage = stage;
    const tool = (text, aria, fn) => h("button", { type: "button", "aria-label": aria, onclick: fn }, text);
    this.zoomInfo = h("span", { class: "note" }, "whole broadcast");
    const tools = h(
      "div",
      { class: "tl-tools", role: "group", "aria-label": "time axis" },
      tool("−", "zoom out (key -)", () => this.zoom(2)),
      tool("+", "zoom in (key +)", () => this.zoom(0.5)),
      tool("fit", "show the whole broadcast (key 0)", () => this.fit()),
      tool("◀", "earlier (Shift+←)", () => this.pan(-0.5)),
      tool("▶", "later (Shift+→)", () => this.pan(0.5)),
      this.zoomInfo,
    );
    fill(root, tools, this.lanes, stage, this.empty, this.live);
    this.scroller.addEventListener("scroll", () => this.schedule());
    this.scroller.addEventListener("click", (e) => this.click(e));
    this.scroller.addEventListener("mousemove", (e) => this.hover(e));
    this.scroller.addEventListener("mouseleave", () => (this.tip.hidden = true));
    this.scroller.addEventListener("keydown", (e) => this.key(e));
    new ResizeObserver(() => this.schedule()).observe(stage);
  }

  /** Show a broadcast (its first page is loaded now). */
  async show(broadcast, filter, now) {
    this.broadcast = broadcast;
    this.filter = filter || {};
    this.now = now;
    this.history = [];
    this.selected = 0;
    this.attemptIndex = -1;
    this.view = null;
    this.zoomInfo.textContent = "whole broadcast";
    await this.reload();
  }

  async reload() {
    this.generation += 1;
    this.loaded = false;
    this.pages.clear();
    this.loading.clear();
    await this.load(0);
    this.schedule();
  }

  setNow(nowMs) {
    this.now = nowMs;
    if (!this.loaded) return;
    if (!this.ended && nowMs > this.t1) this.t1 = nowMs; // a live broadcast: the axis grows
    this.schedule();
  }

  /** Something changed in this broadcast: refetch the pages in view, forget the others. */
  changed() {
    const [first, last] = this.pageRange();
    for (const key of [...this.pages.keys()]) {
      if (key < first || key > last) this.pages.delete(key);
      else this.pages.get(key).stale = true;
    }
    for (let p = first; p <= last; p += 1) this.load(p);
  }

  pushHistory(at, byState) {
    if (!byState) return;
    this.history.push({ t: ms(at), by: byState });
    if (this.history.length > 600) this.history.splice(0, this.history.length - 600);
    this.drawLanes();
  }

  async load(page) {
    if (this.loading.has(page)) return this.loading.get(page);
    const generation = this.generation;
    const task = this.fetchPage(page * PAGE, PAGE, this.filter).then(
      (answer) => {
        this.loading.delete(page);
        if (generation !== this.generation) return;
        this.accept(page, answer);
      },
      (error) => {
        this.loading.delete(page);
        if (generation !== this.generation || page !== 0) return;
        this.empty.textContent = `The timeline could not be read: ${error.message}`;
        this.empty.hidden = false;
      },
    );
    this.loading.set(page, task);
    return task;
  }

  accept(page, answer) {
    this.loaded = true;
    this.pages.set(page, { rows: answer.numbers || [], stale: false });
    this.total = rowCount(answer, this.filter);
    this.summary = answer.summary || null;
    this.t0 = ms(answer.created_at);
    this.ended = Boolean(answer.ended_at);
    const end = this.ended ? ms(answer.ended_at) : this.now;
    this.t1 = Math.max(end, this.now || 0, this.t0 + 10_000);
    this.spacer.style.height = `${AXIS_H + this.total * ROW_H}px`;
    // as tall as its rows, up to about half the window (a short broadcast leaves no blank)
    const tall = Math.max(160, Math.round(window.innerHeight * 0.5));
    this.stage.style.height = `${Math.min(tall, AXIS_H + this.total * ROW_H + 20)}px`;
    this.empty.textContent = "No numbers match.";
    this.empty.hidden = this.total > 0;
    this.evict();
    this.onSummary(answer);
    this.drawLanes();
    this.schedule();
  }

  evict() {
    if (this.pages.size <= MAX_PAGES) return;
    const [first] = this.pageRange();
    const keys = [...this.pages.keys()].sort((a, b) => Math.abs(b - first) - Math.abs(a - first));
    for (const key of keys.slice(0, this.pages.size - MAX_PAGES)) this.pages.delete(key);
  }

  rowAt(index) {
    const page = this.pages.get(Math.floor(index / PAGE));
    return page ? page.rows[index % PAGE] : undefined;
  }

  visibleRows() {
    const height = this.scroller.clientHeight - AXIS_H;
    const first = Math.floor(this.scroller.scrollTop / ROW_H);
    const last = Math.min(this.total - 1, first + Math.ceil(height / ROW_H));
    return [first, last];
  }

  pageRange() {
    const [first, last] = this.visibleRows();
    return [Math.floor(first / PAGE), Math.floor(Math.max(first, last) / PAGE)];
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.draw();
    });
  }

  /** The virtual span drawn: the whole broadcast, or the zoomed window. */
  range() {
    return this.view ? [this.view.from, this.view.to] : [this.t0, this.t1];
  }

  x(t) {
    const [from, to] = this.range();
    const width = this.canvas.clientWidth - NAME_W - 12;
    return NAME_W + ((t - from) / Math.max(1, to - from)) * width;
  }

  tAt(x) {
    const [from, to] = this.range();
    const width = this.canvas.clientWidth - NAME_W - 12;
    return from + ((x - NAME_W) / width) * (to - from);
  }

  zoom(factor) {
    const [from, to] = this.range();
    const middle = (from + to) / 2;
    const half = Math.max(500, ((to - from) * factor) / 2);
    if (half * 2 >= this.t1 - this.t0) return this.fit();
    this.setView(middle - half, middle + half);
  }

  pan(fraction) {
    if (!this.view) return;
    const width = this.view.to - this.view.from;
    const from = Math.max(this.t0, Math.min(this.t1 - width, this.view.from + width * fraction));
    this.setView(from, from + width);
  }

  fit() {
    this.view = null;
    this.zoomInfo.textContent = "whole broadcast";
    this.schedule();
  }

  setView(from, to) {
    const lo = Math.max(this.t0, from);
    this.view = { from: lo, to: lo + (to - from) };
    this.zoomInfo.textContent = `${offset(this.t0, new Date(this.view.from).toISOString())} – ${offset(this.t0, new Date(this.view.to).toISOString())}`;
    this.schedule();
  }

  draw() {
    if (!this.loaded || this.scroller.clientWidth === 0) return; // nothing shown, or hidden
    const started = performance.now();
    const ctx = this.sizeCanvas(this.canvas, this.scroller.clientWidth, this.scroller.clientHeight);
    const [first, last] = this.visibleRows();
    const missing = new Set();
    for (let i = first; i <= last; i += 1) {
      const y = AXIS_H + i * ROW_H - this.scroller.scrollTop;
      const row = this.rowAt(i);
      if (row === undefined) missing.add(Math.floor(i / PAGE));
      this.drawRow(ctx, i, row, y);
    }
    this.drawAxis(ctx);
    for (const page of missing) this.load(page);
    this.metrics.draw(performance.now() - started, last - first + 1);
  }

  // -- pointer and keyboard ---------------------------------------------------------------
  hit(event) {
    const rect = this.scroller.getBoundingClientRect();
    const x = event.clientX - rect.left;
    const y = event.clientY - rect.top;
    if (y < AXIS_H) return null;
    const index = Math.floor((y - AXIS_H + this.scroller.scrollTop) / ROW_H);
    const row = this.rowAt(index);
    if (row === undefined) return null;
    const t = this.tAt(x);
    let attempt = -1;
    row.attempts.forEach((a, n) => {
      const start = ms(a.started_at || (a.segments[0] || {}).start);
      if (start <= t + 1 || attempt < 0) attempt = n;
    });
    return { index, row, attempt, x, y, t };
  }

  click(event) {
    const found = this.hit(event);
    if (!found) return;
    this.select(found.index, found.attempt);
    const attempt = found.row.attempts[found.attempt];
    if (attempt) this.onOpen(found.row, attempt);
  }

  hover(event) {
    const found = this.hit(event);
    if (!found) {
      this.tip.hidden = true;
      return;
    }
    const a = found.row.attempts[found.attempt];
    const at = clockTime(new Date(found.t).toISOString());
    const seg = a && (a.segments || []).find((s) => ms(s.start) <= found.t && found.t <= (s.end ? ms(s.end) : this.now));
    const lines = [`${found.row.number} · ${at} (+${offset(this.t0, new Date(found.t).toISOString())})`];
    if (a) lines.push(`attempt ${a.attempt}${a.reason ? ` · ${a.reason}` : ""}`);
    if (seg) lines.push(`${stateInfo(seg.state).label}: ${clockTime(seg.start)} – ${seg.end ? clockTime(seg.end) : "now"}`);
    const ev = a && nearest(a.events || [], found.t, (this.t1 - this.t0) / 100);
    if (ev) {
      const kind = deliveryKind(ev);
      lines.push(`${DELIVERY[kind].symbol} ${ev.event} ${DELIVERY[kind].label}`);
      const wall = wallTime(ev);
      if (wall) lines.push(`sent at ${wall} wall time`);
    }
    fill(this.tip, ...lines.map((l) => h("div", {}, l)));
    this.tip.hidden = false;
    this.tip.style.left = `${Math.min(found.x + 12, this.scroller.clientWidth - 240)}px`;
    this.tip.style.top = `${found.y + 14}px`;
  }

  key(event) {
    const [first, last] = this.visibleRows();
    const pageRows = Math.max(1, last - first);
    const moves = {
      ArrowDown: 1,
      ArrowUp: -1,
      PageDown: pageRows,
      PageUp: -pageRows,
      Home: -Infinity,
      End: Infinity,
    };
    if (event.key in moves) {
      const next = Math.max(0, Math.min(this.total - 1, this.selected + moves[event.key]));
      this.select(next, -1);
      this.reveal(next);
    } else if (event.key === "+" || event.key === "=") {
      this.zoom(0.5);
    } else if (event.key === "-") {
      this.zoom(2);
    } else if (event.key === "0") {
      this.fit();
    } else if (event.shiftKey && (event.key === "ArrowRight" || event.key === "ArrowLeft")) {
      this.pan(event.key === "ArrowRight" ? 0.5 : -0.5);
    } else if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      const row = this.rowAt(this.selected);
      if (!row) return;
      const step = event.key === "ArrowRight" ? 1 : -1;
      const base = this.attemptIndex < 0 ? row.attempts.length - 1 : this.attemptIndex;
      this.select(this.selected, Math.max(0, Math.min(row.attempts.length - 1, base + step)));
    } else if (event.key === "Enter") {
      const row = this.rowAt(this.selected);
      if (!row || !row.attempts.length) return;
      const n = this.attemptIndex < 0 ? row.attempts.length - 1 : this.attemptIndex;
      this.onOpen(row, row.attempts[n]);
    } else {
      return;
    }
    event.preventDefault();
  }

  select(index, attempt) {
    this.selected = index;
    this.attemptIndex = attempt;
    const row = this.rowAt(index);
    if (row) {
      const n = attempt < 0 ? row.attempts.length : attempt + 1;
      const state = resultLabel(row.result) || stateInfo(row.state).label;
      this.live.textContent = `row ${index + 1} of ${count(this.total)}: ${row.number}, ${state}, attempt ${n} of ${row.attempts.length}`;
    }
    this.schedule();
  }

  /** Scroll so that row `index` is in view. */
  reveal(index) {
    const top = index * ROW_H;
    const height = this.scroller.clientHeight - AXIS_H - ROW_H;
    if (top < this.scroller.scrollTop) this.scroller.scrollTop = top;
    else if (top > this.scroller.scrollTop + height) this.scroller.scrollTop = top - height;
    this.schedule();
  }
}

Object.assign(Timeline.prototype, painting);

/** Rows the current filter matches (the summary counts the whole broadcast). */
export function rowCount(answer, filter) {
  if (typeof answer.matching === "number") return answer.matching;
  if (typeof answer.total_matching === "number") return answer.total_matching;
  const summary = answer.summary || {};
  if (filter.number) return (answer.numbers || []).length;
  if (filter.state) return (summary.by_state || {})[filter.state] || 0;
  if (filter.result) return (summary.by_result || {})[filter.result] || 0;
  return answer.total_numbers || 0;
}

function nearest(events, t, within) {
  let best = null;
  let gap = within;
  for (const ev of events) {
    const d = Math.abs(ms(ev.virtual_time) - t);
    if (d <= gap) {
      best = ev;
      gap = d;
    }
  }
  return best;
}

/** The wall-clock time an event was sent, where the emulator says it. */
function wallTime(ev) {
  const first = (ev.attempts || [])[0] || {};
  const raw = ev.real_time || first.real_time || first.real_at;
  if (raw === undefined || raw === null) return "";
  const date = typeof raw === "number" ? new Date(raw * 1000) : new Date(raw);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString();
}
