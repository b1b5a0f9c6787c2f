// The cameras panel: each camera's zones with their latest counts, density and
// behaviour (intrusion, loitering, ...), and the latest snapshot — blurred by the
// worker before it left it (every person and vehicle) — with the camera's zones
// and lines drawn over it (camera-overlay.ts). Cameras compute counts and
// behaviours about places, never who anyone is. Counts are readings, not feed
// events, so the list is re-read every few seconds while the tab is open; the map
// gets a label per camera with its counts and behaviour.

import type { Feature, FeatureCollection, Point } from "geojson";

import type { Centre, Panel, PanelFactory } from "../centre/context";
import { ago, clear, clock, h } from "../dom";
import { t } from "../i18n";
import type { CameraOut, FeedEvent } from "../types";
import { countsText, zoneOverlay } from "./camera-overlay";

const REFRESH_MS = 10_000;

function latest(c: CameraOut): number {
  let at = 0;
  for (const z of c.zones) if (z.observed_at) at = Math.max(at, Date.parse(z.observed_at));
  return at;
}

class CamerasPanel implements Panel {
  readonly key = "cameras";
  readonly label = t("cameras.tab");
  readonly shortcut = "V";
  readonly element: HTMLElement;
  private cameras: CameraOut[] = [];
  private available: boolean | null = null;
  private dirty = false;
  private selected: string | null = null;
  private snapshot: { id: string; at: string | null; url: string } | null = null;
  private timer: number | undefined;
  private list!: HTMLElement;
  private detail!: HTMLElement;
  private find!: HTMLInputElement;

  constructor(private readonly c: Centre) {
    this.element = h("div", { id: "cameras" }, h("p", { class: "empty" }, t("loading")));
    document.addEventListener("vigil:camera", (e) => {
      const id = (e as CustomEvent<string>).detail;
      this.c.showTab(this.key);
      this.choose(id);
    });
  }

