//! Splits a run's output stream into the script's own bytes and the harness's records (see
//! [`super::harness`]). A record starts with the run's marker: `marker kind header\n`; a block
//! record has a body after that, closed by a line holding `marker .`. Everything else is the
//! script's output and is passed on byte for byte, in order, whatever the chunking; bytes that
//! merely begin like the marker are held back until they are known not to be one. The marker
//! is random per run, so a script cannot print a record by accident or on purpose.

use super::harness::kind;

/// One record of the harness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The kind letter (see [`kind`]).
    pub kind: u8,
    /// The rest of the record's first line, trimmed.
    pub header: String,
    /// A block record's body, line endings as the board sent them; empty for single records.
    pub body: Vec<u8>,
}

/// What [`Demux::feed`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes the script printed.
    Output(Vec<u8>),
    Record(Record),
}

/// Whether records of `kind` have a body.
fn is_block(kind: u8) -> bool {
    matches!(
        kind,
        kind::BEFORE
            | kind::TRACE
            | kind::MIXED_TRACE
            | kind::AFTER
            | kind::EXCEPTION
            | kind::READOUT
            | kind::AFTER_GC
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Passing output; `held` may be the start of a marker.
    Output,
    /// After a marker: reading the kind letter and header up to `\n`.
    Header,
    /// Inside a block record's body.
    Body,
}

/// A block record whose body is complete up to a marker that may close it.
#[derive(Debug)]
struct OpenBlock {
    kind: u8,
    header: Vec<u8>,
    body: Vec<u8>,
    /// The marker stood at the start of a line: `marker .` there closes the block.
    at_line_start: bool,
}

/// The demultiplexer for one run's output.
///
/// Inside a block, the marker is either the block's closer (`marker .` on a line of its own)
/// or the start of the next record: then the open block was abandoned (the harness was
/// interrupted while printing it and starts over) and is dropped.
#[derive(Debug)]
pub struct Demux {
    marker: Vec<u8>,
    state: State,
    held: Vec<u8>,
    header: Vec<u8>,
    body: Vec<u8>,
    kind: u8,
    /// A block waiting to see whether the marker that interrupted its body closes it.
    open: Option<OpenBlock>,
    /// Everything after the marker of the record being read, as received (given back as
    /// output if the stream ends inside the record).
    raw: Vec<u8>,
}

impl Demux {
    /// A demultiplexer for records that start with `marker`.
    pub fn new(marker: &str) -> Demux {
        Demux {
            marker: marker.as_bytes().to_vec(),
            state: State::Output,
            held: Vec::new(),
            header: Vec::new(),
            body: Vec::new(),
            kind: 0,
            open: None,
            raw: Vec::new(),
        }
    }

    /// Takes the next chunk; returns the output and records it completes, in stream order.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Piece> {
        let mut pieces = Vec::new();
        let mut output = Vec::new();
        for &byte in chunk {
            if self.state != State::Output {
                self.raw.push(byte);
            }
            match self.state {
                State::Output => self.output_byte(byte, &mut output, &mut pieces),
                State::Header => {
                    if byte == b'\n' {
                        self.finish_header(&mut pieces);
                    } else {
                        self.header.push(byte);
                    }
                }
                State::Body => self.body_byte(byte),
            }
        }
        flush(&mut output, &mut pieces);
        pieces
    }

    /// The end of the stream: anything held back was output after all; an unfinished record
    /// is returned as output too (nothing the board sent is ever lost).
    pub fn finish(&mut self) -> Vec<u8> {
        let mut rest = std::mem::take(&mut self.held);
        if self.state != State::Output {
            rest.extend_from_slice(&self.marker);
            rest.append(&mut self.raw);
            self.state = State::Output;
        }
        self.open = None;
        rest
    }

    fn output_byte(&mut self, byte: u8, output: &mut Vec<u8>, pieces: &mut Vec<Piece>) {
        if self.held.is_empty() && byte != self.marker[0] {
            output.push(byte);
            return;
        }
        self.held.push(byte);
        if self.marker.starts_with(&self.held) {
            if self.held.len() == self.marker.len() {
                self.held.clear();
                flush(output, pieces);
                self.start_record();
            }
            return;
        }
        // Not a marker: release what was held except the last byte, which may begin one (the
        // marker's first byte, RS, occurs only once in it).
        let last = self.held.pop().unwrap_or(byte);
        output.append(&mut self.held);
        if last == self.marker[0] {
            self.held.push(last);
        } else {
            output.push(last);
        }
    }

    fn start_record(&mut self) {
        self.header.clear();
        self.body.clear();
        self.raw.clear();
        self.state = State::Header;
    }

    fn finish_header(&mut self, pieces: &mut Vec<Piece>) {
        // `marker kind header`: the kind follows the marker's space.
        let line = String::from_utf8_lossy(&self.header).trim().to_string();
        if let Some(open) = self.open.take() {
            if line == "." && open.at_line_start {
                pieces.push(Piece::Record(Record {
                    kind: open.kind,
                    header: String::from_utf8_lossy(&open.header).into_owned(),
                    body: open.body,
                }));
                self.state = State::Output;
                return;
            }
            // Otherwise the open block was abandoned: this marker starts the next record.
        }
        let mut chars = line.chars();
        self.kind = chars.next().map_or(0, |c| u8::try_from(c).unwrap_or(0));
        let header = chars.as_str().trim().to_string();
        self.header = header.into_bytes();
        if is_block(self.kind) {
            self.state = State::Body;
        } else {
            pieces.push(Piece::Record(Record {
                kind: self.kind,
                header: String::from_utf8_lossy(&self.header).into_owned(),
                body: Vec::new(),
            }));
            self.state = State::Output;
        }
    }

    fn body_byte(&mut self, byte: u8) {
        self.body.push(byte);
        if byte != *self.marker.last().unwrap_or(&0) || !self.body.ends_with(&self.marker) {
            return;
        }
        // A marker inside a block: its closer, or the next record (see [`Demux`]).
        self.body.truncate(self.body.len() - self.marker.len());
        let at_line_start = self.body.is_empty() || self.body.ends_with(b"\n");
        self.open = Some(OpenBlock {
            kind: self.kind,
            header: std::mem::take(&mut self.header),
            body: std::mem::take(&mut self.body),
            at_line_start,
        });
        // `raw` keeps the whole record, for `finish`.
        self.state = State::Header;
    }
}

