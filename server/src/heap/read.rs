//! Reading `micropython.mem_info()` / `mem_info(1)` text into the [`Dump`]s it holds.
//!
//! Input is bytes as people capture and paste them: any line endings (LF, CR LF, CR alone,
//! mixed), noise around the dumps (echoed input, `>>>` prompts, raw-REPL framing, `None`,
//! ANSI escape codes, non-UTF-8 junk), line prefixes (`[12:34:56.789]` and other timestamps,
//! ESP-IDF `I (1234) tag:` log prefixes, Segger RTT `0>` channels, `>>> ` prompts,
//! indentation from documentation) and numbers with thousands separators (`71 456`,
//! `71,456`, `71_456`, `71'456`).
//!
//! Formats, checked against `py/gc.c` and `py/modmicropython.c` at the tags named:
//! - v1.0–v1.3: offsets count blocks (`%04x` of the block index); no free-line compression.
//! - v1.4–v1.8: tails printed `t`; the offset column is the low 20 bits of each row's
//!   *address*, not its offset; no `S`/`A` letters; no `max free sz` (9a8751b006, 68a7a92cec).
//! - v1.8.1: `=` tails, offsets from the pool start; v1.8.2 adds `max free sz` (749cbaca7f).
//! - v1.9–v1.19: 5-digit offsets wrapping above 1 MiB; v1.20+: 8 digits (e78e0b7418) and one
//!   `GC memory layout` per area of a split heap; v1.21+: `, max new split: S`.
//! - `GC area #N (size S), from ADDR:` per area (micropython/micropython#3533, never merged).
//!
//! A capture may hold several dumps (a device log, a series of REPL calls): each becomes one
//! [`Dump`]. A new dump starts where a header line comes again, or where a map restarts at
//! an area it already printed.
//!
//! Invariants: never panics; never holds more than [`MAX_BLOCKS`] blocks whatever the input
//! (the `read_dump` fuzz target checks both); memory stays proportional to the input (at most
//! 25 bytes per byte of text on top of one byte per block, `tests/heap_memory.rs`).

use std::borrow::Cow;

use super::{
    Area, BlockBytesSource, BlockKind, Header, MapFigures, MapState, QstrPool, Snapshot, Warning,
    BLOCKS_PER_ROW,
};

/// Upper bound on the blocks of one input (all dumps, all areas): 64 Mi blocks, i.e. a 1 GiB
/// heap of 16-byte blocks. Real heaps are far smaller; the bound keeps hostile input from
/// exhausting memory with `(999999999 lines all free)`.
pub const MAX_BLOCKS: usize = 1 << 26;

/// Bytes per offset step the reader recognises in the offset column: block sizes (4 words on
/// 8-, 16-, 32- and 64-bit ports, and larger configured sizes), and 1 for the block-index
/// offsets of v1.0–v1.3. On a tie the earlier (more common) one wins.
const OFFSET_UNITS: [u32; 8] = [16, 32, 8, 64, 4, 128, 256, 1];

/// The block sizes MicroPython builds use (`4 × word`: 32- and 64-bit ports; no port
/// overrides `MICROPY_BYTES_PER_GC_BLOCK` of `py/gc.h`). Header arithmetic picks among these
/// only; the map's offsets can establish any size in [`OFFSET_UNITS`].
pub const HEADER_BLOCK_SIZES: [u32; 2] = [16, 32];

/// At most this many row-placement warnings per dump; a badly damaged capture would
/// otherwise carry one per row.
const MAX_ROW_WARNINGS: usize = 20;

/// At most this many warnings about unknown or unreadable lines per dump.
const MAX_LINE_WARNINGS: usize = 10;

/// Unknown lines remembered while waiting to see whether the dump goes on after them.
const MAX_PENDING: usize = 4;

/// Why a text is not a readable dump. Line numbers are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DumpError {
    /// Nothing in the input looks like `mem_info` output.
    #[error("no mem_info output in {lines} line(s): expected a `GC: total: N, used: N, free: N` line or a `GC memory layout; from ADDR:` map")]
    NotADump { lines: usize },
    /// A line that starts a known dump line but whose figures cannot be read, and nothing
    /// else in the input is readable.
    #[error("line {line}: expected {expected}, found `{found}`")]
    Malformed {
        line: usize,
        expected: &'static str,
        found: String,
    },
    /// A map row holds a character that is not a block letter, and nothing else in the
    /// input is readable.
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

/// One dump of a capture.
#[derive(Debug, Clone, PartialEq)]
pub struct Dump {
    pub snapshot: Snapshot,
    /// First and last line (1-based, inclusive) of the dump's own lines.
    pub first_line: usize,
    pub last_line: usize,
    /// Where each map row went; filled only by [`parse_dumps_with_rows`].
    pub rows: Vec<RowPlacement>,
}

/// Where one printed map row lies in its snapshot (for editor features).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowPlacement {
    /// 1-based input line.
    pub line: usize,
    /// 0-based column of the row's first block letter in the line (ANSI codes removed).
    pub column: usize,
    pub area: usize,
    /// Block index of the row's first letter within its area.
    pub block: usize,
    pub blocks: usize,
}

/// Read every dump of a capture (bytes as captured from a serial port; need not be UTF-8).
/// Fails only when nothing in the input is readable.
pub fn parse_dumps(input: &[u8]) -> Result<Vec<Dump>, DumpError> {
    read(input, false)
}

/// Like [`parse_dumps`], also recording where each map row lies ([`Dump::rows`]).
pub fn parse_dumps_with_rows(input: &[u8]) -> Result<Vec<Dump>, DumpError> {
    read(input, true)
}

/// Read the first dump of a capture. When the capture holds more, the snapshot carries a
/// [`Warning::ExtraDump`].
pub fn parse_dump(input: &[u8]) -> Result<Snapshot, DumpError> {
    let dumps = parse_dumps(input)?;
    let count = dumps.len();
    let second = dumps.get(1).map(|d| d.first_line);
    let mut first = dumps.into_iter().next().map(|d| d.snapshot).ok_or(
        // `read` never returns an empty list; this keeps the function total.
        DumpError::NotADump { lines: 0 },
    )?;
    if let Some(line) = second {
        first.warnings.push(Warning::ExtraDump { line, count });
    }
    Ok(first)
}

/// Read the first dump of a text.
pub fn parse_dump_str(input: &str) -> Result<Snapshot, DumpError> {
    parse_dump(input.as_bytes())
}

