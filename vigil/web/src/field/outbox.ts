// The field app's outbox: every action is queued here first, with its own
// idempotency key, and sent in order. Without a connection the queue waits (in
// localStorage, so a reload keeps it) and is sent when the connection returns;
// a resend after a lost answer repeats no effect, because the server knows the key.
// Only the newest position is kept: an old fix is worth nothing once a newer exists.

import { PREFIX } from "../api";

export interface Action {
  key: string;
  kind: "status" | "note" | "position";
  path: string;
  body: unknown;
  label: string;
}

export interface Refusal {
  action: Action;
  status: number;
  detail: string;
}

const STORE = "vigil.field.outbox";

function newKey(): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return "field-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Outbox {
  private items: Action[];
  private sending = false;
  private timer: number | undefined;
  online = navigator.onLine;
  delivered = 0;

  constructor(
    private readonly token: () => string,
    private readonly onChange: () => void,
    private readonly onRefused: (r: Refusal) => void,
    private readonly onDelivered: (a: Action) => void,
  ) {
    this.items = this.load();
    window.addEventListener("online", () => void this.flush());
  }

  get pending(): readonly Action[] {
    return this.items;
  }

  add(kind: Action["kind"], path: string, body: unknown, label: string): void {
    if (kind === "position") this.items = this.items.filter((a) => a.kind !== "position");
    this.items.push({ key: newKey(), kind, path, body, label });
    this.save();
    this.onChange();
    void this.flush();
  }

  /** Send queued actions in order; stop at the first that cannot be delivered now. */
  async flush(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    window.clearTimeout(this.timer);
    try {
      while (this.items.length) {
        const a = this.items[0];
        let res: Response;
        try {
          res = await fetch(PREFIX + a.path, {
            method: "POST",
            headers: { "Content-Type": "application/json", Accept: "application/json", Authorization: `Bearer ${this.token()}`, "Idempotency-Key": a.key },
            body: JSON.stringify(a.body),
          });
        } catch {
          this.setOnline(false);
          this.retry();
          return;
        }
        this.setOnline(true);
        if (res.status >= 500 || res.status === 408 || res.status === 429 || res.status === 401) {
          this.retry(); // the server will take it later (or after a new sign-in)
          return;
        }
        this.items.shift();
        this.save();
        if (res.ok) {
          this.delivered += 1;
          this.onDelivered(a);
        } else {
          let detail = res.statusText;
          try {
            const p = (await res.json()) as { detail?: string };
            detail = p.detail ?? detail;
          } catch {
            // not JSON
          }
          this.onRefused({ action: a, status: res.status, detail });
        }
        this.onChange();
      }
    } finally {
      this.sending = false;
    }
  }

  private retry(): void {
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.flush(), 2000);
    this.onChange();
  }

  setOnline(on: boolean): void {
    if (this.online === on) return;
    this.online = on;
    this.onChange();
    if (on) void this.flush();
  }

  private load(): Action[] {
    try {
      const raw = localStorage.getItem(STORE);
      return raw ? (JSON.parse(raw) as Action[]) : [];
    } catch {
      return [];
    }
  }

  private save(): void {
    localStorage.setItem(STORE, JSON.stringify(this.items));
  }
}
