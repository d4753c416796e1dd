// How the timeline is drawn: the time axis, each row's bars and marks, the aggregate lanes.
// These are methods of Timeline (mixed into its prototype), kept here so that the timeline's
// data and interaction and its painting each stay readable.

import { count, deliveryKind, ms } from "./format.js";
import { fillFor, stateInfo, shortLabel, resultLabel, INNER, LANES } from "./states.js";

export const ROW_H = 24;
export const AXIS_H = 26;
export const NAME_W = 190;
export const LANES_FROM = 2000; // more numbers than this: an aggregate lane per state
const MARK = { delivered: "#1a7f37", retried: "#bf8700", pending: "#6e7781", dead: "#cf222e" };

export const painting = {
  sizeCanvas(canvas, width, height) {
    const ratio = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
      canvas.style.width = `${width}px`;
      canvas.style.height = `${height}px`;
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = "12px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    return ctx;
  },

  drawAxis(ctx) {
    const width = this.canvas.clientWidth;
    ctx.fillStyle = "#f6f8fa";
    ctx.fillRect(0, 0, width, AXIS_H);
    ctx.fillStyle = "#24292f";
    ctx.fillText(`number (${count(this.total)})`, 8, AXIS_H / 2);
    const [from, to] = this.range();
    const step = niceStep((to - from) / 1000 / Math.max(1, (width - NAME_W) / 90));
    const first = Math.ceil((from - this.t0) / 1000 / step) * step;
    for (let s = first, n = 0; this.t0 + s * 1000 <= to && n < 200; s += step, n += 1) {
      const x = this.x(this.t0 + s * 1000);
      ctx.fillRect(x, AXIS_H - 6, 1, 6);
      ctx.fillText(axisLabel(s), x + 3, AXIS_H / 2 - 2);
    }
    ctx.fillStyle = "#f6f8fa";
    ctx.fillRect(0, 0, NAME_W, AXIS_H);
    ctx.fillStyle = "#24292f";
    ctx.fillText(`number (${count(this.total)})`, 8, AXIS_H / 2);
    if (this.now > from && this.now <= to) {
      const x = this.x(this.now);
      ctx.fillStyle = "#cf222e";
      ctx.fillRect(x, 0, 1, this.canvas.clientHeight);
    }
  },

  drawRow(ctx, i, row, y) {
    ctx.save();
    this.drawRowBody(ctx, i, row, y);
    ctx.restore();
  },

  drawRowBody(ctx, i, row, y) {
    const width = this.canvas.clientWidth;
    if (i === this.selected) {
      ctx.fillStyle = "#ddf4ff";
      ctx.fillRect(0, y, width, ROW_H);
    } else if (i % 2) {
      ctx.fillStyle = "#fafbfc";
      ctx.fillRect(0, y, width, ROW_H);
    }
    ctx.fillStyle = "#24292f";
    if (row === undefined) {
      ctx.fillText("loading…", 8, y + ROW_H / 2);
      return;
    }
    ctx.fillText(row.number, 8, y + ROW_H / 2);
    const tag = resultLabel(row.result) || shortLabel(row.state);
    ctx.fillStyle = "#57606a";
    ctx.fillText(tag, NAME_W - 8 - ctx.measureText(tag).width, y + ROW_H / 2);
    ctx.beginPath();
    ctx.rect(NAME_W - 4, y, width - NAME_W + 4, ROW_H);
    ctx.clip();
    row.attempts.forEach((attempt, n) => this.drawAttempt(ctx, attempt, y, i === this.selected && n === this.attemptIndex));
  },

  drawAttempt(ctx, attempt, y, chosen) {
    const top = y + 6;
    const height = ROW_H - 12;
    for (const seg of attempt.segments || []) {
      const x0 = this.x(ms(seg.start));
      const x1 = Math.max(x0 + 2, this.x(seg.end ? ms(seg.end) : this.now));
      const inner = INNER.has(seg.state);
      ctx.fillStyle = fillFor(ctx, seg.state);
      ctx.fillRect(x0, inner ? top + 3 : top, x1 - x0, inner ? height - 6 : height);
    }
    const segs = attempt.segments || [];
    if (!segs.length) return;
    const x0 = this.x(ms(segs[0].start));
    const endAt = attempt.ended_at ? ms(attempt.ended_at) : this.now;
    const x1 = Math.max(x0 + 2, this.x(endAt));
    if (attempt.waiting_for) {
      ctx.save();
      ctx.setLineDash([3, 2]);
      ctx.strokeStyle = "#cf222e";
      ctx.lineWidth = 2;
      ctx.strokeRect(x0 - 1, top - 2, x1 - x0 + 2, height + 4);
      ctx.restore();
      ctx.fillStyle = "#cf222e";
      ctx.fillText(`waiting: ${attempt.waiting_for}`, x1 + 4, y + ROW_H / 2);
    } else if (attempt.reason) {
      ctx.fillStyle = "#57606a";
      ctx.fillText(attempt.reason, x1 + 3, y + ROW_H / 2);
    }
    if (chosen) {
      ctx.strokeStyle = "#0969da";
      ctx.lineWidth = 2;
      ctx.strokeRect(x0 - 2, top - 3, x1 - x0 + 4, height + 6);
    }
    for (const ev of attempt.events || []) this.drawMark(ctx, ev, y);
    for (const rq of attempt.requests || []) this.drawRequest(ctx, rq, y);
  },

  drawMark(ctx, ev, y) {
    const kind = deliveryKind(ev);
    const x = this.x(ms(ev.virtual_time));
    const base = y + ROW_H - 1;
    ctx.fillStyle = MARK[kind];
    ctx.strokeStyle = MARK[kind];
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    if (kind === "dead") {
      ctx.moveTo(x - 3, base - 6);
      ctx.lineTo(x + 3, base);
      ctx.moveTo(x + 3, base - 6);
      ctx.lineTo(x - 3, base);
      ctx.stroke();
    } else if (kind === "pending") {
      ctx.arc(x, base - 3, 2.5, 0, 2 * Math.PI);
      ctx.stroke();
    } else {
      ctx.moveTo(x, base - 6);
      ctx.lineTo(x + 3.5, base);
      ctx.lineTo(x - 3.5, base);
      ctx.closePath();
      if (kind === "retried") ctx.stroke();
      else ctx.fill();
    }
  },

  drawRequest(ctx, rq, y) {
    const x = this.x(ms(rq.virtual_time));
    ctx.fillStyle = rq.status >= 400 ? "#cf222e" : "#24292f";
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x + 3.5, y + 3.5);
    ctx.lineTo(x, y + 7);
    ctx.lineTo(x - 3.5, y + 3.5);
    ctx.closePath();
    ctx.fill();
  },

  drawLanes() {
    const show = this.total > LANES_FROM && this.summary;
    this.lanes.hidden = !show;
    if (!show) return;
    const byState = this.summary.by_state || {};
    const states = LANES.filter((s) => s in byState);
    const width = this.scroller.clientWidth || 600;
    const ctx = this.sizeCanvas(this.lanes, width, states.length * 18 + 6);
    const label = states.map((s) => `${stateInfo(s).label} ${byState[s]}`).join(", ");
    this.lanes.setAttribute("aria-label", `numbers per state: ${label}`);
    states.forEach((state, n) => this.drawLane(ctx, state, byState[state], 3 + n * 18, width));
  },

  drawLane(ctx, state, value, y, width) {
    ctx.fillStyle = "#24292f";
    ctx.fillText(`${stateInfo(state).label}`, 8, y + 8);
    const tag = count(value);
    ctx.fillText(tag, NAME_W - 8 - ctx.measureText(tag).width, y + 8);
    const room = width - NAME_W - 12;
    ctx.fillStyle = fillFor(ctx, state);
    const points = this.history.filter((p) => p.t >= this.t0);
    if (points.length > 1) {
      // the count over virtual time, as far as this page has watched it
      ctx.beginPath();
      ctx.moveTo(this.x(points[0].t), y + 16);
      for (const p of points) ctx.lineTo(this.x(p.t), y + 16 - (14 * (p.by[state] || 0)) / this.total);
      ctx.lineTo(this.x(points[points.length - 1].t), y + 16);
      ctx.closePath();
      ctx.fill();
    } else {
      ctx.fillRect(NAME_W, y + 2, (room * value) / Math.max(1, this.total), 14);
    }
  },
};

function niceStep(raw) {
  for (const step of [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200]) {
    if (step >= raw) return step;
  }
  return 14400;
}

function axisLabel(seconds) {
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return m ? `${m}:${String(s).padStart(2, "0")}` : `${s}s`;
}
