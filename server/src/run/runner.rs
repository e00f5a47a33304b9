//! One instrumented run on a board: soft reset, prologue, **before** snapshot, the script,
//! **after** snapshot (the heap as the script left it — for a MemoryError, the heap at the
//! moment of failure), **after-gc** snapshot, probe readout, diagnostics.
//!
//! Why the after snapshot is a faithful failure-time picture: MicroPython frees memory only
//! when a collection runs, and a collection runs only inside an allocation that does not fit
//! (or on `gc.collect()`). Between the failing statement and the capture the board only
//! compiles the one-line capture command (a few blocks, which fit after a MemoryError in all
//! but a completely full heap), so no collection runs and nothing the script held is freed.
//! A completely full heap happens when the collector is disabled (`--exact`, or the script's
//! own `gc.disable()`): then the capture fails, the board is soft-reset, and the report has
//! the exception but no after snapshots or per-line figures.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use crate::board::{Board, CancelToken, ExecOutcome, LinkError, Watchdog};
use crate::diagnose::{self, HeapAtFailure, LineUsage, RunFacts, Thresholds, Traceback};
use crate::heap::{self, DumpError, Snapshot};

use super::instrument::{instrument, InstrumentError, InstrumentOptions};
use super::probes::{parse_readout, LineDelta, ProbeError};
use super::trace::{self, RawTrace, TraceDemux};

/// The file name the board gives the submitted script in tracebacks.
pub const SCRIPT_FILE: &str = "<stdin>";

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `gc.disable()` for the run: deltas are exact allocations; MemoryError comes sooner.
    pub exact: bool,
    /// Soft-reset the board first (a fresh heap, as a user's `main.py` would see).
    pub soft_reset: bool,
    /// Interrupt the script after this long.
    pub timeout: Option<Duration>,
    pub thresholds: Thresholds,
    /// Trace which line made each allocation ([`RunReport::allocation_lines`]): the probes
    /// print a heap dump for each line's first allocating executions, which the runner takes
    /// out of the script's output. Off by default.
    pub trace_allocations: bool,
    /// Whether to probe every execution or sample loop and function bodies (see
    /// [`super::sampling`]).
    pub sampling: Sampling,
}

/// How many executions of each loop and function body are probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sampling {
    /// Every execution of every line: exact per-line figures.
    Every,
    /// The first `N` executions of each body; later ones run unprobed.
    Sample(u32),
    /// [`Sampling::Every`] on boards whose probes are cheap (they count allocations in O(1)
    /// with `micropython.mem_total()`: the unix port, i.e. the simulated Pico), else
    /// [`AUTO_SAMPLE`] executions: there every probe scans the heap's allocation table, which
    /// makes a loop-heavy script a hundred times slower.
    #[default]
    Auto,
}

/// The per-body budget of [`Sampling::Auto`] on a board without `mem_total()`.
pub const AUTO_SAMPLE: u32 = 64;

impl Sampling {
    /// The probe budget to use on a board that has (or lacks) `micropython.mem_total()`.
    pub fn budget(self, board_counts_allocations: bool) -> Option<u32> {
        match self {
            Sampling::Every => None,
            Sampling::Sample(n) => Some(n),
            Sampling::Auto => (!board_counts_allocations).then_some(AUTO_SAMPLE),
        }
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            exact: false,
            soft_reset: true,
            timeout: None,
            thresholds: Thresholds::default(),
            trace_allocations: false,
            sampling: Sampling::Auto,
        }
    }
}

/// Where a run is; reported as progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Connecting,
    SoftReset,
    Before,
    Running,
    After,
}

/// What a run reports while it goes.
#[derive(Debug)]
pub enum RunEvent<'a> {
    Phase(Phase),
    /// Script output, byte for byte, as it arrives.
    Output(&'a [u8]),
    /// A snapshot was just taken (`before`, `after` or `after-gc`), so viewers can show it at
    /// once instead of at the end of the run.
    Snapshot {
        label: &'static str,
        snapshot: &'a Snapshot,
        /// For `after` of a traced run: the line of each new allocation (else empty).
        allocation_lines: &'a [AllocationLine],
    },
}