fn read(input: &[u8], keep_rows: bool) -> Result<Vec<Dump>, DumpError> {
    // Room for every dump with a GC line from the start: a capture can hold a dump per line,
    // and doubling a vector of them would cost twice the memory.
    let dumps_with_gc_line = memchr::memmem::find_iter(input, b"GC: total").count();
    let mut reader = Reader {
        keep_rows,
        dumps: Vec::with_capacity(dumps_with_gc_line),
        ..Reader::default()
    };
    let mut lines = 0;
    for (index, raw) in Lines::new(input).enumerate() {
        lines = index + 1;
        let cleaned = clean(raw);
        let start = strip_prefixes(&cleaned);
        let line = cleaned[start..].trim_ascii();
        if line.is_empty() {
            continue;
        }
        reader.line(index + 1, line, start)?;
    }
    reader.finish_current()?;
    let Reader {
        mut dumps,
        first_error,
        ..
    } = reader;
    if dumps.is_empty() {
        return Err(first_error.unwrap_or(DumpError::NotADump { lines }));
    }
    dumps.shrink_to_fit();
    Ok(dumps)
}

/// Lines split at LF, CR LF and lone CR (as LSP counts lines, so line numbers agree with the
/// editor's).
struct Lines<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Lines<'a> {
    fn new(input: &'a [u8]) -> Self {
        Lines { input, pos: 0 }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.input.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        match memchr::memchr2(b'\n', b'\r', rest) {
            Some(at) => {
                let ending = if rest[at] == b'\r' && rest.get(at + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                self.pos += at + ending;
                Some(&rest[..at])
            }
            None => {
                self.pos = self.input.len();
                Some(rest)
            }
        }
    }
}

/// Order in which `mem_info` prints its parts. A part at or before the latest one seen, once
/// the GC line or a map was read, means a new dump begins.
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

/// What the first pass remembers of each map row, to check offsets once the block size is
/// known. Kept small: one per row of input.
#[derive(Debug, Clone, Copy)]
struct Item {
    offset: u64,
    line: u32,
    /// Block index where counting rows placed the row.
    start: u32,
    /// Blocks of the row (or of the free lines).
    len: u32,
    /// Column of the row's letters, for [`RowPlacement`].
    column: u16,
    /// Hex digits of the offset column; 0 marks a `(N lines all free)` line.
    digits: u8,
}

impl Item {
    fn is_row(&self) -> bool {
        self.digits > 0
    }
}

#[derive(Debug, Default)]
struct AreaBuilder {
    address: Option<u64>,
    /// Bytes the `GC area #N (size S)` form declares.
    declared_bytes: Option<u64>,
    /// The `GC memory layout` line (0 for an area implied by rows without one).
    line: usize,
    blocks: Vec<BlockKind>,
    /// Index of the area's first item in [`DumpBuilder::items`].
    items_start: usize,
    /// Some block was printed as `t` (v1.4–v1.8 tails).
    old_tails: bool,
}

#[derive(Debug, Default)]
struct DumpBuilder {
    header: Header,
    areas: Vec<AreaBuilder>,
    /// Addresses of the areas, to see a map start again in one look-up.
    addresses: std::collections::HashSet<u64>,
    items: Vec<Item>,
    stage: Stage,
    warnings: Vec<Warning>,
    line_warnings: usize,
    first_line: usize,
    last_line: usize,
    /// Some map row was left out (bad letters).
    bad_rows: bool,
    /// Unknown lines since the last line of this dump: warned about only if the dump goes on.
    pending: Vec<Pending>,
}

/// A line of unknown meaning after the last line of a dump. If the dump goes on after it, it
/// was inside the dump and gets a warning; otherwise it is what follows the dump.
#[derive(Debug)]
struct Pending {
    line: usize,
    text: String,
    /// A row-shaped line with a character that is no block letter: (column, the bad text).
    bad_row: Option<(usize, String)>,
}

impl DumpBuilder {
    fn started(&self) -> bool {
        self.stage >= Stage::Gc || !self.areas.is_empty()
    }

    /// A line of this dump was read: unknown lines before it were inside the dump.
    fn note_line(&mut self, number: usize) {
        if self.first_line == 0 {
            self.first_line = number;
        }
        self.last_line = number;
        for pending in std::mem::take(&mut self.pending) {
            let warning = match pending.bad_row {
                Some((column, found)) => {
                    self.bad_rows = true;
                    Warning::BadRow {
                        line: pending.line,
                        column,
                        found,
                    }
                }
                None => Warning::UnknownLine {
                    line: pending.line,
                    text: pending.text,
                },
            };
            self.warn_line(warning);
        }
    }

    fn remember(&mut self, pending: Pending) {
        if self.started() && self.pending.len() < MAX_PENDING {
            self.pending.push(pending);
        }
    }

    fn warn_line(&mut self, warning: Warning) {
        if self.line_warnings < MAX_LINE_WARNINGS {
            self.line_warnings += 1;
            self.warnings.push(warning);
        }
    }

    fn has_figures(&self) -> bool {
        let h = &self.header;
        [
            h.gc_total(),
            h.gc_used(),
            h.gc_free(),
            h.one_blocks(),
            h.two_blocks(),
            h.max_block(),
            h.max_free(),
        ]
        .iter()
        .any(Option::is_some)
    }
}

#[derive(Debug, Default)]
struct Reader {
    keep_rows: bool,
    dumps: Vec<Dump>,
    current: DumpBuilder,
    /// Blocks held so far, over all dumps.
    total_blocks: usize,
    /// Blocks of the dumps already finished.
    placed_blocks: usize,
    /// The first reason a line could not be read, reported when nothing could.
    first_error: Option<DumpError>,
}

/// The kinds of line a dump is made of.
enum LineKind {
    Layout {
        address: Option<u64>,
        /// `GC area #N (size S)`: (N, S).
        numbered: Option<(Option<u64>, Option<u64>)>,
    },
    Gc,
    OneBlocks,
    Stack {
        used: u64,
        limit: Option<u64>,
    },
    Mem,
    Qstr,
    Other,
}

