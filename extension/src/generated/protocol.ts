/* Generated from server/src/lsp/ext.rs and settings.rs (via protocol.schema.json) by
 * `npm run generate`. Do not edit: change the Rust types, then run
 * `UPDATE_GENERATED=1 cargo test --lib generated` and `npm run generate`. */

/**
 * Which moment of a run a snapshot shows.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "SnapshotLabel".
 */
export type SnapshotLabel = "before" | "after" | "after-gc" | "capture";
/**
 * Why something failed, for clients to act on (never match message text). The same codes
 * give the reason of a `disconnected` board status and of a failed job.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "ErrorCode".
 */
export type ErrorCode =
  | "simulatorMissing"
  | "simulatorUnsupported"
  | "simulatorFailed"
  | "portBusy"
  | "permissionDenied"
  | "portNotFound"
  | "openFailed"
  | "disconnected"
  | "timeout"
  | "protocol"
  | "boardRaised"
  | "cancelled"
  | "unreadableDump"
  | "probes"
  | "unreadableFile"
  | "untrusted"
  | "superseded"
  | "internal"
  | "notConnected"
  | "notSandboxed";
/**
 * Whether the simulated Pico's interpreter is confined (`heaplens/boardStatus`).
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "SandboxState".
 */
export type SandboxState = "sandboxed" | "notSandboxed";
/**
 * The board as the status bar shows it.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "BoardState".
 */
export type BoardState = "connected" | "simulated" | "disconnected" | "busy";
/**
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "BlockKind".
 */
export type BlockKind =
  "free" | "tail" | "other" | "tuple" | "list" | "dict" | "str" | "array" | "float" | "function" | "module" | "marked";
/**
 * What kind of board job a `heaplens/jobFinished` reports.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "JobKind".
 */
export type JobKind = ("run" | "capture" | "softReset" | "selectBoard") | "plainRun" | "repl";
/**
 * Which stream output came from.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "OutputStream".
 */
export type OutputStream = "stdout" | "traceback" | "copied";
/**
 * Whether the REPL terminal has the board.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "ReplState".
 */
export type ReplState = "attached" | "released" | "closed";
/**
 * How [`Snapshot::block_bytes`] was established.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "BlockBytesSource".
 */
export type BlockBytesSource = "map_offsets" | "gc_total" | "header_arithmetic" | "given" | "unknown";
/**
 * How much of the heap the dump's map shows.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "MapState".
 */
export type MapState = "absent" | "complete" | "unchecked" | "partial";
/**
 * Where a figure comes from.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "Source".
 */
export type Source = "header" | "map";

/**
 * Generated from server/src/lsp/ext.rs and settings.rs by `UPDATE_GENERATED=1 cargo test --lib generated`. Do not edit.
 */
export interface HeapLensProtocol {
  BoardStatusParams?: BoardStatusParams;
  CaptureHeapArgs?: CaptureHeapArgs;
  ClearSnapshotsResult?: ClearSnapshotsResult;
  CloseReplResult?: CloseReplResult;
  DecorationsParams?: DecorationsParams;
  DiffParams?: DiffParams;
  DiffResult?: DiffResult;
  GetSnapshotParams?: GetSnapshotParams;
  InitializationOptions?: InitializationOptions;
  JobFinishedParams?: JobFinishedParams;
  JobStarted?: JobStarted;
  JobStartedParams?: JobStartedParams;
  ListBoardsResult?: ListBoardsResult;
  ListSnapshotsParams?: ListSnapshotsParams;
  ListSnapshotsResult?: ListSnapshotsResult;
  OutputParams?: OutputParams;
  ReplStateParams?: ReplStateParams;
  ReplTextParams?: ReplTextParams;
  Settings?: Settings;
  SnapshotParams?: SnapshotParams;
  StopResult?: StopResult;
  TimelineParams?: TimelineParams;
}
/**
 * `heaplens/boardStatus` params.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "BoardStatusParams".
 */
