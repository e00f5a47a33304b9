//! Allocation tracing: which user line made each allocation a run left behind.
//!
//! With `trace_allocations`, the probes print, for the first allocating executions of each
//! line, a trace record (see [`super::harness`]): the line's slot and a `mem_info(1)` dump,
//! taken just after the line's allocation was measured. [`attribute`] diffs successive trace
//! dumps to learn which line each allocation first showed up after, and labels the
//! allocations of the `after` snapshot with it.

use std::collections::{HashMap, HashSet};

use crate::heap::{Allocation, Snapshot};

use super::probes::SourceLine;
use super::runner::AllocationLine;

/// Labels each allocation of `after` that is not in `before` with the user line (1-based)
/// whose trace first showed it. `traces` are the parsed trace dumps in run order, each with
/// its line (`None` for a baseline: what is new in it belongs to no line, e.g. the script's
/// compiled code). An allocation is identified by area, head block, length and kind; trace `i`'s
/// new allocations are those not in trace `i - 1` (the first trace is compared with
/// `before`). When an identical allocation appears, vanishes and appears again, the latest
/// appearance wins (it is the one still alive). Allocations made after the trace budget ran
/// out stay unlabelled rather than guessed.
pub fn attribute(
    before: &Snapshot,
    traces: &[(Option<SourceLine>, Snapshot)],
    after: &Snapshot,
) -> Vec<AllocationLine> {
    let mut previous: HashSet<Allocation> = before.allocations().collect();
    let mut line_of: HashMap<Allocation, &SourceLine> = HashMap::new();
    for (line, snapshot) in traces {
        let current: HashSet<Allocation> = snapshot.allocations().collect();
        for allocation in current.difference(&previous) {
            match line {
                Some(line) => line_of.insert(*allocation, line),
                None => line_of.remove(allocation),
            };
        }
        previous = current;
    }
    let existed: HashSet<Allocation> = before.allocations().collect();
    // A live capture always has its block size; without one no offset can be named.
    let Some(block_bytes) = after.block_bytes.map(|b| b as usize) else {
        return Vec::new();
    };
    let mut lines: Vec<AllocationLine> = after
        .allocations()
        .filter(|allocation| !existed.contains(allocation))
        .filter_map(|allocation| {
            line_of.get(&allocation).map(|at| AllocationLine {
                area: allocation.area,
                offset: allocation.offset * block_bytes,
                blocks: allocation.blocks,
                file: at.file.to_string(),
                line: at.line,
            })
        })
        .collect();
    lines.sort_by_key(|l| (l.area, l.offset));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::{parse_dump_str, BlockKind};

    fn at(line: u32) -> Option<SourceLine> {
        Some(SourceLine::new(&std::sync::Arc::from("main.py"), line))
    }

    /// A 64-block dump of 32-byte blocks whose first row is `row` (free elsewhere). Only the
    /// total is stated, so the map (complete) gives every other figure.
    fn snapshot(row: &str) -> Snapshot {
        let text =
            format!("GC: total: 2048\nGC memory layout; from 20000000:\n00000000: {row:.<64}\n");
        let parsed = parse_dump_str(&text).expect("fixture dump");
        // Round-trip through the writer, as the board's text would look.
        parse_dump_str(&parsed.to_dump_text()).expect("fixture dump round trip")
    }

    #[test]
    fn allocations_get_the_line_whose_trace_first_showed_them() {
        let before = snapshot("hh");
        let traces = vec![
            // The baseline: the script's code, allocated before its first line ran.
            (None, snapshot("hhM")),
            (at(9), snapshot("hhMB==")),
            // Line 10 adds a list; line 11 frees nothing, allocates a str.
            (at(10), snapshot("hhMB==L=")),
            (at(11), snapshot("hhMB==L=S")),
        ];
        // After: the str is gone, a dict nobody traced appeared.
        let after = snapshot("hhMB==L=.D");
        let block = before.block_bytes.expect("map offsets give the block size") as usize;
        assert_eq!(
            attribute(&before, &traces, &after),
            vec![
                AllocationLine {
                    area: 0,
                    offset: 3 * block,
                    blocks: 3,
                    file: "main.py".into(),
                    line: 9
                },
                AllocationLine {
                    area: 0,
                    offset: 6 * block,
                    blocks: 2,
                    file: "main.py".into(),
                    line: 10
                },
            ]
        );
        assert!(after
            .allocations()
            .any(|a| a.kind == BlockKind::Dict && a.offset == 9));
    }

    #[test]
    fn a_grown_or_reappearing_allocation_takes_the_latest_line() {
        let before = snapshot("h");
        let traces = vec![
            (at(3), snapshot("hL")),
            (at(4), snapshot("h")),
            (at(5), snapshot("hL")),
            (at(6), snapshot("hL=")),
        ];
        let after = snapshot("hL=");
        let lines = attribute(&before, &traces, &after);
        assert_eq!(lines.len(), 1);
        assert_eq!((lines[0].line, lines[0].blocks), (6, 2));
        let after = snapshot("hL");
        assert_eq!(attribute(&before, &traces[..3], &after)[0].line, 5);
        // Nothing is attributed without traces.
        assert!(attribute(&before, &[], &after).is_empty());
    }
}
