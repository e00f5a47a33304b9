//! Reading `micropython.mem_info()` / `mem_info(1)` text into a [`Snapshot`].
//!
//! The reader works on bytes, line by line, and tolerates what a serial capture carries around
//! a dump: CR/LF, echoed input and `>>>` prompts, raw-REPL framing (`OK`, `\x04`, `>`), a
//! trailing `None`, ANSI escape codes, non-UTF-8 junk. Formats it accepts (facts §1): the
//! `mem:`, `stack:`, `GC:` (with or without `max new split`) and `No. of 1-blocks` lines, a
//! `qstr pool:` line, any number of `GC memory layout; from ADDR:` areas, offset columns of any
//! width (5 digits before v1.20, 8 after), `(N lines all free)` rows and a short last row.
//!
//! Invariant: never panics and never allocates more than [`MAX_BLOCKS`] blocks, whatever the
//! input (the `read_dump` fuzz target checks this).

use std::borrow::Cow;

use super::{Area, BlockKind, Header, QstrPool, Snapshot, Warning, BLOCKS_PER_ROW};

/// Upper bound on the blocks of one dump (all areas): 64 Mi blocks, i.e. a 1 GiB heap of
/// 16-byte blocks. Real heaps are far smaller; the bound keeps hostile input from exhausting
/// memory with `(999999999 lines all free)`.
pub const MAX_BLOCKS: usize = 1 << 26;

/// Block sizes the reader will infer. The default on every port is 4 machine words.
const BLOCK_SIZE_CANDIDATES: [u32; 7] = [16, 32, 8, 64, 4, 128, 256];

/// At most this many row-placement warnings per dump; a badly damaged capture would
/// otherwise carry one per row.
const MAX_ROW_WARNINGS: usize = 20;

/// Why a text is not a readable dump. Line numbers are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DumpError {
    /// Nothing in the input looks like `mem_info` output.
    #[error("no mem_info output in {lines} line(s): expected a `GC: total: N, used: N, free: N` line or a `GC memory layout; from ADDR:` map")]
    NotADump { lines: usize },
    /// A line that starts a known dump line but does not continue as it must.
    #[error("line {line}: expected {expected}, found `{found}`")]
    Malformed {
        line: usize,
        expected: &'static str,
        found: String,
    },
    /// A map row holds a character that is not a block letter.
    #[error("line {line}, column {column}: expected a block letter (one of `.=hTLDSAFBMm`), found `{found}`")]
    BadBlock {
        line: usize,
        column: usize,
        found: String,
    },
    /// The map would be implausibly large (hostile or corrupted input).
    #[error("line {line}: the map would exceed {limit} blocks; this is not a real heap")]
    TooLarge { line: usize, limit: usize },
}

/// How [`Snapshot::block_bytes`] was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockBytesSource {
    /// From the map's offset column (offset of a row / its first block index).
    MapOffsets,
    /// From `GC: total` divided by the number of blocks in the map.
    GcTotal,
    /// Not in the dump (e.g. `mem_info()` without the map): a port default was assumed.
    Assumed,
}

/// Read a dump given as bytes (as captured from a serial port; need not be UTF-8).
pub fn parse_dump(input: &[u8]) -> Result<Snapshot, DumpError> {
    parse_dump_detailed(input).map(|(snapshot, _)| snapshot)
}

/// Read a dump given as text.
pub fn parse_dump_str(input: &str) -> Result<Snapshot, DumpError> {
    parse_dump(input.as_bytes())
}

