// The field unit app: a crew's assignment, route, status and notes on a phone.
// Phone-first, large targets, high contrast; works through a lost connection
// (see outbox.ts); the server's clock is the one clock (see clock.ts).

import "./field.css";

import { Api, ApiError, type Session } from "../api";
import { ServerClock } from "../clock";
import { append, clear, h } from "../dom";
import { has, lang, t } from "../i18n";
import { LiveFeed } from "../live";
import type { MapView } from "../map";
import type { FeedEvent, FieldOut, MapConfig, StepOut, TokenOut, UnitStatus } from "../types";
import { place } from "../centre/widgets";
import { Outbox } from "./outbox";

const KEY = "vigil.field.session";
// The order crews expect the buttons in (the server says which are allowed now).
const STATUS_ORDER: UnitStatus[] = ["en_route", "on_scene", "transporting", "at_hospital", "available", "out_of_service"];
const ARROW: Record<string, string> = {
  depart: "⬆",
  continue: "⬆",
  slight_left: "↖",
  slight_right: "↗",
  left: "⬅",
  right: "➡",
  sharp_left: "↙",
  sharp_right: "↘",
  arrive: "⚑",
};

declare global {
  interface Window {
    field?: FieldApp;
  }
}

const root = document.getElementById("root")!;
document.documentElement.lang = lang;
document.title = t("app.field");

function statusText(s: string): string {
  const k = `unit.${s}`;
  return has(k) ? t(k) : s;
}

function km(m: number): string {
  return m >= 1000 ? `${(m / 1000).toFixed(1)} km` : `${Math.round(m / 10) * 10} m`;
}

function mins(s: number): string {
  return s >= 60 ? `${Math.round(s / 60)} min` : `${Math.round(s)} s`;
}

export class FieldApp {
  readonly clock = new ServerClock();
  readonly outbox: Outbox;
  live: LiveFeed | null = null;
  view: FieldOut | null = null;
  private readonly api: Api;
  private readonly unitId: string;
  private incidentSeen: string | null | undefined = undefined;
  private refreshTimer: number | undefined;
  private lastFix: GeolocationPosition | null = null;
  private sentFixAt = Number.NEGATIVE_INFINITY; // the first fix goes out at once, not an interval after page load
  private avlTimer: number | undefined;
  map: MapView | null = null; // public for tests: settled, rendered features
  private mapLoading: Promise<void> | null = null;
  private readonly el: Record<string, HTMLElement> = {};
  alerts = 0;

  constructor(
    readonly session: Session,
    private readonly onLogout: () => void,
  ) {
    this.api = new Api(session);
    this.unitId = session.name.toUpperCase();
    this.outbox = new Outbox(
      () => session.token,
      () => this.renderPending(),
      (r) => this.toast(`${t("refused")}: ${r.action.label} — ${r.detail}`, true),
      () => this.scheduleRefresh(),
    );
  }

  async start(): Promise<void> {
    this.layout();
    await this.refresh();
    this.live = new LiveFeed({
      token: this.session.token,
      after: 0,
      onEvent: (ev) => this.onEvent(ev),
      onClock: (now) => this.clock.sync(now),
      onState: (s) => {
        if (s === "live") this.outbox.setOnline(true);
        else if (s === "reconnecting") this.outbox.setOnline(navigator.onLine && this.outbox.online);
      },
    });
    const health = await this.api.get<{ last_seq: number }>("/health");
    this.live.lastSeq = health.last_seq;
    this.live.start();
    this.startAvl();
    void this.outbox.flush();
    window.setInterval(() => this.renderEta(), 1000);
    document.body.dataset.fieldReady = "1";
  }

