//! A plain run: the script as `mpremote run` runs it — no probes, no heap captures, its
//! output streamed as it comes. What the editor's "Run File" does for people who only want
//! to run their code on the board.

use std::cell::Cell;
use std::time::{Duration, Instant};

use crate::board::files::python_string;
use crate::board::{Board, CancelToken, ExecOutcome, Framing, Interruptible, LinkError, Watchdog};
use crate::diagnose::Traceback;

use super::harness::Nonce;
use super::records::{Demux, Piece};
use super::runner::{RunError, Script};

/// The file name of the wrapper's own code (its frames are never shown).
const WRAPPER_FILE: &str = "<heaplens>";
/// The record the wrapper prints just before the script starts.
const STARTED: u8 = b'S';
/// The record the wrapper prints once the script ended, however it ended.
const ENDED: u8 = b'Z';

/// Runs `source` on `board` as the raw REPL runs code (`mpremote run`, `mpremote exec`):
/// `<stdin>` line numbers, the REPL's globals, its output streamed to `on_output` and its
/// uncaught exception's traceback in the outcome, exactly as the board printed it. Unlike a
/// bare raw-REPL exec, every byte the script prints is output, a `\x04` included: the raw
/// REPL ends its stdout with a `\x04` the script could also print, so the end is found by
/// position instead (see [`crate::board::RawRepl::exec_framed`]).
///
/// How: one exec compiles the script as `<stdin>` inside a tiny wrapper function kept in
/// `builtins` under a per-run random name (the REPL's globals get no name; the source text is
/// garbage once compiled, as it is in raw-paste mode); a second exec calls it. The wrapper
/// prints a record with the run's random marker, runs the code with `exec(code, globals())`,
/// and in a `finally` prints the closing record, which a script cannot print (it does not
/// know the marker). The host removes both records from the stream, and the wrapper's two
/// frames from a traceback, so output and traceback are those of a plain exec. The cost: two
/// frames of recursion depth, and the wrapper's few hundred bytes of heap. When even the
/// compile does not fit in the heap, the script is sent as it is, unframed (then a `\x04` it
/// prints ends its output, as with `mpremote`).
pub fn exec_as_is(
    board: &mut Board,
    source: &str,
    on_output: &mut dyn FnMut(&[u8]),
    cancel: &CancelToken,
) -> Result<ExecOutcome, LinkError> {
    let nonce = Nonce::random();
    let outcome = board.exec_capture(&wrapper_prologue(source, &nonce))?;
    if let Some(traceback) = outcome.traceback {
        if traceback.contains("MemoryError") {
            tracing::info!("the wrapper does not fit in the heap; running the script unframed");
            return board.exec(source, on_output, cancel);
        }
        // The script did not compile (a SyntaxError): the compile's traceback, as the raw
        // REPL shows it, and nothing ran.
        return Ok(ExecOutcome {
            stdout: Vec::new(),
            traceback: Some(without_wrapper_frames(&traceback)),
        });
    }
    let mut demux = Demux::new(&nonce.marker);
    let point = Cell::new(Interruptible::NotYet);
    let interrupt = || point.get();
    let done = format!("{} {}", nonce.marker, ENDED as char);
    let framing = Framing {
        start: nonce.marker.as_bytes(),
        done: done.as_bytes(),
        interrupt: &interrupt,
    };
    let mut stdout = Vec::new();
    let result = board.exec_framed(
        &format!("{}()\n", nonce.names),
        &framing,
        &mut |bytes| {
            for piece in demux.feed(bytes) {
                match piece {
                    Piece::Output(out) => {
                        on_output(&out);
                        stdout.extend_from_slice(&out);
                    }
                    Piece::Record(record) if record.kind == STARTED => {
                        point.set(Interruptible::Now);
                    }
                    Piece::Record(record) if record.kind == ENDED => {
                        point.set(Interruptible::Ending);
                    }
                    Piece::Record(_) => {}
                }
            }
            None
        },
        cancel,
    );
    let rest = demux.finish();
    if !rest.is_empty() {
        on_output(&rest);
        stdout.extend_from_slice(&rest);
    }
    let outcome = result?;
    Ok(ExecOutcome {
        stdout,
        traceback: outcome.traceback.as_deref().map(without_wrapper_frames),
    })
}

/// The exec that compiles `source` into the wrapper (see [`exec_as_is`]). One expression
/// statement: it binds no name in the REPL's globals.
fn wrapper_prologue(source: &str, nonce: &Nonce) -> String {
    let marker = python_string(&nonce.marker);
    let wrapper = format!(
        "import builtins
def R(c=compile(SRC.pop(), '<stdin>', 'exec'), p=print, x=exec, g=G, ki=KeyboardInterrupt):
    try:
        p({marker} + ' {started}')
        x(c, g)
    finally:
        while 1:
            try:
                p({marker} + ' {ended}')
                break
            except ki:
                pass
builtins.{name} = R
",
        started = STARTED as char,
        ended = ENDED as char,
        name = nonce.names,
    );
    format!(
        "exec(compile({}, '{WRAPPER_FILE}', 'exec'), {{'G': globals(), 'SRC': [{}]}})\n",
        python_string(&wrapper),
        python_string(source)
    )
}

/// A traceback as a plain exec shows it: without the frame of the exec that called the
/// wrapper (the first, `<stdin>` line 1) and the wrapper's own.
fn without_wrapper_frames(traceback: &str) -> String {
    let wrapper_frame = format!("File \"{WRAPPER_FILE}\"");
    let mut first_frame = true;
    traceback
        .split_inclusive('\n')
        .filter(|line| {
            let trimmed = line.trim_start();
            if trimmed.starts_with(&wrapper_frame) {
                return false;
            }
            if trimmed.starts_with("File ") && std::mem::take(&mut first_frame) {
                return !trimmed.starts_with("File \"<stdin>\", line 1, in <module>");
            }
            true
        })
        .collect()
}

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
    let outcome = exec_as_is(
        board,
        &super::instrument::normalize(source),
        on_output,
        &inner,
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrappers_frames_leave_the_traceback() {
        let exec = "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\n  File \"<heaplens>\", line 5, in R\r\n  File \"<stdin>\", line 1, in <module>\r\n  File \"<stdin>\", line 4, in f\r\nZeroDivisionError: divide by zero\r\n";
        assert_eq!(
            without_wrapper_frames(exec),
            "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\n  File \"<stdin>\", line 4, in f\r\nZeroDivisionError: divide by zero\r\n"
        );
        let compile = "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\n  File \"<heaplens>\", line 2, in <module>\r\n  File \"<stdin>\", line 3\r\nSyntaxError: invalid syntax\r\n";
        assert_eq!(
            without_wrapper_frames(compile),
            "Traceback (most recent call last):\r\n  File \"<stdin>\", line 3\r\nSyntaxError: invalid syntax\r\n"
        );
    }

    #[test]
    fn the_prologue_is_one_expression_statement_with_the_source_escaped() {
        let nonce = Nonce::from_hex("0123456789abcdef0123456789abcdef");
        let prologue = wrapper_prologue("print('a\x04b')\n", &nonce);
        assert!(prologue.starts_with("exec(compile("), "{prologue}");
        assert_eq!(prologue.matches('\n').count(), 1, "{prologue}");
        assert!(!prologue.contains('\x04'), "{prologue}");
        assert!(prologue.contains(&nonce.names), "{prologue}");
    }
}
