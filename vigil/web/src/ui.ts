// The command centre: queue, map, incident detail with recommendations, unit board,
// new-call form, devices and alerts; keyboard first.

import type { FeatureCollection, LineString } from "geojson";

import { abilities, Api, ApiError, type Abilities, type Session } from "./api";
import { ago, append, clear, clock, h, minutes } from "./dom";
import { LiveFeed, type LiveState } from "./live";
import { LAYER_GROUPS, type LayerName } from "./layers";
import type { MapConfig, MapView } from "./map";
import { ACTIVE, type Alert, type Change, type FeedEvent, type Incident, type LatLon, Picture, type Unit, type UnitStatus } from "./model";
import { PRIORITY_COLOUR, PRIORITY_TEXT, STATUS_CODE, STATUS_COLOUR, STATUS_LABEL } from "./palette";

interface IncidentType {
  label: string;
  agency: string;
  priority: number;
  run_card: { capability: string; count: number }[];
}
interface Catalogue {
  incident_types: Record<string, IncidentType>;
}
interface Choice {
  unit_id: string;
  callsign: string;
  type: string;
  covers: string;
  eta_s: number;
  metres: number;
  why: string;
  route: { type: "LineString"; coordinates: number[][] } | null;
}
interface Recommendation {
  incident_id: string;
  covered: boolean;
  chosen: Choice[];
  shortfalls: { capability: string; needed: number; covered: number; why: string }[];
  considered: number;
  compute_ms: number;
  method: string;
}
interface EventOut extends FeedEvent {
  hash?: string;
}
interface CallOut {
  id: string;
  received_at: string;
  nature: string;
  address: string | null;
  call_taker: string;
  notes: string;
}
interface GeocodeOut {
  label: string;
  location: LatLon;
  confidence: number;
  kind: string;
}

// Keys 1..6 set the selected unit's status (dispatched comes only from assignment).
export const STATUS_KEYS: [string, UnitStatus][] = [
  ["1", "en_route"],
  ["2", "on_scene"],
  ["3", "transporting"],
  ["4", "at_hospital"],
  ["5", "available"],
  ["6", "out_of_service"],
];

const LAYER_LABELS: Record<LayerName, string> = {
  incidents: "Incidents",
  units: "Units",
  routes: "Routes",
  devices: "Devices",
  cameras: "Cameras",
  zones: "Zones",
  alerts: "Alerts",
  labels: "Street names",
};

function describe(ev: FeedEvent, types: Record<string, IncidentType>): string {
  const d = ev.data;
  const s = (k: string): string => String(d[k] ?? "");
  switch (ev.type) {
    case "incident.opened":
      return `Opened: ${types[s("type")]?.label ?? s("type")}, priority ${s("priority")}${d.address ? ` at ${s("address")}` : ""}`;
    case "call.received":
      return `Call ${s("call_id")}: ${s("nature")}${d.address ? ` (${s("address")})` : ""}`;
    case "incident.updated": {
      const parts = ["type", "priority", "address", "description"].filter((k) => d[k] !== null && d[k] !== undefined).map((k) => `${k} → ${s(k)}`);
      if (d.location) parts.push("location moved");
      return `Updated: ${parts.join(", ") || "no field"}${d.reason ? ` — ${s("reason")}` : ""}`;
    }
    case "incident.status_changed":
      return `Status ${s("old")} → ${s("new")} (${s("reason")})`;
    case "incident.closed":
      return `Closed: ${s("disposition")}${d.notes ? ` — ${s("notes")}` : ""}`;
    case "incident.cancelled":
      return `Cancelled: ${s("reason")}`;
    case "incident.reopened":
      return `Reopened: ${s("reason")}`;
    case "incident.note_added":
      return d.rule ? `Rule ${s("rule")}: ${s("text")}` : `Note: ${s("text")}`;
    case "unit.assigned":
      return `${s("unit_id")} assigned${d.eta_s ? `, ETA ${minutes(Number(d.eta_s))}` : ""}${d.recommended ? " (recommended)" : ""}`;
    case "unit.released":
      return `${s("unit_id")} released: ${s("reason")}`;
    case "unit.status_changed":
      return `${s("unit_id")} ${STATUS_LABEL[s("old")] ?? s("old")} → ${STATUS_LABEL[s("new")] ?? s("new")}`;
    case "rule.fired":
      return `Rule ${s("rule") || s("rule_id")} fired${d.explanation ? `: ${s("explanation")}` : ""}`;
    default:
      return ev.type;
  }
}

function priorityBadge(p: number): HTMLElement {
  return h(
    "span",
    {
      class: `prio prio-${p}`,
      style: `background:${PRIORITY_COLOUR[p] ?? "#999"};color:${PRIORITY_TEXT[p] ?? "#000"}`,
      title: `Priority ${p}`,
    },
    `P${p}`,
  );
}

function statusChip(s: string): HTMLElement {
  return h(
    "span",
    { class: `chip status-${s}`, style: `--c:${STATUS_COLOUR[s] ?? "#777"}`, title: STATUS_LABEL[s] ?? s },
    STATUS_CODE[s] ?? s,
  );
}

export class CommandCentre {
  readonly picture = new Picture();
  live!: LiveFeed;
  mapView: MapView | null = null;
  selected: string | null = null;
  selectedUnit: string | null = null;
  private readonly can: Abilities;
  private types: Record<string, IncidentType> = {};
  private rows = new Map<string, HTMLLIElement>();
  private unitRows = new Map<string, HTMLTableRowElement>();
  private dirtyIncidents = new Set<string>();
  private dirtyUnits = new Set<string>();
  private orderDirty = true;
  private mapDirty = { incidents: true, units: true, devices: false, alerts: false };
  private frame = 0;
  private mapTimer: number | undefined;
  private routes = new Map<string, { key: string; geometry: LineString }>();
  private preview: { unitId: string; geometry: LineString } | null = null;
  recommendation: Recommendation | null = null;
  private timelineFor: string | null = null;
  private picking: ((at: LatLon) => void) | null = null;
  private devicesAvailable: boolean | null = null;
  private alertsAvailable: boolean | null = null;

