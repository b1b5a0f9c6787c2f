// The new-call dialog: address search (or a map click), nature, type, priority,
// caller's personal data kept apart. Ctrl+Enter creates the call.

import { ApiError } from "../api";
import type { Centre } from "../centre/context";
import { clear, h } from "../dom";
import type { CallCreated, GeocodeOut, LatLon, ReverseOut } from "../types";
import { t } from "../i18n";

export function openNewCall(c: Centre, focusAddress = true): void {
  if (!c.can.takeCall) return;
  let location: LatLon | null = null;
  const address = h("input", { id: "call-address", name: "address", autocomplete: "off", placeholder: t("call.address_placeholder"), "aria-describedby": "call-address-hint", role: "combobox", "aria-expanded": "false", "aria-controls": "call-matches" });
  const matches = h("ul", { id: "call-matches", role: "listbox", class: "matches", "aria-label": t("call.matches") });
  const where = h("p", { id: "call-where", class: "muted" }, t("call.no_location"));
  const setLocation = (at: LatLon, label: string): void => {
    location = at;
    where.textContent = t("call.location", { label, lat: at.lat.toFixed(5), lon: at.lon.toFixed(5) });
    where.className = "ok";
    c.map.setPick(at);
    c.map.focus(at);
  };
  let timer: number | undefined;
  const search = async (): Promise<void> => {
    const q = address.value.trim();
    clear(matches);
    if (q.length < 2) return;
    try {
      const found = await c.api.get<GeocodeOut[]>(`/geo/geocode?q=${encodeURIComponent(q)}&limit=6`);
      clear(matches);
      found.forEach((m, i) => {
        const li = h("li", { role: "option", id: `match-${i}`, tabindex: -1, "data-label": m.label }, m.label, h("span", { class: "muted" }, ` ${m.kind} · ${(m.confidence * 100).toFixed(0)}%`));
        li.addEventListener("click", () => pick(m));
        li.addEventListener("keydown", (e) => {
          if (e.key === "Enter") {
            e.preventDefault();
            pick(m);
          }
        });
        matches.append(li);
      });
      if (!found.length) matches.append(h("li", { class: "muted" }, t("call.no_match")));
      address.setAttribute("aria-expanded", String(found.length > 0));
    } catch (err) {
      matches.append(h("li", { class: "warn" }, err instanceof ApiError ? err.message : String(err)));
    }
  };
  const pick = (m: GeocodeOut): void => {
    address.value = m.label;
    clear(matches);
    address.setAttribute("aria-expanded", "false");
    setLocation(m.location, m.label);
    nature.focus();
  };
  address.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => void search(), 200);
  });
  address.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") {
      e.preventDefault();
      matches.querySelector<HTMLElement>("li[role=option]")?.focus();
    } else if (e.key === "Enter") {
      e.preventDefault();
      const first = matches.querySelector<HTMLElement>("li[role=option]");
      if (first) first.click();
      else void search();
    }
  });
  matches.addEventListener("keydown", (e) => {
    const cur = document.activeElement as HTMLElement;
    if (e.key === "ArrowDown") (cur.nextElementSibling as HTMLElement | null)?.focus();
    if (e.key === "ArrowUp") ((cur.previousElementSibling as HTMLElement | null) ?? address).focus();
  });
  c.pick((at) => {
    setLocation(at, t("call.map_click"));
    c.api
      .get<ReverseOut>(`/geo/reverse?lat=${at.lat}&lon=${at.lon}`)
      .then((r) => {
        address.value = r.label;
        setLocation(at, r.label);
      })
      .catch(() => undefined);
  });
  const nature = h("input", { id: "call-nature", name: "nature", required: true, maxlength: 200, placeholder: t("call.nature_placeholder") });
  const type = h("select", { id: "call-type", name: "incident_type" });
  for (const [key, it] of Object.entries(c.catalogue().incident_types).sort((a, b) => a[1].label.localeCompare(b[1].label))) {
    type.append(h("option", { value: key }, `${it.label} (P${it.priority})`));
  }
  const priority = h("select", { id: "call-priority", name: "priority" }, h("option", { value: "" }, t("call.default_priority")));
  for (const p of [1, 2, 3, 4, 5]) priority.append(h("option", { value: String(p) }, `P${p}`));
  const notes = h("textarea", { id: "call-notes", name: "notes", rows: 2 });
  const callerName = h("input", { id: "call-caller-name", name: "caller_name", autocomplete: "off" });
  const callerPhone = h("input", { id: "call-caller-phone", name: "caller_phone", autocomplete: "off", inputmode: "tel" });
  const error = h("p", { class: "warn", role: "alert" });
  const form = h(
    "form",
    { class: "call-form", id: "call-form" },
    h("label", { for: "call-address" }, `${t("call.address")} `, h("kbd", {}, "/")),
    address,
    h("p", { id: "call-address-hint", class: "hint" }, t("call.address_hint")),
    matches,
    where,
    h("label", { for: "call-nature" }, t("call.nature")),
    nature,
    h("div", { class: "row" }, h("label", {}, `${t("call.type")} `, type), h("label", {}, `${t("call.priority")} `, priority)),
    h("label", { for: "call-notes" }, t("call.notes")),
    notes,
    h("fieldset", { class: "pd" }, h("legend", {}, t("call.caller")), h("label", {}, `${t("call.name")} `, callerName), h("label", {}, `${t("call.phone")} `, callerPhone)),
    error,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "call-submit" }, `${t("call.create")} `, h("kbd", {}, "Ctrl+Enter"))),
  );
  form.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void (async () => {
      error.textContent = "";
      if (!location) {
        error.textContent = t("call.need_location");
        address.focus();
        return;
      }
      if (!nature.value.trim()) {
        error.textContent = t("call.need_nature");
        nature.focus();
        return;
      }
      try {
        const out = await c.api.post<CallCreated>("/calls", {
          location,
          address: address.value.trim() || null,
          nature: nature.value.trim(),
          notes: notes.value,
          incident_type: type.value,
          priority: priority.value ? Number(priority.value) : null,
          caller_name: callerName.value.trim() || null,
          caller_phone: callerPhone.value.trim() || null,
        });
        c.closeModal();
        c.toast(t(out.opened_incident ? "call.opened" : "call.attached", { id: out.incident.number ?? out.incident.id }));
        if (!c.picture.incidents.has(out.incident.id)) {
          c.picture.incidents.set(out.incident.id, out.incident);
          c.changed({ kind: "incident", id: out.incident.id, order: true, map: true });
        }
        void c.select(out.incident.id);
      } catch (err) {
        error.textContent = err instanceof ApiError ? `${err.field ? err.field + ": " : ""}${err.message}` : String(err);
      }
    })();
  });
  c.openModal(t("call.title"), form, focusAddress ? address : nature);
}
