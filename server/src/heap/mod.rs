//! The heap model: reading `micropython.mem_info(1)` dumps, snapshots, statistics, diffs.
//! Pure: no I/O, no board, no LSP.
//!
//! - [`read`]: text (bytes, any noise around it) → the [`Dump`]s it holds, each a [`Snapshot`],
//!   or a typed [`DumpError`] when nothing in it is readable.
//! - this module: the model — [`Snapshot`], [`Area`], [`BlockKind`], the allocation view
//!   ([`Allocation`]) and the figures recomputed from the map ([`MapFigures`]).
//! - [`stats`]: [`Stats`] (the `stats --json` object), where each figure comes from
//!   ([`Figures`]), free-run histogram, [`Fit`].
//! - [`diff`](mod@diff): block-by-block and allocation-by-allocation difference of two snapshots,
//!   described in JSON as runs of changed blocks.
//! - [`render`]: terminal rendering of maps, diffs and stats (strings only, no printing).
//! - [`write`]: the inverse of the reader, used by tests and benchmarks.
//!
//! What a figure is: what the dump states (its header), or what a complete map proves, or
//! unknown — never a number that is neither. The header's figures ([`Header`]) and the map's
//! ([`MapFigures`]) are kept apart; [`Snapshot::figures`] combines them (the header wins, a
//! map fills in only what the header lacks and only when it is complete) and says where each
//! came from. A figure nothing determines is `None` (null in JSON, "unknown" in text) and a
//! warning says why.
//!
//! Architecture invariants: one byte per block in memory (`BlockKind` is `repr(u8)`), so an
//! 8 MiB heap of 16-byte blocks costs 512 KiB; and reading costs at most 25 bytes of memory
//! per byte of dump text on top of that one byte per block (`tests/heap_memory.rs` counts the
//! model's allocations).

use serde::Serialize;

mod diff;
mod read;
pub mod render;
mod stats;
pub mod write;

#[cfg(test)]
mod fixture_tests;
#[cfg(test)]
mod realworld_tests;

pub use diff::{diff, AllocationChange, BlockChange, ChangeRun, Diff, DiffArea};
pub use read::{
    parse_dump, parse_dump_str, parse_dumps, parse_dumps_with_rows, Dump, DumpError, RowPlacement,
};
pub use stats::{Figures, Fit, FitVerdict, FreeRunBucket, Source, Stats};

/// Blocks printed per map row by `gc_dump_alloc_table` (`DUMP_BYTES_PER_LINE`, which counts
/// blocks, not bytes).
pub const BLOCKS_PER_ROW: usize = 64;

/// What one heap block holds, as `gc_dump_alloc_table` prints it. The discriminant is the
/// dump letter itself, so a `Vec<BlockKind>` is one byte per block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum BlockKind {
    /// `.` — not allocated.
    Free = b'.',
    /// `=` — continuation of the allocation to its left.
    Tail = b'=',
    /// `h` — head of any other object, or of a raw buffer (str data, list items, dict table…).
    Other = b'h',
    /// `T` — head of a tuple.
    Tuple = b'T',
    /// `L` — head of a list object (its item array is a separate `h` allocation).
    List = b'L',
    /// `D` — head of a dict object.
    Dict = b'D',
    /// `S` — head of a str or bytes object.
    Str = b'S',
    /// `A` — head of a bytearray or array.array.
    Array = b'A',
    /// `F` — head of a boxed float.
    Float = b'F',
    /// `B` — head of a bytecode function object.
    Function = b'B',
    /// `M` — head of a module.
    Module = b'M',
    /// `m` — a marked head: only seen when the dump was taken in the middle of a collection.
    Marked = b'm',
}

impl BlockKind {
    /// Every kind, in legend order.
    pub const ALL: [BlockKind; 12] = [
        BlockKind::Free,
        BlockKind::Tail,
        BlockKind::Other,
        BlockKind::Tuple,
        BlockKind::List,
        BlockKind::Dict,
        BlockKind::Str,
        BlockKind::Array,
        BlockKind::Float,
        BlockKind::Function,
        BlockKind::Module,
        BlockKind::Marked,
    ];

    /// The dump letter (`.`, `=`, `h`, `T`, …).
    pub fn letter(self) -> char {
        self as u8 as char
    }

