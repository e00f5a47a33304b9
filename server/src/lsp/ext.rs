//! Every custom `heaplens/*` message and every `workspace/executeCommand` result: the Rust
//! types are the definition. `extension/src/generated/protocol.ts` is generated from them (via
//! the JSON Schema in `extension/src/generated/protocol.schema.json`, see
//! [`super::generated`]); `server/PROTOCOL.md` describes them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::notification::Notification;
use tower_lsp_server::ls_types::request::Request;

use crate::heap::Stats;

mod jobs;
mod repl;
mod snapshot_requests;

pub use jobs::*;
pub use repl::*;
pub use snapshot_requests::*;

/// One heap area of a snapshot, with one byte per block (the dump letter), base64-encoded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotArea {
    /// Pool start, hex without `0x`.
    pub address: String,
    pub blocks: usize,
    /// base64 of one dump letter byte per block (`.`, `=`, `h`, `T`, `L`, `D`, `S`, `A`, `F`,
    /// `B`, `M`, `m`).
    pub kinds: String,
}

/// Where a run's allocation was made: `offset` is the byte offset of its head inside `area`,
/// `line` the 0-based line of the snapshot's `file`, or of `uri` when given (a line of an
/// imported project module).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AllocationLine {
    pub area: usize,
    pub offset: usize,
    pub line: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

/// Which moment of a run a snapshot shows.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotLabel {
    /// Before the script ran (after the soft reset and the probes' set-up).
    Before,
    /// As the script left the heap; for an uncaught exception, the heap at the failure.
    After,
    /// After the script and a final `gc.collect()`: what it really kept.
    AfterGc,
    /// A manual capture, or a dump read from a document.
    Capture,
}

impl SnapshotLabel {
    /// The label of a run's snapshot, from the runner's name for it.
    pub fn of_run(label: &str) -> SnapshotLabel {
        match label {
            "before" => SnapshotLabel::Before,
            "after" => SnapshotLabel::After,
            "after-gc" => SnapshotLabel::AfterGc,
            _ => SnapshotLabel::Capture,
        }
    }
}

/// `heaplens/snapshot` params and `heaplens/getSnapshot` result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotParams {
    pub id: String,
    pub label: SnapshotLabel,
    /// Document URI of the run (or of the dump document), null for a manual capture.
    pub file: Option<String>,
    pub run_id: Option<u64>,
    /// RFC 3339.
    pub time: String,
    /// 1-based number of the dump in its document, when the document holds several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dump: Option<usize>,
    /// What every surface calls this snapshot: `before`, `at end`, `at failure`, `at stop`,
    /// `after gc`, `capture`, `dump 2`.
    pub name: String,
    pub stats: Stats,
    /// `None` for a dump whose block size nothing determines.
    pub block_bytes: Option<u64>,
    pub areas: Vec<SnapshotArea>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allocation_lines: Vec<AllocationLine>,
}

/// Server → client: a heap snapshot was taken.
pub enum SnapshotNotification {}
impl Notification for SnapshotNotification {
    type Params = SnapshotParams;
    const METHOD: &'static str = "heaplens/snapshot";
}

/// One sample of the heap timeline.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimelineSample {
    /// Milliseconds since the script started.
    pub t_ms: u64,
    /// Heap bytes in use (`gc.mem_alloc()`).
    pub used: u64,
    /// Heap bytes free (`gc.mem_free()`).
    pub free: u64,
    /// The longest free run in bytes, when the board reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_free: Option<u64>,
}

/// `heaplens/timeline` params: samples of a run's heap, as the board takes them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimelineParams {
    pub run_id: u64,
    /// Document URI of the run's script.
    pub uri: String,
    /// The run's interval between two samples, in milliseconds.
    pub interval_ms: u32,
    /// New samples since the last notification of this run, in time order.
    pub samples: Vec<TimelineSample>,
}

/// Server → client: a run's heap timeline grew (sent while the script runs, a few times a
/// second at most).
pub enum TimelineNotification {}
impl Notification for TimelineNotification {
    type Params = TimelineParams;
    const METHOD: &'static str = "heaplens/timeline";
}

/// One decorated line (0-based).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineDecoration {
    pub line: u32,
    /// Heat level 0 (nothing) to 5 (the line that allocated most).
    pub level: u8,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hover: Option<String>,
}

/// `heaplens/decorations` params.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecorationsParams {
    pub uri: String,
    pub lines: Vec<LineDecoration>,
}

/// Server → client: replace all decorations of a document.
pub enum DecorationsNotification {}
impl Notification for DecorationsNotification {
    type Params = DecorationsParams;
    const METHOD: &'static str = "heaplens/decorations";
}

/// The board as the status bar shows it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum BoardState {
    Connected,
    Simulated,
    Disconnected,
    Busy,
}

