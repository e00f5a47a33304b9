//! One run on a board: soft reset, the harness's prologue (which prints the **before**
//! snapshot), the script (see [`super::harness`]: after it ends, however it ends, the harness
//! prints the **after** snapshot, the traceback, the probes' readout and the **after-gc**
//! snapshot, all without compiling anything), then diagnostics.
//!
//! Why the after snapshot is the heap at the failure: MicroPython frees memory only in a
//! collection, and a collection runs only inside an allocation that does not fit or on
//! `gc.collect()`. The harness catches the exception and prints `mem_info(1)` at once, with
//! every function and string it needs made before the script started: nothing runs in between
//! that could allocate, so even a heap left with only tiny holes (or none) gets its snapshot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use crate::board::{Board, CancelToken, Framing, Interruptible, LinkError, Watchdog};
use crate::diagnose::{self, HeapAtFailure, LineUsage, Retained, RunFacts, Thresholds, Traceback};
use crate::heap::{self, DumpError, Snapshot};
use crate::project::{BoardLayout, Project};

use super::harness::{self, kind, Ending, HarnessOptions, HarnessShape, Nonce, StagedHarness};
use super::instrument::{normalize, InstrumentError};
use super::plan::{probed_plan, ProbedPlan, Unmeasured};
use super::probes::{parse_readout, LineDelta, Peak, ProbeError, SourceLine};
use super::records::{Demux, Piece, Record};
use super::timeline::{Sample, Timeline, DEFAULT_SAMPLE_EVERY_MS};
use super::trace;
use super::upload::copy_project;

/// The file name the board gives the script in tracebacks.
pub const SCRIPT_FILE: &str = "<stdin>";

/// What a run runs: the script and the project it belongs to.
#[derive(Debug, Clone)]
pub struct Script {
    /// The script's text (an editor's, or the file's).
    pub source: String,
    /// Its path relative to the project root (`main.py`): the `file` of its lines and
    /// diagnostics.
    pub file: String,
    /// The project whose files reach the board before the run and whose modules the script
    /// imports with probes; `None` for a lone script (nothing is copied, every import is the
    /// board's own).
    pub project: Option<Arc<Project>>,
}

impl Script {
    /// A script with no project, named `file`.
    pub fn lone(source: impl Into<String>, file: impl Into<String>) -> Script {
        Script {
            source: source.into(),
            file: file.into(),
            project: None,
        }
    }
}
/// The file name of the harness's own code (its frames are never shown).
const HARNESS_FILE: &str = "<heaplens>";

/// Where the script's `input()` gets its lines.
#[derive(Clone)]
pub struct InputSource(pub Arc<dyn Fn() -> Option<String> + Send + Sync>);

impl std::fmt::Debug for InputSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InputSource")
    }
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `gc.disable()` for the run: figures are exact allocations; MemoryError comes sooner.
    pub exact: bool,
    /// Soft-reset the board first (a fresh heap, as a user's `main.py` would see).
    pub soft_reset: bool,
    /// Interrupt the script after this long (its report so far is kept).
    pub timeout: Option<Duration>,
    pub thresholds: Thresholds,
    /// Trace which line made each allocation ([`RunReport::allocation_lines`]).
    pub trace_allocations: bool,
    /// How many executions of each line are measured exactly.
    pub sampling: Sampling,
    /// Lines for the script's `input()`; `None`: `input()` raises `EOFError` at once.
    pub input: Option<InputSource>,
    /// Milliseconds between two samples of the heap timeline (`None`: no timeline).
    pub sample_every_ms: Option<u32>,
}

/// How many allocating executions of each line are measured exactly (hits are always counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sampling {
    /// Every execution: exact figures, slow for hot loops.
    Every,
    /// The first `N` allocating executions of each line; later ones are estimated.
    Sample(u32),
    /// [`AUTO_SAMPLE`].
    #[default]
    Auto,
}

/// The per-line budget of [`Sampling::Auto`].
pub const AUTO_SAMPLE: u32 = 64;

impl Sampling {
    /// The per-line budget of exact measurements (`None`: every execution).
    pub fn budget(self) -> Option<u32> {
        match self {
            Sampling::Every => None,
            Sampling::Sample(n) => Some(n),
            Sampling::Auto => Some(AUTO_SAMPLE),
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
            input: None,
            sample_every_ms: Some(DEFAULT_SAMPLE_EVERY_MS),
        }
    }
}

/// Where a run is; reported as progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Comparing the project's files with the board's, copying those that differ.
    Copy,
    SoftReset,
    Before,
    Running,
    After,
}

