// The map: an offline basemap drawn from the city's own OSM data, and live layers.
//
// Street names use MapLibre's local text rendering: the style sets no `glyphs`
// URL, so labels are drawn with the browser's own fonts (TinySDF) and nothing is
// fetched from the internet.

import * as maplibregl from "maplibre-gl";
import type { GeoJSONSource, LayerSpecification, MapMouseEvent, StyleSpecification } from "maplibre-gl";
import workerUrl from "maplibre-gl/dist/maplibre-gl-worker.mjs?url";
import "maplibre-gl/dist/maplibre-gl.css";
import type { Feature, FeatureCollection, Geometry, LineString, Point } from "geojson";

import type { Alert, Device, Incident, LatLon, Unit } from "./model";
import { LAYER_GROUPS, type LayerName } from "./layers";
import { PRIORITY_COLOUR, PRIORITY_TEXT, STATUS_CODE, STATUS_COLOUR, typeCode } from "./palette";

maplibregl.setWorkerUrl(workerUrl);

export interface MapConfig {
  tile_url: string | null;
  basemap: boolean;
  bbox: number[] | null;
  center: number[] | null;
}

export interface Basemap {
  bbox: number[];
  roads: FeatureCollection;
  areas: FeatureCollection;
  attribution: string;
}

const MAX_PULSES = 150;
const EMPTY: FeatureCollection = { type: "FeatureCollection", features: [] };
const FONT = ["DejaVu Sans", "Noto Sans", "Liberation Sans", "Arial", "sans-serif"];

function pt(l: LatLon): Point {
  return { type: "Point", coordinates: [l.lon, l.lat] };
}

function matchColour(prop: string, table: Record<string | number, string>, fallback: string): unknown {
  const expr: unknown[] = ["match", ["get", prop]];
  for (const [k, v] of Object.entries(table)) expr.push(Number.isNaN(Number(k)) ? k : Number(k), v);
  expr.push(fallback);
  return expr;
}

function roadWidth(extra: number): unknown {
  return [
    "interpolate",
    ["exponential", 1.6],
    ["zoom"],
    12,
    ["match", ["get", "highway"], ["motorway", "trunk", "primary"], 2 + extra, ["secondary", "tertiary"], 1.4 + extra, 0.6 + extra],
    18,
    ["match", ["get", "highway"], ["motorway", "trunk", "primary"], 22 + extra * 2, ["secondary", "tertiary"], 16 + extra * 2, 9 + extra * 2],
  ];
}