fn flush(output: &mut Vec<u8>, pieces: &mut Vec<Piece>) {
    if !output.is_empty() {
        pieces.push(Piece::Output(std::mem::take(output)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MARK: &str = "\x1eHL0123456789abcdef";

    fn stream() -> Vec<u8> {
        let mut s = Vec::new();
        s.extend_from_slice(b"hello \x1e not a marker \x04 and \x1eHL0123 either\n");
        s.extend_from_slice(format!("{MARK} T 3\r\nGC: total: 1\r\n{MARK} .\r\n").as_bytes());
        s.extend_from_slice(b"more output, \x04\x04> fake end\n");
        s.extend_from_slice(format!("{MARK} I\n{MARK} Z 2 7\n").as_bytes());
        s
    }

    fn split(chunks: &[&[u8]]) -> (Vec<u8>, Vec<Record>) {
        let mut demux = Demux::new(MARK);
        let (mut out, mut records) = (Vec::new(), Vec::new());
        for chunk in chunks {
            for piece in demux.feed(chunk) {
                match piece {
                    Piece::Output(bytes) => out.extend(bytes),
                    Piece::Record(record) => records.push(record),
                }
            }
        }
        out.extend(demux.finish());
        (out, records)
    }

    #[test]
    fn output_passes_unchanged_and_records_are_taken_out() {
        let s = stream();
        let (out, records) = split(&[&s]);
        assert_eq!(
            out,
            b"hello \x1e not a marker \x04 and \x1eHL0123 either\nmore output, \x04\x04> fake end\n"
        );
        assert_eq!(records.len(), 3);
        assert_eq!((records[0].kind, records[0].header.as_str()), (b'T', "3"));
        assert_eq!(records[0].body, b"GC: total: 1\r\n");
        assert_eq!(records[1].kind, b'I');
        assert_eq!((records[2].kind, records[2].header.as_str()), (b'Z', "2 7"));
    }

    #[test]
    fn an_unfinished_record_is_returned_as_output() {
        let (out, records) = split(&[format!("a{MARK} A\r\nGC: tot").as_bytes()]);
        assert!(records.is_empty());
        assert_eq!(out, format!("a{MARK} A\r\nGC: tot").as_bytes());
    }

    #[test]
    fn a_block_left_open_is_abandoned_by_the_next_record() {
        // The harness was stopped inside the after dump (mid-line, as an interrupted write
        // leaves it) and printed its ending again.
        let s = format!(
            "out{MARK} A\r\nGC: total: 1\r\n00000: h=hh{MARK} A\r\nGC: total: 2\r\n{MARK} .\r\n{MARK} Z 0 0\r\n"
        );
        let (out, records) = split(&[s.as_bytes()]);
        assert_eq!(out, b"out");
        assert_eq!(records.len(), 2, "{records:?}");
        assert_eq!(records[0].kind, b'A');
        assert_eq!(records[0].body, b"GC: total: 2\r\n");
        assert_eq!((records[1].kind, records[1].header.as_str()), (b'Z', "0 0"));
    }

    #[test]
    fn a_closer_that_does_not_start_its_line_does_not_close() {
        let s = format!("{MARK} G\r\nGC{MARK} .\r\n{MARK} G\r\nGC: 3\r\n{MARK} .\r\n");
        let (out, records) = split(&[s.as_bytes()]);
        assert_eq!(out, b"");
        let blocks: Vec<_> = records.iter().filter(|r| r.kind == b'G').collect();
        assert_eq!(blocks.len(), 1, "{records:?}");
        assert_eq!(blocks[0].body, b"GC: 3\r\n");
    }

    #[test]
    fn records_in_the_middle_of_a_line_leave_the_line_whole() {
        // A trace record printed after `print('a', end='')`: the script's bytes around it
        // join up again.
        let s = format!("a{MARK} T 1\r\nGC: total: 1\r\n{MARK} .\r\nb\x04\n");
        let (out, records) = split(&[s.as_bytes()]);
        assert_eq!(out, b"ab\x04\n");
        assert_eq!(records.len(), 1);
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_split(cuts in prop::collection::vec(0usize..200, 0..12)) {
            let s = stream();
            let whole = split(&[&s]);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (s.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut start = 0;
            for cut in cuts {
                chunks.push(&s[start..cut]);
                start = cut;
            }
            chunks.push(&s[start..]);
            prop_assert_eq!(split(&chunks), whole);
        }

        #[test]
        fn output_without_the_marker_is_never_changed(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let (out, records) = split(&[&bytes]);
            if !bytes.windows(MARK.len()).any(|w| w == MARK.as_bytes()) {
                prop_assert!(records.is_empty());
                prop_assert_eq!(out, bytes);
            }
        }
    }
}