export interface BoardStatusParams {
  firmware: string | null;
  /**
   * Free heap bytes in the latest snapshot (`freeSnapshot` names it).
   */
  freeBytes: number | null;
  /**
   * Which snapshot the figures come from (`after-gc` of the last run, or a capture).
   */
  freeSnapshot?: SnapshotLabel | null;
  /**
   * The longest free run, in bytes, of the same snapshot.
   */
  maxFreeBytes: number | null;
  message?: string | null;
  port: string | null;
  /**
   * Why the board is disconnected (or what went wrong last), as a code to switch on.
   */
  reason?: ErrorCode | null;
  /**
   * For the simulated Pico: whether it is sandboxed here (absent for a serial board).
   */
  sandbox?: SandboxState | null;
  state: BoardState;
}
/**
 * `heaplens.captureHeap` argument.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "CaptureHeapArgs".
 */
export interface CaptureHeapArgs {
  /**
   * Run `gc.collect()` first.
   */
  gc: boolean;
}
/**
 * `heaplens.clearSnapshots` result.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "ClearSnapshotsResult".
 */
export interface ClearSnapshotsResult {
  /**
   * How many snapshots were dropped.
   */
  cleared: number;
}
/**
 * `heaplens.closeRepl` result.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "CloseReplResult".
 */
export interface CloseReplResult {
  /**
   * False when no REPL was open.
   */
  closed: boolean;
}
/**
 * `heaplens/decorations` params.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "DecorationsParams".
 */
export interface DecorationsParams {
  lines: LineDecoration[];
  uri: string;
}
/**
 * One decorated line (0-based).
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "LineDecoration".
 */
export interface LineDecoration {
  hover?: string | null;
  /**
   * Heat level 0 (nothing) to 5 (the line that allocated most).
   */
  level: number;
  line: number;
  text: string;
}
/**
 * `heaplens/diff` params.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "DiffParams".
 */
export interface DiffParams {
  after: string;
  before: string;
}
/**
 * `heaplens/diff` result, also the `heaplens.compareSnapshots` result.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "DiffResult".
 */
export interface DiffResult {
  after: string;
  areas: DiffArea[];
  before: string;
  /**
   * `None` when neither snapshot's block size is known.
   */
  blockBytes: number | null;
  /**
   * The object of `heaplens diff --json`.
   */
  totals: Diff;
}
/**
 * One area of a diff: one code per block (0 free in both, 1 same allocation, 2 allocated,
 * 3 freed, 4 changed kind), base64-encoded, and each side's dump letters of the same blocks
 * (base64; `.` past the end of a side's area), so a block's tooltip names both kinds.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "DiffArea".
 */
export interface DiffArea {
  address: string;
  blocks: number;
  codes: string;
  kindsAfter: string;
  kindsBefore: string;
}
/**
 * The difference between two snapshots. Serialises to the `heaplens diff --json` object.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "Diff".
 */
export interface Diff {
  /**
   * Blocks of allocations present after but not before.
   */
  allocated_blocks: number;
  /**
   * Bytes of allocations present after but not before (`None`: block size unknown).
   */
  allocated_bytes: number | null;
  /**
   * Block size of the after snapshot (else of the before one).
   */
  block_bytes: number | null;
  /**
   * Number of allocations present before but not after.
   */
  freed_allocation_count: number;
  /**
   * Blocks of allocations present before but not after.
   */
  freed_blocks: number;
  /**
   * Bytes of allocations present before but not after.
   */
  freed_bytes: number | null;
  /**
   * The largest freed allocations (at most [`LISTED_ALLOCATIONS`]), largest first.
   */
  largest_freed_allocations: AllocationChange[];
  /**
   * The largest new allocation.
   */
  largest_new_allocation: AllocationChange | null;
  /**
   * The largest new allocations (at most [`LISTED_ALLOCATIONS`]), largest first.
   */
  largest_new_allocations: AllocationChange[];
  max_free_blocks_after: number | null;
  /**
   * Longest free run of each side (its figure: header, else complete map).
   */
  max_free_blocks_before: number | null;
  /**
   * allocated − freed.
   */
  net_bytes: number | null;
  /**
   * Number of allocations present after but not before.
   */
  new_allocation_count: number;
  /**
   * Notes such as "the maps differ in length".
   */
  warnings: string[];
}
/**
 * An allocation that exists on only one side.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "AllocationChange".
 */
