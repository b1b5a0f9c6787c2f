// Dialogs on the selected incident: close it, add a note.

import { ApiError } from "../api";
import type { Centre } from "../centre/context";
import { h } from "../dom";
import { t } from "../i18n";

export function openClose(c: Centre, id: string): void {
  const disposition = h("input", { id: "close-disposition", list: "dispositions", required: true, placeholder: t("close.placeholder") });
  const list = h("datalist", { id: "dispositions" });
  for (const d of ["resolved", "false alarm", "transported", "no action needed", "referred"]) list.append(h("option", { value: d }));
  const notes = h("textarea", { id: "close-notes", rows: 2 });
  const error = h("p", { class: "warn", role: "alert" });
  const form = h(
    "form",
    { id: "close-form" },
    h("label", { for: "close-disposition" }, t("close.disposition")),
    disposition,
    list,
    h("label", { for: "close-notes" }, t("close.notes")),
    notes,
    error,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "close-submit" }, t("close.submit"))),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void (async () => {
      try {
        await c.api.post(`/incidents/${id}/close`, { disposition: disposition.value.trim(), notes: notes.value });
        c.closeModal();
        c.toast(t("close.done", { id }));
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.message : String(err);
      }
    })();
  });
  c.openModal(t("close.title", { id }), form, disposition);
}

export function openNote(c: Centre, id: string): void {
  const text = h("textarea", { id: "note-text", rows: 3, required: true });
  const form = h("form", {}, h("label", { for: "note-text" }, t("note.field")), text, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("note.add"))));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void c.api
      .post(`/incidents/${id}/notes`, { text: text.value })
      .then(() => c.closeModal())
      .catch((err: unknown) => c.toast(String(err), true));
  });
  c.openModal(t("note.title", { id }), form, text);
}
