// The console: wires the header (project, clock, stream), the waiting calls, the broadcasts,
// the timeline, the call panel and the tables to the emulator's REST routes and its stream.
//
// Deep links: #/p/{app_id}/b/{broadcast_id}/c/{voice_id} (and /t/{tab} for another tab); the
// view follows the hash, so a reload or a link in a bug report opens the same call.

import { api, projectPath, ApiError } from "./api.js";
import { h, fill, keepFocus, $, throttle } from "./dom.js";
import { clockTime, count, ms } from "./format.js";
import { Stream } from "./stream.js";
import { Timeline } from "./timeline.js";
import { CallPanel, triggerButtons, trigger } from "./call.js";
import { journalTable, deliveryTable, FaultsView } from "./tables.js";
import { stateInfo, LANES, RESULTS } from "./states.js";
import { broadcastHead, broadcastItem, legendItems, summaryChips } from "./broadcasts.js";

const TABS = ["broadcasts", "requests", "deliveries", "faults"];

const metrics = {
  draws: 0,
  lastDrawMs: 0,
  maxDrawMs: 0,
  rowsDrawn: 0,
  draw(took, rows) {
    this.draws += 1;
    this.lastDrawMs = took;
    this.maxDrawMs = Math.max(this.maxDrawMs, took);
    this.rowsDrawn = rows;
  },
};

const state = {
  app: null,
  projects: [],
  broadcasts: new Map(),
  broadcast: null,
  voiceId: null,
  tab: "broadcasts",
  clock: { mode: "", now: "", pending: 0 },
  paused: false,
  route: {},
};

// -- the hash ------------------------------------------------------------------------------
function parseHash() {
  const parts = window.location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  const route = {};
  for (let i = 0; i + 1 < parts.length; i += 2) route[parts[i]] = decodeURIComponent(parts[i + 1]);
  return { app: route.p || null, broadcast: route.b || null, voice: route.c || null, tab: route.t || "broadcasts" };
}

function hashOf(route) {
  let text = "#";
  if (route.app) text += `/p/${encodeURIComponent(route.app)}`;
  if (route.broadcast) text += `/b/${encodeURIComponent(route.broadcast)}`;
  if (route.voice) text += `/c/${encodeURIComponent(route.voice)}`;
  if (route.tab && route.tab !== "broadcasts") text += `/t/${route.tab}`;
  return text;
}

function navigate(changes) {
  const route = { app: state.app, broadcast: state.broadcast, voice: state.voiceId, tab: state.tab, ...changes };
  const text = hashOf(route);
  if (text !== window.location.hash) window.location.hash = text;
  else applyRoute();
}

async function applyRoute() {
  const route = parseHash();
  if (!route.app || !state.projects.some((p) => p.app_id === route.app)) {
    if (route.app) notice(`project ${route.app} is not on this emulator: showing ${state.projects[0].app_id}`);
    const keep = route.app ? {} : { broadcast: route.broadcast, voice: route.voice };
    navigate({ app: state.projects[0].app_id, broadcast: null, voice: null, tab: route.tab, ...keep });
    return;
  }
  if (route.app !== state.app) await setProject(route.app);
  setTab(TABS.includes(route.tab) ? route.tab : "broadcasts");
  const newBroadcast = route.broadcast !== state.broadcast;
  if (newBroadcast) await openBroadcast(route.broadcast);
  if (route.voice !== state.voiceId) await openCall(route.voice);
  else if (newBroadcast && callPanel.call) revealNumber(callPanel.call.number);
}

// -- projects and the stream ---------------------------------------------------------------
const stream = new Stream({
  onMessage: (msg) => receive(msg),
  onStatus: (status, detail) => showStream(status, detail),
  onResync: (reason) => resync(reason),
});

async function loadProjects() {
  const answer = await api.get(`${api.prefix}/projects`);
  state.projects = answer.projects || [];
  const select = $("#project");
  const current = state.app;
  fill(select, state.projects.map((p) => h("option", { value: p.app_id }, `${p.app_id} (${plural(p.broadcasts, "broadcast")}, ${p.clock.mode})`)));
  if (current) select.value = current;
}