fn classify(line: &[u8]) -> LineKind {
    if let Some(at) = find(line, b"GC memory layout") {
        return LineKind::Layout {
            address: parse_area_address(&line[at..]),
            numbered: None,
        };
    }
    if let Some(at) = find(line, b"GC area #") {
        let rest = &line[at + 9..];
        return LineKind::Layout {
            address: parse_area_address(rest),
            numbered: Some((
                parse_number(rest).map(|(n, _)| n),
                value_after(rest, b"size"),
            )),
        };
    }
    if find(line, b"GC: total").is_some() {
        return LineKind::Gc;
    }
    if find(line, b"1-blocks:").is_some() {
        return LineKind::OneBlocks;
    }
    if find(line, b"qstr pool:").is_some() {
        return LineKind::Qstr;
    }
    // `stack:` and `mem:` count only when they parse: the words are common enough to
    // appear in unrelated output around a dump.
    if let Some(at) = find(line, b"stack: ") {
        if let Some((used, after)) = parse_number(&line[at + 7..]) {
            let limit = after
                .trim_ascii_start()
                .strip_prefix(b"out of")
                .and_then(|rest| parse_number(rest.trim_ascii_start()))
                .map(|(limit, _)| limit);
            return LineKind::Stack { used, limit };
        }
        return LineKind::Other;
    }
    if let Some(at) = find(line, b"mem: total=") {
        if value_after(&line[at..], b"total=").is_some() {
            return LineKind::Mem;
        }
    }
    LineKind::Other
}

impl Reader {
    fn line(&mut self, number: usize, line: &[u8], column: usize) -> Result<(), DumpError> {
        // Map rows and free lines first: most lines of a dump are rows.
        if let Some(row) = parse_row(line) {
            return self.row(number, line, column, row);
        }
        if let Some(lines_free) = parse_all_free(line) {
            if !self.current.areas.is_empty() {
                self.current.note_line(number);
                return self.all_free(number, lines_free);
            }
            return Ok(());
        }
        match classify(line) {
            LineKind::Layout { address, numbered } => {
                // A map starts again (a new dump) at area #0 of the numbered form, or at an
                // address this dump already printed an area for.
                let first_of_numbered = matches!(numbered, Some((Some(0), _)));
                let repeated = address.is_some_and(|a| self.current.addresses.contains(&a));
                let restarts = !self.current.areas.is_empty() && (first_of_numbered || repeated);
                if restarts {
                    self.finish_current()?;
                }
                let dump = &mut self.current;
                dump.stage = Stage::Map;
                dump.note_line(number);
                dump.addresses.extend(address);
                dump.areas.push(AreaBuilder {
                    address,
                    declared_bytes: numbered.and_then(|(_, size)| size),
                    line: number,
                    items_start: dump.items.len(),
                    ..AreaBuilder::default()
                });
            }
            LineKind::Gc => {
                self.enter(Stage::Gc, number)?;
                self.gc_line(number, line);
                // Documentation sometimes joins the two header lines into one.
                if find(line, b"1-blocks:").is_some() {
                    self.current.stage = Stage::OneBlocks;
                    self.one_blocks_line(number, line);
                }
            }
            LineKind::OneBlocks => {
                self.enter(Stage::OneBlocks, number)?;
                self.one_blocks_line(number, line);
            }
            LineKind::Stack { used, limit } => {
                self.enter(Stage::Stack, number)?;
                self.current.header.set_stack_used(Some(used));
                self.current.header.set_stack_limit(limit);
            }
            LineKind::Mem => {
                self.enter(Stage::Mem, number)?;
                let header = &mut self.current.header;
                header.set_mem_total(value_after(line, b"total="));
                header.set_mem_current(value_after(line, b"current="));
                header.set_mem_peak(value_after(line, b"peak="));
            }
            LineKind::Qstr => {
                let fields = [b"n_pool=".as_slice(), b"n_qstr=", b"n_str_data_bytes="];
                if let ([Some(n_pool), Some(n_qstr), Some(n_str_data_bytes)], Some(n_total)) = (
                    fields.map(|key| value_after(line, key)),
                    value_after(line, b"n_total_bytes="),
                ) {
                    self.current.header.qstr = Some(Box::new(QstrPool {
                        n_pool,
                        n_qstr,
                        n_str_data_bytes,
                        n_total_bytes: n_total,
                    }));
                }
            }
            LineKind::Other => self.current.remember(Pending {
                line: number,
                text: shown(line),
                bad_row: None,
            }),
        }
        Ok(())
    }

    /// Enter `stage` of the current dump, or start a new dump when the stage comes again.
    fn enter(&mut self, stage: Stage, number: usize) -> Result<(), DumpError> {
        if self.current.started() && stage <= self.current.stage {
            self.finish_current()?;
        }
        let dump = &mut self.current;
        dump.stage = dump.stage.max(stage);
        dump.note_line(number);
        Ok(())
    }

    fn gc_line(&mut self, number: usize, line: &[u8]) {
        const EXPECTED: &str = "`GC: total: N, used: N, free: N` (optionally `, max new split: N`)";
        // The part before a joined-on `No. of 1-blocks` line.
        let end = find(line, b"1-blocks").unwrap_or(line.len());
        let text = &line[..end];
        let figures = [b"total:".as_slice(), b"used:", b"free:"].map(|key| value_after(text, key));
        let header = &mut self.current.header;
        let [total, used, free] = figures;
        header.set_gc_total(total);
        header.set_gc_used(used);
        header.set_gc_free(free);
        header.set_max_new_split(value_after(text, b"max new split:"));
        self.figures_read(
            number,
            line,
            &figures,
            &["GC total", "used", "free"],
            EXPECTED,
        );
    }

    fn one_blocks_line(&mut self, number: usize, line: &[u8]) {
        const EXPECTED: &str = "`No. of 1-blocks: N, 2-blocks: N, max blk sz: N, max free sz: N`";
        let start = find(line, b"1-blocks").unwrap_or(0);
        let text = &line[start..];
        let figures = [b"1-blocks:".as_slice(), b"2-blocks:", b"max blk sz:"]
            .map(|key| value_after(text, key));
        let header = &mut self.current.header;
        let [one, two, max_block] = figures;
        header.set_one_blocks(one);
        header.set_two_blocks(two);
        header.set_max_block(max_block);
        // Firmware before v1.8.2 prints no `max free sz`: unknown, not an unreadable line.
        header.set_max_free(value_after(text, b"max free sz:"));
        self.figures_read(
            number,
            line,
            &figures,
            &["1-blocks", "2-blocks", "max blk sz"],
            EXPECTED,
        );
    }

