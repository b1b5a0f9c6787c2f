// The map: an offline basemap drawn from the city's own OSM data, and live layers.
//
// Street names use MapLibre's local text rendering: the style sets no `glyphs`
// URL, so labels are drawn with the browser's own fonts (TinySDF) and nothing is
// fetched from the internet.

import * as maplibregl from "maplibre-gl";
import type { GeoJSONSource, GeoJSONSourceSpecification, LayerSpecification, MapMouseEvent, StyleSpecification } from "maplibre-gl";
import workerUrl from "maplibre-gl/dist/maplibre-gl-worker.mjs?url";
import "maplibre-gl/dist/maplibre-gl.css";
import type { Feature, FeatureCollection, LineString, Point } from "geojson";

import type { Incident, LatLon, MapConfig, Unit } from "./types";
import { LAYER_GROUPS, type LayerName } from "./layers";
import { PRIORITY_COLOUR, PRIORITY_TEXT, STATUS_CODE, STATUS_COLOUR, typeCode } from "./palette";

maplibregl.setWorkerUrl(workerUrl);

export type { MapConfig } from "./types";

/** A device as the map draws it (a point; cameras get their own symbol). */
export interface DevicePoint {
  id: string;
  kind: string;
  location: LatLon | null;
  online: boolean;
}

/** What the map starts with, so its first frame already holds the live picture. */
export interface MapStart {
  incidents: Iterable<Incident>;
  units: Iterable<Unit>;
  selected: string | null;
  selectedUnit: string | null;
  /**
   * Draw the first frame with the live picture only and load the basemap after it
   * (behind the still copy, see hold()): the command centre's first full render is
   * every incident and unit drawn, and software WebGL pays for every basemap tile
   * drawn before that.
   */
  deferBasemap?: boolean;
}

// The basemap layers are handed to MapLibre as URLs: its worker fetches and parses
// them, so the page's main thread never holds the city's GeoJSON.
const BASEMAP_URL = "/api/v1/map/basemap?layer=";
const BASEMAP_SOURCES = ["areas", "roads"];

const MAX_PULSES = 150;
// The canvas's resolution while the map loads (hidden): its frames before the first
// complete one are drawn at 1/16 of the size, almost free for a software rasteriser;
// the frame that is shown is drawn at full resolution (see rendered()).
const LOADING_PIXEL_RATIO = 1 / 16;
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

// Ways for people on foot or bike: drawn only when zoomed in (at city zoom they are
// thousands of extra lines every frame, which software rendering pays for dearly).
const MINOR = ["footway", "path", "steps", "cycleway", "pedestrian", "platform", "corridor", "trail", "bridleway", "track", "elevator", "crossing", "construction", "proposed", "bus_stop"];
const IS_MINOR = ["match", ["get", "highway"], MINOR, true, false];
const MINOR_ZOOM = 15.5;

// Live sources are cut into tiles no finer than this zoom (≈ 5 km tiles, 0.6 m
// precision) and overzoomed beyond: a city centre is then one or two tiles, so an
// update arrives from the worker at once and costs one frame, not one per tile.
const LIVE_MAXZOOM = 12;