const projectsSoon = throttle(() => loadProjects().catch(() => {}), 2000);

async function setProject(app) {
  state.app = app;
  state.broadcast = null;
  state.voiceId = null;
  state.broadcasts.clear();
  $("#project").value = app;
  stream.open(app);
  await Promise.all([loadClock(), loadBroadcasts(), loadWaiting(), loadHealth()]);
  journal.setProject(app);
  deliveries.setProject(app);
  if (state.tab === "faults") faults.show(app);
}

// a burst of drops reloads once a second at most
const resync = (() => {
  const reload = throttle(() => reloadAll().catch(showError), 1000);
  return (reason) => {
    logStream(`${reason}; the view was reloaded`);
    reload();
  };
})();

async function reloadAll() {
  await Promise.all([loadClock(), loadBroadcasts(), loadWaiting(), loadHealth(), loadProjects()]);
  if (state.broadcast) timeline.changed();
  if (state.voiceId) callPanel.refresh();
  journal.changed();
  deliveries.changed();
}

function receive(msg) {
  if (msg.virtual_time && msg.virtual_time > (state.clock.now || "")) {
    state.clock.now = msg.virtual_time;
    renderClockSoon();
  }
  switch (msg.type) {
    case "hello":
    case "clock":
      Object.assign(state.clock, pick(msg.clock || msg, ["mode", "now", "pending"]));
      renderClock();
      break;
    case "broadcast":
      broadcastMessage(msg);
      break;
    case "request":
      journal.changed();
      if (!msg.broadcast_id) break;
    // falls through: a request on a call changes its timeline and panel
    case "call":
    case "webhook":
    case "waiting": // a call starts or stops waiting for a person: its buttons change
      if (msg.type === "webhook") deliveries.changed();
      if (msg.broadcast_id && msg.broadcast_id === state.broadcast) timelineSoon();
      if (msg.voice_id && msg.voice_id === state.voiceId) callSoon();
      if (msg.type === "call" || msg.type === "waiting") waitingSoon();
      break;
    default:
      break;
  }
}

function pick(source, keys) {
  const out = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}

function broadcastMessage(msg) {
  const id = msg.broadcast_id;
  const known = state.broadcasts.get(id) || { broadcast_id: id, created_at: msg.virtual_time };
  Object.assign(known, pick(msg, ["state", "progress", "by_state"]));
  if (msg.name !== undefined) known.application_name = msg.name;
  if (msg.change === "completed" || msg.change === "stopped") known.ended_at = msg.virtual_time;
  const isNew = !state.broadcasts.has(id);
  state.broadcasts.set(id, known);
  if (isNew) {
    renderBroadcastList();
    projectsSoon();
  }
  else renderBroadcastItem(known);
  if (id === state.broadcast) {
    timeline.pushHistory(msg.virtual_time, msg.by_state);
    renderBroadcastHead();
    timelineSoon();
  }
  healthSoon();
}

function showStream(status, detail) {
  const el = $("#stream-status");
  const words = { live: "live ●", connecting: "connecting…", reconnecting: "dropped ⚠ reconnecting…", closed: "closed ✗" };
  let text = `stream: ${words[status] || status}`;
  if (state.paused) text += ` · paused ‖ ${detail.buffered || stream.buffer.length} new${detail.overflow ? " (will reload)" : ""}`;
  el.textContent = text;
  el.className = `stream stream-${status}${state.paused ? " stream-paused" : ""}`;
  if (status === "reconnecting" && detail.since) logStream("stream dropped, reconnecting", detail.since);
  if (detail.reconnected) logStream("stream reconnected");
  if (detail.dropped) logStream(`the emulator dropped ${count(detail.dropped)} messages for this page (it fell behind)`);
  if (detail.sampled) logStream(`the emulator is busy: this page is shown 1 call in ${detail.sampled} (counters stay exact)`);
}

/** A mark under the header, with the wall time; a repeat of the last one counts up instead. */
function logStream(text, at = new Date()) {
  const log = $("#stream-log");
  const last = log.lastElementChild;
  if (last && last.dataset.text === text) {
    last.dataset.count = String(Number(last.dataset.count) + 1);
    last.textContent = `⚠ ${at.toLocaleTimeString()}: ${text} (×${last.dataset.count})`;
    return;
  }
  log.append(h("div", { class: "stream-mark", dataset: { text, count: "1" } }, `⚠ ${at.toLocaleTimeString()}: ${text}`));
  while (log.childElementCount > 5) log.firstElementChild.remove();
}