    /// Warn about the figures of a header line that did not read; remember the line as the
    /// error to report when none did and nothing else in the input reads either.
    fn figures_read(
        &mut self,
        number: usize,
        line: &[u8],
        figures: &[Option<u64>],
        names: &'static [&'static str],
        expected: &'static str,
    ) {
        let missing = figures
            .iter()
            .enumerate()
            .filter(|(_, figure)| figure.is_none())
            .fold(0u8, |bits, (i, _)| bits | 1 << i);
        if missing == 0 {
            return;
        }
        // The line is the error to report if nothing else in the input reads.
        if missing.count_ones() as usize == figures.len() && self.first_error.is_none() {
            self.first_error = Some(malformed(number, expected, line));
        }
        self.current.warn_line(Warning::UnreadableFigures {
            line: number,
            names,
            missing,
        });
    }

    fn row(
        &mut self,
        number: usize,
        line: &[u8],
        column: usize,
        row: Row<'_>,
    ) -> Result<(), DumpError> {
        if self.total_blocks + row.data.len() > MAX_BLOCKS {
            return Err(DumpError::TooLarge {
                line: number,
                limit: MAX_BLOCKS,
            });
        }
        if let Some(bad) = row
            .data
            .iter()
            .position(|&b| BLOCK_BYTES[b as usize].is_none())
        {
            // Inside a map this is a damaged row (confirmed when the map goes on after it);
            // elsewhere, `dead: beef` is just noise.
            let in_map = !self.current.areas.is_empty();
            let column = column + (line.len() - row.data.len()) + bad + 1;
            let end = (bad + 4).min(row.data.len());
            let found = String::from_utf8_lossy(&row.data[bad..end]).into_owned();
            if in_map && self.first_error.is_none() {
                self.first_error = Some(DumpError::BadBlock {
                    line: number,
                    column,
                    found: found.clone(),
                });
            }
            self.current.remember(Pending {
                line: number,
                text: shown(line),
                bad_row: in_map.then_some((column, found)),
            });
            return Ok(());
        }
        let dump = &mut self.current;
        dump.note_line(number);
        dump.stage = Stage::Map;
        if dump.areas.is_empty() {
            // Firmware built with EXTENSIVE_HEAP_PROFILING prints no area header (and a lost
            // header line looks the same).
            dump.areas.push(AreaBuilder {
                items_start: dump.items.len(),
                ..AreaBuilder::default()
            });
        }
        let Some(area) = dump.areas.last_mut() else {
            return Ok(());
        };
        let start = area.blocks.len();
        area.blocks.extend(row.data.iter().map(|&b| {
            let kind = BLOCK_BYTES[b as usize].unwrap_or(BlockKind::Free);
            area.old_tails |= b == b't';
            kind
        }));
        dump.items.push(Item {
            offset: row.offset,
            line: saturate(number),
            start: saturate(start),
            len: saturate(row.data.len()),
            column: u16::try_from(column + line.len() - row.data.len()).unwrap_or(u16::MAX),
            digits: row.digits,
        });
        self.total_blocks += row.data.len();
        Ok(())
    }

    fn all_free(&mut self, number: usize, lines_free: u64) -> Result<(), DumpError> {
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
        let dump = &mut self.current;
        if let Some(area) = dump.areas.last_mut() {
            let start = area.blocks.len();
            area.blocks.resize(start + blocks, BlockKind::Free);
            dump.items.push(Item {
                offset: 0,
                line: saturate(number),
                start: saturate(start),
                len: saturate(blocks),
                column: 0,
                digits: 0,
            });
        }
        Ok(())
    }

    /// Close the current dump and keep it when anything in it was readable.
    fn finish_current(&mut self) -> Result<(), DumpError> {
        let builder = std::mem::take(&mut self.current);
        if let Some(dump) = builder.finish(self.keep_rows, self.placed_blocks)? {
            self.placed_blocks += dump.snapshot.blocks_total();
            self.dumps.push(dump);
        }
        Ok(())
    }
}

impl DumpBuilder {
    fn finish(
        mut self,
        keep_rows: bool,
        placed_elsewhere: usize,
    ) -> Result<Option<Dump>, DumpError> {
        let has_rows = self.items.iter().any(Item::is_row);
        if !self.has_figures() && !has_rows {
            return Ok(None);
        }
        // A trailing line shaped like a header figure (`Frag: 1 2 3` from an unmerged build)
        // belongs to the dump; other trailing lines (`None`, prompts) are what follows it.
        if let Some(first) = self.pending.first() {
            if first.bad_row.is_none() && looks_like_figure_line(first.text.as_bytes()) {
                let warning = Warning::UnknownLine {
                    line: first.line,
                    text: first.text.clone(),
                };
                self.warn_line(warning);
            }
        }
        self.pending.clear();

        let unit = self.offset_unit();
        let printed_blocks: usize = self.areas.iter().map(|a| a.blocks.len()).sum();
        let (block_bytes, source) = self.block_bytes(unit, printed_blocks);
        // Rows are placed by the offset unit the map shows, else by the block size.
        let unit = unit.or(block_bytes);

        let mut warnings = std::mem::take(&mut self.warnings);
        warnings.shrink_to_fit();
        let mut row_warnings = 0;
        let mut misplaced = false;
        let mut rows = Vec::new();
        let mut areas = Vec::with_capacity(self.areas.len());
        let mut placed = placed_elsewhere;
        let item_ends: Vec<usize> = self
            .areas
            .iter()
            .skip(1)
            .map(|a| a.items_start)
            .chain(std::iter::once(self.items.len()))
            .collect();
        let empty_area_line = self
            .areas
            .iter()
            .filter(|a| a.blocks.is_empty())
            .map(|a| a.line)
            .next();
        // Sizes of the `GC area #N (size S)` form, when every area declares one.
        let declared_bytes: Option<u64> = if self.areas.is_empty() {
            None
        } else {
            self.areas.iter().map(|a| a.declared_bytes).sum()
        };
        for (index, (builder, end)) in self.areas.into_iter().zip(item_ends).enumerate() {
            let items = &self.items[builder.items_start.min(end)..end];
            let base = area_base(&builder, items, unit);
            let placement = Placement {
                area: index,
                unit: unit.map(u64::from),
                base,
                limit: MAX_BLOCKS.saturating_sub(placed),
            };
            let (mut blocks, moved) = placement.place(
                builder.blocks,
                items,
                &mut warnings,
                &mut row_warnings,
                keep_rows.then_some(&mut rows),
            )?;
            misplaced |= moved;
            blocks.shrink_to_fit();
            placed += blocks.len();
            areas.push(Area {
                address: builder.address,
                blocks,
            });
        }

        let mut snapshot = Snapshot {
            header: self.header,
            areas,
            block_bytes,
            block_bytes_source: source,
            map: MapState::Absent,
            warnings,
        };
        snapshot.map = map_state(
            &mut snapshot,
            &self.items,
            misplaced || self.bad_rows,
            empty_area_line,
            declared_bytes,
        );
        add_block_warnings(&mut snapshot);
        if snapshot.map == MapState::Complete {
            let mismatches = snapshot.cross_check();
            snapshot.warnings.extend(mismatches);
        }
        Ok(Some(Dump {
            snapshot,
            first_line: self.first_line,
            last_line: self.last_line,
            rows,
        }))
    }
}

