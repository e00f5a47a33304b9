//! Instrumented runs: rewriting scripts with allocation probes, mapping lines back, running.

pub mod instrument;
pub mod line_map;
pub mod probes;

#[cfg(test)]
mod interp_tests;
pub mod runner;
pub mod sampling;
mod source_rows;
pub mod trace;