    /// The kind a dump letter stands for, if any.
    pub fn from_letter(letter: char) -> Option<BlockKind> {
        u8::try_from(letter).ok().and_then(BlockKind::from_byte)
    }

    /// Like [`BlockKind::from_letter`], for a byte of dump text.
    #[inline]
    pub fn from_byte(byte: u8) -> Option<BlockKind> {
        Some(match byte {
            b'.' => BlockKind::Free,
            b'=' => BlockKind::Tail,
            b'h' => BlockKind::Other,
            b'T' => BlockKind::Tuple,
            b'L' => BlockKind::List,
            b'D' => BlockKind::Dict,
            b'S' => BlockKind::Str,
            b'A' => BlockKind::Array,
            b'F' => BlockKind::Float,
            b'B' => BlockKind::Function,
            b'M' => BlockKind::Module,
            b'm' => BlockKind::Marked,
            _ => return None,
        })
    }

    /// The name used in JSON (`by_kind` keys, allocation kinds).
    pub fn name(self) -> &'static str {
        match self {
            BlockKind::Free => "free",
            BlockKind::Tail => "tail",
            BlockKind::Other => "other",
            BlockKind::Tuple => "tuple",
            BlockKind::List => "list",
            BlockKind::Dict => "dict",
            BlockKind::Str => "str",
            BlockKind::Array => "array",
            BlockKind::Float => "float",
            BlockKind::Function => "function",
            BlockKind::Module => "module",
            BlockKind::Marked => "marked",
        }
    }

    /// What a user should read for this kind (legend text).
    pub fn description(self) -> &'static str {
        match self {
            BlockKind::Free => "free",
            BlockKind::Tail => "tail of the allocation to its left",
            BlockKind::Other => "other object or raw buffer",
            BlockKind::Tuple => "tuple",
            BlockKind::List => "list",
            BlockKind::Dict => "dict",
            BlockKind::Str => "str or bytes",
            BlockKind::Array => "bytearray or array",
            BlockKind::Float => "float",
            BlockKind::Function => "bytecode function",
            BlockKind::Module => "module",
            BlockKind::Marked => "marked (dump taken during a collection)",
        }
    }

    /// True for the first block of an allocation (every kind except free and tail).
    #[inline]
    pub fn is_head(self) -> bool {
        !matches!(self, BlockKind::Free | BlockKind::Tail)
    }

    /// True for a block in use (head or tail).
    #[inline]
    pub fn is_used(self) -> bool {
        self != BlockKind::Free
    }
}

impl Serialize for BlockKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for BlockKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        BlockKind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown block kind {name:?}")))
    }
}

impl schemars::JsonSchema for BlockKind {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "BlockKind".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = BlockKind::ALL.iter().map(|k| k.name()).collect();
        schemars::json_schema!({ "type": "string", "enum": names })
    }
}

/// The figures `mem_info` prints before the map. Every figure is optional: ports and versions
/// differ in which lines they print, and a capture may have lost some.
///
/// Stored as one word per figure and a bit saying whether the dump stated it, rather than
/// thirteen `Option<u64>`s: a capture can hold a dump per line of text, and the reader
/// promises at most 25 bytes of memory per byte of text.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Header {
    values: [u64; HEADER_FIGURES],
    stated: u16,
    /// `qstr pool:` line of `micropython.qstr_info()`, when the capture carried one.
    pub qstr: Option<Box<QstrPool>>,
}

/// Number of figures a [`Header`] holds.
const HEADER_FIGURES: usize = 13;

impl Header {
    fn get(&self, index: usize) -> Option<u64> {
        (self.stated & (1 << index) != 0).then(|| self.values[index])
    }

    fn set(&mut self, index: usize, value: Option<u64>) {
        // Unstated figures are kept as 0 so that equal headers compare equal.
        self.values[index] = value.unwrap_or(0);
        match value {
            Some(_) => self.stated |= 1 << index,
            None => self.stated &= !(1 << index),
        }
    }
}

