//! End-to-end tests: spawn the real `heaplens` binary (against the simulated board where a
//! board is needed) and check what a user sees.

mod board;
mod faithful;
mod heap_cli;
mod pico;
mod projects;
mod run;
mod sandbox;
mod support;
