//! A checker for the run's output path, for the fuzzer (`server/fuzz`, target `demux`) and
//! for property tests: script output interleaved with the harness's records, as a board
//! sends it, goes through the raw REPL's framed exec (which must end at the run's own `\x04`
//! whatever the script printed) and the record demultiplexer (which must give back every
//! byte the script printed, in order, and exactly the records the harness completed).
//!
//! The input bytes are a little program: each step prints script output (any bytes, or one
//! of the texts that look like the protocol: a fake traceback ending, `\x04`, partial or
//! foreign markers), a single record, a block record, or a block the harness abandons
//! (stopped while printing it); chunk sizes come from the input too.

use std::time::Duration;

use crate::board::raw_repl::{Framing, Interruptible, RawRepl};
use crate::board::{CancelToken, FakeTransport, LinkOptions};

use super::records::{Demux, Piece, Record};

/// The run's marker in these streams (a real run's is random; the script does not know it).
const MARKER: &str = "\x1eHL5f0c9a7d31b24e68";

/// Texts a script might print to confuse the link.
const LOOKALIKES: &[&[u8]] = &[
    b"\x04",
    b"\x04\x04>",
    b"\x04Traceback (most recent call last):\r\n  File \"<stdin>\", line 9\r\nMemoryError: memory allocation failed, allocating 99999 bytes\r\n\x04>",
    b"\x1e",
    b"\x1eHL",
    b"\x1eHL5f0c9a7d31b24e6",
    b"\x1eHL0123456789abcdef T 1\r\nGC: total: 1\r\n\x1eHL0123456789abcdef .\r\n",
    b"\x1eHL0123456789abcdef Z 0 0\r\n",
    b" .\r\n",
    b"raw REPL; CTRL-B to exit\r\n>",
    b"OK",
    b"\r\n",
];

/// Reads the program in `data`.
struct Steps<'a> {
    data: &'a [u8],
}

impl Steps<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.data.split_first()?;
        self.data = rest;
        Some(first)
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = usize::from(self.byte().unwrap_or(0)) % (max + 1);
        let n = n.min(self.data.len());
        let (taken, rest) = self.data.split_at(n);
        self.data = rest;
        taken.to_vec()
    }
}

/// What the stream should split into.
#[derive(Default)]
struct Expected {
    stream: Vec<u8>,
    output: Vec<u8>,
    records: Vec<Record>,
    /// A record's body holds the marker (no harness record does).
    marker_in_body: bool,
}

impl Expected {
    fn output(&mut self, bytes: &[u8]) {
        self.stream.extend_from_slice(bytes);
        self.output.extend_from_slice(bytes);
    }

    fn single(&mut self, kind: u8, header: &str) {
        self.stream
            .extend_from_slice(format!("{MARKER} {} {header}\r\n", kind as char).as_bytes());
        self.records.push(Record {
            kind,
            header: header.to_string(),
            body: Vec::new(),
        });
    }

    fn block(&mut self, kind: u8, header: &str, body: &[u8], complete: bool) {
        self.stream
            .extend_from_slice(format!("{MARKER} {} {header}\r\n", kind as char).as_bytes());
        self.stream.extend_from_slice(body);
        let marker = MARKER.as_bytes();
        self.marker_in_body |= body.windows(marker.len()).any(|w| w == marker);
        if complete {
            self.stream
                .extend_from_slice(format!("{MARKER} .\r\n").as_bytes());
            self.records.push(Record {
                kind,
                header: header.to_string(),
                body: body.to_vec(),
            });
        }
    }
}

/// A block body: lines of text (any bytes but the marker), each ended.
fn body(steps: &mut Steps<'_>) -> Vec<u8> {
    let mut body = steps.bytes(96);
    if !body.is_empty() && !body.ends_with(b"\n") {
        body.extend_from_slice(b"\r\n");
    }
    body
}

