// The command centre's shell: header, queue, map and the tabbed side panels
// (panels/index.ts), the live feed and one render pass per batch of events, and
// the keyboard. It owns no panel's data: each panel keeps and draws its own.

import type { FeatureCollection } from "geojson";

import { abilities, type Abilities, type Api, type Session } from "../api";
import { ServerClock } from "../clock";
import { ago, append, clear, h } from "../dom";
import { openNewCall } from "../dialogs/newcall";
import { LAYER_GROUPS, type LayerName } from "../layers";
import { LiveFeed, type LiveState } from "../live";
import type { MapView } from "../map";
import { type Change, Picture } from "../model";
import { PANELS } from "../panels";
import type { Catalogue, FeedEvent, Incident, LatLon, MapConfig, Unit } from "../types";
import type { Centre, KeyBinding, Panel } from "./context";
import { MapControl } from "./mapctl";
import { Queue } from "./queue";
import { has, t, type Key } from "../i18n";

const LAYER_LABELS: Record<LayerName, Key> = {
  incidents: "layer.incidents",
  units: "layer.units",
  routes: "layer.routes",
  devices: "layer.devices",
  cameras: "layer.cameras",
  zones: "layer.zones",
  alerts: "layer.alerts",
  reports: "layer.reports",
  labels: "layer.labels",
};

const LIVE_TEXT: Record<LiveState, Key> = {
  connecting: "cc.connecting",
  live: "live.live",
  reconnecting: "live.reconnecting",
  stopped: "live.stopped",
};

function roleText(role: string): string {
  const k = `role.${role}`;
  return has(k) ? t(k) : role.replace("_", " ");
}

export class CommandCentre implements Centre {
  readonly picture = new Picture();
  readonly can: Abilities;
  readonly clock = new ServerClock();
  readonly map: MapControl;
  readonly selection: { incident: string | null; unit: string | null } = { incident: null, unit: null };
  live!: LiveFeed;
  private types: Catalogue = { incident_types: {} };
  private readonly panels: Panel[];
  private readonly queue: Queue;
  private readonly root: HTMLElement;
  private liveBadge!: HTMLElement;
  private toastBox!: HTMLElement;
  private tabs = new Map<string, { tab: HTMLButtonElement; panel: HTMLElement }>();
  private modal: HTMLElement | null = null;
  private lastFocus: HTMLElement | null = null;
  private picking: ((at: LatLon) => void) | null = null;
  private frame = 0;
  private unitsMapDirty = true;
  private unitsMapUrgent = false;

  constructor(
    root: HTMLElement,
    readonly api: Api,
    readonly session: Session,
    private readonly onLogout: () => void,
  ) {
    this.root = root;
    this.can = abilities(session.role);
    this.map = new MapControl(api);
    this.queue = new Queue(this, () => this.clock.now());
    this.panels = PANELS.map((make) => make(this));
  }

  /** The map view (tests and benchmarks reach the MapLibre map through it). */
  get mapView(): MapView | null {
    return this.map.view;
  }

  set mapView(v: MapView | null) {
    this.map.view = v;
  }

  catalogue(): Catalogue {
    return this.types;
  }

  // ------------------------------------------------------------------ start
  async start(): Promise<void> {
    this.layout();
    // Close the gap between snapshot and stream: note the log position first,
    // fetch the snapshot, then stream from that position (applying is idempotent).
    performance.mark("vigil:start");
    // Start the heavy download at once; the queue does not wait for it.
    const mapModule = import("../map");
    let mapLoaded = false;
    void mapModule.then(() => (mapLoaded = true)).catch(() => undefined);
    // Neither depends on the log position: asked for alongside /health.
    const cfgP = this.api.get<MapConfig>("/map/config");
    const catP = this.api.get<Catalogue>("/catalogue");
    const health = await this.api.get<{ last_seq: number; now?: string }>("/health");
    if (health.now) this.clock.sync(health.now);
    const [incidents, units, catalogue, cfg] = await Promise.all([
      this.api.get<Incident[]>("/incidents?active=true"),
      this.api.get<Unit[]>("/units"),
      catP,
      cfgP,
    ]);
    performance.mark("vigil:snapshot");
    this.types = catalogue;
    this.picture.loadIncidents(incidents);
    this.picture.loadUnits(units);
    this.picture.lastSeq = health.last_seq;
    const extra = this.panels.flatMap((p) => p.events ?? []);
    this.live = new LiveFeed({
      token: this.session.token,
      after: health.last_seq,
      types: extra,
      onEvent: (ev) => this.onEvent(ev),
      onClock: (now) => this.clock.sync(now),
      onState: (s, seq) => this.onLiveState(s, seq),
    });
    this.live.start();
    // The map is the slower of the two: when its code is already here, set it going
    // first (its worker fetches and tiles the basemap while the queue is built).
    const startMap = (): Promise<void> =>
      this.map.start(
        this.root.querySelector<HTMLElement>("#map")!,
        cfg,
        mapModule,
        () => ({ incidents: this.picture.queue(), units: this.picture.units.values(), selected: this.selection.incident, selectedUnit: this.selection.unit, deferBasemap: true }),
        {
          onIncident: (id) => void this.select(id),
          onUnit: (id) => this.selectUnit(id, true),
          onCamera: (id) => document.dispatchEvent(new CustomEvent("vigil:camera", { detail: id })),
          onClick: (at) => {
            if (!this.picking) return false;
            this.picking(at);
            return true;
          },
        },
      );
    const mapDone = mapLoaded ? startMap() : null;
    this.queue.mapDirty = this.unitsMapDirty = false; // the map's first frame holds them
    this.renderNow();
    document.body.dataset.queueReady = "1";
    performance.mark("vigil:queue-ready");
    void this.loadPanels();
    await (mapDone ?? startMap());
    for (const u of this.picture.units.values()) this.map.trackRoute(u, (id) => this.picture.units.get(id));
  }

