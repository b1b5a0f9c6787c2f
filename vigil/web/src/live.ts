// The live feed client: Server-Sent Events with resume from the last sequence seen.
//
// The browser's own EventSource reconnect would resend Last-Event-ID, but it
// gives up for good on some errors (e.g. a 401 or a proxy's 502), so the stream
// is managed here: on any error it is closed and reopened with ?after=<last seq>
// after a short backoff, and the server replays what was missed.

import type { FeedEvent } from "./types";

export type LiveState = "connecting" | "live" | "reconnecting" | "stopped";

export interface LiveOptions {
  token: string;
  after: number;
  /** Event types beyond the core ones (panels name what they need). */
  types?: readonly string[];
  onEvent: (ev: FeedEvent) => void;
  /** The server's time, sent when the stream opens and every few seconds. */
  onClock?: (now: string) => void;
  onState: (state: LiveState, lastSeq: number) => void;
}

// Every event type the UI understands; EventSource dispatches by the `event:` line.
const TYPES = [
  "incident.opened",
  "incident.updated",
  "incident.status_changed",
  "incident.closed",
  "incident.cancelled",
  "incident.reopened",
  "incident.note_added",
  "call.received",
  "unit.registered",
  "unit.assigned",
  "unit.released",
  "unit.status_changed",
  "unit.position",
  "device.registered",
  "device.offline",
  "device.online",
  "rule.fired",
  "alert.drafted",
  "alert.approved",
  "alert.published",
  "alert.cancelled",
];

export class LiveFeed {
  lastSeq: number;
  state: LiveState = "connecting";
  reconnects = 0;
  resyncs = 0;
  received = 0;
  private es: EventSource | null = null;
  private timer: number | undefined;
  private backoff = 500;

  constructor(private readonly opts: LiveOptions) {
    this.lastSeq = opts.after;
  }

  start(): void {
    this.open();
  }

  stop(): void {
    this.setState("stopped");
    window.clearTimeout(this.timer);
    this.es?.close();
    this.es = null;
  }

  /** Close the connection now and reconnect after `ms` (operations and tests). */
  drop(ms: number): void {
    this.es?.close();
    this.es = null;
    this.setState("reconnecting");
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.open(), ms);
  }

  private open(): void {
    if (this.state === "stopped") return;
    const url = `/api/v1/live?after=${this.lastSeq}&access_token=${encodeURIComponent(this.opts.token)}`;
    const es = new EventSource(url);
    this.es = es;
    es.onopen = () => {
      this.backoff = 500;
      this.setState("live");
    };
    const handle = (msg: MessageEvent<string>): void => {
      const ev = JSON.parse(msg.data) as FeedEvent;
      if (ev.seq <= this.lastSeq) return;
      this.lastSeq = ev.seq;
      this.received += 1;
      this.opts.onEvent(ev);
    };
    for (const t of new Set([...TYPES, ...(this.opts.types ?? [])])) es.addEventListener(t, handle as EventListener);
    es.onmessage = handle; // frames of types this build does not name
    es.addEventListener("clock", ((msg: MessageEvent<string>) => {
      const c = JSON.parse(msg.data) as { now?: string };
      if (c.now) this.opts.onClock?.(c.now);
    }) as EventListener);
    es.addEventListener("resync", (() => {
      // The server's buffer for this client overflowed: it sent a gap-free prefix and
      // ends the stream. Reopen at once from the last change applied (the server
      // replays the rest), without waiting for the error backoff.
      if (this.es !== es) return;
      es.close();
      this.es = null;
      this.reconnects += 1;
      this.resyncs += 1;
      this.setState("reconnecting");
      window.clearTimeout(this.timer);
      this.timer = window.setTimeout(() => this.open(), 0);
    }) as EventListener);
    es.onerror = () => {
      if (this.es !== es) return;
      es.close();
      this.es = null;
      this.reconnects += 1;
      this.setState("reconnecting");
      window.clearTimeout(this.timer);
      this.timer = window.setTimeout(() => this.open(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10_000);
    };
  }

  private setState(s: LiveState): void {
    this.state = s;
    this.opts.onState(s, this.lastSeq);
  }
}
