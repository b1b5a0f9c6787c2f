// Map layer groups (kept apart from map.ts so the page can draw the queue before
// the map library has even been parsed).

export type LayerName = "incidents" | "units" | "routes" | "devices" | "cameras" | "zones" | "alerts" | "reports" | "labels";

export const LAYER_GROUPS: Record<LayerName, string[]> = {
  incidents: ["incident-dot", "incident-label", "incident-code"],
  units: ["unit-dot", "unit-label"],
  routes: ["route-casing", "route-line"],
  devices: ["device-dot"],
  cameras: ["camera-dot", "camera-label", "camera-count"],
  zones: ["zone-fill", "zone-line"],
  alerts: ["alert-fill", "alert-line", "alert-line-draft", "alert-line-external", "alert-label"],
  reports: ["report-dot", "report-label"],
  labels: ["road-label"],
};
