// The incident panel: the selected incident's head, recommended units with drive
// times (A assigns them), calls and the live timeline; C closes it.

import type { LineString } from "geojson";

import { ApiError } from "../api";
import type { Centre, Panel, PanelFactory } from "../centre/context";
import { place, priorityBadge, statusChip } from "../centre/widgets";
import { openClose, openNote } from "../dialogs/incident";
import { ago, append, clear, clock, h, minutes } from "../dom";
import { ACTIVE, type Change } from "../model";
import { istatus, statusLabel } from "../palette";
import type { CallOut, EventOut, FeedEvent, IncidentType, Recommendation } from "../types";
import { t } from "../i18n";

export function describe(ev: FeedEvent, types: Record<string, IncidentType>): string {
  const d = ev.data;
  const s = (k: string): string => String(d[k] ?? "");
  switch (ev.type) {
    case "incident.opened":
      return `${t("tl.opened", { type: types[s("type")]?.label ?? s("type"), priority: s("priority") })}${d.address ? ` ${t("tl.at", { address: s("address") })}` : ""}`;
    case "call.received":
      return `${t("tl.call", { id: s("call_id"), nature: s("nature") })}${d.address ? ` (${s("address")})` : ""}`;
    case "incident.updated": {
      const parts = ["type", "priority", "address", "description"].filter((k) => d[k] !== null && d[k] !== undefined).map((k) => `${k} → ${s(k)}`);
      if (d.location) parts.push(t("tl.location_moved"));
      return `${t("tl.updated", { what: parts.join(", ") || t("tl.no_field") })}${d.reason ? ` — ${s("reason")}` : ""}`;
    }
    case "incident.status_changed":
      return t("tl.status", { old: istatus(s("old")), new: istatus(s("new")), reason: s("reason") });
    case "incident.closed":
      return `${t("tl.closed", { disposition: s("disposition") })}${d.notes ? ` — ${s("notes")}` : ""}`;
    case "incident.cancelled":
      return t("tl.cancelled", { reason: s("reason") });
    case "incident.reopened":
      return t("tl.reopened", { reason: s("reason") });
    case "incident.note_added":
      return d.rule ? t("tl.rule_note", { rule: s("rule"), text: s("text") }) : t("tl.note", { text: s("text") });
    case "unit.assigned":
      return `${t("tl.assigned", { unit: s("unit_id") })}${d.eta_s ? `, ETA ${minutes(Number(d.eta_s))}` : ""}${d.recommended ? ` ${t("tl.recommended")}` : ""}`;
    case "unit.released":
      return t("tl.released", { unit: s("unit_id"), reason: s("reason") });
    case "unit.status_changed":
      return `${s("unit_id")} ${statusLabel(s("old"))} → ${statusLabel(s("new"))}`;
    case "rule.fired":
      return `${t("tl.rule_fired", { rule: s("rule") || s("rule_id") })}${d.explanation ? `: ${s("explanation")}` : ""}`;
    default:
      return ev.type;
  }
}

class IncidentPanel implements Panel {
  readonly key = "incident";
  readonly label = t("incident.tab");
  readonly shortcut = "I";
  readonly element: HTMLElement;
  readonly keys;
  recommendation: Recommendation | null = null;
  private timelineFor: string | null = null;
  private headDirty = false;

  constructor(
    private readonly c: Centre,
    private readonly now: () => number,
  ) {
    this.element = h("div", { id: "detail", "data-testid": "detail" }, h("p", { class: "empty" }, t("incident.select")));
    this.keys = [
      { keys: ["a", "A"], label: "A", help: t("incident.key_assign"), run: () => void this.assignRecommended() },
      { keys: ["c", "C"], label: "C", help: t("incident.key_close"), run: () => this.close() },
    ];
  }

  note(ch: Change): void {
    const sel = this.c.selection.incident;
    if (ch.kind === "incident" && ch.id === sel) this.headDirty = true;
    if (ch.kind === "timeline" && ch.incidentId === this.timelineFor) this.appendTimeline(ch.event);
  }

  render(): void {
    if (this.headDirty) this.renderHead();
    this.headDirty = false;
  }

