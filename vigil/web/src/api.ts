// The HTTP API client: bearer token, JSON, RFC 9457 problem details as errors.

import type { Role } from "./types";

export type { Role } from "./types";

export interface Session {
  token: string;
  name: string;
  role: Role;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export const PREFIX = "/api/v1";

export class Api {
  constructor(public session: Session | null = null) {}

  async request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const h: Record<string, string> = { Accept: "application/json", ...headers };
    if (this.session) h.Authorization = `Bearer ${this.session.token}`;
    if (body !== undefined) h["Content-Type"] = "application/json";
    const res = await fetch(PREFIX + path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) {
      let detail = res.statusText;
      let field: string | undefined;
      try {
        const p = (await res.json()) as { detail?: unknown; field?: string; title?: string };
        detail = typeof p.detail === "string" ? p.detail : (p.title ?? JSON.stringify(p.detail));
        field = p.field;
      } catch {
        // not JSON: keep the status text
      }
      throw new ApiError(res.status, detail, field);
    }
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    // Each command carries an idempotency key, so a retried click repeats no effect.
    return this.request<T>("POST", path, body, { "Idempotency-Key": idempotencyKey() });
  }

  /** GET that answers null when the endpoint does not exist in this deployment. */
  async optional<T>(path: string): Promise<T | null> {
    try {
      return await this.get<T>(path);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 404 || err.status === 405 || err.status === 503)) return null;
      throw err;
    }
  }
}

function idempotencyKey(): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return "ui-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// What each role may do in the UI (the server enforces the same, this only hides).
export interface Abilities {
  takeCall: boolean;
  dispatch: boolean;
  unitStatus: boolean;
  geocode: boolean;
}

export function abilities(role: Role): Abilities {
  const operators: Role[] = ["call_taker", "dispatcher", "supervisor", "admin"];
  const dispatchers: Role[] = ["dispatcher", "supervisor", "admin"];
  return {
    takeCall: operators.includes(role),
    dispatch: dispatchers.includes(role),
    unitStatus: dispatchers.includes(role),
    geocode: operators.includes(role),
  };
}
