// How times, numbers and states are written on the page.

/** "09:00:42.000" of an ISO instant (virtual time is UTC). */
export function clockTime(iso) {
  if (!iso) return "–";
  const at = iso.indexOf("T");
  return at < 0 ? iso : iso.slice(at + 1, at + 13);
}

export function ms(iso) {
  return iso ? Date.parse(iso) : NaN;
}

/** "0:42" or "1:02:03" for a span of milliseconds. */
export function span(millis) {
  if (!Number.isFinite(millis) || millis < 0) return "–";
  const total = Math.floor(millis / 1000);
  const s = total % 60;
  const m = Math.floor(total / 60) % 60;
  const hours = Math.floor(total / 3600);
  const two = (n) => String(n).padStart(2, "0");
  return hours ? `${hours}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

/** "+12.5 s" from `t0` to `iso`. */
export function offset(t0, iso) {
  const value = (ms(iso) - t0) / 1000;
  return Number.isFinite(value) ? `${value.toFixed(value % 1 ? 1 : 0)} s` : "–";
}

export function count(n) {
  return Number(n || 0).toLocaleString("en-US");
}

/** The short form of a long id: "5fa5c1…". */
export function shortId(id) {
  return id && id.length > 10 ? `${id.slice(0, 8)}…` : id || "";
}

export function latency(value) {
  return value === null || value === undefined ? "" : `${Number(value).toFixed(1)} ms`;
}

/** One delivery attempt: "200 (1.2 ms)" or "error: refused (3.0 ms)". */
export function attemptText(a) {
  const what = a.status !== null && a.status !== undefined ? String(a.status) : `error: ${a.error}`;
  const time = latency(a.latency_ms);
  return time ? `${what} (${time})` : what;
}

/** Delivery states as a symbol and a word, so they never rest on colour alone. */
export const DELIVERY = {
  delivered: { symbol: "✓", label: "delivered" },
  retried: { symbol: "⟳", label: "delivered after retries" },
  pending: { symbol: "…", label: "pending" },
  dead: { symbol: "✗", label: "dead (given up)" },
};

export function deliveryKind(event) {
  const state = event.delivery_state || event.state;
  if (state === "delivered" && (event.attempts || []).length > 1) return "retried";
  return DELIVERY[state] ? state : "pending";
}

export function json(value) {
  return JSON.stringify(value, null, 2);
}
