//! Difference of two snapshots: block by block and allocation by allocation.
//!
//! Areas are compared by position (area 0 with area 0, …). Blocks beyond the end of one side
//! count as free on that side, so maps of different lengths or area counts compare without
//! error; a note about it goes into [`Diff::warnings`].

use serde::Serialize;

use super::{Allocation, BlockKind, Snapshot, Warning};

/// What happened to one block. The discriminants are the codes of the `heaplens/diff`
/// protocol message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BlockChange {
    /// Free before and after.
    Free = 0,
    /// Part of the same allocation (same head, length and kind) before and after.
    SameAlloc = 1,
    /// Free before, used after.
    Allocated = 2,
    /// Used before, free after.
    Freed = 3,
    /// Used before and after, but by a different allocation (other kind or extent).
    ChangedKind = 4,
}

impl BlockChange {
    /// The protocol code (0–4).
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Block changes of one area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffArea {
    /// The area's address in the *after* snapshot (else the before one).
    pub address: Option<u64>,
    /// One entry per block: the longer of the two maps.
    pub blocks: Vec<BlockChange>,
}

/// An allocation that exists on only one side.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct AllocationChange {
    pub area: usize,
    /// Byte offset of the head within its area.
    pub offset: u64,
    pub blocks: u64,
    pub bytes: u64,
    pub kind: BlockKind,
}

impl AllocationChange {
    fn new(allocation: Allocation, block_bytes: u32) -> AllocationChange {
        let bytes = u64::from(block_bytes);
        AllocationChange {
            area: allocation.area,
            offset: allocation.offset as u64 * bytes,
            blocks: allocation.blocks as u64,
            bytes: allocation.blocks as u64 * bytes,
            kind: allocation.kind,
        }
    }
}

/// The difference between two snapshots. Serialises to the `heaplens diff --json` object.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Diff {
    /// Bytes of allocations present after but not before.
    pub allocated_bytes: u64,
    /// Bytes of allocations present before but not after.
    pub freed_bytes: u64,
    /// allocated − freed.
    pub net_bytes: i64,
    /// Allocations present after but not before, in address order.
    pub new_allocations: Vec<AllocationChange>,
    /// Allocations present before but not after, in address order.
    pub freed_allocations: Vec<AllocationChange>,
    /// The largest new allocation.
    pub largest_new_allocation: Option<AllocationChange>,
    pub max_free_blocks_before: u64,
    pub max_free_blocks_after: u64,
    /// Block size of the after snapshot.
    pub block_bytes: u32,
    /// Notes such as "the maps differ in length".
    pub warnings: Vec<String>,
    /// Per-area block changes (not serialised: the protocol sends them as base64 codes).
    #[serde(skip)]
    #[schemars(skip)]
    pub areas: Vec<DiffArea>,
}

