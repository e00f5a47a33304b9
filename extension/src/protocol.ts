/**
 * TypeScript mirror of every custom message in `server/PROTOCOL.md` (Rust side:
 * `server/src/lsp/ext.rs`). This file must not contain logic: only wire types and the method
 * names, so a drift test can compare it with the Rust types.
 */

/** A free-run histogram bucket of `Stats.free_runs`. */
export interface FreeRunBucket {
  min_blocks: number;
  max_blocks: number;
  runs: number;
  blocks: number;
}

/** The kind names used as keys of `Stats.by_kind`. */
export type KindName =
  | "free"
  | "tail"
  | "other"
  | "tuple"
  | "list"
  | "dict"
  | "str"
  | "array"
  | "float"
  | "function"
  | "module"
  | "marked";

/**
 * Exactly the object printed by `heaplens stats --json` (snake_case keys on purpose). A figure
 * the dump does not determine is null (a header without `max free sz`, a block size nothing
 * fixes, a partial map); `warnings` says why. Snapshots of a live board have every figure.
 */
export interface Stats {
  gc_total: number | null;
  used: number | null;
  free: number | null;
  block_bytes: number | null;
  blocks_total: number | null;
  one_blocks: number | null;
  two_blocks: number | null;
  max_block_blocks: number | null;
  max_free_blocks: number | null;
  max_free_bytes: number | null;
  fragmentation: number | null;
  free_runs: FreeRunBucket[];
  by_kind: Partial<Record<KindName, number>>;
  stack_used: number | null;
  stack_total: number | null;
  warnings: string[];
}

/** One heap area of a snapshot. `kinds` is base64 of one dump letter byte per block. */
export interface SnapshotArea {
  /** Pool start, hex without `0x`. */
  address: string;
  blocks: number;
  kinds: string;
}

export type SnapshotLabel = "before" | "after" | "after-gc" | "capture";

/** Where a run's allocation came from. `area` indexes `areas`, `offset` is a byte offset. */
export interface AllocationLine {
  area: number;
  offset: number;
  /** 0-based line in the run's document. */
  line: number;
}

/** `heaplens/snapshot` notification params, also the `heaplens/getSnapshot` result. */
export interface Snapshot {
  id: string;
  label: SnapshotLabel;
  /** Document URI of the run, or null for a manual capture. */
  file: string | null;
  runId: number | null;
  /** RFC 3339. */
  time: string;
  /** 1-based number of the dump in its document, when the document holds several. */
  dump?: number;
  stats: Stats;
  /** null when nothing in the dump determines the block size. */
  blockBytes: number | null;
  areas: SnapshotArea[];
  allocationLines?: AllocationLine[];
}

/** One decorated line of `heaplens/decorations`. */
export interface DecorationLine {
  /** 0-based. */
  line: number;
  /** Heat level 0..5. */
  level: number;
  text: string;
  hover?: string;
}

/** `heaplens/decorations` params: replaces all decorations of that document. */
export interface DecorationsParams {
  uri: string;
  lines: DecorationLine[];
}

export type BoardState = "connected" | "simulated" | "disconnected" | "busy";

/** `heaplens/boardStatus` params. */
export interface BoardStatus {
  state: BoardState;
  port: string | null;
  firmware: string | null;
  freeBytes: number | null;
  maxFreeBytes: number | null;
  message?: string;
}

/** `heaplens/output` params: script output as it streams. */
export interface OutputParams {
  runId: number | null;
  stream: "stdout" | "stderr";
  text: string;
}

/** An entry of `heaplens/listSnapshots`. */
export interface SnapshotSummary {
  id: string;
  label: SnapshotLabel;
  file: string | null;
  runId: number | null;
  time: string;
  /** 1-based number of the dump in its document, when the document holds several. */
  dump?: number;
  /** `Stats.used` and `Stats.gc_total`, so a timeline can plot a series; null when unknown. */
  used: number | null;
  gcTotal: number | null;
}

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface ListSnapshotsParams {}

export interface ListSnapshotsResult {
  snapshots: SnapshotSummary[];
}

export interface GetSnapshotParams {
  id: string;
}

export interface DiffParams {
  before: string;
  after: string;
}

/** Per-block diff codes of `DiffArea.codes`. */
export const DiffCode = {
  FreeInBoth: 0,
  Same: 1,
  Allocated: 2,
  Freed: 3,
  ChangedKind: 4,
} as const;
export type DiffCode = (typeof DiffCode)[keyof typeof DiffCode];

export interface DiffArea {
  address: string;
  blocks: number;
  /** base64, one `DiffCode` byte per block. */
  codes: string;
}

/** `heaplens/diff` result. `totals` is the JSON of `heaplens diff --json` (opaque here). */
export interface DiffResult {
  before: string;
  after: string;
  /** null when neither snapshot's block size is known. */
  blockBytes: number | null;
  areas: DiffArea[];
  totals: Record<string, unknown>;
}

/** A board offered by `heaplens.selectBoard` without arguments. */
export interface BoardChoice {
  label: string;
  board: string;
  description: string;
}

/** `heaplens.captureHeap` argument. */
export interface CaptureHeapArgs {
  gc?: boolean;
}

/** Method names of the custom messages. */
export const Method = {
  snapshot: "heaplens/snapshot",
  decorations: "heaplens/decorations",
  boardStatus: "heaplens/boardStatus",
  output: "heaplens/output",
  listSnapshots: "heaplens/listSnapshots",
  getSnapshot: "heaplens/getSnapshot",
  diff: "heaplens/diff",
} as const;

/** Server commands run through `workspace/executeCommand`. */
export const ServerCommand = {
  captureHeap: "heaplens.captureHeap",
  runFile: "heaplens.runFile",
  stop: "heaplens.stop",
  softReset: "heaplens.softReset",
  selectBoard: "heaplens.selectBoard",
  compareSnapshots: "heaplens.compareSnapshots",
  openDump: "heaplens.openDump",
} as const;

/**
 * Params (and, for requests, result) type of every custom method. Types only: it lets the
 * drift test (test/unit/protocolDrift.test.ts) pair each method with its Rust types.
 */
export interface MethodTypes {
  "heaplens/snapshot": { params: Snapshot };
  "heaplens/decorations": { params: DecorationsParams };
  "heaplens/boardStatus": { params: BoardStatus };
  "heaplens/output": { params: OutputParams };
  "heaplens/listSnapshots": { params: ListSnapshotsParams; result: ListSnapshotsResult };
  "heaplens/getSnapshot": { params: GetSnapshotParams; result: Snapshot };
  "heaplens/diff": { params: DiffParams; result: DiffResult };
}

/**
 * Settings sent as `initializationOptions` and in `workspace/didChangeConfiguration`
 * (`{ settings: { heaplens: HeapLensSettings } }`). Mirrors the extension's configuration.
 */
export interface HeapLensSettings {
  board: string;
  simulatedHeapBytes: number;
  runOnSave: boolean;
  softResetBeforeRun: boolean;
  /** Attribute each allocation of a run to its line (`allocationLines` of the after snapshot). */
  traceAllocations: boolean;
  /**
   * Probe loop and function bodies for their first N executions only; 0 = every execution;
   * "auto" = every execution where probes are cheap (the simulated Pico), else 64.
   */
  sampleExecutions: number | "auto";
  thresholds: { lineBytes: number; fragmentationPercent: number };
  /** False in an untrusted workspace; the server then never runs code on save. */
  workspaceTrusted: boolean;
}
