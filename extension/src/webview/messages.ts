/**
 * Messages between the extension host and the heap map webview. Shared by both bundles;
 * types only.
 */
import type { DiffResult, Snapshot, SnapshotSummary } from "../protocol";

import type { MapMode } from "./render";
export type { MapMode } from "./render";

/** View options; every field optional in an `options` message (only given ones change). */
export interface MapOptions {
  mode: MapMode;
  showFree: boolean;
  /** Pixels per block side (1..16). */
  zoom: number;
  /** Blocks per row; 0 = fit the panel width. */
  columns: number;
}

/** Extension → webview. */
export type ToWebview =
  | { type: "snapshot"; snapshot: Snapshot }
  | { type: "snapshots"; list: SnapshotSummary[] }
  | { type: "diff"; diff: DiffResult }
  | ({ type: "options" } & Partial<MapOptions>);

/** Webview → extension. */
export type FromWebview =
  | { type: "ready" }
  | { type: "select"; id: string }
  | { type: "compare"; before: string; after: string }
  | { type: "revealLine"; file: string; line: number };