function style(cfg: MapConfig, start: MapStart): StyleSpecification {
  const url = (layer: string): string => new URL(BASEMAP_URL + layer, window.location.href).href;
  const sources: StyleSpecification["sources"] = {
    areas: { type: "geojson", data: cfg.basemap && !cfg.tile_url ? url("areas") : EMPTY },
    roads: { type: "geojson", data: cfg.basemap && !cfg.tile_url ? url("roads") : EMPTY },
    zones: { type: "geojson", data: EMPTY },
    alerts: { type: "geojson", data: EMPTY },
    reports: { type: "geojson", data: EMPTY, maxzoom: LIVE_MAXZOOM },
    "camera-counts": { type: "geojson", data: EMPTY, maxzoom: LIVE_MAXZOOM },
    routes: { type: "geojson", data: EMPTY, maxzoom: LIVE_MAXZOOM },
    devices: { type: "geojson", data: EMPTY, maxzoom: LIVE_MAXZOOM },
    incidents: { type: "geojson", data: incidentFeatures(start.incidents, start.selected), maxzoom: LIVE_MAXZOOM },
    units: { type: "geojson", data: unitFeatures(start.units, start.selectedUnit), maxzoom: LIVE_MAXZOOM },
    pick: { type: "geojson", data: EMPTY, maxzoom: LIVE_MAXZOOM },
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
      paint: { "fill-color": "#dcd4cc" },
    },
    {
      // Building outlines only close in: an outlined fill is a second draw of every edge.
      id: "building-outline",
      type: "line",
      source: "areas",
      minzoom: 16,
      filter: ["==", ["get", "category"], "building"],
      paint: { "line-color": "#bfb4a9", "line-width": 1 },
    },
    {
      id: "path",
      type: "line",
      source: "roads",
      minzoom: MINOR_ZOOM,
      filter: IS_MINOR as never,
      paint: { "line-color": "#ffffff", "line-width": ["interpolate", ["linear"], ["zoom"], MINOR_ZOOM, 1, 18, 4] },
    },
    {
      id: "road-casing",
      type: "line",
      source: "roads",
      filter: ["!", IS_MINOR] as never,
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": "#b9b2a8", "line-width": roadWidth(1.5) as never },
    },
    {
      id: "road",
      type: "line",
      source: "roads",
      filter: ["!", IS_MINOR] as never,
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
      minzoom: 15,
      filter: ["all", ["!=", ["get", "name"], ""], ["!", IS_MINOR]] as never,
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
    // Alert areas: the city's (purple; dashed while a draft awaits approval) and other
    // agencies' (orange, dotted, labelled EXT). Line style and label text, not only colour.
    {
      id: "alert-fill",
      type: "fill",
      source: "alerts",
      paint: {
        "fill-color": ["case", ["==", ["get", "origin"], "external"], "#E69F00", "#CC79A7"],
        "fill-opacity": ["case", ["==", ["get", "state"], "draft"], 0.08, 0.2],
      },
    },
    {
      id: "alert-line",
      type: "line",
      source: "alerts",
      filter: ["all", ["!=", ["get", "origin"], "external"], ["!=", ["get", "state"], "draft"]],
      paint: { "line-color": "#CC79A7", "line-width": 3 },
    },
    {
      id: "alert-line-draft",
      type: "line",
      source: "alerts",
      filter: ["all", ["!=", ["get", "origin"], "external"], ["==", ["get", "state"], "draft"]],
      paint: { "line-color": "#CC79A7", "line-width": 2.5, "line-dasharray": [3, 2] },
    },
    {
      id: "alert-line-external",
      type: "line",
      source: "alerts",
      filter: ["==", ["get", "origin"], "external"],
      paint: { "line-color": "#B07800", "line-width": 2.5, "line-dasharray": [1, 1.5] },
    },
    {
      id: "alert-label",
      type: "symbol",
      source: "alerts",
      minzoom: 12,
      layout: {
        "text-field": [
          "concat",
          ["case", ["==", ["get", "origin"], "external"], "EXT ", ["==", ["get", "state"], "draft"], "DRAFT ", ""],
          ["coalesce", ["get", "event"], ""],
        ],
        "text-font": FONT,
        "text-size": 11,
      },
      paint: { "text-color": "#5a1f47", "text-halo-color": "#ffffff", "text-halo-width": 1.5 },
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
      // A camera's latest counts and behaviour (from the cameras panel), beside its dot.
      id: "camera-count",
      type: "symbol",
      source: "camera-counts",
      minzoom: 13,
      layout: { "text-field": ["get", "text"], "text-font": FONT, "text-size": 10, "text-anchor": "left", "text-offset": [1, 0] },
      paint: {
        "text-color": ["case", ["get", "alert"], "#9a3a00", "#222222"],
        "text-halo-color": "#ffffff",
        "text-halo-width": 1.4,
      },
    },
    {
      // Citizen reports awaiting moderation: a white disc with a green ring and "!".
      id: "report-dot",
      type: "circle",
      source: "reports",
      paint: { "circle-radius": 8, "circle-color": "#ffffff", "circle-stroke-color": "#007a5a", "circle-stroke-width": 3 },
    },
    {
      id: "report-label",
      type: "symbol",
      source: "reports",
      layout: { "text-field": "!", "text-font": FONT, "text-size": 12, "text-allow-overlap": true, "text-ignore-placement": true },
      paint: { "text-color": "#007a5a" },
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
  /** A camera (or one of its zones) was clicked: the camera's id. */
  onCamera?: (id: string) => void;
  onClick: (at: LatLon) => boolean; // true when the click was consumed (e.g. placing a call)
}

export function incidentFeatures(list: Iterable<Incident>, selected: string | null): FeatureCollection {
  const features: Feature<Point>[] = [];
  for (const i of list) {
    if (!i.location) continue;
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
  return { type: "FeatureCollection", features };
}

export function unitFeatures(list: Iterable<Unit>, selected: string | null): FeatureCollection {
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
  return { type: "FeatureCollection", features };
}

export class MapView {
  readonly map: maplibregl.Map;
  ready: Promise<void>;
  private pulse = 0;
  private pulseTimer: number | undefined;
  private pending: { lat: number; lon: number; priority: number }[] = [];
  private drawPulse: () => void = () => undefined;
  private hidden = new Set<LayerName>();

  constructor(container: HTMLElement, cfg: MapConfig, start: MapStart, handlers: MapHandlers) {
    const bbox = cfg.bbox;
    // Hidden until the first complete frame: while tiles arrive MapLibre draws many
    // partial frames, and a visible WebGL canvas makes the page wait for each one.
    container.style.visibility = "hidden";
    const spec = style(cfg, start);
    this.allSources = spec.sources;
    this.allLayers = spec.layers;
    this.basemapUrls = cfg.basemap && !cfg.tile_url && start.deferBasemap ? BASEMAP_SOURCES : [];
    // Only sources with something to draw are in the first style (and their layers):
    // each source costs a worker round trip and a frame when its tile arrives, and
    // the rest are added when a panel first gives them data (see add()).
    const first = Object.keys(spec.sources).filter((id) => {
      const src = spec.sources[id];
      if (id === "incidents" || id === "units" || src.type !== "geojson") return true;
      return src.data !== EMPTY && !this.basemapUrls.includes(id);
    });
    for (const id of first) this.present.add(id);
    this.map = new maplibregl.Map({
      container,
      style: {
        ...spec,
        sources: Object.fromEntries(first.map((id) => [id, spec.sources[id]])),
        layers: spec.layers.filter((l) => !("source" in l) || this.present.has(l.source)),
      },
      bounds: bbox ? [bbox[0], bbox[1], bbox[2], bbox[3]] : undefined,
      center: bbox ? undefined : [24.94, 60.17],
      zoom: bbox ? undefined : 14,
      attributionControl: { compact: true, customAttribution: cfg.attribution ?? "© OpenStreetMap contributors" },
      keyboard: false, // the command centre owns the keyboard; see keys.ts
      fadeDuration: 0,
      pixelRatio: LOADING_PIXEL_RATIO,
      // The drawing buffer is kept so the last finished picture can be copied (see hold()).
      canvasContextAttributes: { antialias: false, preserveDrawingBuffer: true },
    });
    this.pendingFrom(start.incidents);
    this.map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "bottom-right");
    this.map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
    this.ready = new Promise((resolve) => {
      this.map.once("load", () => resolve());
    });
    this.map.once("style.load", () => {
      this.styleLoaded = true;
      for (const [id, data] of this.early) this.add(id, data);
      this.early.clear();
    });
    for (const layer of ["unit-dot", "incident-dot", "camera-dot"]) {
      this.map.on("mouseenter", layer, () => (this.map.getCanvas().style.cursor = "pointer"));
      this.map.on("mouseleave", layer, () => (this.map.getCanvas().style.cursor = ""));
    }
    this.map.on("click", (e: MapMouseEvent) => {
      if (handlers.onClick({ lat: e.lngLat.lat, lon: e.lngLat.lng })) return;
      const hits = this.map.queryRenderedFeatures(e.point, { layers: ["unit-dot", "incident-dot", "camera-dot"].filter((l) => this.map.getLayer(l)) });
      const first = hits[0];
      const id = first?.properties?.id;
      if (typeof id !== "string") return;
      if (first.layer.id === "unit-dot") handlers.onUnit(id);
      else if (first.layer.id === "camera-dot") handlers.onCamera?.(id.split(".")[0]);
      else handlers.onIncident(id);
    });
    this.startPulse();
    this.setupQuiet();
    this.map.on("idle", () => (this.idleFrame = this.frames));
    this.map.on("render", () => {
      this.frames += 1;
      // A frame's whole cost: the JavaScript of the frame and, after it in the same
      // task, the browser taking the canvas (with software GL this waits for the
      // rasteriser). A 0 ms timer runs once that task is over.
      const began = performance.now();
      if (this.measuring) return;
      this.measuring = true;
      window.setTimeout(() => {
        this.measuring = false;
        this.frameMs = 0.7 * this.frameMs + 0.3 * (performance.now() - began);
      }, 0);
    });
  }

  private measuring = false;
  /** Frames drawn so far (the benchmark reads how many the first render took). */
  frames = 0;
  /** The frame after which MapLibre last went idle (everything drawn, nothing left to do). */
  private idleFrame = -1;
  /** True until the first complete frame is drawn at full resolution (LOADING_PIXEL_RATIO). */
  private loadingResolution = true;
  private readonly allSources: StyleSpecification["sources"];
  private readonly allLayers: LayerSpecification[];
  /** The sources the map has now (the others wait for their first data). */
  private readonly present = new Set<string>();
  /** Data for sources given before the style had loaded (added on "style.load"). */
  private readonly early = new Map<string, GeoJSONSourceSpecification["data"]>();
  private styleLoaded = false;
  /** The basemap's sources when they are loaded after the first frame. */
  private readonly basemapUrls: readonly string[];

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
      // Nothing to see until the first complete frame is shown (rendered()); a 2D
      // frame costs the software rasteriser too.
      if (this.hidden.has("incidents") || this.map.getContainer().style.visibility === "hidden") return;
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

  /**
   * Resolve once a frame was drawn with every source's data tiled and its labels
   * placed, and the page has put it on screen.
   *
   * That frame is the one after which MapLibre goes idle (every requested tile
   * loaded, placement and transitions done, nothing left to draw). Waiting for it,
   * rather than asking for one more frame once everything is loaded, spares a frame,
   * which software WebGL pays for dearly. The frames until then are drawn at a low
   * resolution; that one is drawn again at full resolution and then shown.
   */
  rendered(): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.idleFrame !== this.frames || !this.map.loaded()) {
          this.map.once("idle", check);
          return;
        }
        if (this.loadingResolution) {
          this.loadingResolution = false;
          this.map.once("idle", check);
          // null: the device's pixel ratio again, as when none is given (MapLibre's docs).
          this.map.setPixelRatio(null as unknown as number);
          return;
        }
        // Shown once the GPU has finished that frame; resolved once the page has
        // put it on screen (the time counts what the browser spends taking it).
        void this.gpuDone().then(() => {
          this.map.getContainer().style.visibility = "";
          this.drawPulse();
          requestAnimationFrame(() => window.setTimeout(resolve, 0));
        });
      };
      check();
    });
  }

  /**
   * Load the basemap when the first frame was drawn without it (`deferBasemap`):
   * drawn behind the still copy of the live picture, shown once complete. Resolves
   * when the map shows it (at once when it was in the first frame).
   */
  loadBasemap(): Promise<void> {
    if (!this.basemapUrls.length) return Promise.resolve();
    this.hold();
    for (const id of this.basemapUrls) this.add(id, new URL(BASEMAP_URL + id, window.location.href).href);
    return new Promise((resolve) => {
      const poll = (): void => {
        if (this.settled && this.basemapUrls.every((id) => this.map.isSourceLoaded(id))) resolve();
        else window.setTimeout(poll, 40);
      };
      window.setTimeout(poll, 40);
    });
  }

  /** Add a source with its first data, and its layers in the style's order. */
  private add(id: string, data: GeoJSONSourceSpecification["data"]): void {
    const src = this.allSources[id];
    if (!src || this.present.has(id)) return;
    if (!this.styleLoaded) {
      this.early.set(id, data);
      return;
    }
    this.map.addSource(id, { ...(src as GeoJSONSourceSpecification), data });
    this.present.add(id);
    const layers = this.allLayers;
    layers.forEach((layer, i) => {
      if (!("source" in layer) || layer.source !== id) return;
      const before = layers.slice(i + 1).find((l) => this.map.getLayer(l.id))?.id;
      const group = (Object.keys(LAYER_GROUPS) as LayerName[]).find((g) => LAYER_GROUPS[g].includes(layer.id));
      const off = group !== undefined && this.hidden.has(group);
      this.map.addLayer(off ? ({ ...layer, layout: { ...layer.layout, visibility: "none" } } as LayerSpecification) : layer, before);
    });
  }

  destroy(): void {
    window.clearInterval(this.pulseTimer);
    window.clearTimeout(this.showTimer);
    this.holding = false;
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
    if (!this.present.has(source)) {
      // Nothing drawn there yet: an empty update changes nothing on screen.
      if (!fc.features.length && !this.early.has(source)) return;
      this.hold();
      if (this.styleLoaded) this.add(source, fc);
      else this.early.set(source, fc);
      return;
    }
    const s = this.map.getSource(source) as GeoJSONSource | undefined;
    if (!s) return;
    this.hold();
    s.setData(fc);
  }

  // ------------------------------------------------------------ quiet updates
  //
  // A data update makes MapLibre re-tile in its worker and draw a few frames. When
  // WebGL is rendered in software, the browser taking a *visible* canvas for the
  // screen waits for the rasteriser, so each frame blocks the page's main thread
  // (hundreds of milliseconds here) and the live feed, queue and keys wait behind
  // it. So while an update settles, the last finished picture is shown from a 2D
  // copy and the WebGL canvas is hidden (its frames are then not waited for); once
  // MapLibre is idle and the GPU has finished (a WebGL2 fence), the canvas is shown
  // again — a copy of finished pixels, which costs little. With a GPU the fence is
  // done at once and this is invisible. While the user moves the map, or when the
  // canvas cannot be copied, updates draw directly as before.

  private still: HTMLCanvasElement | null = null;
  private holding = false;
  private heldSince = 0;
  private moving = false;
  private showTimer: number | undefined;
  /** Data updates drawn behind a still copy, and those drawn directly (for the benchmark). */
  readonly quiet = { held: 0, direct: 0 };

  private setupQuiet(): void {
    const still = document.createElement("canvas");
    still.className = "map-still";
    still.setAttribute("aria-hidden", "true");
    still.hidden = true;
    const canvas = this.map.getCanvas();
    canvas.parentElement?.insertBefore(still, canvas);
    this.still = still;
    this.map.on("movestart", () => {
      this.moving = true;
      this.show();
    });
    this.map.on("moveend", () => (this.moving = false));
    this.map.on("render", () => (this.lastRender = performance.now()));
  }

  /** Freeze what is on screen (a 2D copy) and hide the WebGL canvas until idle. */
  private hold(): void {
    const still = this.still;
    if (!still || this.moving || this.map.getContainer().style.visibility === "hidden") {
      this.quiet.direct += 1;
      return;
    }
    this.quiet.held += 1;
    window.clearTimeout(this.showTimer);
    this.showTimer = undefined;
    if (this.holding) {
      this.settle();
      return;
    }
    const canvas = this.map.getCanvas();
    try {
      if (still.width !== canvas.width || still.height !== canvas.height) {
        still.width = canvas.width;
        still.height = canvas.height;
      }
      still.style.width = canvas.style.width;
      still.style.height = canvas.style.height;
      const ctx = still.getContext("2d");
      if (!ctx) return;
      ctx.drawImage(canvas, 0, 0);
    } catch {
      return; // cannot copy: draw directly
    }
    still.hidden = false;
    canvas.style.visibility = "hidden";
    this.holding = true;
    this.heldSince = performance.now();
    this.settle();
  }

  /** False while an update is drawn behind the still copy (tests wait for true). */
  get settled(): boolean {
    return !this.holding;
  }

  private show(): void {
    window.clearTimeout(this.showTimer);
    this.showTimer = undefined;
    if (!this.holding) return;
    this.holding = false;
    this.updateMs = 0.7 * this.updateMs + 0.3 * (performance.now() - this.heldSince);
    this.map.getCanvas().style.visibility = "";
    if (this.still) this.still.hidden = true;
  }

  /**
   * Show the canvas once MapLibre has drawn the update (tiles loaded, no frame for a
   * while) and the GPU has finished it (a WebGL2 fence, polled, never waited on).
   */
  private settle(): void {
    let sync: WebGLSync | null = null;
    const gl = this.map.getCanvas().getContext("webgl2");
    const poll = (): void => {
      this.showTimer = undefined;
      if (!this.holding) return;
      const now = performance.now();
      if (now - this.heldSince > 3000) {
        this.show(); // never keep a stale picture up for long
        return;
      }
      const quiet = this.map.loaded() && !this.map.isMoving() && now - this.lastRender > 100;
      if (!quiet) {
        if (sync && gl) gl.deleteSync(sync);
        sync = null;
      } else if (!gl) {
        this.show();
        return;
      } else if (!sync) {
        sync = gl.fenceSync(gl.SYNC_GPU_COMMANDS_COMPLETE, 0);
        gl.flush();
      } else if (gl.getSyncParameter(sync, gl.SYNC_STATUS) === gl.SIGNALED) {
        gl.deleteSync(sync);
        this.show();
        return;
      }
      this.showTimer = window.setTimeout(poll, 40);
    };
    this.showTimer = window.setTimeout(poll, 40);
  }

  private lastRender = 0;

  /** Resolve when the GPU has finished what was submitted (polled; at most 2 s). */
  private gpuDone(): Promise<void> {
    const gl = this.map.getCanvas().getContext("webgl2");
    const sync = gl?.fenceSync(gl.SYNC_GPU_COMMANDS_COMPLETE, 0) ?? null;
    gl?.flush();
    const t0 = performance.now();
    return new Promise((resolve) => {
      const poll = (): void => {
        if (!gl || !sync || gl.getSyncParameter(sync, gl.SYNC_STATUS) === gl.SIGNALED || performance.now() - t0 > 2000) {
          if (gl && sync) gl.deleteSync(sync);
          resolve();
        } else window.setTimeout(poll, 16);
      };
      window.setTimeout(poll, 16);
    });
  }

  /** Milliseconds the last few frames took on the main thread. */
  frameMs = 16;
  /** Milliseconds from a data update to its finished picture (worker, frames, GPU). */
  updateMs = 100;

  /** What one map update costs this machine (to pace updates to it). */
  updateCost(): number {
    return Math.max(this.frameMs, this.updateMs);
  }

  private pendingFrom(list: Iterable<Incident>): void {
    this.pending = [];
    for (const i of list) {
      // Rings for the most urgent unassigned incidents only (the list comes sorted by urgency).
      if (i.location && i.status === "pending" && this.pending.length < MAX_PULSES) this.pending.push({ ...i.location, priority: i.priority });
    }
  }

  setIncidents(list: Incident[], selected: string | null): void {
    this.pendingFrom(list);
    this.set("incidents", incidentFeatures(list, selected));
    this.drawPulse();
  }

  setUnits(list: Iterable<Unit>, selected: string | null): void {
    this.set("units", unitFeatures(list, selected));
  }

  setRoutes(routes: Iterable<{ unitId: string; geometry: LineString; preview: boolean }>): void {
    const features: Feature<LineString>[] = [];
    for (const r of routes) {
      features.push({ type: "Feature", geometry: r.geometry, properties: { unit: r.unitId, preview: r.preview } });
    }
    this.set("routes", { type: "FeatureCollection", features });
  }

  setDevices(list: Iterable<DevicePoint>): void {
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

  /** Alert areas (GET /alerts/areas.geojson: properties origin, state, event). */
  setAlerts(fc: FeatureCollection): void {
    this.set("alerts", fc);
  }

  /** Labels of the cameras' latest counts and behaviours (points with `text`, `alert`). */
  setCameraCounts(fc: FeatureCollection): void {
    this.set("camera-counts", fc);
  }

  /** Citizen reports awaiting moderation (GET /reports/map.geojson). */
  setReports(fc: FeatureCollection): void {
    this.set("reports", fc);
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