  // DOM
  private readonly root: HTMLElement;
  private queueList!: HTMLOListElement;
  private queueCount!: HTMLElement;
  private detail!: HTMLElement;
  private board!: HTMLElement;
  private devicesPanel!: HTMLElement;
  private alertsPanel!: HTMLElement;
  private liveBadge!: HTMLElement;
  private toastBox!: HTMLElement;
  private tabs = new Map<string, { tab: HTMLButtonElement; panel: HTMLElement }>();
  private modal: HTMLElement | null = null;
  private lastFocus: HTMLElement | null = null;

  constructor(
    root: HTMLElement,
    readonly api: Api,
    readonly session: Session,
    private readonly onLogout: () => void,
  ) {
    this.root = root;
    this.can = abilities(session.role);
  }

  // ------------------------------------------------------------------ start
  async start(): Promise<void> {
    this.layout();
    // Close the gap between snapshot and stream: note the log position first,
    // fetch the snapshot, then stream from that position (applying is idempotent).
    performance.mark("vigil:start");
    // Start the heavy download at once; the queue does not wait for it.
    const mapModule = import("./map");
    let mapLoaded = false;
    void mapModule.then(() => (mapLoaded = true)).catch(() => undefined);
    const health = await this.api.get<{ last_seq: number }>("/health");
    const [incidents, units, catalogue, cfg] = await Promise.all([
      this.api.get<Incident[]>("/incidents?active=true"),
      this.api.get<Unit[]>("/units"),
      this.api.get<Catalogue>("/catalogue"),
      this.api.get<MapConfig>("/map/config"),
    ]);
    performance.mark("vigil:snapshot");
    this.types = catalogue.incident_types;
    this.picture.loadIncidents(incidents);
    this.picture.loadUnits(units);
    this.picture.lastSeq = health.last_seq;
    this.live = new LiveFeed({
      token: this.session.token,
      after: health.last_seq,
      onEvent: (ev) => this.onEvent(ev),
      onState: (s, seq) => this.onLiveState(s, seq),
    });
    this.live.start();
    // The map is the slower of the two: when its code is already here, set it going
    // first (its worker fetches and tiles the basemap while the queue is built).
    const mapDone = mapLoaded ? this.startMap(cfg, mapModule) : null;
    this.renderNow();
    document.body.dataset.queueReady = "1";
    performance.mark("vigil:queue-ready");
    void this.loadOptional();
    await (mapDone ?? this.startMap(cfg, mapModule));
    for (const u of this.picture.units.values()) this.ensureRoute(u);
  }

  private mapStarted: Promise<void> | null = null;

  private startMap(cfg: MapConfig, mapModule: Promise<typeof import("./map")>): Promise<void> {
    this.mapStarted ??= this.createMap(cfg, mapModule);
    return this.mapStarted;
  }

  private async createMap(cfg: MapConfig, mapModule: Promise<typeof import("./map")>): Promise<void> {
    const holder = this.root.querySelector<HTMLElement>("#map")!;
    try {
      // Loaded on demand: the queue does not wait for the map library.
      const { MapView } = await mapModule;
      // The first frame holds the live picture: no empty map, no second upload.
      this.mapView = new MapView(
        holder,
        cfg,
        { incidents: this.picture.queue(), units: this.picture.units.values(), selected: this.selected, selectedUnit: this.selectedUnit },
        {
          onIncident: (id) => void this.select(id),
          onUnit: (id) => this.selectUnit(id, true),
          onClick: (at) => {
            if (!this.picking) return false;
            this.picking(at);
            return true;
          },
        },
      );
      this.mapDirty.incidents = this.mapDirty.units = false;
    } catch (err) {
      append(holder, h("p", { class: "map-error", role: "alert" }, `The map cannot be drawn here (WebGL unavailable): ${String(err)}`));
      return;
    }
    await this.mapView.ready;
    performance.mark("vigil:map-loaded");
    this.flushMap();
    await this.mapView.rendered();
    document.body.dataset.mapReady = "1";
    performance.mark("vigil:map-ready");
  }

  private async loadOptional(): Promise<void> {
    const [devices, drafts, zones] = await Promise.all([
      this.api.optional<Record<string, unknown>[]>("/devices").catch(() => null),
      this.api.optional<Record<string, unknown>[]>("/alerts/drafts").catch(() => null),
      this.api.optional<FeatureCollection>("/rules/zones").catch(() => null),
    ]);
    this.devicesAvailable = devices !== null;
    if (devices) {
      for (const d of devices) {
        const loc = d.location as LatLon | null;
        const id = String(d.id);
        this.picture.devices.set(id, {
          id,
          kind: String(d.kind ?? ""),
          location: loc ?? null,
          label: String(d.label ?? ""),
          zone: (d.zone as string | null) ?? null,
          online: d.online === undefined ? d.state !== "offline" : Boolean(d.online),
        });
      }
    }
    this.alertsAvailable = drafts !== null;
    if (drafts) {
      for (const a of drafts) {
        const id = String(a.id ?? a.alert_id);
        this.picture.alerts.set(id, {
          id,
          headline: String(a.headline ?? a.event ?? id),
          status: String(a.status ?? "draft"),
          area: (a.area as Alert["area"]) ?? null,
        });
      }
    }
    await this.mapStarted;
    await this.mapView?.ready;
    if (zones && zones.type === "FeatureCollection") this.mapView?.setZones(zones);
    this.mapDirty.devices = this.mapDirty.alerts = true;
    this.renderDevices();
    this.renderAlerts();
    this.scheduleMap();
  }