  async onSelect(id: string): Promise<void> {
    this.recommendation = null;
    this.c.map.setPreview(null);
    const inc = this.c.picture.incidents.get(id) ?? (await this.c.api.get(`/incidents/${id}`));
    if (!this.c.picture.incidents.has(id)) this.c.picture.incidents.set(id, inc as never);
    if (this.c.selection.incident !== id) return;
    const loc = this.c.picture.incidents.get(id)?.location;
    if (loc) this.c.map.focus(loc);
    clear(this.element);
    this.timelineFor = id;
    append(
      this.element,
      h("div", { id: "detail-head" }),
      h("section", { id: "recs", "aria-label": t("incident.recommended") }),
      h("section", { id: "calls", "aria-label": t("incident.calls") }, h("h3", {}, t("incident.calls"))),
      h("section", { "aria-label": t("incident.timeline") }, h("h3", {}, t("incident.timeline")), h("ol", { id: "timeline", class: "timeline" })),
    );
    this.renderHead();
    void this.loadTimeline(id);
    void this.loadCalls(id);
    if (this.c.can.dispatch) void this.loadRecommendation(id);
  }

  private renderHead(): void {
    const head = this.element.querySelector<HTMLElement>("#detail-head");
    const sel = this.c.selection.incident;
    const inc = sel ? this.c.picture.incidents.get(sel) : undefined;
    if (!head || !inc) return;
    clear(head);
    const label = this.c.catalogue().incident_types[inc.type]?.label ?? inc.type;
    const active = ACTIVE.has(inc.status);
    const opened = Date.parse(inc.opened_at);
    append(
      head,
      h("h2", { tabindex: -1, id: "detail-title" }, priorityBadge(inc.priority), " ", inc.number ? h("span", { class: "num", "data-testid": "incident-number" }, inc.number) : null, " ", label, " ", h("span", { class: "muted small" }, inc.id)),
      h(
        "p",
        {},
        h("span", { class: `istatus is-${inc.status}`, "data-testid": "incident-status" }, istatus(inc.status)),
        ` · ${t("incident.received")} `,
        h("span", { class: "timer", "data-from": String(opened) }, ago(opened, this.now())),
        ` ${t("incident.ago")}`,
        inc.caused_by_rule ? h("span", { class: "rule" }, ` · ${t("incident.by_rule", { rule: inc.caused_by_rule })}`) : null,
      ),
      h("p", { class: "addr" }, place(inc)),
      inc.description ? h("p", {}, inc.description) : null,
    );
    const units = h("ul", { class: "assigned", "aria-label": t("incident.assigned_units") });
    for (const uid of inc.unit_ids) {
      const u = this.c.picture.units.get(uid);
      units.append(
        h(
          "li",
          { "data-unit": uid },
          h("button", { type: "button", class: "link", onclick: () => this.c.selectUnit(uid, false) }, u?.callsign ?? uid),
          " ",
          statusChip(u?.status ?? "dispatched"),
        ),
      );
    }
    if (inc.unit_ids.length) append(head, h("h3", {}, t("incident.assigned")), units);
    if (active && this.c.can.dispatch) {
      append(
        head,
        h(
          "div",
          { class: "actions" },
          h("button", { type: "button", id: "assign-recommended", class: "primary", onclick: () => void this.assignRecommended() }, `${t("incident.assign_recommended")} `, h("kbd", {}, "A")),
          h("button", { type: "button", id: "close-incident", onclick: () => this.close() }, `${t("incident.close")} `, h("kbd", {}, "C")),
          h("button", { type: "button", onclick: () => openNote(this.c, inc.id) }, t("incident.note")),
        ),
      );
    }
    if (!active) append(head, h("p", { class: "closed", "data-testid": "closed-note" }, `${istatus(inc.status)}: ${inc.disposition ?? ""}`));
  }

  private async loadTimeline(id: string): Promise<void> {
    const events = await this.c.api.get<EventOut[]>(`/incidents/${id}/timeline`);
    if (this.timelineFor !== id) return;
    const ol = this.element.querySelector("#timeline");
    if (!ol) return;
    clear(ol);
    for (const ev of events) this.appendTimeline(ev as FeedEvent);
  }

  private appendTimeline(ev: FeedEvent): void {
    const ol = this.element.querySelector<HTMLOListElement>("#timeline");
    if (!ol || ol.querySelector(`[data-seq="${ev.seq}"]`)) return;
    const li = h(
      "li",
      { "data-seq": String(ev.seq), "data-type": ev.type },
      h("time", { datetime: ev.at }, clock(ev.at)),
      h("span", { class: "actor" }, ev.actor),
      h("span", { class: "what" }, describe(ev, this.c.catalogue().incident_types)),
    );
    const evidence = ev.data.evidence;
    if (Array.isArray(evidence) && evidence.length) li.append(h("span", { class: "evidence" }, t("tl.evidence", { list: evidence.join(", ") })));
    if (ev.cause) li.append(h("span", { class: "cause" }, t("tl.cause", { cause: ev.cause })));
    ol.append(li);
  }

