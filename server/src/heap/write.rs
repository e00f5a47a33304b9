//! Writing a snapshot back as `mem_info(1)` text, in the current (v1.20+) format: 8-digit
//! offsets, one `GC memory layout` header per area, `(N lines all free)` for runs of two or
//! more free rows. Used to generate test and benchmark dumps; the reader reads it back to an
//! equal snapshot.

use std::fmt::Write as _;

use super::{Area, BlockKind, Snapshot, BLOCKS_PER_ROW};

/// A deterministic, plausible-looking heap for tests and benchmarks: one area of
/// `blocks_total` blocks, mostly small objects of every kind with some large buffers, about
/// half of it used, free space scattered in runs of varied length. The same `seed` gives the
/// same snapshot.
pub fn synthetic_snapshot(blocks_total: usize, block_bytes: u32, seed: u64) -> Snapshot {
    let mut next = random_below(seed);
    const HEADS: [BlockKind; 9] = [
        BlockKind::Other,
        BlockKind::Other,
        BlockKind::Str,
        BlockKind::Tuple,
        BlockKind::List,
        BlockKind::Dict,
        BlockKind::Function,
        BlockKind::Float,
        BlockKind::Array,
    ];
    let mut blocks = Vec::with_capacity(blocks_total);
    while blocks.len() < blocks_total {
        let free = match next(10) {
            0..=5 => 0,
            6..=8 => next(8),
            _ => next(400),
        } as usize;
        blocks.extend(std::iter::repeat_n(BlockKind::Free, free));
        let len = match next(20) {
            0..=11 => 1 + next(2),
            12..=18 => 3 + next(14),
            _ => 17 + next(600),
        } as usize;
        blocks.push(HEADS[next(HEADS.len() as u64) as usize]);
        blocks.extend(std::iter::repeat_n(BlockKind::Tail, len - 1));
    }
    blocks.truncate(blocks_total);
    Snapshot::from_areas(
        vec![Area {
            address: Some(0x3f80_0000),
            blocks,
        }],
        block_bytes,
    )
}

/// A deterministic generator of numbers below a bound, from `seed`: xorshift64*, enough
/// randomness for test data and no dependency.
fn random_below(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    move |bound: u64| -> u64 {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound.max(1)
    }
}

/// A copy of `snapshot` after some churn: roughly `percent` % of the allocations freed and as
/// many new ones placed in free runs that can hold them. Deterministic for a given `seed`.
pub fn churned_snapshot(snapshot: &Snapshot, percent: u64, seed: u64) -> Snapshot {
    let mut next = random_below(seed);
    let mut after = snapshot.clone();
    let allocations: Vec<_> = snapshot.allocations().collect();
    for allocation in &allocations {
        if next(100) < percent {
            if let Some(area) = after.areas.get_mut(allocation.area) {
                area.blocks[allocation.offset..allocation.offset + allocation.blocks]
                    .fill(BlockKind::Free);
            }
        }
    }
    let runs: Vec<_> = after.free_runs().collect();
    for run in runs {
        if next(100) < percent && run.blocks >= 2 {
            let len = 1 + next(run.blocks as u64 - 1) as usize;
            if let Some(area) = after.areas.get_mut(run.area) {
                area.blocks[run.offset] = BlockKind::Str;
                area.blocks[run.offset + 1..run.offset + len].fill(BlockKind::Tail);
            }
        }
    }
    after
}

