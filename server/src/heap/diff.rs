//! Difference of two snapshots: block by block and allocation by allocation.
//!
//! Areas are compared by position (area 0 with area 0, …). Blocks beyond the end of one side
//! count as free on that side, so maps of different lengths or area counts compare without
//! error; a note about it goes into [`Diff::warnings`].
//!
//! Size stays proportional to what changed: in memory a diff holds one byte per block (like
//! a snapshot) and the few largest allocations of each side; in JSON (`heaplens diff --json`)
//! it is totals plus, per changed area, its blocks as one run-length string (`runs`, see
//! [`DiffArea::run_text`]): a run costs its length's digits and one letter, and unchanged
//! blocks between two changes are one run, so the document grows with the changes (two big
//! dumps that differ little make a small one) and is never much longer than a map of the
//! area (about one byte per block when nearly every block changed).

use serde::ser::SerializeStruct;
use serde::Serialize;

use super::{Allocation, BlockKind, Snapshot, Warning};

/// How many of the largest new and freed allocations a diff keeps.
pub const LISTED_ALLOCATIONS: usize = 10;

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

    /// The letter of the change in a run string ([`DiffArea::run_text`]): `-` unchanged
    /// (free in both, or the same allocation), `a` allocated, `f` freed, `c` changed.
    pub fn run_letter(self) -> char {
        match self {
            BlockChange::Free | BlockChange::SameAlloc => '-',
            BlockChange::Allocated => 'a',
            BlockChange::Freed => 'f',
            BlockChange::ChangedKind => 'c',
        }
    }

    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            BlockChange::Free => "free",
            BlockChange::SameAlloc => "same",
            BlockChange::Allocated => "allocated",
            BlockChange::Freed => "freed",
            BlockChange::ChangedKind => "changed",
        }
    }

    /// True for blocks that differ between the two sides.
    pub fn is_change(self) -> bool {
        matches!(
            self,
            BlockChange::Allocated | BlockChange::Freed | BlockChange::ChangedKind
        )
    }
}

impl Serialize for BlockChange {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// A run of consecutive blocks with the same change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ChangeRun {
    /// Block index of the first block of the run within its area.
    pub start: usize,
    pub blocks: usize,
    pub change: BlockChange,
}

/// Block changes of one area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffArea {
    /// The area's address in the *after* snapshot (else the before one).
    pub address: Option<u64>,
    /// One entry per block: the longer of the two maps.
    pub blocks: Vec<BlockChange>,
}

impl DiffArea {
    /// The blocks as runs of equal changes, in address order.
    pub fn runs(&self) -> impl Iterator<Item = ChangeRun> + '_ {
        let mut start = 0;
        std::iter::from_fn(move || {
            let change = *self.blocks.get(start)?;
            let len = self.blocks[start..]
                .iter()
                .take_while(|&&c| c == change)
                .count();
            let run = ChangeRun {
                start,
                blocks: len,
                change,
            };
            start += len;
            Some(run)
        })
    }
}

impl DiffArea {
    /// The blocks as one string of runs in address order: each run is its length in decimal
    /// (left out when 1) and a letter ([`BlockChange::run_letter`]: `-` unchanged, `a`
    /// allocated, `f` freed, `c` changed). `"40-2a-f"` is 40 unchanged blocks, two
    /// allocated ones, one unchanged and one freed. Unchanged blocks make one run between two
    /// changes, so the string grows with the changes, not with the heap.
    pub fn run_text(&self) -> String {
        let mut text = String::new();
        let mut letters = self.blocks.iter().map(|c| c.run_letter()).peekable();
        while let Some(letter) = letters.next() {
            let mut count = 1usize;
            while letters.next_if_eq(&letter).is_some() {
                count += 1;
            }
            if count > 1 {
                text.push_str(&count.to_string());
            }
            text.push(letter);
        }
        text
    }

    /// Expands a [`DiffArea::run_text`] string to one letter per block (`None` when it is not
    /// one: another letter, a count that does not fit, a count without a letter).
    pub fn expand_run_text(text: &str) -> Option<String> {
        let mut blocks = String::new();
        let mut count: usize = 0;
        for c in text.chars() {
            if let Some(digit) = c.to_digit(10) {
                count = count.checked_mul(10)?.checked_add(digit as usize)?;
                continue;
            }
            if !matches!(c, '-' | 'a' | 'f' | 'c') {
                return None;
            }
            blocks.extend(std::iter::repeat_n(c, count.max(1)));
            count = 0;
        }
        (count == 0).then_some(blocks)
    }
}

