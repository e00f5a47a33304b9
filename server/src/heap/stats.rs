//! Figures of one snapshot: the `stats --json` object, the free-run histogram, the
//! fragmentation index, and whether an allocation of N bytes can succeed.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{BlockKind, Snapshot};

/// One bucket of the free-run histogram: runs of `min_blocks..=max_blocks` free blocks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct FreeRunBucket {
    pub min_blocks: u64,
    pub max_blocks: u64,
    /// Number of free runs in this size class.
    pub runs: u64,
    /// Free blocks in those runs.
    pub blocks: u64,
}

/// The figures of a snapshot, as `heaplens stats --json` prints them (keys are part of the
/// protocol: see `server/PROTOCOL.md`).
///
/// `gc_total`, `used` and `free` are the header's bytes when the dump has them, else the map's.
/// `one_blocks`, `two_blocks`, `max_block_blocks` and `max_free_blocks` are recomputed from the
/// map (summed over areas; the longest free run is the maximum over areas), or taken from the
/// header when the dump has no map.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Stats {
    pub gc_total: u64,
    pub used: u64,
    pub free: u64,
    pub block_bytes: u32,
    pub blocks_total: u64,
    pub one_blocks: u64,
    pub two_blocks: u64,
    pub max_block_blocks: u64,
    pub max_free_blocks: u64,
    pub max_free_bytes: u64,
    /// 1 − longest free run / all free blocks (0 when nothing or everything is in one run).
    pub fragmentation: f64,
    /// Histogram of free runs by size class (1, 2, 3–4, 5–8, …); empty without a map.
    pub free_runs: Vec<FreeRunBucket>,
    /// Blocks per kind name: an allocation's blocks (head and tails) count for its head's
    /// kind; `free` counts free blocks; `tail` only appears for tails with no head. Only
    /// kinds present are listed; empty without a map.
    pub by_kind: BTreeMap<std::borrow::Cow<'static, str>, u64>,
    pub stack_used: Option<u64>,
    pub stack_total: Option<u64>,
    pub warnings: Vec<String>,
    // Beyond the protocol's keys:
    /// Number of heap areas in the map (0 without a map).
    pub areas: usize,
    /// Number of allocations in the map.
    pub allocations: u64,
    /// Number of free runs in the map.
    pub free_run_count: u64,
    /// Bytes a split-heap-auto port can still add as a new area (`max new split`).
    pub max_new_split: Option<u64>,
}

/// Can an allocation succeed? See [`Snapshot::fit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FitVerdict {
    /// A free run is long enough.
    Fits,
    /// Fewer free blocks in total than the request needs: the heap is simply full.
    HeapFull,
    /// Enough free blocks in total, but no single run is long enough.
    Fragmented,
}

/// The answer to "can an allocation of `request_bytes` succeed on this heap?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Fit {
    pub request_bytes: u64,
    /// ceil(request / block size): the GC rounds every request up to whole blocks.
    pub blocks_needed: u64,
    pub max_free_blocks: u64,
    pub max_free_bytes: u64,
    pub free_bytes: u64,
    pub verdict: FitVerdict,
}

/// The histogram's size classes: 1, 2, 3–4, 5–8, 9–16, … up to the class holding `longest`.
fn size_classes(longest: u64) -> Vec<(u64, u64)> {
    let mut classes = vec![(1, 1)];
    let mut max = 1u64;
    while max < longest {
        let next = max.saturating_mul(2);
        classes.push((max + 1, next));
        max = next;
    }
    classes
}

/// Index of the size class of a run of `blocks` (≥ 1) blocks in [`size_classes`].
fn size_class(blocks: u64) -> usize {
    // 1 → 0, 2 → 1, 3..=4 → 2, 5..=8 → 3: the bit length of (blocks − 1).
    (u64::BITS - (blocks.max(1) - 1).leading_zeros()) as usize
}

impl Snapshot {
    /// Free blocks in total and longest free run, from the map or (without a map) the header.
    fn free_figures(&self) -> (u64, u64) {
        let bytes = u64::from(self.block_bytes);
        if self.has_map() {
            let figures = self.map_figures();
            (figures.free_blocks, figures.max_free)
        } else {
            (
                self.header.gc_free.unwrap_or(0) / bytes.max(1),
                self.header.max_free.unwrap_or(0),
            )
        }
    }

    /// The free-run histogram (see [`Stats::free_runs`]).
    pub fn free_run_histogram(&self) -> Vec<FreeRunBucket> {
        if !self.has_map() {
            return Vec::new();
        }
        let longest = self.free_runs().map(|r| r.blocks as u64).max().unwrap_or(0);
        let mut buckets: Vec<FreeRunBucket> = size_classes(longest)
            .into_iter()
            .map(|(min_blocks, max_blocks)| FreeRunBucket {
                min_blocks,
                max_blocks,
                runs: 0,
                blocks: 0,
            })
            .collect();
        for run in self.free_runs() {
            if let Some(bucket) = buckets.get_mut(size_class(run.blocks as u64)) {
                bucket.runs += 1;
                bucket.blocks += run.blocks as u64;
            }
        }
        buckets
    }

    /// 1 − longest free run / all free blocks: 0 when the free space is one run (or there is
    /// none), close to 1 when it is scattered in small pieces.
    pub fn fragmentation(&self) -> f64 {
        let (free, longest) = self.free_figures();
        if free == 0 {
            0.0
        } else {
            1.0 - longest.min(free) as f64 / free as f64
        }
    }