/// Getters and setters of the header's figures, and its `Debug`, from one list.
macro_rules! header_figures {
    ($($(#[$doc:meta])* $name:ident / $set:ident = $index:expr;)*) => {
        impl Header {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> Option<u64> {
                    self.get($index)
                }

                #[doc = concat!("Sets [`Header::", stringify!($name), "`].")]
                pub fn $set(&mut self, value: Option<u64>) {
                    self.set($index, value)
                }
            )*
        }

        impl std::fmt::Debug for Header {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("Header")
                    $(.field(stringify!($name), &self.$name()))*
                    .field("qstr", &self.qstr)
                    .finish()
            }
        }
    };
}

header_figures! {
    /// `mem: total=` — bytes ever allocated (only with `MICROPY_MEM_STATS`, e.g. unix port).
    mem_total / set_mem_total = 0;
    /// `mem: current=` — bytes allocated now.
    mem_current / set_mem_current = 1;
    /// `mem: peak=` — peak bytes allocated.
    mem_peak / set_mem_peak = 2;
    /// `stack: U` — C stack bytes in use.
    stack_used / set_stack_used = 3;
    /// `stack: U out of L` — C stack limit (only with stack checking).
    stack_limit / set_stack_limit = 4;
    /// `GC: total:` — heap bytes over all areas.
    gc_total / set_gc_total = 5;
    /// `GC: used:` — bytes in used blocks.
    gc_used / set_gc_used = 6;
    /// `GC: free:` — bytes in free blocks.
    gc_free / set_gc_free = 7;
    /// `max new split:` — bytes a split-heap-auto port could still add as a new area.
    max_new_split / set_max_new_split = 8;
    /// `No. of 1-blocks:` — allocations exactly one block long.
    one_blocks / set_one_blocks = 9;
    /// `2-blocks:` — allocations exactly two blocks long.
    two_blocks / set_two_blocks = 10;
    /// `max blk sz:` — longest allocation, in blocks.
    max_block / set_max_block = 11;
    /// `max free sz:` — longest run of free blocks in one area, in blocks.
    max_free / set_max_free = 12;
}

/// Figures of a `qstr pool: n_pool=…, n_qstr=…, n_str_data_bytes=…, n_total_bytes=…` line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QstrPool {
    pub n_pool: u64,
    pub n_qstr: u64,
    pub n_str_data_bytes: u64,
    pub n_total_bytes: u64,
}

/// One heap area (one `GC memory layout; from ADDR:` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Area {
    /// Start of the area's pool as printed; `None` when the dump had no area header.
    pub address: Option<u64>,
    /// One entry per block, in address order.
    pub blocks: Vec<BlockKind>,
}

impl Area {
    /// The address as the protocol writes it: lowercase hex without `0x` (empty when unknown).
    pub fn address_hex(&self) -> String {
        self.address.map(|a| format!("{a:x}")).unwrap_or_default()
    }

    /// The blocks as dump letters, one byte per block.
    pub fn letters(&self) -> Vec<u8> {
        self.blocks.iter().map(|&k| k as u8).collect()
    }
}