impl Phase {
    /// How progress shows the phase.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Copy => "copying project files",
            Phase::SoftReset => "soft reset",
            Phase::Before => "before snapshot",
            Phase::Running => "running",
            Phase::After => "after snapshots",
        }
    }
}

/// What a run reports while it goes.
#[derive(Debug)]
pub enum RunEvent<'a> {
    Phase(Phase),
    /// Project files were copied to the board (paths relative to the project root).
    Copied(&'a [String]),
    /// Script output, byte for byte, as it arrives.
    Output(&'a [u8]),
    /// A snapshot was just taken (`before`, `after` or `after-gc`).
    Snapshot {
        label: &'static str,
        snapshot: &'a Snapshot,
        /// For `after` of a traced run: the line of each new allocation (else empty).
        allocation_lines: &'a [AllocationLine],
    },
    /// A heap timeline sample, as the board took it while the script ran.
    Sample(Sample),
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
    /// The harness failed (its set-up raised, or its output was lost).
    #[error("the allocation probes failed: {0}")]
    Probes(String),
    /// Stopped (Stop, Ctrl-C, the timeout) before the script started: nothing of it ran, so
    /// there is no report. The board is left at its prompt, ready.
    #[error("stopped {0}, before the script started: nothing ran")]
    Stopped(&'static str),
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AllocationLine {
    /// Index of the area in the snapshot's areas.
    pub area: usize,
    /// Byte offset of the allocation's head block inside its area.
    pub offset: usize,
    /// Length of the allocation in blocks (head and tails).
    pub blocks: usize,
    /// The line's file (relative to the project root).
    pub file: String,
    /// User line, 1-based.
    pub line: u32,
}

/// The heap's high-water mark, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeakReport {
    /// Heap bytes in use at the peak (`gc.mem_alloc()`).
    pub used: u64,
    /// The line whose execution reached it.
    pub line: Option<u32>,
    /// The file of that line (relative to the project root).
    pub file: Option<String>,
}

/// Everything a run found.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The script's file (relative to the project root).
    pub script_file: String,
    /// Project files copied to the board before the run (relative to the project root).
    pub copied: Vec<String>,
    /// Project files that were not copied, each with why.
    pub not_copied: Vec<String>,
    /// Project modules the script may import that run without probes, each with why.
    pub unmeasured: Vec<Unmeasured>,
    pub snapshots: RunSnapshots,
    /// Per probed line, file by file (the script first, then each module in the order the
    /// run found them), line by line.
    pub lines: Vec<LineDelta>,
    pub diagnostics: Vec<diagnose::Diagnostic>,
    pub gc_collections: Option<u32>,
    /// The final exception line, e.g. `MemoryError: memory allocation failed, …`.
    pub exception: Option<String>,
    /// The traceback as the script would see it (the user's line numbers, `<stdin>`).
    pub traceback: Option<String>,
    /// Everything the script printed (lossy UTF-8 for JSON; the stream carried raw bytes).
    pub output: String,
    pub exact: bool,
    /// The per-line budget of exact measurements (`None`: every execution).
    pub sample: Option<u32>,
    /// False when the script ran without probes; `not_instrumented` says why.
    pub instrumented: bool,
    pub not_instrumented: Option<String>,
    /// Stopped on request or by the timeout.
    pub interrupted: bool,
    pub timed_out: bool,
    /// The code of a `SystemExit` the script raised (`sys.exit(n)`), `None` if it did not.
    pub system_exit: Option<i64>,
    pub diff: heap::Diff,
    /// With `trace_allocations`: the line that made each allocation of `after` that was not
    /// in `before`. Sorted by area and offset.
    pub allocation_lines: Vec<AllocationLine>,
    /// The highest heap use measured during the run.
    pub peak: Option<PeakReport>,
    /// Bytes each line's allocations still hold after the final `gc.collect()` (tracing).
    pub retained: Vec<Retained>,
    /// The heap over the run's time (bounded: old samples thinned on long runs).
    pub timeline: Timeline,
    pub elapsed: Duration,
}

impl RunReport {
    /// The JSON document of `heaplens run --json`.
    pub fn to_json(&self) -> Value {
        let stats = |s: Option<&Snapshot>| {
            s.map_or(Value::Null, |s| {
                serde_json::to_value(s.stats()).unwrap_or(Value::Null)
            })
        };
        let retained: Vec<Value> = self
            .retained
            .iter()
            .map(|r| json!({ "file": &*r.file, "line": r.line, "bytes": r.bytes }))
            .collect();
        json!({
            "script": self.script_file,
            "copied": self.copied,
            "not_copied": self.not_copied,
            "unmeasured": self.unmeasured,
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
            "instrumented": self.instrumented,
            "not_instrumented": self.not_instrumented,
            "interrupted": self.interrupted,
            "timed_out": self.timed_out,
            "system_exit": self.system_exit,
            "diff": self.diff,
            "allocation_lines": self.allocation_lines,
            "peak": self.peak,
            "retained": retained,
            "timeline": self.timeline.samples(),
            "timeline_samples": self.timeline.received(),
            "elapsed_ms": u64::try_from(self.elapsed.as_millis()).unwrap_or(u64::MAX),
        })
    }
}

/// Captures `mem_info(1)` (after `gc.collect()` when `gc`) and reads it.
pub fn capture(board: &mut Board, gc: bool) -> Result<Snapshot, RunError> {
    let text = board.capture_mem_info(gc)?;
    Ok(heap::parse_dump(&text)?)
}

/// Where a simulated Pico gets the harness's and the script's text (see `Board::stage`).
const STAGED_HARNESS: &str = ".heaplens-h";
const STAGED_SOURCE: &str = ".heaplens-s";

/// Puts the harness in a just-started simulated Pico's flash (see `Board::stage`): compiled
/// (`/<probe names>.mpy`) when the board loads the .mpy version it was compiled for, else its
/// text. None on any other board: there the prologue carries the text.
fn stage_harness(
    board: &mut Board,
    options: &HarnessOptions,
    nonce: &Nonce,
) -> Option<StagedHarness> {
    let shape = HarnessShape::of(options);
    if board.loads_mpy(harness::COMPILED_MPY_VERSION) {
        let name = format!("{}.mpy", nonce.names);
        if let Some(file) = board.stage(&name, harness::compiled_harness(shape)) {
            return Some(StagedHarness::Compiled {
                module: nonce.names.clone(),
                file,
            });
        }
    }
    board
        .stage(STAGED_HARNESS, harness::harness_text(shape).as_bytes())
        .map(|file| StagedHarness::Text { file })
}

/// Why the instrumented script gave way to the plain one.
const TOO_BIG_TO_COMPILE: &str = "with its probes it is too big to compile in the board's free \
     heap (MemoryError while compiling)";

/// Runs `script` on `board` with heap captures and probes: first its project's changed files
/// are copied to the board, then the script runs, importing the project's modules with
/// probes. `events` hears phases, copies, output and snapshots as they happen; `cancel` stops
/// the script (Ctrl-C) and still yields a report.
pub fn run_script(
    board: &mut Board,
    script: &Script,
    options: &RunOptions,
    events: &mut dyn FnMut(RunEvent<'_>),
    cancel: &CancelToken,
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    let source = normalize(&script.source);
    let script_file: Arc<str> = Arc::from(script.file.as_str());
    let project = script.project.as_deref();
    let nonce = Nonce::random();
    let mut copy = Copying::default();
    let layout = match project {
        Some(project) => {
            events(RunEvent::Phase(Phase::Copy));
            let layout = BoardLayout::from_sys_path(&board.sys_path()?);
            let report = copy_project(board, project, &layout)?;
            if !report.copied.is_empty() {
                events(RunEvent::Copied(&report.copied));
            }
            copy.copied = report.copied;
            copy.not_copied = report.refused;
            copy.not_copied.extend(project.skipped().iter().cloned());
            layout
        }
        None => BoardLayout::default(),
    };
    let context = Context {
        script_file,
        project,
        layout,
    };
    // A script that cannot be instrumented still runs, as it is: one that does not parse then
    // shows the board's own SyntaxError, one using a construct the probes do not support
    // (`match`) still gets its snapshots and diagnostics. Its imports are then the board's own.
    let mut plan = match probed_plan(
        &source,
        &context.script_file,
        project,
        &context.layout,
        &nonce,
    ) {
        Ok(plan) => Plan::Probed(Box::new(plan)),
        Err(e) => Plan::Plain(match e {
            InstrumentError::Syntax { .. } => format!("it does not parse ({e})"),
            e => e.to_string(),
        }),
    };
    let finish = |mut report: RunReport, copy: Copying| {
        report.elapsed = started.elapsed();
        report.copied = copy.copied;
        report.not_copied = copy.not_copied;
        report
    };
    loop {
        if cancel.is_cancelled() {
            return Err(RunError::Stopped(if project.is_some() {
                "while copying project files"
            } else {
                "while connecting"
            }));
        }
        // A board already as a reset leaves it (a simulated Pico just started) needs none.
        if options.soft_reset && !board.is_fresh() {
            events(RunEvent::Phase(Phase::SoftReset));
            board.soft_reset()?;
            if cancel.is_cancelled() {
                return Err(RunError::Stopped("during the soft reset"));
            }
        }
        match run_once(
            board, &source, &plan, &context, options, &nonce, events, cancel,
        )? {
            Attempt::Done(report) => return Ok(finish(*report, copy)),
            // The probes make the script bigger; on a small heap the board may not compile
            // it when the plain script would run. Nothing ran: run the plain script.
            Attempt::CompileOutOfMemory => match plan {
                Plan::Probed(_) => plan = Plan::Plain(TOO_BIG_TO_COMPILE.to_string()),
                // Even the harness does not fit beside the script: run it as mpremote would.
                Plan::Plain(_) => {
                    if options.soft_reset && !board.is_fresh() {
                        events(RunEvent::Phase(Phase::SoftReset));
                        board.soft_reset()?;
                    }
                    let report = run_direct(board, &source, &context, options, events, cancel)?;
                    return Ok(finish(report, copy));
                }
            },
        }
    }
}

/// What was copied before the run.
#[derive(Default)]
struct Copying {
    copied: Vec<String>,
    not_copied: Vec<String>,
}

/// Where the run's files are: the script's name, the project, how the board names files.
struct Context<'p> {
    script_file: Arc<str>,
    project: Option<&'p Project>,
    layout: BoardLayout,
}

impl Context<'_> {
    /// The traceback's frames with the project's names: `<stdin>` is the script, a module's
    /// board file name (`/lib/x.py`) its path in the project. Other frames keep the board's.
    fn project_traceback(&self, mut traceback: Traceback) -> Traceback {
        for frame in &mut traceback.frames {
            if frame.file == SCRIPT_FILE {
                frame.file = self.script_file.to_string();
            } else if let Some(path) = self
                .project
                .and_then(|project| self.layout.project_path(&frame.file, project))
            {
                frame.file = path;
            }
        }
        traceback
    }

    /// Every project file (their frames are the user's).
    fn user_files(&self) -> Vec<String> {
        self.project
            .map(|p| p.files().map(|(path, _)| path.to_string()).collect())
            .unwrap_or_default()
    }
}

