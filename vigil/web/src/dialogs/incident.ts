// Dialogs on the selected incident: close it, add a note.

import { ApiError } from "../api";
import type { Centre } from "../centre/context";
import { h } from "../dom";

export function openClose(c: Centre, id: string): void {
  const disposition = h("input", { id: "close-disposition", list: "dispositions", required: true, placeholder: "e.g. resolved, false alarm, transported" });
  const list = h("datalist", { id: "dispositions" });
  for (const d of ["resolved", "false alarm", "transported", "no action needed", "referred"]) list.append(h("option", { value: d }));
  const notes = h("textarea", { id: "close-notes", rows: 2 });
  const error = h("p", { class: "warn", role: "alert" });
  const form = h(
    "form",
    { id: "close-form" },
    h("label", { for: "close-disposition" }, "Disposition"),
    disposition,
    list,
    h("label", { for: "close-notes" }, "Notes"),
    notes,
    error,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "close-submit" }, "Close incident")),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void (async () => {
      try {
        await c.api.post(`/incidents/${id}/close`, { disposition: disposition.value.trim(), notes: notes.value });
        c.closeModal();
        c.toast(`${id} closed`);
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.message : String(err);
      }
    })();
  });
  c.openModal(`Close ${id}`, form, disposition);
}

export function openNote(c: Centre, id: string): void {
  const text = h("textarea", { id: "note-text", rows: 3, required: true });
  const form = h("form", {}, h("label", { for: "note-text" }, "Note"), text, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Add note")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void c.api
      .post(`/incidents/${id}/notes`, { text: text.value })
      .then(() => c.closeModal())
      .catch((err: unknown) => c.toast(String(err), true));
  });
  c.openModal(`Note on ${id}`, form, text);
}
