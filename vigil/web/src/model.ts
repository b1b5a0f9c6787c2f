// The live picture of incidents and units, kept current by applying feed events.
// Applying is idempotent and ordered by each record's time, so events that the
// snapshot already reflects change nothing. Panels that keep other records
// (devices, alerts, ...) hold them themselves and see every event too.

import type { FeedEvent, Incident, IncidentStatus, LatLon, Unit, UnitStatus } from "./types";

export type { FeedEvent, Incident, IncidentStatus, LatLon, Unit, UnitStatus } from "./types";

export const ACTIVE: ReadonlySet<IncidentStatus> = new Set(["pending", "dispatched", "on_scene"]);

export const UNIT_STATUSES: UnitStatus[] = [
  "available",
  "dispatched",
  "en_route",
  "on_scene",
  "transporting",
  "at_hospital",
  "out_of_service",
];

/** Microseconds since the epoch from an ISO time (Date.parse keeps only milliseconds). */
export function micros(iso: string): number {
  const m = /\.(\d+)/.exec(iso);
  const frac = m ? Number((m[1] + "000000").slice(0, 6)) : 0;
  const whole = Date.parse(iso.replace(/\.\d+/, ""));
  return whole * 1000 + frac;
}

export type Change =
  | { kind: "incident"; id: string; order: boolean; map: boolean }
  | { kind: "unit"; id: string; moved: boolean; status: boolean }
  | { kind: "timeline"; incidentId: string; event: FeedEvent };

export class Picture {
  incidents = new Map<string, Incident>();
  units = new Map<string, Unit>();
  lastSeq = 0;

  loadIncidents(list: Incident[]): void {
    for (const i of list) this.incidents.set(i.id, i);
  }

  loadUnits(list: Unit[]): void {
    for (const u of list) this.units.set(u.id, u);
  }

  /** Apply one feed event; return what changed (for rendering). */
  apply(ev: FeedEvent): Change[] {
    if (ev.seq <= this.lastSeq) return [];
    this.lastSeq = ev.seq;
    const d = ev.data;
    const changes: Change[] = [];
    const [domain] = ev.type.split(".", 1);
    if (domain === "incident" || ev.type === "call.received") {
      const id = String(d.incident_id);
      const order = this.applyIncident(ev, id);
      // Calls, notes and descriptions change the queue and detail, not what the map draws.
      const map = ev.type !== "call.received" && ev.type !== "incident.note_added" && !(ev.type === "incident.updated" && d.location == null && d.priority == null && d.type == null);
      if (order !== null) changes.push({ kind: "incident", id, order, map });
      changes.push({ kind: "timeline", incidentId: id, event: ev });
    } else if (domain === "unit") {
      const id = String(d.unit_id);
      const c = this.applyUnit(ev, id);
      if (c) changes.push(...c);
      if (typeof d.incident_id === "string") changes.push({ kind: "timeline", incidentId: d.incident_id, event: ev });
    } else if (domain === "rule") {
      const id = typeof d.incident_id === "string" ? d.incident_id : null;
      if (id) changes.push({ kind: "timeline", incidentId: id, event: ev });
    }
    return changes;
  }