export interface AllocationChange {
  area: number;
  /**
   * Block index of the head within its area.
   */
  block: number;
  blocks: number;
  /**
   * `None` when the block size is unknown.
   */
  bytes: number | null;
  kind: BlockKind;
  /**
   * Byte offset of the head within its area (`None` when the block size is unknown).
   */
  offset: number | null;
}
/**
 * `heaplens/getSnapshot` params.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "GetSnapshotParams".
 */
export interface GetSnapshotParams {
  id: string;
}
/**
 * `initializationOptions` as the extension sends them (other clients may send the
 * `heaplens` section alone). The server reads them key by key (`Settings::apply`), so that
 * one bad value does not discard the others; this type describes them for clients.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "InitializationOptions".
 */
export interface InitializationOptions {
  /**
   * True when the client shows failed board jobs itself (from `heaplens/jobFinished`'s
   * error code, with actions such as installing the simulated Pico): the server then sends
   * no `window/showMessage` for them. Other clients get the message.
   */
  clientShowsJobErrors: boolean | null;
  /**
   * The `heaplens` configuration section.
   */
  heaplens: Settings | null;
  /**
   * True once the user allowed runs on a simulated Pico that is not sandboxed on this
   * machine (the client asks once); until then such runs fail with `notSandboxed`.
   */
  unsandboxedSimulatorAllowed: boolean | null;
  /**
   * False in an untrusted workspace: the server then runs no code on any board.
   */
  workspaceTrusted: boolean | null;
}
/**
 * Every setting of the `heaplens` section. Field docs are the descriptions users read in the
 * settings editor (Markdown).
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "Settings".
 */
export interface Settings {
  /**
   * Which board runs and captures use: `auto` (the first MicroPython USB board found, else
   * the simulated Pico), `simulated` (a real MicroPython interpreter run locally), a serial
   * port path such as `/dev/ttyACM0` or `COM3`, or `id:SERIAL` (a USB serial number).
   */
  board: string;
  /**
   * Run with the garbage collector disabled: per-line figures are exact allocations, and a
   * `MemoryError` comes sooner.
   */
  exact: boolean;
  /**
   * Show the HeapLens output channel when a run ends with an exception.
   */
  revealOutputOnError: boolean;
  /**
   * Run a Python file on the board with heap capture each time it is saved. Nothing runs
   * in an untrusted workspace.
   */
  runOnSave: boolean;
  /**
   * Seconds before a run is stopped (its report so far is kept); `0` means no limit.
   */
  runTimeoutSeconds: number;
  /**
   * Measure each line's first *N* allocating executions exactly and estimate the later ones
   * from the bytes they requested (`heaplens run --sample=N`): hot loops then run close to
   * full speed. Hits are always exact. `0` measures every execution (exact bytes, slower
   * for hot loops); `"auto"` is 64.
   */
  sampleExecutions: "auto" | number;
  /**
   * The language server binary (read by the extension only).
   */
  server: ServerSettings;
  /**
   * Heap size in bytes given to the simulated Pico's interpreter (`-X heapsize=`). The
   * default gives `GC: total: 232960`, a Pico's heap, of which about 192 KB are free
   * after the Pico modules it loads at boot.
   */
  simulatedHeapBytes: number;
  /**
   * The simulated Pico's interpreter (read by the extension only).
   */
  simulator: SimulatorSettings;
  /**
   * Soft-reset the board before each run, so every run starts from a fresh heap (as the
   * board's `main.py` would).
   */
  softResetBeforeRun: boolean;
  /**
   * When diagnostics and editor marks appear.
   */
  thresholds: ThresholdSettings;
  /**
   * Milliseconds between two samples of the heap timeline while a script runs (the heap
   * map's plot of heap use over time; `heaplens run --timeline-ms`). `0` takes no samples.
   */
  timelineIntervalMs: number;
  /**
   * How much the server logs to its output channel (`off`, `error`, `warn`, `info`,
   * `debug`, `trace`; `trace` includes every raw-REPL exchange with the board).
   */
  trace: TraceSettings;
  /**
   * Record which line made each allocation of a run, so clicking a block in the heap map
   * jumps to its line. Costs a heap dump for each line's first allocating executions.
   */
  traceAllocations: boolean;
}
/**
 * `heaplens.server.*` (client side).
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "ServerSettings".
 */