  private async loadPanels(): Promise<void> {
    const zones = this.api.optional<FeatureCollection>("/rules/zones").catch(() => null);
    await Promise.all(this.panels.map((p) => p.load?.().catch((err: unknown) => this.toast(`${p.label}: ${String(err)}`, true))));
    const view = await this.map.ready();
    const fc = await zones;
    if (view && fc && fc.type === "FeatureCollection") view.setZones(fc);
    this.renderNow();
  }

  // ----------------------------------------------------------------- layout
  private layout(): void {
    clear(this.root);
    this.liveBadge = h("span", { class: "live live-connecting", role: "status", "data-testid": "live-state" }, t("cc.connecting"));
    const header = h(
      "header",
      { class: "top" },
      h("h1", {}, "Vigil"),
      h("span", { class: "sub" }, t("cc.sub")),
      this.liveBadge,
      h("span", { class: "spacer" }),
      this.can.takeCall ? h("button", { type: "button", id: "new-call", onclick: () => openNewCall(this) }, `${t("cc.new_call")} `, h("kbd", {}, "N")) : null,
      h("button", { type: "button", onclick: () => this.openHelp() }, `${t("cc.keys")} `, h("kbd", {}, "?")),
      h("span", { class: "who", "data-testid": "who" }, `${this.session.name} · ${roleText(this.session.role)}`),
      h("button", { type: "button", class: "quiet", onclick: () => this.onLogout() }, t("cc.logout")),
    );
    const mapBox = h("section", { id: "map-box", "aria-label": t("cc.map") }, h("div", { id: "map" }), this.layerPanel());
    const tabBar = h("div", { class: "tabs", role: "tablist", "aria-label": t("cc.panels") });
    const side = h("aside", { id: "side" }, tabBar);
    for (const p of this.panels) {
      const tab = h("button", { type: "button", role: "tab", id: `tab-${p.key}`, "aria-controls": `panel-${p.key}`, onclick: () => this.showTab(p.key) }, p.label, " ", h("kbd", {}, p.shortcut));
      const wrap = h("div", { role: "tabpanel", id: `panel-${p.key}`, "aria-labelledby": `tab-${p.key}`, class: "panel" }, p.element);
      tabBar.append(tab);
      side.append(wrap);
      this.tabs.set(p.key, { tab, panel: wrap });
    }
    this.toastBox = h("div", { class: "toasts", "aria-live": "assertive" });
    append(this.root, header, h("main", { class: "grid" }, this.queue.element, mapBox, side), this.toastBox);
    this.showTab(this.panels[0].key);
    document.addEventListener("keydown", (e) => this.onKey(e));
    window.setInterval(() => this.tickTimers(), 1000);
  }