/// With probes, or plain (and why).
enum Plan {
    Probed(Box<ProbedPlan>),
    Plain(String),
}

enum Attempt {
    Done(Box<RunReport>),
    CompileOutOfMemory,
}

/// What the run's records said.
#[derive(Default)]
struct Findings {
    before: Option<Snapshot>,
    traces: Vec<(Option<SourceLine>, Snapshot)>,
    after: Option<Snapshot>,
    allocation_lines: Vec<AllocationLine>,
    exception: Option<String>,
    readout: Option<(String, String)>,
    after_gc: Option<Snapshot>,
    ending: Option<Ending>,
    user_output: Vec<u8>,
    /// Modules imported from the board's own copy because their probes did not fit.
    unmeasured_modules: Vec<usize>,
    timeline: Timeline,
}

#[expect(
    clippy::too_many_arguments,
    reason = "one run's parts, each used throughout"
)]
fn run_once(
    board: &mut Board,
    source: &str,
    plan: &Plan,
    context: &Context<'_>,
    options: &RunOptions,
    nonce: &Nonce,
    events: &mut dyn FnMut(RunEvent<'_>),
    cancel: &CancelToken,
) -> Result<Attempt, RunError> {
    let counts_allocations = board.counts_allocations()?;
    let (code, probe_lines, modules): (&str, &[SourceLine], _) = match plan {
        Plan::Probed(p) => (
            p.script.code.as_str(),
            p.slots.as_slice(),
            p.harness_modules(),
        ),
        Plan::Plain(_) => (source, &[], Vec::new()),
    };
    let harness_options = HarnessOptions {
        slots: probe_lines.len(),
        budget: options.sampling.budget(),
        exact: options.exact,
        trace_allocations: options.trace_allocations && matches!(plan, Plan::Probed(_)),
        counts_allocations,
        modules,
        sample_every_ms: options.sample_every_ms,
    };

    events(RunEvent::Phase(Phase::Before));
    let outcome = match (
        stage_harness(board, &harness_options, nonce),
        board.stage(STAGED_SOURCE, code.as_bytes()),
    ) {
        (Some(staged), Some(source_file)) => {
            let outcome = board.exec_capture(&harness::staged_prologue(
                &staged,
                &source_file,
                &harness_options,
                nonce,
            ));
            board.unstage(staged.file());
            board.unstage(&source_file);
            outcome?
        }
        (staged, source_file) => {
            let harness_file = staged.map(|h| h.file().to_string());
            for file in [harness_file, source_file].into_iter().flatten() {
                board.unstage(&file);
            }
            board.exec_capture(&harness::prologue(code, &harness_options, nonce))?
        }
    };
    if let Some(traceback) = outcome.traceback {
        // The prologue (the harness and the script's text) did not fit in the heap.
        if traceback.contains("MemoryError") {
            return Ok(Attempt::CompileOutOfMemory);
        }
        return Err(RunError::Probes(format!(
            "the probe set-up raised: {}",
            traceback.trim()
        )));
    }
    // The script did not fit in the heap to compile (the prologue compiles it).
    let compile_ran_out = Demux::new(&nonce.marker)
        .feed(&outcome.stdout)
        .iter()
        .any(|piece| matches!(piece, Piece::Record(r) if r.kind == kind::COMPILE_OUT_OF_MEMORY));
    if compile_ran_out {
        return Ok(Attempt::CompileOutOfMemory);
    }

    events(RunEvent::Phase(Phase::Running));
    let inner = CancelToken::new();
    let watchdog = Watchdog::start(cancel.clone(), inner.clone(), options.timeout);
    let mut demux = Demux::new(&nonce.marker);
    let mut found = Findings::default();
    let mut failure: Option<RunError> = None;
    let done = format!("{} {}", nonce.marker, kind::DONE as char);
    // Ctrl-C reaches the script only once the before snapshot is complete (from there on
    // the harness catches it, see `harness`), and is not needed once the script has ended.
    let point = std::cell::Cell::new(Interruptible::NotYet);
    let interrupt = || point.get();
    let framing = Framing {
        start: nonce.marker.as_bytes(),
        done: done.as_bytes(),
        interrupt: &interrupt,
    };
    let exec = board.exec_framed(
        &nonce.run_call(),
        &framing,
        &mut |bytes| {
            let mut reply = None;
            for piece in demux.feed(bytes) {
                if let Piece::Record(record) = &piece {
                    match record.kind {
                        kind::BEFORE => point.set(Interruptible::Now),
                        kind::AFTER
                        | kind::EXCEPTION
                        | kind::READOUT
                        | kind::AFTER_GC
                        | kind::DONE => point.set(Interruptible::Ending),
                        _ => {}
                    }
                }
                match piece {
                    Piece::Output(out) => {
                        events(RunEvent::Output(&out));
                        found.user_output.extend_from_slice(&out);
                    }
                    Piece::Record(record) => match record.kind {
                        kind::INPUT => reply = Some(input_reply(options.input.as_ref())),
                        // The harness reads exactly the length it was given: the code, whole.
                        kind::MODULE => {
                            reply = module_index(&record.header)
                                .and_then(|k| match plan {
                                    Plan::Probed(p) => p.module_code(k),
                                    Plan::Plain(_) => None,
                                })
                                .map(<[u8]>::to_vec);
                        }
                        kind::MODULE_UNMEASURED => {
                            found
                                .unmeasured_modules
                                .extend(module_index(&record.header));
                        }
                        _ => {
                            if let Err(e) = take_record(record, &mut found, probe_lines, events) {
                                failure.get_or_insert(e);
                            }
                        }
                    },
                }
            }
            reply
        },
        &inner,
    );
    let timed_out = watchdog.timed_out();
    drop(watchdog);
    let outcome = exec?;
    let rest = demux.finish();
    if !rest.is_empty() {
        events(RunEvent::Output(&rest));
        found.user_output.extend_from_slice(&rest);
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let Some(before) = found.before.take() else {
        if inner.is_cancelled() {
            return Err(RunError::Stopped("as the script was starting"));
        }
        return Err(RunError::Probes(
            "the harness printed no before snapshot".into(),
        ));
    };
    let interrupted = inner.is_cancelled();

    // The harness ends with its DONE record; without it (it was itself interrupted) whatever
    // is missing is captured now, as a plain capture would.
    events(RunEvent::Phase(Phase::After));
    let mut heap_exhausted = false;
    if found.ending.is_none() {
        if found.exception.is_none() {
            found.exception = outcome.traceback.clone();
        }
        if found.after.is_none() {
            match capture(board, false) {
                Ok(after) => {
                    events(RunEvent::Snapshot {
                        label: "after",
                        snapshot: &after,
                        allocation_lines: &[],
                    });
                    found.after = Some(after);
                }
                Err(RunError::Link(e)) if e.is_out_of_memory() => heap_exhausted = true,
                Err(e) => return Err(e),
            }
        }
        if found.after_gc.is_none() && !heap_exhausted {
            let after_gc = capture(board, true)?;
            events(RunEvent::Snapshot {
                label: "after-gc",
                snapshot: &after_gc,
                allocation_lines: &[],
            });
            found.after_gc = Some(after_gc);
        }
        if heap_exhausted {
            board.soft_reset()?;
        }
    }

    let (lines, gc_collections, peak) = match (&found.readout, plan) {
        (Some((header, body)), Plan::Probed(p)) => {
            let mut report = parse_readout(header, body, probe_lines)?;
            report.apply_aliases(&context.script_file, &p.script.aliases);
            for module in &p.modules {
                if let Some(code) = &module.code {
                    report.apply_aliases(&module.file, &code.aliases);
                }
            }
            (report.lines, report.gc_collections, report.peak)
        }
        _ => (Vec::new(), None, None),
    };
    let (instrumented, mut not_instrumented) = match plan {
        Plan::Probed(_) => (true, None),
        Plan::Plain(why) => (false, Some(why.clone())),
    };
    if instrumented && found.readout.is_none() {
        not_instrumented =
            Some("the probes' readout was lost (the run was stopped while it ended)".into());
    }
    let traceback_text = found.exception.as_deref().map(without_harness_frames);
    let traceback = traceback_text
        .as_deref()
        .and_then(Traceback::parse)
        .map(|tb| context.project_traceback(tb));
    let user_files = context.user_files();
    let system_exit = match found.ending {
        Some(Ending::SystemExit(code)) => Some(code),
        _ => None,
    };
    let retained = retained_by_line(&found.allocation_lines, found.after_gc.as_ref());
    let usage: Vec<LineUsage> = lines.iter().map(line_usage).collect();
    let after = found.after.as_ref();
    let facts = RunFacts {
        traceback: traceback.as_ref(),
        script_file: &context.script_file,
        user_files: &user_files,
        // A live capture has every figure; one damaged on the wire gives no verdict rather
        // than one built on a guess.
        heap_at_failure: after.and_then(|after| {
            let figures = after.figures();
            Some(HeapAtFailure {
                block_bytes: u64::from(figures.block_bytes?),
                max_free_blocks: figures.max_free_blocks?,
                free_bytes: figures.free?,
            })
        }),
        lines: &usage,
        max_free_blocks_before: before.figures().max_free_blocks,
        max_free_blocks_after_gc: found
            .after_gc
            .as_ref()
            .and_then(|s| s.figures().max_free_blocks),
        block_bytes: before.block_bytes.map(u64::from),
        interrupted,
        heap_exhausted,
        collector_disabled: options.exact.then_some(true),
        retained: &retained,
        heap_bytes: before.figures().gc_total,
        run_ms: found.timeline.span_ms(),
        heap_floor_growth: found.timeline.floor_growth().map(|g| g.bytes),
    };
    let diagnostics = diagnose::diagnose(&facts, &options.thresholds);
    // Without an after-gc snapshot there is no change to show: an empty diff.
    let diff = heap::diff(&before, found.after_gc.as_ref().unwrap_or(&before));
    let peak = peak.map(|Peak { used, line, file }| PeakReport { used, line, file });
    let mut unmeasured = match plan {
        Plan::Probed(p) => p.unmeasured.clone(),
        Plan::Plain(_) => Vec::new(),
    };
    if let Plan::Probed(p) = plan {
        for &k in &found.unmeasured_modules {
            if let Some(module) = p.modules.get(k) {
                unmeasured.push(Unmeasured {
                    file: module.file.to_string(),
                    reason: "with its probes it did not fit in the heap to compile: it was \
                             imported from the board's own copy"
                        .to_string(),
                });
            }
        }
    }
    Ok(Attempt::Done(Box::new(RunReport {
        script_file: context.script_file.to_string(),
        copied: Vec::new(),
        not_copied: Vec::new(),
        unmeasured,
        exception: traceback.as_ref().map(Traceback::exception_line),
        traceback: traceback_text,
        output: String::from_utf8_lossy(&found.user_output).into_owned(),
        snapshots: RunSnapshots {
            before,
            after: found.after,
            after_gc: found.after_gc,
        },
        lines,
        diagnostics,
        gc_collections,
        exact: options.exact,
        sample: options.sampling.budget().filter(|_| instrumented),
        instrumented,
        not_instrumented,
        interrupted,
        timed_out,
        system_exit,
        diff,
        allocation_lines: found.allocation_lines,
        peak,
        retained,
        timeline: found.timeline,
        elapsed: Duration::ZERO,
    })))
}

/// Why a run had no harness.
const NO_ROOM_FOR_THE_HARNESS: &str = "the board's free heap holds the script but not the \
     harness that measures it, so it ran as it is (like `mpremote run`)";

/// The script run as `mpremote run` would, without the harness (the last resort when the
/// harness does not fit): snapshots taken by separate captures, no per-line figures.
fn run_direct(
    board: &mut Board,
    source: &str,
    context: &Context<'_>,
    options: &RunOptions,
    events: &mut dyn FnMut(RunEvent<'_>),
    cancel: &CancelToken,
) -> Result<RunReport, RunError> {
    if options.exact {
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
    let inner = CancelToken::new();
    let watchdog = Watchdog::start(cancel.clone(), inner.clone(), options.timeout);
    let outcome = super::plain::exec_as_is(
        board,
        source,
        &mut |bytes| events(RunEvent::Output(bytes)),
        &inner,
    );
    let timed_out = watchdog.timed_out();
    drop(watchdog);
    let outcome = outcome?;
    let interrupted = inner.is_cancelled();
    events(RunEvent::Phase(Phase::After));
    let (after, heap_exhausted) = match capture(board, false) {
        Ok(after) => (Some(after), false),
        Err(RunError::Link(e)) if e.is_out_of_memory() => (None, true),
        Err(e) => return Err(e),
    };
    let mut after_gc = None;
    match &after {
        Some(after) => {
            events(RunEvent::Snapshot {
                label: "after",
                snapshot: after,
                allocation_lines: &[],
            });
            let snapshot = capture(board, true)?;
            events(RunEvent::Snapshot {
                label: "after-gc",
                snapshot: &snapshot,
                allocation_lines: &[],
            });
            after_gc = Some(snapshot);
            if options.exact {
                board.exec_capture("import gc\ngc.enable()")?;
            }
        }
        // Not even a capture compiles: only a reset frees the heap.
        None => board.soft_reset()?,
    }
    let traceback = outcome
        .traceback
        .as_deref()
        .and_then(Traceback::parse)
        .map(|tb| context.project_traceback(tb));
    let user_files = context.user_files();
    let facts = RunFacts {
        traceback: traceback.as_ref(),
        script_file: &context.script_file,
        user_files: &user_files,
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
        max_free_blocks_before: before.figures().max_free_blocks,
        max_free_blocks_after_gc: after_gc.as_ref().and_then(|s| s.figures().max_free_blocks),
        block_bytes: before.block_bytes.map(u64::from),
        interrupted,
        heap_exhausted,
        collector_disabled: options.exact.then_some(true),
        heap_bytes: before.figures().gc_total,
        ..RunFacts::default()
    };
    let diagnostics = diagnose::diagnose(&facts, &options.thresholds);
    let diff = heap::diff(&before, after_gc.as_ref().unwrap_or(&before));
    Ok(RunReport {
        script_file: context.script_file.to_string(),
        copied: Vec::new(),
        not_copied: Vec::new(),
        unmeasured: Vec::new(),
        exception: traceback.as_ref().map(Traceback::exception_line),
        traceback: outcome.traceback,
        output: String::from_utf8_lossy(&outcome.stdout).into_owned(),
        snapshots: RunSnapshots {
            before,
            after,
            after_gc,
        },
        lines: Vec::new(),
        diagnostics,
        gc_collections: None,
        exact: options.exact,
        sample: None,
        instrumented: false,
        not_instrumented: Some(NO_ROOM_FOR_THE_HARNESS.to_string()),
        interrupted,
        timed_out,
        system_exit: None,
        diff,
        allocation_lines: Vec::new(),
        peak: None,
        retained: Vec::new(),
        timeline: Timeline::new(),
        elapsed: Duration::ZERO,
    })
}

/// The module number of an `M` / `N` record.
fn module_index(header: &str) -> Option<usize> {
    header.trim().parse().ok()
}

/// What the board gets when the script asks for a line: the line, or Ctrl-D (end of input).
fn input_reply(input: Option<&InputSource>) -> Vec<u8> {
    match input.and_then(|source| (source.0)()) {
        Some(line) => {
            let mut bytes = line.trim_end_matches(['\r', '\n']).as_bytes().to_vec();
            bytes.push(b'\n');
            bytes
        }
        None => b"\x04\n".to_vec(),
    }
}

/// Files one record of the run's output.
fn take_record(
    record: Record,
    found: &mut Findings,
    probe_lines: &[SourceLine],
    events: &mut dyn FnMut(RunEvent<'_>),
) -> Result<(), RunError> {
    match record.kind {
        kind::BEFORE => {
            let before = heap::parse_dump(&record.body)?;
            events(RunEvent::Snapshot {
                label: "before",
                snapshot: &before,
                allocation_lines: &[],
            });
            found.before = Some(before);
        }
        kind::TRACE | kind::MIXED_TRACE => {
            // A trace whose dump cannot be read only means fewer allocations get a line. A
            // mixed trace's new allocations are not only its line's: they get no line (better
            // unlabelled than wrong).
            let slot: Option<usize> = record.header.trim().parse().ok();
            let slot = slot.filter(|_| record.kind == kind::TRACE);
            if let Ok(snapshot) = heap::parse_dump(&record.body) {
                if snapshot.has_map() {
                    let line = slot.and_then(|slot| probe_lines.get(slot).cloned());
                    found.traces.push((line, snapshot));
                }
            }
        }
        kind::AFTER => {
            let after = heap::parse_dump(&record.body)?;
            if let Some(before) = &found.before {
                found.allocation_lines = trace::attribute(before, &found.traces, &after);
            }
            events(RunEvent::Snapshot {
                label: "after",
                snapshot: &after,
                allocation_lines: &found.allocation_lines,
            });
            found.after = Some(after);
        }
        kind::EXCEPTION => {
            found.exception = Some(String::from_utf8_lossy(&record.body).into_owned());
        }
        kind::READOUT => {
            found.readout = Some((
                record.header,
                String::from_utf8_lossy(&record.body).into_owned(),
            ));
        }
        kind::AFTER_GC => {
            let after_gc = heap::parse_dump(&record.body)?;
            events(RunEvent::Snapshot {
                label: "after-gc",
                snapshot: &after_gc,
                allocation_lines: &[],
            });
            found.after_gc = Some(after_gc);
        }
        kind::DONE => found.ending = Ending::parse(&record.header),
        // A sample that cannot be read is dropped: the timeline only has a gap.
        kind::SAMPLE => {
            if let Some(sample) = Sample::parse(&record.header) {
                events(RunEvent::Sample(sample));
                found.timeline.push(sample);
            }
        }
        _ => {}
    }
    Ok(())
}

/// A traceback as the script would see it: the harness's own frames removed.
pub(crate) fn without_harness_frames(text: &str) -> String {
    let harness_frame = format!("File \"{HARNESS_FILE}\"");
    text.split_inclusive('\n')
        .filter(|line| !line.trim_start().starts_with(&harness_frame))
        .collect()
}

/// Bytes each line's traced allocations still hold in `after_gc`, largest first.
fn retained_by_line(lines: &[AllocationLine], after_gc: Option<&Snapshot>) -> Vec<Retained> {
    let Some((after_gc, block_bytes)) = after_gc.and_then(|s| Some((s, s.block_bytes? as usize)))
    else {
        return Vec::new();
    };
    let alive: std::collections::HashSet<(usize, usize, usize)> = after_gc
        .allocations()
        .map(|a| (a.area, a.offset * block_bytes, a.blocks))
        .collect();
    let mut by_line: std::collections::BTreeMap<(&str, u32), (u64, u32)> =
        std::collections::BTreeMap::new();
    for l in lines {
        if alive.contains(&(l.area, l.offset, l.blocks)) {
            let entry = by_line.entry((&l.file, l.line)).or_default();
            entry.0 += (l.blocks * block_bytes) as u64;
            entry.1 += 1;
        }
    }
    let mut retained: Vec<Retained> = by_line
        .into_iter()
        .map(|((file, line), (bytes, allocations))| Retained {
            file: Arc::from(file),
            line,
            bytes,
            allocations,
        })
        .collect();
    retained.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then(a.file.cmp(&b.file))
            .then(a.line.cmp(&b.line))
    });
    retained
}

fn line_usage(d: &LineDelta) -> LineUsage {
    LineUsage {
        file: Arc::from(d.file.as_str()),
        line: d.line,
        hits: d.hits,
        allocated_bytes: d.allocated_bytes,
        net_bytes: d.net_bytes,
        max_single_bytes: d.max_single_bytes,
        estimated_bytes: d.estimated_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harness_frames_are_removed_from_tracebacks() {
        let text = "Traceback (most recent call last):\r\n  File \"<heaplens>\", line 190, in R\r\n  File \"<stdin>\", line 3, in <module>\r\nValueError: x\r\n";
        assert_eq!(
            without_harness_frames(text),
            "Traceback (most recent call last):\r\n  File \"<stdin>\", line 3, in <module>\r\nValueError: x\r\n"
        );
    }

    #[test]
    fn sampling_budgets() {
        assert_eq!(Sampling::Auto.budget(), Some(AUTO_SAMPLE));
        assert_eq!(Sampling::Every.budget(), None);
        assert_eq!(Sampling::Sample(8).budget(), Some(8));
    }

    #[test]
    fn input_replies_end_in_a_newline_or_are_ctrl_d() {
        assert_eq!(input_reply(None), b"\x04\n");
        let source = InputSource(Arc::new(|| Some("42\r\n".to_string())));
        assert_eq!(input_reply(Some(&source)), b"42\n");
    }
}