  private async loadCalls(id: string): Promise<void> {
    const inc = this.c.picture.incidents.get(id);
    const box = this.element.querySelector("#calls");
    if (!inc || !box) return;
    const calls = await Promise.all(inc.call_ids.map((cid) => this.c.api.get<CallOut>(`/calls/${cid}`).catch(() => null)));
    if (this.c.selection.incident !== id) return;
    const ul = h("ul", { class: "calls" });
    for (const call of calls) {
      if (call) ul.append(h("li", {}, h("time", { datetime: call.received_at }, clock(call.received_at)), ` ${call.nature}`, call.address ? ` — ${call.address}` : "", h("span", { class: "muted" }, ` ${t("incident.taken_by", { who: call.call_taker })}`)));
    }
    if (!inc.call_ids.length) ul.append(h("li", { class: "muted" }, t("incident.no_call")));
    box.append(ul);
  }

  private async loadRecommendation(id: string): Promise<void> {
    const box = this.element.querySelector<HTMLElement>("#recs");
    if (!box) return;
    clear(box);
    append(box, h("h3", {}, t("incident.recommended")), h("p", { class: "muted" }, t("incident.computing")));
    let rec: Recommendation;
    try {
      rec = await this.c.api.get<Recommendation>(`/incidents/${id}/recommendations`);
    } catch (err) {
      if (this.c.selection.incident !== id) return;
      clear(box);
      append(box, h("h3", {}, t("incident.recommended")), h("p", { class: "muted" }, err instanceof ApiError ? err.message : String(err)));
      return;
    }
    if (this.c.selection.incident !== id) return;
    this.recommendation = rec;
    clear(box);
    const list = h("ol", { class: "recs", "data-testid": "recommendations" });
    for (const choice of rec.chosen) {
      const preview = (): void => this.c.map.setPreview(choice.route ? { unitId: choice.unit_id, geometry: choice.route as unknown as LineString } : null);
      const li = h(
        "li",
        { tabindex: 0, "data-unit": choice.unit_id, onmouseenter: preview, onfocus: preview },
        h("strong", {}, choice.callsign),
        h("span", { class: "muted" }, ` ${choice.type} · ${t("incident.covers", { what: choice.covers })}`),
        h("span", { class: "eta", "data-testid": "eta" }, `ETA ${minutes(choice.eta_s)}`),
        h("span", { class: "muted" }, ` · ${(choice.metres / 1000).toFixed(1)} km`),
        h("div", { class: "why" }, choice.why),
      );
      list.append(li);
    }
    append(box, h("h3", {}, `${t("incident.recommended")} `, rec.covered ? h("span", { class: "ok" }, t("incident.covered")) : h("span", { class: "warn" }, t("incident.not_covered"))), list);
    for (const s of rec.shortfalls) box.append(h("p", { class: "warn" }, `${s.capability}: ${s.covered}/${s.needed} — ${s.why}`));
    box.append(h("p", { class: "muted small" }, t("incident.considered", { n: rec.considered, ms: rec.compute_ms.toFixed(0), method: rec.method })));
    const first = rec.chosen[0];
    if (first?.route) this.c.map.setPreview({ unitId: first.unit_id, geometry: first.route as unknown as LineString });
  }

  async assignRecommended(): Promise<void> {
    const id = this.c.selection.incident;
    if (!id || !this.c.can.dispatch) return;
    try {
      await this.c.api.post(`/incidents/${id}/assignments`, { accept_recommendation: true });
      this.c.map.setPreview(null);
      this.c.toast(t("incident.assigned_toast"));
      void this.loadRecommendation(id);
    } catch (err) {
      this.c.toast(err instanceof ApiError ? err.message : String(err), true);
    }
  }

  private close(): void {
    const id = this.c.selection.incident;
    if (id && this.c.can.dispatch) openClose(this.c, id);
  }
}

export const incidentPanel: PanelFactory = (c) => new IncidentPanel(c, () => c.clock.now());
