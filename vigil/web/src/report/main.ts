// The public report form (no login): what, where (GPS or a tap on the map), an optional
// photo and optional contact details. After sending, the reporter gets a private status link.

import "./report.css";
import * as maplibregl from "maplibre-gl";
import type { MapMouseEvent, StyleSpecification } from "maplibre-gl";
import workerUrl from "maplibre-gl/dist/maplibre-gl-worker.mjs?url";
import "maplibre-gl/dist/maplibre-gl.css";

maplibregl.setWorkerUrl(workerUrl);

type Area = { basemap: boolean; bbox: number[] | null; center: number[] | null };
type Submitted = { report_id: string; status_url: string; status_token: string };
type Status = { status: string; category: string; submitted_at: string; updated_at: string; note: string | null };
type Problem = { detail?: string; field?: string };

const API = "/api/v1/public/reports";
const MAX_PHOTO_BYTES = 1_000_000;
const root = document.getElementById("report-root")!;

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

async function problemText(r: Response): Promise<string> {
  try {
    const p = (await r.json()) as Problem;
    return p.detail ?? `Error ${r.status}`;
  } catch {
    return `Error ${r.status}`;
  }
}

// Shrink a large photo in the browser (a phone camera's 5 MB JPEG) before sending.
// The server strips metadata from every photo whether or not this step ran.
async function shrink(file: File): Promise<Blob> {
  if (file.size <= MAX_PHOTO_BYTES) return file;
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, 1600 / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d")!.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return await new Promise<Blob>((resolve, reject) =>
    canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("cannot encode photo"))), "image/jpeg", 0.85),
  );
}

function base64(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] ?? "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

function pickMap(container: HTMLElement, area: Area, onPick: (lat: number, lon: number) => void): maplibregl.Map | null {
  if (!area.center) return null;
  const url = (layer: string): string => new URL(`/api/v1/map/basemap?layer=${layer}`, window.location.href).href;
  const style: StyleSpecification = {
    version: 8,
    sources: {
      roads: { type: "geojson", data: area.basemap ? url("roads") : { type: "FeatureCollection", features: [] } },
      pick: { type: "geojson", data: { type: "FeatureCollection", features: [] } },
    },
    layers: [
      { id: "bg", type: "background", paint: { "background-color": "#f1eee8" } },
      { id: "roads", type: "line", source: "roads", paint: { "line-color": "#9aa4ad", "line-width": 1.2 } },
      { id: "pick", type: "circle", source: "pick", paint: { "circle-radius": 9, "circle-color": "#c0392b", "circle-stroke-color": "#fff", "circle-stroke-width": 2 } },
    ],
  };
  const map = new maplibregl.Map({
    container,
    style,
    center: [area.center[0]!, area.center[1]!],
    zoom: 13,
    attributionControl: { compact: true, customAttribution: "© OpenStreetMap contributors" },
  });
  const mark = (lat: number, lon: number): void => {
    const src = map.getSource("pick") as maplibregl.GeoJSONSource | undefined;
    src?.setData({ type: "FeatureCollection", features: [{ type: "Feature", properties: {}, geometry: { type: "Point", coordinates: [lon, lat] } }] });
  };
  map.on("click", (e: MapMouseEvent) => {
    mark(e.lngLat.lat, e.lngLat.lng);
    onPick(e.lngLat.lat, e.lngLat.lng);
  });
  (container as HTMLElement & { mark?: typeof mark }).mark = mark;
  return map;
}

async function showStatus(token: string): Promise<void> {
  root.replaceChildren(el("h1", {}, "Your report"), el("p", { class: "lead" }, "Loading…"));
  const r = await fetch(`${API}/status/${encodeURIComponent(token)}`);
  if (!r.ok) {
    root.replaceChildren(el("h1", {}, "Your report"), el("p", { class: "error" }, await problemText(r)));
    return;
  }
  const s = (await r.json()) as Status;
  root.replaceChildren(
    el("h1", {}, "Your report"),
    el(
      "div",
      { class: "done", id: "report-status" },
      el("p", {}, el("strong", {}, "Status: "), el("span", { "data-status": s.status }, s.status)),
      el("p", {}, `${s.category} — sent ${new Date(s.submitted_at).toLocaleString()}`),
      ...(s.note ? [el("p", {}, `Note: ${s.note}`)] : []),
    ),
    el("p", {}, el("a", { href: "/report" }, "Report something else")),
  );
}