export interface ServerSettings {
  /**
   * Path to the `heaplens` binary. Empty: the one bundled with the extension, else
   * `heaplens` on `PATH`.
   */
  path: string;
}
/**
 * `heaplens.simulator.*` (client side).
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "SimulatorSettings".
 */
export interface SimulatorSettings {
  /**
   * Path to the MicroPython unix interpreter used as the simulated Pico (given to the
   * server as `HEAPLENS_MICROPYTHON`). Empty: the server's default.
   */
  path: string;
}
/**
 * `heaplens.thresholds.*`.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "ThresholdSettings".
 */
export interface ThresholdSettings {
  /**
   * Warn when a run shrinks the longest free run of the heap by more than this percentage
   * (measured after a final `gc.collect()`).
   */
  fragmentationPercent: number;
  /**
   * A line that allocates at least this many bytes gets a heat mark in the gutter and an
   * inline note with its figures.
   */
  hintBytes: number;
  /**
   * A line that allocates at least this many bytes in one run gets a warning diagnostic.
   */
  lineBytes: number;
}
/**
 * `heaplens.trace.*`.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "TraceSettings".
 */
export interface TraceSettings {
  /**
   * Log level of the language server (its output channel): `off`, `error`, `warn`,
   * `info`, `debug` or `trace` (every raw-REPL exchange).
   */
  server: "off" | "error" | "warn" | "info" | "debug" | "trace";
}
/**
 * `heaplens/jobFinished` params: a board job started by a command has ended. Sent after
 * everything the job produced (a run's output, snapshots, diagnostics and decorations).
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "JobFinishedParams".
 */
export interface JobFinishedParams {
  /**
   * Null when the job succeeded.
   */
  error: JobError | null;
  jobId: number;
  kind: JobKind;
  /**
   * A finished run's outcome.
   */
  run?: RunSummary | null;
  /**
   * A capture's snapshot.
   */
  snapshotId?: string | null;
  /**
   * The document a run ran.
   */
  uri?: string | null;
}
/**
 * A job that failed: a code to switch on and a message for people.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "JobError".
 */
export interface JobError {
  code: ErrorCode;
  message: string;
}
/**
 * The outcome of a finished run.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "RunSummary".
 */
export interface RunSummary {
  /**
   * Project files copied to the board before the run (paths relative to the project
   * root).
   */
  copied: string[];
  diagnostics: number;
  elapsedMs: number;
  /**
   * The final exception line (`MemoryError: …`), null when the script ended normally.
   */
  exception: string | null;
  /**
   * The files the run measured (relative to the project root): the script's first.
   */
  files: string[];
  gcCollections: number | null;
  /**
   * False when the script ran without probes (`notInstrumented` says why).
   */
  instrumented: boolean;
  /**
   * Stopped by Stop, a newer run or the timeout.
   */
  interrupted: boolean;
  notInstrumented: string | null;
  /**
   * The code of a `SystemExit` the script raised (null: it did not).
   */
  systemExit: number | null;
  timedOut: boolean;
}
/**
 * The result of every command that starts a board job: the job's id, which
 * `heaplens/jobFinished` (and, for a run, its snapshots and output) will carry.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "JobStarted".
 */