function style(cfg: MapConfig): StyleSpecification {
  const sources: StyleSpecification["sources"] = {
    areas: { type: "geojson", data: EMPTY },
    roads: { type: "geojson", data: EMPTY },
    zones: { type: "geojson", data: EMPTY },
    alerts: { type: "geojson", data: EMPTY },
    routes: { type: "geojson", data: EMPTY },
    devices: { type: "geojson", data: EMPTY },
    incidents: { type: "geojson", data: EMPTY },
    units: { type: "geojson", data: EMPTY },
    pick: { type: "geojson", data: EMPTY },
  };
  const layers: LayerSpecification[] = [{ id: "bg", type: "background", paint: { "background-color": "#f1eee8" } }];
  if (cfg.tile_url) {
    sources.tiles = { type: "raster", tiles: [cfg.tile_url], tileSize: 256 };
    layers.push({ id: "tiles", type: "raster", source: "tiles" });
  }
  const base: LayerSpecification[] = [
    {
      id: "water",
      type: "fill",
      source: "areas",
      filter: ["==", ["get", "category"], "water"],
      paint: { "fill-color": "#a9d3e6" },
    },
    {
      id: "park",
      type: "fill",
      source: "areas",
      filter: ["==", ["get", "category"], "park"],
      paint: { "fill-color": "#cfe6bf" },
    },
    {
      id: "building",
      type: "fill",
      source: "areas",
      filter: ["==", ["get", "category"], "building"],
      paint: { "fill-color": "#dcd4cc", "fill-outline-color": "#bfb4a9" },
    },
    {
      id: "road-casing",
      type: "line",
      source: "roads",
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": "#b9b2a8", "line-width": roadWidth(1.5) as never },
    },
    {
      id: "road",
      type: "line",
      source: "roads",
      layout: { "line-cap": "round", "line-join": "round" },
      paint: {
        "line-color": [
          "match",
          ["get", "highway"],
          ["motorway", "trunk", "primary"],
          "#f7c873",
          ["secondary", "tertiary"],
          "#fbe3a6",
          "#ffffff",
        ],
        "line-width": roadWidth(0) as never,
      },
    },
    {
      id: "road-label",
      type: "symbol",
      source: "roads",
      minzoom: 14,
      filter: ["!=", ["get", "name"], ""],
      layout: {
        "symbol-placement": "line",
        "text-field": ["get", "name"],
        "text-font": FONT,
        "text-size": 11,
        "symbol-spacing": 350,
      },
      paint: { "text-color": "#5b554e", "text-halo-color": "#ffffff", "text-halo-width": 1.4 },
    },
  ];
  if (!cfg.tile_url) layers.push(...base);
  layers.push(
    {
      id: "zone-fill",
      type: "fill",
      source: "zones",
      paint: { "fill-color": "#0072B2", "fill-opacity": 0.06 },
    },
    {
      id: "zone-line",
      type: "line",
      source: "zones",
      paint: { "line-color": "#0072B2", "line-width": 1.5, "line-dasharray": [4, 2] },
    },
    {
      id: "alert-fill",
      type: "fill",
      source: "alerts",
      paint: { "fill-color": "#CC79A7", "fill-opacity": 0.18 },
    },
    {
      id: "alert-line",
      type: "line",
      source: "alerts",
      paint: { "line-color": "#CC79A7", "line-width": 2.5 },
    },
    {
      id: "route-casing",
      type: "line",
      source: "routes",
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": "#ffffff", "line-width": 7, "line-opacity": 0.9 },
    },
    {
      id: "route-line",
      type: "line",
      source: "routes",
      layout: { "line-cap": "round", "line-join": "round" },
      paint: {
        "line-color": ["case", ["get", "preview"], "#000000", "#0072B2"],
        "line-width": 4,
        "line-dasharray": [2, 1.2],
      },
    },
    {
      id: "device-dot",
      type: "circle",
      source: "devices",
      filter: ["!", ["get", "camera"]],
      paint: {
        "circle-radius": 5,
        "circle-color": ["case", ["get", "online"], "#444444", "#ffffff"],
        "circle-stroke-color": ["case", ["get", "online"], "#ffffff", "#D55E00"],
        "circle-stroke-width": 2,
      },
    },
    {
      id: "camera-dot",
      type: "circle",
      source: "devices",
      filter: ["get", "camera"],
      paint: {
        "circle-radius": 6,
        "circle-color": ["case", ["get", "online"], "#222222", "#ffffff"],
        "circle-stroke-color": ["case", ["get", "online"], "#F0E442", "#D55E00"],
        "circle-stroke-width": 2.5,
      },
    },
    {
      id: "camera-label",
      type: "symbol",
      source: "devices",
      filter: ["get", "camera"],
      minzoom: 15,
      layout: { "text-field": "CAM", "text-font": FONT, "text-size": 9, "text-offset": [0, 1.3] },
      paint: { "text-color": "#222222", "text-halo-color": "#ffffff", "text-halo-width": 1.2 },
    },
    {
      id: "incident-dot",
      type: "circle",
      source: "incidents",
      paint: {
        // Size as well as colour: urgent incidents are bigger.
        "circle-radius": ["match", ["get", "priority"], 1, 13, 2, 12, 3, 11, 10],
        "circle-color": matchColour("priority", PRIORITY_COLOUR, "#999999") as never,
        "circle-stroke-color": ["case", ["get", "selected"], "#000000", "#222222"],
        "circle-stroke-width": ["case", ["get", "selected"], 4, 1.5],
      },
    },
    {
      id: "incident-label",
      type: "symbol",
      source: "incidents",
      layout: {
        "text-field": ["get", "label"],
        "text-font": FONT,
        "text-size": 12,
        "text-allow-overlap": true,
        "text-ignore-placement": true,
      },
      paint: { "text-color": matchColour("priority", PRIORITY_TEXT, "#000000") as never },
    },
    {
      id: "incident-code",
      type: "symbol",
      source: "incidents",
      minzoom: 15.5, // type codes when zoomed in: label placement is costly with 1,000 incidents
      layout: {
        "text-field": ["get", "code"],
        "text-font": FONT,
        "text-size": 10,
        "text-offset": [0, 1.9],
        "text-allow-overlap": false,
      },
      paint: { "text-color": "#111111", "text-halo-color": "#ffffff", "text-halo-width": 1.5 },
    },
    {
      id: "unit-dot",
      type: "circle",
      source: "units",
      paint: {
        "circle-radius": 7,
        "circle-color": matchColour("status", STATUS_COLOUR, "#777777") as never,
        "circle-stroke-color": ["case", ["get", "selected"], "#000000", "#ffffff"],
        "circle-stroke-width": ["case", ["get", "selected"], 3.5, 2],
      },
    },
    {
      id: "unit-label",
      type: "symbol",
      source: "units",
      layout: {
        "text-field": ["get", "label"],
        "text-font": FONT,
        "text-size": 11,
        "text-anchor": "left",
        "text-offset": [0.9, 0],
        "text-allow-overlap": false,
      },
      paint: { "text-color": "#111111", "text-halo-color": "#ffffff", "text-halo-width": 1.6 },
    },
    {
      id: "pick",
      type: "circle",
      source: "pick",
      paint: {
        "circle-radius": 9,
        "circle-color": "#ffffff",
        "circle-stroke-color": "#000000",
        "circle-stroke-width": 3,
      },
    },
  );
  return { version: 8, sources, layers };
}

