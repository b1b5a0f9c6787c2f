// The citizen-reports panel: the moderation queue (reports from the public form at /report),
// kept live by report.* events. An operator promotes a report to an incident or dismisses it.

import type { FeatureCollection } from "geojson";

import type { Centre, Panel, PanelFactory } from "../centre/context";
import { clear, h } from "../dom";
import type { FeedEvent } from "../types";
import { t } from "../i18n";

interface ReportRow {
  id: string;
  state: string;
  category: string;
  category_label: string;
  text: string;
  lat: number;
  lon: number;
  has_photo: boolean;
  has_contact: boolean;
  submitted_at: string;
}

// Report categories -> the incident type a promotion suggests (the operator may change it).
const SUGGEST: Record<string, string> = {
  flooding: "flood",
  fallen_tree: "infrastructure",
  road_hazard: "infrastructure",
  fire_smoke: "outdoor_fire",
  street_light: "infrastructure",
  noise: "disturbance",
  waste: "other",
  other: "other",
};

class ReportsPanel implements Panel {
  readonly key = "reports";
  readonly label = t("reports.tab");
  readonly shortcut = "R";
  readonly events = ["report.submitted", "report.promoted", "report.merged", "report.dismissed"] as const;
  readonly element: HTMLElement;
  private rows: ReportRow[] = [];
  private available: boolean | null = null;
  private dirty = false;
  private reloading = false;

  constructor(private readonly c: Centre) {
    this.element = h("div", { id: "reports" }, h("p", { class: "empty" }, t("loading")));
  }

  async load(): Promise<void> {
    const [list, points] = await Promise.all([
      this.c.api.optional<ReportRow[]>("/reports?state=new").catch(() => null),
      this.c.api.optional<FeatureCollection>("/reports/map.geojson").catch(() => null),
    ]);
    if (points && points.type === "FeatureCollection") {
      this.c.map.update("reports", (v) => v.setReports(points));
      this.c.map.schedule(true);
    }
    this.available = list !== null;
    this.rows = list ?? [];
    this.dirty = true;
    this.render();
  }

  onEvent(ev: FeedEvent): void {
    if (!ev.type.startsWith("report.") || this.reloading) return;
    // Reports are few: re-read the queue rather than rebuild it from events.
    this.reloading = true;
    void this.load().finally(() => (this.reloading = false));
  }

  private async act(path: string, body: unknown): Promise<void> {
    try {
      await this.c.api.post(path, body);
    } catch (err) {
      alert(err instanceof Error ? err.message : String(err));
    }
    await this.load();
  }

  render(): void {
    if (!this.dirty) return;
    this.dirty = false;
    clear(this.element);
    if (this.available === false) {
      this.element.append(h("p", { class: "empty" }, t("reports.unavailable")));
      return;
    }
    if (!this.rows.length) {
      this.element.append(h("p", { class: "empty" }, t("reports.none")));
      return;
    }
    const types = Object.entries(this.c.catalogue().incident_types).sort((a, b) => a[1].label.localeCompare(b[1].label));
    const ul = h("ul", { class: "reports" });
    for (const r of this.rows) {
      const select = h("select", { "aria-label": t("reports.type") }) as HTMLSelectElement;
      for (const [key, t] of types) {
        const opt = h("option", { value: key }, t.label) as HTMLOptionElement;
        if (key === (SUGGEST[r.category] ?? "other")) opt.selected = true;
        select.append(opt);
      }
      const promote = h("button", { type: "button", class: "promote", "data-report": r.id }, t("reports.promote"));
      promote.addEventListener("click", () =>
        void this.act(`/reports/${r.id}/promote`, { incident_type: select.value, reason: "promoted from the moderation queue" }),
      );
      const dismiss = h("button", { type: "button", class: "dismiss", "data-report": r.id }, t("reports.dismiss"));
      dismiss.addEventListener("click", () => {
        const reason = prompt(t("reports.dismiss_why"));
        if (reason && reason.trim()) void this.act(`/reports/${r.id}/dismiss`, { reason });
      });
      const when = new Date(r.submitted_at);
      ul.append(
        h(
          "li",
          { "data-report": r.id },
          h("strong", {}, r.category_label),
          ` — ${r.text}`,
          h("div", { class: "muted" }, `${when.toLocaleTimeString()} · ${r.lat.toFixed(5)}, ${r.lon.toFixed(5)}${r.has_photo ? ` · ${t("reports.photo")}` : ""}${r.has_contact ? ` · ${t("reports.contact")}` : ""}`),
          h("div", {}, select, " ", promote, " ", dismiss),
        ),
      );
    }
    this.element.append(ul);
  }
}

export const reportsPanel: PanelFactory = (c) => new ReportsPanel(c);
