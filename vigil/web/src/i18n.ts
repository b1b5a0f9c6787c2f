// One catalogue of the apps' strings (the command centre and the field unit app),
// English and Finnish, in i18n/<lang>.json. The language is the browser's first
// preference that the catalogue has (or ?lang=fi / ?lang=en). Every key exists in
// every language (tests/unit/web/test_i18n.py); `t` never returns a key.

import en from "./i18n/en.json";
import fi from "./i18n/fi.json";

export type Key = keyof typeof en;

// A language file must have every English key: tsc refuses a missing one here.
const CATALOGUES: Record<string, Record<Key, string>> = { en, fi };

function pickLanguage(): string {
  const asked = new URLSearchParams(window.location.search).get("lang");
  if (asked && asked in CATALOGUES) return asked;
  for (const l of navigator.languages ?? [navigator.language]) {
    const base = l.toLowerCase().split("-")[0];
    if (base in CATALOGUES) return base;
  }
  return "en";
}

export const lang = pickLanguage();

/** The string for a key in the chosen language, with {name} placeholders filled. */
export function t(key: Key, vars: Record<string, string | number> = {}): string {
  const s = CATALOGUES[lang][key] ?? en[key];
  return s.replace(/\{(\w+)\}/g, (_, k: string) => String(vars[k] ?? ""));
}

/** Whether the catalogue has a key (for strings built from API values, e.g. statuses). */
export function has(key: string): key is Key {
  return key in en;
}
