//! Terminal rendering of heap maps, diffs and figures. Pure: every function returns a
//! `String`; printing is the caller's business. ANSI colours only when asked for.

use std::fmt::Write as _;

use super::{BlockChange, BlockKind, Diff, MapState, Snapshot, Stats};

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

/// What text shows for a figure nothing determines.
pub const UNKNOWN: &str = "unknown";

/// A figure with thousands separators, or "unknown".
fn figure(value: Option<u64>) -> String {
    value.map_or_else(|| UNKNOWN.to_string(), thousands)
}

/// `part` as a percentage of `whole`, when both are known.
fn share(part: Option<u64>, whole: Option<u64>) -> String {
    match (part, whole) {
        (Some(part), Some(whole)) => format!(" ({:.1}%)", percent(part, whole)),
        _ => String::new(),
    }
}

/// Two summary lines above a map.
fn stats_header(out: &mut String, stats: &Stats) {
    let _ = writeln!(
        out,
        "GC heap {} bytes = {} blocks of {} bytes · used {}{} · free {}",
        figure(stats.gc_total),
        figure(stats.blocks_total),
        figure(stats.block_bytes.map(u64::from)),
        figure(stats.used),
        share(stats.used, stats.gc_total),
        figure(stats.free),
    );
    let _ = writeln!(
        out,
        "1-blocks {} · 2-blocks {} · largest allocation {} blocks · longest free run {} blocks ({} bytes) · fragmentation {}",
        figure(stats.one_blocks),
        figure(stats.two_blocks),
        figure(stats.max_block_blocks),
        figure(stats.max_free_blocks),
        figure(stats.max_free_bytes),
        stats
            .fragmentation
            .map_or_else(|| UNKNOWN.to_string(), |f| format!("{f:.2}")),
    );
}