/// Like [`parse_dump`], also telling where the block size came from.
pub fn parse_dump_detailed(input: &[u8]) -> Result<(Snapshot, BlockBytesSource), DumpError> {
    let mut reader = Reader {
        input_len: input.len(),
        ..Reader::default()
    };
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', input).chain(std::iter::once(input.len()));
    for (index, end) in ends.enumerate() {
        let raw = &input[start..end];
        start = end + 1;
        let cleaned = clean(raw);
        let line = cleaned.trim_ascii();
        if line.is_empty() {
            continue;
        }
        if reader.line(index + 1, line)? == Flow::Stop {
            break;
        }
    }
    // For the error message: the piece after a final newline is not a line.
    let newlines = input.iter().filter(|&&b| b == b'\n').count();
    let lines = newlines + usize::from(!input.is_empty() && !input.ends_with(b"\n"));
    reader.finish(lines)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// Order in which `mem_info` prints its parts. A part at or before the latest one seen, once
/// the GC line or a map was read, means a second dump begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
enum Stage {
    #[default]
    Nothing,
    Mem,
    Stack,
    Gc,
    OneBlocks,
    Map,
}

/// What the first pass remembers about each map row, to check offsets once the block size is
/// known.
#[derive(Debug, Clone, Copy)]
enum Item {
    Row {
        line: usize,
        offset: u64,
        digits: u32,
        /// Block index where the row was placed by counting rows (before offset checks).
        start: usize,
        len: usize,
    },
    AllFree {
        blocks: usize,
    },
}

#[derive(Debug, Default)]
struct AreaBuilder {
    address: Option<u64>,
    blocks: Vec<BlockKind>,
    items: Vec<Item>,
}

#[derive(Debug, Default)]
struct Reader {
    header: Header,
    areas: Vec<AreaBuilder>,
    stage: Stage,
    /// True while consecutive lines are map rows; a row with bad letters is an error only here.
    in_map: bool,
    total_blocks: usize,
    warnings: Vec<Warning>,
    /// Length of the whole input, to size the block vector once.
    input_len: usize,
}

impl Reader {
    fn started(&self) -> bool {
        self.header.gc_total.is_some() || !self.areas.is_empty()
    }

    /// Enter `stage`; returns `Stop` when it shows that a second dump starts.
    fn enter(&mut self, stage: Stage, line: usize) -> Flow {
        if stage <= self.stage && self.started() && stage != Stage::Map {
            self.warnings.push(Warning::ExtraDump { line });
            return Flow::Stop;
        }
        self.stage = self.stage.max(stage);
        Flow::Continue
    }

    fn line(&mut self, number: usize, line: &[u8]) -> Result<Flow, DumpError> {
        if let Some(row) = parse_row(line) {
            return self.row(number, line, row);
        }
        if let Some(lines_free) = parse_all_free(line) {
            if self.in_map || !self.areas.is_empty() {
                return self.all_free(number, lines_free);
            }
            return Ok(Flow::Continue);
        }
        self.in_map = false;
        if let Some(at) = find(line, b"GC memory layout") {
            if self.enter(Stage::Map, number) == Flow::Stop {
                return Ok(Flow::Stop);
            }
            self.areas.push(AreaBuilder {
                address: parse_area_address(&line[at..]),
                ..AreaBuilder::default()
            });
            self.in_map = true;
            return Ok(Flow::Continue);
        }
        if let Some(at) = find(line, b"GC: total:") {
            if self.enter(Stage::Gc, number) == Flow::Stop {
                return Ok(Flow::Stop);
            }
            return self.gc_line(number, line, &line[at + 3..]);
        }
        if let Some(at) = find(line, b"No. of 1-blocks:") {
            if self.enter(Stage::OneBlocks, number) == Flow::Stop {
                return Ok(Flow::Stop);
            }
            return self.one_blocks_line(number, line, &line[at + 7..]);
        }
        if let Some(at) = find(line, b"qstr pool:") {
            let fields = key_values(&line[at + 10..], b'=');
            if let (Some(n_pool), Some(n_qstr), Some(n_str_data_bytes), Some(n_total_bytes)) = (
                lookup(&fields, b"n_pool"),
                lookup(&fields, b"n_qstr"),
                lookup(&fields, b"n_str_data_bytes"),
                lookup(&fields, b"n_total_bytes"),
            ) {
                self.header.qstr = Some(QstrPool {
                    n_pool,
                    n_qstr,
                    n_str_data_bytes,
                    n_total_bytes,
                });
            }
            return Ok(Flow::Continue);
        }
        // `stack:` and `mem:` are only taken when they parse: the words are common enough to
        // appear in unrelated output around a dump.
        if let Some(at) = find(line, b"stack: ") {
            let rest = &line[at + 7..];
            if let Some((used, after)) = leading_number(rest) {
                if self.enter(Stage::Stack, number) == Flow::Stop {
                    return Ok(Flow::Stop);
                }
                self.header.stack_used = Some(used);
                self.header.stack_limit = after
                    .trim_ascii_start()
                    .strip_prefix(b"out of")
                    .and_then(|limit| leading_number(limit.trim_ascii_start()))
                    .map(|(limit, _)| limit);
            }
            return Ok(Flow::Continue);
        }
        if let Some(at) = find(line, b"mem: total=") {
            let fields = key_values(&line[at + 5..], b'=');
            if let (Some(total), Some(current), Some(peak)) = (
                lookup(&fields, b"total"),
                lookup(&fields, b"current"),
                lookup(&fields, b"peak"),
            ) {
                if self.enter(Stage::Mem, number) == Flow::Stop {
                    return Ok(Flow::Stop);
                }
                self.header.mem_total = Some(total);
                self.header.mem_current = Some(current);
                self.header.mem_peak = Some(peak);
            }
            return Ok(Flow::Continue);
        }
        Ok(Flow::Continue)
    }

    fn gc_line(&mut self, number: usize, line: &[u8], fields: &[u8]) -> Result<Flow, DumpError> {
        const EXPECTED: &str = "`GC: total: N, used: N, free: N` (optionally `, max new split: N`)";
        let fields = key_values(fields, b':');
        match (
            lookup(&fields, b"total"),
            lookup(&fields, b"used"),
            lookup(&fields, b"free"),
        ) {
            (Some(total), Some(used), Some(free)) => {
                self.header.gc_total = Some(total);
                self.header.gc_used = Some(used);
                self.header.gc_free = Some(free);
                self.header.max_new_split = lookup(&fields, b"max new split");
                Ok(Flow::Continue)
            }
            _ => Err(malformed(number, EXPECTED, line)),
        }
    }

    fn one_blocks_line(
        &mut self,
        number: usize,
        line: &[u8],
        fields: &[u8],
    ) -> Result<Flow, DumpError> {
        const EXPECTED: &str = "`No. of 1-blocks: N, 2-blocks: N, max blk sz: N, max free sz: N`";
        let fields = key_values(fields, b':');
        match (
            lookup(&fields, b"1-blocks"),
            lookup(&fields, b"2-blocks"),
            lookup(&fields, b"max blk sz"),
        ) {
            (Some(one), Some(two), Some(max_block)) => {
                self.header.one_blocks = Some(one);
                self.header.two_blocks = Some(two);
                self.header.max_block = Some(max_block);
                // Firmware older than v1.9 had no `max free sz`.
                self.header.max_free = lookup(&fields, b"max free sz");
                Ok(Flow::Continue)
            }
            _ => Err(malformed(number, EXPECTED, line)),
        }
    }

    fn row(&mut self, number: usize, line: &[u8], row: Row<'_>) -> Result<Flow, DumpError> {
        if self.total_blocks + row.data.len() > MAX_BLOCKS {
            return Err(DumpError::TooLarge {
                line: number,
                limit: MAX_BLOCKS,
            });
        }
        if self.areas.is_empty() {
            // Firmware built with EXTENSIVE_HEAP_PROFILING prints no area header.
            self.areas.push(AreaBuilder::default());
        }
        let input_len = self.input_len;
        let Some(area) = self.areas.last_mut() else {
            return Ok(Flow::Continue);
        };
        if area.blocks.capacity() == 0 {
            // Every block takes at least one byte of input (runs of free lines aside).
            area.blocks.reserve(input_len.min(MAX_BLOCKS));
        }
        let start = area.blocks.len();
        // Convert and validate in one pass; the bad column is only looked for on error.
        let mut all_valid = true;
        area.blocks.extend(row.data.iter().map(|&b| {
            let kind = BLOCK_BYTES[b as usize];
            all_valid &= kind.is_some();
            kind.unwrap_or(BlockKind::Free)
        }));
        if !all_valid {
            area.blocks.truncate(start);
            let unused_implicit_area =
                area.blocks.is_empty() && area.items.is_empty() && area.address.is_none();
            if unused_implicit_area && self.areas.len() == 1 {
                self.areas.clear();
            }
            let bad = row
                .data
                .iter()
                .position(|&b| BLOCK_BYTES[b as usize].is_none())
                .unwrap_or(0);
            if self.in_map {
                let column = line.len() - row.data.len() + bad + 1;
                let end = (bad + 4).min(row.data.len());
                return Err(DumpError::BadBlock {
                    line: number,
                    column,
                    found: String::from_utf8_lossy(&row.data[bad..end]).into_owned(),
                });
            }
            // Outside a map, `dead: beef` is just noise.
            return Ok(Flow::Continue);
        }
        area.items.push(Item::Row {
            line: number,
            offset: row.offset,
            digits: row.digits,
            start,
            len: row.data.len(),
        });
        self.total_blocks += row.data.len();
        self.in_map = true;
        // Rows never start a new dump (stage Map repeats), so this cannot stop.
        let _ = self.enter(Stage::Map, number);
        Ok(Flow::Continue)
    }

    fn all_free(&mut self, number: usize, lines_free: u64) -> Result<Flow, DumpError> {
        let too_large = DumpError::TooLarge {
            line: number,
            limit: MAX_BLOCKS,
        };
        let blocks = usize::try_from(lines_free)
            .ok()
            .and_then(|n| n.checked_mul(BLOCKS_PER_ROW))
            .filter(|&n| n <= MAX_BLOCKS - self.total_blocks)
            .ok_or(too_large)?;
        self.total_blocks += blocks;
        if let Some(area) = self.areas.last_mut() {
            area.blocks
                .resize(area.blocks.len() + blocks, BlockKind::Free);
            area.items.push(Item::AllFree { blocks });
        }
        self.in_map = true;
        Ok(Flow::Continue)
    }

    fn finish(mut self, lines: usize) -> Result<(Snapshot, BlockBytesSource), DumpError> {
        if !self.started() {
            return Err(DumpError::NotADump { lines });
        }
        let (block_bytes, source) = self.block_bytes();
        let mut row_warnings = 0;
        let mut areas = Vec::with_capacity(self.areas.len());
        let mut placed_so_far = 0;
        for (index, builder) in std::mem::take(&mut self.areas).into_iter().enumerate() {
            let blocks = place_rows(
                index,
                builder.blocks,
                &builder.items,
                block_bytes,
                MAX_BLOCKS.saturating_sub(placed_so_far),
                &mut self.warnings,
                &mut row_warnings,
            )?;
            placed_so_far += blocks.len();
            areas.push(Area {
                address: builder.address,
                blocks,
            });
        }
        let mut snapshot = Snapshot {
            header: self.header,
            areas,
            block_bytes,
            warnings: self.warnings,
        };
        if snapshot.has_map() && source == BlockBytesSource::Assumed {
            snapshot.warnings.push(Warning::BlockSizeAssumed {
                block_bytes,
                reason: "one row per area and no usable GC total",
            });
        }
        add_block_warnings(&mut snapshot);
        let mismatches = snapshot.cross_check();
        snapshot.warnings.extend(mismatches);
        Ok((snapshot, source))
    }

    /// Infer the block size: from the offset column (each row starts 64 blocks after the last),
    /// else from `GC: total` / blocks, else a port default.
    fn block_bytes(&mut self) -> (u32, BlockBytesSource) {
        let mut votes = [0usize; BLOCK_SIZE_CANDIDATES.len()];
        for item in self.areas.iter().flat_map(|a| &a.items) {
            if let Item::Row {
                offset,
                digits,
                start,
                ..
            } = *item
            {
                if start == 0 {
                    continue;
                }
                for (vote, &candidate) in votes.iter_mut().zip(&BLOCK_SIZE_CANDIDATES) {
                    let expected = (start as u64).wrapping_mul(u64::from(candidate));
                    if mask_to_digits(expected, digits) == offset {
                        *vote += 1;
                    }
                }
            }
        }
        let from_offsets = votes
            .iter()
            .zip(&BLOCK_SIZE_CANDIDATES)
            .filter(|(&v, _)| v > 0)
            // Most votes wins; on a tie the earlier (more common) candidate.
            .max_by(|a, b| a.0.cmp(b.0).then(b.1.cmp(a.1)))
            .map(|(_, &c)| c);
        let blocks = self.total_blocks as u64;
        let from_totals = self
            .header
            .gc_total
            .filter(|_| blocks > 0)
            .filter(|total| total % blocks == 0)
            .map(|total| total / blocks)
            .and_then(|b| u32::try_from(b).ok())
            .filter(|b| BLOCK_SIZE_CANDIDATES.contains(b));
        match (from_offsets, from_totals) {
            (Some(offsets), totals) => {
                if let Some(totals) = totals.filter(|&t| t != offsets) {
                    self.warnings.push(Warning::BlockSizeDisagrees {
                        from_offsets: offsets,
                        from_totals: totals,
                    });
                }
                (offsets, BlockBytesSource::MapOffsets)
            }
            (None, Some(totals)) => (totals, BlockBytesSource::GcTotal),
            // Only ports with MICROPY_MEM_STATS print `mem:`; of those the unix port (64-bit,
            // 32-byte blocks) is the one this project runs. Boards print no `mem:` line.
            (None, None) if self.header.mem_total.is_some() => (32, BlockBytesSource::Assumed),
            (None, None) => (16, BlockBytesSource::Assumed),
        }
    }
}

/// Check each row's offset column against where counting rows put it; on disagreement trust
/// the offset (a lost or repeated chunk of a serial capture) and rebuild the area.
fn place_rows(
    area: usize,
    blocks: Vec<BlockKind>,
    items: &[Item],
    block_bytes: u32,
    limit: usize,
    warnings: &mut Vec<Warning>,
    row_warnings: &mut usize,
) -> Result<Vec<BlockKind>, DumpError> {
    let bytes = u64::from(block_bytes);
    let found_block = |offset: u64, digits: u32, expected: usize| -> Option<usize> {
        let resolved = resolve_offset(offset, digits, (expected as u64).saturating_mul(bytes));
        if resolved % bytes != 0 {
            return None;
        }
        usize::try_from(resolved / bytes).ok()
    };
    let in_place = items.iter().all(|item| match *item {
        Item::Row {
            offset,
            digits,
            start,
            ..
        } => found_block(offset, digits, start).is_none_or(|found| found == start),
        Item::AllFree { .. } => true,
    });
    if in_place {
        return Ok(blocks);
    }
    let mut placed: Vec<BlockKind> = Vec::with_capacity(blocks.len());
    let mut pending_free = 0usize;
    for item in items {
        match *item {
            Item::AllFree { blocks } => pending_free += blocks,
            Item::Row {
                line,
                offset,
                digits,
                start,
                len,
            } => {
                let expected = placed.len() + pending_free;
                let found = found_block(offset, digits, expected).unwrap_or(expected);
                if found.saturating_add(len) > limit {
                    return Err(DumpError::TooLarge {
                        line,
                        limit: MAX_BLOCKS,
                    });
                }
                if found != expected && *row_warnings < MAX_ROW_WARNINGS {
                    *row_warnings += 1;
                    warnings.push(Warning::RowMisplaced {
                        line,
                        area,
                        offset,
                        expected,
                        found,
                        action: if found > expected {
                            "gap filled with free blocks"
                        } else {
                            "overlapping blocks replaced by this row"
                        },
                    });
                }
                placed.resize(found, BlockKind::Free);
                placed.extend_from_slice(blocks.get(start..start + len).unwrap_or(&[]));
                pending_free = 0;
            }
        }
    }
    let end = placed.len() + pending_free;
    if end > limit {
        let line = items.iter().rev().find_map(|item| match item {
            Item::Row { line, .. } => Some(*line),
            Item::AllFree { .. } => None,
        });
        return Err(DumpError::TooLarge {
            line: line.unwrap_or(0),
            limit: MAX_BLOCKS,
        });
    }
    placed.resize(end, BlockKind::Free);
    Ok(placed)
}

/// Warnings that depend only on the blocks: orphan tails and marked heads.
fn add_block_warnings(snapshot: &mut Snapshot) {
    let marked: usize = snapshot
        .areas
        .iter()
        .map(|area| {
            area.blocks
                .iter()
                .filter(|&&k| k == BlockKind::Marked)
                .count()
        })
        .sum();
    let mut new_warnings = Vec::new();
    // One warning per area with tails that follow a free block (or start the area).
    let mut warned_area = None;
    for allocation in snapshot.allocations() {
        if allocation.kind == BlockKind::Tail && warned_area != Some(allocation.area) {
            warned_area = Some(allocation.area);
            new_warnings.push(Warning::OrphanTail {
                area: allocation.area,
                offset: allocation.offset,
            });
        }
    }
    if marked > 0 {
        new_warnings.push(Warning::MarkedBlocks { count: marked });
    }
    snapshot.warnings.extend(new_warnings);
}

/// The offset column only keeps `digits` hex digits (5-digit columns wrap above 1 MiB):
/// the real offset is the value with those low digits nearest to where the row should be.
fn resolve_offset(offset: u64, digits: u32, expected: u64) -> u64 {
    if digits >= 16 {
        return offset;
    }
    let modulus = 1u64 << (4 * digits);
    let base = expected - expected % modulus;
    let candidates = [
        base.checked_add(offset),
        base.checked_add(offset)
            .and_then(|c| c.checked_sub(modulus)),
        base.checked_add(offset)
            .and_then(|c| c.checked_add(modulus)),
    ];
    candidates
        .into_iter()
        .flatten()
        .min_by_key(|c| c.abs_diff(expected))
        .unwrap_or(offset)
}

fn mask_to_digits(value: u64, digits: u32) -> u64 {
    if digits >= 16 {
        value
    } else {
        value & ((1u64 << (4 * digits)) - 1)
    }
}

/// Which bytes are block letters, as a table: one load per byte while reading.
const BLOCK_BYTES: [Option<BlockKind>; 256] = {
    let mut table = [None; 256];
    let mut i = 0;
    while i < BlockKind::ALL.len() {
        table[BlockKind::ALL[i] as u8 as usize] = Some(BlockKind::ALL[i]);
        i += 1;
    }
    table
};

/// A map row: `OFFSET: LETTERS`.
struct Row<'a> {
    offset: u64,
    digits: u32,
    data: &'a [u8],
}

