// What the command centre offers its panels, and what a panel is.
//
// Adding a panel is one module under panels/ that exports a PanelFactory, and one
// line in panels/index.ts. The shell gives the panel a tab (with its shortcut key),
// feeds it every live event, calls render() once per batch of changes, lists its
// keys in the help dialog, and hands it the map, the API and the selection.

import type { Abilities, Api, Session } from "../api";
import type { Change, Picture } from "../model";
import type { Catalogue, FeedEvent } from "../types";
import type { ServerClock } from "../clock";
import type { MapControl } from "./mapctl";

/** A key a panel answers while no dialog is open and no field has focus. */
export interface KeyBinding {
  /** KeyboardEvent.key values (e.g. ["a", "A"]). */
  keys: string[];
  /** Shown in the help dialog (e.g. "A"). */
  label: string;
  help: string;
  run: (e: KeyboardEvent) => void;
}

export interface Panel {
  /** Tab id: `tab-<key>`, `panel-<key>`. */
  readonly key: string;
  readonly label: string;
  /** The single key that opens the tab. */
  readonly shortcut: string;
  readonly element: HTMLElement;
  /** Live-feed event types this panel needs beyond the core ones (see live.ts). */
  readonly events?: readonly string[];
  readonly keys?: readonly KeyBinding[];
  /** A change to the live picture of incidents and units (mark what to redraw; cheap). */
  note?(c: Change): void;
  /** Every live event, after the picture applied it (for records the panel keeps itself). */
  onEvent?(ev: FeedEvent): void;
  /** Redraw what was marked; called once per coalesced batch of events. */
  render?(): void;
  /** Load the panel's own data once the queue is drawn (optional endpoints answer null). */
  load?(): Promise<void>;
  /** An incident was selected (the shell then shows the incident tab). */
  onSelect?(incidentId: string): void | Promise<void>;
  /** A unit was selected (previous: the one selected before, if any). */
  onSelectUnit?(unitId: string, previous: string | null, showBoard: boolean): void;
}

export type PanelFactory = (centre: Centre) => Panel;

export interface Centre {
  readonly api: Api;
  readonly session: Session;
  readonly can: Abilities;
  readonly picture: Picture;
  readonly map: MapControl;
  /** The server's clock (real or simulated): every age on screen comes from it. */
  readonly clock: ServerClock;
  catalogue(): Catalogue;
  /** The selected incident and unit. */
  readonly selection: { incident: string | null; unit: string | null };
  select(incidentId: string): Promise<void>;
  selectUnit(unitId: string, showBoard: boolean): void;
  showTab(key: string): void;
  toast(text: string, bad?: boolean): void;
  openModal(title: string, body: HTMLElement, focus?: HTMLElement): void;
  closeModal(): void;
  /** While set, a map click places a point here instead of selecting. */
  pick(onPick: ((at: { lat: number; lon: number }) => void) | null): void;
  /** Redraw after a change made outside the feed (e.g. a command's answer). */
  changed(c: Change): void;
}