async function form(): Promise<void> {
  const [cats, area] = await Promise.all([
    fetch(`${API}/categories`).then((r) => r.json() as Promise<Record<string, string>>),
    fetch(`${API}/area`).then((r) => r.json() as Promise<Area>),
  ]);
  let lat: number | null = null;
  let lon: number | null = null;
  let accuracy: number | null = null;
  const where = el("p", { class: "where", id: "where" }, "No location yet.");
  const setWhere = (la: number, lo: number, acc: number | null, how: string): void => {
    lat = la;
    lon = lo;
    accuracy = acc;
    where.textContent = `${how}: ${la.toFixed(5)}, ${lo.toFixed(5)}` + (acc ? ` (±${Math.round(acc)} m)` : "");
  };
  const category = el("select", { id: "category", name: "category", required: "" });
  category.append(el("option", { value: "" }, "Choose…"));
  for (const [k, v] of Object.entries(cats)) category.append(el("option", { value: k }, v));
  const text = el("textarea", { id: "text", name: "text", maxlength: "2000", required: "", placeholder: "What is wrong? Where exactly?" });
  const gps = el("button", { type: "button", id: "use-gps" }, "Use my location");
  const mapBox = el("div", { id: "pick-map", role: "application", "aria-label": "Tap the map to choose the place" });
  const photo = el("input", { type: "file", id: "photo", accept: "image/jpeg,image/png,image/webp", capture: "environment" });
  const name = el("input", { type: "text", id: "contact-name", autocomplete: "name" });
  const contact = el("input", { type: "text", id: "contact", autocomplete: "tel", inputmode: "email" });
  const send = el("button", { type: "submit", class: "primary", id: "send" }, "Send report");
  const error = el("p", { class: "error", id: "error", role: "alert" });
  const f = el(
    "form",
    { id: "report-form", novalidate: "" },
    el("label", { for: "category" }, "What kind of problem?"),
    category,
    el("label", { for: "text" }, "Describe it"),
    text,
    el("label", {}, "Where?"),
    el("div", { class: "row" }, gps),
    mapBox,
    el("p", { class: "hint" }, "Or tap the map at the place."),
    where,
    el("label", { for: "photo" }, "Photo (optional)"),
    photo,
    el("p", { class: "hint" }, "Location and camera details are removed from photos."),
    el(
      "details",
      {},
      el("summary", {}, "Contact me about it (optional)"),
      el("p", { class: "hint" }, "Reports are anonymous unless you fill this in. Contact details are kept 30 days, only for this report."),
      el("label", { for: "contact-name" }, "Name"),
      name,
      el("label", { for: "contact" }, "Phone or e-mail"),
      contact,
    ),
    send,
    error,
  );
  root.replaceChildren(
    el("h1", {}, "Report a problem"),
    el("p", { class: "lead" }, "Hazards and problems in public spaces. No login needed."),
    el("div", { class: "emergency" }, "Emergency? Call 112 now. This form is not watched around the clock."),
    f,
  );
  const map = pickMap(mapBox, area, (la, lo) => setWhere(la, lo, null, "Chosen on the map"));
  if (!map) mapBox.remove();
  gps.addEventListener("click", () => {
    if (!navigator.geolocation) {
      error.textContent = "This browser cannot share its location; tap the map instead.";
      return;
    }
    gps.setAttribute("disabled", "");
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        gps.removeAttribute("disabled");
        setWhere(pos.coords.latitude, pos.coords.longitude, pos.coords.accuracy, "Your location");
        map?.jumpTo({ center: [pos.coords.longitude, pos.coords.latitude], zoom: 16 });
        (mapBox as HTMLElement & { mark?: (a: number, b: number) => void }).mark?.(pos.coords.latitude, pos.coords.longitude);
      },
      (err) => {
        gps.removeAttribute("disabled");
        error.textContent = `Location unavailable (${err.message}); tap the map instead.`;
      },
      { enableHighAccuracy: true, timeout: 15000 },
    );
  });
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    if (!category.value) return void (error.textContent = "Choose what kind of problem it is.");
    if (text.value.trim().length < 3) return void (error.textContent = "Describe the problem in a few words.");
    if (lat === null || lon === null) return void (error.textContent = "Say where: use your location or tap the map.");
    send.setAttribute("disabled", "");
    try {
      const file = photo.files?.[0];
      const body = {
        category: category.value,
        text: text.value,
        lat,
        lon,
        accuracy_m: accuracy,
        photo_base64: file ? await base64(await shrink(file)) : null,
        contact_name: name.value.trim() || null,
        contact: contact.value.trim() || null,
      };
      const r = await fetch(API, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      if (!r.ok) {
        error.textContent = await problemText(r);
        return;
      }
      const out = (await r.json()) as Submitted;
      const link = new URL(out.status_url, window.location.href).href;
      root.replaceChildren(
        el("h1", {}, "Thank you"),
        el(
          "div",
          { class: "done", id: "report-sent" },
          el("p", {}, "Your report was received. Keep this private link to follow it:"),
          el("p", {}, el("a", { href: link, id: "status-link" }, link)),
          el("p", { class: "hint" }, "Anyone with the link can see the report's status, nothing else."),
        ),
      );
      window.addEventListener("hashchange", route);
    } catch (e) {
      error.textContent = e instanceof Error ? e.message : String(e);
    } finally {
      send.removeAttribute("disabled");
    }
  });
}

function route(): void {
  const m = /status=([A-Za-z0-9_-]+)/.exec(window.location.hash);
  void (m ? showStatus(m[1]!) : form());
}

window.addEventListener("hashchange", route);
route();