  private layerPanel(): HTMLElement {
    const box = h("fieldset", { class: "layers", "aria-label": t("cc.map_layers") }, h("legend", {}, t("cc.layers")));
    for (const name of Object.keys(LAYER_GROUPS) as LayerName[]) {
      const input = h("input", { type: "checkbox", id: `layer-${name}`, checked: true });
      input.addEventListener("change", () => this.map.view?.setVisible(name, input.checked));
      box.append(h("label", { for: `layer-${name}` }, input, " ", t(LAYER_LABELS[name])));
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
    this.liveBadge.textContent = s === "live" ? `${t("live.live")} · #${seq}` : t(LIVE_TEXT[s]);
    this.liveBadge.dataset.seq = String(seq);
  }

  private onEvent(ev: FeedEvent): void {
    const changes = this.picture.apply(ev);
    for (const c of changes) this.note(c);
    for (const p of this.panels) p.onEvent?.(ev);
    this.scheduleRender();
  }

  changed(c: Change): void {
    this.note(c);
    this.renderNow();
  }

  private note(c: Change): void {
    this.queue.note(c);
    if (c.kind === "unit") {
      this.unitsMapDirty = true;
      if (c.status) {
        this.unitsMapUrgent = true;
        const u = this.picture.units.get(c.id);
        if (u) this.map.trackRoute(u, (id) => this.picture.units.get(id));
      }
    }
    for (const p of this.panels) p.note?.(c);
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
    this.queue.render();
    for (const p of this.panels) p.render?.();
    if (this.queue.mapDirty) {
      this.queue.mapDirty = false;
      this.map.update("incidents", (v) => v.setIncidents(this.picture.queue(), this.selection.incident));
    }
    if (this.unitsMapDirty) {
      this.unitsMapDirty = false;
      this.map.update("units", (v) => v.setUnits(this.picture.units.values(), this.selection.unit), this.unitsMapUrgent);
      this.unitsMapUrgent = false;
    }
    this.map.schedule();
  }

  private tickTimers(): void {
    const now = this.clock.now();
    // The queue's timers only where a row is on screen (1,000 rows otherwise rewrite
    // 1,000 texts a second); a row coming into view is brought up to date at once.
    for (const el of this.queue.visibleTimers()) el.textContent = ago(Number(el.dataset.from), now);
    for (const el of this.root.querySelectorAll<HTMLElement>("#side .timer[data-from], .modal .timer[data-from]")) {
      el.textContent = ago(Number(el.dataset.from), now);
    }
  }

  // -------------------------------------------------------------- selection
  async select(id: string): Promise<void> {
    this.selection.incident = id;
    this.queue.markSelected();
    this.showTab("incident");
    this.queue.mapDirty = true;
    this.renderNow();
    await Promise.all(this.panels.map((p) => p.onSelect?.(id)));
  }

  selectUnit(id: string, showBoard: boolean): void {
    const prev = this.selection.unit;
    this.selection.unit = id;
    for (const p of this.panels) p.onSelectUnit?.(id, prev, showBoard);
    this.unitsMapDirty = this.unitsMapUrgent = true;
    this.renderNow();
  }

  pick(onPick: ((at: LatLon) => void) | null): void {
    this.picking = onPick;
  }

  // ------------------------------------------------------------------ modals
  openModal(title: string, body: HTMLElement, focus?: HTMLElement): void {
    const picking = this.picking;
    this.closeModal();
    this.picking = picking; // a dialog that places a point set it just before opening
    this.lastFocus = document.activeElement as HTMLElement | null;
    const close = h("button", { type: "button", class: "quiet", "aria-label": t("cc.close"), onclick: () => this.closeModal() }, "Esc ✕");
    this.modal = h("div", { class: "modal", role: "dialog", "aria-modal": "true", "aria-labelledby": "modal-title" }, h("div", { class: "modal-head" }, h("h2", { id: "modal-title" }, title), close), body);
    this.root.append(this.modal);
    (focus ?? close).focus();
  }

  closeModal(): void {
    if (!this.modal) return;
    this.modal.remove();
    this.modal = null;
    this.picking = null;
    this.map.setPick(null);
    this.lastFocus?.focus();
  }

  openHelp(): void {
    const rows: [string, string][] = [
      ["N", t("help.new_call")],
      ["/", t("help.search")],
      ["J / K", t("help.move")],
      ["F", t("help.find")],
      ...this.panelKeys().map((b): [string, string] => [b.label, b.help]),
      [this.panels.map((p) => p.shortcut).join(" "), t("help.panel", { panels: this.panels.map((p) => p.label).join(", ") })],
      ["Esc", t("help.close")],
      ["?", t("help.help")],
    ];
    const table = h("table", { class: "keys" });
    for (const [k, what] of rows) table.append(h("tr", {}, h("td", {}, h("kbd", {}, k)), h("td", {}, what)));
    this.openModal(t("help.title"), h("div", {}, table, h("p", { class: "muted" }, t("help.legend"))));
  }

  private panelKeys(): KeyBinding[] {
    return this.panels.flatMap((p) => [...(p.keys ?? [])]);
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
    if (k === "n" || k === "N" || k === "/") {
      e.preventDefault();
      openNewCall(this);
    } else if (k === "j" || k === "ArrowDown") {
      if (k === "ArrowDown" && !t.closest("#queue-list")) return;
      e.preventDefault();
      this.queue.move(1);
    } else if (k === "k" || k === "ArrowUp") {
      if (k === "ArrowUp" && !t.closest("#queue-list")) return;
      e.preventDefault();
      this.queue.move(-1);
    } else if (k === "f" || k === "F") {
      e.preventDefault();
      this.queue.find.focus();
    } else if (k === "?") {
      e.preventDefault();
      this.openHelp();
    } else {
      const tab = this.panels.find((p) => p.shortcut.toLowerCase() === k);
      if (tab) {
        this.showTab(tab.key);
        return;
      }
      const b = this.panelKeys().find((x) => x.keys.includes(k));
      if (b) {
        e.preventDefault();
        b.run(e);
      }
    }
  }

  toast(text: string, bad = false): void {
    const el = h("div", { class: bad ? "toast bad" : "toast", role: bad ? "alert" : "status" }, text);
    this.toastBox.append(el);
    window.setTimeout(() => el.remove(), bad ? 6000 : 2500);
  }
}
