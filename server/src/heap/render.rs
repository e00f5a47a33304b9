//! Terminal rendering of heap maps, diffs and figures. Pure: every function returns a
//! `String`; printing is the caller's business. ANSI colours only when asked for.

use std::fmt::Write as _;

use super::{BlockChange, BlockKind, Diff, Snapshot, Stats};

/// Options of [`render_map`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapOptions {
    /// Blocks per row (0 is treated as 64).
    pub columns: usize,
    /// Alternate colours per allocation instead of colouring by kind.
    pub rainbow: bool,
    /// Draw free blocks as `.` (otherwise as blanks).
    pub show_free: bool,
    /// Emit ANSI colour codes.
    pub color: bool,
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions {
            columns: 64,
            rainbow: false,
            show_free: false,
            color: true,
        }
    }
}

const RESET: &str = "\x1b[0m";
const DIM: &str = "2";

/// SGR colour of a kind (its allocation's head kind, for tails).
fn kind_color(kind: BlockKind) -> &'static str {
    match kind {
        BlockKind::Free => DIM,
        BlockKind::Tail => "37",
        BlockKind::Other => "37",
        BlockKind::Tuple => "36",
        BlockKind::List => "32",
        BlockKind::Dict => "33",
        BlockKind::Str => "35",
        BlockKind::Array => "34",
        BlockKind::Float => "96",
        BlockKind::Function => "31",
        BlockKind::Module => "91",
        BlockKind::Marked => "93",
    }
}

/// Colours `--rainbow` cycles through, one per allocation.
const RAINBOW: [&str; 6] = ["31", "33", "32", "36", "34", "35"];

/// Writes characters with colours, emitting an escape code only when the colour changes.
struct Painter<'a> {
    out: &'a mut String,
    color: bool,
    current: Option<&'static str>,
}

impl Painter<'_> {
    fn put(&mut self, ch: char, sgr: &'static str) {
        if self.color && self.current != Some(sgr) {
            let _ = write!(self.out, "\x1b[{sgr}m");
            self.current = Some(sgr);
        }
        self.out.push(ch);
    }

    fn end_line(&mut self) {
        if self.color && self.current.is_some() {
            self.out.push_str(RESET);
        }
        self.current = None;
        self.out.push('\n');
    }

    /// Paints an area as rows of `columns` cells with a byte-offset column, folding runs of at
    /// least two whole `blank` rows into one `(N rows {blank_label})` line, as `mem_info` does.
    /// `cell` gives each block's character and colour, in address order.
    fn rows<T: Copy + PartialEq>(
        &mut self,
        blocks: &[T],
        columns: usize,
        block_bytes: u64,
        blank: T,
        blank_label: &str,
        mut cell: impl FnMut(T) -> (char, &'static str),
    ) {
        let mut row_start = 0;
        while row_start < blocks.len() {
            let blank_run = blocks[row_start..]
                .iter()
                .take_while(|&&b| b == blank)
                .count();
            if blank_run >= 2 * columns {
                let rows = blank_run / columns;
                let _ = write!(
                    self.out,
                    "          ({} rows {blank_label})",
                    thousands(rows as u64)
                );
                self.end_line();
                row_start += rows * columns;
                continue;
            }
            let _ = write!(self.out, "{:08x}  ", row_start as u64 * block_bytes);
            let row_end = (row_start + columns).min(blocks.len());
            for &block in &blocks[row_start..row_end] {
                let (ch, sgr) = cell(block);
                self.put(ch, sgr);
            }
            self.end_line();
            row_start = row_end;
        }
    }
}