  // ----------------------------------------------------------------- layout
  private layout(): void {
    clear(root);
    const e = this.el;
    e.conn = h("span", { class: "conn", role: "status", "data-testid": "connection" });
    e.status = h("span", { class: "ustatus", "data-testid": "unit-status" });
    e.alert = h("section", { class: "alert", role: "alert", hidden: true, "data-testid": "new-assignment" });
    e.assignment = h("section", { class: "card", "aria-labelledby": "a-title" });
    e.buttons = h("div", { class: "buttons", role: "group", "aria-label": t("status.title") });
    e.route = h("section", { class: "card", "aria-labelledby": "r-title" });
    e.notes = h("section", { class: "card", "aria-labelledby": "n-title" });
    e.pending = h("section", { class: "card pending", "aria-labelledby": "p-title", "data-testid": "pending" });
    e.avl = h("p", { class: "avl", "data-testid": "avl" });
    e.toasts = h("div", { class: "toasts", "aria-live": "assertive" });
    const header = h(
      "header",
      {},
      h("h1", {}, h("span", { class: "unit-id" }, this.unitId)),
      e.status,
      e.conn,
      h("button", { type: "button", class: "quiet", onclick: () => this.onLogout() }, t("logout")),
    );
    const main = h(
      "main",
      {},
      e.alert,
      e.assignment,
      h("section", { class: "card", "aria-labelledby": "s-title" }, h("h2", { id: "s-title" }, t("status.title")), e.buttons),
      e.route,
      e.notes,
      e.pending,
      e.avl,
    );
    root.append(header, main, e.toasts);
    window.addEventListener("online", () => this.renderPending());
    window.addEventListener("offline", () => {
      this.outbox.setOnline(false);
    });
  }

