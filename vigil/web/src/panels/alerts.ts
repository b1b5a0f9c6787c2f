// The alerts panel: the city's public warnings (CAP 1.2) — drafts awaiting a
// supervisor's approval, active alerts, other agencies' alerts and closed ones —
// with approve / reject (two-person rule: an author never decides their own
// draft, and the panel says so), kept live by alert.* events. It draws the alert
// areas on the map (/alerts/areas.geojson: the city's and other agencies').

import type { FeatureCollection } from "geojson";

import type { Centre, Panel, PanelFactory } from "../centre/context";
import { ago, clear, clock, h } from "../dom";
import { t, type Key } from "../i18n";
import type { AlertOut, FeedEvent } from "../types";

interface ExternalRow {
  identifier: string;
  sender: string;
  headline?: string;
  event_name?: string;
  severity?: string;
  urgency?: string;
  expires?: string | null;
  received_at: string;
  state: string;
}

interface InfoView {
  event?: string;
  headline?: string;
  severity?: string;
  urgency?: string;
  certainty?: string;
  language?: string;
  areas?: { desc: string }[];
}

const EVENTS = [
  "alert.drafted",
  "alert.composed",
  "alert.approved",
  "alert.published",
  "alert.rejected",
  "alert.cancelled",
  "alert.superseded",
  "alert.external",
] as const;

const CLOSED_SHOWN = 20;

const STATE_KEYS: Record<string, Key> = {
  draft: "alerts.state.draft",
  rejected: "alerts.state.rejected",
  superseded: "alerts.state.superseded",
  cancelled: "alerts.state.cancelled",
};

function stateText(state: string, active: boolean): string {
  if (state === "published") return active ? t("alerts.state.active") : t("alerts.state.expired");
  return STATE_KEYS[state] ? t(STATE_KEYS[state]) : state;
}

class AlertsPanel implements Panel {
  readonly key = "alerts";
  readonly label = t("alerts.tab");
  readonly shortcut = "L";
  readonly events = EVENTS;
  readonly element: HTMLElement;
  private alerts: AlertOut[] = [];
  private external: ExternalRow[] = [];
  private available: boolean | null = null;
  private dirty = false;
  private reload: number | undefined;
  private busy = new Set<string>();

  constructor(private readonly c: Centre) {
    this.element = h("div", { id: "alerts" }, h("p", { class: "empty" }, t("loading")));
  }

  private get canDecide(): boolean {
    return this.c.session.role === "supervisor" || this.c.session.role === "admin";
  }

  async load(): Promise<void> {
    const [alerts, external, areas] = await Promise.all([
      this.c.api.optional<AlertOut[]>("/alerts").catch(() => null),
      this.c.api.optional<ExternalRow[]>("/alerts/external").catch(() => null),
      this.c.api.optional<FeatureCollection>("/alerts/areas.geojson").catch(() => null),
    ]);
    this.available = alerts !== null;
    this.alerts = alerts ?? [];
    this.external = external ?? [];
    if (areas && areas.type === "FeatureCollection") this.c.map.update("alerts", (v) => v.setAlerts(areas));
    this.dirty = true;
    this.render();
    this.c.map.schedule(true);
  }

  onEvent(ev: FeedEvent): void {
    if (!ev.type.startsWith("alert.") || ev.type === "alert.delivery") return;
    // Alerts are few and their state is the server's (approval, expiry): re-read them,
    // once per burst of events.
    if (this.reload !== undefined) return;
    this.reload = window.setTimeout(() => {
      this.reload = undefined;
      void this.load();
    }, 150);
  }

  render(): void {
    if (!this.dirty) return;
    this.dirty = false;
    // Keep what a supervisor is typing across a redraw.
    const typed = new Map<string, string>();
    for (const el of this.element.querySelectorAll<HTMLInputElement>("input[data-reason]")) typed.set(el.dataset.reason!, el.value);
    const focused = (document.activeElement as HTMLElement | null)?.id ?? null;
    clear(this.element);
    if (this.available === false) {
      this.element.append(h("p", { class: "empty" }, t("alerts.unavailable")));
      return;
    }
    const drafts = this.alerts.filter((a) => a.state === "draft");
    const active = this.alerts.filter((a) => a.state === "published" && a.active);
    const closed = this.alerts.filter((a) => !(a.state === "draft" || (a.state === "published" && a.active))).slice(0, CLOSED_SHOWN);
    this.section("alerts-pending", t("alerts.pending", { n: drafts.length }), drafts, t("alerts.pending_none"), typed);
    this.section("alerts-active", t("alerts.active", { n: active.length }), active, t("alerts.active_none"), typed);
    const ext = h("ul", { class: "alerts", "data-testid": "alerts-external" });
    for (const x of this.external) {
      ext.append(
        h(
          "li",
          { "data-origin": "external" },
          h("span", { class: "astate s-external" }, t("alerts.external_badge")),
          " ",
          h("strong", {}, x.headline || x.event_name || x.identifier),
          h("div", { class: "muted" }, [x.sender, x.event_name, x.severity, x.urgency].filter(Boolean).join(" · ")),
          x.expires ? h("div", { class: "muted" }, t("alerts.expires", { at: clock(x.expires) })) : null,
        ),
      );
    }
    if (!this.external.length) ext.append(h("li", { class: "muted" }, t("alerts.external_none")));
    this.element.append(h("h3", {}, t("alerts.external", { n: this.external.length })), ext);
    if (closed.length) this.section("alerts-closed", t("alerts.closed"), closed, "", typed);
    if (focused) document.getElementById(focused)?.focus();
  }

