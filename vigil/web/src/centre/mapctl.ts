// The map as the panels see it: one paced redraw for every layer that changed.
//
// Map sources are re-tiled and the whole map redrawn on each update, and without a
// GPU a frame costs hundreds of milliseconds of the page's main thread. So map
// updates are paced to what a frame measurably costs: what a dispatcher acts on
// (new, closed, re-prioritised incidents, assignments, selection, routes) within
// about a fifth of a second on a fast machine; unit movement at most every two
// seconds, and never more than a quarter of the time drawing (the cost includes
// the GPU's share, which without a GPU is CPU the server and feed need too). The
// queue and the panels do not wait for any of this.
//
// A panel that draws on the map hands over what to draw with `update(layer, draw)`:
// the latest drawing per layer wins and runs at the next paced flush.

import type { LineString } from "geojson";

import type { Api } from "../api";
import type { MapHandlers, MapStart, MapView } from "../map";
import type { LatLon, MapConfig, RouteOut, Unit } from "../types";

type Draw = (view: MapView) => void;

export class MapControl {
  view: MapView | null = null;
  private pending = new Map<string, Draw>();
  private urgent = false;
  private timer: number | undefined;
  private due = 0;
  private lastFlush = 0;
  private routes = new Map<string, { key: string; geometry: LineString }>();
  private preview: { unitId: string; geometry: LineString } | null = null;
  private routesDrawn = "";
  private started: Promise<void> | null = null;

  constructor(private readonly api: Api) {}

  /** Create the map once (later calls return the same promise). */
  start(holder: HTMLElement, cfg: MapConfig, module: Promise<typeof import("../map")>, begin: () => MapStart, handlers: MapHandlers): Promise<void> {
    this.started ??= this.create(holder, cfg, module, begin, handlers);
    return this.started;
  }

  /** Resolves when the map exists and its style is loaded (never, if it cannot be drawn). */
  async ready(): Promise<MapView | null> {
    await this.started;
    await this.view?.ready;
    return this.view;
  }

  private async create(holder: HTMLElement, cfg: MapConfig, module: Promise<typeof import("../map")>, begin: () => MapStart, handlers: MapHandlers): Promise<void> {
    try {
      // Loaded on demand: the queue does not wait for the map library.
      const { MapView } = await module;
      // The first frame holds the live picture: no empty map, no second upload.
      this.view = new MapView(holder, cfg, begin(), handlers);
      this.pending.delete("incidents");
      this.pending.delete("units");
    } catch (err) {
      const p = document.createElement("p");
      p.className = "map-error";
      p.setAttribute("role", "alert");
      p.textContent = `The map cannot be drawn here (WebGL unavailable): ${String(err)}`;
      holder.append(p);
      return;
    }
    await this.view.ready;
    performance.mark("vigil:map-loaded");
    this.flush();
    await this.view.rendered();
    document.body.dataset.mapReady = "1";
    performance.mark("vigil:map-ready", { detail: { frames: this.view.frames } });
    // The streets come after every incident and unit is on screen (MapStart.deferBasemap).
    void this.view.loadBasemap().then(() => {
      document.body.dataset.basemapReady = "1";
      performance.mark("vigil:basemap-ready");
    });
  }

  /** Draw `layer` at the next paced flush (urgent: what a dispatcher acts on). */
  update(layer: string, draw: Draw, urgent = true): void {
    this.pending.set(layer, draw);
    if (urgent) this.urgent = true;
  }

  /** Schedule a flush for what `update` collected (call once per batch of changes). */
  schedule(urgent = this.urgent): void {
    this.urgent = false;
    const m = this.view;
    if (!m) return;
    const cost = m.updateCost();
    const gap = urgent ? Math.max(200, cost) : Math.max(2000, 4 * cost);
    const due = Math.max(performance.now(), this.lastFlush + Math.min(gap, 5000));
    if (this.timer !== undefined) {
      if (due >= this.due) return;
      window.clearTimeout(this.timer);
    }
    this.due = due;
    this.timer = window.setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, due - performance.now());
  }

  private flush(): void {
    const m = this.view;
    if (!m) return;
    this.lastFlush = performance.now();
    if (this.timer !== undefined) {
      window.clearTimeout(this.timer);
      this.timer = undefined;
    }
    const draws = [...this.pending.values()];
    this.pending.clear();
    for (const draw of draws) draw(m);
    // Routes change rarely: re-set them only when they did (each upload is a redraw).
    const routes = [...this.routes.entries()].map(([unitId, r]) => ({ unitId, geometry: r.geometry, preview: false }));
    if (this.preview) routes.push({ ...this.preview, preview: true });
    const key = routes.map((r) => `${r.unitId}:${r.preview ? "p" : ""}:${r.geometry.coordinates.length}:${r.geometry.coordinates[0]?.join(",") ?? ""}`).join("|");
    if (key !== this.routesDrawn) {
      this.routesDrawn = key;
      m.setRoutes(routes);
    }
  }

  /** Show a candidate unit's route (null clears it). */
  setPreview(p: { unitId: string; geometry: LineString } | null): void {
    this.preview = p;
    this.schedule(true);
  }

  /** Keep the route of each unit driving to an incident (dispatched or en route). */
  trackRoute(u: Unit, current: (id: string) => Unit | undefined): void {
    const driving = (u.status === "dispatched" || u.status === "en_route") && u.incident_id;
    if (!driving) {
      if (this.routes.delete(u.id)) this.schedule(true);
      return;
    }
    const key = `${u.incident_id}`;
    if (this.routes.get(u.id)?.key === key) return;
    this.api
      .get<RouteOut>(`/incidents/${u.incident_id}/routes/${u.id}`)
      .then((r) => {
        const now = current(u.id);
        if (now?.incident_id === u.incident_id && (now.status === "dispatched" || now.status === "en_route")) {
          this.routes.set(u.id, { key, geometry: r.geometry as unknown as LineString });
          this.schedule(true);
        }
      })
      .catch(() => undefined); // no route (no position, no network): the unit still shows
  }

  focus(at: LatLon): void {
    this.view?.focus(at);
  }

  setPick(at: LatLon | null): void {
    this.view?.setPick(at);
  }
}