/// JSON: `{address, blocks, runs}`, the runs as [`DiffArea::run_text`].
impl Serialize for DiffArea {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut area = serializer.serialize_struct("DiffArea", 3)?;
        area.serialize_field("address", &self.address.map(|a| format!("{a:x}")))?;
        area.serialize_field("blocks", &self.blocks.len())?;
        area.serialize_field("runs", &self.run_text())?;
        area.end()
    }
}

/// An allocation that exists on only one side.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct AllocationChange {
    pub area: usize,
    /// Block index of the head within its area.
    pub block: u64,
    /// Byte offset of the head within its area (`None` when the block size is unknown).
    pub offset: Option<u64>,
    pub blocks: u64,
    /// `None` when the block size is unknown.
    pub bytes: Option<u64>,
    pub kind: BlockKind,
}

impl AllocationChange {
    fn new(allocation: Allocation, block_bytes: Option<u32>) -> AllocationChange {
        let bytes = block_bytes.map(u64::from);
        AllocationChange {
            area: allocation.area,
            block: allocation.offset as u64,
            offset: bytes.map(|b| allocation.offset as u64 * b),
            blocks: allocation.blocks as u64,
            bytes: bytes.map(|b| allocation.blocks as u64 * b),
            kind: allocation.kind,
        }
    }
}

/// The largest allocations seen, largest first (the earliest of equally large ones first).
#[derive(Debug, Default)]
struct Largest(Vec<AllocationChange>);

impl Largest {
    fn offer(&mut self, change: AllocationChange) {
        let key = |a: &AllocationChange| (std::cmp::Reverse(a.blocks), a.area, a.block);
        if self.0.len() == LISTED_ALLOCATIONS
            && self.0.last().is_some_and(|last| key(last) <= key(&change))
        {
            return;
        }
        let at = self.0.partition_point(|a| key(a) <= key(&change));
        self.0.insert(at, change);
        self.0.truncate(LISTED_ALLOCATIONS);
    }
}

/// The difference between two snapshots. Serialises to the `heaplens diff --json` object.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Diff {
    /// Bytes of allocations present after but not before (`None`: block size unknown).
    pub allocated_bytes: Option<u64>,
    /// Bytes of allocations present before but not after.
    pub freed_bytes: Option<u64>,
    /// allocated − freed.
    pub net_bytes: Option<i64>,
    /// Blocks of allocations present after but not before.
    pub allocated_blocks: u64,
    /// Blocks of allocations present before but not after.
    pub freed_blocks: u64,
    /// Number of allocations present after but not before.
    pub new_allocation_count: u64,
    /// Number of allocations present before but not after.
    pub freed_allocation_count: u64,
    /// The largest new allocations (at most [`LISTED_ALLOCATIONS`]), largest first.
    pub largest_new_allocations: Vec<AllocationChange>,
    /// The largest freed allocations (at most [`LISTED_ALLOCATIONS`]), largest first.
    pub largest_freed_allocations: Vec<AllocationChange>,
    /// The largest new allocation.
    pub largest_new_allocation: Option<AllocationChange>,
    /// Longest free run of each side (its figure: header, else complete map).
    pub max_free_blocks_before: Option<u64>,
    pub max_free_blocks_after: Option<u64>,
    /// Block size of the after snapshot (else of the before one).
    pub block_bytes: Option<u32>,
    /// Notes such as "the maps differ in length".
    pub warnings: Vec<String>,
    /// Per-area block changes; in JSON, only the areas that changed, each with its index
    /// (`area`) and its runs of changed blocks.
    #[serde(serialize_with = "changed_areas", skip_deserializing)]
    #[schemars(skip)]
    pub areas: Vec<DiffArea>,
}

/// The areas with at least one changed block, as `{area, address, blocks, runs}`: a heap
/// of many areas that changed in few costs JSON for the few.
fn changed_areas<S: serde::Serializer>(
    areas: &[DiffArea],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Changed<'a> {
        area: usize,
        #[serde(flatten)]
        changes: &'a DiffArea,
    }
    serializer.collect_seq(
        areas
            .iter()
            .enumerate()
            .filter(|(_, area)| area.blocks.iter().any(|c| c.is_change()))
            .map(|(area, changes)| Changed { area, changes }),
    )
}