  private section(id: string, title: string, list: AlertOut[], none: string, typed: Map<string, string>): void {
    const ul = h("ul", { class: "alerts", "data-testid": id });
    for (const a of list) ul.append(this.row(a, typed.get(a.id) ?? ""));
    if (!list.length && none) ul.append(h("li", { class: "muted" }, none));
    this.element.append(h("h3", {}, title), ul);
  }

  private row(a: AlertOut, typed: string): HTMLElement {
    const info = (a.infos[0] ?? {}) as InfoView;
    const areas = (info.areas ?? []).map((x) => x.desc).join(", ");
    const langs = a.infos.map((i) => (i as InfoView).language).filter(Boolean).join(", ");
    const now = this.c.clock.now();
    const li = h(
      "li",
      { "data-alert": a.id, "data-state": a.state },
      h("span", { class: `astate s-${a.state}${a.active ? " s-active" : ""}` }, stateText(a.state, a.active)),
      " ",
      h("strong", {}, info.headline || info.event || a.id),
      a.msg_type !== "Alert" ? h("span", { class: "muted" }, ` (${a.msg_type})`) : null,
      h("div", { class: "muted" }, [info.event, info.severity, info.urgency, info.certainty].filter(Boolean).join(" · ")),
      areas ? h("div", { class: "muted" }, `${t("alerts.area")}: ${areas}${langs ? ` · ${langs}` : ""}`) : null,
      h(
        "div",
        { class: "muted" },
        t("alerts.by", { who: a.authors.join(", ") }),
        " · ",
        h("span", { class: "timer", "data-from": String(Date.parse(a.composed_at)) }, ago(Date.parse(a.composed_at), now)),
        ` ${t("alerts.ago")}`,
      ),
    );
    if (a.decided_by) li.append(h("div", { class: "muted" }, t("alerts.decided", { who: a.decided_by, why: a.decision_reason ?? "" })));
    if (a.state === "published") {
      const parts: (HTMLElement | string)[] = [];
      if (a.expires) parts.push(t("alerts.expires", { at: clock(a.expires) }));
      if (a.cap_url) parts.push(" · ", h("a", { href: a.cap_url, target: "_blank", rel: "noopener" }, t("alerts.cap_link")));
      li.append(h("div", { class: "muted" }, ...parts));
    }
    if (a.state === "draft") li.append(this.decision(a, typed));
    return li;
  }

  /** Approve / reject for a draft, or why this person cannot decide it. */
  private decision(a: AlertOut, typed: string): HTMLElement {
    const box = h("div", { class: "decide" });
    if (!this.canDecide) {
      box.append(h("p", { class: "why", "data-testid": "why" }, t("alerts.only_supervisor")));
      return box;
    }
    const author = a.authors.includes(this.c.session.name);
    const whyId = `why-${a.id}`;
    const reasonId = `reason-${a.id}`;
    const reason = h("input", { id: reasonId, type: "text", autocomplete: "off", maxlength: 2000, placeholder: t("alerts.reason_hint") });
    reason.dataset.reason = a.id;
    reason.value = typed;
    // Ids keep the keyboard focus on the same button when a live event redraws the list.
    const approve = h("button", { type: "button", id: `approve-${a.id}`, class: "approve", "data-alert": a.id }, t("alerts.approve"));
    const reject = h("button", { type: "button", id: `reject-${a.id}`, class: "reject", "data-alert": a.id }, t("alerts.reject"));
    if (author) {
      // Still focusable (aria-disabled, not disabled), so a keyboard user reaches the reason.
      for (const b of [approve, reject]) {
        b.setAttribute("aria-disabled", "true");
        b.setAttribute("aria-describedby", whyId);
      }
      box.append(h("p", { class: "why", id: whyId, "data-testid": "why" }, t("alerts.own_draft")));
    }
    const decide = (verb: "approve" | "reject"): void => {
      if (author) {
        this.c.toast(t("alerts.own_draft"), true);
        return;
      }
      const why = reason.value.trim();
      if (!why) {
        this.c.toast(t("alerts.reason_needed"), true);
        reason.focus();
        return;
      }
      void this.act(a.id, verb, why);
    };
    approve.addEventListener("click", () => decide("approve"));
    reject.addEventListener("click", () => decide("reject"));
    if (this.busy.has(a.id)) {
      approve.setAttribute("aria-busy", "true");
      reject.setAttribute("aria-busy", "true");
    }
    box.append(h("label", { for: reasonId }, t("alerts.reason")), " ", reason, " ", approve, " ", reject);
    return box;
  }

  private async act(id: string, verb: "approve" | "reject", reason: string): Promise<void> {
    if (this.busy.has(id)) return;
    this.busy.add(id);
    try {
      await this.c.api.post(`/alerts/${id}/${verb}`, { reason });
      this.c.toast(verb === "approve" ? t("alerts.approved") : t("alerts.rejected"));
    } catch (err) {
      this.c.toast(err instanceof Error ? err.message : String(err), true);
    } finally {
      this.busy.delete(id);
    }
    await this.load();
  }
}

export const alertsPanel: PanelFactory = (c) => new AlertsPanel(c);