  /** Returns null when nothing changed, else whether the queue order may have changed. */
  private applyIncident(ev: FeedEvent, id: string): boolean | null {
    const d = ev.data;
    const at = ev.at;
    const cur = this.incidents.get(id);
    if (ev.type === "incident.opened") {
      if (cur) return null; // already in the snapshot
      this.incidents.set(id, {
        id,
        type: String(d.type),
        priority: Number(d.priority),
        status: "pending",
        agency: d.agency as Incident["agency"],
        location: (d.location as LatLon | null) ?? null,
        address: (d.address as string | null) ?? null,
        description: String(d.description ?? ""),
        opened_at: at,
        updated_at: at,
        closed_at: null,
        disposition: null,
        call_ids: [],
        unit_ids: [],
        units_ever: [],
        caused_by_rule: (d.rule as string | null) ?? null,
        number: (d.number as string | null) ?? null,
      });
      return true;
    }
    if (!cur || micros(at) < micros(cur.updated_at)) return null; // unknown, or already reflected
    const next: Incident = { ...cur, updated_at: at };
    let order = false;
    switch (ev.type) {
      case "call.received":
        if (!next.call_ids.includes(String(d.call_id))) next.call_ids = [...next.call_ids, String(d.call_id)];
        break;
      case "incident.updated":
        for (const k of ["type", "agency", "location", "address", "description"] as const) {
          if (d[k] !== null && d[k] !== undefined) (next as unknown as Record<string, unknown>)[k] = d[k];
        }
        if (d.priority !== null && d.priority !== undefined) {
          order = next.priority !== Number(d.priority);
          next.priority = Number(d.priority);
        }
        break;
      case "incident.status_changed":
        next.status = d.new as IncidentStatus;
        order = true;
        break;
      case "incident.closed":
        next.status = "closed";
        next.closed_at = at;
        next.disposition = String(d.disposition);
        order = true;
        break;
      case "incident.cancelled":
        next.status = "cancelled";
        next.closed_at = at;
        next.disposition = String(d.reason);
        order = true;
        break;
      case "incident.reopened":
        next.status = "pending";
        next.closed_at = null;
        next.disposition = null;
        order = true;
        break;
      default:
        break; // notes and unknown kinds only touch the timeline
    }
    this.incidents.set(id, next);
    return order;
  }

  private applyUnit(ev: FeedEvent, id: string): Change[] | null {
    const d = ev.data;
    const at = ev.at;
    const cur = this.units.get(id);
    if (ev.type === "unit.registered") {
      if (cur) return null;
      this.units.set(id, {
        id,
        callsign: String(d.callsign),
        agency: d.agency as Unit["agency"],
        type: String(d.type),
        capabilities: (d.capabilities as string[]) ?? [],
        station: (d.station as string | null) ?? null,
        status: "available",
        incident_id: null,
        location: (d.location as LatLon | null) ?? null,
        location_at: d.location ? at : null,
        updated_at: at,
      });
      return [{ kind: "unit", id, moved: true, status: true }];
    }
    if (!cur || micros(at) < micros(cur.updated_at)) return null;
    const next: Unit = { ...cur, updated_at: at };
    const out: Change[] = [];
    let moved = false;
    let status = false;
    const touchIncident = (incId: string, f: (i: Incident) => Incident): void => {
      const inc = this.incidents.get(incId);
      if (!inc || micros(at) < micros(inc.updated_at)) return;
      this.incidents.set(incId, { ...f(inc), updated_at: at });
      out.push({ kind: "incident", id: incId, order: false, map: false });
    };
    switch (ev.type) {
      case "unit.assigned": {
        const incId = String(d.incident_id);
        next.status = "dispatched";
        next.incident_id = incId;
        status = true;
        touchIncident(incId, (i) => ({
          ...i,
          unit_ids: i.unit_ids.includes(id) ? i.unit_ids : [...i.unit_ids, id],
          units_ever: i.units_ever.includes(id) ? i.units_ever : [...i.units_ever, id],
        }));
        break;
      }
      case "unit.released": {
        const incId = String(d.incident_id);
        next.status = "available";
        next.incident_id = null;
        status = true;
        touchIncident(incId, (i) => ({ ...i, unit_ids: i.unit_ids.filter((u) => u !== id) }));
        break;
      }
      case "unit.status_changed":
        next.status = d.new as UnitStatus;
        status = true;
        break;
      case "unit.position":
        next.location = d.location as LatLon;
        next.location_at = String(d.fix_at);
        moved = true;
        break;
      default:
        break;
    }
    this.units.set(id, next);
    out.push({ kind: "unit", id, moved, status });
    return out;
  }

  /** Active incidents, most urgent first, then oldest first. */
  queue(): Incident[] {
    return [...this.incidents.values()].filter((i) => ACTIVE.has(i.status)).sort(byUrgency);
  }
}

export function byUrgency(a: Incident, b: Incident): number {
  return a.priority - b.priority || Date.parse(a.opened_at) - Date.parse(b.opened_at) || a.id.localeCompare(b.id);
}