  // ----------------------------------------------------------------- layout
  private layout(): void {
    clear(this.root);
    this.liveBadge = h("span", { class: "live live-connecting", role: "status", "data-testid": "live-state" }, "connecting");
    const header = h(
      "header",
      { class: "top" },
      h("h1", {}, "Vigil"),
      h("span", { class: "sub" }, "command centre"),
      this.liveBadge,
      h("span", { class: "spacer" }),
      this.can.takeCall ? h("button", { type: "button", id: "new-call", onclick: () => this.openNewCall() }, "New call ", h("kbd", {}, "N")) : null,
      h("button", { type: "button", onclick: () => this.openHelp() }, "Keys ", h("kbd", {}, "?")),
      h("span", { class: "who", "data-testid": "who" }, `${this.session.name} · ${this.session.role.replace("_", " ")}`),
      h("button", { type: "button", class: "quiet", onclick: () => this.onLogout() }, "Log out"),
    );
    this.queueCount = h("span", { class: "count", "data-testid": "queue-count" }, "0");
    this.queueList = h("ol", { id: "queue-list", role: "listbox", "aria-label": "Incident queue", tabindex: 0 });
    this.queueList.addEventListener("click", (e) => {
      const li = (e.target as HTMLElement).closest<HTMLLIElement>("li[data-id]");
      if (li) void this.select(li.dataset.id!);
    });
    const queue = h(
      "section",
      { id: "queue", "aria-label": "Incident queue" },
      h("h2", {}, "Queue ", this.queueCount, h("span", { class: "hint" }, "J/K to move")),
      this.queueList,
    );
    const mapBox = h("section", { id: "map-box", "aria-label": "Map" }, h("div", { id: "map" }), this.layerPanel());
    this.detail = h("div", { id: "detail", "data-testid": "detail" }, h("p", { class: "empty" }, "Select an incident (J/K or click)."));
    this.board = h("div", { id: "board", "data-testid": "board" });
    this.devicesPanel = h("div", { id: "devices" }, h("p", { class: "empty" }, "Loading…"));
    this.alertsPanel = h("div", { id: "alerts" }, h("p", { class: "empty" }, "Loading…"));
    const tabBar = h("div", { class: "tabs", role: "tablist", "aria-label": "Panels" });
    const side = h("aside", { id: "side" }, tabBar);
    for (const [key, label, panel, shortcut] of [
      ["incident", "Incident", this.detail, "I"],
      ["units", "Units", this.board, "U"],
      ["devices", "Devices", this.devicesPanel, "D"],
      ["alerts", "Alerts", this.alertsPanel, "L"],
    ] as const) {
      const tab = h("button", { type: "button", role: "tab", id: `tab-${key}`, "aria-controls": `panel-${key}`, onclick: () => this.showTab(key) }, label, " ", h("kbd", {}, shortcut));
      const wrap = h("div", { role: "tabpanel", id: `panel-${key}`, "aria-labelledby": `tab-${key}`, class: "panel" }, panel);
      tabBar.append(tab);
      side.append(wrap);
      this.tabs.set(key, { tab, panel: wrap });
    }
    this.toastBox = h("div", { class: "toasts", "aria-live": "assertive" });
    append(this.root, header, h("main", { class: "grid" }, queue, mapBox, side), this.toastBox);
    this.showTab("incident");
    document.addEventListener("keydown", (e) => this.onKey(e));
    window.setInterval(() => this.tickTimers(), 1000);
  }

  private layerPanel(): HTMLElement {
    const box = h("fieldset", { class: "layers", "aria-label": "Map layers" }, h("legend", {}, "Layers"));
    for (const name of Object.keys(LAYER_GROUPS) as LayerName[]) {
      const input = h("input", { type: "checkbox", id: `layer-${name}`, checked: true });
      input.addEventListener("change", () => this.mapView?.setVisible(name, input.checked));
      box.append(h("label", { for: `layer-${name}` }, input, " ", LAYER_LABELS[name]));
    }
    return box;
  }

  showTab(key: string): void {
    for (const [k, { tab, panel }] of this.tabs) {
      const on = k === key;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      panel.hidden = !on;
    }
  }

  // ------------------------------------------------------------------- live
  private onLiveState(s: LiveState, seq: number): void {
    this.liveBadge.className = `live live-${s}`;
    this.liveBadge.textContent = s === "live" ? `live · #${seq}` : s;
    this.liveBadge.dataset.seq = String(seq);
  }

  private onEvent(ev: FeedEvent): void {
    const changes = this.picture.apply(ev);
    for (const c of changes) this.note(c);
    if (changes.length) this.scheduleRender();
  }

  private note(c: Change): void {
    switch (c.kind) {
      case "incident":
        this.dirtyIncidents.add(c.id);
        if (c.order) this.orderDirty = true;
        if (c.map || c.order) this.mapDirty.incidents = this.mapUrgent = true;
        break;
      case "unit": {
        if (c.status) {
          this.dirtyUnits.add(c.id);
          this.mapUrgent = true;
        }
        this.mapDirty.units = true;
        const u = this.picture.units.get(c.id);
        if (u && c.status) this.ensureRoute(u);
        break;
      }
      case "device":
        this.mapDirty.devices = this.mapUrgent = true;
        break;
      case "alert":
        this.mapDirty.alerts = this.mapUrgent = true;
        break;
      case "timeline":
        if (c.incidentId === this.timelineFor) this.appendTimeline(c.event);
        break;
    }
  }

  /**
   * Coalesce the events that arrived together into one DOM update. A timer, not
   * requestAnimationFrame: a slow map frame must not hold back the queue and board.
   */
  private scheduleRender(): void {
    if (this.frame) return;
    this.frame = window.setTimeout(() => {
      this.frame = 0;
      this.renderNow();
    }, 0);
  }

  private renderNow(): void {
    this.renderQueue();
    this.renderBoard();
    if (this.selected && this.dirtyIncidents.has(this.selected)) this.renderDetailHead();
    if (this.mapDirty.devices) this.renderDevices();
    if (this.mapDirty.alerts) this.renderAlerts();
    this.dirtyIncidents.clear();
    this.dirtyUnits.clear();
    const d = this.mapDirty;
    if (d.incidents || d.units || d.devices || d.alerts) this.scheduleMap(this.mapUrgent);
    this.mapUrgent = false;
  }

  private mapUrgent = false;

  /**
   * Map sources are re-tiled and the whole map redrawn on each update, and without a
   * GPU a frame costs hundreds of milliseconds of the page's main thread. So map
   * updates are paced to what a frame measurably costs: what a dispatcher acts on
   * (new, closed, re-prioritised incidents, assignments, selection, routes) within
   * about a fifth of a second on a fast machine; unit movement at most every two
   * seconds, and never more than a quarter of the time drawing (the cost includes
   * the GPU's share, which without a GPU is CPU the server and feed need too). The queue and board
   * do not wait for any of this (see scheduleRender).
   */
  private scheduleMap(urgent = true): void {
    const m = this.mapView;
    if (!m) return;
    const cost = m.updateCost();
    const gap = urgent ? Math.max(200, cost) : Math.max(2000, 4 * cost);
    const due = Math.max(performance.now(), this.lastMapFlush + Math.min(gap, 5000));
    if (this.mapTimer !== undefined) {
      if (due >= this.mapDue) return;
      window.clearTimeout(this.mapTimer);
    }
    this.mapDue = due;
    this.mapTimer = window.setTimeout(() => {
      this.mapTimer = undefined;
      this.flushMap();
    }, due - performance.now());
  }