/// Why a run could not produce a report. The user's own exceptions are not errors: they are
/// part of the report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Link(#[from] LinkError),
    /// A `mem_info` capture could not be read (garbled serial output).
    #[error("the board's heap dump could not be read: {0}")]
    Dump(#[from] DumpError),
    /// Probe set-up or readout failed (e.g. the heap was too full to hold the probe buffers).
    #[error("the allocation probes failed: {0}")]
    Probes(String),
}

impl RunError {
    /// The board vanished: the caller should reopen it before the next run.
    pub fn is_disconnect(&self) -> bool {
        matches!(self, RunError::Link(e) if e.is_disconnect())
    }
}

impl From<ProbeError> for RunError {
    fn from(e: ProbeError) -> Self {
        RunError::Probes(e.to_string())
    }
}

/// The three snapshots of a run.
#[derive(Debug, Clone)]
pub struct RunSnapshots {
    pub before: Snapshot,
    /// The heap as the script left it (at the failure, for an uncaught exception).
    pub after: Option<Snapshot>,
    /// After `gc.collect()`: what the script really kept.
    pub after_gc: Option<Snapshot>,
}

/// An allocation of the `after` snapshot, attributed to the user line that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AllocationLine {
    /// Index of the area in the snapshot's areas.
    pub area: usize,
    /// Byte offset of the allocation's head block inside its area.
    pub offset: usize,
    /// Length of the allocation in blocks (head and tails).
    pub blocks: usize,
    /// User line, 1-based.
    pub line: u32,
}

/// Everything a run found.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub snapshots: RunSnapshots,
    /// Per user line, 1-based, in line order.
    pub lines: Vec<LineDelta>,
    pub diagnostics: Vec<diagnose::Diagnostic>,
    pub gc_collections: Option<u32>,
    /// The final exception line, e.g. `MemoryError: memory allocation failed, …`.
    pub exception: Option<String>,
    /// The traceback with the user's line numbers.
    pub traceback: Option<String>,
    /// Everything the script printed (lossy UTF-8 for JSON; the stream carried raw bytes).
    pub output: String,
    pub exact: bool,
    /// The per-block probe budget of a sampled run (`--sample N`); `None` when every
    /// execution was probed.
    pub sample: Option<u32>,
    /// The run was sampled because of [`Sampling::Auto`]: the board has no O(1) allocation
    /// counter.
    pub sampled_automatically: bool,
    /// False when the script could not be instrumented: it ran as it is, without per-line
    /// figures; `not_instrumented` says why.
    pub instrumented: bool,
    pub not_instrumented: Option<String>,
    /// Stopped on request or by the timeout.
    pub interrupted: bool,
    pub timed_out: bool,
    pub diff: heap::Diff,
    /// With `trace_allocations`: the line that made each allocation of `after` that was not
    /// in `before` (allocations made after the trace budget ran out are left out). Sorted by
    /// area and offset; empty without tracing.
    pub allocation_lines: Vec<AllocationLine>,
    pub elapsed: Duration,
}

impl RunReport {
    /// The JSON document of `heaplens run --json`, also the language server's payload.
    pub fn to_json(&self) -> Value {
        let stats = |s: Option<&Snapshot>| {
            s.map_or(Value::Null, |s| {
                serde_json::to_value(s.stats()).unwrap_or(Value::Null)
            })
        };
        json!({
            "snapshots": {
                "before": stats(Some(&self.snapshots.before)),
                "after": stats(self.snapshots.after.as_ref()),
                "after_gc": stats(self.snapshots.after_gc.as_ref()),
            },
            "lines": self.lines,
            "diagnostics": self.diagnostics,
            "gc_collections": self.gc_collections,
            "exception": self.exception,
            "traceback": self.traceback,
            "output": self.output,
            "exact": self.exact,
            "sample": self.sample,
            "sampled_automatically": self.sampled_automatically,
            "instrumented": self.instrumented,
            "not_instrumented": self.not_instrumented,
            "interrupted": self.interrupted,
            "timed_out": self.timed_out,
            "diff": self.diff,
            "allocation_lines": self.allocation_lines,
            "elapsed_ms": self.elapsed.as_millis() as u64,
        })
    }
}

