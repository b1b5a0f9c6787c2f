// SVG charts of the analyst page: estimates with confidence intervals, forecasts with bands.

const NS = "http://www.w3.org/2000/svg";

function el(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

export interface Interval {
  label: string;
  value: number;
  low: number | null;
  high: number | null;
  n: number;
}

/** Horizontal bars of an estimate per group with its CI; a dashed line at the target. */
export function intervalChart(rows: Interval[], target: number | null, unit: string): SVGSVGElement {
  const rowH = 20;
  const left = 190;
  const width = 760;
  const height = rows.length * rowH + 40;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart", id: "an-plot",
    "aria-label": `Estimates by group with 95% confidence intervals (${rows.length} groups; the table below lists them)` }) as SVGSVGElement;
  const max = Math.max(1, target ?? 0, ...rows.map((r) => r.high ?? r.value)) * 1.05;
  const x = (v: number): number => left + ((width - left - 20) * v) / max;
  rows.forEach((r, i) => {
    const y = 10 + i * rowH;
    svg.append(el("text", { x: left - 6, y: y + 13, "text-anchor": "end", "font-size": 11 }, `${r.label} (n ${r.n})`));
    svg.append(el("rect", { x: left, y: y + 3, width: Math.max(0, x(r.value) - left), height: rowH - 8, fill: "#4a78a8" }));
    if (r.low !== null && r.high !== null) {
      svg.append(el("line", { x1: x(r.low), x2: x(r.high), y1: y + 9, y2: y + 9, stroke: "#111", "stroke-width": 1.5 }));
      svg.append(el("line", { x1: x(r.low), x2: x(r.low), y1: y + 4, y2: y + 14, stroke: "#111" }));
      svg.append(el("line", { x1: x(r.high), x2: x(r.high), y1: y + 4, y2: y + 14, stroke: "#111" }));
    }
    const title = el("title", {}, `${r.label}: ${r.value.toFixed(0)} ${unit} (95% CI ${r.low?.toFixed(0) ?? "-"}–${r.high?.toFixed(0) ?? "-"}), n ${r.n}`);
    svg.lastChild?.appendChild(title);
  });
  if (target !== null) {
    svg.append(el("line", { x1: x(target), x2: x(target), y1: 5, y2: height - 25, stroke: "#c00", "stroke-dasharray": "4 3" }));
    svg.append(el("text", { x: x(target) + 3, y: height - 12, "font-size": 11, fill: "#c00" }, `target ${target} ${unit}`));
  }
  svg.append(el("text", { x: left, y: height - 12, "font-size": 11 }, `0 … ${max.toFixed(0)} ${unit}`));
  return svg;
}

export interface ForecastHour {
  at: string;
  expected: number;
  low: number;
  high: number;
}

/** Expected calls per hour with the prediction-interval band. */
export function forecastChart(hours: ForecastHour[], level: number): SVGSVGElement {
  const width = 760;
  const height = 220;
  const pad = 40;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart",
    "aria-label": `Expected calls per hour for the next ${hours.length} hours with the ${Math.round(level * 100)}% prediction interval` }) as SVGSVGElement;
  if (hours.length === 0) return svg;
  const max = Math.max(1, ...hours.map((h) => h.high)) * 1.1;
  const x = (i: number): number => pad + ((width - 2 * pad) * i) / Math.max(1, hours.length - 1);
  const y = (v: number): number => height - pad - ((height - 2 * pad) * v) / max;
  const upper = hours.map((h, i) => `${x(i)},${y(h.high)}`);
  const lower = hours.map((h, i) => `${x(i)},${y(h.low)}`).reverse();
  svg.append(el("polygon", { points: [...upper, ...lower].join(" "), fill: "#4a78a8", opacity: 0.25 }));
  svg.append(el("polyline", { points: hours.map((h, i) => `${x(i)},${y(h.expected)}`).join(" "), fill: "none", stroke: "#1d4f82", "stroke-width": 2 }));
  svg.append(el("text", { x: pad, y: 16, "font-size": 12 }, `expected calls per hour, ${Math.round(level * 100)}% prediction interval shaded`));
  svg.append(el("text", { x: pad, y: height - 10, "font-size": 11 }, hours[0].at.slice(0, 16).replace("T", " ")));
  svg.append(el("text", { x: width - pad, y: height - 10, "font-size": 11, "text-anchor": "end" }, hours[hours.length - 1].at.slice(0, 16).replace("T", " ")));
  svg.append(el("text", { x: 4, y: y(max / 1.1) + 4, "font-size": 11 }, (max / 1.1).toFixed(0)));
  return svg;
}