/// Recognise `HEX: DATA` (DATA not yet validated). Raw-REPL framing (`OK`, `>`) glued to the
/// front of a line is skipped.
fn parse_row(line: &[u8]) -> Option<Row<'_>> {
    let mut s = line;
    loop {
        if let Some(rest) = s.strip_prefix(b"OK") {
            s = rest;
        } else if let Some(rest) = s.strip_prefix(b">") {
            s = rest;
        } else {
            break;
        }
    }
    let digits = s.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return None;
    }
    let rest = s[digits..].strip_prefix(b":")?;
    let data = rest.trim_ascii_start();
    if data.is_empty() {
        return None;
    }
    let mut offset = 0u64;
    for &b in &s[..digits] {
        let nibble = (b as char).to_digit(16)?;
        offset = (offset << 4) | u64::from(nibble);
    }
    Some(Row {
        offset,
        digits: digits as u32,
        data,
    })
}

/// Recognise `(N lines all free)`.
fn parse_all_free(line: &[u8]) -> Option<u64> {
    let inner = line.strip_prefix(b"(")?.strip_suffix(b")")?;
    let (count, rest) = leading_number(inner)?;
    let rest = rest.trim_ascii();
    (rest == b"lines all free" || rest == b"line all free").then_some(count)
}

/// The hex address of `GC memory layout; from ADDR:` (with or without `0x`).
fn parse_area_address(line: &[u8]) -> Option<u64> {
    let at = find(line, b"from")?;
    let rest = line[at + 4..].trim_ascii_start();
    let rest = rest
        .strip_prefix(b"0x")
        .or_else(|| rest.strip_prefix(b"0X"))
        .unwrap_or(rest);
    let digits = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return None;
    }
    std::str::from_utf8(&rest[..digits])
        .ok()
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
}

