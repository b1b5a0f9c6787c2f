// The incident queue (left column): most urgent first, J/K to move, live.

import { append, ago, clear, h } from "../dom";
import { ACTIVE, type Change } from "../model";
import { istatus } from "../palette";
import type { Incident } from "../types";
import type { Centre } from "./context";
import { place, priorityBadge } from "./widgets";
import { t } from "../i18n";

// One formatter for every row: `Date.toLocaleTimeString` with options builds a new
// ICU formatter per call, which for 1,000 rows was the queue's single largest cost
// at first render (0.4-1.3 s of main thread in the profile). Same text as dom.clock().
const RECEIVED = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });

export class Queue {
  readonly element: HTMLElement;
  readonly list: HTMLOListElement;
  private readonly count: HTMLElement;
  readonly find: HTMLInputElement;
  private rows = new Map<string, HTMLLIElement>();
  private dirty = new Set<string>();
  private orderDirty = true;
  mapDirty = true;
  private readonly onScreen = new Set<HTMLLIElement>();
  private readonly seen: IntersectionObserver;

  constructor(
    private readonly c: Centre,
    private readonly now: () => number,
  ) {
    this.count = h("span", { class: "count", "data-testid": "queue-count" }, "0");
    this.list = h("ol", { id: "queue-list", role: "listbox", "aria-label": t("queue.label"), tabindex: 0 });
    this.list.addEventListener("click", (e) => {
      const li = (e.target as HTMLElement).closest<HTMLLIElement>("li[data-id]");
      if (li) void c.select(li.dataset.id!);
    });
    this.seen = new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          const row = e.target as HTMLLIElement;
          if (!e.isIntersecting) {
            this.onScreen.delete(row);
            continue;
          }
          this.onScreen.add(row);
          const timer = row.querySelector<HTMLElement>(".timer[data-from]");
          if (timer) timer.textContent = ago(Number(timer.dataset.from), this.now());
        }
      },
      { root: this.list, rootMargin: "200px 0px" },
    );
    this.find = h("input", { id: "queue-find", type: "search", placeholder: t("queue.find_placeholder"), autocomplete: "off", "aria-describedby": "queue-find-hint" });
    this.find.addEventListener("input", () => this.filter());
    this.element = h(
      "section",
      { id: "queue", "aria-label": t("queue.label") },
      h("h2", {}, `${t("queue.title")} `, this.count, h("span", { class: "hint" }, t("queue.move"))),
      h("div", { class: "find" }, h("label", { for: "queue-find" }, `${t("queue.find")} `, h("kbd", {}, "F")), this.find, h("span", { id: "queue-find-hint", class: "hint" }, t("queue.find_hint"))),
      this.list,
    );
  }

  note(ch: Change): void {
    if (ch.kind !== "incident") return;
    this.dirty.add(ch.id);
    if (ch.order) this.orderDirty = true;
    if (ch.map || ch.order) this.mapDirty = true;
  }

  /** Redraw dirty rows (all of them, in order, when the order may have changed). */
  render(): void {
    const now = this.now();
    const list = this.list;
    if (this.orderDirty) {
      const ordered = this.c.picture.queue();
      const keep = new Set(ordered.map((i) => i.id));
      for (const [id, row] of this.rows) {
        if (!keep.has(id)) {
          row.remove();
          this.rows.delete(id);
          this.seen.unobserve(row);
          this.onScreen.delete(row);
        }
      }
      let prev: Element | null = null;
      for (const inc of ordered) {
        let row = this.rows.get(inc.id);
        if (!row) {
          row = this.makeRow(inc, now);
          this.rows.set(inc.id, row);
        } else if (this.dirty.has(inc.id)) {
          this.fillRow(row, inc, now);
        }
        const want: Element | null = prev ? prev.nextElementSibling : list.firstElementChild;
        if (want !== row) list.insertBefore(row, want);
        prev = row;
      }
      this.orderDirty = false;
    } else {
      for (const id of this.dirty) {
        const inc = this.c.picture.incidents.get(id);
        const row = this.rows.get(id);
        if (inc && row && ACTIVE.has(inc.status)) this.fillRow(row, inc, now);
      }
    }
    this.dirty.clear();
    this.count.textContent = String(this.rows.size);
    this.markSelected();
    if (this.find.value.trim()) this.filter();
  }

  /** Hide the rows that do not answer the search box (the same rules as GET /incidents?q=). */
  private filter(): void {
    const q = this.find.value.trim().toLowerCase();
    for (const [id, row] of this.rows) {
      const inc = this.c.picture.incidents.get(id);
      row.hidden = !!q && !(inc && matches(inc, q));
    }
  }

  private makeRow(inc: Incident, now: number): HTMLLIElement {
    const row = h("li", { role: "option", id: `q-${inc.id}`, tabindex: -1 });
    row.dataset.id = inc.id;
    this.seen.observe(row);
    this.fillRow(row, inc, now);
    return row;
  }

  private fillRow(row: HTMLLIElement, inc: Incident, now: number): void {
    clear(row);
    row.className = `qrow p${inc.priority} s-${inc.status}`;
    row.dataset.status = inc.status;
    row.dataset.priority = String(inc.priority);
    const label = this.c.catalogue().incident_types[inc.type]?.label ?? inc.type;
    const number = h("span", { class: "num", title: inc.id }, inc.number ?? inc.id.slice(-6));
    const opened = Date.parse(inc.opened_at);
    const timer = h("span", { class: "timer", title: t("queue.received", { at: RECEIVED.format(opened) }) }, ago(opened, now));
    timer.dataset.from = String(opened);
    append(
      row,
      priorityBadge(inc.priority),
      h("span", { class: "what" }, number, " ", h("strong", {}, label), h("span", { class: "addr" }, place(inc))),
      h("span", { class: "desc" }, inc.description),
      h("span", { class: `istatus is-${inc.status}` }, inc.status === "pending" ? t("queue.unassigned") : istatus(inc.status)),
      h("span", { class: "units" }, inc.unit_ids.length ? inc.unit_ids.join(" ") : "—"),
      timer,
    );
  }

  /** The timers of the rows on screen (or about to be). */
  *visibleTimers(): Iterable<HTMLElement> {
    for (const row of this.onScreen) {
      const el = row.querySelector<HTMLElement>(".timer[data-from]");
      if (el) yield el;
    }
  }

  markSelected(): void {
    for (const el of this.list.querySelectorAll("[aria-selected=true]")) el.setAttribute("aria-selected", "false");
    const id = this.c.selection.incident;
    const row = id ? this.rows.get(id) : undefined;
    row?.setAttribute("aria-selected", "true");
    if (row) this.list.setAttribute("aria-activedescendant", row.id);
  }

  move(step: number): void {
    const order = ([...this.list.children] as HTMLLIElement[]).filter((r) => !r.hidden);
    if (!order.length) return;
    const sel = this.c.selection.incident;
    const at = sel ? order.findIndex((r) => r.dataset.id === sel) : -1;
    const next = order[Math.min(order.length - 1, Math.max(0, at + step))];
    void this.c.select(next.dataset.id!);
    next.scrollIntoView({ block: "nearest" });
  }
}

/** Whether an incident answers a search text (mirrors the API's `q`). */
export function matches(inc: Incident, query: string): boolean {
  const text = query.trim().toLowerCase();
  const number = inc.number ?? "";
  if (text === number || text === inc.id.toLowerCase()) return true;
  const words = [inc.type.replaceAll("_", " "), inc.address ?? "", inc.description].join(" ").toLowerCase();
  if (/^\d+$/.test(text)) return number.endsWith("-" + text.padStart(6, "0")) || words.split(/\s+/).includes(text);
  return text.split(/\s+/).every((w) => `${number} ${words}`.includes(w));
}