/// Compare `before` with `after`.
pub fn diff(before: &Snapshot, after: &Snapshot) -> Diff {
    let mut warnings = Vec::new();
    if before.block_bytes != after.block_bytes {
        warnings.push(format!(
            "block sizes differ: {} bytes before, {} after",
            before.block_bytes, after.block_bytes
        ));
    }
    if before.areas.len() != after.areas.len() {
        warnings.push(format!(
            "{} area(s) before, {} after; missing areas count as free",
            before.areas.len(),
            after.areas.len()
        ));
    }
    let area_count = before.areas.len().max(after.areas.len());
    let mut areas = Vec::with_capacity(area_count);
    for index in 0..area_count {
        let old = before.areas.get(index).map_or(&[][..], |a| &a.blocks[..]);
        let new = after.areas.get(index).map_or(&[][..], |a| &a.blocks[..]);
        if old.len() != new.len() && !old.is_empty() && !new.is_empty() {
            warnings.push(format!(
                "area {index}: {} blocks before, {} after; missing blocks count as free",
                old.len(),
                new.len()
            ));
        }
        let address = after
            .areas
            .get(index)
            .and_then(|a| a.address)
            .or_else(|| before.areas.get(index).and_then(|a| a.address));
        areas.push(DiffArea {
            address,
            blocks: classify_blocks(old, new),
        });
    }

    // Allocations of both sides are in (area, offset) order: merge them. The gaps between
    // consecutive allocations of a side are its free runs, so the longest free run of each
    // side is tracked here too instead of walking the maps again.
    let mut old_gaps = GapTracker::new(before);
    let mut new_gaps = GapTracker::new(after);
    let mut new_allocations = Vec::new();
    let mut freed_allocations = Vec::new();
    let mut old_iter = before.allocations().peekable();
    let mut new_iter = after.allocations().peekable();
    loop {
        let key = |a: &Allocation| (a.area, a.offset);
        match (old_iter.peek().copied(), new_iter.peek().copied()) {
            (None, None) => break,
            (Some(old), None) => {
                freed_allocations.push(AllocationChange::new(old, before.block_bytes));
                old_gaps.visit(&old);
                old_iter.next();
            }
            (None, Some(new)) => {
                new_allocations.push(AllocationChange::new(new, after.block_bytes));
                new_gaps.visit(&new);
                new_iter.next();
            }
            (Some(old), Some(new)) => match key(&old).cmp(&key(&new)) {
                std::cmp::Ordering::Less => {
                    freed_allocations.push(AllocationChange::new(old, before.block_bytes));
                    old_gaps.visit(&old);
                    old_iter.next();
                }
                std::cmp::Ordering::Greater => {
                    new_allocations.push(AllocationChange::new(new, after.block_bytes));
                    new_gaps.visit(&new);
                    new_iter.next();
                }
                std::cmp::Ordering::Equal => {
                    old_gaps.visit(&old);
                    new_gaps.visit(&new);
                    if old == new {
                        if let Some(area) = areas.get_mut(old.area) {
                            if let Some(blocks) =
                                area.blocks.get_mut(old.offset..old.offset + old.blocks)
                            {
                                blocks.fill(BlockChange::SameAlloc);
                            }
                        }
                    } else {
                        freed_allocations.push(AllocationChange::new(old, before.block_bytes));
                        new_allocations.push(AllocationChange::new(new, after.block_bytes));
                    }
                    old_iter.next();
                    new_iter.next();
                }
            },
        }
    }

    let allocated_bytes: u64 = new_allocations.iter().map(|a| a.bytes).sum();
    let freed_bytes: u64 = freed_allocations.iter().map(|a| a.bytes).sum();
    let largest_new_allocation = new_allocations
        .iter()
        // Earliest of equally large ones, for a stable answer.
        .max_by(|a, b| a.bytes.cmp(&b.bytes).then(b.offset.cmp(&a.offset)))
        .copied();
    Diff {
        allocated_bytes,
        freed_bytes,
        net_bytes: allocated_bytes as i64 - freed_bytes as i64,
        new_allocations,
        freed_allocations,
        largest_new_allocation,
        max_free_blocks_before: old_gaps.finish(),
        max_free_blocks_after: new_gaps.finish(),
        block_bytes: after.block_bytes,
        warnings,
        areas,
    }
}

/// Longest free run of one snapshot, from the gaps between its allocations visited in order.
struct GapTracker<'a> {
    snapshot: &'a Snapshot,
    area: usize,
    /// End (block index) of the last allocation seen in `area`.
    end: usize,
    longest: usize,
}

impl<'a> GapTracker<'a> {
    fn new(snapshot: &'a Snapshot) -> Self {
        GapTracker {
            snapshot,
            area: 0,
            end: 0,
            longest: 0,
        }
    }

    /// Close areas before `area`: the rest of each is one free run.
    fn close_areas_before(&mut self, area: usize) {
        while self.area < area {
            let len = self
                .snapshot
                .areas
                .get(self.area)
                .map_or(0, |a| a.blocks.len());
            self.longest = self.longest.max(len.saturating_sub(self.end));
            self.area += 1;
            self.end = 0;
        }
    }

    fn visit(&mut self, allocation: &Allocation) {
        self.close_areas_before(allocation.area);
        self.longest = self.longest.max(allocation.offset.saturating_sub(self.end));
        self.end = allocation.offset + allocation.blocks;
    }

    fn finish(mut self) -> u64 {
        if !self.snapshot.has_map() {
            return self.snapshot.header.max_free.unwrap_or(0);
        }
        self.close_areas_before(self.snapshot.areas.len());
        self.longest as u64
    }
}