  private lastMapFlush = 0;
  private routesDrawn = "";
  private mapDue = 0;

  private flushMap(): void {
    const m = this.mapView;
    if (!m) return;
    this.lastMapFlush = performance.now();
    if (this.mapTimer !== undefined) {
      window.clearTimeout(this.mapTimer);
      this.mapTimer = undefined;
    }
    if (this.mapDirty.incidents) m.setIncidents(this.picture.queue(), this.selected);
    if (this.mapDirty.units) m.setUnits(this.picture.units.values(), this.selectedUnit);
    if (this.mapDirty.devices) m.setDevices(this.picture.devices.values());
    if (this.mapDirty.alerts) m.setAlerts(this.picture.alerts.values());
    this.mapDirty = { incidents: false, units: false, devices: false, alerts: false };
    // Routes change rarely: re-set them only when they did (each upload is a redraw).
    const routes = [...this.routes.entries()].map(([unitId, r]) => ({ unitId, geometry: r.geometry, preview: false }));
    if (this.preview) routes.push({ ...this.preview, preview: true });
    const key = routes.map((r) => `${r.unitId}:${r.preview ? "p" : ""}:${r.geometry.coordinates.length}:${r.geometry.coordinates[0]?.join(",") ?? ""}`).join("|");
    if (key !== this.routesDrawn) {
      this.routesDrawn = key;
      m.setRoutes(routes);
    }
  }

  /** Keep the route of each unit driving to an incident (dispatched or en route). */
  private ensureRoute(u: Unit): void {
    const driving = (u.status === "dispatched" || u.status === "en_route") && u.incident_id;
    if (!driving) {
      if (this.routes.delete(u.id)) this.scheduleMap();
      return;
    }
    const key = `${u.incident_id}`;
    if (this.routes.get(u.id)?.key === key) return;
    this.api
      .get<{ geometry: LineString }>(`/incidents/${u.incident_id}/routes/${u.id}`)
      .then((r) => {
        const now = this.picture.units.get(u.id);
        if (now?.incident_id === u.incident_id && (now.status === "dispatched" || now.status === "en_route")) {
          this.routes.set(u.id, { key, geometry: r.geometry });
          this.scheduleMap();
        }
      })
      .catch(() => undefined); // no route (no position, no network): the unit still shows
  }

  // ------------------------------------------------------------------ queue
  private renderQueue(): void {
    const list = this.queueList;
    const now = Date.now();
    const ids = this.orderDirty ? null : this.dirtyIncidents;
    if (ids === null) {
      const ordered = this.picture.queue();
      const keep = new Set(ordered.map((i) => i.id));
      for (const [id, row] of this.rows) {
        if (!keep.has(id)) {
          row.remove();
          this.rows.delete(id);
        }
      }
      let prev: Element | null = null;
      for (const inc of ordered) {
        let row = this.rows.get(inc.id);
        if (!row) {
          row = this.makeRow(inc, now);
          this.rows.set(inc.id, row);
        } else if (this.dirtyIncidents.has(inc.id)) {
          this.fillRow(row, inc, now);
        }
        const want: Element | null = prev ? prev.nextElementSibling : list.firstElementChild;
        if (want !== row) list.insertBefore(row, want);
        prev = row;
      }
      this.orderDirty = false;
    } else {
      for (const id of ids) {
        const inc = this.picture.incidents.get(id);
        const row = this.rows.get(id);
        if (inc && row && ACTIVE.has(inc.status)) this.fillRow(row, inc, now);
      }
    }
    this.queueCount.textContent = String(this.rows.size);
    if (this.selected) this.markSelected();
  }

  private makeRow(inc: Incident, now: number): HTMLLIElement {
    const row = h("li", { role: "option", id: `q-${inc.id}`, tabindex: -1 });
    row.dataset.id = inc.id;
    this.fillRow(row, inc, now);
    return row;
  }

  private fillRow(row: HTMLLIElement, inc: Incident, now: number): void {
    clear(row);
    row.className = `qrow p${inc.priority} s-${inc.status}`;
    row.dataset.status = inc.status;
    row.dataset.priority = String(inc.priority);
    const label = this.types[inc.type]?.label ?? inc.type;
    const timer = h("span", { class: "timer", title: `received ${clock(inc.opened_at)}` }, ago(Date.parse(inc.opened_at), now));
    timer.dataset.from = String(Date.parse(inc.opened_at));
    append(
      row,
      priorityBadge(inc.priority),
      h("span", { class: "what" }, h("strong", {}, label), h("span", { class: "addr" }, inc.address ?? (inc.location ? `${inc.location.lat.toFixed(4)}, ${inc.location.lon.toFixed(4)}` : "no location"))),
      h("span", { class: "desc" }, inc.description),
      h("span", { class: `istatus is-${inc.status}` }, inc.status === "pending" ? "UNASSIGNED" : inc.status.replace("_", " ")),
      h("span", { class: "units" }, inc.unit_ids.length ? inc.unit_ids.join(" ") : "—"),
      timer,
    );
  }

  private tickTimers(): void {
    const now = Date.now();
    for (const el of this.root.querySelectorAll<HTMLElement>(".timer[data-from]")) {
      el.textContent = ago(Number(el.dataset.from), now);
    }
  }

  private markSelected(): void {
    for (const el of this.queueList.querySelectorAll("[aria-selected=true]")) el.setAttribute("aria-selected", "false");
    const row = this.selected ? this.rows.get(this.selected) : undefined;
    row?.setAttribute("aria-selected", "true");
    if (row) this.queueList.setAttribute("aria-activedescendant", row.id);
  }

  move(step: number): void {
    const order = [...this.queueList.children] as HTMLLIElement[];
    if (!order.length) return;
    const at = this.selected ? order.findIndex((r) => r.dataset.id === this.selected) : -1;
    const next = order[Math.min(order.length - 1, Math.max(0, at + step))];
    void this.select(next.dataset.id!);
    next.scrollIntoView({ block: "nearest" });
  }

