// One catalogue of the apps' strings, English and Finnish. The language is the
// browser's first preference that the catalogue has (or ?lang=fi / ?lang=en).
// A missing Finnish string falls back to English; `t` never returns a key.

const en = {
  "app.field": "Vigil field unit",
  "login.title": "Crew sign-in",
  "login.unit": "Unit (e.g. M1)",
  "login.password": "Password",
  "login.submit": "Sign in",
  "login.not_crew": "This login is not a unit's crew.",
  "login.ended": "Your session has ended; sign in again.",
  "logout": "Sign out",
  "state.online": "Online",
  "state.offline": "OFFLINE — actions are kept and sent when the connection returns",
  "pending.title": "Waiting to send",
  "pending.none": "Everything sent.",
  "assignment.none": "No assignment. Stand by.",
  "assignment.new": "NEW ASSIGNMENT",
  "assignment.ack": "Acknowledge",
  "assignment.title": "Assignment",
  "assignment.priority": "Priority",
  "assignment.others": "Other units",
  "assignment.others_none": "No other units.",
  "assignment.notes": "Notes",
  "assignment.notes_none": "No notes yet.",
  "note.label": "Add a note",
  "note.submit": "Add note",
  "status.title": "Report status",
  "status.current": "Status",
  "status.pending": "sending…",
  "route.title": "Route",
  "route.eta": "ETA",
  "route.arrive_at": "arrive about",
  "route.none": "No route",
  "avl.on": "Sending position every {s} s",
  "avl.off": "Position not shared (allow location to send it)",
  "refused": "Not accepted",
  "maneuver.depart": "Start on",
  "maneuver.continue": "Continue on",
  "maneuver.slight_left": "Bear left onto",
  "maneuver.slight_right": "Bear right onto",
  "maneuver.left": "Turn left onto",
  "maneuver.right": "Turn right onto",
  "maneuver.sharp_left": "Sharp left onto",
  "maneuver.sharp_right": "Sharp right onto",
  "maneuver.arrive": "Arrive at the scene",
  "street.unnamed": "unnamed road",
  "unit.available": "Available",
  "unit.dispatched": "Dispatched",
  "unit.en_route": "En route",
  "unit.on_scene": "On scene",
  "unit.transporting": "Transporting",
  "unit.at_hospital": "At hospital",
  "unit.out_of_service": "Out of service",
} as const;

export type Key = keyof typeof en;

const fi: Partial<Record<Key, string>> = {
  "app.field": "Vigil kenttäyksikkö",
  "login.title": "Miehistön kirjautuminen",
  "login.unit": "Yksikkö (esim. M1)",
  "login.password": "Salasana",
  "login.submit": "Kirjaudu",
  "login.not_crew": "Tämä tunnus ei ole yksikön miehistön.",
  "login.ended": "Istunto on päättynyt; kirjaudu uudelleen.",
  "logout": "Kirjaudu ulos",
  "state.online": "Yhteys",
  "state.offline": "EI YHTEYTTÄ — toiminnot lähetetään, kun yhteys palaa",
  "pending.title": "Odottaa lähetystä",
  "pending.none": "Kaikki lähetetty.",
  "assignment.none": "Ei tehtävää. Valmiudessa.",
  "assignment.new": "UUSI TEHTÄVÄ",
  "assignment.ack": "Kuittaa",
  "assignment.title": "Tehtävä",
  "assignment.priority": "Kiireellisyys",
  "assignment.others": "Muut yksiköt",
  "assignment.others_none": "Ei muita yksiköitä.",
  "assignment.notes": "Muistiinpanot",
  "assignment.notes_none": "Ei muistiinpanoja.",
  "note.label": "Lisää muistiinpano",
  "note.submit": "Lisää",
  "status.title": "Ilmoita tila",
  "status.current": "Tila",
  "status.pending": "lähetetään…",
  "route.title": "Reitti",
  "route.eta": "Arvioitu aika",
  "route.arrive_at": "perillä noin",
  "route.none": "Ei reittiä",
  "avl.on": "Sijainti lähetetään {s} s välein",
  "avl.off": "Sijaintia ei jaeta (salli sijainti)",
  "refused": "Ei hyväksytty",
  "maneuver.depart": "Lähde kadulle",
  "maneuver.continue": "Jatka kadulla",
  "maneuver.slight_left": "Loiva vasen kadulle",
  "maneuver.slight_right": "Loiva oikea kadulle",
  "maneuver.left": "Käänny vasemmalle kadulle",
  "maneuver.right": "Käänny oikealle kadulle",
  "maneuver.sharp_left": "Jyrkkä vasen kadulle",
  "maneuver.sharp_right": "Jyrkkä oikea kadulle",
  "maneuver.arrive": "Perillä kohteessa",
  "street.unnamed": "nimetön tie",
  "unit.available": "Vapaa",
  "unit.dispatched": "Hälytetty",
  "unit.en_route": "Matkalla",
  "unit.on_scene": "Kohteessa",
  "unit.transporting": "Kuljettaa",
  "unit.at_hospital": "Sairaalassa",
  "unit.out_of_service": "Poissa käytöstä",
};

const CATALOGUES: Record<string, Partial<Record<Key, string>>> = { en, fi };

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