impl DumpBuilder {
    /// Bytes per step of the offset column, from how far apart consecutive rows of an area
    /// are printed (this works whether offsets start at 0 or are addresses): the unit most
    /// pairs of rows agree on.
    fn offset_unit(&self) -> Option<u32> {
        let mut votes = [0usize; OFFSET_UNITS.len()];
        let ends = self
            .areas
            .iter()
            .skip(1)
            .map(|a| a.items_start)
            .chain(std::iter::once(self.items.len()));
        for (area, end) in self.areas.iter().zip(ends) {
            let items = &self.items[area.items_start.min(end)..end];
            let mut rows = items.iter().filter(|i| i.is_row());
            let Some(mut previous) = rows.next() else {
                continue;
            };
            for row in rows {
                if row.digits == previous.digits {
                    let mask = digit_mask(row.digits);
                    let blocks = u64::from(row.start.wrapping_sub(previous.start));
                    let offsets = row.offset.wrapping_sub(previous.offset) & mask;
                    for (vote, &unit) in votes.iter_mut().zip(&OFFSET_UNITS) {
                        if blocks.wrapping_mul(u64::from(unit)) & mask == offsets {
                            *vote += 1;
                        }
                    }
                }
                previous = row;
            }
        }
        votes
            .iter()
            .zip(&OFFSET_UNITS)
            .filter(|(&v, _)| v > 0)
            // Most votes wins; on a tie the earlier (more common) unit.
            .max_by(|a, b| a.0.cmp(b.0).then(b.1.cmp(a.1)))
            .map(|(_, &unit)| unit)
    }

    /// The block size: from the map's offsets, else `GC: total` / the map's blocks, else the
    /// header's arithmetic, else unknown (with a warning saying why).
    fn block_bytes(
        &mut self,
        unit: Option<u32>,
        printed: usize,
    ) -> (Option<u32>, BlockBytesSource) {
        let header = &self.header;
        if let Some(unit) = unit.filter(|&u| u != 1) {
            if !header_fits(header, unit) {
                self.warnings
                    .push(Warning::BlockSizeDisagrees { from_offsets: unit });
            }
            return (Some(unit), BlockBytesSource::MapOffsets);
        }
        if let (Some(total), true) = (header.gc_total(), printed > 0 && !self.bad_rows) {
            // Only a map that agrees with every stated figure at that size: a map cut short
            // could divide the total into a wrong size by chance.
            let map = MapFigures::of(self.areas.iter().map(|a| &a.blocks[..]));
            let size = Some(total)
                .filter(|total| total % printed as u64 == 0)
                .and_then(|total| u32::try_from(total / printed as u64).ok())
                .filter(|&size| size != 1 && OFFSET_UNITS.contains(&size))
                .filter(|&size| header_fits(header, size) && map.agree_with(header, size));
            if let Some(size) = size {
                return (Some(size), BlockBytesSource::GcTotal);
            }
        }
        match header_sizes(header)[..] {
            [size] => (Some(size), BlockBytesSource::HeaderArithmetic),
            // The warning is made with the figures it leaves unknown (see
            // `block_size_unknown_reason`), not stored with every dump.
            _ => (None, BlockBytesSource::Unknown),
        }
    }
}

/// The block sizes MicroPython uses that the header's figures allow; none when the header
/// states no byte figure.
fn header_sizes(header: &Header) -> Vec<u32> {
    let stated = [header.gc_total(), header.gc_used(), header.gc_free()]
        .iter()
        .any(Option::is_some);
    if !stated {
        return Vec::new();
    }
    HEADER_BLOCK_SIZES
        .into_iter()
        .filter(|&size| header_fits(header, size))
        .collect()
}

/// Why nothing in a dump determines its block size (for a snapshot whose `block_bytes` is
/// `None`).
pub(crate) fn block_size_unknown_reason(header: &Header) -> &'static str {
    let stated = [header.gc_total(), header.gc_used(), header.gc_free()]
        .iter()
        .any(Option::is_some);
    match (stated, header_sizes(header).len()) {
        (false, _) => "no `GC:` line, and the map has no two rows in one area to measure",
        (true, 0) => "the header's figures fit neither 16- nor 32-byte blocks",
        _ => "16- and 32-byte blocks both fit the header's figures, and nothing else in the dump tells them apart",
    }
}

/// Whether the header's figures allow blocks of `size` bytes: used, free and total are
/// multiples of it, the longest free run fits in the free bytes and the counted allocations
/// in the used bytes.
fn header_fits(header: &Header, size: u32) -> bool {
    let size = u64::from(size);
    let multiple = |figure: Option<u64>| figure.is_none_or(|v| v % size == 0);
    let within = |blocks: Option<u64>, bytes: Option<u64>| match (blocks, bytes) {
        (Some(blocks), Some(bytes)) => blocks.saturating_mul(size) <= bytes,
        _ => true,
    };
    // The 1- and 2-block allocations, plus the longest one when it is neither.
    let counted = match (header.one_blocks(), header.two_blocks(), header.max_block()) {
        (Some(one), Some(two), max) => Some(
            one.saturating_add(two.saturating_mul(2))
                .saturating_add(max.filter(|&m| m > 2).unwrap_or(0)),
        ),
        _ => header.max_block(),
    };
    multiple(header.gc_total())
        && multiple(header.gc_used())
        && multiple(header.gc_free())
        && within(header.max_free(), header.gc_free())
        && within(counted, header.gc_used())
}