  // ----------------------------------------------------------------- detail
  async select(id: string): Promise<void> {
    this.selected = id;
    this.recommendation = null;
    this.preview = null;
    this.markSelected();
    this.showTab("incident");
    this.mapDirty.incidents = true;
    this.scheduleMap();
    const inc = this.picture.incidents.get(id) ?? (await this.api.get<Incident>(`/incidents/${id}`));
    if (!this.picture.incidents.has(id)) this.picture.incidents.set(id, inc);
    if (inc.location) this.mapView?.focus(inc.location);
    this.renderDetail();
  }

  private renderDetail(): void {
    const id = this.selected;
    clear(this.detail);
    if (!id) return;
    this.timelineFor = id;
    append(
      this.detail,
      h("div", { id: "detail-head" }),
      h("section", { id: "recs", "aria-label": "Recommended units" }),
      h("section", { id: "calls", "aria-label": "Calls" }, h("h3", {}, "Calls")),
      h("section", { "aria-label": "Timeline" }, h("h3", {}, "Timeline"), h("ol", { id: "timeline", class: "timeline" })),
    );
    this.renderDetailHead();
    void this.loadTimeline(id);
    void this.loadCalls(id);
    if (this.can.dispatch) void this.loadRecommendation(id);
  }

  private renderDetailHead(): void {
    const head = this.detail.querySelector<HTMLElement>("#detail-head");
    const inc = this.selected ? this.picture.incidents.get(this.selected) : undefined;
    if (!head || !inc) return;
    clear(head);
    const label = this.types[inc.type]?.label ?? inc.type;
    const active = ACTIVE.has(inc.status);
    append(
      head,
      h("h2", { tabindex: -1, id: "detail-title" }, priorityBadge(inc.priority), " ", label, " ", h("span", { class: "muted" }, inc.id)),
      h(
        "p",
        {},
        h("span", { class: `istatus is-${inc.status}`, "data-testid": "incident-status" }, inc.status.replace("_", " ")),
        " · received ",
        h("span", { class: "timer", "data-from": String(Date.parse(inc.opened_at)) }, ago(Date.parse(inc.opened_at), Date.now())),
        " ago",
        inc.caused_by_rule ? h("span", { class: "rule" }, ` · opened by rule ${inc.caused_by_rule}`) : null,
      ),
      h("p", { class: "addr" }, inc.address ?? "no address"),
      inc.description ? h("p", {}, inc.description) : null,
    );
    const units = h("ul", { class: "assigned", "aria-label": "Assigned units" });
    for (const uid of inc.unit_ids) {
      const u = this.picture.units.get(uid);
      units.append(
        h(
          "li",
          { "data-unit": uid },
          h("button", { type: "button", class: "link", onclick: () => this.selectUnit(uid, false) }, u?.callsign ?? uid),
          " ",
          statusChip(u?.status ?? "dispatched"),
        ),
      );
    }
    if (inc.unit_ids.length) append(head, h("h3", {}, "Assigned"), units);
    if (active && this.can.dispatch) {
      append(
        head,
        h(
          "div",
          { class: "actions" },
          h("button", { type: "button", id: "assign-recommended", class: "primary", onclick: () => void this.assignRecommended() }, "Assign recommended ", h("kbd", {}, "A")),
          h("button", { type: "button", id: "close-incident", onclick: () => this.openClose() }, "Close ", h("kbd", {}, "C")),
          h("button", { type: "button", onclick: () => this.openNote() }, "Note"),
        ),
      );
    }
    if (!active) append(head, h("p", { class: "closed", "data-testid": "closed-note" }, `${inc.status}: ${inc.disposition ?? ""}`));
  }

  private async loadTimeline(id: string): Promise<void> {
    const events = await this.api.get<EventOut[]>(`/incidents/${id}/timeline`);
    if (this.timelineFor !== id) return;
    const ol = this.detail.querySelector("#timeline");
    if (!ol) return;
    clear(ol);
    for (const ev of events) this.appendTimeline(ev);
  }

  private appendTimeline(ev: FeedEvent): void {
    const ol = this.detail.querySelector<HTMLOListElement>("#timeline");
    if (!ol || ol.querySelector(`[data-seq="${ev.seq}"]`)) return;
    const li = h(
      "li",
      { "data-seq": String(ev.seq), "data-type": ev.type },
      h("time", { datetime: ev.at }, clock(ev.at)),
      h("span", { class: "actor" }, ev.actor),
      h("span", { class: "what" }, describe(ev, this.types)),
    );
    const evidence = ev.data.evidence;
    if (Array.isArray(evidence) && evidence.length) li.append(h("span", { class: "evidence" }, `evidence: ${evidence.join(", ")}`));
    if (ev.cause) li.append(h("span", { class: "cause" }, `cause: ${ev.cause}`));
    ol.append(li);
  }

  private async loadCalls(id: string): Promise<void> {
    const inc = this.picture.incidents.get(id);
    const box = this.detail.querySelector("#calls");
    if (!inc || !box) return;
    const calls = await Promise.all(inc.call_ids.map((c) => this.api.get<CallOut>(`/calls/${c}`).catch(() => null)));
    if (this.selected !== id) return;
    const ul = h("ul", { class: "calls" });
    for (const c of calls) {
      if (c) ul.append(h("li", {}, h("time", { datetime: c.received_at }, clock(c.received_at)), ` ${c.nature}`, c.address ? ` — ${c.address}` : "", h("span", { class: "muted" }, ` (taken by ${c.call_taker})`)));
    }
    if (!inc.call_ids.length) ul.append(h("li", { class: "muted" }, "No call linked (opened by an operator or a rule)."));
    box.append(ul);
  }

