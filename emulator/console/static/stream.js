// The project's event stream (GET /_emulator/stream): live, paused, dropped and reconnected.
//
// EventSource reconnects by itself after a drop; this class tells the page when that happens
// (so it can mark it and reload what it shows from the REST routes) and, while the view is
// paused, keeps the messages that arrive in a bounded buffer to apply on resume.

import { api } from "./api.js";

// every type the stream sends (docs/inspection.md): EventSource hears only the named ones
const TYPES = ["hello", "request", "call", "webhook", "broadcast", "clock", "waiting", "dropped"];
const PAUSE_BUFFER = 5000; // more than this while paused: resume reloads instead of replaying

export class Stream {
  /**
   * @param {object} handlers  onMessage(msg), onStatus(status, detail), onResync(reason)
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.source = null;
    this.app = null;
    this.paused = false;
    this.buffer = [];
    this.overflow = false;
    this.status = "closed";
    this.opened = 0; // how many times the stream has opened (a second open is a reconnect)
    this.lastSeq = 0;
    this.droppedAt = null;
    this.received = 0;
  }

  /** Listen to `app`'s stream (a new project: nothing dropped yet). */
  open(app) {
    this.droppedAt = null;
    this.connect(app);
  }

  connect(app) {
    this.close();
    this.app = app;
    this.opened = 0;
    this.lastSeq = 0;
    const source = new EventSource(api.streamUrl(app));
    this.source = source;
    this.setStatus("connecting");
    source.onopen = () => this.opened_();
    source.onerror = () => this.errored(source);
    for (const type of TYPES) {
      source.addEventListener(type, (event) => this.receive(event));
    }
  }

  close() {
    if (this.source) this.source.close();
    this.source = null;
    this.setStatus("closed");
  }

  opened_() {
    this.opened += 1;
    if (this.droppedAt !== null) {
      const since = this.droppedAt;
      this.droppedAt = null;
      this.setStatus("live", { reconnected: true, since });
      this.handlers.onResync("reconnected");
    } else {
      this.setStatus("live");
    }
  }

  errored(source) {
    if (source !== this.source) return;
    if (this.droppedAt === null) this.droppedAt = new Date();
    const closed = source.readyState === EventSource.CLOSED;
    this.setStatus(closed ? "closed" : "reconnecting", { since: this.droppedAt });
    if (closed) {
      // the server refused us for good (e.g. a wrong token): try again in a while
      setTimeout(() => {
        if (this.source === source) this.connect(this.app); // keeps droppedAt: a reconnect
      }, 3000);
    }
  }

  receive(event) {
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch (error) {
      return;
    }
    this.received += 1;
    if (typeof msg.seq === "number") this.lastSeq = msg.seq;
    if (msg.type === "dropped" && msg.reason === "busy") {
      // sampled, not lost: whole calls still arrive, and every broadcast's progress
      this.handlers.onStatus(this.status, { sampled: msg.sample, skipped: msg.count });
      return;
    }
    if (msg.type === "dropped") {
      this.handlers.onStatus(this.status, { dropped: msg.count });
      this.handlers.onResync("dropped");
      return;
    }
    if (this.paused && msg.type !== "hello") {
      if (this.buffer.length < PAUSE_BUFFER) this.buffer.push(msg);
      else this.overflow = true;
      this.handlers.onStatus(this.status, { buffered: this.buffer.length, overflow: this.overflow });
      return;
    }
    this.handlers.onMessage(msg);
  }

  pause() {
    this.paused = true;
  }

  /** Apply what arrived while paused (or reload everything if too much did). */
  resume() {
    this.paused = false;
    const pending = this.buffer;
    const overflow = this.overflow;
    this.buffer = [];
    this.overflow = false;
    if (overflow) this.handlers.onResync("paused too long");
    else for (const msg of pending) this.handlers.onMessage(msg);
    this.handlers.onStatus(this.status, {});
  }

  setStatus(status, detail) {
    this.status = status;
    this.handlers.onStatus(status, detail || {});
  }
}
