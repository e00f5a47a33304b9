//! Instrumented runs: rewriting scripts with allocation probes, mapping lines back, running.

pub mod instrument;
pub(crate) mod line_map;
pub(crate) mod probes;

#[cfg(test)]
mod interp_tests;
pub mod runner;
pub(crate) mod sampling;
mod source_rows;
pub(crate) mod trace;