    /// Can an allocation of `request_bytes` succeed without the heap growing? Answered from
    /// the map (or the header's `max free sz` without a map). Split-heap-auto ports may still
    /// add an area (see `header.max_new_split`); this answer ignores that.
    pub fn fit(&self, request_bytes: u64) -> Fit {
        let bytes = u64::from(self.block_bytes).max(1);
        let blocks_needed = request_bytes.div_ceil(bytes);
        let (free_blocks, max_free_blocks) = self.free_figures();
        let verdict = if max_free_blocks >= blocks_needed {
            FitVerdict::Fits
        } else if free_blocks < blocks_needed {
            FitVerdict::HeapFull
        } else {
            FitVerdict::Fragmented
        };
        Fit {
            request_bytes,
            blocks_needed,
            max_free_blocks,
            max_free_bytes: max_free_blocks * bytes,
            free_bytes: free_blocks * bytes,
            verdict,
        }
    }

    /// Blocks per kind name (see [`Stats::by_kind`]).
    pub fn blocks_by_kind(&self) -> BTreeMap<std::borrow::Cow<'static, str>, u64> {
        let mut by_kind = BTreeMap::new();
        let mut free = 0u64;
        for run in self.free_runs() {
            free += run.blocks as u64;
        }
        if free > 0 {
            by_kind.insert(BlockKind::Free.name().into(), free);
        }
        for allocation in self.allocations() {
            *by_kind.entry(allocation.kind.name().into()).or_insert(0) += allocation.blocks as u64;
        }
        by_kind
    }

    /// All figures of the snapshot.
    pub fn stats(&self) -> Stats {
        let bytes = u64::from(self.block_bytes);
        let header = &self.header;
        let has_map = self.has_map();
        let figures = self.map_figures();
        let pick = |from_header: Option<u64>, from_map: u64| {
            if has_map {
                from_map
            } else {
                from_header.unwrap_or(0)
            }
        };
        let one_blocks = pick(header.one_blocks, figures.one_blocks);
        let two_blocks = pick(header.two_blocks, figures.two_blocks);
        let max_block_blocks = pick(header.max_block, figures.max_block);
        let max_free_blocks = pick(header.max_free, figures.max_free);
        let gc_total = header.gc_total.unwrap_or(figures.blocks_total * bytes);
        let blocks_total = if has_map {
            figures.blocks_total
        } else {
            gc_total / bytes.max(1)
        };
        Stats {
            gc_total,
            used: header.gc_used.unwrap_or(figures.used_blocks * bytes),
            free: header.gc_free.unwrap_or(figures.free_blocks * bytes),
            block_bytes: self.block_bytes,
            blocks_total,
            one_blocks,
            two_blocks,
            max_block_blocks,
            max_free_blocks,
            max_free_bytes: max_free_blocks * bytes,
            fragmentation: self.fragmentation(),
            free_runs: self.free_run_histogram(),
            by_kind: self.blocks_by_kind(),
            stack_used: header.stack_used,
            stack_total: header.stack_limit,
            warnings: self.warnings.iter().map(ToString::to_string).collect(),
            areas: self.areas.len(),
            allocations: self.allocations().count() as u64,
            free_run_count: self.free_runs().count() as u64,
            max_new_split: header.max_new_split,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::parse_dump_str;

    #[test]
    fn size_classes_are_powers_of_two() {
        assert_eq!(size_classes(1), vec![(1, 1)]);
        assert_eq!(size_classes(5), vec![(1, 1), (2, 2), (3, 4), (5, 8)]);
        for (index, (min, max)) in size_classes(1000).into_iter().enumerate() {
            assert_eq!(size_class(min), index);
            assert_eq!(size_class(max), index);
        }
    }

    fn snapshot(map: &str) -> Snapshot {
        parse_dump_str(&format!("GC memory layout; from 1000:\n00000: {map}\n")).unwrap()
    }

    #[test]
    fn fit_tells_full_from_fragmented() {
        // 7 free blocks of 16 bytes, longest run 3.
        let snapshot = snapshot("h..h...h.h.");
        assert_eq!(snapshot.block_bytes, 16);
        let fits = snapshot.fit(48);
        assert_eq!((fits.blocks_needed, fits.verdict), (3, FitVerdict::Fits));
        let fragmented = snapshot.fit(49);
        assert_eq!(
            (fragmented.blocks_needed, fragmented.verdict),
            (4, FitVerdict::Fragmented)
        );
        let full = snapshot.fit(7 * 16 + 1);
        assert_eq!(
            (full.blocks_needed, full.verdict),
            (8, FitVerdict::HeapFull)
        );
        assert_eq!((full.free_bytes, full.max_free_bytes), (112, 48));
    }

    #[test]
    fn fragmentation_index_and_histogram() {
        let snapshot = snapshot("h..h...h.h.");
        assert!((snapshot.fragmentation() - (1.0 - 3.0 / 7.0)).abs() < 1e-12);
        let histogram = snapshot.free_run_histogram();
        assert_eq!(
            histogram,
            vec![
                FreeRunBucket {
                    min_blocks: 1,
                    max_blocks: 1,
                    runs: 2,
                    blocks: 2
                },
                FreeRunBucket {
                    min_blocks: 2,
                    max_blocks: 2,
                    runs: 1,
                    blocks: 2
                },
                FreeRunBucket {
                    min_blocks: 3,
                    max_blocks: 4,
                    runs: 1,
                    blocks: 3
                },
            ]
        );
        assert_eq!(super::tests::snapshot("hhh").fragmentation(), 0.0);
    }

    #[test]
    fn by_kind_attributes_tails_to_their_head() {
        let by_kind = snapshot("L==S..h").blocks_by_kind();
        assert_eq!(
            by_kind
                .iter()
                .map(|(k, v)| (k.as_ref(), *v))
                .collect::<Vec<_>>(),
            vec![("free", 2), ("list", 3), ("other", 1), ("str", 1)]
        );
    }
}
