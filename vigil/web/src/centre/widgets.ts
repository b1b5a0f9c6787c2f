// Small pieces more than one panel draws: priority badges and status chips.
// Colour is never the only cue: priority is also a number, status a text code.

import { h } from "../dom";
import { PRIORITY_COLOUR, PRIORITY_TEXT, STATUS_CODE, STATUS_COLOUR, statusLabel } from "../palette";
import { t } from "../i18n";

export function priorityBadge(p: number): HTMLElement {
  return h(
    "span",
    {
      class: `prio prio-${p}`,
      style: `background:${PRIORITY_COLOUR[p] ?? "#999"};color:${PRIORITY_TEXT[p] ?? "#000"}`,
      title: t("priority.title", { p }),
    },
    `P${p}`,
  );
}

export function statusChip(s: string): HTMLElement {
  return h(
    "span",
    { class: `chip status-${s}`, style: `--c:${STATUS_COLOUR[s] ?? "#777"}`, title: statusLabel(s) },
    STATUS_CODE[s] ?? s,
  );
}

/** Where an incident is, in words: its address, else the nearest one, else coordinates. */
export function place(inc: { address: string | null; nearest?: { label: string; distance_m: number } | null; location: { lat: number; lon: number } | null }): string {
  if (inc.address) return inc.address;
  if (inc.nearest) return inc.nearest.distance_m <= 60 ? inc.nearest.label : t("place.near", { label: inc.nearest.label, m: Math.round(inc.nearest.distance_m) });
  return inc.location ? `${inc.location.lat.toFixed(4)}, ${inc.location.lon.toFixed(4)}` : t("place.none");
}