function notice(text) {
  logStream(text);
}

// -- the clock -----------------------------------------------------------------------------
async function loadClock() {
  const clock = await api.get(projectPath(state.app, "/clock"));
  Object.assign(state.clock, pick(clock, ["mode", "now", "pending"]));
  renderClock();
}

function renderClock() {
  const { mode, now, pending } = state.clock;
  $("#clock-mode").textContent = mode || "–";
  const time = $("#clock-now");
  time.textContent = clockTime(now);
  time.dateTime = now || "";
  time.title = `virtual time ${now} (UTC)`;
  $("#clock-pending").textContent = count(pending);
  const manual = mode === "manual";
  const reason = manual ? "" : `the clock is ${mode}: it moves by itself`;
  for (const button of document.querySelectorAll("#clock button")) {
    button.disabled = !manual;
    button.title = reason || button.getAttribute("aria-label");
  }
  $("#clock-note").textContent = reason;
  timeline.setNow(ms(now));
}

const renderClockSoon = throttle(renderClock, 250);

async function clockAction(path, body) {
  try {
    const clock = await api.post(projectPath(state.app, path), body);
    Object.assign(state.clock, pick(clock, ["mode", "now", "pending"]));
    renderClock();
    $("#clock-note").textContent = clock.fired !== undefined ? `fired ${count(clock.fired)} timers` : "";
  } catch (error) {
    $("#clock-note").textContent = `clock: ${error.message}`;
  }
  refreshAfterAction();
}

function refreshAfterAction() {
  // in manual mode a stream may be paused: an action the person took always shows
  loadBroadcasts();
  loadWaiting();
  if (state.broadcast) timeline.changed();
  if (state.voiceId) callPanel.refresh();
}

// -- health --------------------------------------------------------------------------------
async function loadHealth() {
  try {
    const health = await api.get(`${api.prefix}/health`);
    const project = state.projects.find((p) => p.app_id === state.app);
    const isDefault = state.projects.length && state.projects[0].app_id === state.app;
    const parts = [`health: ${health.status}`, plural(health.projects, "project")];
    if (project) parts.push(`${plural(state.broadcasts.size, "broadcast")} in ${state.app}`);
    if (isDefault && health.webhooks) {
      const w = health.webhooks;
      parts.push(`${count(w.delivered)} webhooks delivered`, `${count(w.pending)} pending`, `${count(w.dead)} dead`);
      parts.push(`${count(health.live_calls)} live calls`);
    }
    $("#health").textContent = parts.join(" · ");
  } catch (error) {
    $("#health").textContent = `health: ${error.message}`;
  }
}

const healthSoon = throttle(loadHealth, 2000);

function plural(n, word) {
  return `${count(n)} ${word}${Number(n) === 1 ? "" : "s"}`;
}

// -- broadcasts ----------------------------------------------------------------------------
async function loadBroadcasts() {
  const answer = await api.get(projectPath(state.app, "/broadcasts"));
  for (const b of answer.broadcasts || []) {
    const known = state.broadcasts.get(b.broadcast_id) || {};
    state.broadcasts.set(b.broadcast_id, { ...known, ...b });
  }
  renderBroadcastList();
  renderBroadcastHead();
}

function renderBroadcastList() {
  const list = $("#broadcast-list");
  const rows = [...state.broadcasts.values()].sort((a, b) => (b.created_at || "").localeCompare(a.created_at || ""));
  fill(list, rows.map((b) => broadcastItem(b, b.broadcast_id === state.broadcast, openFromList)));
  $("#no-broadcasts").hidden = rows.length > 0;
}

function renderBroadcastItem(b) {
  const old = document.querySelector(`#broadcast-list li[data-id="${CSS.escape(b.broadcast_id)}"]`);
  if (old) keepFocus(old.parentElement, () => old.replaceWith(broadcastItem(b, b.broadcast_id === state.broadcast, openFromList)));
}