fn line_usage(d: &LineDelta) -> LineUsage {
    LineUsage {
        line: d.line,
        hits: d.hits,
        allocated_bytes: d.allocated_bytes,
        net_bytes: d.net_bytes,
        max_single_bytes: d.max_single_bytes,
        unsampled_bytes: d.unsampled_bytes,
        sampled: d.sampled,
    }
}

/// Runs the probes' own code (`what`: its name in the error); a traceback from it is a
/// [`RunError::Probes`], never the user's exception.
fn exec_probe_code(board: &mut Board, code: &str, what: &str) -> Result<ExecOutcome, RunError> {
    let outcome = board.exec_capture(code)?;
    match outcome.traceback {
        Some(tb) => Err(RunError::Probes(format!("{what} raised: {}", tb.trim()))),
        None => Ok(outcome),
    }
}

/// Captures `mem_info(1)` (after `gc.collect()` when `gc`) and reads it.
pub fn capture(board: &mut Board, gc: bool) -> Result<Snapshot, RunError> {
    let text = board.capture_mem_info(gc)?;
    Ok(heap::parse_dump(&text)?)
}

/// The board could not run the capture command for want of heap.
fn heap_exhausted(error: &RunError) -> bool {
    matches!(
        error,
        RunError::Link(LinkError::Protocol { got, .. }) if got.contains("MemoryError")
    )
}

