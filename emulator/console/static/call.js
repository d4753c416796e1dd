// The call panel: one attempt's states, every payload sent and each of its delivery attempts,
// the app's requests that touched it, and the callee's buttons (the triggers of CONTRACT §9).

import { api, projectPath } from "./api.js";
import { h, fill } from "./dom.js";
import { attemptText, clockTime, deliveryKind, DELIVERY, json, shortId, offset, ms } from "./format.js";
import { stateInfo } from "./states.js";

const DIGITS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];
const REJECT_AS = [
  ["busy", "busy"],
  ["no_answer", "no answer"],
  ["machine", "answering machine"],
  ["invalid", "invalid number"],
];

/** POST one trigger; answers the call's new state. */
export function trigger(app, voiceId, name, body) {
  return api.post(projectPath(app, `/calls/${encodeURIComponent(voiceId)}/${name}`), body);
}

/** The trigger buttons for a call: enabled per `allowed`, else disabled with the reason. */
export function triggerButtons(call, act, options = {}) {
  const allowed = new Set(call.allowed || []);
  const reasons = call.reasons || {};
  const why = (name) => (allowed.has(name) ? null : reasons[name] || "not possible in this state");
  const button = (name, label, onClick, extra = {}) => {
    const reason = why(name);
    return h(
      "button",
      {
        type: "button",
        class: `trigger trigger-${name}`,
        disabled: reason !== null,
        title: reason || label,
        "aria-label": extra.aria || label,
        dataset: { trigger: name, ...(extra.data || {}) },
        onclick: onClick,
      },
      label,
    );
  };
  const select = h(
    "select",
    { "aria-label": "reject as", disabled: why("reject") !== null, class: "reject-as" },
    REJECT_AS.map(([value, label]) => h("option", { value }, label)),
  );
  const keys = DIGITS.map((d) =>
    button("press", d, () => act("press", { digits: d }), {
      aria: `press ${d}`,
      data: { digit: d },
    }),
  );
  const parts = [
    button("answer", "answer", () => act("answer")),
    h(
      "span",
      { class: "reject-group" },
      button("reject", "reject as", () => act("reject", { as: select.value }), {
        aria: "reject as the chosen outcome",
      }),
      select,
    ),
    h("span", { class: "keypad", role: "group", "aria-label": "keypad" }, keys),
    button("hangup", "hang up", () => act("hangup")),
  ];
  const notes = Object.entries(reasons)
    .filter(([name]) => !allowed.has(name))
    .map(([name, text]) => h("li", {}, h("b", {}, name), `: ${text}`));
  const reasonsList = options.reasons === false || !notes.length
    ? null
    : h("ul", { class: "reasons", "aria-label": "why some buttons are disabled" }, notes);
  return h("div", { class: "triggers" }, parts, reasonsList);
}

export class CallPanel {
  constructor(root, { onClose, onChanged }) {
    this.root = root;
    this.onClose = onClose;
    this.onChanged = onChanged;
    this.app = null;
    this.voiceId = null;
    this.call = null;
    this.message = "";
  }

  async open(app, voiceId) {
    this.app = app;
    this.voiceId = voiceId;
    this.message = "";
    await this.refresh();
  }

  close() {
    this.voiceId = null;
    this.call = null;
    this.root.hidden = true;
    fill(this.root);
  }

  async refresh() {
    if (!this.voiceId) return;
    const voiceId = this.voiceId;
    try {
      const call = await api.get(projectPath(this.app, `/calls/${encodeURIComponent(voiceId)}`));
      if (voiceId === this.voiceId) this.render(call);
    } catch (error) {
      if (voiceId !== this.voiceId) return;
      this.root.hidden = false;
      fill(this.root, h("p", { class: "error", role: "alert" }, `call ${voiceId}: ${error.message}`), this.closeButton());
    }
  }

  async act(name, body) {
    try {
      const call = await trigger(this.app, this.voiceId, name, body);
      this.message = `${name}${body && body.digits ? ` ${body.digits}` : ""}: done`;
      this.render(call && call.voice_id ? call : this.call);
      await this.refresh();
      this.onChanged(name);
    } catch (error) {
      this.message = `${name} refused: ${error.message}`;
      this.render(this.call);
    }
  }

  closeButton() {
    return h("button", { type: "button", class: "close", "aria-label": "close the call panel", onclick: () => this.onClose() }, "close ✕");
  }

