//! Writing a snapshot back as `mem_info(1)` text, in the current (v1.20+) format: 8-digit
//! offsets, one `GC memory layout` header per area, `(N lines all free)` for runs of two or
//! more free rows. Used to generate test and benchmark dumps; the reader reads it back to an
//! equal snapshot.

use std::fmt::Write as _;

use super::{BlockKind, Snapshot, BLOCKS_PER_ROW};

impl Snapshot {
    /// The dump text `mem_info(1)` would print for this snapshot. Header figures come from
    /// the header where present, else from the map; `\n` line endings.
    pub fn to_dump_text(&self) -> String {
        let figures = self.map_figures();
        let bytes = u64::from(self.block_bytes);
        let header = &self.header;
        // Roughly one byte per block plus the offset column.
        let mut out = String::with_capacity(figures.blocks_total as usize * 12 / 10 + 256);
        if let (Some(total), Some(current), Some(peak)) =
            (header.mem_total, header.mem_current, header.mem_peak)
        {
            let _ = writeln!(out, "mem: total={total}, current={current}, peak={peak}");
        }
        match (header.stack_used, header.stack_limit) {
            (Some(used), Some(limit)) => {
                let _ = writeln!(out, "stack: {used} out of {limit}");
            }
            (Some(used), None) => {
                let _ = writeln!(out, "stack: {used}");
            }
            _ => {}
        }
        let _ = write!(
            out,
            "GC: total: {}, used: {}, free: {}",
            header.gc_total.unwrap_or(figures.blocks_total * bytes),
            header.gc_used.unwrap_or(figures.used_blocks * bytes),
            header.gc_free.unwrap_or(figures.free_blocks * bytes),
        );
        if let Some(split) = header.max_new_split {
            let _ = write!(out, ", max new split: {split}");
        }
        let _ = writeln!(
            out,
            "\n No. of 1-blocks: {}, 2-blocks: {}, max blk sz: {}, max free sz: {}",
            header.one_blocks.unwrap_or(figures.one_blocks),
            header.two_blocks.unwrap_or(figures.two_blocks),
            header.max_block.unwrap_or(figures.max_block),
            header.max_free.unwrap_or(figures.max_free),
        );
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
        assert_eq!(reread.block_bytes, 16);
    }
}