/// Runs `source` on `board` with heap captures and probes. `events` hears phases and output
/// as they happen; `cancel` stops the script (Ctrl-C) and still yields a report.
pub fn run_script(
    board: &mut Board,
    source: &str,
    options: &RunOptions,
    events: &mut dyn FnMut(RunEvent<'_>),
    cancel: &CancelToken,
) -> Result<RunReport, RunError> {
    run(board, source, options, events, cancel, None)
}

/// Why the instrumented script had to give way to the plain one (see [`compile_ran_out`]).
const TOO_BIG_TO_COMPILE: &str = "with its probes it is too big to compile in the board's \
     free heap (MemoryError while compiling)";

/// Removes the probes' globals after an instrumented script could not even compile, for a
/// run that must not soft-reset the board.
const REMOVE_PROBES: &str =
    "[globals().pop(k) for k in [k for k in globals() if k.startswith('_hl_')]]\n__import__('gc').collect()";

/// A MemoryError with no traceback frame: the board ran out of heap while compiling the
/// submitted code, before any of it ran.
fn compile_ran_out(traceback: &str) -> bool {
    traceback.contains("MemoryError") && !traceback.contains("File \"")
}

/// [`run_script`], or with `plain` the script as it is (no probes), for that reason.
fn run(
    board: &mut Board,
    source: &str,
    options: &RunOptions,
    events: &mut dyn FnMut(RunEvent<'_>),
    cancel: &CancelToken,
    plain: Option<&str>,
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    if options.soft_reset {
        events(RunEvent::Phase(Phase::SoftReset));
        board.soft_reset()?;
    }
    // Whether probes are cheap on this board decides the default sampling and the probes'
    // form (a plain run needs neither).
    let counts_allocations = match plain {
        Some(_) => true,
        None => board.counts_allocations()?,
    };
    let sample = options.sampling.budget(counts_allocations);
    // A script that cannot be instrumented still runs, as it is: a script that does not parse
    // then shows the board's own SyntaxError (with the user's line), and one using a construct
    // the probes do not support (`match`) still gets its snapshots and diagnostics.
    let instrumentation = match plain {
        Some(reason) => Err(reason.to_string()),
        None => instrument(
            source,
            &InstrumentOptions {
                exact: options.exact,
                trace_allocations: options.trace_allocations,
                sample,
                compact_probes: !counts_allocations,
            },
        )
        .map_err(|e| match e {
            InstrumentError::Syntax { .. } => format!("it does not parse ({e})"),
            e => e.to_string(),
        }),
    };
    let (instrumented, not_instrumented) = match instrumentation {
        Ok(i) => (Some(i), None),
        Err(why) => (None, Some(why)),
    };
    if let Some(instr) = &instrumented {
        exec_probe_code(board, &instr.prologue, "the probe set-up")?;
    } else if options.exact {
        board.exec_capture("import gc\ngc.disable()")?;
    }

    events(RunEvent::Phase(Phase::Before));
    let before = capture(board, false)?;
    events(RunEvent::Snapshot {
        label: "before",
        snapshot: &before,
        allocation_lines: &[],
    });

    events(RunEvent::Phase(Phase::Running));
    let script = instrumented.as_ref().map_or(source, |i| i.code.as_str());
    let inner = CancelToken::new();
    let watchdog = Watchdog::start(cancel.clone(), inner.clone(), options.timeout);
    // Traces exist only in an instrumented run; the demultiplexer keeps them out of the
    // user's output (streamed and reported).
    let mut demux = (options.trace_allocations && instrumented.is_some()).then(TraceDemux::new);
    let mut user_output = Vec::new();
    let outcome = board.exec(
        script,
        &mut |bytes| match demux.as_mut() {
            Some(demux) => {
                let user = demux.feed(bytes);
                if !user.is_empty() {
                    events(RunEvent::Output(&user));
                    user_output.extend_from_slice(&user);
                }
            }
            None => events(RunEvent::Output(bytes)),
        },
        &inner,
    )?;
    if let Some(demux) = demux.as_mut() {
        let rest = demux.finish();
        if !rest.is_empty() {
            events(RunEvent::Output(&rest));
            user_output.extend_from_slice(&rest);
        }
    }
    let output_bytes = match &demux {
        Some(_) => user_output,
        None => outcome.stdout.clone(),
    };
    let timed_out = watchdog.timed_out();
    drop(watchdog);
    let interrupted = inner.is_cancelled();
    // The probes make the script bigger; on a small heap the board may not even compile it,
    // when the plain script would run. Nothing ran, so run the plain script instead.
    if instrumented.is_some() && outcome.traceback.as_deref().is_some_and(compile_ran_out) {
        if !options.soft_reset {
            board.exec_capture(REMOVE_PROBES)?;
        }
        return run(
            board,
            source,
            options,
            events,
            cancel,
            Some(TOO_BIG_TO_COMPILE),
        );
    }

    events(RunEvent::Phase(Phase::After));
    // A script that ran with the collector disabled (`--exact`, or its own `gc.disable()`)
    // can fill the heap to the last block: then not even the capture command compiles, and
    // nothing can be freed without running code. The board is soft-reset (which also turns
    // the collector back on) and the report keeps what is still known: the exception.
    let after = match capture(board, false) {
        Ok(after) => Some(after),
        Err(e) if heap_exhausted(&e) => None,
        Err(e) => return Err(e),
    };
    let mut after_gc = None;
    let (mut lines, mut gc_collections) = (Vec::new(), None);
    let mut allocation_lines = Vec::new();
    match &after {
        Some(after) => {
            if let (Some(demux), Some(instr)) = (&demux, &instrumented) {
                allocation_lines = trace::attribute(
                    &before,
                    &parse_traces(demux.traces(), &instr.probe_lines),
                    after,
                );
            }
            events(RunEvent::Snapshot {
                label: "after",
                snapshot: after,
                allocation_lines: &allocation_lines,
            });
            let snapshot = capture(board, true)?;
            events(RunEvent::Snapshot {
                label: "after-gc",
                snapshot: &snapshot,
                allocation_lines: &[],
            });
            after_gc = Some(snapshot);
            if let Some(instr) = &instrumented {
                let readout = exec_probe_code(board, &instr.readout, "the probe readout")?;
                let report = parse_readout(&String::from_utf8_lossy(&readout.stdout), instr)?;
                (lines, gc_collections) = (report.lines, report.gc_collections);
            }
            if options.exact {
                // Leave the board as a user expects it: collector on.
                board.exec_capture("import gc\ngc.enable()")?;
            }
        }
        None => board.soft_reset()?,
    }

    let traceback_text = outcome.traceback.map(|tb| match &instrumented {
        Some(instr) => instr.line_map.rewrite_traceback(&tb),
        None => tb,
    });
    let traceback = traceback_text.as_deref().and_then(Traceback::parse);
    let usage: Vec<LineUsage> = lines.iter().map(line_usage).collect();
    let facts = RunFacts {
        traceback: traceback.as_ref(),
        script_file: SCRIPT_FILE,
        // A live capture has every figure; one damaged on the wire gives no verdict rather
        // than one built on a guess.
        heap_at_failure: after.as_ref().and_then(|after| {
            let figures = after.figures();
            Some(HeapAtFailure {
                block_bytes: u64::from(figures.block_bytes?),
                max_free_blocks: figures.max_free_blocks?,
                free_bytes: figures.free?,
            })
        }),
        lines: &usage,
        max_free_blocks_before: before.figures().max_free_blocks,
        max_free_blocks_after_gc: after_gc.as_ref().and_then(|s| s.figures().max_free_blocks),
        block_bytes: before.block_bytes.map(u64::from),
        interrupted,
        heap_exhausted: after.is_none(),
    };
    let diagnostics = diagnose::diagnose(&facts, &options.thresholds);
    // Without an after-gc snapshot there is no change to show: an empty diff.
    let diff = heap::diff(&before, after_gc.as_ref().unwrap_or(&before));

    // Only a script that was instrumented, and had a body to version, ran sampled.
    let ran_sampled =
        sample.filter(|_| instrumented.as_ref().is_some_and(|i| !i.blocks.is_empty()));
    Ok(RunReport {
        exception: traceback.as_ref().map(Traceback::exception_line),
        traceback: traceback_text,
        output: String::from_utf8_lossy(&output_bytes).into_owned(),
        snapshots: RunSnapshots {
            before,
            after,
            after_gc,
        },
        lines,
        diagnostics,
        gc_collections,
        exact: options.exact,
        sample: ran_sampled,
        sampled_automatically: options.sampling == Sampling::Auto && ran_sampled.is_some(),
        instrumented: instrumented.is_some(),
        not_instrumented,
        interrupted,
        timed_out,
        diff,
        allocation_lines,
        elapsed: started.elapsed(),
    })
}

/// The readable traces with their user lines (`None` for the baseline). A trace whose dump
/// cannot be read is skipped: it only means fewer allocations get a line.
fn parse_traces(traces: &[RawTrace], probe_lines: &[u32]) -> Vec<(Option<u32>, Snapshot)> {
    traces
        .iter()
        .filter_map(|trace| {
            let line = trace.slot.and_then(|slot| probe_lines.get(slot).copied());
            let snapshot = heap::parse_dump(&trace.dump).ok()?;
            snapshot.has_map().then_some((line, snapshot))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frameless_memory_error_is_a_compile_that_ran_out_of_heap() {
        assert!(compile_ran_out(
            "MemoryError: memory allocation failed, allocating 144 bytes\n"
        ));
        assert!(!compile_ran_out(
            "Traceback (most recent call last):\n  File \"<stdin>\", line 3, in <module>\nMemoryError: memory allocation failed, allocating 8192 bytes\n"
        ));
        assert!(!compile_ran_out("ValueError: nope\n"));
    }

    #[test]
    fn auto_sampling_samples_only_where_probes_scan_the_heap() {
        assert_eq!(Sampling::Auto.budget(true), None);
        assert_eq!(Sampling::Auto.budget(false), Some(AUTO_SAMPLE));
        assert_eq!(Sampling::Every.budget(false), None);
        assert_eq!(Sampling::Sample(8).budget(true), Some(8));
    }

    #[test]
    fn only_a_memory_error_of_the_capture_means_the_heap_is_exhausted() {
        let reply = |got: &str| {
            RunError::Link(LinkError::Protocol {
                port: "/dev/pts/9".into(),
                context: "capturing mem_info",
                got: got.into(),
            })
        };
        assert!(heap_exhausted(&reply(
            "MemoryError: memory allocation failed, allocating 224 bytes\n"
        )));
        assert!(!heap_exhausted(&reply(
            "NameError: name 'x' isn't defined\n"
        )));
        assert!(!heap_exhausted(&RunError::Probes("MemoryError".into())));
    }
}
