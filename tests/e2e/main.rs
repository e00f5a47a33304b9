//! End-to-end tests: spawn the real `heaplens` binary (against the simulated board where a
//! board is needed) and check what a user sees.

mod board;
mod check;
mod faithful;
mod heap_cli;
mod link;
mod live;
mod pico;
mod projects;
mod run;
mod sandbox;
mod support;