export interface JobStarted {
  jobId: number;
}
/**
 * `heaplens/jobStarted` params: the board began a job that was queued until now.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "JobStartedParams".
 */
export interface JobStartedParams {
  jobId: number;
  kind: JobKind;
  /**
   * The document a run runs.
   */
  uri?: string | null;
}
/**
 * `heaplens.listBoards` result.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "ListBoardsResult".
 */
export interface ListBoardsResult {
  boards: BoardChoice[];
}
/**
 * A board the user can pick.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "BoardChoice".
 */
export interface BoardChoice {
  /**
   * What to pass to `heaplens.selectBoard` (the `heaplens.board` spelling).
   */
  board: string;
  description: string;
  label: string;
}
/**
 * `heaplens/listSnapshots` params (none).
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "ListSnapshotsParams".
 */
export interface ListSnapshotsParams {}
/**
 * `heaplens/listSnapshots` result.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "ListSnapshotsResult".
 */
export interface ListSnapshotsResult {
  snapshots: SnapshotSummary[];
}
/**
 * An entry of `heaplens/listSnapshots`.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "SnapshotSummary".
 */
export interface SnapshotSummary {
  /**
   * 1-based number of the dump in its document, when the document holds several.
   */
  dump?: number | null;
  file: string | null;
  gcTotal: number | null;
  id: string;
  label: SnapshotLabel;
  /**
   * What every surface calls this snapshot (see [`SnapshotParams::name`]).
   */
  name: string;
  runId: number | null;
  time: string;
  /**
   * Bytes in use and heap size (`Stats.used`, `Stats.gc_total`), so a timeline can plot a
   * series without fetching every snapshot; `None` where the dump does not determine them.
   */
  used: number | null;
}
/**
 * `heaplens/output` params.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "OutputParams".
 */
export interface OutputParams {
  runId: number | null;
  stream: OutputStream;
  /**
   * The text (non-UTF-8 bytes replaced with U+FFFD).
   */
  text: string;
}
/**
 * `heaplens/replState` params.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "ReplStateParams".
 */
export interface ReplStateParams {
  message?: string | null;
  state: ReplState;
}
/**
 * `heaplens/replOutput` and `heaplens/replInput` params: bytes of the REPL's conversation
 * (non-UTF-8 output bytes replaced with U+FFFD).
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "ReplTextParams".
 */
export interface ReplTextParams {
  text: string;
}
/**
 * `heaplens/snapshot` params and `heaplens/getSnapshot` result.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "SnapshotParams".
 */
export interface SnapshotParams {
  allocationLines?: AllocationLine[];
  areas: SnapshotArea[];
  /**
   * `None` for a dump whose block size nothing determines.
   */
  blockBytes: number | null;
  /**
   * 1-based number of the dump in its document, when the document holds several.
   */
  dump?: number | null;
  /**
   * Document URI of the run (or of the dump document), null for a manual capture.
   */
  file: string | null;
  id: string;
  label: SnapshotLabel;
  /**
   * What every surface calls this snapshot: `before`, `at end`, `at failure`, `at stop`,
   * `after gc`, `capture`, `dump 2`.
   */
  name: string;
  runId: number | null;
  stats: Stats;
  /**
   * RFC 3339.
   */
  time: string;
}
/**
 * Where a run's allocation was made: `offset` is the byte offset of its head inside `area`,
 * `line` the 0-based line of the snapshot's `file`, or of `uri` when given (a line of an
 * imported project module).
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "AllocationLine".
 */
export interface AllocationLine {
  area: number;
  line: number;
  offset: number;
  uri?: string | null;
}
/**
 * One heap area of a snapshot, with one byte per block (the dump letter), base64-encoded.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "SnapshotArea".
 */
