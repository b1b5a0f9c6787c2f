// The command centre's side panels, in tab order. Adding a panel: write a module
// here that exports a PanelFactory (see centre/context.ts) and add it to this list.

import type { PanelFactory } from "../centre/context";
import { alertsPanel } from "./alerts";
import { camerasPanel } from "./cameras";
import { devicesPanel } from "./devices";
import { incidentPanel } from "./incident";
import { reportsPanel } from "./reports";
import { unitsPanel } from "./units";

export const PANELS: readonly PanelFactory[] = [
  incidentPanel,
  unitsPanel,
  devicesPanel,
  camerasPanel,
  alertsPanel,
  reportsPanel,
];
