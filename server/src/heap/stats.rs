//! Figures of one snapshot: the `stats --json` object, the free-run histogram, the
//! fragmentation index, and whether an allocation of N bytes can succeed.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{BlockBytesSource, BlockKind, MapFigures, MapState, Snapshot, Warning};

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
/// Every figure is what the dump's header states, else what a complete map proves, else
/// `null` (see [`Snapshot::figures`]); `sources` says which, and `warnings` says why a figure
/// is `null`. `free_runs`, `by_kind`, `allocations` and `free_run_count` come from the map
/// alone and only from a complete one. Snapshots of a live board always have every figure.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Stats {
    pub gc_total: Option<u64>,
    pub used: Option<u64>,
    pub free: Option<u64>,
    pub block_bytes: Option<u32>,
    pub blocks_total: Option<u64>,
    pub one_blocks: Option<u64>,
    pub two_blocks: Option<u64>,
    pub max_block_blocks: Option<u64>,
    pub max_free_blocks: Option<u64>,
    pub max_free_bytes: Option<u64>,
    /// 1 − longest free run / all free blocks (0 when nothing or everything is in one run).
    pub fragmentation: Option<f64>,
    /// Histogram of free runs by size class (1, 2, 3–4, 5–8, …); empty without a complete map.
    pub free_runs: Vec<FreeRunBucket>,
    /// Blocks per kind name: an allocation's blocks (head and tails) count for its head's
    /// kind; `free` counts free blocks; `tail` only appears for tails with no head. Only
    /// kinds present are listed; empty without a complete map.
    pub by_kind: BTreeMap<std::borrow::Cow<'static, str>, u64>,
    pub stack_used: Option<u64>,
    pub stack_total: Option<u64>,
    pub warnings: Vec<String>,
    // Beyond the protocol's keys:
    /// Number of heap areas in the map (0 without a map).
    pub areas: usize,
    /// Number of allocations in a complete map.
    pub allocations: Option<u64>,
    /// Number of free runs in a complete map.
    pub free_run_count: Option<u64>,
    /// Bytes a split-heap-auto port can still add as a new area (`max new split`).
    pub max_new_split: Option<u64>,
    /// How much of the heap the map shows.
    pub map: MapState,
    /// Where `block_bytes` came from.
    pub block_bytes_source: BlockBytesSource,
    /// Where each known figure came from: the dump's header or its map.
    pub sources: BTreeMap<std::borrow::Cow<'static, str>, Source>,
}

/// Where a figure comes from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Stated by the dump's header (or computed from stated figures and the block size).
    Header,
    /// Counted in a complete map.
    Map,
}

