//! Every snapshot the server took this session (run before/after/after-gc and manual
//! captures), kept for the webview's timeline and comparisons. Bounded: the oldest go first.

use std::collections::VecDeque;
use std::sync::Arc;

use base64::Engine as _;

use crate::heap::{self, Snapshot};

use super::ext::{
    AllocationLine, DiffArea, DiffResult, SnapshotArea, SnapshotLabel, SnapshotParams,
    SnapshotSummary,
};

/// How many snapshots are kept (a 524,288-block snapshot is 512 KiB: 100 of them stay small).
const CAPACITY: usize = 100;

struct Stored {
    summary: SnapshotSummary,
    snapshot: Arc<Snapshot>,
    allocation_lines: Vec<AllocationLine>,
}

/// The session's snapshots, oldest first.
#[derive(Default)]
pub struct SnapshotStore {
    items: VecDeque<Stored>,
    next_id: u64,
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

impl SnapshotStore {
    fn push(
        &mut self,
        label: SnapshotLabel,
        file: Option<&str>,
        run_id: Option<u64>,
        dump: Option<usize>,
        snapshot: Arc<Snapshot>,
        allocation_lines: Vec<AllocationLine>,
    ) -> SnapshotParams {
        self.next_id += 1;
        let figures = snapshot.figures();
        let summary = SnapshotSummary {
            id: format!("s{}", self.next_id),
            label,
            file: file.map(str::to_string),
            run_id,
            time: now_rfc3339(),
            dump,
            used: figures.used,
            gc_total: figures.gc_total,
        };
        let stored = Stored {
            summary,
            snapshot,
            allocation_lines,
        };
        let params = payload_of(&stored);
        self.items.push_back(stored);
        while self.items.len() > CAPACITY {
            self.items.pop_front();
        }
        params
    }

    /// Stores one snapshot of a run, as the run takes it, with the line (1-based, as the
    /// runner reports it) of each traced allocation; the payload carries 0-based lines, and
    /// for a line of another file than the script's, that file's document (`uri_of`).
    pub fn add_run_snapshot(
        &mut self,
        label: SnapshotLabel,
        file: Option<&str>,
        run_id: u64,
        snapshot: Snapshot,
        allocation_lines: &[crate::run::runner::AllocationLine],
        uri_of: &dyn Fn(&str) -> Option<String>,
    ) -> SnapshotParams {
        let lines = allocation_lines
            .iter()
            .filter(|l| l.line > 0)
            .map(|l| AllocationLine {
                area: l.area,
                offset: l.offset,
                line: l.line - 1,
                uri: uri_of(&l.file),
            })
            .collect();
        self.push(label, file, Some(run_id), None, Arc::new(snapshot), lines)
    }

    /// Stores a manual capture.
    pub fn add_capture(&mut self, snapshot: Snapshot) -> SnapshotParams {
        self.push(
            SnapshotLabel::Capture,
            None,
            None,
            None,
            Arc::new(snapshot),
            Vec::new(),
        )
    }

    /// Stores a snapshot read from a heap dump document; `dump` is its 1-based number when
    /// the document holds several.
    pub fn add_dump(
        &mut self,
        uri: &str,
        dump: Option<usize>,
        snapshot: Snapshot,
    ) -> SnapshotParams {
        self.push(
            SnapshotLabel::Capture,
            Some(uri),
            None,
            dump,
            Arc::new(snapshot),
            Vec::new(),
        )
    }

    pub fn list(&self) -> Vec<SnapshotSummary> {
        self.items.iter().map(|s| s.summary.clone()).collect()
    }

    fn get(&self, id: &str) -> Option<&Stored> {
        self.items.iter().find(|s| s.summary.id == id)
    }

    /// The `heaplens/snapshot` payload of snapshot `id`.
    pub fn payload(&self, id: &str) -> Option<SnapshotParams> {
        self.get(id).map(payload_of)
    }

    /// Compares two stored snapshots block by block.
    pub fn diff(&self, before: &str, after: &str) -> Result<DiffResult, String> {
        let a = self
            .get(before)
            .ok_or_else(|| format!("no snapshot {before}"))?;
        let b = self
            .get(after)
            .ok_or_else(|| format!("no snapshot {after}"))?;
        Ok(diff_payload(before, after, &a.snapshot, &b.snapshot))
    }
}

fn payload_of(stored: &Stored) -> SnapshotParams {
    let snap = &stored.snapshot;
    let b64 = base64::engine::general_purpose::STANDARD;
    SnapshotParams {
        id: stored.summary.id.clone(),
        label: stored.summary.label,
        file: stored.summary.file.clone(),
        run_id: stored.summary.run_id,
        time: stored.summary.time.clone(),
        dump: stored.summary.dump,
        stats: snap.stats(),
        block_bytes: snap.block_bytes.map(u64::from),
        areas: snap
            .areas
            .iter()
            .map(|area| SnapshotArea {
                address: area.address_hex(),
                blocks: area.blocks.len(),
                kinds: b64.encode(area.letters()),
            })
            .collect(),
        allocation_lines: stored.allocation_lines.clone(),
    }
}

/// The `heaplens/diff` result: one change code per block, plus the CLI's totals.
pub fn diff_payload(
    before_id: &str,
    after_id: &str,
    before: &Snapshot,
    after: &Snapshot,
) -> DiffResult {
    let b64 = base64::engine::general_purpose::STANDARD;
    let diff = heap::diff(before, after);
    DiffResult {
        before: before_id.to_string(),
        after: after_id.to_string(),
        block_bytes: after.block_bytes.or(before.block_bytes).map(u64::from),
        areas: diff
            .areas
            .iter()
            .map(|area| DiffArea {
                address: area.address.map(|a| format!("{a:x}")).unwrap_or_default(),
                blocks: area.blocks.len(),
                codes: b64.encode(area.blocks.iter().map(|c| c.code()).collect::<Vec<u8>>()),
            })
            .collect(),
        totals: diff,
    }
}