  async load(): Promise<void> {
    const list = await this.c.api.optional<CameraOut[]>("/cameras").catch(() => null);
    this.available = list !== null;
    this.cameras = list ?? [];
    this.dirty = true;
    this.render();
    this.c.map.update("cameras", (v) => v.setCameraCounts(this.features()));
    this.c.map.schedule(true);
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.tick(), REFRESH_MS);
  }

  private tick(): void {
    // Re-read only while someone looks at the tab (or the map labels are shown).
    const open = !this.element.closest<HTMLElement>("[role=tabpanel]")?.hidden;
    if (open) void this.load().catch(() => undefined);
    else this.timer = window.setTimeout(() => this.tick(), REFRESH_MS);
  }

  onEvent(ev: FeedEvent): void {
    // A camera rule firing (intrusion, abandoned object): show it without waiting.
    if (ev.type === "rule.fired" && String(ev.data.device_id ?? "").startsWith("cam")) {
      window.clearTimeout(this.timer);
      this.timer = window.setTimeout(() => void this.load().catch(() => undefined), 200);
    }
  }

  private features(): FeatureCollection {
    const features: Feature<Point>[] = [];
    for (const cam of this.cameras) {
      const behaviour = cam.zones.map((z) => z.behaviour).find(Boolean);
      const people = cam.zones.reduce((n, z) => n + (z.counts.person ?? 0), 0);
      const vehicles = cam.zones.reduce((n, z) => n + (z.counts.vehicle ?? 0) + (z.counts.car ?? 0), 0);
      if (!cam.zones.length) continue;
      const text = [`${Math.round(people)} ${t("cameras.people_short")}`, vehicles ? `${Math.round(vehicles)} ${t("cameras.vehicles_short")}` : "", behaviour ? behaviour.toUpperCase() : ""].filter(Boolean).join(" · ");
      features.push({ type: "Feature", geometry: { type: "Point", coordinates: [cam.lon, cam.lat] }, properties: { id: cam.id, text, alert: Boolean(behaviour) } });
    }
    return { type: "FeatureCollection", features };
  }

  choose(id: string): void {
    this.selected = id;
    this.dirty = true;
    this.render();
    void this.loadSnapshot();
  }

  private async loadSnapshot(): Promise<void> {
    const cam = this.cameras.find((x) => x.id === this.selected);
    if (!cam?.snapshot_url) return;
    if (this.snapshot && this.snapshot.id === cam.id && this.snapshot.at === cam.snapshot_at) return;
    const res = await fetch(cam.snapshot_url, { headers: { Authorization: `Bearer ${this.c.session.token}` } });
    if (!res.ok) return;
    const url = URL.createObjectURL(await res.blob());
    if (this.snapshot) URL.revokeObjectURL(this.snapshot.url);
    this.snapshot = { id: cam.id, at: cam.snapshot_at, url };
    this.dirty = true;
    this.render();
  }

  render(): void {
    if (!this.dirty) return;
    this.dirty = false;
    if (this.available === false) {
      clear(this.element);
      this.element.append(h("p", { class: "empty" }, t("cameras.unavailable")));
      return;
    }
    if (!this.list) this.layout();
    this.draw();
    if (this.selected) void this.loadSnapshot();
  }

  private layout(): void {
    clear(this.element);
    this.find = h("input", { id: "cam-find", type: "search", autocomplete: "off", placeholder: t("cameras.find_hint") });
    this.find.addEventListener("input", () => this.draw());
    this.list = h("ul", { class: "cameras", "data-testid": "camera-list" });
    this.detail = h("div", { class: "camera-detail", "data-testid": "camera-detail", "aria-live": "polite" });
    this.element.append(
      h("p", { class: "muted" }, t("cameras.privacy")),
      h("label", { for: "cam-find" }, t("cameras.find")),
      " ",
      this.find,
      this.detail,
      this.list,
    );
  }

  private draw(): void {
    const q = this.find.value.trim().toLowerCase();
    const now = this.c.clock.now();
    // Cameras that see something happening first, then those reporting, then the rest.
    const rank = (c: CameraOut): number => (c.zones.some((z) => z.behaviour) ? 0 : c.zones.length ? 1 : c.snapshot_url ? 2 : 3);
    const shown = this.cameras
      .filter((c) => !q || `${c.id} ${c.label} ${c.zones.map((z) => z.zone ?? "").join(" ")}`.toLowerCase().includes(q))
      .sort((a, b) => rank(a) - rank(b) || latest(b) - latest(a) || a.id.localeCompare(b.id));
    clear(this.list);
    for (const cam of shown.slice(0, 200)) {
      const b = cam.zones.map((z) => z.behaviour).find(Boolean);
      const state = cam.online === null ? t("cameras.state_unknown") : cam.online ? t("cameras.online") : t("cameras.offline");
      const open = h(
        "button",
        { type: "button", class: "cam", "data-camera": cam.id, "aria-pressed": String(cam.id === this.selected) },
        h("strong", {}, cam.label || cam.id),
        ` · ${state}`,
        b ? h("span", { class: "behaviour" }, ` · ${b.toUpperCase()}`) : null,
        cam.zones.length ? h("span", { class: "muted" }, ` · ${t("cameras.zones", { n: cam.zones.length })}`) : null,
      );
      open.addEventListener("click", () => this.choose(cam.id));
      this.list.append(h("li", {}, open));
    }
    if (!shown.length) this.list.append(h("li", { class: "muted" }, t("cameras.none")));
    this.drawDetail(now);
  }

  private drawDetail(now: number): void {
    clear(this.detail);
    const cam = this.cameras.find((x) => x.id === this.selected);
    if (!cam) return;
    this.detail.append(h("h3", {}, cam.label || cam.id), h("p", { class: "muted" }, `${cam.id} · ${cam.lat.toFixed(5)}, ${cam.lon.toFixed(5)}`));
    const table = h("table", { class: "zones" }, h("tr", {}, h("th", {}, t("cameras.zone")), h("th", {}, t("cameras.counts")), h("th", {}, t("cameras.behaviour")), h("th", {}, t("cameras.seen"))));
    for (const z of cam.zones) {
      const when = z.observed_at ? Date.parse(z.observed_at) : null;
      table.append(
        h(
          "tr",
          { "data-zone": z.device_id },
          h("td", {}, z.name || z.zone || z.device_id),
          h("td", {}, countsText(z)),
          h("td", { class: z.behaviour ? "behaviour" : "" }, z.behaviour ?? "—"),
          h("td", {}, when === null ? "—" : h("span", { class: "timer", "data-from": String(when) }, ago(when, now))),
        ),
      );
    }
    if (!cam.zones.length) table.append(h("tr", {}, h("td", { colspan: 4, class: "muted" }, t("cameras.no_zones"))));
    this.detail.append(table);
    const overlay = cam.layout ? zoneOverlay(cam.label || cam.id, cam.layout, cam.zones) : null;
    if (this.snapshot && this.snapshot.id === cam.id) {
      const frame = h("div", { class: "snapshot-frame" }, h("img", { src: this.snapshot.url, alt: t("cameras.snapshot_alt", { camera: cam.label || cam.id }), "data-testid": "camera-snapshot" }));
      if (overlay) frame.append(overlay.svg);
      this.detail.append(h("figure", {}, frame, h("figcaption", { class: "muted" }, `${t("cameras.snapshot")} ${cam.snapshot_at ? clock(cam.snapshot_at) : ""}`)));
    } else if (!cam.snapshot_url) {
      this.detail.append(h("p", { class: "muted" }, t("cameras.no_snapshot")));
    }
    // The overlay's text equivalent, shown with or without a snapshot.
    if (overlay) this.detail.append(h("h4", {}, t("cameras.overlay_list")), overlay.list);
  }
}

export const camerasPanel: PanelFactory = (c) => new CamerasPanel(c);
