// Small pieces more than one panel draws: priority badges and status chips.
// Colour is never the only cue: priority is also a number, status a text code.

import { h } from "../dom";
import { PRIORITY_COLOUR, PRIORITY_TEXT, STATUS_CODE, STATUS_COLOUR, STATUS_LABEL } from "../palette";

export function priorityBadge(p: number): HTMLElement {
  return h(
    "span",
    {
      class: `prio prio-${p}`,
      style: `background:${PRIORITY_COLOUR[p] ?? "#999"};color:${PRIORITY_TEXT[p] ?? "#000"}`,
      title: `Priority ${p}`,
    },
    `P${p}`,
  );
}

export function statusChip(s: string): HTMLElement {
  return h(
    "span",
    { class: `chip status-${s}`, style: `--c:${STATUS_COLOUR[s] ?? "#777"}`, title: STATUS_LABEL[s] ?? s },
    STATUS_CODE[s] ?? s,
  );
}