/// Why something failed, for clients to act on (never match message text). The same codes
/// give the reason of a `disconnected` board status and of a failed job.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ErrorCode {
    /// The simulated Pico's interpreter (the MicroPython unix port) is not installed.
    SimulatorMissing,
    /// The simulated Pico cannot run on this system (it needs Linux): a board must be attached.
    SimulatorUnsupported,
    /// The simulated Pico could not be started or stopped working.
    SimulatorFailed,
    /// Another program holds the serial port.
    PortBusy,
    /// The user may not open the port (Linux: the `dialout` group).
    PermissionDenied,
    /// No port at that path, or no board with that USB serial number.
    PortNotFound,
    /// Any other failure to open a port.
    OpenFailed,
    /// The board went away mid-operation; it is reopened on the next command.
    Disconnected,
    /// The board did not answer in time.
    Timeout,
    /// The board answered something the raw REPL does not allow.
    Protocol,
    /// HeapLens's own code raised on the board (a capture, the probes' set-up).
    BoardRaised,
    /// The operation was stopped and the board did not stop in time.
    Cancelled,
    /// A heap dump could not be read.
    UnreadableDump,
    /// The probes' results could not be read.
    Probes,
    /// The file to run could not be read (missing, a directory, not UTF-8, not a file URI).
    UnreadableFile,
    /// The workspace is not trusted: HeapLens runs no code from it.
    Untrusted,
    /// A newer run of the same file replaced this one.
    Superseded,
    /// A bug in HeapLens (a panic); the server kept running.
    Internal,
    /// The board has not been opened yet.
    NotConnected,
    /// The simulated Pico is not sandboxed on this machine (no Landlock) and the user has not
    /// allowed running on it anyway (`unsandboxedSimulatorAllowed`).
    NotSandboxed,
}

/// Whether the simulated Pico's interpreter is confined (`heaplens/boardStatus`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SandboxState {
    /// Landlock and seccomp confine it to its flash folder and the project: no other file,
    /// no host program, no network.
    Sandboxed,
    /// The kernel has no Landlock: a script could read and write the user's files and run
    /// programs. The client asks the user once before the first run.
    NotSandboxed,
}

/// `heaplens/boardStatus` params.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BoardStatusParams {
    pub state: BoardState,
    pub port: Option<String>,
    pub firmware: Option<String>,
    /// Free heap bytes in the latest snapshot (`freeSnapshot` names it).
    pub free_bytes: Option<u64>,
    /// The longest free run, in bytes, of the same snapshot.
    pub max_free_bytes: Option<u64>,
    /// Which snapshot the figures come from (`after-gc` of the last run, or a capture).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_snapshot: Option<SnapshotLabel>,
    /// Why the board is disconnected (or what went wrong last), as a code to switch on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ErrorCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For the simulated Pico: whether it is sandboxed here (absent for a serial board).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxState>,
}

/// Server → client: the board's state changed.
pub enum BoardStatusNotification {}
impl Notification for BoardStatusNotification {
    type Params = BoardStatusParams;
    const METHOD: &'static str = "heaplens/boardStatus";
}

/// Which stream output came from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OutputStream {
    /// What the script printed.
    Stdout,
    /// The uncaught exception's traceback (user line numbers).
    Traceback,
    /// Which project files were copied to the board before the run (one line).
    Copied,
}

/// `heaplens/output` params.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutputParams {
    pub run_id: Option<u64>,
    pub stream: OutputStream,
    /// The text (non-UTF-8 bytes replaced with U+FFFD).
    pub text: String,
}

/// Server → client: script output as it streams.
pub enum OutputNotification {}
impl Notification for OutputNotification {
    type Params = OutputParams;
    const METHOD: &'static str = "heaplens/output";
}

/// `heaplens.captureHeap` argument.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct CaptureHeapArgs {
    /// Run `gc.collect()` first.
    pub gc: bool,
}

/// `heaplens.clearSnapshots` result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClearSnapshotsResult {
    /// How many snapshots were dropped.
    pub cleared: usize,
}

/// `heaplens.stop` result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StopResult {
    /// The job that was asked to stop, null when nothing was running.
    pub stopped: Option<u64>,
}

/// A board the user can pick.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BoardChoice {
    pub label: String,
    /// What to pass to `heaplens.selectBoard` (the `heaplens.board` spelling).
    pub board: String,
    pub description: String,
}

/// `heaplens.listBoards` result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListBoardsResult {
    pub boards: Vec<BoardChoice>,
}

/// The `heaplens.*` commands of `workspace/executeCommand`, with their arguments and result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandInfo {
    pub name: &'static str,
    /// The arguments, as the TypeScript signature shows them.
    pub arguments: &'static str,
    /// The name of the result type.
    pub result: &'static str,
}

