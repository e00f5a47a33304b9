//! A plain run: the script as `mpremote run` runs it — no probes, no heap captures, its
//! output streamed as it comes. What the editor's "Run File" does for people who only want
//! to run their code on the board.

use std::time::{Duration, Instant};

use crate::board::{Board, CancelToken, Watchdog};
use crate::diagnose::Traceback;

use super::runner::RunError;

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
}

/// Runs `source` on `board` unchanged, after a soft reset when asked (and the board is not
/// already fresh). `on_output` gets the script's output as it arrives; `cancel` (or the
/// `timeout`) interrupts it with Ctrl-C.
pub fn run_plain(
    board: &mut Board,
    source: &str,
    soft_reset: bool,
    timeout: Option<Duration>,
    on_output: &mut dyn FnMut(&[u8]),
    cancel: &CancelToken,
) -> Result<PlainReport, RunError> {
    let started = Instant::now();
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
    })
}