  render(call) {
    this.call = call;
    this.root.hidden = false;
    const t0 = ms((call.segments || [{}])[0].start);
    const state = stateInfo(call.state).label;
    const head = h(
      "div",
      { class: "call-head" },
      h("h2", { id: "call-title" }, `Call ${call.number} · attempt ${call.attempt}`),
      call.attempts_so_far > 1 ? h("span", {}, `of ${call.attempts_so_far}`) : null,
      h("span", { class: `state state-${call.state}` }, state),
      call.since ? h("span", { class: "since" }, `since ${clockTime(call.since)}`) : null,
      call.waiting_for ? h("span", { class: "badge waiting" }, `waiting for you: ${call.waiting_for}`) : null,
      h("span", { class: "ids" }, `voice_id ${call.voice_id}`, " · ", `broadcast ${shortId(call.broadcast_id)}`),
      call.reason ? h("span", { class: "reason" }, `ended: ${call.reason}`) : null,
      h(
        "span",
        { class: "head-actions" },
        h("button", {
          type: "button",
          "aria-label": "copy a link to this call",
          onclick: () => navigator.clipboard && navigator.clipboard.writeText(window.location.href),
        }, "copy link"),
        this.closeButton(),
      ),
    );
    const status = h("p", { class: "call-status", role: "status", "aria-live": "polite" }, this.message);
    fill(
      this.root,
      head,
      triggerButtons(call, (name, body) => this.act(name, body)),
      status,
      h("h3", {}, "States"),
      segmentsList(call, t0),
      h("h3", {}, `Events sent (${(call.events || []).length})`),
      call.events_trimmed ? h("p", { class: "note" }, "older events were pushed out of the delivery log") : null,
      eventsTable(call, t0),
      h("h3", {}, `Requests that touched it (${(call.requests || []).length})`),
      requestsTable(call, t0),
    );
  }
}

function segmentsList(call, t0) {
  return h(
    "ol",
    { class: "segments" },
    (call.segments || []).map((s) =>
      h(
        "li",
        {},
        h("span", { class: `state state-${s.state}` }, stateInfo(s.state).label),
        ` ${clockTime(s.start)} (+${offset(t0, s.start)}) – ${s.end ? clockTime(s.end) : "now"}`,
        s.play_id ? ` · play ${shortId(s.play_id)}` : "",
      ),
    ),
  );
}

function eventsTable(call, t0) {
  const rows = (call.events || []).map((ev) => {
    const kind = deliveryKind(ev);
    const attempts = (ev.attempts || []).map(attemptText).join(" → ") || "not yet sent";
    const copy = h("button", {
      type: "button",
      class: "copy",
      "aria-label": `copy the ${ev.event} payload`,
      onclick: () => navigator.clipboard && navigator.clipboard.writeText(json(ev.payload || ev)),
    }, "copy");
    return h(
      "tr",
      { class: `delivery-${kind}` },
      h("td", {}, clockTime(ev.virtual_time), h("br"), h("small", {}, `+${offset(t0, ev.virtual_time)}`)),
      h("td", {}, eventName(ev)),
      h("td", { class: `mark mark-${kind}` }, `${DELIVERY[kind].symbol} ${DELIVERY[kind].label}`),
      h("td", {}, attempts, ev.attempts && ev.attempts.some((a) => a.error) ? h("div", { class: "error" }, ev.attempts.filter((a) => a.error).map((a) => a.error).join("; ")) : null),
      h("td", {}, ev.payload ? h("details", {}, h("summary", {}, "payload"), h("pre", {}, json(ev.payload))) : "", copy),
    );
  });
  return table(["virtual time", "event", "delivery", "attempts (status, latency)", "payload"], rows, "events sent to the app");
}

function requestsTable(call, t0) {
  const rows = (call.requests || []).map((r) =>
    h(
      "tr",
      { class: r.status >= 400 ? "failed" : "" },
      h("td", {}, clockTime(r.virtual_time), " ", h("small", {}, `+${offset(t0, r.virtual_time)}`)),
      h("td", {}, r.method),
      h("td", { class: "path" }, r.path),
      h("td", {}, String(r.status)),
    ),
  );
  return table(["virtual time", "method", "path", "status"], rows, "requests that touched this call");
}

export function table(headers, rows, label) {
  if (!rows.length) return h("p", { class: "note" }, "none");
  return h(
    "table",
    { class: "grid", "aria-label": label },
    h("thead", {}, h("tr", {}, headers.map((text) => h("th", { scope: "col" }, text)))),
    h("tbody", {}, rows),
  );
}

/** "connected", or "play: initiated" for a play's events (they share names with call states). */
export function eventName(ev) {
  const payload = ev.payload || {};
  return payload.playstate !== undefined && payload.state === undefined ? `play: ${ev.event}` : ev.event;
}