/// Split `a: 1, b c: 2` (or `a=1, b=2`) into (key, number) pairs; a value that does not start
/// with digits gives `None`.
fn key_values(text: &[u8], separator: u8) -> Vec<(&[u8], Option<u64>)> {
    text.split(|&b| b == b',')
        .filter_map(|field| {
            let at = field.iter().position(|&b| b == separator)?;
            let key = field[..at].trim_ascii();
            let value = leading_number(field[at + 1..].trim_ascii_start()).map(|(n, _)| n);
            Some((key, value))
        })
        .collect()
}

/// The value of the first field whose key ends with `key` (`No. of 1-blocks` ends with
/// `1-blocks`).
fn lookup(fields: &[(&[u8], Option<u64>)], key: &[u8]) -> Option<u64> {
    fields
        .iter()
        .find(|(k, _)| k.ends_with(key))
        .and_then(|(_, v)| *v)
}

/// A decimal number at the start of `text`, and what follows it.
fn leading_number(text: &[u8]) -> Option<(u64, &[u8])> {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let mut value = 0u64;
    for &b in &text[..digits] {
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some((value, &text[digits..]))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn malformed(line: usize, expected: &'static str, found: &[u8]) -> DumpError {
    const SHOWN: usize = 80;
    let shown = &found[..found.len().min(SHOWN)];
    let mut found = String::from_utf8_lossy(shown).into_owned();
    if shown.len() < found.len() {
        found.push('…');
    }
    DumpError::Malformed {
        line,
        expected,
        found,
    }
}

/// Remove ANSI escape sequences and control characters (raw-REPL `\x04`, Ctrl-A/B/C echoes…).
/// Borrowed when the line has none, which is the case for every line of a clean dump.
fn clean(line: &[u8]) -> Cow<'_, [u8]> {
    // No early exit, so the compiler can vectorise the check of every clean line.
    let needs_cleaning = line.iter().fold(false, |dirty, &b| {
        dirty | ((b < 0x20) & (b != b'\t') & (b != b'\r')) | (b == 0x7f)
    });
    if !needs_cleaning {
        return Cow::Borrowed(line);
    }
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        if b == 0x1b {
            i += 1;
            match line.get(i) {
                // CSI: ESC [ parameters/intermediates, then one final byte 0x40..=0x7e.
                Some(b'[') => {
                    i += 1;
                    while i < line.len() && !(0x40..=0x7e).contains(&line[i]) {
                        i += 1;
                    }
                    i += 1;
                }
                // OSC: ESC ] … terminated by BEL or ESC \.
                Some(b']') => {
                    i += 1;
                    while i < line.len() && line[i] != 0x07 && line[i] != 0x1b {
                        i += 1;
                    }
                    if line.get(i) == Some(&0x1b) {
                        i += 1;
                    }
                    i += 1;
                }
                // Two-byte sequences such as ESC c.
                Some(_) => i += 1,
                None => {}
            }
            continue;
        }
        if (b >= 0x20 && b != 0x7f) || b == b'\t' || b == b'\r' {
            out.push(b);
        }
        i += 1;
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_with_5_and_8_digit_offsets() {
        let row = parse_row(b"00400: h=..").unwrap();
        assert_eq!((row.offset, row.digits, row.data), (0x400, 5, &b"h=.."[..]));
        let row = parse_row(b"OK0000c800: ..").unwrap();
        assert_eq!((row.offset, row.digits), (0xc800, 8));
        assert!(parse_row(b"GC: total: 1").is_none());
        assert!(parse_row(b"00400:").is_none());
    }

    #[test]
    fn all_free_rows() {
        assert_eq!(parse_all_free(b"(181 lines all free)"), Some(181));
        assert_eq!(parse_all_free(b"(181 lines)"), None);
        assert_eq!(
            parse_all_free(b"(99999999999999999999999 lines all free)"),
            None
        );
    }

    #[test]
    fn five_digit_offsets_wrap_above_one_mebibyte() {
        // Row 1024 of a 16-byte-block heap is at 0x100000, printed as 00000.
        assert_eq!(resolve_offset(0, 5, 0x100000), 0x100000);
        assert_eq!(resolve_offset(0x00400, 5, 0x100400), 0x100400);
        assert_eq!(resolve_offset(0x400, 8, 0x400), 0x400);
    }

    #[test]
    fn ansi_and_control_characters_are_removed() {
        assert_eq!(
            &*clean(b"\x1b[32mGC: total: 1\x1b[0m\x04"),
            &b"GC: total: 1"[..]
        );
        assert_eq!(&*clean(b"\x1b]0;title\x07ok"), &b"ok"[..]);
        assert!(matches!(clean(b"00000: h=.\r"), Cow::Borrowed(_)));
    }

    #[test]
    fn key_value_fields() {
        let fields = key_values(b" total: 192064, used: 4896, free: 187168", b':');
        assert_eq!(lookup(&fields, b"used"), Some(4896));
        assert_eq!(lookup(&fields, b"peak"), None);
    }
}
