//! A plain run: the script as `mpremote run` runs it — no probes, no heap captures, its
//! output streamed as it comes. What the editor's "Run File" does for people who only want
//! to run their code on the board.

use std::time::{Duration, Instant};

use crate::board::{Board, CancelToken, Watchdog};
use crate::diagnose::Traceback;

use super::runner::{RunError, Script};

/// How a plain run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainReport {
    /// The final exception line (`MemoryError: …`), `None` when the script ended normally.
    pub exception: Option<String>,
    /// The traceback as the board printed it (the script's own line numbers: nothing was
    /// added to it).
    pub traceback: Option<String>,
    /// Stopped on request or by the timeout.
    pub interrupted: bool,
    pub timed_out: bool,
    pub elapsed: Duration,
    /// Project files copied to the board before the run (relative to the project root).
    pub copied: Vec<String>,
}

/// Runs `script` on `board` unchanged, after its project's changed files were copied to the
/// board (its imports are the board's own: they find them there; `on_copied` hears which)
/// and a soft reset when asked (and the board is not already fresh). `on_output` gets the
/// script's output as it arrives; `cancel` (or the `timeout`) interrupts it with Ctrl-C.
pub fn run_plain(
    board: &mut Board,
    script: &Script,
    soft_reset: bool,
    timeout: Option<Duration>,
    on_output: &mut dyn FnMut(&[u8]),
    on_copied: &mut dyn FnMut(&[String]),
    cancel: &CancelToken,
) -> Result<PlainReport, RunError> {
    let started = Instant::now();
    let mut copied = Vec::new();
    if let Some(project) = script.project.as_deref() {
        let layout = crate::project::BoardLayout::from_sys_path(&board.sys_path()?);
        let report = super::upload::copy_project(board, project, &layout)?;
        if !report.copied.is_empty() {
            on_copied(&report.copied);
        }
        copied = report.copied;
    }
    let source = script.source.as_str();
    if soft_reset && !board.is_fresh() {
        board.soft_reset()?;
    }
    let inner = CancelToken::new();
    let watchdog = Watchdog::start(cancel.clone(), inner.clone(), timeout);
    let outcome = board.exec(&super::instrument::normalize(source), on_output, &inner);
    let timed_out = watchdog.timed_out();
    drop(watchdog);
    let outcome = outcome?;
    let exception = outcome
        .traceback
        .as_deref()
        .and_then(Traceback::parse)
        .map(|t| t.exception_line());
    Ok(PlainReport {
        exception,
        traceback: outcome.traceback,
        interrupted: inner.is_cancelled(),
        timed_out,
        elapsed: started.elapsed(),
        copied,
    })
}