/// First approximation per block from the letters alone; blocks of allocations that are
/// identical on both sides are turned into `SameAlloc` afterwards.
fn classify_blocks(old: &[BlockKind], new: &[BlockKind]) -> Vec<BlockChange> {
    let len = old.len().max(new.len());
    let mut out = Vec::with_capacity(len);
    let common = old.len().min(new.len());
    out.extend(old[..common].iter().zip(&new[..common]).map(|(&o, &n)| {
        match (o == BlockKind::Free, n == BlockKind::Free) {
            (true, true) => BlockChange::Free,
            (true, false) => BlockChange::Allocated,
            (false, true) => BlockChange::Freed,
            (false, false) => BlockChange::ChangedKind,
        }
    }));
    if old.len() > common {
        out.extend(old[common..].iter().map(|&o| {
            if o == BlockKind::Free {
                BlockChange::Free
            } else {
                BlockChange::Freed
            }
        }));
    } else {
        out.extend(new[common..].iter().map(|&n| {
            if n == BlockKind::Free {
                BlockChange::Free
            } else {
                BlockChange::Allocated
            }
        }));
    }
    out
}

impl Diff {
    /// Count of blocks per change, over all areas (index = protocol code).
    pub fn change_counts(&self) -> [u64; 5] {
        let mut counts = [0u64; 5];
        for area in &self.areas {
            for &change in &area.blocks {
                counts[change.code() as usize] += 1;
            }
        }
        counts
    }

    /// Warnings as typed values, for callers that merge them with snapshot warnings.
    pub fn warnings_typed(&self) -> Vec<Warning> {
        self.warnings.iter().cloned().map(Warning::Diff).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(diff: &Diff) -> Vec<String> {
        diff.areas
            .iter()
            .map(|a| a.blocks.iter().map(|c| c.code().to_string()).collect())
            .collect()
    }

    #[test]
    fn blocks_and_allocations() {
        let before = Snapshot::from_letters(&["h=L.S=.."]);
        let after = Snapshot::from_letters(&["h=..T==."]);
        let diff = diff(&before, &after);
        // h= same; L freed; S= replaced by T== (changed, changed, allocated).
        assert_eq!(codes(&diff), vec!["11304420"]);
        assert_eq!(
            diff.new_allocations
                .iter()
                .map(|a| (a.offset, a.blocks, a.kind))
                .collect::<Vec<_>>(),
            vec![(64, 3, BlockKind::Tuple)]
        );
        assert_eq!(
            diff.freed_allocations
                .iter()
                .map(|a| (a.offset, a.blocks, a.kind))
                .collect::<Vec<_>>(),
            vec![(32, 1, BlockKind::List), (64, 2, BlockKind::Str)]
        );
        assert_eq!(
            (diff.allocated_bytes, diff.freed_bytes, diff.net_bytes),
            (48, 48, 0)
        );
        assert_eq!(diff.largest_new_allocation.map(|a| a.bytes), Some(48));
        assert_eq!(
            (diff.max_free_blocks_before, diff.max_free_blocks_after),
            (2, 2)
        );
        assert!(diff.warnings.is_empty());
    }

    #[test]
    fn different_lengths_and_area_counts_do_not_panic() {
        let before = Snapshot::from_letters(&["h=.", "LL"]);
        let after = Snapshot::from_letters(&["h=.hh=h"]);
        let diff = diff(&before, &after);
        assert_eq!(codes(&diff), vec!["1102222", "33"]);
        assert_eq!(diff.new_allocations.len(), 3);
        assert_eq!(diff.freed_allocations.len(), 2);
        assert_eq!(diff.net_bytes, 4 * 16 - 2 * 16);
        assert_eq!(diff.warnings.len(), 2, "{:?}", diff.warnings);

        let empty = Snapshot::from_letters(&[]);
        let diff = super::diff(&empty, &after);
        assert_eq!(diff.allocated_bytes, 6 * 16);
        let diff = super::diff(&after, &empty);
        assert_eq!(diff.freed_bytes, 6 * 16);
    }

    #[test]
    fn identical_snapshots_have_no_changes() {
        let before = Snapshot::from_letters(&["h=LS..T=="]);
        let diff = diff(&before, &before.clone());
        assert_eq!(codes(&diff), vec!["111100111"]);
        assert_eq!((diff.allocated_bytes, diff.freed_bytes), (0, 0));
    }
}
