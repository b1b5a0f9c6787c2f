// The devices panel: the sensor registry with each device's state, kept live by
// device.* events, and the devices layer of the map.

import type { Centre, Panel, PanelFactory } from "../centre/context";
import { ago, append, clear, h } from "../dom";
import type { DevicePoint } from "../map";
import type { DeviceOut, DeviceRecentOut, FeedEvent, LatLon } from "../types";
import { t } from "../i18n";

class DevicesPanel implements Panel {
  readonly key = "devices";
  readonly label = t("devices.tab");
  readonly shortcut = "D";
  readonly element: HTMLElement;
  private devices = new Map<string, DeviceOut>();
  private available: boolean | null = null;
  private dirty = false;

  constructor(private readonly c: Centre) {
    this.element = h("div", { id: "devices" }, h("p", { class: "empty" }, t("loading")));
  }

  async load(): Promise<void> {
    const list = await this.c.api.optional<DeviceOut[]>("/devices").catch(() => null);
    this.available = list !== null;
    for (const d of list ?? []) this.devices.set(d.id, d);
    this.dirty = true;
    this.render();
  }

  onEvent(ev: FeedEvent): void {
    if (!ev.type.startsWith("device.")) return;
    const d = ev.data;
    const id = String(d.device_id);
    const cur = this.devices.get(id);
    if (ev.type === "device.registered") {
      const at = d.location as LatLon;
      this.devices.set(id, {
        id,
        kind: d.kind as DeviceOut["kind"],
        lat: at.lat,
        lon: at.lon,
        zone: (d.zone as string | null) ?? null,
        site: String(d.site ?? ""),
        streams: (d.streams as Record<string, string>) ?? {},
        interval_s: Number(d.interval_s),
        label: String(d.label ?? ""),
        state: cur?.state ?? "unknown",
        latest: cur?.latest ?? [],
      });
    } else if (cur && ev.type === "device.offline") {
      this.devices.set(id, { ...cur, state: "offline" });
    } else if (cur && ev.type === "device.online") {
      this.devices.set(id, { ...cur, state: "online" });
    } else {
      return;
    }
    this.dirty = true;
  }

  render(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.c.map.update("devices", (v) => v.setDevices(this.points()));
    if (!this.body) this.layout();
    this.draw();
  }

  private body: HTMLElement | null = null;
  private find!: HTMLInputElement;
  private kindSel!: HTMLSelectElement;
  private offlineOnly!: HTMLInputElement;
  private detail!: HTMLElement;

  private layout(): void {
    clear(this.element);
    if (this.available === false) {
      this.element.append(h("p", { class: "empty" }, t("devices.unavailable")));
      return;
    }
    this.find = h("input", { id: "dev-find", type: "search", placeholder: t("devices.find_placeholder"), autocomplete: "off" });
    this.kindSel = h("select", { id: "dev-kind" }, h("option", { value: "" }, t("devices.all_kinds")));
    this.offlineOnly = h("input", { id: "dev-offline", type: "checkbox" });
    for (const el of [this.find, this.kindSel, this.offlineOnly]) el.addEventListener("input", () => this.draw());
    this.detail = h("div", { id: "dev-detail", class: "dev-detail", "aria-live": "polite" });
    this.body = h("div", { id: "dev-groups" });
    append(
      this.element,
      h("div", { class: "dev-filters" }, h("label", { for: "dev-find" }, `${t("devices.find")} `), this.find, h("label", { for: "dev-kind" }, `${t("devices.kind")} `), this.kindSel, h("label", { for: "dev-offline" }, this.offlineOnly, ` ${t("devices.offline_only")}`)),
      h("p", { class: "counts", id: "dev-counts" }),
      this.detail,
      this.body,
    );
  }