/// `1234567` → `1,234,567`.
pub(crate) fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `run` for one, `runs` otherwise.
fn plural(count: u64, word: &str) -> String {
    if count == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// Two summary lines above a map.
fn stats_header(out: &mut String, stats: &Stats) {
    let _ = writeln!(
        out,
        "GC heap {} bytes = {} blocks of {} bytes · used {} ({:.1}%) · free {}",
        thousands(stats.gc_total),
        thousands(stats.blocks_total),
        stats.block_bytes,
        thousands(stats.used),
        percent(stats.used, stats.gc_total),
        thousands(stats.free),
    );
    let _ = writeln!(
        out,
        "1-blocks {} · 2-blocks {} · largest allocation {} blocks · longest free run {} blocks ({} bytes) · fragmentation {:.2}",
        thousands(stats.one_blocks),
        thousands(stats.two_blocks),
        thousands(stats.max_block_blocks),
        thousands(stats.max_free_blocks),
        thousands(stats.max_free_bytes),
        stats.fragmentation,
    );
}

/// The terminal heap map of a snapshot: stats header, legend, then per area rows of
/// `columns` blocks with their byte offset. Runs of two or more entirely free rows are
/// abbreviated as `(N rows all free)`, as MicroPython does.
pub fn render_map(snapshot: &Snapshot, options: &MapOptions) -> String {
    let columns = if options.columns == 0 {
        64
    } else {
        options.columns
    };
    let stats = snapshot.stats();
    let mut out = String::new();
    stats_header(&mut out, &stats);
    for warning in &stats.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    if !snapshot.has_map() {
        out.push_str("(no block map in this dump: use micropython.mem_info(1))\n");
        return out;
    }
    // Legend: kinds present in the map, each drawn as it appears in the map.
    out.push_str("legend:");
    let mut painter = Painter {
        out: &mut out,
        color: options.color,
        current: None,
    };
    for kind in BlockKind::ALL {
        let present = stats.by_kind.contains_key(kind.name());
        if !present || kind == BlockKind::Tail {
            continue;
        }
        painter.put(' ', "0");
        painter.put(' ', "0");
        let shown = if kind == BlockKind::Free && !options.show_free {
            ' '
        } else {
            kind.letter()
        };
        let sgr = if options.rainbow && kind != BlockKind::Free {
            "0"
        } else {
            kind_color(kind)
        };
        painter.put(shown, sgr);
        for ch in format!(" {}", kind.description()).chars() {
            painter.put(ch, "0");
        }
    }
    painter.put(' ', "0");
    painter.put(' ', "0");
    for ch in "= tail".chars() {
        painter.put(ch, "0");
    }
    painter.end_line();

    let bytes = u64::from(snapshot.block_bytes);
    for (index, area) in snapshot.areas.iter().enumerate() {
        let address = area
            .address
            .map(|a| format!(" from {a:x}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "area {index}{address}: {} blocks ({} bytes)",
            thousands(area.blocks.len() as u64),
            thousands(area.blocks.len() as u64 * bytes)
        );
        // Colour of each block: its allocation's kind, or the allocation's rainbow colour.
        let mut allocation_color = kind_color(BlockKind::Other);
        let mut allocation_number = 0usize;
        let mut painter = Painter {
            out: &mut out,
            color: options.color,
            current: None,
        };
        painter.rows(
            &area.blocks,
            columns,
            bytes,
            BlockKind::Free,
            "all free",
            |kind| {
                if kind.is_head() {
                    allocation_color = if options.rainbow {
                        allocation_number += 1;
                        RAINBOW[allocation_number % RAINBOW.len()]
                    } else {
                        kind_color(kind)
                    };
                }
                match kind {
                    BlockKind::Free => (if options.show_free { '.' } else { ' ' }, DIM),
                    // A tail takes the colour of the head it continues (also across rows).
                    BlockKind::Tail => ('=', allocation_color),
                    _ => (kind.letter(), allocation_color),
                }
            },
        );
    }
    out
}

/// SGR colour and character of a block change.
fn change_style(change: BlockChange) -> (char, &'static str) {
    match change {
        BlockChange::Free => ('.', DIM),
        BlockChange::SameAlloc => ('=', "37"),
        BlockChange::Allocated => ('+', "32;1"),
        BlockChange::Freed => ('-', "31;1"),
        BlockChange::ChangedKind => ('~', "33;1"),
    }
}

/// How many allocations of each side the diff rendering lists.
const LISTED_ALLOCATIONS: usize = 10;

/// The difference of two snapshots: totals, legend, a map of changed blocks (64 per row), and
/// the largest new and freed allocations.
pub fn render_diff(diff: &Diff, color: bool) -> String {
    let mut out = String::new();
    let bytes = u64::from(diff.block_bytes);
    let _ = writeln!(
        out,
        "allocated {} bytes in {} allocation(s) · freed {} bytes in {} · net {}{} bytes",
        thousands(diff.allocated_bytes),
        diff.new_allocations.len(),
        thousands(diff.freed_bytes),
        diff.freed_allocations.len(),
        if diff.net_bytes < 0 { "-" } else { "+" },
        thousands(diff.net_bytes.unsigned_abs()),
    );
    let _ = writeln!(
        out,
        "longest free run {} → {} blocks ({} → {} bytes)",
        thousands(diff.max_free_blocks_before),
        thousands(diff.max_free_blocks_after),
        thousands(diff.max_free_blocks_before * bytes),
        thousands(diff.max_free_blocks_after * bytes),
    );
    if let Some(largest) = &diff.largest_new_allocation {
        let _ = writeln!(
            out,
            "largest new allocation {} bytes ({} blocks, {}) in area {} at offset {:#x}",
            thousands(largest.bytes),
            largest.blocks,
            largest.kind.name(),
            largest.area,
            largest.offset,
        );
    }
    for warning in &diff.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    {
        let mut painter = Painter {
            out: &mut out,
            color,
            current: None,
        };
        for ch in "legend:".chars() {
            painter.put(ch, "0");
        }
        for (change, text) in [
            (BlockChange::Allocated, "allocated"),
            (BlockChange::Freed, "freed"),
            (BlockChange::ChangedKind, "reused by another allocation"),
            (BlockChange::SameAlloc, "unchanged"),
            (BlockChange::Free, "free"),
        ] {
            let (ch, sgr) = change_style(change);
            painter.put(' ', "0");
            painter.put(' ', "0");
            painter.put(ch, sgr);
            for c in format!(" {text}").chars() {
                painter.put(c, "0");
            }
        }
        painter.end_line();
    }
    const COLUMNS: usize = 64;
    for (index, area) in diff.areas.iter().enumerate() {
        let address = area
            .address
            .map(|a| format!(" from {a:x}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "area {index}{address}: {} blocks",
            thousands(area.blocks.len() as u64)
        );
        let mut painter = Painter {
            out: &mut out,
            color,
            current: None,
        };
        painter.rows(
            &area.blocks,
            COLUMNS,
            bytes,
            BlockChange::Free,
            "free in both",
            change_style,
        );
    }
    for (title, list) in [
        ("new allocations", &diff.new_allocations),
        ("freed allocations", &diff.freed_allocations),
    ] {
        if list.is_empty() {
            continue;
        }
        let mut sorted: Vec<_> = list.iter().collect();
        sorted.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.offset.cmp(&b.offset)));
        let shown = sorted.len().min(LISTED_ALLOCATIONS);
        let _ = writeln!(out, "{title} (largest {shown} of {}):", sorted.len());
        for allocation in &sorted[..shown] {
            let _ = writeln!(
                out,
                "  area {} offset {:#08x}  {:>6} blocks  {:>9} bytes  {}",
                allocation.area,
                allocation.offset,
                allocation.blocks,
                thousands(allocation.bytes),
                allocation.kind.name(),
            );
        }
    }
    out
}

/// The figures of a snapshot as a short table.
pub fn render_stats(stats: &Stats) -> String {
    let mut out = String::new();
    let bytes = u64::from(stats.block_bytes);
    let rows: Vec<(&str, String)> = vec![
        (
            "GC total",
            format!(
                "{} bytes ({} blocks of {} bytes{})",
                thousands(stats.gc_total),
                thousands(stats.blocks_total),
                stats.block_bytes,
                match stats.areas {
                    0 | 1 => String::new(),
                    n => format!(", {n} areas"),
                }
            ),
        ),
        (
            "used",
            format!(
                "{} bytes ({:.1}%)",
                thousands(stats.used),
                percent(stats.used, stats.gc_total)
            ),
        ),
        ("free", format!("{} bytes", thousands(stats.free))),
        ("1-blocks", thousands(stats.one_blocks)),
        ("2-blocks", thousands(stats.two_blocks)),
        (
            "largest allocation",
            format!(
                "{} blocks ({} bytes)",
                thousands(stats.max_block_blocks),
                thousands(stats.max_block_blocks * bytes)
            ),
        ),
        (
            "longest free run",
            format!(
                "{} blocks ({} bytes)",
                thousands(stats.max_free_blocks),
                thousands(stats.max_free_bytes)
            ),
        ),
        ("fragmentation", format!("{:.3}", stats.fragmentation)),
    ];
    for (label, value) in rows {
        let _ = writeln!(out, "{label:<20}{value}");
    }
    if let Some(split) = stats.max_new_split {
        let _ = writeln!(out, "{:<20}{} bytes", "max new split", thousands(split));
    }
    if let Some(used) = stats.stack_used {
        let limit = stats
            .stack_total
            .map(|l| format!(" of {}", thousands(l)))
            .unwrap_or_default();
        let _ = writeln!(out, "{:<20}{} bytes{limit}", "stack", thousands(used));
    }
    if !stats.free_runs.is_empty() {
        out.push_str("free runs (blocks: runs, blocks)\n");
        for bucket in &stats.free_runs {
            let range = if bucket.min_blocks == bucket.max_blocks {
                bucket.min_blocks.to_string()
            } else {
                format!("{}-{}", bucket.min_blocks, bucket.max_blocks)
            };
            let _ = writeln!(
                out,
                "  {range:>13}: {:>6} {:<4} {:>10} {}",
                thousands(bucket.runs),
                plural(bucket.runs, "run"),
                thousands(bucket.blocks),
                plural(bucket.blocks, "block")
            );
        }
    }
    if !stats.by_kind.is_empty() {
        out.push_str("blocks by kind\n");
        for (kind, blocks) in &stats.by_kind {
            let _ = writeln!(
                out,
                "  {kind:>13}: {:>10} {}",
                thousands(*blocks),
                plural(*blocks, "block")
            );
        }
    }
    for warning in &stats.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(192064), "192,064");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