/// Something odd about a dump that did not stop it from being read. Line numbers are 1-based
/// lines of the whole input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Warning {
    /// A header figure disagrees with what a complete map shows. The header's figure is used.
    #[error("header says {figure} = {header}, the map gives {map}; the header's figure is used")]
    HeaderMismatch {
        figure: &'static str,
        header: u64,
        map: u64,
    },
    /// Nothing in the dump determines the block size; byte figures that need it are unknown.
    #[error("block size unknown: {reason}")]
    BlockSizeUnknown { reason: &'static str },
    /// The map's offsets imply a block size that the header's figures do not fit.
    #[error("map offsets imply {from_offsets}-byte blocks, but the header's figures are not consistent with it; used {from_offsets}")]
    BlockSizeDisagrees { from_offsets: u32 },
    /// A map row does not start where the rows before it end (lost or repeated text).
    #[error("line {line}: row at offset {offset:#x} expected at block {expected} of area {area}, found block {found}; {action}")]
    RowMisplaced {
        line: usize,
        area: usize,
        offset: u64,
        expected: usize,
        found: usize,
        action: &'static str,
    },
    /// A line inside a map holds a character that is not a block letter: the row is left out
    /// and the map counts as partial.
    #[error("line {line}, column {column}: expected a block letter (one of `.=hTLDSAFBMm`), found `{found}`; the row is left out")]
    BadRow {
        line: usize,
        column: usize,
        found: String,
    },
    /// The map stops before the block count the header promises. `row` is the last row's
    /// offset as printed (`digits` hex digits; 0 digits: the last line was
    /// `(N lines all free)`).
    #[error("the map ends early: its last row is `{}` (line {line}), {blocks} of {expected} blocks; the header's figures are used, not the partial map's", row_label(*row, *digits))]
    MapTruncated {
        line: usize,
        row: u64,
        digits: u8,
        blocks: u64,
        expected: u64,
    },
    /// A `GC memory layout` line with no rows after it.
    #[error("line {line}: the heap map has no rows; the header's figures are used")]
    MapEmpty { line: usize },
    /// The map's block count cannot be checked against `GC: total` (the block size is unknown).
    #[error("the map's {blocks} blocks cannot be checked against GC total {total} (block size unknown); the map's counts are not used")]
    MapUnverifiable { blocks: u64, total: u64 },
    /// A map with no `GC: total` to check it against: it may have been cut, so its counts are
    /// not figures of the heap.
    #[error("no `GC: total` line to check the map against: it may have been cut, so its counts are not used as the heap's figures")]
    MapUnchecked,
    /// Tail blocks with no head before them.
    #[error(
        "area {area}: tail block at block {offset} has no head (counted as its own allocation)"
    )]
    OrphanTail { area: usize, offset: usize },
    /// `m` blocks: the dump was taken while a collection was marking.
    #[error("{count} marked block(s): the dump was taken during a garbage collection")]
    MarkedBlocks { count: usize },
    /// A known line (`GC:`, `No. of 1-blocks`) whose figures could not all be read: `missing`
    /// has bit i set for the i-th of `names`.
    #[error("line {line}: {} not readable", missing_names(names, *missing))]
    UnreadableFigures {
        line: usize,
        names: &'static [&'static str],
        missing: u8,
    },
    /// A line inside a dump that no released `mem_info` format prints.
    #[error("line {line}: `{text}` is not part of any released mem_info format; ignored")]
    UnknownLine { line: usize, text: String },
    /// The input held more than one dump and only the first was read.
    #[error("line {line}: this capture holds {count} dumps and only the first was read (`--all` or `--index N` reads the others)")]
    ExtraDump { line: usize, count: usize },
    /// Figures nothing in the dump determines.
    #[error("unknown: {figures} ({reason})")]
    FiguresUnknown { figures: String, reason: String },
    /// The map area count or addresses differ between two snapshots being compared.
    #[error("{0}")]
    Diff(String),
}

/// `00002c00`, or `(N lines all free)` for a free-lines line (0 digits, `row` = N).
fn row_label(row: u64, digits: u8) -> String {
    if digits == 0 {
        format!("({row} lines all free)")
    } else {
        format!("{row:0width$x}", width = usize::from(digits))
    }
}