/// Builds the stream `data` describes, runs it through the framed exec and the demux, and
/// panics if the script's output or the records are not exactly what was printed. Inputs
/// whose script output happens to hold the run's marker are skipped (a script cannot know
/// it).
pub fn check(data: &[u8]) {
    let mut steps = Steps { data };
    let max_chunk = usize::from(steps.byte().unwrap_or(0) % 64) + 1;
    let mut expected = Expected::default();
    // The harness prints the before snapshot first.
    expected.block(b'B', "", b"GC: total: 1\r\n", true);
    while let Some(op) = steps.byte() {
        match op % 8 {
            0..=3 => {
                let bytes = steps.bytes(48);
                expected.output(&bytes);
            }
            4 => {
                let pick = usize::from(steps.byte().unwrap_or(0)) % LOOKALIKES.len();
                expected.output(LOOKALIKES[pick]);
            }
            5 => {
                let kind = [b'I', b'M', b'N', b'C'][usize::from(op / 8) % 4];
                let header = (op / 32).to_string();
                expected.single(kind, &header);
            }
            6 => {
                let body = body(&mut steps);
                let kind = [b'T', b'K', b'A'][usize::from(op / 8) % 3];
                expected.block(kind, &(op / 32).to_string(), &body, true);
            }
            _ => {
                // Stopped while printing a block: the harness's next record abandons it.
                let body = steps.bytes(64);
                expected.block(b'A', "", &body, false);
                expected.single(b'I', "");
            }
        }
    }
    expected.block(b'G', "", b"GC: total: 1\r\n", true);
    expected.single(b'Z', "0 0");
    let marker = MARKER.as_bytes();
    let output_has_marker = expected
        .output
        .windows(marker.len())
        .any(|window| window == marker);
    if output_has_marker || expected.marker_in_body {
        return;
    }
    let mut board_output = b"\x04".to_vec();
    board_output.extend_from_slice(&expected.stream);
    board_output.extend_from_slice(b"\x04\x04>");

    let fake = FakeTransport::scripted(move |written| match written {
        b"\r\x01" => b"raw REPL; CTRL-B to exit\r\n>".to_vec(),
        b"\x05A\x01" => b"R\x01\x80\x00\x01".to_vec(),
        b"\x04" => board_output.clone(),
        _ => Vec::new(),
    })
    .with_max_chunk(max_chunk);
    let opts = LinkOptions {
        response_timeout: Duration::from_millis(500),
        poll_interval: Duration::from_millis(1),
        ..LinkOptions::default()
    };
    let mut repl = RawRepl::new(Box::new(fake), opts);
    let done = format!("{MARKER} Z");
    let interrupt = || Interruptible::Now;
    let framing = Framing {
        start: marker,
        done: done.as_bytes(),
        interrupt: &interrupt,
    };
    let mut demux = Demux::new(MARKER);
    let (mut output, mut records) = (Vec::new(), Vec::new());
    let outcome = repl
        .exec_framed(
            b"R()",
            &framing,
            &mut |bytes| {
                for piece in demux.feed(bytes) {
                    match piece {
                        Piece::Output(bytes) => output.extend(bytes),
                        Piece::Record(record) => records.push(record),
                    }
                }
                None
            },
            &CancelToken::new(),
        )
        .expect("the framed exec ends at the run's own end");
    output.extend(demux.finish());
    assert_eq!(
        outcome.stdout, expected.stream,
        "stdout is the whole stream"
    );
    assert_eq!(outcome.traceback, None);
    assert_eq!(output, expected.output, "the script's bytes, in order");
    assert_eq!(records, expected.records);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_kind_of_step() {
        // Output with EOT, each lookalike, each record kind, an abandoned block.
        let mut program = vec![7u8];
        program.extend_from_slice(&[0, 5, b'a', 0x04, b'b', 0x04, b'\n']);
        for pick in 0..LOOKALIKES.len() as u8 {
            program.extend_from_slice(&[4, pick]);
        }
        program.extend_from_slice(&[5, 13, 21, 6, 4, b'x', b'\n', b'y', b'z']);
        program.extend_from_slice(&[7, 6, b'G', b'C', b':', b' ', b'1', b'2']);
        program.extend_from_slice(&[1, 3, b'e', b'n', b'd']);
        check(&program);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_program_splits_exactly(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            check(&data);
        }
    }
}
