import { has, t } from "./i18n";

// Colour-blind-safe palette (Okabe & Ito, 2008). Colour is never the only cue:
// priority is also a number and a size, unit status is also a text code.

export const PRIORITY_COLOUR: Record<number, string> = {
  1: "#D55E00", // vermillion
  2: "#E69F00", // orange
  3: "#F0E442", // yellow
  4: "#56B4E9", // sky blue
  5: "#BBBBBB", // grey
};

export const PRIORITY_TEXT: Record<number, string> = {
  1: "#000000", // black on vermillion: 5.4:1 (white is 3.8:1, below WCAG AA)
  2: "#000000",
  3: "#000000",
  4: "#000000",
  5: "#000000",
};

export const STATUS_COLOUR: Record<string, string> = {
  available: "#009E73", // bluish green
  dispatched: "#E69F00", // orange
  en_route: "#0072B2", // blue
  on_scene: "#D55E00", // vermillion
  transporting: "#CC79A7", // reddish purple
  at_hospital: "#56B4E9", // sky blue
  out_of_service: "#777777", // grey
};

export const STATUS_CODE: Record<string, string> = {
  available: "AVL",
  dispatched: "DSP",
  en_route: "ENR",
  on_scene: "ONS",
  transporting: "TRN",
  at_hospital: "HOS",
  out_of_service: "OOS",
};

/** A unit status in words, in the UI's language (the catalogue's unit.* strings). */
export function statusLabel(s: string): string {
  const k = `unit.${s}`;
  return has(k) ? t(k) : s;
}

/** An incident status in words, in the UI's language. */
export function istatus(s: string): string {
  const k = `istatus.${s}`;
  return has(k) ? t(k) : s.replace("_", " ");
}

// Short type codes drawn on the map next to the priority number.
const AGENCY_CODE: Record<string, string> = { fire: "F", ems: "M", police: "P", municipal: "W" };

export function typeCode(type: string, agency: string): string {
  const words = type.split("_");
  const initials = words.map((w) => w[0]?.toUpperCase() ?? "").join("");
  return `${AGENCY_CODE[agency] ?? "?"}·${initials}`;
}