/// The names whose bits are set in `missing`.
fn missing_names(names: &[&str], missing: u8) -> String {
    names
        .iter()
        .enumerate()
        .filter(|(i, _)| missing & (1 << i) != 0)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Warning {
    /// The 1-based input line the warning is about, when it is about one line.
    pub fn line(&self) -> Option<usize> {
        match self {
            Warning::RowMisplaced { line, .. }
            | Warning::BadRow { line, .. }
            | Warning::MapTruncated { line, .. }
            | Warning::MapEmpty { line }
            | Warning::UnreadableFigures { line, .. }
            | Warning::UnknownLine { line, .. }
            | Warning::ExtraDump { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// How [`Snapshot::block_bytes`] was established.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BlockBytesSource {
    /// From the map's offset column (how far apart consecutive rows are).
    MapOffsets,
    /// From `GC: total` divided by the blocks of the map.
    GcTotal,
    /// From the header alone: of the block sizes MicroPython uses (16 bytes on 32-bit ports,
    /// 32 on 64-bit builds), exactly one fits the header's figures.
    HeaderArithmetic,
    /// Set by whoever built the snapshot in code (tests, generated heaps).
    Given,
    /// Nothing determines it.
    Unknown,
}

/// How much of the heap the dump's map shows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MapState {
    /// No map: `mem_info()` without an argument.
    Absent,
    /// Every block the header promises is there, in place.
    Complete,
    /// A map with no `GC: total` to check it against: drawn as printed, but it may have been
    /// cut, so its counts are not figures.
    Unchecked,
    /// Cut short, empty, or damaged (rows lost or unreadable): its counts are not figures.
    Partial,
}

impl MapState {
    /// True when the map's counts may stand for the heap's figures: only a map proven
    /// complete.
    pub fn is_usable(self) -> bool {
        self == MapState::Complete
    }
}

/// A parsed `mem_info` dump.
///
/// Snapshots taken from a live board (the runner, the language server's captures) always
/// have a complete map and a known block size; code that reads them unwraps nothing: it
/// passes the `Option`s of [`Snapshot::figures`] on (the diagnostics already take optional
/// facts), so a capture damaged on the wire degrades to "unknown", never to a wrong figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The figures printed before the map.
    pub header: Header,
    /// Heap areas with one entry per block; empty for `mem_info()` without the map.
    pub areas: Vec<Area>,
    /// Bytes per block (16 on 32-bit ports, 32 on 64-bit builds); `None` when nothing in the
    /// dump determines it.
    pub block_bytes: Option<u32>,
    /// Where `block_bytes` came from.
    pub block_bytes_source: BlockBytesSource,
    /// How much of the heap the map shows.
    pub map: MapState,
    /// Oddities found while reading and cross-checking.
    pub warnings: Vec<Warning>,
}

/// One allocation: a head block and the tail blocks after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Allocation {
    /// Index of the area in [`Snapshot::areas`].
    pub area: usize,
    /// Block index of the head within its area.
    pub offset: usize,
    /// Length in blocks (head + tails).
    pub blocks: usize,
    /// Kind of the head ([`BlockKind::Tail`] for orphan tails with no head).
    pub kind: BlockKind,
}

/// A run of consecutive free blocks inside one area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreeRun {
    pub area: usize,
    /// Block index of the first free block.
    pub offset: usize,
    pub blocks: usize,
}

/// The figures `gc_info` prints, recomputed from the map with the same rules
/// (sums over areas; the longest free run is the maximum over areas).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MapFigures {
    pub blocks_total: u64,
    pub used_blocks: u64,
    pub free_blocks: u64,
    pub one_blocks: u64,
    pub two_blocks: u64,
    pub max_block: u64,
    pub max_free: u64,
}

impl MapFigures {
    /// The figures of areas given as block slices, as `gc_info` computes them.
    pub fn of<'a>(areas: impl IntoIterator<Item = &'a [BlockKind]>) -> MapFigures {
        let mut figures = MapFigures::default();
        // One walk over runs per area: free run, then allocations (head + tails), repeat.
        for blocks in areas {
            figures.blocks_total += blocks.len() as u64;
            let mut pos = 0;
            while pos < blocks.len() {
                let free = run_length(&blocks[pos..], BlockKind::Free);
                figures.free_blocks += free as u64;
                figures.max_free = figures.max_free.max(free as u64);
                pos += free;
                while pos < blocks.len() && blocks[pos] != BlockKind::Free {
                    let len = 1 + run_length(&blocks[pos + 1..], BlockKind::Tail);
                    match len {
                        1 => figures.one_blocks += 1,
                        2 => figures.two_blocks += 1,
                        _ => {}
                    }
                    figures.max_block = figures.max_block.max(len as u64);
                    pos += len;
                }
            }
        }
        figures.used_blocks = figures.blocks_total - figures.free_blocks;
        figures
    }

    /// Whether these figures are the ones `header` states with blocks of `size` bytes: every
    /// stated figure agrees. A map cut short almost never agrees on all of them.
    pub fn agree_with(&self, header: &Header, size: u32) -> bool {
        let size = u64::from(size);
        let pairs = [
            (header.gc_total(), self.blocks_total * size),
            (header.gc_used(), self.used_blocks * size),
            (header.gc_free(), self.free_blocks * size),
            (header.one_blocks(), self.one_blocks),
            (header.two_blocks(), self.two_blocks),
            (header.max_block(), self.max_block),
            (header.max_free(), self.max_free),
        ];
        pairs
            .iter()
            .all(|&(stated, counted)| stated.is_none_or(|s| s == counted))
    }
}

