//! Every snapshot the server took this session (run before/after/after-gc, manual captures
//! and dumps read from documents), kept for the heap map's snapshot list and comparisons.
//! Bounded: the oldest go first. Reading the same dump of the same document again gives the
//! stored snapshot back instead of a duplicate.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use base64::Engine as _;

use crate::heap::{self, Allocation, BlockKind, Snapshot};

use super::ext::{
    AllocationLine, DiffArea, DiffResult, SnapshotArea, SnapshotLabel, SnapshotParams,
    SnapshotSummary,
};

/// How many snapshots are kept: ten runs' worth, which is what a person compares (a
/// 524,288-block snapshot is 512 KiB, so the store stays small).
pub const CAPACITY: usize = 30;

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

/// How a snapshot ended a run, which names its `after` snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnding {
    /// The script ended by itself.
    End,
    /// An uncaught exception ended it: `after` is the heap at the failure.
    Failure,
    /// Stop, a newer run or the timeout ended it.
    Stop,
}

/// The name every surface gives a snapshot.
fn name_of(label: SnapshotLabel, from_document: bool, dump: Option<usize>) -> String {
    match label {
        SnapshotLabel::Before => "before".into(),
        SnapshotLabel::After => "at end".into(),
        SnapshotLabel::AfterGc => "after gc".into(),
        SnapshotLabel::Capture if from_document => match dump {
            Some(n) => format!("dump {n}"),
            None => "dump".into(),
        },
        SnapshotLabel::Capture => "capture".into(),
    }
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
        let from_document = run_id.is_none() && file.is_some();
        let summary = SnapshotSummary {
            id: format!("s{}", self.next_id),
            label,
            file: file.map(str::to_string),
            run_id,
            time: now_rfc3339(),
            dump,
            name: name_of(label, from_document, dump),
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
    /// for a line of another file than the script's, that file's document (`uri_of`). An
    /// `after-gc` snapshot inherits the lines of the run's `after` allocations it still holds
    /// (a collection never moves an object), so every snapshot of a run links to its lines.
    pub fn add_run_snapshot(
        &mut self,
        label: SnapshotLabel,
        file: Option<&str>,
        run_id: u64,
        snapshot: Snapshot,
        allocation_lines: &[crate::run::runner::AllocationLine],
        uri_of: &dyn Fn(&str) -> Option<String>,
    ) -> SnapshotParams {
        let mut lines: Vec<AllocationLine> = allocation_lines
            .iter()
            .filter(|l| l.line > 0)
            .map(|l| AllocationLine {
                area: l.area,
                offset: l.offset,
                line: l.line - 1,
                uri: uri_of(&l.file),
            })
            .collect();
        if label == SnapshotLabel::AfterGc && lines.is_empty() {
            lines = self.surviving_lines(run_id, &snapshot);
        }
        self.push(label, file, Some(run_id), None, Arc::new(snapshot), lines)
    }

    /// The allocation lines of run `run_id`'s `after` snapshot whose allocation `later` still
    /// holds: same area, head block, length and kind.
    fn surviving_lines(&self, run_id: u64, later: &Snapshot) -> Vec<AllocationLine> {
        let Some(after) =
            self.items.iter().rev().find(|s| {
                s.summary.run_id == Some(run_id) && s.summary.label == SnapshotLabel::After
            })
        else {
            return Vec::new();
        };
        let Some(block_bytes) = later.block_bytes.map(|b| b as usize).filter(|&b| b > 0) else {
            return Vec::new();
        };
        let key = |a: &Allocation| (a.area, a.offset, a.blocks, a.kind);
        let before: HashSet<(usize, usize, usize, BlockKind)> =
            after.snapshot.allocations().map(|a| key(&a)).collect();
        let kept: HashSet<(usize, usize)> = later
            .allocations()
            .filter(|a| before.contains(&key(a)))
            .map(|a| (a.area, a.offset * block_bytes))
            .collect();
        after
            .allocation_lines
            .iter()
            .filter(|l| kept.contains(&(l.area, l.offset)))
            .cloned()
            .collect()
    }

    /// Names run `run_id`'s `after` snapshot by how the run ended ("at failure", "at stop").
    pub fn name_run_ending(&mut self, run_id: u64, ending: RunEnding) {
        let name = match ending {
            RunEnding::End => "at end",
            RunEnding::Failure => "at failure",
            RunEnding::Stop => "at stop",
        };
        for stored in self
            .items
            .iter_mut()
            .filter(|s| s.summary.run_id == Some(run_id) && s.summary.label == SnapshotLabel::After)
        {
            stored.summary.name = name.into();
        }
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
    /// the document holds several. The same dump read again (unchanged) is not stored twice:
    /// it becomes the newest, with its id.
    pub fn add_dump(
        &mut self,
        uri: &str,
        dump: Option<usize>,
        snapshot: Snapshot,
    ) -> SnapshotParams {
        let same = self.items.iter().position(|s| {
            s.summary.run_id.is_none()
                && s.summary.file.as_deref() == Some(uri)
                && s.summary.dump == dump
                && *s.snapshot == snapshot
        });
        // Opened again: it moves to the end (the newest), keeping its id.
        if let Some(stored) = same.and_then(|at| self.items.remove(at)) {
            let params = payload_of(&stored);
            self.items.push_back(stored);
            return params;
        }
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

    /// Drops every snapshot; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let count = self.items.len();
        self.items.clear();
        count
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
        name: stored.summary.name.clone(),
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

/// `count` dump letters of `area` of `snapshot`, `.` past its end (a side whose area is
/// shorter, or missing).
fn letters(snapshot: &Snapshot, area: usize, count: usize) -> Vec<u8> {
    let mut out = snapshot
        .areas
        .get(area)
        .map(|a| a.letters())
        .unwrap_or_default();
    out.resize(count, BlockKind::Free as u8);
    out
}

/// The `heaplens/diff` result: one change code per block and each side's kinds, plus the
/// CLI's totals without their `areas` (the reply's own `areas` carry every block already; the
/// CLI's run strings beside them would only add to the reply's size, which stays about four
/// bytes per block: a few times the dump's text).
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
            .enumerate()
            .map(|(index, area)| DiffArea {
                address: area.address.map(|a| format!("{a:x}")).unwrap_or_default(),
                blocks: area.blocks.len(),
                codes: b64.encode(area.blocks.iter().map(|c| c.code()).collect::<Vec<u8>>()),
                kinds_before: b64.encode(letters(before, index, area.blocks.len())),
                kinds_after: b64.encode(letters(after, index, area.blocks.len())),
            })
            .collect(),
        totals: heap::Diff {
            areas: Vec::new(),
            ..diff
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../../tests/fixtures/meminfo/pico-seed-192064.txt");

    fn seed() -> Snapshot {
        heap::parse_dump(SEED.as_bytes()).expect("the seed dump reads")
    }

    #[test]
    fn the_same_dump_read_twice_is_stored_once() {
        let mut store = SnapshotStore::default();
        let first = store.add_dump("file:///a.mpheap", None, seed());
        let again = store.add_dump("file:///a.mpheap", None, seed());
        assert_eq!(first.id, again.id);
        assert_eq!(first.name, "dump");
        let other = store.add_dump("file:///b.mpheap", Some(2), seed());
        assert_ne!(other.id, first.id);
        assert_eq!(other.name, "dump 2");
        store.add_dump("file:///a.mpheap", None, seed());
        let ids: Vec<String> = store.list().into_iter().map(|s| s.id).collect();
        assert_eq!(
            ids,
            [other.id.clone(), first.id.clone()],
            "reopened: the newest"
        );
        assert_eq!(store.clear(), 2);
        assert!(store.list().is_empty());
    }

    #[test]
    fn the_store_keeps_the_newest_thirty() {
        let mut store = SnapshotStore::default();
        for _ in 0..CAPACITY + 5 {
            store.add_capture(seed());
        }
        let list = store.list();
        assert_eq!(list.len(), CAPACITY);
        assert_eq!(list[0].id, "s6");
        assert!(list.iter().all(|s| s.name == "capture"));
    }

    #[test]
    fn a_run_ending_names_its_after_snapshot() {
        let mut store = SnapshotStore::default();
        store.add_run_snapshot(SnapshotLabel::Before, None, 3, seed(), &[], &|_| None);
        store.add_run_snapshot(SnapshotLabel::After, None, 3, seed(), &[], &|_| None);
        store.add_run_snapshot(SnapshotLabel::AfterGc, None, 3, seed(), &[], &|_| None);
        store.name_run_ending(3, RunEnding::Failure);
        let names: Vec<String> = store.list().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["before", "at failure", "after gc"]);
    }

    #[test]
    fn after_gc_keeps_the_lines_of_allocations_it_still_holds() {
        let mut store = SnapshotStore::default();
        let after = seed();
        let block_bytes = after.block_bytes.unwrap() as usize;
        let allocations: Vec<Allocation> = after.allocations().take(3).collect();
        let lines: Vec<crate::run::runner::AllocationLine> = allocations
            .iter()
            .enumerate()
            .map(|(i, a)| crate::run::runner::AllocationLine {
                area: a.area,
                offset: a.offset * block_bytes,
                blocks: a.blocks,
                file: "main.py".into(),
                line: 10 + i as u32,
            })
            .collect();
        store.add_run_snapshot(
            SnapshotLabel::After,
            None,
            7,
            after.clone(),
            &lines,
            &|_| None,
        );
        // The collection frees the second allocation.
        let mut collected = after.clone();
        let freed = allocations[1];
        for block in freed.offset..freed.offset + freed.blocks {
            collected.areas[freed.area].blocks[block] = BlockKind::Free;
        }
        let payload =
            store.add_run_snapshot(SnapshotLabel::AfterGc, None, 7, collected, &[], &|_| None);
        let kept: Vec<u32> = payload.allocation_lines.iter().map(|l| l.line).collect();
        assert_eq!(kept, [9, 11]);
    }

    #[test]
    fn a_diff_reply_stays_a_few_times_the_size_of_its_dumps() {
        // A 2 MB dump of random small objects compared with a tiny one: every block differs.
        let big = crate::heap::write::synthetic_snapshot(1_700_000, 16, 3);
        let big_text = big.to_dump_text();
        let tiny = heap::parse_dump(b"GC: total: 1024, used: 64, free: 960\nGC memory layout; from 20000000:\n00000000: h=h=....\n").unwrap();
        for (before, after) in [(&big, &tiny), (&tiny, &big)] {
            let reply = serde_json::to_string(&diff_payload("a", "b", before, after)).unwrap();
            eprintln!(
                "heaplens/diff reply: {} bytes for a {}-byte dump ({:.2} per byte)",
                reply.len(),
                big_text.len(),
                reply.len() as f64 / big_text.len() as f64
            );
            assert!(
                reply.len() <= 5 * big_text.len(),
                "{} bytes of reply for a {}-byte dump",
                reply.len(),
                big_text.len()
            );
        }
    }

    #[test]
    fn a_diff_carries_both_sides_kinds() {
        let before = seed();
        let mut after = seed();
        after.areas[0].blocks[0] = BlockKind::Free;
        let diff = diff_payload("s1", "s2", &before, &after);
        let b64 = base64::engine::general_purpose::STANDARD;
        let kinds_before = b64.decode(&diff.areas[0].kinds_before).unwrap();
        let kinds_after = b64.decode(&diff.areas[0].kinds_after).unwrap();
        assert_eq!((kinds_before[0], kinds_after[0]), (b'h', b'.'));
        assert_eq!(kinds_before.len(), diff.areas[0].blocks);
    }
}