/// The terminal heap map of a snapshot: stats header, legend, then per area rows of
/// `columns` blocks with their byte offset (block number when the block size is unknown).
/// Runs of two or more entirely free rows are abbreviated as `(N rows all free)`, as
/// MicroPython does. Warnings are not part of it: the caller shows them (stderr in the CLI).
pub fn render_map(snapshot: &Snapshot, options: &MapOptions) -> String {
    let columns = if options.columns == 0 {
        64
    } else {
        options.columns
    };
    let stats = snapshot.stats();
    let mut out = String::new();
    stats_header(&mut out, &stats);
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

    let bytes = snapshot.block_bytes.map(u64::from);
    if snapshot.map == MapState::Partial {
        out.push_str("(partial map: only the blocks the dump shows)\n");
    }
    for (index, area) in snapshot.areas.iter().enumerate() {
        let address = area
            .address
            .map(|a| format!(" from {a:x}"))
            .unwrap_or_default();
        let blocks = area.blocks.len() as u64;
        let _ = writeln!(
            out,
            "area {index}{address}: {} blocks ({})",
            thousands(blocks),
            bytes.map_or_else(
                || "block size unknown: offsets are block numbers".to_string(),
                |b| format!("{} bytes", thousands(blocks * b))
            )
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
            bytes.unwrap_or(1),
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

/// The difference of two snapshots: totals, legend, a map of changed blocks (64 per row), and
/// the largest new and freed allocations. Offsets are in bytes, or block numbers when the
/// block size is unknown.
pub fn render_diff(diff: &Diff, color: bool) -> String {
    let mut out = String::new();
    let bytes = diff.block_bytes.map(u64::from);
    let in_bytes = |value: Option<u64>, blocks: u64| match value {
        Some(value) => format!("{} bytes", thousands(value)),
        None => format!("{} blocks", thousands(blocks)),
    };
    let net = match diff.net_bytes {
        Some(net) => format!(
            "{}{} bytes",
            if net < 0 { "-" } else { "+" },
            thousands(net.unsigned_abs())
        ),
        None => {
            let net = diff.allocated_blocks as i64 - diff.freed_blocks as i64;
            format!(
                "{}{} blocks",
                if net < 0 { "-" } else { "+" },
                thousands(net.unsigned_abs())
            )
        }
    };
    let _ = writeln!(
        out,
        "allocated {} in {} allocation(s) · freed {} in {} · net {net}",
        in_bytes(diff.allocated_bytes, diff.allocated_blocks),
        diff.new_allocation_count,
        in_bytes(diff.freed_bytes, diff.freed_blocks),
        diff.freed_allocation_count,
    );
    let (before, after) = (diff.max_free_blocks_before, diff.max_free_blocks_after);
    let _ = match (before, after, bytes) {
        (Some(before), Some(after), Some(b)) => writeln!(
            out,
            "longest free run {} → {} blocks ({} → {} bytes)",
            thousands(before),
            thousands(after),
            thousands(before * b),
            thousands(after * b),
        ),
        _ => writeln!(
            out,
            "longest free run {} → {} blocks",
            figure(before),
            figure(after)
        ),
    };
    if let Some(largest) = &diff.largest_new_allocation {
        let _ = writeln!(
            out,
            "largest new allocation {} ({} blocks, {}) in area {} at {}",
            largest.bytes.map_or_else(
                || UNKNOWN.to_string(),
                |b| format!("{} bytes", thousands(b))
            ),
            largest.blocks,
            largest.kind.name(),
            largest.area,
            largest.offset.map_or_else(
                || format!("block {}", largest.block),
                |o| format!("offset {o:#x}")
            ),
        );
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
            bytes.unwrap_or(1),
            BlockChange::Free,
            "free in both",
            change_style,
        );
    }
    for (title, list, count) in [
        (
            "new allocations",
            &diff.largest_new_allocations,
            diff.new_allocation_count,
        ),
        (
            "freed allocations",
            &diff.largest_freed_allocations,
            diff.freed_allocation_count,
        ),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{title} (largest {} of {count}):", list.len());
        for allocation in list {
            let at = allocation.offset.map_or_else(
                || format!("block {}", allocation.block),
                |o| format!("offset {o:#08x}"),
            );
            let _ = writeln!(
                out,
                "  area {} {at}  {:>6} blocks  {:>9} bytes  {}",
                allocation.area,
                allocation.blocks,
                figure(allocation.bytes),
                allocation.kind.name(),
            );
        }
    }
    out
}

/// The figures of a snapshot as a short table; "unknown" where nothing determines a
/// figure. Warnings are not part of it: the caller shows them (stderr in the CLI).
pub fn render_stats(stats: &Stats) -> String {
    let mut out = String::new();
    let bytes = stats.block_bytes.map(u64::from);
    let blocks_and_bytes = |blocks: Option<u64>, in_bytes: Option<u64>| match blocks {
        Some(blocks) => format!("{} blocks ({} bytes)", thousands(blocks), figure(in_bytes)),
        None => UNKNOWN.to_string(),
    };
    let rows: Vec<(&str, String)> = vec![
        (
            "GC total",
            match stats.gc_total {
                Some(total) => format!(
                    "{} bytes ({}{})",
                    thousands(total),
                    match (stats.blocks_total, bytes) {
                        (Some(blocks), Some(b)) =>
                            format!("{} blocks of {b} bytes", thousands(blocks)),
                        _ => "block size unknown".to_string(),
                    },
                    match stats.areas {
                        0 | 1 => String::new(),
                        n => format!(", {n} areas"),
                    }
                ),
                None => UNKNOWN.to_string(),
            },
        ),
        (
            "used",
            stats.used.map_or_else(
                || UNKNOWN.to_string(),
                |used| {
                    format!(
                        "{} bytes{}",
                        thousands(used),
                        share(Some(used), stats.gc_total)
                    )
                },
            ),
        ),
        (
            "free",
            stats.free.map_or_else(
                || UNKNOWN.to_string(),
                |free| format!("{} bytes", thousands(free)),
            ),
        ),
        ("1-blocks", figure(stats.one_blocks)),
        ("2-blocks", figure(stats.two_blocks)),
        (
            "largest allocation",
            blocks_and_bytes(
                stats.max_block_blocks,
                stats.max_block_blocks.zip(bytes).map(|(n, b)| n * b),
            ),
        ),
        (
            "longest free run",
            blocks_and_bytes(stats.max_free_blocks, stats.max_free_bytes),
        ),
        (
            "fragmentation",
            stats
                .fragmentation
                .map_or_else(|| UNKNOWN.to_string(), |f| format!("{f:.3}")),
        ),
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
    if stats.map == MapState::Partial {
        out.push_str("map                 partial: its counts are not figures\n");
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
