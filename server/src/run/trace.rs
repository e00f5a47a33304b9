//! Allocation tracing: which user line made each allocation a run left behind.
//!
//! With `trace_allocations`, the probes' slow path prints, for the first allocating executions
//! of each line, a trace into the script's output: [`TRACE_START`], the slot number, a
//! `mem_info(1)` dump and [`TRACE_END`] (see `probes`). Two pure pieces live here:
//! * [`TraceDemux`] splits the output stream back into the user's bytes (unchanged, byte for
//!   byte, whatever the chunking) and the traces;
//! * [`attribute`] diffs successive trace dumps to learn which line each allocation first
//!   showed up after, and labels the allocations of the `after` snapshot with it.

use std::collections::{HashMap, HashSet};

use crate::heap::{Allocation, Snapshot};

use super::probes::{TRACE_END, TRACE_START};
use super::runner::AllocationLine;

/// One trace taken from the output: the probe slot that printed it and its raw dump text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTrace {
    /// The slot number the probe printed; `None` for the baseline trace the probes' reset
    /// prints when the script starts (slot -1), or an unreadable slot.
    pub slot: Option<usize>,
    /// The `mem_info(1)` text (line endings as the board sent them).
    pub dump: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Passing user bytes; `pending` holds a possible beginning of [`TRACE_START`].
    Pass,
    /// Inside a trace; `trace` collects it until [`TRACE_END`] and its newline.
    Trace,
}

/// Splits a script's output stream into user bytes and traces. Feed chunks as they arrive;
/// what [`TraceDemux::feed`] returns goes to the user. Bytes that merely start like a marker
/// are held back until they are known not to be one.
#[derive(Debug)]
pub struct TraceDemux {
    state: State,
    pending: Vec<u8>,
    trace: Vec<u8>,
    /// Set once `trace` ends with [`TRACE_END`]: the trace ends at the next `\n`.
    closing: bool,
    traces: Vec<RawTrace>,
}

impl Default for TraceDemux {
    fn default() -> Self {
        TraceDemux {
            state: State::Pass,
            pending: Vec::new(),
            trace: Vec::new(),
            closing: false,
            traces: Vec::new(),
        }
    }
}

impl TraceDemux {
    /// A demultiplexer at the start of a stream.
    pub fn new() -> TraceDemux {
        TraceDemux::default()
    }

