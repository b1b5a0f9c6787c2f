// The alerts panel: public-warning drafts and their state, kept live by alert.*
// events, and the alerts layer of the map.

import type { Geometry } from "geojson";

import type { Centre, Panel, PanelFactory } from "../centre/context";
import { clear, h } from "../dom";
import type { MapArea } from "../map";
import type { DraftOut, FeedEvent } from "../types";

interface AlertRow {
  id: string;
  headline: string;
  status: string;
  area: Geometry | null;
}

class AlertsPanel implements Panel {
  readonly key = "alerts";
  readonly label = "Alerts";
  readonly shortcut = "L";
  readonly element: HTMLElement;
  private alerts = new Map<string, AlertRow>();
  private available: boolean | null = null;
  private dirty = false;

  constructor(private readonly c: Centre) {
    this.element = h("div", { id: "alerts" }, h("p", { class: "empty" }, "Loading…"));
  }

  async load(): Promise<void> {
    const drafts = await this.c.api.optional<DraftOut[]>("/alerts/drafts").catch(() => null);
    this.available = drafts !== null;
    for (const a of drafts ?? []) this.alerts.set(a.id, { id: a.id, headline: a.headline || a.event || a.id, status: a.status || "draft", area: null });
    this.dirty = true;
    this.render();
  }

  onEvent(ev: FeedEvent): void {
    if (!ev.type.startsWith("alert.")) return;
    const d = ev.data;
    const id = String(d.alert_id ?? d.id ?? ev.stream);
    const prev = this.alerts.get(id);
    this.alerts.set(id, {
      id,
      headline: String(d.headline ?? prev?.headline ?? ev.type),
      status: ev.type.split(".")[1] ?? "",
      area: (d.area as Geometry | undefined) ?? prev?.area ?? null,
    });
    this.dirty = true;
  }

  render(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.c.map.update("alerts", (v) => v.setAlerts(this.alerts.values() as Iterable<MapArea>));
    clear(this.element);
    if (this.available === false && !this.alerts.size) {
      this.element.append(h("p", { class: "empty" }, "Alerts: not available in this deployment."));
      return;
    }
    const ul = h("ul", { class: "alerts" });
    for (const a of this.alerts.values()) ul.append(h("li", {}, h("strong", {}, a.status), ` ${a.headline}`));
    if (!this.alerts.size) ul.append(h("li", { class: "muted" }, "No alerts."));
    this.element.append(ul);
  }
}

export const alertsPanel: PanelFactory = (c) => new AlertsPanel(c);