/// Where an area's offset column counts from: 0, or, in the v1.4–v1.8 format that prints
/// addresses, the low digits of the area's address (recognised by the address or by `t`
/// tails).
fn area_base(area: &AreaBuilder, items: &[Item], unit: Option<u32>) -> u64 {
    let (Some(unit), Some(first)) = (unit, items.iter().find(|i| i.is_row())) else {
        return 0;
    };
    let mask = digit_mask(first.digits);
    let base = first
        .offset
        .wrapping_sub(u64::from(first.start).wrapping_mul(u64::from(unit)))
        & mask;
    let addresses = area.address.is_some_and(|a| a & mask == base) || area.old_tails;
    if base != 0 && addresses {
        base
    } else {
        0
    }
}

/// Puts an area's rows where their offsets say, given the offset unit.
struct Placement {
    area: usize,
    unit: Option<u64>,
    base: u64,
    /// Blocks the area may still take.
    limit: usize,
}

impl Placement {
    /// The block index a row's offset names, resolving wrapped 5-digit offsets near
    /// `expected`.
    fn found_block(&self, item: &Item, expected: usize) -> Option<usize> {
        let unit = self.unit?;
        let relative = item.offset.wrapping_sub(self.base) & digit_mask(item.digits);
        let resolved = resolve_offset(
            relative,
            u32::from(item.digits),
            (expected as u64).saturating_mul(unit),
        );
        if resolved % unit != 0 {
            return None;
        }
        usize::try_from(resolved / unit).ok()
    }