/// Compare `before` with `after`.
pub fn diff(before: &Snapshot, after: &Snapshot) -> Diff {
    let mut warnings = Vec::new();
    if before.block_bytes != after.block_bytes {
        let show = |b: Option<u32>| b.map_or("unknown".to_string(), |b| b.to_string());
        warnings.push(format!(
            "block sizes differ: {} bytes before, {} after",
            show(before.block_bytes),
            show(after.block_bytes)
        ));
    }
    for (side, snapshot) in [("before", before), ("after", after)] {
        if snapshot.has_map() && snapshot.map == super::MapState::Partial {
            warnings.push(format!(
                "the {side} map is partial: blocks it does not show count as free"
            ));
        }
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

    let block_bytes = after.block_bytes.or(before.block_bytes);
    let mut totals = Totals::default();
    // Allocations of both sides are in (area, offset) order: merge them.
    let mut old_iter = before.allocations().peekable();
    let mut new_iter = after.allocations().peekable();
    loop {
        let key = |a: &Allocation| (a.area, a.offset);
        match (old_iter.peek().copied(), new_iter.peek().copied()) {
            (None, None) => break,
            (Some(old), None) => {
                totals.freed(old, block_bytes);
                old_iter.next();
            }
            (None, Some(new)) => {
                totals.allocated(new, block_bytes);
                new_iter.next();
            }
            (Some(old), Some(new)) => match key(&old).cmp(&key(&new)) {
                std::cmp::Ordering::Less => {
                    totals.freed(old, block_bytes);
                    old_iter.next();
                }
                std::cmp::Ordering::Greater => {
                    totals.allocated(new, block_bytes);
                    new_iter.next();
                }
                std::cmp::Ordering::Equal => {
                    if old == new {
                        if let Some(area) = areas.get_mut(old.area) {
                            if let Some(blocks) =
                                area.blocks.get_mut(old.offset..old.offset + old.blocks)
                            {
                                blocks.fill(BlockChange::SameAlloc);
                            }
                        }
                    } else {
                        totals.freed(old, block_bytes);
                        totals.allocated(new, block_bytes);
                    }
                    old_iter.next();
                    new_iter.next();
                }
            },
        }
    }

    let bytes = block_bytes.map(u64::from);
    let allocated_bytes = bytes.map(|b| totals.allocated_blocks * b);
    let freed_bytes = bytes.map(|b| totals.freed_blocks * b);
    Diff {
        allocated_bytes,
        freed_bytes,
        net_bytes: allocated_bytes
            .zip(freed_bytes)
            .map(|(a, f)| a as i64 - f as i64),
        allocated_blocks: totals.allocated_blocks,
        freed_blocks: totals.freed_blocks,
        new_allocation_count: totals.new_count,
        freed_allocation_count: totals.freed_count,
        largest_new_allocation: totals.new_largest.0.first().copied(),
        largest_new_allocations: totals.new_largest.0,
        largest_freed_allocations: totals.freed_largest.0,
        max_free_blocks_before: before.figures().max_free_blocks,
        max_free_blocks_after: after.figures().max_free_blocks,
        block_bytes,
        warnings,
        areas,
    }
}

/// Running totals of the allocations found on one side only.
#[derive(Debug, Default)]
struct Totals {
    allocated_blocks: u64,
    freed_blocks: u64,
    new_count: u64,
    freed_count: u64,
    new_largest: Largest,
    freed_largest: Largest,
}

impl Totals {
    fn allocated(&mut self, allocation: Allocation, block_bytes: Option<u32>) {
        self.allocated_blocks += allocation.blocks as u64;
        self.new_count += 1;
        self.new_largest
            .offer(AllocationChange::new(allocation, block_bytes));
    }

    fn freed(&mut self, allocation: Allocation, block_bytes: Option<u32>) {
        self.freed_blocks += allocation.blocks as u64;
        self.freed_count += 1;
        self.freed_largest
            .offer(AllocationChange::new(allocation, block_bytes));
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
            for run in area.runs() {
                counts[run.change.code() as usize] += run.blocks as u64;
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
            diff.largest_new_allocations
                .iter()
                .map(|a| (a.offset, a.blocks, a.kind))
                .collect::<Vec<_>>(),
            vec![(Some(64), 3, BlockKind::Tuple)]
        );
        // Largest first.
        assert_eq!(
            diff.largest_freed_allocations
                .iter()
                .map(|a| (a.offset, a.blocks, a.kind))
                .collect::<Vec<_>>(),
            vec![
                (Some(64), 2, BlockKind::Str),
                (Some(32), 1, BlockKind::List)
            ]
        );
        assert_eq!(
            (diff.new_allocation_count, diff.freed_allocation_count),
            (1, 2)
        );
        assert_eq!(
            (diff.allocated_bytes, diff.freed_bytes, diff.net_bytes),
            (Some(48), Some(48), Some(0))
        );
        assert_eq!(diff.largest_new_allocation.and_then(|a| a.bytes), Some(48));
        assert_eq!(
            (diff.max_free_blocks_before, diff.max_free_blocks_after),
            (Some(2), Some(2))
        );
        // JSON: the area's blocks as one run string, read back to the same blocks.
        let json = serde_json::to_value(&diff).unwrap();
        assert_eq!(json["areas"][0]["runs"], "2-f-2ca-");
        let letters: String = diff.areas[0]
            .blocks
            .iter()
            .map(|c| c.run_letter())
            .collect();
        assert_eq!(DiffArea::expand_run_text("2-f-2ca-"), Some(letters));
        assert_eq!(DiffArea::expand_run_text("3"), None);
        assert_eq!(DiffArea::expand_run_text("2x"), None);
        assert!(diff.warnings.is_empty());
    }

    #[test]
    fn different_lengths_and_area_counts_do_not_panic() {
        let before = Snapshot::from_letters(&["h=.", "LL"]);
        let after = Snapshot::from_letters(&["h=.hh=h"]);
        let diff = diff(&before, &after);
        assert_eq!(codes(&diff), vec!["1102222", "33"]);
        assert_eq!(diff.new_allocation_count, 3);
        assert_eq!(diff.freed_allocation_count, 2);
        assert_eq!(diff.net_bytes, Some(4 * 16 - 2 * 16));
        assert_eq!(diff.warnings.len(), 2, "{:?}", diff.warnings);

        let empty = Snapshot::from_letters(&[]);
        let diff = super::diff(&empty, &after);
        assert_eq!(diff.allocated_bytes, Some(6 * 16));
        let diff = super::diff(&after, &empty);
        assert_eq!(diff.freed_bytes, Some(6 * 16));
    }

    #[test]
    fn json_grows_with_the_changes_not_with_the_heap() {
        // 1 Mi blocks of one-block allocations, all allocated at once: one run.
        let blocks = 1 << 20;
        let before = Snapshot::from_letters(&[&".".repeat(blocks)]);
        let after = Snapshot::from_letters(&[&"h".repeat(blocks)]);
        let diff = diff(&before, &after);
        assert_eq!(diff.new_allocation_count, blocks as u64);
        assert_eq!(diff.largest_new_allocations.len(), LISTED_ALLOCATIONS);
        let json = serde_json::to_string(&diff).unwrap();
        assert!(json.len() < 4096, "{} bytes of JSON", json.len());

        // 10,000 areas, one of which changed: one area in the JSON, named by its index.
        let mut letters = vec!["h=.."; 10_000];
        let before = Snapshot::from_letters(&letters);
        letters[7_000] = "h=h.";
        let after = Snapshot::from_letters(&letters);
        let json = serde_json::to_value(super::diff(&before, &after)).unwrap();
        assert_eq!(
            json["areas"],
            serde_json::json!([{
                "area": 7000,
                "address": null,
                "blocks": 4,
                "runs": "2-a-"
            }])
        );
    }

    #[test]
    fn identical_snapshots_have_no_changes() {
        let before = Snapshot::from_letters(&["h=LS..T=="]);
        let diff = diff(&before, &before.clone());
        assert_eq!(codes(&diff), vec!["111100111"]);
        assert_eq!((diff.allocated_bytes, diff.freed_bytes), (Some(0), Some(0)));
        assert_eq!(
            serde_json::to_value(&diff).unwrap()["areas"],
            serde_json::json!([])
        );
    }
}