function openFromList(id) {
  navigate({ broadcast: id, voice: null, tab: "broadcasts" });
}

function renderBroadcastHead() {
  const b = state.broadcasts.get(state.broadcast);
  if (b) fill($("#broadcast-head"), broadcastHead(b, state.clock.now));
}

async function openBroadcast(id) {
  state.broadcast = id;
  renderBroadcastList();
  const known = state.broadcasts.get(id);
  $("#timeline-filters").hidden = !id;
  if (!id) {
    fill($("#broadcast-head"), h("h2", { id: "broadcast-title" }, state.broadcasts.size ? "Pick a broadcast" : "No broadcast yet"));
    fill($("#broadcast-summary"));
    $("#timeline").hidden = true;
    return;
  }
  $("#timeline").hidden = false;
  if (!known) await loadBroadcasts();
  renderBroadcastHead();
  await timeline.show(id, timelineFilter(), ms(state.clock.now));
}

function timelineFilter() {
  const form = $("#timeline-filters");
  return {
    state: form.elements.state.value,
    result: form.elements.result.value,
    number: form.elements.number.value.trim(),
  };
}

function fetchTimelinePage(offset, limit, filter) {
  const path = projectPath(state.app, `/broadcasts/${encodeURIComponent(state.broadcast)}/timeline`);
  return api.get(path, { offset, limit, ...filter });
}

const timelineSoon = throttle(() => timeline.changed(), 500);

// -- calls ---------------------------------------------------------------------------------
async function openCall(voiceId) {
  state.voiceId = voiceId;
  if (!voiceId) {
    callPanel.close();
    return;
  }
  await callPanel.open(state.app, voiceId);
  const call = callPanel.call;
  if (call && call.broadcast_id && call.broadcast_id !== state.broadcast) {
    navigate({ broadcast: call.broadcast_id });
  } else if (call && state.broadcast) {
    revealNumber(call.number);
  }
}

async function revealNumber(number) {
  try {
    const answer = await fetchTimelinePage(0, 1, { number });
    const row = (answer.numbers || [])[0];
    const filter = timelineFilter();
    if (row && !filter.state && !filter.result && !filter.number) {
      if (timeline.selected !== row.index) timeline.select(row.index, -1);
      timeline.reveal(row.index);
    }
  } catch (error) {
    // the call panel is open anyway
  }
}

const callSoon = throttle(() => callPanel.refresh(), 300);

async function loadWaiting() {
  let rows = [];
  try {
    const answer = await api.get(projectPath(state.app, "/calls"), { waiting: "true", limit: 20 });
    rows = (answer.calls || []).filter((c) => c.waiting_for);
  } catch (error) {
    rows = [];
  }
  const details = await Promise.all(
    rows.slice(0, 10).map((c) => api.get(projectPath(state.app, `/calls/${encodeURIComponent(c.voice_id)}`)).catch(() => null)),
  );
  renderWaiting(details.filter(Boolean));
}

const waitingSoon = throttle(loadWaiting, 400);

function renderWaiting(calls) {
  const section = $("#waiting");
  section.hidden = calls.length === 0;
  fill(
    $("#waiting-list"),
    calls.map((call) =>
      h(
        "li",
        { class: "waiting-call", dataset: { voiceId: call.voice_id } },
        h(
          "button",
          { type: "button", class: "open-call", "aria-label": `open the call to ${call.number}`, onclick: () => navigate({ broadcast: call.broadcast_id, voice: call.voice_id, tab: "broadcasts" }) },
          `${call.number} · attempt ${call.attempt} · waiting for: ${call.waiting_for}`,
        ),
        triggerButtons(call, (name, body) => waitingAct(call, name, body), { reasons: false }),
      ),
    ),
  );
}

async function waitingAct(call, name, body) {
  try {
    await trigger(state.app, call.voice_id, name, body);
  } catch (error) {
    notice(`${name} on ${call.number}: ${error.message}`);
  }
  refreshAfterAction();
}

