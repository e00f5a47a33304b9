//! Fuzz the raw-REPL state machine: whatever bytes the board sends, the link returns an
//! outcome or a typed error, and never panics or hangs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    heaplens::board::raw_repl::exercise_with_garbage(data);
});
