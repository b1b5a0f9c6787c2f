// The API's types, generated from the server's OpenAPI document at build time
// (scripts/build-web: `vigil api openapi` → openapi-typescript → generated/openapi.ts).
// The UI names them here once; a field the server renames or drops breaks the build.

import type { components } from "./generated/openapi";

type Schemas = components["schemas"];

export type LatLon = Schemas["Location"];
export type Incident = Schemas["IncidentOut"];
export type IncidentStatus = Schemas["IncidentStatus"];
export type Unit = Schemas["UnitOut"];
export type UnitStatus = Schemas["UnitStatus"];
export type Role = Schemas["Role"];
export type TokenOut = Schemas["TokenOut"];
export type Recommendation = Schemas["RecommendationOut"];
export type Choice = Schemas["ChoiceOut"];
export type CallOut = Schemas["CallOut"];
export type CallCreated = Schemas["CallCreated"];
export type GeocodeOut = Schemas["GeocodeOut"];
export type ReverseOut = Schemas["ReverseOut"];
export type RouteOut = Schemas["RouteOut"];
export type MapConfig = Schemas["MapConfigOut"];
export type DeviceOut = Schemas["DeviceOut"];
export type DraftOut = Schemas["DraftOut"];
export type EventOut = Schemas["EventOut"];
export type AlertOut = Schemas["AlertOut"];
export type CameraOut = Schemas["CameraOut"];
export type ZoneCountsOut = Schemas["ZoneCountsOut"];
export type CameraLayoutOut = Schemas["CameraLayoutOut"];
export type ZoneShapeOut = Schemas["ZoneShapeOut"];

/** A frame from the live feed: the envelope of a recorded event (the same as the event log's). */
export type FeedEvent = Omit<EventOut, "hash"> & { data: Record<string, unknown> };

// The catalogue endpoint answers a free-form mapping (the YAML's own shape).
export interface IncidentType {
  label: string;
  agency: string;
  priority: number;
  run_card: { capability: string; count: number }[];
}
export interface Catalogue {
  incident_types: Record<string, IncidentType>;
}

// The field unit app.
export type FieldOut = Schemas["FieldOut"];
export type StepOut = Schemas["StepOut"];
export type DeviceRecentOut = Schemas["DeviceRecentOut"];