impl Snapshot {
    /// The dump text `mem_info(1)` would print for this snapshot. Header figures come from
    /// the header where present, else from a usable map; a line is left out when none of its
    /// figures is known. Offsets count bytes; when the block size is unknown they are written
    /// for 16-byte blocks (the text must have some), which a reader takes as the block size.
    /// `\n` line endings.
    pub fn to_dump_text(&self) -> String {
        let figures = self.figures();
        let bytes = u64::from(self.block_bytes.unwrap_or(16));
        let header = &self.header;
        let show = |figure: Option<u64>| figure.map_or_else(|| "?".to_string(), |v| v.to_string());
        // Roughly one byte per block plus the offset column.
        let blocks_total = self.blocks_total();
        let mut out = String::with_capacity(blocks_total * 12 / 10 + 256);
        if let (Some(total), Some(current), Some(peak)) =
            (header.mem_total(), header.mem_current(), header.mem_peak())
        {
            let _ = writeln!(out, "mem: total={total}, current={current}, peak={peak}");
        }
        match (header.stack_used(), header.stack_limit()) {
            (Some(used), Some(limit)) => {
                let _ = writeln!(out, "stack: {used} out of {limit}");
            }
            (Some(used), None) => {
                let _ = writeln!(out, "stack: {used}");
            }
            _ => {}
        }
        if figures.gc_total.is_some()
            || figures.used.is_some()
            || figures.free.is_some()
            || header.max_new_split().is_some()
        {
            let _ = write!(
                out,
                "GC: total: {}, used: {}, free: {}",
                show(figures.gc_total),
                show(figures.used),
                show(figures.free),
            );
            if let Some(split) = header.max_new_split() {
                let _ = write!(out, ", max new split: {split}");
            }
            out.push('\n');
        }
        if figures.one_blocks.is_some()
            || figures.two_blocks.is_some()
            || figures.max_block_blocks.is_some()
            || figures.max_free_blocks.is_some()
        {
            let _ = write!(
                out,
                " No. of 1-blocks: {}, 2-blocks: {}, max blk sz: {}",
                show(figures.one_blocks),
                show(figures.two_blocks),
                show(figures.max_block_blocks),
            );
            if let Some(max_free) = figures.max_free_blocks {
                let _ = write!(out, ", max free sz: {max_free}");
            }
            out.push('\n');
        }
        for area in &self.areas {
            let _ = write!(out, "GC memory layout; from {}:", area.address_hex());
            write_rows(&mut out, &area.blocks, bytes);
            out.push('\n');
        }
        out
    }
}

/// The rows of one area, each preceded by a newline (as `gc_dump_alloc_table` prints them).
fn write_rows(out: &mut String, blocks: &[BlockKind], block_bytes: u64) {
    let mut block = 0;
    while block < blocks.len() {
        let free = blocks[block..]
            .iter()
            .take_while(|&&k| k == BlockKind::Free)
            .count();
        if free >= 2 * BLOCKS_PER_ROW {
            let _ = write!(out, "\n       ({} lines all free)", free / BLOCKS_PER_ROW);
            block += free / BLOCKS_PER_ROW * BLOCKS_PER_ROW;
            if block >= blocks.len() {
                break;
            }
        }
        let end = (block + BLOCKS_PER_ROW).min(blocks.len());
        let _ = write!(out, "\n{:08x}: ", block as u64 * block_bytes);
        out.extend(blocks[block..end].iter().map(|k| k.letter()));
        block = end;
    }
}

#[cfg(test)]
mod tests {
    use crate::heap::parse_dump_str;

    #[test]
    fn compresses_free_lines_like_micropython() {
        let mut map = String::from("h=");
        map.push_str(&".".repeat(62 + 64 * 3 + 5));
        map.push('S');
        let text = format!("GC memory layout; from 0:\n00000000: {}\n", &map[..64])
            + &format!("00000400: {}\n", &map[64..128])
            + &format!("00000800: {}\n", &map[128..192])
            + &format!("00000c00: {}\n", &map[192..256])
            + &format!("00001000: {}\n", &map[256..]);
        let snapshot = parse_dump_str(&text).unwrap();
        let written = snapshot.to_dump_text();
        assert!(
            written.contains("\n00000000: h=....")
                && written.contains("\n       (3 lines all free)\n00001000: .....S\n"),
            "{written}"
        );
        let reread = parse_dump_str(&written).unwrap();
        assert_eq!(reread.areas, snapshot.areas);
        assert_eq!(reread.block_bytes, Some(16));
    }
}