export interface MapHandlers {
  onIncident: (id: string) => void;
  onUnit: (id: string) => void;
  onClick: (at: LatLon) => boolean; // true when the click was consumed (e.g. placing a call)
}

export class MapView {
  readonly map: maplibregl.Map;
  ready: Promise<void>;
  private pulse = 0;
  private pulseTimer: number | undefined;
  private pending: { lat: number; lon: number; priority: number }[] = [];
  private drawPulse: () => void = () => undefined;
  private hidden = new Set<LayerName>();

  constructor(container: HTMLElement, cfg: MapConfig, basemap: Basemap | null, handlers: MapHandlers) {
    const bbox = basemap?.bbox ?? cfg.bbox;
    this.map = new maplibregl.Map({
      container,
      style: style(cfg),
      bounds: bbox ? [bbox[0], bbox[1], bbox[2], bbox[3]] : undefined,
      center: bbox ? undefined : [24.94, 60.17],
      zoom: bbox ? undefined : 14,
      attributionControl: { compact: true, customAttribution: basemap?.attribution ?? "© OpenStreetMap contributors" },
      keyboard: false, // the command centre owns the keyboard; see keys.ts
      fadeDuration: 0,
    });
    this.map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "bottom-right");
    this.map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
    this.ready = new Promise((resolve) => {
      this.map.once("load", () => {
        if (basemap) {
          (this.map.getSource("roads") as GeoJSONSource).setData(basemap.roads);
          (this.map.getSource("areas") as GeoJSONSource).setData(basemap.areas);
        }
        resolve();
      });
    });
    for (const layer of ["unit-dot", "incident-dot"]) {
      this.map.on("mouseenter", layer, () => (this.map.getCanvas().style.cursor = "pointer"));
      this.map.on("mouseleave", layer, () => (this.map.getCanvas().style.cursor = ""));
    }
    this.map.on("click", (e: MapMouseEvent) => {
      if (handlers.onClick({ lat: e.lngLat.lat, lon: e.lngLat.lng })) return;
      const hits = this.map.queryRenderedFeatures(e.point, { layers: ["unit-dot", "incident-dot"] });
      const first = hits[0];
      const id = first?.properties?.id;
      if (typeof id !== "string") return;
      if (first.layer.id === "unit-dot") handlers.onUnit(id);
      else handlers.onIncident(id);
    });
    this.startPulse();
    let began = 0;
    this.map.on("render", () => {
      // Time from a data change to its frame: an honest measure of what a frame costs here.
      if (began) this.frameMs = 0.8 * this.frameMs + 0.2 * (performance.now() - began);
      began = 0;
    });
    this.map.on("sourcedata", () => {
      if (!began) began = performance.now();
    });
  }

  /**
   * Pulse a ring around unassigned incidents. Drawn on a 2D canvas over the map so
   * the animation never forces a WebGL repaint of the whole map (costly without a
   * GPU); static rings when the user prefers less motion.
   */
  private startPulse(): void {
    const canvas = document.createElement("canvas");
    canvas.className = "pulse-overlay";
    canvas.setAttribute("aria-hidden", "true");
    this.map.getCanvasContainer().appendChild(canvas);
    const ctx = canvas.getContext("2d")!;
    const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    const draw = (): void => {
      const { clientWidth: w, clientHeight: hgt } = this.map.getCanvas();
      const dpr = window.devicePixelRatio || 1;
      if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(hgt * dpr)) {
        canvas.width = Math.round(w * dpr);
        canvas.height = Math.round(hgt * dpr);
        canvas.style.width = `${w}px`;
        canvas.style.height = `${hgt}px`;
      }
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, w, hgt);
      if (this.hidden.has("incidents")) return;
      const t = still ? 0.35 : this.pulse / 12;
      const radius = 14 + 16 * t;
      ctx.lineWidth = 3;
      ctx.globalAlpha = still ? 0.8 : 0.9 * (1 - t);
      for (const p of this.pending) {
        const xy = this.map.project([p.lon, p.lat]);
        if (xy.x < -40 || xy.y < -40 || xy.x > w + 40 || xy.y > hgt + 40) continue;
        ctx.strokeStyle = PRIORITY_COLOUR[p.priority] ?? "#999999";
        ctx.beginPath();
        ctx.arc(xy.x, xy.y, radius, 0, Math.PI * 2);
        ctx.stroke();
      }
    };
    this.drawPulse = draw;
    this.map.on("move", draw);
    this.map.on("resize", draw);
    if (!still) {
      this.pulseTimer = window.setInterval(() => {
        this.pulse = (this.pulse + 1) % 12;
        draw();
      }, 100);
    }
  }

  /** Resolve once every source has its data tiled and a frame with them was drawn. */
  rendered(): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        const style = this.map.getStyle();
        const ids = Object.keys(style.sources);
        if (this.map.areTilesLoaded() && ids.every((id) => this.map.isSourceLoaded(id))) {
          this.map.once("render", () => resolve());
          this.map.triggerRepaint();
        } else {
          window.setTimeout(check, 16);
        }
      };
      check();
    });
  }

  destroy(): void {
    window.clearInterval(this.pulseTimer);
    this.map.remove();
  }

  setVisible(group: LayerName, on: boolean): void {
    if (on) this.hidden.delete(group);
    else this.hidden.add(group);
    const ids = LAYER_GROUPS[group];
    this.drawPulse();
    for (const id of ids) {
      if (this.map.getLayer(id)) this.map.setLayoutProperty(id, "visibility", on ? "visible" : "none");
    }
  }

  isVisible(group: LayerName): boolean {
    return !this.hidden.has(group);
  }

  private set(source: string, fc: FeatureCollection): void {
    const s = this.map.getSource(source) as GeoJSONSource | undefined;
    s?.setData(fc);
  }

  /** Milliseconds the last few frames took to draw (to pace updates to the machine). */
  frameMs = 16;

  setIncidents(list: Iterable<Incident>, selected: string | null): void {
    const features: Feature<Point>[] = [];
    this.pending = [];
    for (const i of list) {
      if (!i.location) continue;
      // Rings for the most urgent unassigned incidents only (the list comes sorted by urgency).
      if (i.status === "pending" && this.pending.length < MAX_PULSES) this.pending.push({ ...i.location, priority: i.priority });
      features.push({
        type: "Feature",
        geometry: pt(i.location),
        properties: {
          id: i.id,
          priority: i.priority,
          label: String(i.priority),
          code: typeCode(i.type, i.agency),
          pending: i.status === "pending",
          selected: i.id === selected,
        },
      });
    }
    this.set("incidents", { type: "FeatureCollection", features });
    this.drawPulse();
  }

  setUnits(list: Iterable<Unit>, selected: string | null): void {
    const features: Feature<Point>[] = [];
    for (const u of list) {
      if (!u.location) continue;
      features.push({
        type: "Feature",
        geometry: pt(u.location),
        properties: {
          id: u.id,
          status: u.status,
          label: `${u.callsign} ${STATUS_CODE[u.status] ?? ""}`,
          selected: u.id === selected,
        },
      });
    }
    this.set("units", { type: "FeatureCollection", features });
  }

  setRoutes(routes: Iterable<{ unitId: string; geometry: LineString; preview: boolean }>): void {
    const features: Feature<LineString>[] = [];
    for (const r of routes) {
      features.push({ type: "Feature", geometry: r.geometry, properties: { unit: r.unitId, preview: r.preview } });
    }
    this.set("routes", { type: "FeatureCollection", features });
  }

  setDevices(list: Iterable<Device>): void {
    const features: Feature<Point>[] = [];
    for (const d of list) {
      if (!d.location) continue;
      features.push({
        type: "Feature",
        geometry: pt(d.location),
        properties: { id: d.id, online: d.online, camera: d.kind.includes("camera") },
      });
    }
    this.set("devices", { type: "FeatureCollection", features });
  }

  setZones(fc: FeatureCollection): void {
    this.set("zones", fc);
  }

  setAlerts(list: Iterable<Alert>): void {
    const features: Feature<Geometry>[] = [];
    for (const a of list) {
      if (a.area) features.push({ type: "Feature", geometry: a.area, properties: { id: a.id } });
    }
    this.set("alerts", { type: "FeatureCollection", features });
  }

  setPick(at: LatLon | null): void {
    this.set("pick", { type: "FeatureCollection", features: at ? [{ type: "Feature", geometry: pt(at), properties: {} }] : [] });
  }

  /** Bring a point into view (pan only when it is off screen or under an edge). */
  focus(at: LatLon): void {
    const p = this.map.project([at.lon, at.lat]);
    const c = this.map.getCanvas();
    const margin = 60;
    if (p.x > margin && p.y > margin && p.x < c.clientWidth - margin && p.y < c.clientHeight - margin) return;
    this.map.easeTo({ center: [at.lon, at.lat], duration: 300 });
  }
}