  private async loadRecommendation(id: string): Promise<void> {
    const box = this.detail.querySelector<HTMLElement>("#recs");
    if (!box) return;
    clear(box);
    append(box, h("h3", {}, "Recommended units"), h("p", { class: "muted" }, "Computing drive times…"));
    let rec: Recommendation;
    try {
      rec = await this.api.get<Recommendation>(`/incidents/${id}/recommendations`);
    } catch (err) {
      if (this.selected !== id) return;
      clear(box);
      append(box, h("h3", {}, "Recommended units"), h("p", { class: "muted" }, err instanceof ApiError ? err.message : String(err)));
      return;
    }
    if (this.selected !== id) return;
    this.recommendation = rec;
    clear(box);
    const list = h("ol", { class: "recs", "data-testid": "recommendations" });
    for (const c of rec.chosen) {
      const preview = (): void => {
        this.preview = c.route ? { unitId: c.unit_id, geometry: c.route as LineString } : null;
        this.scheduleMap();
      };
      const li = h(
        "li",
        { tabindex: 0, "data-unit": c.unit_id, onmouseenter: preview, onfocus: preview },
        h("strong", {}, c.callsign),
        h("span", { class: "muted" }, ` ${c.type} · covers ${c.covers}`),
        h("span", { class: "eta", "data-testid": "eta" }, `ETA ${minutes(c.eta_s)}`),
        h("span", { class: "muted" }, ` · ${(c.metres / 1000).toFixed(1)} km`),
        h("div", { class: "why" }, c.why),
      );
      list.append(li);
    }
    append(box, h("h3", {}, "Recommended units ", rec.covered ? h("span", { class: "ok" }, "run card covered") : h("span", { class: "warn" }, "run card NOT covered")), list);
    for (const s of rec.shortfalls) box.append(h("p", { class: "warn" }, `${s.capability}: ${s.covered}/${s.needed} — ${s.why}`));
    box.append(h("p", { class: "muted small" }, `${rec.considered} units considered in ${rec.compute_ms.toFixed(0)} ms: ${rec.method}`));
    const first = rec.chosen[0];
    if (first?.route) {
      this.preview = { unitId: first.unit_id, geometry: first.route as LineString };
      this.scheduleMap();
    }
  }

  async assignRecommended(): Promise<void> {
    const id = this.selected;
    if (!id || !this.can.dispatch) return;
    try {
      await this.api.post(`/incidents/${id}/assignments`, { accept_recommendation: true });
      this.preview = null;
      this.toast("Recommended units assigned");
      void this.loadRecommendation(id);
    } catch (err) {
      this.toast(err instanceof ApiError ? err.message : String(err), true);
    }
  }

  // ------------------------------------------------------------- unit board
  private renderBoard(): void {
    const full = this.unitRows.size !== this.picture.units.size;
    if (full) {
      clear(this.board);
      this.unitRows.clear();
      const groups = new Map<string, Unit[]>();
      for (const u of this.picture.units.values()) {
        const key = `${u.agency}|${u.station ?? "—"}`;
        (groups.get(key) ?? groups.set(key, []).get(key)!).push(u);
      }
      const keys = [...groups.keys()].sort();
      const counts = h("p", { class: "counts", id: "unit-counts" });
      this.board.append(counts);
      for (const key of keys) {
        const [agency, station] = key.split("|");
        const table = h("table", { class: "units" }, h("caption", {}, `${agency.toUpperCase()} · ${station}`));
        const body = h("tbody");
        for (const u of groups.get(key)!.sort((a, b) => a.callsign.localeCompare(b.callsign))) {
          const tr = h("tr", { tabindex: -1, id: `u-${u.id}` });
          tr.dataset.unit = u.id;
          tr.addEventListener("click", () => this.selectUnit(u.id, false));
          this.fillUnitRow(tr, u);
          this.unitRows.set(u.id, tr);
          body.append(tr);
        }
        table.append(body);
        this.board.append(table);
      }
    } else {
      for (const id of this.dirtyUnits) {
        const u = this.picture.units.get(id);
        const tr = this.unitRows.get(id);
        if (u && tr) this.fillUnitRow(tr, u);
      }
    }
    const counts = this.board.querySelector("#unit-counts");
    if (counts && (full || this.dirtyUnits.size)) {
      const n = new Map<string, number>();
      for (const u of this.picture.units.values()) n.set(u.status, (n.get(u.status) ?? 0) + 1);
      counts.textContent = [...n.entries()].map(([s, k]) => `${STATUS_LABEL[s] ?? s}: ${k}`).join(" · ");
    }
  }

  private fillUnitRow(tr: HTMLTableRowElement, u: Unit): void {
    clear(tr);
    tr.dataset.status = u.status;
    tr.setAttribute("aria-selected", String(u.id === this.selectedUnit));
    append(
      tr,
      h("td", { class: "cs" }, u.callsign),
      h("td", { class: "muted" }, u.type),
      h("td", {}, statusChip(u.status), " ", h("span", { class: "slabel" }, STATUS_LABEL[u.status] ?? u.status)),
      h("td", { class: "inc" }, u.incident_id ?? ""),
    );
  }

  selectUnit(id: string, showBoard: boolean): void {
    const prev = this.selectedUnit;
    this.selectedUnit = id;
    for (const uid of [prev, id]) {
      const u = uid ? this.picture.units.get(uid) : undefined;
      const tr = uid ? this.unitRows.get(uid) : undefined;
      if (u && tr) this.fillUnitRow(tr, u);
    }
    if (showBoard) this.showTab("units");
    const tr = this.unitRows.get(id);
    if (showBoard && tr) {
      tr.scrollIntoView({ block: "nearest" });
      tr.focus();
    }
    this.mapDirty.units = true;
    this.scheduleMap();
    const u = this.picture.units.get(id);
    this.toast(`Unit ${u?.callsign ?? id} selected — keys 1–6 set its status`);
  }

  async setUnitStatus(status: UnitStatus): Promise<void> {
    const id = this.selectedUnit;
    if (!id || !this.can.unitStatus) return;
    try {
      await this.api.post(`/units/${id}/status`, { status });
    } catch (err) {
      this.toast(err instanceof ApiError ? err.message : String(err), true);
    }
  }

  // ---------------------------------------------------------- devices/alerts
  private renderDevices(): void {
    clear(this.devicesPanel);
    if (this.devicesAvailable === false) {
      this.devicesPanel.append(h("p", { class: "empty" }, "Devices: not available in this deployment."));
      return;
    }
    const devices = [...this.picture.devices.values()].sort((a, b) => Number(a.online) - Number(b.online) || a.id.localeCompare(b.id));
    const offline = devices.filter((d) => !d.online).length;
    this.devicesPanel.append(h("p", { class: "counts" }, `${devices.length} devices · ${offline} offline`));
    const ul = h("ul", { class: "devices" });
    for (const d of devices.slice(0, 500)) {
      ul.append(h("li", { class: d.online ? "" : "offline" }, h("strong", {}, d.label || d.id), ` ${d.kind}`, d.zone ? ` · ${d.zone}` : "", h("span", { class: d.online ? "ok" : "warn" }, d.online ? " online" : " OFFLINE")));
    }
    this.devicesPanel.append(ul);
  }

