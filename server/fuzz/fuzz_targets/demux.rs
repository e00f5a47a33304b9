//! Fuzz the run's output path: script output (any bytes, and texts that look like the raw
//! REPL's ending or the harness's markers) interleaved with the harness's records, in any
//! chunking, goes through the raw REPL's framed exec and the record demultiplexer. The exec
//! must end at the run's own end, every byte the script printed must come out in order, and
//! the records must be exactly those the harness completed (see `heaplens::run::output_split`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    heaplens::run::output_split::check(data);
});