/// Number of consecutive `kind` blocks at the start of `blocks`. Compares 32 blocks at a time
/// without early exit so the compiler can vectorise it: heaps are mostly long runs of free
/// blocks or tails, and every figure is computed by walking runs.
#[inline]
pub(crate) fn run_length(blocks: &[BlockKind], kind: BlockKind) -> usize {
    const LANES: usize = 32;
    const SCALAR_PREFIX: usize = 8;
    // Most runs are short (small objects, zero-length free gaps): look at a few blocks one by
    // one before switching to wide compares.
    let prefix = &blocks[..blocks.len().min(SCALAR_PREFIX)];
    let short = prefix.iter().take_while(|&&k| k == kind).count();
    if short < SCALAR_PREFIX {
        return short;
    }
    let mut n = SCALAR_PREFIX;
    for chunk in blocks[SCALAR_PREFIX..].chunks_exact(LANES) {
        if !chunk.iter().fold(true, |all, &k| all & (k == kind)) {
            break;
        }
        n += LANES;
    }
    n + blocks[n..].iter().take_while(|&&k| k == kind).count()
}

/// Iterator over the allocations of a snapshot, in area then address order.
pub struct Allocations<'a> {
    areas: &'a [Area],
    area: usize,
    pos: usize,
}

impl Iterator for Allocations<'_> {
    type Item = Allocation;

    fn next(&mut self) -> Option<Allocation> {
        while let Some(area) = self.areas.get(self.area) {
            let blocks = &area.blocks;
            self.pos += run_length(&blocks[self.pos.min(blocks.len())..], BlockKind::Free);
            let Some(&kind) = blocks.get(self.pos) else {
                self.area += 1;
                self.pos = 0;
                continue;
            };
            let start = self.pos;
            let end = start + 1 + run_length(&blocks[start + 1..], BlockKind::Tail);
            self.pos = end;
            return Some(Allocation {
                area: self.area,
                offset: start,
                blocks: end - start,
                kind,
            });
        }
        None
    }
}

/// Iterator over the free runs of a snapshot, in area then address order.
pub struct FreeRuns<'a> {
    areas: &'a [Area],
    area: usize,
    pos: usize,
}

impl Iterator for FreeRuns<'_> {
    type Item = FreeRun;

    fn next(&mut self) -> Option<FreeRun> {
        while let Some(area) = self.areas.get(self.area) {
            let blocks = &area.blocks;
            // Skip allocations: a head, then its tails.
            while let Some(&kind) = blocks.get(self.pos) {
                if kind == BlockKind::Free {
                    break;
                }
                self.pos += 1 + run_length(&blocks[self.pos + 1..], BlockKind::Tail);
            }
            if self.pos >= blocks.len() {
                self.area += 1;
                self.pos = 0;
                continue;
            }
            let start = self.pos;
            let end = start + run_length(&blocks[start..], BlockKind::Free);
            self.pos = end;
            return Some(FreeRun {
                area: self.area,
                offset: start,
                blocks: end - start,
            });
        }
        None
    }
}

#[cfg(test)]
impl Snapshot {
    /// A snapshot built from dump letters, one string per area (16-byte blocks, no header):
    /// the fixture shape of the heap module's unit tests.
    pub(crate) fn from_letters(areas: &[&str]) -> Snapshot {
        Snapshot::from_areas(
            areas
                .iter()
                .map(|text| Area {
                    address: None,
                    blocks: text.bytes().filter_map(BlockKind::from_byte).collect(),
                })
                .collect(),
            16,
        )
    }
}

impl Snapshot {
    /// A snapshot of complete areas built in code (tests, generated heaps): no header, the
    /// given block size, the map complete by construction.
    pub fn from_areas(areas: Vec<Area>, block_bytes: u32) -> Snapshot {
        Snapshot {
            header: Header::default(),
            map: if areas.is_empty() {
                MapState::Absent
            } else {
                MapState::Complete
            },
            areas,
            block_bytes: Some(block_bytes),
            block_bytes_source: BlockBytesSource::Given,
            warnings: Vec::new(),
        }
    }

    /// True when the dump carried the block map (`mem_info(1)`), not only the summary.
    pub fn has_map(&self) -> bool {
        !self.areas.is_empty()
    }