  private draw(): void {
    if (!this.body) return;
    const now = this.c.clock.now();
    const kinds = [...new Set([...this.devices.values()].map((d) => d.kind))].sort();
    if (this.kindSel.options.length !== kinds.length + 1) {
      const cur = this.kindSel.value;
      clear(this.kindSel);
      this.kindSel.append(h("option", { value: "" }, t("devices.all_kinds")), ...kinds.map((k) => h("option", { value: k }, k.replaceAll("_", " "))));
      this.kindSel.value = cur;
    }
    const q = this.find.value.trim().toLowerCase();
    const kind = this.kindSel.value;
    const shown = [...this.devices.values()].filter(
      (d) => (!kind || d.kind === kind) && (!this.offlineOnly.checked || d.state === "offline") && (!q || [d.id, d.label, d.zone ?? "", d.site].join(" ").toLowerCase().includes(q)),
    );
    const all = [...this.devices.values()];
    const offline = all.filter((d) => d.state === "offline").length;
    this.element.querySelector("#dev-counts")!.textContent = t("devices.counts", { n: all.length, off: offline, shown: shown.length });
    // Group by kind, then zone; offline devices first in each group, then by id.
    const groups = new Map<string, DeviceOut[]>();
    for (const d of shown) {
      const key = `${d.kind}|${d.zone ?? t("devices.no_zone")}`;
      (groups.get(key) ?? groups.set(key, []).get(key)!).push(d);
    }
    const keys = [...groups.keys()].sort((a, b) => offFirst(groups.get(b)!) - offFirst(groups.get(a)!) || a.localeCompare(b));
    clear(this.body);
    let rows = 0;
    for (const key of keys) {
      const list = groups.get(key)!.sort((a, b) => Number(a.state !== "offline") - Number(b.state !== "offline") || a.id.localeCompare(b.id));
      const [k, zone] = key.split("|");
      const off = list.filter((d) => d.state === "offline").length;
      const table = h("table", { class: "devs" }, h("caption", {}, `${k.replaceAll("_", " ")} · ${zone} — ${list.length}${off ? `, ${t("devices.group_offline", { n: off })}` : ""}`));
      const tb = h("tbody");
      for (const d of list.slice(0, Math.max(0, 400 - rows))) {
        rows += 1;
        const latest = [...d.latest].sort((a, b) => Date.parse(b.observed_at) - Date.parse(a.observed_at))[0];
        const tr = h(
          "tr",
          { tabindex: 0, "data-device": d.id, "data-state": d.state, class: d.state === "offline" ? "offline" : "" },
          h("td", {}, h("strong", {}, d.label || d.id), d.label ? h("span", { class: "muted small" }, ` ${d.id}`) : null),
          h("td", { class: `dstate ${d.state}` }, d.state === "offline" ? t("devices.offline") : d.state === "online" ? t("devices.online") : t("devices.unknown")),
          h("td", { class: "reading" }, latest ? `${latest.stream} ${fmt(latest.value)} ${latest.unit}` : t("devices.no_reading")),
          h("td", { class: "timer muted", "data-from": latest ? String(Date.parse(latest.observed_at)) : null }, latest ? ago(Date.parse(latest.observed_at), now) : ""),
        );
        const open = (): void => void this.openDetail(d);
        tr.addEventListener("click", open);
        tr.addEventListener("keydown", (e) => {
          if (e.key === "Enter") open();
        });
        tb.append(tr);
      }
      table.append(tb);
      this.body.append(table);
    }
    if (rows >= 400) this.body.append(h("p", { class: "muted" }, t("devices.first_400")));
  }

  private async openDetail(d: DeviceOut): Promise<void> {
    clear(this.detail);
    this.detail.append(h("h3", {}, d.label || d.id), h("p", { class: "muted" }, t("devices.loading")));
    let recent: DeviceRecentOut;
    try {
      recent = await this.c.api.get<DeviceRecentOut>(`/devices/${encodeURIComponent(d.id)}/recent?limit=120`);
    } catch (err) {
      this.detail.lastElementChild!.textContent = String(err);
      return;
    }
    clear(this.detail);
    const byStream = new Map<string, { value: number; at: number; unit: string }[]>();
    for (const r of recent.readings) (byStream.get(r.stream) ?? byStream.set(r.stream, []).get(r.stream)!).push({ value: r.value, at: Date.parse(r.observed_at), unit: r.unit });
    append(
      this.detail,
      h("h3", { id: "dev-detail-title" }, `${d.label || d.id} `, h("span", { class: "muted small" }, `${d.kind.replaceAll("_", " ")} · ${d.zone ?? t("devices.no_zone")} · ${d.state}`)),
      ...[...byStream.entries()].map(([stream, pts]) => h("div", { class: "spark-row" }, h("span", {}, `${stream} (${pts[0].unit}): ${fmt(pts[0].value)}`), sparkline(pts.slice().reverse(), t("devices.last_n", { stream, n: pts.length })))),
      byStream.size ? null : h("p", { class: "muted" }, t("devices.no_readings")),
      h("h4", {}, t("devices.watched_by")),
      recent.watched_by.length
        ? h("ul", { "data-testid": "watchers" }, ...recent.watched_by.map((w) => h("li", {}, h("strong", {}, w.ref), ` ${t("devices.watch_on", { stream: w.stream, scope: w.scope })}${w.description ? ` — ${w.description}` : ""}`)))
        : h("p", { class: "muted" }, t("devices.no_rule")),
    );
  }

  private *points(): Iterable<DevicePoint> {
    for (const d of this.devices.values()) yield { id: d.id, kind: d.kind, location: { lat: d.lat, lon: d.lon }, online: d.state !== "offline" };
  }
}

export const devicesPanel: PanelFactory = (c) => new DevicesPanel(c);

function offFirst(list: DeviceOut[]): number {
  return list.some((d) => d.state === "offline") ? 1 : 0;
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1);
}

/** A small SVG line of readings (oldest to newest), with a text alternative. */
function sparkline(pts: { value: number; at: number }[], label: string): SVGSVGElement {
  const w = 160;
  const hgt = 32;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
  svg.setAttribute("width", String(w));
  svg.setAttribute("height", String(hgt));
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  svg.classList.add("spark");
  if (pts.length < 2) return svg;
  const vs = pts.map((p) => p.value);
  const lo = Math.min(...vs);
  const hi = Math.max(...vs);
  const t0 = pts[0].at;
  const t1 = pts[pts.length - 1].at;
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute(
    "points",
    pts.map((p) => `${(((p.at - t0) / Math.max(1, t1 - t0)) * (w - 2) + 1).toFixed(1)},${(hgt - 2 - ((p.value - lo) / Math.max(1e-9, hi - lo)) * (hgt - 4)).toFixed(1)}`).join(" "),
  );
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#0072b2");
  line.setAttribute("stroke-width", "1.5");
  svg.append(line);
  return svg;
}
