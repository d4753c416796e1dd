// The journal (GET /requests), the delivery log (GET /webhooks) and the faults, with filters.
// A page of at most PAGE rows is shown at a time; "follow" keeps the last page live.

import { api, projectPath } from "./api.js";
import { h, fill, throttle } from "./dom.js";
import { attemptText, clockTime, deliveryKind, DELIVERY, json, shortId } from "./format.js";
import { table } from "./call.js";

const PAGE = 200;

class PagedTable {
  constructor(root, { path, rowsKey, filters, columns, row, label }) {
    this.root = root;
    this.path = path;
    this.rowsKey = rowsKey;
    this.columns = columns;
    this.row = row;
    this.label = label;
    this.app = null;
    this.history = []; // the `since` of every page before this one
    this.since = 0;
    this.follow = true;
    this.visible = false;
    this.refreshSoon = throttle(() => this.refresh(), 1000);
    this.inputs = filters.map(([name, text, options]) => filterInput(name, text, options, () => this.restart()));
    this.body = h("div", { class: "table-body" });
    this.info = h("span", { class: "page-info", role: "status" });
    this.followBox = h("input", { type: "checkbox", checked: true, onchange: () => (this.follow = this.followBox.checked) });
    const nav = (text, aria, fn) => h("button", { type: "button", "aria-label": aria, onclick: fn }, text);
    fill(
      root,
      h(
        "form",
        { class: "filters", role: "search", "aria-label": `filter ${label}`, onsubmit: (e) => e.preventDefault() },
        this.inputs.map((i) => i.label),
        h("label", {}, this.followBox, " follow new rows"),
      ),
      h(
        "div",
        { class: "pager" },
        nav("« first", `first page of ${label}`, () => this.restart()),
        nav("‹ previous", `previous page of ${label}`, () => this.previous()),
        nav("next ›", `next page of ${label}`, () => this.next()),
        this.info,
      ),
      this.body,
    );
  }

  query() {
    const q = { since: this.since, limit: PAGE };
    for (const input of this.inputs) q[input.name] = input.control.value.trim();
    return q;
  }

  async setProject(app) {
    this.app = app;
    this.history = [];
    this.since = 0;
    if (this.visible) await this.refresh();
  }

  async show(visible) {
    this.visible = visible;
    if (visible) await this.refresh();
  }

  restart() {
    this.history = [];
    this.since = 0;
    this.refresh();
  }

  next() {
    if (this.nextSince === null || this.nextSince === undefined) return;
    this.history.push(this.since);
    this.since = this.nextSince;
    this.refresh();
  }

  previous() {
    if (!this.history.length) return;
    this.since = this.history.pop();
    this.refresh();
  }

  /** Something new happened: refetch when the last page is shown and followed. */
  changed() {
    if (this.visible && this.follow && (this.nextSince === null || this.nextSince === undefined)) this.refreshSoon();
  }

  async refresh() {
    if (!this.app) return;
    try {
      const answer = await api.get(projectPath(this.app, this.path), this.query());
      const rows = answer[this.rowsKey] || [];
      this.nextSince = answer.next;
      const first = rows.length ? rows[0].id : null;
      const last = rows.length ? rows[rows.length - 1].id : null;
      const dropped = answer.dropped ? ` · ${answer.dropped} older rows dropped from the log` : "";
      this.info.textContent = rows.length ? `rows #${first}–#${last}${answer.next ? " (more after)" : ""}${dropped}` : `no rows${dropped}`;
      fill(this.body, table(this.columns, rows.map((r) => this.row(r)), this.label));
    } catch (error) {
      fill(this.body, h("p", { class: "error", role: "alert" }, error.message));
    }
  }
}

function filterInput(name, text, options, onChange) {
  const control = options
    ? h("select", { name, onchange: onChange }, h("option", { value: "" }, "any"), options.map((o) => h("option", { value: o }, o)))
    : h("input", { name, type: "search", placeholder: text, oninput: throttle(onChange, 300) });
  return { name, control, label: h("label", {}, `${text} `, control) };
}

export function journalTable(root) {
  return new PagedTable(root, {
    path: "/requests",
    rowsKey: "requests",
    label: "the request journal",
    filters: [
      ["method", "method", ["GET", "POST", "PUT", "PATCH", "DELETE"]],
      ["status", "status", null],
      ["path", "path contains", null],
      ["dialect", "dialect", null],
    ],
    columns: ["#", "virtual time", "method", "path", "status", "dialect", "body"],
    row: (r) =>
      h(
        "tr",
        { class: r.status >= 400 ? "failed" : "" },
        h("td", {}, String(r.id)),
        h("td", {}, clockTime(r.virtual_time)),
        h("td", {}, r.method),
        h("td", { class: "path" }, r.path),
        h("td", {}, `${r.status}${r.status >= 400 ? " ✗" : ""}`),
        h("td", {}, r.dialect || ""),
        h("td", {}, r.body === null || r.body === undefined ? "" : h("details", {}, h("summary", {}, "body"), h("pre", {}, json(r.body)))),
      ),
  });
}

export function deliveryTable(root, openCall) {
  return new PagedTable(root, {
    path: "/webhooks",
    rowsKey: "deliveries",
    label: "the delivery log",
    filters: [
      ["state", "delivery", ["delivered", "pending", "dead"]],
      ["event", "event", null],
      ["url", "URL contains", null],
      ["broadcast_id", "broadcast", null],
      ["voice_id", "voice_id", null],
    ],
    columns: ["#", "virtual time", "event", "to", "delivery", "attempts", "call", "payload"],
    row: (d) => {
      const kind = deliveryKind(d);
      return h(
        "tr",
        { class: `delivery-${kind}` },
        h("td", {}, String(d.id)),
        h("td", {}, clockTime(d.virtual_time)),
        h("td", {}, d.event),
        h("td", { class: "path" }, d.url),
        h("td", { class: `mark mark-${kind}` }, `${DELIVERY[kind].symbol} ${DELIVERY[kind].label}`),
        h("td", {}, (d.attempts || []).map(attemptText).join(" → ")),
        h("td", {}, d.voice_id ? h("button", { type: "button", "aria-label": `open call ${d.voice_id}`, onclick: () => openCall(d.broadcast_id, d.voice_id) }, shortId(d.voice_id)) : ""),
        h("td", {}, h("details", {}, h("summary", {}, "payload"), h("pre", {}, json(d.payload)))),
      );
    },
  });
}

export class FaultsView {
  constructor(root) {
    this.root = root;
    this.app = null;
  }

  async show(app) {
    this.app = app;
    try {
      const answer = await api.get(projectPath(app, "/faults"));
      const list = (title, rows) => [h("h3", {}, `${title} (${rows.length})`), rows.length ? h("pre", {}, json(rows)) : h("p", { class: "note" }, "none")];
      fill(
        this.root,
        list("API faults", answer.api || []),
        list("webhook faults", answer.webhook || []),
        list(`fired (${answer.fired_total || 0} in all)`, answer.fired || []),
      );
    } catch (error) {
      fill(this.root, h("p", { class: "error", role: "alert" }, error.message));
    }
  }
}
