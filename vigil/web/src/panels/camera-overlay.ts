// The zone overlay of the cameras panel: the camera's zones and counting lines,
// drawn in SVG over its blurred snapshot. Coordinates are the pixels of the
// camera's frames (the layout the worker sent); the SVG's viewBox is that frame
// and it is stretched over the image, so it scales with the picture at any size.
// Restricted zones are hatched with a dashed outline and labelled as such, so
// they do not depend on colour; a line carries an arrow for its "in" direction.
// The list beside it is the overlay's text equivalent: every zone with its kind
// and latest counts (the SVG points to it with aria-describedby).

import { h } from "../dom";
import { t } from "../i18n";
import type { CameraLayoutOut, ZoneCountsOut, ZoneShapeOut } from "../types";

const SVG = "http://www.w3.org/2000/svg";
let nextId = 0;

type Pt = [number, number];

function el<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, ...children: (SVGElement | string)[]): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const c of children) node.append(c);
  return node;
}

export function countsText(z: ZoneCountsOut): string {
  const parts = Object.entries(z.counts).map(([k, v]) => `${k} ${Math.round(v)}`);
  if (z.density !== null && z.density !== undefined) parts.push(`${z.density.toFixed(2)} /m²`);
  return parts.join(" · ") || "—";
}

function kindLabel(kind: ZoneShapeOut["kind"]): string {
  return kind === "restricted" ? t("cameras.kind_restricted") : kind === "line" ? t("cameras.kind_line") : t("cameras.kind_counting");
}

function legendOf(kind: ZoneShapeOut["kind"]): string {
  return kind === "restricted" ? t("cameras.legend_restricted") : kind === "line" ? t("cameras.legend_line") : t("cameras.legend_counting");
}

/** Where a zone's label goes: just inside its topmost vertex (a line: its midpoint). */
function anchor(points: Pt[]): Pt {
  if (points.length === 2) return [(points[0][0] + points[1][0]) / 2, (points[0][1] + points[1][1]) / 2];
  let top = points[0];
  for (const p of points) if (p[1] < top[1] || (p[1] === top[1] && p[0] < top[0])) top = p;
  return top;
}

export interface Overlay {
  /** The SVG to lay over the snapshot (absolutely positioned over it). */
  svg: SVGSVGElement;
  /** The text equivalent: every zone, its kind and its latest counts. */
  list: HTMLElement;
}

/** Draw a camera's layout; `zones` are its zones' latest counts (matched by device id). */
export function zoneOverlay(camera: string, layout: CameraLayoutOut, zones: ZoneCountsOut[]): Overlay {
  const n = ++nextId;
  const listId = `zone-list-${n}`;
  const hatch = `zone-hatch-${n}`;
  const { width: w, height: hgt } = layout;
  const unit = Math.max(w, hgt);
  const font = unit / 30;
  const counts = new Map(zones.map((z) => [z.device_id, z]));

  const svg = el("svg", {
    viewBox: `0 0 ${w} ${hgt}`,
    preserveAspectRatio: "none",
    class: "zone-overlay",
    "data-testid": "zone-overlay",
    role: "img",
    "aria-label": t("cameras.overlay_label", { camera, n: layout.zones.length }),
    "aria-describedby": listId,
  });
  const step = unit / 60;
  svg.append(
    el(
      "defs",
      {},
      el(
        "pattern",
        { id: hatch, patternUnits: "userSpaceOnUse", width: step, height: step, patternTransform: "rotate(45)" },
        el("rect", { width: step, height: step, fill: "rgba(200, 20, 20, 0.12)" }),
        el("line", { x1: 0, y1: 0, x2: 0, y2: step, stroke: "rgba(200, 20, 20, 0.75)", "stroke-width": step / 3 }),
      ),
    ),
  );

  const list = h("ul", { class: "zone-legend", id: listId, "data-testid": "zone-list", "aria-label": t("cameras.overlay_list") });
  for (const z of layout.zones) {
    const pts = z.points as Pt[];
    const latest = counts.get(z.device_id);
    const text = latest ? countsText(latest) : "—";
    const behaviour = latest?.behaviour ?? null;
    const title = `${z.name} · ${kindLabel(z.kind)} · ${text}${behaviour ? ` · ${behaviour}` : ""}`;
    const g = el("g", { class: `zone zone-${z.kind}${behaviour ? " zone-alert" : ""}`, "data-zone": z.name, "data-kind": z.kind }, el("title", {}, title));
    if (z.kind === "line") {
      const [a, b] = pts;
      g.append(el("line", { class: "shape", x1: a[0], y1: a[1], x2: b[0], y2: b[1] }));
      // "In" is crossing from the line's left to its right (as seen on screen):
      // the arrow points to the right of a→b, i.e. along (-dy, dx) in image axes.
      const [mx, my] = anchor(pts);
      const dx = b[0] - a[0];
      const dy = b[1] - a[1];
      const len = Math.hypot(dx, dy) || 1;
      const nx = -dy / len;
      const ny = dx / len;
      const s = unit / 25;
      const tip: Pt = [mx + nx * s, my + ny * s];
      const head = s / 3;
      g.append(
        el("line", { class: "arrow", x1: mx, y1: my, x2: tip[0], y2: tip[1] }),
        el("polygon", {
          class: "arrow-head",
          points: [tip, [tip[0] - nx * head + (dx / len) * head * 0.6, tip[1] - ny * head + (dy / len) * head * 0.6], [tip[0] - nx * head - (dx / len) * head * 0.6, tip[1] - ny * head - (dy / len) * head * 0.6]].map((p) => p.join(",")).join(" "),
        }),
      );
    } else {
      g.append(el("polygon", { class: "shape", points: pts.map((p) => p.join(",")).join(" "), ...(z.kind === "restricted" ? { fill: `url(#${hatch})` } : {}) }));
    }
    const [lx, ly] = anchor(pts);
    const label = z.kind === "restricted" ? `⚠ ${z.name} · ${kindLabel(z.kind).toUpperCase()}` : `${z.name}${z.kind === "line" ? ` · ${kindLabel(z.kind)}` : ""}`;
    const y = z.kind === "line" ? ly - font * 0.4 : Math.min(hgt - font * 0.3, ly + font * 1.1);
    g.append(el("text", { class: "label", x: Math.max(font * 0.2, Math.min(w - font, lx + font * 0.2)), y, "font-size": font }, `${label}${latest ? ` · ${text}` : ""}`));
    svg.append(g);
    list.append(
      h(
        "li",
        { "data-zone": z.name, "data-kind": z.kind },
        h("strong", {}, z.name),
        ` — ${legendOf(z.kind)}: ${text}`,
        behaviour ? h("span", { class: "behaviour" }, ` · ${behaviour.toUpperCase()}`) : null,
      ),
    );
  }
  return { svg, list };
}
