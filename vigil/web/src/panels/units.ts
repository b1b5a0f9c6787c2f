// The unit board: units grouped by agency and station, live status; keys 1–6 set
// the selected unit's status.

import { ApiError } from "../api";
import type { Centre, KeyBinding, Panel, PanelFactory } from "../centre/context";
import { statusChip } from "../centre/widgets";
import { append, clear, h } from "../dom";
import type { Change } from "../model";
import { statusLabel } from "../palette";
import type { Unit, UnitStatus } from "../types";
import { t } from "../i18n";

// Keys 1..6 set the selected unit's status (dispatched comes only from assignment).
export const STATUS_KEYS: [string, UnitStatus][] = [
  ["1", "en_route"],
  ["2", "on_scene"],
  ["3", "transporting"],
  ["4", "at_hospital"],
  ["5", "available"],
  ["6", "out_of_service"],
];

class UnitsPanel implements Panel {
  readonly key = "units";
  readonly label = t("units.tab");
  readonly shortcut = "U";
  readonly element: HTMLElement;
  readonly keys: KeyBinding[];
  private rows = new Map<string, HTMLTableRowElement>();
  private dirty = new Set<string>();

  constructor(private readonly c: Centre) {
    this.element = h("div", { id: "board", "data-testid": "board" });
    this.keys = STATUS_KEYS.map(([k, s]) => ({ keys: [k], label: k, help: t("units.key_status", { status: statusLabel(s) }), run: () => void this.setStatus(s) }));
  }

  note(ch: Change): void {
    if (ch.kind === "unit" && ch.status) this.dirty.add(ch.id);
  }

  render(): void {
    const units = this.c.picture.units;
    const full = this.rows.size !== units.size;
    if (full) {
      clear(this.element);
      this.rows.clear();
      const groups = new Map<string, Unit[]>();
      for (const u of units.values()) {
        const key = `${u.agency}|${u.station ?? "—"}`;
        (groups.get(key) ?? groups.set(key, []).get(key)!).push(u);
      }
      this.element.append(h("p", { class: "counts", id: "unit-counts" }));
      for (const key of [...groups.keys()].sort()) {
        const [agency, station] = key.split("|");
        const table = h("table", { class: "units" }, h("caption", {}, `${agency.toUpperCase()} · ${station}`));
        const body = h("tbody");
        for (const u of groups.get(key)!.sort((a, b) => a.callsign.localeCompare(b.callsign))) {
          const tr = h("tr", { tabindex: -1, id: `u-${u.id}` });
          tr.dataset.unit = u.id;
          tr.addEventListener("click", () => this.c.selectUnit(u.id, false));
          this.fill(tr, u);
          this.rows.set(u.id, tr);
          body.append(tr);
        }
        table.append(body);
        this.element.append(table);
      }
    } else {
      for (const id of this.dirty) {
        const u = units.get(id);
        const tr = this.rows.get(id);
        if (u && tr) this.fill(tr, u);
      }
    }
    const counts = this.element.querySelector("#unit-counts");
    if (counts && (full || this.dirty.size)) {
      const n = new Map<string, number>();
      for (const u of units.values()) n.set(u.status, (n.get(u.status) ?? 0) + 1);
      counts.textContent = [...n.entries()].map(([s, k]) => `${statusLabel(s)}: ${k}`).join(" · ");
    }
    this.dirty.clear();
  }

  private fill(tr: HTMLTableRowElement, u: Unit): void {
    clear(tr);
    tr.dataset.status = u.status;
    tr.setAttribute("aria-selected", String(u.id === this.c.selection.unit));
    append(
      tr,
      h("td", { class: "cs" }, u.callsign),
      h("td", { class: "muted" }, u.type),
      h("td", {}, statusChip(u.status), " ", h("span", { class: "slabel" }, statusLabel(u.status))),
      h("td", { class: "inc" }, u.incident_id ?? ""),
    );
  }

  onSelectUnit(id: string, previous: string | null, showBoard: boolean): void {
    for (const uid of [previous, id]) {
      const u = uid ? this.c.picture.units.get(uid) : undefined;
      const tr = uid ? this.rows.get(uid) : undefined;
      if (u && tr) this.fill(tr, u);
    }
    if (showBoard) {
      this.c.showTab(this.key);
      const tr = this.rows.get(id);
      tr?.scrollIntoView({ block: "nearest" });
      tr?.focus();
    }
    const u = this.c.picture.units.get(id);
    this.c.toast(t("units.selected", { unit: u?.callsign ?? id }));
  }

  private async setStatus(status: UnitStatus): Promise<void> {
    const id = this.c.selection.unit;
    if (!id || !this.c.can.unitStatus) return;
    try {
      await this.c.api.post(`/units/${id}/status`, { status });
    } catch (err) {
      this.c.toast(err instanceof ApiError ? err.message : String(err), true);
    }
  }
}

export const unitsPanel: PanelFactory = (c) => new UnitsPanel(c);