    /// Takes the next chunk of output; returns the user's bytes it completes.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len());
        for &byte in chunk {
            match self.state {
                State::Pass => self.pass_byte(byte, &mut out),
                State::Trace => self.trace_byte(byte),
            }
        }
        out
    }

    fn pass_byte(&mut self, byte: u8, out: &mut Vec<u8>) {
        let start = TRACE_START.as_bytes();
        if self.pending.is_empty() && byte != start[0] {
            out.push(byte);
            return;
        }
        self.pending.push(byte);
        if start.starts_with(&self.pending) {
            if self.pending.len() == start.len() {
                self.pending.clear();
                self.trace.clear();
                self.closing = false;
                self.state = State::Trace;
            }
            return;
        }
        // Not a marker after all: release what was held, except the last byte, which may
        // itself begin a marker (the marker's first byte occurs only once in it).
        let last = self.pending.pop().unwrap_or(byte);
        out.append(&mut self.pending);
        if last == start[0] {
            self.pending.push(last);
        } else {
            out.push(last);
        }
    }

    fn trace_byte(&mut self, byte: u8) {
        self.trace.push(byte);
        if self.closing {
            if byte == b'\n' {
                self.finish_trace();
            }
        } else if self.trace.ends_with(TRACE_END.as_bytes()) {
            self.closing = true;
        }
    }

    fn finish_trace(&mut self) {
        let body_end = self
            .trace
            .windows(TRACE_END.len())
            .rposition(|w| w == TRACE_END.as_bytes())
            .unwrap_or(self.trace.len());
        let body = &self.trace[..body_end];
        let first_newline = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
        let slot = std::str::from_utf8(&body[..first_newline])
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok());
        let dump = body.get(first_newline + 1..).unwrap_or_default().to_vec();
        self.traces.push(RawTrace { slot, dump });
        self.trace.clear();
        self.closing = false;
        self.state = State::Pass;
    }

    /// The stream ended: returns the user's bytes still held back (a partial marker). An
    /// unfinished trace (the script was interrupted mid-dump) is dropped: those bytes were
    /// never the user's.
    pub fn finish(&mut self) -> Vec<u8> {
        self.trace.clear();
        self.closing = false;
        self.state = State::Pass;
        std::mem::take(&mut self.pending)
    }

    /// The traces completed so far, in output order.
    pub fn traces(&self) -> &[RawTrace] {
        &self.traces
    }
}

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
    traces: &[(Option<u32>, Snapshot)],
    after: &Snapshot,
) -> Vec<AllocationLine> {
    let mut previous: HashSet<Allocation> = before.allocations().collect();
    let mut line_of: HashMap<Allocation, u32> = HashMap::new();
    for (line, snapshot) in traces {
        let current: HashSet<Allocation> = snapshot.allocations().collect();
        for allocation in current.difference(&previous) {
            match line {
                Some(line) => line_of.insert(*allocation, *line),
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
            line_of.get(&allocation).map(|&line| AllocationLine {
                area: allocation.area,
                offset: allocation.offset * block_bytes,
                blocks: allocation.blocks,
                line,
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

    fn demux_all(chunks: &[&[u8]]) -> (Vec<u8>, Vec<RawTrace>) {
        let mut demux = TraceDemux::new();
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend(demux.feed(chunk));
        }
        out.extend(demux.finish());
        (out, demux.traces().to_vec())
    }

    const TRACE: &[u8] = b"\x1eHLT 7\r\nGC: total: 192000\r\nline two\r\n\x1eHLE\r\n";

    #[test]
    fn user_bytes_pass_and_traces_are_taken_out() {
        let mut stream = b"hello\n".to_vec();
        stream.extend_from_slice(TRACE);
        stream.extend_from_slice(b"world\n");
        let (out, traces) = demux_all(&[&stream]);
        assert_eq!(out, b"hello\nworld\n");
        assert_eq!(
            traces,
            vec![RawTrace {
                slot: Some(7),
                dump: b"GC: total: 192000\r\nline two\r\n".to_vec()
            }]
        );
    }

    #[test]
    fn every_split_of_the_stream_gives_the_same_result() {
        let mut stream = b"a\x1e\x1eH\xff\xfe\x1eHL\n".to_vec();
        stream.extend_from_slice(TRACE);
        stream.extend_from_slice(b"\x1eHLX tail \x80");
        stream.extend_from_slice(TRACE);
        stream.extend_from_slice(b"\x1eHL");
        let expected_out = b"a\x1e\x1eH\xff\xfe\x1eHL\n\x1eHLX tail \x80\x1eHL".to_vec();
        let (whole, traces) = demux_all(&[&stream]);
        assert_eq!(whole, expected_out);
        assert_eq!(traces.len(), 2);
        for cut in 0..=stream.len() {
            for cut2 in cut..=stream.len() {
                let (out, split) =
                    demux_all(&[&stream[..cut], &stream[cut..cut2], &stream[cut2..]]);
                assert_eq!(out, expected_out, "cut at {cut}/{cut2}");
                assert_eq!(split, traces, "cut at {cut}/{cut2}");
            }
        }
        // One byte at a time.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(demux_all(&bytes), (expected_out, traces));
    }

    #[test]
    fn an_unfinished_trace_is_dropped_and_a_bad_slot_is_none() {
        let (out, traces) = demux_all(&[b"x\x1eHLT 3\r\nGC: tot"]);
        assert_eq!(out, b"x");
        assert!(traces.is_empty());
        let (out, traces) = demux_all(&[b"\x1eHLT zz\n\x1eHLE\ny"]);
        assert_eq!(out, b"y");
        assert_eq!(traces[0].slot, None);
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
            (Some(9), snapshot("hhMB==")),
            // Line 10 adds a list; line 11 frees nothing, allocates a str.
            (Some(10), snapshot("hhMB==L=")),
            (Some(11), snapshot("hhMB==L=S")),
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
                    line: 9
                },
                AllocationLine {
                    area: 0,
                    offset: 6 * block,
                    blocks: 2,
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
            (Some(3), snapshot("hL")),
            (Some(4), snapshot("h")),
            (Some(5), snapshot("hL")),
            (Some(6), snapshot("hL=")),
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