  private renderAlerts(): void {
    clear(this.alertsPanel);
    if (this.alertsAvailable === false && !this.picture.alerts.size) {
      this.alertsPanel.append(h("p", { class: "empty" }, "Alerts: not available in this deployment."));
      return;
    }
    const ul = h("ul", { class: "alerts" });
    for (const a of this.picture.alerts.values()) ul.append(h("li", {}, h("strong", {}, a.status), ` ${a.headline}`));
    if (!this.picture.alerts.size) ul.append(h("li", { class: "muted" }, "No alerts."));
    this.alertsPanel.append(ul);
  }

  // ------------------------------------------------------------------ modals
  private openModal(title: string, body: HTMLElement, focus?: HTMLElement): void {
    this.closeModal();
    this.lastFocus = document.activeElement as HTMLElement | null;
    const close = h("button", { type: "button", class: "quiet", "aria-label": "Close", onclick: () => this.closeModal() }, "Esc ✕");
    this.modal = h("div", { class: "modal", role: "dialog", "aria-modal": "true", "aria-labelledby": "modal-title" }, h("div", { class: "modal-head" }, h("h2", { id: "modal-title" }, title), close), body);
    this.root.append(this.modal);
    (focus ?? close).focus();
  }

  closeModal(): void {
    if (!this.modal) return;
    this.modal.remove();
    this.modal = null;
    this.picking = null;
    this.mapView?.setPick(null);
    this.lastFocus?.focus();
  }