  // ------------------------------------------------------------------- data
  async refresh(): Promise<void> {
    let v: FieldOut;
    try {
      v = await this.api.get<FieldOut>(`/field/units/${this.unitId}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) this.onLogout();
      return; // offline: keep what is on screen
    }
    this.clock.sync(v.now);
    const incident = v.incident?.id ?? null;
    if (this.incidentSeen !== undefined && incident && incident !== this.incidentSeen) this.newAssignment(v);
    this.incidentSeen = incident;
    this.view = v;
    this.render();
  }

  private scheduleRefresh(): void {
    window.clearTimeout(this.refreshTimer);
    this.refreshTimer = window.setTimeout(() => void this.refresh(), 150);
  }

  private onEvent(ev: FeedEvent): void {
    const d = ev.data;
    const mine = d.unit_id === this.unitId || (this.view?.incident && d.incident_id === this.view.incident.id);
    if (mine && ev.type !== "unit.position") this.scheduleRefresh();
  }

  private newAssignment(v: FieldOut): void {
    this.alerts += 1;
    const a = this.el.alert;
    clear(a);
    a.append(
      h("h2", {}, t("assignment.new")),
      h("p", { class: "big" }, `${v.incident?.number ?? ""} · ${v.incident?.address ?? ""}`),
      h("button", { type: "button", class: "primary", onclick: () => (a.hidden = true) }, t("assignment.ack")),
    );
    a.hidden = false;
    navigator.vibrate?.([400, 150, 400, 150, 400]);
    beep();
  }

  // ----------------------------------------------------------------- render
  private render(): void {
    const v = this.view;
    if (!v) return;
    const e = this.el;
    e.status.textContent = `${t("status.current")}: ${statusText(v.unit.status)}`;
    e.status.dataset.status = v.unit.status;
    this.renderAssignment(v);
    this.renderButtons(v);
    this.renderRoute(v);
    this.renderNotes(v);
    this.renderPending();
  }

  private renderAssignment(v: FieldOut): void {
    const box = this.el.assignment;
    clear(box);
    box.append(h("h2", { id: "a-title" }, t("assignment.title")));
    const inc = v.incident;
    if (!inc) {
      box.append(h("p", { class: "big muted", "data-testid": "no-assignment" }, t("assignment.none")));
      return;
    }
    box.dataset.incident = inc.id;
    append(
      box,
      h("p", { class: "number", "data-testid": "incident-number" }, inc.number ?? inc.id),
      h("p", { class: "type" }, h("span", { class: `prio prio-${inc.priority}` }, `P${inc.priority}`), " ", inc.type.replaceAll("_", " ")),
      h("p", { class: "address", "data-testid": "incident-address" }, place(inc)),
      inc.description ? h("p", {}, inc.description) : null,
      h("h3", {}, t("assignment.others")),
      v.others.length
        ? h("ul", { class: "others" }, ...v.others.map((u) => h("li", {}, h("strong", {}, u.callsign), ` — ${statusText(u.status)}`)))
        : h("p", { class: "muted" }, t("assignment.others_none")),
    );
  }

  private renderButtons(v: FieldOut): void {
    const box = this.el.buttons;
    clear(box);
    const queued = this.outbox.pending.filter((a) => a.kind === "status").length > 0;
    for (const s of STATUS_ORDER) {
      if (!v.may_report.includes(s)) continue;
      box.append(
        h(
          "button",
          { type: "button", class: `status s-${s}`, "data-status": s, disabled: queued, onclick: () => this.report(s) },
          statusText(s),
        ),
      );
    }
  }

  /** One tap: queue the status (sent at once, or when the connection returns). */
  report(s: UnitStatus): void {
    this.outbox.add("status", `/units/${this.unitId}/status`, { status: s }, statusText(s));
    if (this.view) {
      // Show it at once; the server's answer (and the feed) confirm or correct it.
      this.view = { ...this.view, unit: { ...this.view.unit, status: s }, may_report: [] };
      this.render();
      this.el.status.textContent = `${t("status.current")}: ${statusText(s)} (${t("status.pending")})`;
    }
  }

  private renderRoute(v: FieldOut): void {
    const box = this.el.route;
    clear(box);
    box.append(h("h2", { id: "r-title" }, t("route.title")));
    if (!v.incident) {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    const r = v.route;
    const driving = v.unit.status === "dispatched" || v.unit.status === "en_route";
    if (!r) {
      box.append(h("p", { class: "muted" }, `${t("route.none")}: ${v.route_problem ?? ""}`));
      return;
    }
    box.append(h("p", { class: "eta big", "data-testid": "eta", "data-eta-s": String(r.eta_s) }, driving ? `${t("route.eta")} ${mins(r.eta_s)}` : km(r.metres)));
    const holder = h("div", { class: "fmap", id: "fmap" });
    box.append(holder);
    box.append(h("ol", { class: "steps", "data-testid": "steps" }, ...(r.steps ?? []).map((s) => this.step(s))));
    void this.drawMap(holder, v);
  }

  private step(s: StepOut): HTMLElement {
    const verb = has(`maneuver.${s.maneuver}`) ? t(`maneuver.${s.maneuver}` as never) : s.maneuver;
    const what = s.maneuver === "arrive" ? verb : `${verb} ${s.street || t("street.unnamed")}`;
    return h("li", { "data-maneuver": s.maneuver }, h("span", { class: "arrow", "aria-hidden": "true" }, ARROW[s.maneuver] ?? "•"), h("span", { class: "what" }, what), s.metres > 0 ? h("span", { class: "dist" }, km(s.metres)) : null);
  }

  private renderEta(): void {
    const v = this.view;
    const el = this.root().querySelector<HTMLElement>("[data-testid=eta]");
    if (!v?.route || !el || !(v.unit.status === "dispatched" || v.unit.status === "en_route")) return;
    // The ETA was computed at the server's `now`; count down on the server's clock.
    const left = v.route.eta_s - (this.clock.now() - Date.parse(v.now)) / 1000;
    const at = new Date(Date.parse(v.now) + v.route.eta_s * 1000).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    el.textContent = `${t("route.eta")} ${mins(Math.max(0, left))} · ${t("route.arrive_at")} ${at}`;
  }

  private root(): HTMLElement {
    return root;
  }

  private async drawMap(holder: HTMLElement, v: FieldOut): Promise<void> {
    this.mapLoading ??= (async () => {
      try {
        const [{ MapView }, cfg] = await Promise.all([import("../map"), this.api.get<MapConfig>("/map/config")]);
        this.map = new MapView(holder, cfg, { incidents: [], units: [], selected: null, selectedUnit: null }, { onIncident: () => undefined, onUnit: () => undefined, onClick: () => false });
        await this.map.ready;
        // The map keeps its container hidden until its first complete frame (see
        // MapView): shown once rendered(), as the command centre does.
        void this.map.rendered().then(() => (document.body.dataset.fieldMapReady = "1"));
      } catch (err) {
        this.map = null;
        // The same fallback as the command centre: say why, the steps still guide the crew.
        holder.append(h("p", { class: "map-error", role: "alert" }, `${t("route.no_map")}: ${String(err)}`));
      }
    })();
    await this.mapLoading;
    const m = this.map;
    if (!m) return;
    if (m.map.getContainer() !== holder) {
      holder.replaceWith(m.map.getContainer());
      m.map.resize();
    }
    if (v.incident) m.setIncidents([v.incident], v.incident.id);
    m.setUnits([v.unit, ...v.others], v.unit.id);
    if (v.route) m.setRoutes([{ unitId: v.unit.id, geometry: v.route.geometry as never, preview: false }]);
    // Frame the whole route (and the scene) so the crew sees where they are going.
    const pts: [number, number][] = ((v.route?.geometry as { coordinates?: [number, number][] } | undefined)?.coordinates ?? []).slice();
    if (v.incident?.location) pts.push([v.incident.location.lon, v.incident.location.lat]);
    if (v.unit.location) pts.push([v.unit.location.lon, v.unit.location.lat]);
    if (pts.length >= 2) {
      const lons = pts.map((p) => p[0]);
      const lats = pts.map((p) => p[1]);
      m.map.fitBounds([Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats)], { padding: 36, maxZoom: 17, duration: 0 });
    } else if (v.incident?.location) m.focus(v.incident.location);
  }

  private renderNotes(v: FieldOut): void {
    const box = this.el.notes;
    clear(box);
    box.append(h("h2", { id: "n-title" }, t("assignment.notes")));
    if (!v.incident) {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    const ul = h("ul", { class: "notes", "data-testid": "notes" });
    for (const n of v.notes) ul.append(h("li", {}, h("time", { datetime: n.at }, new Date(n.at).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" })), ` ${n.actor}: ${n.text}`));
    for (const a of this.outbox.pending.filter((x) => x.kind === "note")) ul.append(h("li", { class: "queued" }, `${a.label} (${t("status.pending")})`));
    if (!ul.children.length) ul.append(h("li", { class: "muted" }, t("assignment.notes_none")));
    const text = h("textarea", { id: "note-text", rows: 2, maxlength: 2000 });
    const form = h("form", {}, h("label", { for: "note-text" }, t("note.label")), text, h("button", { type: "submit", class: "primary", id: "note-submit" }, t("note.submit")));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const body = text.value.trim();
      if (!body) return;
      this.outbox.add("note", `/field/units/${this.unitId}/notes`, { text: body }, body);
      text.value = "";
      this.renderNotes(this.view ?? v);
    });
    box.append(ul, form);
  }

  private renderPending(): void {
    const e = this.el;
    if (!e.pending) return;
    const on = this.outbox.online;
    e.conn.textContent = on ? t("state.online") : t("state.offline");
    e.conn.className = on ? "conn on" : "conn off";
    e.conn.dataset.online = String(on);
    clear(e.pending);
    const items = this.outbox.pending;
    e.pending.dataset.count = String(items.length);
    e.pending.append(h("h2", { id: "p-title" }, `${t("pending.title")}: ${items.length}`));
    if (!items.length) e.pending.append(h("p", { class: "muted" }, t("pending.none")));
    else e.pending.append(h("ol", {}, ...items.map((a) => h("li", { "data-kind": a.kind }, a.label))));
    if (this.view) this.renderButtons(this.view);
  }

  // -------------------------------------------------------------------- AVL
  private startAvl(): void {
    const interval = (this.view?.avl_interval_s ?? 10) * 1000;
    if (!("geolocation" in navigator)) {
      this.el.avl.textContent = t("avl.off");
      return;
    }
    navigator.geolocation.watchPosition(
      (p) => {
        this.lastFix = p;
        this.el.avl.textContent = t("avl.on", { s: interval / 1000 });
        if (performance.now() - this.sentFixAt >= interval) this.sendFix();
      },
      () => (this.el.avl.textContent = t("avl.off")),
      { enableHighAccuracy: true, maximumAge: 5000 },
    );
    this.avlTimer = window.setInterval(() => this.sendFix(), interval);
  }

  private sendFix(): void {
    const p = this.lastFix;
    if (!p) return;
    this.sentFixAt = performance.now();
    const c = p.coords;
    this.outbox.add(
      "position",
      `/units/${this.unitId}/position`,
      {
        // No fix_at: the phone's clock is not the platform's; the server stamps it.
        location: { lat: c.latitude, lon: c.longitude },
        heading_deg: c.heading !== null && Number.isFinite(c.heading) && c.heading >= 0 && c.heading < 360 ? c.heading : null,
        speed_mps: c.speed !== null && Number.isFinite(c.speed) && c.speed >= 0 && c.speed <= 100 ? c.speed : null,
      },
      `${c.latitude.toFixed(5)}, ${c.longitude.toFixed(5)}`,
    );
  }

  stop(): void {
    this.live?.stop();
    window.clearInterval(this.avlTimer);
  }

  toast(text: string, bad = false): void {
    const el = h("div", { class: bad ? "toast bad" : "toast", role: bad ? "alert" : "status" }, text);
    this.el.toasts.append(el);
    window.setTimeout(() => el.remove(), bad ? 8000 : 3000);
  }
}

/** A short two-tone alarm (the browser may refuse sound until the user has tapped). */
function beep(): void {
  try {
    const ctx = new AudioContext();
    const o = ctx.createOscillator();
    const g = ctx.createGain();
    o.connect(g);
    g.connect(ctx.destination);
    g.gain.value = 0.2;
    o.frequency.setValueAtTime(880, ctx.currentTime);
    o.frequency.setValueAtTime(660, ctx.currentTime + 0.3);
    o.start();
    o.stop(ctx.currentTime + 0.9);
  } catch {
    // no audio here
  }
}

// ------------------------------------------------------------------ sign-in
function saved(): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

function logout(): void {
  localStorage.removeItem(KEY);
  window.field?.stop();
  window.location.reload();
}

function login(message = ""): void {
  clear(root);
  const unit = h("input", { id: "login-unit", name: "username", autocomplete: "username", required: true, autocapitalize: "characters" });
  const pass = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const error = h("p", { class: "warn", role: "alert", id: "login-error" }, message);
  const form = h(
    "form",
    { class: "login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, t("app.field")),
    h("p", {}, t("login.title")),
    h("label", { for: "login-unit" }, t("login.unit")),
    unit,
    h("label", { for: "login-password" }, t("login.password")),
    pass,
    error,
    h("button", { type: "submit", class: "primary", id: "login-submit" }, t("login.submit")),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void (async () => {
      try {
        const s = await new Api().request<TokenOut>("POST", "/auth/login", { username: unit.value.trim().toLowerCase(), password: pass.value });
        if (s.role !== "field_unit") {
          error.textContent = t("login.not_crew");
          return;
        }
        const session: Session = { token: s.token, name: s.name, role: s.role };
        localStorage.setItem(KEY, JSON.stringify(session));
        await start(session);
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.message : String(err);
        pass.select();
      }
    })();
  });
  root.append(h("main", { class: "login-wrap" }, form));
  unit.focus();
}

async function start(session: Session): Promise<void> {
  const app = new FieldApp(session, logout);
  window.field = app;
  await app.start();
}

if ("serviceWorker" in navigator) {
  void navigator.serviceWorker.register("/field/sw.js", { scope: "/field/" }).catch(() => undefined);
}

const s = saved();
if (s) {
  new Api(s)
    .get("/auth/me")
    .then(() => start(s))
    .catch((err: unknown) => {
      // Offline with a saved session: start anyway (the outbox waits); a refused token signs out.
      if (err instanceof ApiError && err.status === 401) {
        localStorage.removeItem(KEY);
        login(t("login.ended"));
      } else void start(s);
    });
} else login();