export interface SnapshotArea {
  /**
   * Pool start, hex without `0x`.
   */
  address: string;
  blocks: number;
  /**
   * base64 of one dump letter byte per block (`.`, `=`, `h`, `T`, `L`, `D`, `S`, `A`, `F`,
   * `B`, `M`, `m`).
   */
  kinds: string;
}
/**
 * The figures of a snapshot, as `heaplens stats --json` prints them (keys are part of the
 * protocol: see `server/PROTOCOL.md`).
 *
 * Every figure is what the dump's header states, else what a complete map proves, else
 * `null` (see [`Snapshot::figures`]); `sources` says which, and `warnings` says why a figure
 * is `null`. `free_runs`, `by_kind`, `allocations` and `free_run_count` come from the map
 * alone and only from a complete one. Snapshots of a live board always have every figure.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "Stats".
 */
export interface Stats {
  /**
   * Number of allocations in a complete map.
   */
  allocations: number | null;
  /**
   * Number of heap areas in the map (0 without a map).
   */
  areas: number;
  block_bytes: number | null;
  /**
   * Where `block_bytes` came from.
   */
  block_bytes_source: BlockBytesSource;
  blocks_total: number | null;
  /**
   * Blocks per kind name: an allocation's blocks (head and tails) count for its head's
   * kind; `free` counts free blocks; `tail` only appears for tails with no head. Only
   * kinds present are listed; empty without a complete map.
   */
  by_kind: {
    [k: string]: number;
  };
  /**
   * 1 − longest free run / all free blocks (0 when nothing or everything is in one run).
   */
  fragmentation: number | null;
  free: number | null;
  /**
   * Number of free runs in a complete map.
   */
  free_run_count: number | null;
  /**
   * Histogram of free runs by size class (1, 2, 3–4, 5–8, …); empty without a complete map.
   */
  free_runs: FreeRunBucket[];
  gc_total: number | null;
  /**
   * How much of the heap the map shows.
   */
  map: MapState;
  max_block_blocks: number | null;
  max_free_blocks: number | null;
  max_free_bytes: number | null;
  /**
   * Bytes a split-heap-auto port can still add as a new area (`max new split`).
   */
  max_new_split: number | null;
  one_blocks: number | null;
  /**
   * Where each known figure came from: the dump's header or its map.
   */
  sources: {
    [k: string]: Source;
  };
  stack_total: number | null;
  stack_used: number | null;
  two_blocks: number | null;
  used: number | null;
  warnings: string[];
}
/**
 * One bucket of the free-run histogram: runs of `min_blocks..=max_blocks` free blocks.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "FreeRunBucket".
 */
export interface FreeRunBucket {
  /**
   * Free blocks in those runs.
   */
  blocks: number;
  max_blocks: number;
  min_blocks: number;
  /**
   * Number of free runs in this size class.
   */
  runs: number;
}
/**
 * `heaplens.stop` result.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "StopResult".
 */
export interface StopResult {
  /**
   * The job that was asked to stop, null when nothing was running.
   */
  stopped: number | null;
}
/**
 * `heaplens/timeline` params: samples of a run's heap, as the board takes them.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "TimelineParams".
 */
export interface TimelineParams {
  /**
   * The run's interval between two samples, in milliseconds.
   */
  intervalMs: number;
  runId: number;
  /**
   * New samples since the last notification of this run, in time order.
   */
  samples: TimelineSample[];
  /**
   * Document URI of the run's script.
   */
  uri: string;
}
/**
 * One sample of the heap timeline.
 *
 * This interface was referenced by `HeapLensProtocol`'s JSON-Schema
 * via the `definition` "TimelineSample".
 */