/// The figures of a snapshot and where each came from; `None` where nothing determines it.
/// The header wins over the map; the map fills in only what the header lacks, and only when
/// it is complete ([`MapState::is_usable`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub gc_total: Option<u64>,
    pub used: Option<u64>,
    pub free: Option<u64>,
    pub block_bytes: Option<u32>,
    pub blocks_total: Option<u64>,
    pub free_blocks: Option<u64>,
    pub one_blocks: Option<u64>,
    pub two_blocks: Option<u64>,
    pub max_block_blocks: Option<u64>,
    pub max_free_blocks: Option<u64>,
    pub max_free_bytes: Option<u64>,
    pub fragmentation: Option<f64>,
    /// The map's own counts, when the map may stand for the heap.
    pub map: Option<MapFigures>,
    pub sources: BTreeMap<&'static str, Source>,
    /// One [`Warning::FiguresUnknown`] per reason, naming the figures it leaves unknown.
    pub unknown: Vec<Warning>,
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
    /// The figures of the snapshot: the header's, else a complete map's, else unknown.
    pub fn figures(&self) -> Figures {
        let header = &self.header;
        let map = (self.has_map() && self.map.is_usable()).then(|| self.map_figures());
        let bytes = self.block_bytes.map(u64::from);
        let in_bytes = |blocks: u64| bytes.map(|b| blocks * b);
        let per_block = |total: Option<u64>| {
            total
                .zip(bytes)
                .filter(|&(_, b)| b > 0)
                .map(|(total, b)| total / b)
        };
        let mut sources = BTreeMap::new();
        let mut pick = |name: &'static str, stated: Option<u64>, counted: Option<u64>| {
            if stated.is_some() {
                sources.insert(name, Source::Header);
                stated
            } else {
                if counted.is_some() {
                    sources.insert(name, Source::Map);
                }
                counted
            }
        };
        let gc_total = pick(
            "gc_total",
            header.gc_total(),
            map.and_then(|m| in_bytes(m.blocks_total)),
        );
        let used = pick(
            "used",
            header.gc_used(),
            map.and_then(|m| in_bytes(m.used_blocks)),
        );
        let free = pick(
            "free",
            header.gc_free(),
            map.and_then(|m| in_bytes(m.free_blocks)),
        );
        let blocks_total = pick(
            "blocks_total",
            per_block(header.gc_total()),
            map.map(|m| m.blocks_total),
        );
        let free_blocks = pick(
            "free_blocks",
            per_block(header.gc_free()),
            map.map(|m| m.free_blocks),
        );
        let one_blocks = pick("one_blocks", header.one_blocks(), map.map(|m| m.one_blocks));
        let two_blocks = pick("two_blocks", header.two_blocks(), map.map(|m| m.two_blocks));
        let max_block_blocks = pick(
            "max_block_blocks",
            header.max_block(),
            map.map(|m| m.max_block),
        );
        let max_free_blocks = pick(
            "max_free_blocks",
            header.max_free(),
            map.map(|m| m.max_free),
        );
        let max_free_bytes = max_free_blocks.and_then(in_bytes);
        if max_free_bytes.is_some() {
            if let Some(&source) = sources.get("max_free_blocks") {
                sources.insert("max_free_bytes", source);
            }
        }
        let fragmentation = match (free_blocks, max_free_blocks) {
            (Some(0), _) => Some(0.0),
            (Some(free), Some(longest)) => Some(1.0 - longest.min(free) as f64 / free as f64),
            _ => None,
        };
        sources.remove("free_blocks");
        let mut figures = Figures {
            gc_total,
            used,
            free,
            block_bytes: self.block_bytes,
            blocks_total,
            free_blocks,
            one_blocks,
            two_blocks,
            max_block_blocks,
            max_free_blocks,
            max_free_bytes,
            fragmentation,
            map,
            sources,
            unknown: Vec::new(),
        };
        figures.unknown = self.unknown_figures(&figures);
        figures
    }

    /// Why each unknown figure is unknown, one warning per reason; first, why the block size
    /// is, when it is.
    fn unknown_figures(&self, figures: &Figures) -> Vec<Warning> {
        let mut warnings = Vec::new();
        if self.block_bytes.is_none() {
            warnings.push(Warning::BlockSizeUnknown {
                reason: super::read::block_size_unknown_reason(&self.header),
            });
        }
        let header = &self.header;
        let no_bytes = "the block size is unknown";
        let lacking = |what: &str| -> String {
            match self.map {
                MapState::Absent => format!("{what}, and there is no map"),
                MapState::Partial => format!("{what}, and the map is partial"),
                MapState::Unchecked => {
                    format!("{what}, and the map has no GC total to check it against")
                }
                MapState::Complete => format!("{what}, and {no_bytes}"),
            }
        };
        let gc_line = || lacking("the dump has no readable `GC:` figure for it");
        let one_blocks_line = || lacking("the dump has no readable `No. of 1-blocks` line");
        let max_free_reason = || {
            if header.one_blocks().is_some() || header.max_block().is_some() {
                lacking("the `No. of 1-blocks` line has no `max free sz` (firmware before v1.8.2)")
            } else {
                one_blocks_line()
            }
        };
        // A byte figure whose block count is known waits only for the block size.
        let bytes_or = |stated: Option<u64>, reason: &dyn Fn() -> String| {
            if stated.is_some() && self.block_bytes.is_none() {
                no_bytes.to_string()
            } else {
                reason()
            }
        };
        let mut reasons: Vec<(&'static str, String)> = Vec::new();
        let mut unknown = |name: &'static str, value: bool, reason: &dyn Fn() -> String| {
            if !value {
                reasons.push((name, reason()));
            }
        };
        let map_counts = self.has_map() && self.map.is_usable();
        let counted_or = |reason: &dyn Fn() -> String| {
            if map_counts && self.block_bytes.is_none() {
                no_bytes.to_string()
            } else {
                reason()
            }
        };
        unknown("gc_total", figures.gc_total.is_some(), &|| {
            counted_or(&gc_line)
        });
        unknown("used", figures.used.is_some(), &|| counted_or(&gc_line));
        unknown("free", figures.free.is_some(), &|| counted_or(&gc_line));
        unknown("blocks_total", figures.blocks_total.is_some(), &|| {
            bytes_or(header.gc_total(), &gc_line)
        });
        unknown("one_blocks", figures.one_blocks.is_some(), &one_blocks_line);
        unknown("two_blocks", figures.two_blocks.is_some(), &one_blocks_line);
        unknown(
            "max_block_blocks",
            figures.max_block_blocks.is_some(),
            &one_blocks_line,
        );
        unknown(
            "max_free_blocks",
            figures.max_free_blocks.is_some(),
            &max_free_reason,
        );
        unknown("max_free_bytes", figures.max_free_bytes.is_some(), &|| {
            if figures.max_free_blocks.is_some() {
                no_bytes.to_string()
            } else {
                max_free_reason()
            }
        });
        unknown("fragmentation", figures.fragmentation.is_some(), &|| {
            if figures.free_blocks.is_some() {
                max_free_reason()
            } else {
                bytes_or(header.gc_free(), &gc_line)
            }
        });
        let mut grouped: Vec<(String, Vec<&'static str>)> = Vec::new();
        for (name, reason) in reasons {
            match grouped.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, names)) => names.push(name),
                None => grouped.push((reason, vec![name])),
            }
        }
        warnings.extend(
            grouped
                .into_iter()
                .map(|(reason, names)| Warning::FiguresUnknown {
                    figures: names.join(", "),
                    reason,
                }),
        );
        warnings
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
    /// none), close to 1 when it is scattered in small pieces; `None` when unknown.
    pub fn fragmentation(&self) -> Option<f64> {
        self.figures().fragmentation
    }

    /// Can an allocation of `request_bytes` succeed without the heap growing? Answered from
    /// the figures (the header's `max free sz`, or a complete map); `None` when they or the
    /// block size are unknown. Split-heap-auto ports may still add an area (see
    /// `header.max_new_split()`); this answer ignores that.
    pub fn fit(&self, request_bytes: u64) -> Option<Fit> {
        let figures = self.figures();
        let bytes = u64::from(figures.block_bytes?).max(1);
        let blocks_needed = request_bytes.div_ceil(bytes);
        let (free_blocks, max_free_blocks) = (figures.free_blocks?, figures.max_free_blocks?);
        let verdict = if max_free_blocks >= blocks_needed {
            FitVerdict::Fits
        } else if free_blocks < blocks_needed {
            FitVerdict::HeapFull
        } else {
            FitVerdict::Fragmented
        };
        Some(Fit {
            request_bytes,
            blocks_needed,
            max_free_blocks,
            max_free_bytes: max_free_blocks * bytes,
            free_bytes: free_blocks * bytes,
            verdict,
        })
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

    /// All figures of the snapshot, with the warnings of reading it and one per reason a
    /// figure is unknown.
    pub fn stats(&self) -> Stats {
        let figures = self.figures();
        let complete = figures.map.is_some();
        let mut warnings: Vec<String> = self.warnings.iter().map(ToString::to_string).collect();
        warnings.extend(figures.unknown.iter().map(ToString::to_string));
        Stats {
            gc_total: figures.gc_total,
            used: figures.used,
            free: figures.free,
            block_bytes: figures.block_bytes,
            blocks_total: figures.blocks_total,
            one_blocks: figures.one_blocks,
            two_blocks: figures.two_blocks,
            max_block_blocks: figures.max_block_blocks,
            max_free_blocks: figures.max_free_blocks,
            max_free_bytes: figures.max_free_bytes,
            fragmentation: figures.fragmentation,
            free_runs: if complete {
                self.free_run_histogram()
            } else {
                Vec::new()
            },
            by_kind: if complete {
                self.blocks_by_kind()
            } else {
                BTreeMap::new()
            },
            stack_used: self.header.stack_used(),
            stack_total: self.header.stack_limit(),
            warnings,
            areas: self.areas.len(),
            allocations: complete.then(|| self.allocations().count() as u64),
            free_run_count: complete.then(|| self.free_runs().count() as u64),
            max_new_split: self.header.max_new_split(),
            map: self.map,
            block_bytes_source: self.block_bytes_source,
            sources: figures
                .sources
                .into_iter()
                .map(|(k, v)| (std::borrow::Cow::Borrowed(k), v))
                .collect(),
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
        // 16-byte blocks: the GC total says so.
        let total = map.len() * 16;
        parse_dump_str(&format!(
            "GC: total: {total}\nGC memory layout; from 1000:\n00000: {map}\n"
        ))
        .unwrap()
    }

    #[test]
    fn fit_tells_full_from_fragmented() {
        // 7 free blocks of 16 bytes, longest run 3.
        let snapshot = snapshot("h..h...h.h.");
        assert_eq!(snapshot.block_bytes, Some(16));
        let fit = |bytes| snapshot.fit(bytes).expect("known figures");
        let fits = fit(48);
        assert_eq!((fits.blocks_needed, fits.verdict), (3, FitVerdict::Fits));
        let fragmented = fit(49);
        assert_eq!(
            (fragmented.blocks_needed, fragmented.verdict),
            (4, FitVerdict::Fragmented)
        );
        let full = fit(7 * 16 + 1);
        assert_eq!(
            (full.blocks_needed, full.verdict),
            (8, FitVerdict::HeapFull)
        );
        assert_eq!((full.free_bytes, full.max_free_bytes), (112, 48));
    }

    #[test]
    fn fragmentation_index_and_histogram() {
        let snapshot = snapshot("h..h...h.h.");
        let fragmentation = snapshot.fragmentation().expect("complete map");
        assert!((fragmentation - (1.0 - 3.0 / 7.0)).abs() < 1e-12);
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
        assert_eq!(super::tests::snapshot("hhh").fragmentation(), Some(0.0));
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