    /// Check each row's offset against where counting rows put it; on disagreement trust the
    /// offset (a lost or repeated chunk of a capture) and rebuild the area. Returns the blocks
    /// and whether any row moved.
    fn place(
        &self,
        blocks: Vec<BlockKind>,
        items: &[Item],
        warnings: &mut Vec<Warning>,
        row_warnings: &mut usize,
        mut rows: Option<&mut Vec<RowPlacement>>,
    ) -> Result<(Vec<BlockKind>, bool), DumpError> {
        let mut record = |item: &Item, block: usize| {
            if let Some(rows) = rows.as_deref_mut() {
                rows.push(RowPlacement {
                    line: item.line as usize,
                    column: usize::from(item.column),
                    area: self.area,
                    block,
                    blocks: item.len as usize,
                });
            }
        };
        let in_place = items.iter().filter(|i| i.is_row()).all(|item| {
            self.found_block(item, item.start as usize)
                .is_none_or(|found| found == item.start as usize)
        });
        if in_place {
            if blocks.len() > self.limit {
                return Err(DumpError::TooLarge {
                    line: items.last().map_or(0, |i| i.line as usize),
                    limit: MAX_BLOCKS,
                });
            }
            for item in items.iter().filter(|i| i.is_row()) {
                record(item, item.start as usize);
            }
            return Ok((blocks, false));
        }
        let mut placed: Vec<BlockKind> = Vec::with_capacity(blocks.len());
        let mut pending_free = 0usize;
        for item in items {
            let (start, len) = (item.start as usize, item.len as usize);
            if !item.is_row() {
                pending_free += len;
                continue;
            }
            let expected = placed.len() + pending_free;
            let found = self.found_block(item, expected).unwrap_or(expected);
            if found.saturating_add(len) > self.limit {
                return Err(DumpError::TooLarge {
                    line: item.line as usize,
                    limit: MAX_BLOCKS,
                });
            }
            if found != expected && *row_warnings < MAX_ROW_WARNINGS {
                *row_warnings += 1;
                warnings.push(Warning::RowMisplaced {
                    line: item.line as usize,
                    area: self.area,
                    offset: item.offset,
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
            record(item, found);
            pending_free = 0;
        }
        let end = placed.len() + pending_free;
        if end > self.limit {
            return Err(DumpError::TooLarge {
                line: items.last().map_or(0, |i| i.line as usize),
                limit: MAX_BLOCKS,
            });
        }
        placed.resize(end, BlockKind::Free);
        Ok((placed, true))
    }
}

/// How much of the heap the map shows, with the warning that says why when it is not all.
fn map_state(
    snapshot: &mut Snapshot,
    items: &[Item],
    damaged: bool,
    empty_area_line: Option<usize>,
    declared_bytes: Option<u64>,
) -> MapState {
    if snapshot.areas.is_empty() {
        return MapState::Absent;
    }
    let blocks = snapshot.blocks_total() as u64;
    if blocks == 0 {
        snapshot.warnings.push(Warning::MapEmpty {
            line: empty_area_line.unwrap_or(0),
        });
        return MapState::Partial;
    }
    if damaged {
        // The row warnings say what happened.
        return MapState::Partial;
    }
    match (
        snapshot.header.gc_total().or(declared_bytes),
        snapshot.block_bytes,
    ) {
        (Some(total), Some(size)) => {
            let expected = total / u64::from(size);
            if blocks >= expected {
                // More blocks than promised shows as a GC total mismatch in the cross-check.
                return MapState::Complete;
            }
            let (line, row, digits) = match items.last() {
                Some(item) if item.is_row() => (item.line as usize, item.offset, item.digits),
                Some(item) => (
                    item.line as usize,
                    u64::from(item.len) / BLOCKS_PER_ROW as u64,
                    0,
                ),
                None => (0, 0, 0),
            };
            snapshot.warnings.push(Warning::MapTruncated {
                line,
                row,
                digits,
                blocks,
                expected,
            });
            MapState::Partial
        }
        (Some(total), None) => {
            snapshot
                .warnings
                .push(Warning::MapUnverifiable { blocks, total });
            MapState::Partial
        }
        (None, _) => {
            snapshot.warnings.push(Warning::MapUnchecked);
            MapState::Unchecked
        }
    }
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

/// The values an offset column of `digits` hex digits can show.
fn digit_mask(digits: u8) -> u64 {
    if digits >= 16 {
        u64::MAX
    } else {
        (1u64 << (4 * u32::from(digits))) - 1
    }
}

/// Which bytes are block letters, as a table: one load per byte while reading. `t` is the
/// tail letter of v1.4–v1.8.
const BLOCK_BYTES: [Option<BlockKind>; 256] = {
    let mut table = [None; 256];
    let mut i = 0;
    while i < BlockKind::ALL.len() {
        table[BlockKind::ALL[i] as u8 as usize] = Some(BlockKind::ALL[i]);
        i += 1;
    }
    table[b't' as usize] = Some(BlockKind::Tail);
    table
};

/// A map row: `OFFSET: LETTERS`.
struct Row<'a> {
    offset: u64,
    digits: u8,
    data: &'a [u8],
}

/// Recognise `HEX: DATA` (DATA not yet validated).
fn parse_row(line: &[u8]) -> Option<Row<'_>> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return None;
    }
    let rest = line[digits..].strip_prefix(b":")?;
    let data = rest.trim_ascii_start();
    if data.is_empty() {
        return None;
    }
    let mut offset = 0u64;
    for &b in &line[..digits] {
        let nibble = (b as char).to_digit(16)?;
        offset = (offset << 4) | u64::from(nibble);
    }
    Some(Row {
        offset,
        digits: digits as u8,
        data,
    })
}

/// Recognise `(N lines all free)`.
fn parse_all_free(line: &[u8]) -> Option<u64> {
    let inner = line.strip_prefix(b"(")?.strip_suffix(b")")?;
    let (count, rest) = parse_number(inner)?;
    let rest = rest.trim_ascii();
    (rest == b"lines all free" || rest == b"line all free").then_some(count)
}

/// The hex address after `from` (with or without `0x`).
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

/// The number after the first `key` in `text` (`used:` → 71456 in `used: 71 456, free: …`).
fn value_after(text: &[u8], key: &[u8]) -> Option<u64> {
    let at = find(text, key)?;
    parse_number(text[at + key.len()..].trim_ascii_start()).map(|(n, _)| n)
}

/// A decimal number at the start of `text`, and what follows it. Thousands separators are
/// accepted as people paste them: one of space, comma, underscore, apostrophe or a no-break
/// or thin space, the same one throughout, between groups of exactly three digits
/// (`71 456`, `1,234,567`); a first group of more than three digits takes none.
fn parse_number(text: &[u8]) -> Option<(u64, &[u8])> {
    let first = text.iter().take_while(|b| b.is_ascii_digit()).count();
    if first == 0 {
        return None;
    }
    let mut value = digits_value(&text[..first])?;
    let mut at = first;
    if first <= 3 {
        let mut separator: Option<&[u8]> = None;
        while let Some(len) = separator_len(&text[at..]) {
            let this = &text[at..at + len];
            if separator.is_some_and(|s| s != this) {
                break;
            }
            let group = &text[at + len..];
            if group.iter().take_while(|b| b.is_ascii_digit()).count() != 3 {
                break;
            }
            value = value
                .checked_mul(1000)?
                .checked_add(digits_value(&group[..3])?)?;
            separator = Some(this);
            at += len + 3;
        }
    }
    Some((value, &text[at..]))
}

/// Length of a thousands separator at the start of `text`.
fn separator_len(text: &[u8]) -> Option<usize> {
    match text {
        [b' ' | b',' | b'_' | b'\'', ..] => Some(1),
        // U+00A0 no-break space.
        [0xc2, 0xa0, ..] => Some(2),
        // U+2009 thin space, U+202F narrow no-break space.
        [0xe2, 0x80, 0x89 | 0xaf, ..] => Some(3),
        _ => None,
    }
}

fn digits_value(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |value, &b| {
        value.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// Lines such as `Frag: 389002 191191 …`: a word, a colon, a number.
fn looks_like_figure_line(text: &[u8]) -> bool {
    let Some(colon) = text.iter().position(|&b| b == b':') else {
        return false;
    };
    let key = &text[..colon];
    !key.is_empty()
        && key.len() <= 30
        && key[0].is_ascii_alphabetic()
        && key
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b' ' | b'.' | b'_' | b'-'))
        && text[colon + 1..]
            .trim_ascii_start()
            .first()
            .is_some_and(u8::is_ascii_digit)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// A line as shown in messages: lossy UTF-8, at most 80 characters.
fn shown(line: &[u8]) -> String {
    const SHOWN: usize = 80;
    let cut = &line[..line.len().min(SHOWN)];
    let mut text = String::from_utf8_lossy(cut).into_owned();
    if cut.len() < line.len() {
        text.push('…');
    }
    text
}

fn malformed(line: usize, expected: &'static str, found: &[u8]) -> DumpError {
    DumpError::Malformed {
        line,
        expected,
        found: shown(found),
    }
}

fn saturate(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// How many bytes of prefixes a line starts with, as logs and pastes add them: indentation,
/// `>>>`/`...` prompts, raw-REPL `OK`/`>`, `[…]` timestamps and tags, `2024-01-31` dates,
/// `12:34:56.789 ->` times, ESP-IDF `I (1234) tag:` and Segger RTT `0>` prefixes, in any
/// combination.
fn strip_prefixes(line: &[u8]) -> usize {
    let mut at = 0;
    for _ in 0..8 {
        at += line[at..].len() - line[at..].trim_ascii_start().len();
        let rest = &line[at..];
        let step = prompt_prefix(rest)
            .or_else(|| bracketed_prefix(rest))
            .or_else(|| date_prefix(rest))
            .or_else(|| time_prefix(rest))
            .or_else(|| esp_idf_prefix(rest))
            .or_else(|| rtt_prefix(rest));
        match step {
            Some(n) if n > 0 && n < rest.len() => at += n,
            _ => break,
        }
    }
    at
}

fn prompt_prefix(s: &[u8]) -> Option<usize> {
    if s.starts_with(b">>>") {
        return Some(3);
    }
    if s.starts_with(b"...") && s.get(3).is_none_or(|&b| b == b' ') {
        return Some(3);
    }
    // Raw-REPL `OK` glued to the first output line (`OK00000: h=…`).
    if s.starts_with(b"OK")
        && s.get(2)
            .is_none_or(|&b| b.is_ascii_hexdigit() || b == b' ' || b == b'>')
    {
        return Some(2);
    }
    (s.first() == Some(&b'>')).then_some(1)
}

/// `[…]`: a timestamp (`[12:34:56.789]`, `[2024-01-31 12:34:56]`, `[   12.345]`) or a log tag.
fn bracketed_prefix(s: &[u8]) -> Option<usize> {
    if s.first() != Some(&b'[') {
        return None;
    }
    let close = s.iter().take(48).position(|&b| b == b']')?;
    (close > 1).then_some(close + 1)
}

/// `2024-01-31` followed by a space or `T`.
fn date_prefix(s: &[u8]) -> Option<usize> {
    let digits = |range: std::ops::Range<usize>| {
        s.get(range)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let shape = digits(0..4)
        && s.get(4) == Some(&b'-')
        && digits(5..7)
        && s.get(7) == Some(&b'-')
        && digits(8..10)
        && matches!(s.get(10), Some(b' ' | b'T'));
    shape.then_some(11)
}

/// `12:34:56`, `12:34:56.789` or `12:34:56,789`, then optionally `->`, `>`, `-` or `|`.
fn time_prefix(s: &[u8]) -> Option<usize> {
    let digits_at = |at: usize, min: usize, max: usize| {
        let n = s
            .get(at..)
            .map_or(0, |r| r.iter().take_while(|b| b.is_ascii_digit()).count());
        (min..=max).contains(&n).then_some(n)
    };
    let mut at = digits_at(0, 1, 2)?;
    for _ in 0..2 {
        if s.get(at) != Some(&b':') {
            return None;
        }
        at += 1;
        at += digits_at(at, 2, 2)?;
    }
    if matches!(s.get(at), Some(b'.' | b',')) {
        at += 1 + digits_at(at + 1, 1, 9)?;
    }
    if !matches!(s.get(at), Some(b' ' | b'\t') | None) {
        return None;
    }
    let rest = s[at..].trim_ascii_start();
    at = s.len() - rest.len();
    for arrow in [b"->".as_slice(), b">", b"-", b"|"] {
        if rest.starts_with(arrow) && rest.get(arrow.len()).is_none_or(|&b| b == b' ') {
            return Some(at + arrow.len());
        }
    }
    Some(at)
}

/// ESP-IDF log prefix: `I (1234) tag: ` (level, time in ms or hh:mm:ss.mmm, tag).
fn esp_idf_prefix(s: &[u8]) -> Option<usize> {
    if !matches!(s, [b'I' | b'W' | b'E' | b'D' | b'V', b' ', b'(', ..]) {
        return None;
    }
    let close = 3 + s[3..].iter().take(24).position(|&b| b == b')')?;
    if close == 3
        || !s[3..close]
            .iter()
            .all(|&b| b.is_ascii_digit() || b == b':' || b == b'.')
    {
        return None;
    }
    let after = close + 1;
    // The tag runs to the first `: ` (tags have no spaces).
    let tag = s[after..].trim_ascii_start();
    let tag_start = s.len() - tag.len();
    match tag.iter().take(40).position(|&b| b == b':' || b == b' ') {
        Some(colon) if tag.get(colon) == Some(&b':') => Some(tag_start + colon + 1),
        _ => Some(after),
    }
}

/// Segger RTT viewer channel prefix: `0> `.
fn rtt_prefix(s: &[u8]) -> Option<usize> {
    let digits = s.iter().take(3).take_while(|b| b.is_ascii_digit()).count();
    if !(1..=2).contains(&digits) || s.get(digits) != Some(&b'>') {
        return None;
    }
    s.get(digits + 1)
        .is_none_or(|&b| b == b' ')
        .then_some(digits + 1)
}

/// Remove ANSI escape sequences and control characters (raw-REPL `\x04`, Ctrl-A/B/C echoes…).
/// Borrowed when the line has none, which is the case for every line of a clean dump.
fn clean(line: &[u8]) -> Cow<'_, [u8]> {
    // No early exit, so the compiler can vectorise the check of every clean line.
    let needs_cleaning = line.iter().fold(false, |dirty, &b| {
        dirty | ((b < 0x20) & (b != b'\t')) | (b == 0x7f)
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
        if (b >= 0x20 && b != 0x7f) || b == b'\t' {
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
        let row = parse_row(b"0000c800: ..").unwrap();
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
        assert!(matches!(clean(b"00000: h=."), Cow::Borrowed(_)));
    }

    #[test]
    fn numbers_with_thousands_separators() {
        let value = |text: &str| parse_number(text.as_bytes()).map(|(n, rest)| (n, rest.len()));
        assert_eq!(value("71 456, free"), Some((71_456, 6)));
        assert_eq!(value("1,234,567"), Some((1_234_567, 0)));
        assert_eq!(value("71_456"), Some((71_456, 0)));
        assert_eq!(value("71'456"), Some((71_456, 0)));
        assert_eq!(value("71\u{a0}456"), Some((71_456, 0)));
        assert_eq!(value("71\u{202f}456"), Some((71_456, 0)));
        // Not separators: a group of other than three digits, a mixed separator, a first
        // group of more than three digits, a comma before the next field.
        assert_eq!(value("52, 2-blocks"), Some((52, 10)));
        assert_eq!(value("1 23"), Some((1, 3)));
        assert_eq!(value("1,234 567"), Some((1_234, 4)));
        assert_eq!(value("192064, used"), Some((192_064, 6)));
        assert_eq!(value("424 out of"), Some((424, 7)));
        assert_eq!(value("x"), None);
        assert_eq!(value("99999999999999999999999"), None);
    }

    #[test]
    fn prefixes_people_paste_are_stripped() {
        let stripped = |line: &str| {
            let at = strip_prefixes(line.as_bytes());
            line[at..].to_string()
        };
        for line in [
            "00400: h=..",
            "[12:34:56.789] 00400: h=..",
            "[2024-01-31 12:34:56] 00400: h=..",
            "[   12.345] 00400: h=..",
            "2024-01-31 12:34:56.789 -> 00400: h=..",
            "12:34:56.789 -> 00400: h=..",
            "I (1234) mp: 00400: h=..",
            "W (12:34:56.789) gc_dump: 00400: h=..",
            " 0> 00400: h=..",
            ">>> 00400: h=..",
            "    00400: h=..",
            "\t> 00400: h=..",
            "OK00400: h=..",
            ">OK00400: h=..",
        ] {
            assert_eq!(stripped(line), "00400: h=..", "{line:?}");
        }
        // Rows themselves are never taken for prefixes.
        for row in ["12: h=", "00012: h=", "00001234: h=", "E: h="] {
            assert!(stripped(row).len() + 2 >= row.len(), "{row:?}");
        }
        assert_eq!(
            stripped("stack: 424 out of 15360"),
            "stack: 424 out of 15360"
        );
    }

    #[test]
    fn lines_split_at_every_kind_of_line_ending() {
        let lines: Vec<&[u8]> = Lines::new(b"a\nb\r\nc\rd\r\r\ne").collect();
        assert_eq!(
            lines,
            [&b"a"[..], b"b", b"c", b"d", b"", b"e"],
            "CR alone, CR LF and LF each end one line"
        );
        assert_eq!(Lines::new(b"").count(), 0);
        assert_eq!(Lines::new(b"x\n").count(), 1);
    }
}