export interface TimelineSample {
  /**
   * Heap bytes free (`gc.mem_free()`).
   */
  free: number;
  /**
   * The longest free run in bytes, when the board reported it.
   */
  maxFree?: number | null;
  /**
   * Milliseconds since the script started.
   */
  tMs: number;
  /**
   * Heap bytes in use (`gc.mem_alloc()`).
   */
  used: number;
}

/** Method names of the custom messages. */
export const Method = {
  "snapshot": "heaplens/snapshot",
  "timeline": "heaplens/timeline",
  "decorations": "heaplens/decorations",
  "boardStatus": "heaplens/boardStatus",
  "output": "heaplens/output",
  "jobStarted": "heaplens/jobStarted",
  "replState": "heaplens/replState",
  "replOutput": "heaplens/replOutput",
  "replInput": "heaplens/replInput",
  "jobFinished": "heaplens/jobFinished",
  "listSnapshots": "heaplens/listSnapshots",
  "getSnapshot": "heaplens/getSnapshot",
  "diff": "heaplens/diff",
} as const;

/** Params (and, for requests, result) type of every custom method. */
export interface MethodTypes {
  "heaplens/snapshot": { params: SnapshotParams };
  "heaplens/timeline": { params: TimelineParams };
  "heaplens/decorations": { params: DecorationsParams };
  "heaplens/boardStatus": { params: BoardStatusParams };
  "heaplens/output": { params: OutputParams };
  "heaplens/jobStarted": { params: JobStartedParams };
  "heaplens/replState": { params: ReplStateParams };
  "heaplens/replOutput": { params: ReplTextParams };
  "heaplens/replInput": { params: ReplTextParams };
  "heaplens/jobFinished": { params: JobFinishedParams };
  "heaplens/listSnapshots": { params: ListSnapshotsParams; result: ListSnapshotsResult };
  "heaplens/getSnapshot": { params: GetSnapshotParams; result: SnapshotParams };
  "heaplens/diff": { params: DiffParams; result: DiffResult };
}

/** Server commands run through `workspace/executeCommand`. */
export const ServerCommand = {
  "captureHeap": "heaplens.captureHeap",
  "runFile": "heaplens.runFile",
  "runPlain": "heaplens.runPlain",
  "stop": "heaplens.stop",
  "softReset": "heaplens.softReset",
  "listBoards": "heaplens.listBoards",
  "selectBoard": "heaplens.selectBoard",
  "compareSnapshots": "heaplens.compareSnapshots",
  "openDump": "heaplens.openDump",
  "clearSnapshots": "heaplens.clearSnapshots",
  "openRepl": "heaplens.openRepl",
  "closeRepl": "heaplens.closeRepl",
} as const;

/** Arguments and result type of every server command. */
export interface CommandTypes {
  "heaplens.captureHeap": { arguments: [args?: CaptureHeapArgs]; result: JobStarted };
  "heaplens.runFile": { arguments: [uri: string]; result: JobStarted };
  "heaplens.runPlain": { arguments: [uri: string]; result: JobStarted };
  "heaplens.stop": { arguments: []; result: StopResult };
  "heaplens.softReset": { arguments: []; result: JobStarted };
  "heaplens.listBoards": { arguments: []; result: ListBoardsResult };
  "heaplens.selectBoard": { arguments: [board: string]; result: JobStarted };
  "heaplens.compareSnapshots": { arguments: [before: string, after: string]; result: DiffResult };
  "heaplens.openDump": { arguments: [uri: string, index?: number]; result: SnapshotParams };
  "heaplens.clearSnapshots": { arguments: []; result: ClearSnapshotsResult };
  "heaplens.openRepl": { arguments: []; result: JobStarted };
  "heaplens.closeRepl": { arguments: []; result: CloseReplResult };
}

export const DiffCode = {
  Allocated: 2,
  ChangedKind: 4,
  FreeInBoth: 0,
  Freed: 3,
  Same: 1,
} as const;
export type DiffCode = (typeof DiffCode)[keyof typeof DiffCode];
