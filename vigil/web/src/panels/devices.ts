// The devices panel: the sensor registry with each device's state, kept live by
// device.* events, and the devices layer of the map.

import type { Centre, Panel, PanelFactory } from "../centre/context";
import { clear, h } from "../dom";
import type { DevicePoint } from "../map";
import type { DeviceOut, FeedEvent, LatLon } from "../types";

class DevicesPanel implements Panel {
  readonly key = "devices";
  readonly label = "Devices";
  readonly shortcut = "D";
  readonly element: HTMLElement;
  private devices = new Map<string, DeviceOut>();
  private available: boolean | null = null;
  private dirty = false;

  constructor(private readonly c: Centre) {
    this.element = h("div", { id: "devices" }, h("p", { class: "empty" }, "Loading…"));
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
    clear(this.element);
    if (this.available === false) {
      this.element.append(h("p", { class: "empty" }, "Devices: not available in this deployment."));
      return;
    }
    const devices = [...this.devices.values()].sort((a, b) => Number(a.state !== "offline") - Number(b.state !== "offline") || a.id.localeCompare(b.id));
    const offline = devices.filter((d) => d.state === "offline").length;
    this.element.append(h("p", { class: "counts" }, `${devices.length} devices · ${offline} offline`));
    const ul = h("ul", { class: "devices" });
    for (const d of devices.slice(0, 500)) {
      const off = d.state === "offline";
      ul.append(h("li", { class: off ? "offline" : "" }, h("strong", {}, d.label || d.id), ` ${d.kind}`, d.zone ? ` · ${d.zone}` : "", h("span", { class: off ? "warn" : "ok" }, off ? " OFFLINE" : ` ${d.state}`)));
    }
    this.element.append(ul);
  }

  private *points(): Iterable<DevicePoint> {
    for (const d of this.devices.values()) yield { id: d.id, kind: d.kind, location: { lat: d.lat, lon: d.lon }, online: d.state !== "offline" };
  }
}

export const devicesPanel: PanelFactory = (c) => new DevicesPanel(c);