/// Every command the server handles.
pub const COMMANDS: &[CommandInfo] = &[
    CommandInfo {
        name: "heaplens.captureHeap",
        arguments: "[args?: CaptureHeapArgs]",
        result: "JobStarted",
    },
    CommandInfo {
        name: "heaplens.runFile",
        arguments: "[uri: string]",
        result: "JobStarted",
    },
    CommandInfo {
        name: "heaplens.runPlain",
        arguments: "[uri: string]",
        result: "JobStarted",
    },
    CommandInfo {
        name: "heaplens.stop",
        arguments: "[]",
        result: "StopResult",
    },
    CommandInfo {
        name: "heaplens.softReset",
        arguments: "[]",
        result: "JobStarted",
    },
    CommandInfo {
        name: "heaplens.listBoards",
        arguments: "[]",
        result: "ListBoardsResult",
    },
    CommandInfo {
        name: "heaplens.selectBoard",
        arguments: "[board: string]",
        result: "JobStarted",
    },
    CommandInfo {
        name: "heaplens.compareSnapshots",
        arguments: "[before: string, after: string]",
        result: "DiffResult",
    },
    CommandInfo {
        name: "heaplens.openDump",
        arguments: "[uri: string, index?: number]",
        result: "SnapshotParams",
    },
    CommandInfo {
        name: "heaplens.clearSnapshots",
        arguments: "[]",
        result: "ClearSnapshotsResult",
    },
    CommandInfo {
        name: "heaplens.openRepl",
        arguments: "[]",
        result: "JobStarted",
    },
    CommandInfo {
        name: "heaplens.closeRepl",
        arguments: "[]",
        result: "CloseReplResult",
    },
];

/// A custom method with the names of its params and result types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodInfo {
    pub name: &'static str,
    pub params: &'static str,
    /// `None` for a notification.
    pub result: Option<&'static str>,
}

/// Every custom method.
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "read by the protocol generator (a test)")
)]
pub const METHODS: &[MethodInfo] = &[
    MethodInfo {
        name: SnapshotNotification::METHOD,
        params: "SnapshotParams",
        result: None,
    },
    MethodInfo {
        name: TimelineNotification::METHOD,
        params: "TimelineParams",
        result: None,
    },
    MethodInfo {
        name: DecorationsNotification::METHOD,
        params: "DecorationsParams",
        result: None,
    },
    MethodInfo {
        name: BoardStatusNotification::METHOD,
        params: "BoardStatusParams",
        result: None,
    },
    MethodInfo {
        name: OutputNotification::METHOD,
        params: "OutputParams",
        result: None,
    },
    MethodInfo {
        name: JobStartedNotification::METHOD,
        params: "JobStartedParams",
        result: None,
    },
    MethodInfo {
        name: ReplStateNotification::METHOD,
        params: "ReplStateParams",
        result: None,
    },
    MethodInfo {
        name: ReplOutputNotification::METHOD,
        params: "ReplTextParams",
        result: None,
    },
    MethodInfo {
        name: ReplInputNotification::METHOD,
        params: "ReplTextParams",
        result: None,
    },
    MethodInfo {
        name: JobFinishedNotification::METHOD,
        params: "JobFinishedParams",
        result: None,
    },
    MethodInfo {
        name: ListSnapshots::METHOD,
        params: "ListSnapshotsParams",
        result: Some("ListSnapshotsResult"),
    },
    MethodInfo {
        name: GetSnapshot::METHOD,
        params: "GetSnapshotParams",
        result: Some("SnapshotParams"),
    },
    MethodInfo {
        name: DiffRequest::METHOD,
        params: "DiffParams",
        result: Some("DiffResult"),
    },
];

/// `initializationOptions` as the extension sends them (other clients may send the
/// `heaplens` section alone). The server reads them key by key (`Settings::apply`), so that
/// one bad value does not discard the others; this type describes them for clients.
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "described for the generated protocol")
)]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InitializationOptions {
    /// The `heaplens` configuration section.
    #[serde(default)]
    pub heaplens: Option<super::settings::Settings>,
    /// False in an untrusted workspace: the server then runs no code on any board.
    #[serde(default)]
    pub workspace_trusted: Option<bool>,
    /// True once the user allowed runs on a simulated Pico that is not sandboxed on this
    /// machine (the client asks once); until then such runs fail with `notSandboxed`.
    #[serde(default)]
    pub unsandboxed_simulator_allowed: Option<bool>,
    /// True when the client shows failed board jobs itself (from `heaplens/jobFinished`'s
    /// error code, with actions such as installing the simulated Pico): the server then sends
    /// no `window/showMessage` for them. Other clients get the message.
    #[serde(default)]
    pub client_shows_job_errors: Option<bool>,
}
