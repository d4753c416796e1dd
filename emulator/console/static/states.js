// Every call state the page draws: a colour, a pattern and a label, so that no state is told
// apart by colour alone. The same painter fills the timeline's bars and the legend's swatches.

export const STATES = {
  queued: { color: "#8c959f", pattern: "dots", label: "queued" },
  initiated: { color: "#6c8ebf", pattern: "dots", label: "dialling" },
  ringing: { color: "#d4a017", pattern: "diagonal", label: "ringing" },
  connected: { color: "#2e8b57", pattern: "solid", label: "connected" },
  playing: { color: "#1f6feb", pattern: "vertical", label: "playing" },
  menu: { color: "#8250df", pattern: "cross", label: "menu (waiting for digits)" },
  bridging: { color: "#0a7ea4", pattern: "horizontal", label: "bridging" },
  bridged: { color: "#0a7ea4", pattern: "horizontal", label: "bridged" },
  retrying: { color: "#afb8c1", pattern: "backslash", label: "waiting to retry" },
  waiting: { color: "#afb8c1", pattern: "backslash", label: "waiting" },
  disconnected: { color: "#57606a", pattern: "solid", label: "done" },
};

/** States drawn as an inner band inside the `connected` bar. */
export const INNER = new Set(["playing", "menu", "bridging", "bridged"]);

export const LANES = [
  "queued",
  "initiated",
  "ringing",
  "connected",
  "retrying",
  "waiting",
  "disconnected",
];

export const RESULTS = {
  success: "ok",
  Busy: "busy",
  NoAnswer: "no answer",
  AMD: "AMD",
  Invalid: "invalid",
  Stopped: "stopped",
};

/** The few letters a timeline row has room for. */
const SHORT = { initiated: "dialling", retrying: "retry wait", disconnected: "done", waiting: "waiting" };

export function shortLabel(state) {
  return SHORT[state] || stateInfo(state).label;
}

export function stateInfo(state) {
  return STATES[state] || { color: "#999999", pattern: "dots", label: state || "?" };
}

export function resultLabel(result) {
  return RESULTS[result] || result || "";
}

const patterns = new Map();

/** A canvas fill for `state`: its colour with its pattern drawn over in white. */
export function fillFor(ctx, state) {
  const info = stateInfo(state);
  const key = `${info.color}:${info.pattern}`;
  if (!patterns.has(key)) patterns.set(key, makePattern(ctx, info));
  return patterns.get(key);
}

function makePattern(ctx, info) {
  if (info.pattern === "solid") return info.color;
  const tile = document.createElement("canvas");
  tile.width = 8;
  tile.height = 8;
  const t = tile.getContext("2d");
  t.fillStyle = info.color;
  t.fillRect(0, 0, 8, 8);
  t.strokeStyle = "rgba(255,255,255,0.75)";
  t.fillStyle = "rgba(255,255,255,0.8)";
  t.lineWidth = 1.5;
  t.beginPath();
  switch (info.pattern) {
    case "dots":
      t.arc(4, 4, 1.4, 0, 2 * Math.PI);
      t.fill();
      return ctx.createPattern(tile, "repeat");
    case "diagonal":
      t.moveTo(0, 8);
      t.lineTo(8, 0);
      break;
    case "backslash":
      t.moveTo(0, 0);
      t.lineTo(8, 8);
      break;
    case "vertical":
      t.moveTo(4, 0);
      t.lineTo(4, 8);
      break;
    case "horizontal":
      t.moveTo(0, 4);
      t.lineTo(8, 4);
      break;
    case "cross":
      t.moveTo(0, 0);
      t.lineTo(8, 8);
      t.moveTo(8, 0);
      t.lineTo(0, 8);
      break;
    default:
      break;
  }
  t.stroke();
  return ctx.createPattern(tile, "repeat");
}

/** A small canvas swatch for the legend. */
export function swatch(state) {
  const canvas = document.createElement("canvas");
  canvas.width = 22;
  canvas.height = 12;
  canvas.className = "swatch";
  canvas.setAttribute("aria-hidden", "true");
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = fillFor(ctx, state);
  ctx.fillRect(0, 0, 22, 12);
  return canvas;
}