  openNewCall(focusAddress = true): void {
    if (!this.can.takeCall) return;
    let location: LatLon | null = null;
    const address = h("input", { id: "call-address", name: "address", autocomplete: "off", placeholder: "Street and number, place, or A & B", "aria-describedby": "call-address-hint", role: "combobox", "aria-expanded": "false", "aria-controls": "call-matches" });
    const matches = h("ul", { id: "call-matches", role: "listbox", class: "matches" });
    const where = h("p", { id: "call-where", class: "muted" }, "No location yet.");
    const setLocation = (at: LatLon, label: string): void => {
      location = at;
      where.textContent = `Location: ${label} (${at.lat.toFixed(5)}, ${at.lon.toFixed(5)})`;
      where.className = "ok";
      this.mapView?.setPick(at);
      this.mapView?.focus(at);
    };
    let timer: number | undefined;
    const search = async (): Promise<void> => {
      const q = address.value.trim();
      clear(matches);
      if (q.length < 2) return;
      try {
        const found = await this.api.get<GeocodeOut[]>(`/geo/geocode?q=${encodeURIComponent(q)}&limit=6`);
        clear(matches);
        found.forEach((m, i) => {
          const li = h("li", { role: "option", id: `match-${i}`, tabindex: -1, "data-label": m.label }, m.label, h("span", { class: "muted" }, ` ${m.kind} · ${(m.confidence * 100).toFixed(0)}%`));
          li.addEventListener("click", () => pick(m));
          li.addEventListener("keydown", (e) => {
            if (e.key === "Enter") {
              e.preventDefault();
              pick(m);
            }
          });
          matches.append(li);
        });
        if (!found.length) matches.append(h("li", { class: "muted" }, "No match — click the map to place the call."));
        address.setAttribute("aria-expanded", String(found.length > 0));
      } catch (err) {
        matches.append(h("li", { class: "warn" }, err instanceof ApiError ? err.message : String(err)));
      }
    };
    const pick = (m: GeocodeOut): void => {
      address.value = m.label;
      clear(matches);
      address.setAttribute("aria-expanded", "false");
      setLocation(m.location, m.label);
      nature.focus();
    };
    address.addEventListener("input", () => {
      window.clearTimeout(timer);
      timer = window.setTimeout(() => void search(), 200);
    });
    address.addEventListener("keydown", (e) => {
      if (e.key === "ArrowDown") {
        e.preventDefault();
        matches.querySelector<HTMLElement>("li[role=option]")?.focus();
      } else if (e.key === "Enter") {
        e.preventDefault();
        const first = matches.querySelector<HTMLElement>("li[role=option]");
        if (first) first.click();
        else void search();
      }
    });
    matches.addEventListener("keydown", (e) => {
      const cur = document.activeElement as HTMLElement;
      if (e.key === "ArrowDown") (cur.nextElementSibling as HTMLElement | null)?.focus();
      if (e.key === "ArrowUp") ((cur.previousElementSibling as HTMLElement | null) ?? address).focus();
    });
    this.picking = (at) => {
      setLocation(at, "map click");
      this.api
        .get<{ label: string }>(`/geo/reverse?lat=${at.lat}&lon=${at.lon}`)
        .then((r) => {
          address.value = r.label;
          setLocation(at, r.label);
        })
        .catch(() => undefined);
    };
    const nature = h("input", { id: "call-nature", name: "nature", required: true, maxlength: 200, placeholder: "What the caller reports" });
    const type = h("select", { id: "call-type", name: "incident_type" });
    for (const [key, t] of Object.entries(this.types).sort((a, b) => a[1].label.localeCompare(b[1].label))) {
      type.append(h("option", { value: key }, `${t.label} (P${t.priority})`));
    }
    const priority = h("select", { id: "call-priority", name: "priority" }, h("option", { value: "" }, "Default for type"));
    for (const p of [1, 2, 3, 4, 5]) priority.append(h("option", { value: String(p) }, `P${p}`));
    const notes = h("textarea", { id: "call-notes", name: "notes", rows: 2 });
    const callerName = h("input", { id: "call-caller-name", name: "caller_name", autocomplete: "off" });
    const callerPhone = h("input", { id: "call-caller-phone", name: "caller_phone", autocomplete: "off", inputmode: "tel" });
    const error = h("p", { class: "warn", role: "alert" });
    const form = h(
      "form",
      { class: "call-form", id: "call-form" },
      h("label", { for: "call-address" }, "Address ", h("kbd", {}, "/")),
      address,
      h("p", { id: "call-address-hint", class: "hint" }, "Type to search; ↓ to choose; or click the map to place the call."),
      matches,
      where,
      h("label", { for: "call-nature" }, "Nature"),
      nature,
      h("div", { class: "row" }, h("label", {}, "Type ", type), h("label", {}, "Priority ", priority)),
      h("label", { for: "call-notes" }, "Notes"),
      notes,
      h("fieldset", { class: "pd" }, h("legend", {}, "Caller (personal data: kept apart, audited, purged)"), h("label", {}, "Name ", callerName), h("label", {}, "Phone ", callerPhone)),
      error,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "call-submit" }, "Create call ", h("kbd", {}, "Ctrl+Enter"))),
    );
    form.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void (async () => {
        error.textContent = "";
        if (!location) {
          error.textContent = "Choose an address match or click the map first.";
          address.focus();
          return;
        }
        if (!nature.value.trim()) {
          error.textContent = "Say what the caller reports.";
          nature.focus();
          return;
        }
        try {
          const out = await this.api.post<{ incident: Incident; opened_incident: boolean }>("/calls", {
            location,
            address: address.value.trim() || null,
            nature: nature.value.trim(),
            notes: notes.value,
            incident_type: type.value,
            priority: priority.value ? Number(priority.value) : null,
            caller_name: callerName.value.trim() || null,
            caller_phone: callerPhone.value.trim() || null,
          });
          this.closeModal();
          this.toast(`${out.opened_incident ? "Opened" : "Attached to"} ${out.incident.id}`);
          if (!this.picture.incidents.has(out.incident.id)) {
            this.picture.incidents.set(out.incident.id, out.incident);
            this.orderDirty = true;
            this.renderNow();
          }
          void this.select(out.incident.id);
        } catch (err) {
          error.textContent = err instanceof ApiError ? `${err.field ? err.field + ": " : ""}${err.message}` : String(err);
        }
      })();
    });
    this.openModal("New call", form, focusAddress ? address : nature);
  }

  openClose(): void {
    const id = this.selected;
    if (!id || !this.can.dispatch) return;
    const disposition = h("input", { id: "close-disposition", list: "dispositions", required: true, placeholder: "e.g. resolved, false alarm, transported" });
    const list = h("datalist", { id: "dispositions" });
    for (const d of ["resolved", "false alarm", "transported", "no action needed", "referred"]) list.append(h("option", { value: d }));
    const notes = h("textarea", { id: "close-notes", rows: 2 });
    const error = h("p", { class: "warn", role: "alert" });
    const form = h("form", { id: "close-form" }, h("label", { for: "close-disposition" }, "Disposition"), disposition, list, h("label", { for: "close-notes" }, "Notes"), notes, error, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "close-submit" }, "Close incident")));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void (async () => {
        try {
          await this.api.post(`/incidents/${id}/close`, { disposition: disposition.value.trim(), notes: notes.value });
          this.closeModal();
          this.toast(`${id} closed`);
        } catch (err) {
          error.textContent = err instanceof ApiError ? err.message : String(err);
        }
      })();
    });
    this.openModal(`Close ${id}`, form, disposition);
  }

  openNote(): void {
    const id = this.selected;
    if (!id) return;
    const text = h("textarea", { id: "note-text", rows: 3, required: true });
    const form = h("form", {}, h("label", { for: "note-text" }, "Note"), text, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Add note")));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.api.post(`/incidents/${id}/notes`, { text: text.value }).then(() => this.closeModal()).catch((err: unknown) => this.toast(String(err), true));
    });
    this.openModal(`Note on ${id}`, form, text);
  }

  openHelp(): void {
    const rows: [string, string][] = [
      ["N", "New call"],
      ["/", "New call, address search"],
      ["J / K", "Next / previous incident in the queue"],
      ["A", "Assign the recommended units to the selected incident"],
      ["C", "Close the selected incident"],
      ["I U D L", "Incident, Units, Devices, Alerts panel"],
      ...STATUS_KEYS.map(([k, s]): [string, string] => [k, `Selected unit: ${STATUS_LABEL[s]}`]),
      ["Esc", "Close the dialog"],
      ["?", "This help"],
    ];
    const table = h("table", { class: "keys" });
    for (const [k, what] of rows) table.append(h("tr", {}, h("td", {}, h("kbd", {}, k)), h("td", {}, what)));
    this.openModal("Keyboard", h("div", {}, table, h("p", { class: "muted" }, "Priority is shown as P1–P5 (number, size and colour); unit status as a three-letter code and colour.")));
  }

  // -------------------------------------------------------------------- keys
  private onKey(e: KeyboardEvent): void {
    if (e.key === "Escape") {
      if (this.modal) {
        e.preventDefault();
        this.closeModal();
      }
      return;
    }
    const t = e.target as HTMLElement;
    if (this.modal || e.ctrlKey || e.metaKey || e.altKey) return;
    if (t.closest("input, textarea, select")) return;
    const k = e.key;
    const handled = (): void => e.preventDefault();
    if (k === "n" || k === "N") {
      handled();
      this.openNewCall();
    } else if (k === "/") {
      handled();
      this.openNewCall(true);
    } else if (k === "j" || k === "ArrowDown") {
      if (k === "ArrowDown" && !t.closest("#queue-list")) return;
      handled();
      this.move(1);
    } else if (k === "k" || k === "ArrowUp") {
      if (k === "ArrowUp" && !t.closest("#queue-list")) return;
      handled();
      this.move(-1);
    } else if (k === "a" || k === "A") {
      handled();
      void this.assignRecommended();
    } else if (k === "c" || k === "C") {
      handled();
      this.openClose();
    } else if (k === "?") {
      handled();
      this.openHelp();
    } else if (k === "i") {
      this.showTab("incident");
    } else if (k === "u") {
      this.showTab("units");
    } else if (k === "d") {
      this.showTab("devices");
    } else if (k === "l") {
      this.showTab("alerts");
    } else {
      const s = STATUS_KEYS.find(([key]) => key === k);
      if (s) {
        handled();
        void this.setUnitStatus(s[1]);
      }
    }
  }

  toast(text: string, bad = false): void {
    const el = h("div", { class: bad ? "toast bad" : "toast", role: bad ? "alert" : "status" }, text);
    this.toastBox.append(el);
    window.setTimeout(() => el.remove(), bad ? 6000 : 2500);
  }
}



