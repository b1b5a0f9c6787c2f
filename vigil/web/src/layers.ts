// Map layer groups (kept apart from map.ts so the page can draw the queue before
// the map library has even been parsed).

export type LayerName = "incidents" | "units" | "routes" | "devices" | "cameras" | "zones" | "alerts" | "labels";

export const LAYER_GROUPS: Record<LayerName, string[]> = {
  incidents: ["incident-dot", "incident-label", "incident-code"],
  units: ["unit-dot", "unit-label"],
  routes: ["route-casing", "route-line"],
  devices: ["device-dot"],
  cameras: ["camera-dot", "camera-label"],
  zones: ["zone-fill", "zone-line"],
  alerts: ["alert-fill", "alert-line"],
  labels: ["road-label"],
};