    /// Total number of blocks in the map, over all areas.
    pub fn blocks_total(&self) -> usize {
        self.areas.iter().map(|a| a.blocks.len()).sum()
    }

    /// The allocations (head + tails), in area then address order.
    pub fn allocations(&self) -> Allocations<'_> {
        Allocations {
            areas: &self.areas,
            area: 0,
            pos: 0,
        }
    }

    /// The runs of free blocks, in area then address order.
    pub fn free_runs(&self) -> FreeRuns<'_> {
        FreeRuns {
            areas: &self.areas,
            area: 0,
            pos: 0,
        }
    }

    /// Recompute the `gc_info` figures from the map.
    pub fn map_figures(&self) -> MapFigures {
        MapFigures::of(self.areas.iter().map(|a| &a.blocks[..]))
    }

    /// Compare the header with the map and return one warning per disagreeing figure.
    /// Empty for dumps without a map; byte figures are compared only when the block size is
    /// known.
    pub fn cross_check(&self) -> Vec<Warning> {
        if !self.has_map() {
            return Vec::new();
        }
        let figures = self.map_figures();
        let bytes = self.block_bytes.map(u64::from);
        let header = &self.header;
        let in_bytes = |n: u64| bytes.map(|b| n * b);
        let pairs: [(&'static str, Option<u64>, Option<u64>); 7] = [
            (
                "GC total",
                header.gc_total(),
                in_bytes(figures.blocks_total),
            ),
            ("used", header.gc_used(), in_bytes(figures.used_blocks)),
            ("free", header.gc_free(), in_bytes(figures.free_blocks)),
            ("1-blocks", header.one_blocks(), Some(figures.one_blocks)),
            ("2-blocks", header.two_blocks(), Some(figures.two_blocks)),
            ("max blk sz", header.max_block(), Some(figures.max_block)),
            ("max free sz", header.max_free(), Some(figures.max_free)),
        ];
        pairs
            .into_iter()
            .filter_map(|(figure, header, map)| match (header, map) {
                (Some(header), Some(map)) if header != map => Some(Warning::HeaderMismatch {
                    figure,
                    header,
                    map,
                }),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_round_trip_and_names_are_distinct() {
        let mut names = std::collections::BTreeSet::new();
        for kind in BlockKind::ALL {
            assert_eq!(BlockKind::from_letter(kind.letter()), Some(kind));
            assert!(names.insert(kind.name()));
        }
        assert_eq!(BlockKind::from_letter('x'), None);
        assert_eq!(BlockKind::from_letter('é'), None);
        assert_eq!(std::mem::size_of::<BlockKind>(), 1);
    }

    #[test]
    fn allocations_group_heads_with_their_tails() {
        let snapshot = Snapshot::from_letters(&["h==.L.=D", "..S="]);
        let allocations: Vec<_> = snapshot
            .allocations()
            .map(|a| (a.area, a.offset, a.blocks, a.kind.letter()))
            .collect();
        assert_eq!(
            allocations,
            vec![
                (0, 0, 3, 'h'),
                (0, 4, 1, 'L'),
                (0, 6, 1, '='),
                (0, 7, 1, 'D'),
                (1, 2, 2, 'S')
            ]
        );
    }

    #[test]
    fn run_length_across_chunk_boundaries() {
        for len in [0, 1, 31, 32, 33, 63, 64, 65, 100] {
            let mut blocks = vec![BlockKind::Tail; len];
            blocks.push(BlockKind::Free);
            blocks.extend([BlockKind::Tail; 40]);
            assert_eq!(run_length(&blocks, BlockKind::Tail), len);
            assert_eq!(run_length(&blocks[..len], BlockKind::Tail), len);
        }
    }

    #[test]
    fn figures_sum_over_areas_and_take_the_longest_run_per_area() {
        let snapshot = Snapshot::from_letters(&["h==...L.", "....S=h"]);
        let figures = snapshot.map_figures();
        assert_eq!(
            figures,
            MapFigures {
                blocks_total: 15,
                used_blocks: 7,
                free_blocks: 8,
                one_blocks: 2,
                two_blocks: 1,
                max_block: 3,
                // Runs never span areas: the trailing `.` of area 0 and the leading `....` of
                // area 1 are separate runs.
                max_free: 4,
            }
        );
    }
}