// -- tabs, pause, controls -----------------------------------------------------------------
function setTab(tab) {
  state.tab = tab;
  for (const name of TABS) {
    const button = $(`#tab-${name}`);
    button.setAttribute("aria-selected", String(name === tab));
    button.tabIndex = name === tab ? 0 : -1;
    $(`#panel-${name}`).hidden = name !== tab;
  }
  journal.show(tab === "requests");
  deliveries.show(tab === "deliveries");
  if (tab === "faults") faults.show(state.app);
}

function togglePause() {
  state.paused = !state.paused;
  const button = $("#pause");
  button.setAttribute("aria-pressed", String(state.paused));
  button.textContent = state.paused ? "resume ▶" : "pause ‖";
  button.setAttribute("aria-label", state.paused ? "resume the view" : "pause the view");
  if (state.paused) stream.pause();
  else stream.resume();
  showStream(stream.status, {});
}

function fillFilters() {
  const form = $("#timeline-filters");
  form.elements.state.append(...LANES.map((s) => h("option", { value: s }, stateInfo(s).label)));
  form.elements.result.append(...Object.entries(RESULTS).map(([r, label]) => h("option", { value: r }, label)));
  const changed = () => state.broadcast && timeline.show(state.broadcast, timelineFilter(), ms(state.clock.now));
  form.addEventListener("change", changed);
  form.elements.number.addEventListener("input", throttle(changed, 400));
  form.addEventListener("submit", (e) => e.preventDefault());
}

function wireControls() {
  $("#project").addEventListener("change", (e) => navigate({ app: e.target.value, broadcast: null, voice: null }));
  $("#project").addEventListener("focus", () => loadProjects().catch(() => {}));
  for (const button of document.querySelectorAll("#clock .advance")) {
    button.addEventListener("click", () => clockAction("/clock/advance", { seconds: Number(button.dataset.seconds) }));
  }
  $("#run-idle").addEventListener("click", () => clockAction("/clock/run-until-idle", {}));
  $("#pause").addEventListener("click", togglePause);
  for (const name of TABS) $(`#tab-${name}`).addEventListener("click", () => navigate({ tab: name }));
  $(".tabs").addEventListener("keydown", (e) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
    if (!step) return;
    const next = TABS[(TABS.indexOf(state.tab) + step + TABS.length) % TABS.length];
    navigate({ tab: next });
    $(`#tab-${next}`).focus();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && state.voiceId) navigate({ voice: null });
  });
  window.addEventListener("hashchange", () => applyRoute().catch(showError));
  // Firefox reports an event stream still open when the page goes (a reload, a link) as an
  // error in its console ("The connection to … was interrupted while the page was loading"):
  // the page closes it first (before the browser stops the page's requests, which is before
  // pagehide), and opens it again if the browser brings the page back from its cache
  const reopen = () => {
    if (stream.source || !state.app) return;
    stream.open(state.app);
    reloadAll().catch(showError);
  };
  window.addEventListener("beforeunload", () => {
    stream.close();
    setTimeout(reopen, 1000); // runs only if the page stayed (a navigation that did not happen)
  });
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) reopen();
  });
}

function showError(error) {
  const text = error instanceof ApiError ? `${error.status}: ${error.message}` : String(error);
  notice(text);
  console.error(error);
}

// -- start ---------------------------------------------------------------------------------
const timeline = new Timeline($("#timeline"), {
  fetchPage: fetchTimelinePage,
  onOpen: (row, attempt) => navigate({ voice: attempt.voice_id }),
  onSummary: (answer) => fill($("#broadcast-summary"), summaryChips(answer)),
  metrics,
});
const callPanel = new CallPanel($("#call"), {
  onClose: () => navigate({ voice: null }),
  onChanged: () => refreshAfterAction(),
});
const journal = journalTable($("#panel-requests"));
const deliveries = deliveryTable($("#panel-deliveries"), (broadcast, voice) => navigate({ broadcast, voice, tab: "broadcasts" }));
const faults = new FaultsView($("#panel-faults"));

window.__console = { state, metrics, stream, timeline, ready: false };

async function start() {
  fill($("#legend"), legendItems());
  fillFilters();
  wireControls();
  await loadProjects();
  await applyRoute();
  window.__console.ready = true;
  document.body.dataset.ready = "true";
}

start().catch(showError);
