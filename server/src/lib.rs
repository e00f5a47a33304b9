//! HeapLens: where a MicroPython board's heap goes.
//!
//! Layers, and the only direction dependencies may point:
//! `lsp`, `cli` → `run`, `diagnose` → `board`, `heap`, `project`.
//! `heap` is pure (text in, model out); `project` reads a project folder once and is pure
//! after that; `board` is the only module that does board I/O;
//! `lsp` is the only module that knows the Language Server Protocol.

pub mod board;
pub(crate) mod check;
pub mod cli;
pub(crate) mod diagnose;
pub mod heap;
mod logging;
pub(crate) mod lsp;
pub mod project;
pub mod run;
