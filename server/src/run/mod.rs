//! Instrumented runs: the harness on the board, rewriting scripts with probes, reading what
//! they print, running.

pub(crate) mod harness;
pub mod instrument;
#[cfg(test)]
mod interp_tests;
pub(crate) mod probes;
pub(crate) mod records;
pub mod runner;
mod source_rows;
pub(crate) mod trace;
