/**
 * Messages between the extension host and the heap map webview. Shared by both bundles;
 * types only.
 */
import type { DiffResult, Snapshot, SnapshotSummary, TimelineParams } from "../protocol";

import type { MapMode } from "./render";
export type { MapMode } from "./render";

/** View options; every field optional in an `options` message (only given ones change). */
export interface MapOptions {
  mode: MapMode;
  showFree: boolean;
  /** Pixels per block side (1..16); 0 = "fit": as large as lets the whole heap fill the panel. */
  zoom: number;
  /** Blocks per row; 0 = fit the panel width. */
  columns: number;
}

/** Extension → webview. */
export type ToWebview =
  | { type: "snapshot"; snapshot: Snapshot }
  | { type: "snapshots"; list: SnapshotSummary[] }
  | { type: "diff"; diff: DiffResult }
  /** New samples of a run's heap timeline (`heaplens/timeline`), for the live plot. */
  | { type: "timeline"; timeline: TimelineParams }
  | ({ type: "options" } & Partial<MapOptions>);

/** Webview → extension. */
export type FromWebview =
  | { type: "ready" }
  | { type: "select"; id: string }
  | { type: "compare"; before: string; after: string }
  | { type: "revealLine"; file: string; line: number }
  /** The user changed the view options: remember them for the next time the map opens. */
  | { type: "saveOptions"; options: MapOptions }
  /** Clear the snapshot list (the server drops its snapshots). */
  | { type: "clear" };
