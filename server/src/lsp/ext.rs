//! The custom `heaplens/*` messages, mirrored in `extension/src/protocol.ts` and listed in
//! `server/PROTOCOL.md`; `extension/test/unit/protocolDrift.test.ts` fails when the three disagree.

use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::notification::Notification;
use tower_lsp_server::ls_types::request::Request;

/// One heap area of a snapshot, with one byte per block (the dump letter), base64-encoded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotArea {
    pub address: String,
    pub blocks: usize,
    pub kinds: String,
}

/// Where a run's allocation was made: `offset` is the byte offset of its head inside `area`,
/// `line` the 0-based document line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AllocationLine {
    pub area: usize,
    pub offset: usize,
    pub line: u32,
}

/// `heaplens/snapshot` params and `heaplens/getSnapshot` result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotParams {
    pub id: String,
    /// `before`, `after`, `after-gc` or `capture`.
    pub label: String,
    pub file: Option<String>,
    pub run_id: Option<u64>,
    pub time: String,
    /// 1-based number of the dump in its document, when the document holds several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dump: Option<usize>,
    pub stats: serde_json::Value,
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

/// One decorated line (0-based).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LineDecoration {
    pub line: u32,
    /// Heat level 0 (nothing) to 5 (the line that allocated most).
    pub level: u8,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hover: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum BoardState {
    Connected,
    Simulated,
    Disconnected,
    Busy,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BoardStatusParams {
    pub state: BoardState,
    pub port: Option<String>,
    pub firmware: Option<String>,
    pub free_bytes: Option<u64>,
    pub max_free_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Server → client: the board's state changed.
pub enum BoardStatusNotification {}
impl Notification for BoardStatusNotification {
    type Params = BoardStatusParams;
    const METHOD: &'static str = "heaplens/boardStatus";
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OutputParams {
    pub run_id: Option<u64>,
    /// `stdout` or `stderr`.
    pub stream: String,
    pub text: String,
}

/// Server → client: script output as it streams.
pub enum OutputNotification {}
impl Notification for OutputNotification {
    type Params = OutputParams;
    const METHOD: &'static str = "heaplens/output";
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotSummary {
    pub id: String,
    pub label: String,
    pub file: Option<String>,
    pub run_id: Option<u64>,
    pub time: String,
    /// 1-based number of the dump in its document, when the document holds several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dump: Option<usize>,
    /// Bytes in use and heap size (`Stats.used`, `Stats.gc_total`), so a timeline can plot a
    /// series without fetching every snapshot; `None` where the dump does not determine them.
    pub used: Option<u64>,
    pub gc_total: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ListSnapshotsParams {}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ListSnapshotsResult {
    pub snapshots: Vec<SnapshotSummary>,
}

/// Client → server: every snapshot the server holds, oldest first.
pub enum ListSnapshots {}
impl Request for ListSnapshots {
    type Params = ListSnapshotsParams;
    type Result = ListSnapshotsResult;
    const METHOD: &'static str = "heaplens/listSnapshots";
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GetSnapshotParams {
    pub id: String,
}

/// Client → server: one snapshot, as `heaplens/snapshot` sent it.
pub enum GetSnapshot {}
impl Request for GetSnapshot {
    type Params = GetSnapshotParams;
    type Result = SnapshotParams;
    const METHOD: &'static str = "heaplens/getSnapshot";
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DiffParams {
    pub before: String,
    pub after: String,
}

/// One area of a diff: one code per block (0 free in both, 1 same allocation, 2 allocated,
/// 3 freed, 4 changed kind), base64-encoded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DiffArea {
    pub address: String,
    pub blocks: usize,
    pub codes: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DiffResult {
    pub before: String,
    pub after: String,
    /// `None` when neither snapshot's block size is known.
    pub block_bytes: Option<u64>,
    pub areas: Vec<DiffArea>,
    /// The object of `heaplens diff --json`.
    pub totals: serde_json::Value,
}

/// Client → server: compare two snapshots.
pub enum DiffRequest {}
impl Request for DiffRequest {
    type Params = DiffParams;
    type Result = DiffResult;
    const METHOD: &'static str = "heaplens/diff";
}

/// Every custom method name, for the drift test against PROTOCOL.md and protocol.ts.
pub const METHODS: &[&str] = &[
    SnapshotNotification::METHOD,
    DecorationsNotification::METHOD,
    BoardStatusNotification::METHOD,
    OutputNotification::METHOD,
    ListSnapshots::METHOD,
    GetSnapshot::METHOD,
    DiffRequest::METHOD,
];

/// Every `workspace/executeCommand` command the server handles.
pub const COMMANDS: &[&str] = &[
    "heaplens.captureHeap",
    "heaplens.runFile",
    "heaplens.stop",
    "heaplens.softReset",
    "heaplens.selectBoard",
    "heaplens.compareSnapshots",
    "heaplens.openDump",
];

/// Method names as `&'static str` constants for `LspService::custom_method`.
pub const LIST_SNAPSHOTS: &str = "heaplens/listSnapshots";
pub const GET_SNAPSHOT: &str = "heaplens/getSnapshot";
pub const DIFF: &str = "heaplens/diff";
