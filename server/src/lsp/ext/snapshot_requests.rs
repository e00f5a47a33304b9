//! The snapshot requests: `heaplens/listSnapshots`, `heaplens/getSnapshot`, `heaplens/diff`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::request::Request;

use super::*;

/// An entry of `heaplens/listSnapshots`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotSummary {
    pub id: String,
    pub label: SnapshotLabel,
    pub file: Option<String>,
    pub run_id: Option<u64>,
    pub time: String,
    /// 1-based number of the dump in its document, when the document holds several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dump: Option<usize>,
    /// What every surface calls this snapshot (see [`SnapshotParams::name`]).
    pub name: String,
    /// Bytes in use and heap size (`Stats.used`, `Stats.gc_total`), so a timeline can plot a
    /// series without fetching every snapshot; `None` where the dump does not determine them.
    pub used: Option<u64>,
    pub gc_total: Option<u64>,
}

/// `heaplens/listSnapshots` params (none).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct ListSnapshotsParams {}

/// `heaplens/listSnapshots` result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
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

/// `heaplens/getSnapshot` params.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
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

/// `heaplens/diff` params.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct DiffParams {
    pub before: String,
    pub after: String,
}

/// One area of a diff: one code per block (0 free in both, 1 same allocation, 2 allocated,
/// 3 freed, 4 changed kind), base64-encoded, and each side's dump letters of the same blocks
/// (base64; `.` past the end of a side's area), so a block's tooltip names both kinds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiffArea {
    pub address: String,
    pub blocks: usize,
    pub codes: String,
    pub kinds_before: String,
    pub kinds_after: String,
}

/// `heaplens/diff` result, also the `heaplens.compareSnapshots` result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiffResult {
    pub before: String,
    pub after: String,
    /// `None` when neither snapshot's block size is known.
    pub block_bytes: Option<u64>,
    pub areas: Vec<DiffArea>,
    /// The object of `heaplens diff --json`.
    pub totals: crate::heap::Diff,
}

/// Client → server: compare two snapshots.
pub enum DiffRequest {}
impl Request for DiffRequest {
    type Params = DiffParams;
    type Result = DiffResult;
    const METHOD: &'static str = "heaplens/diff";
}
