//! Run results → typed diagnostics.
//!
//! Plain data in, plain data out: the runner gathers the facts of a run (the traceback with
//! user line numbers, the heap at the moment of failure, per-line usage) and this module turns
//! them into [`Diagnostic`]s with messages a user can act on. No LSP types, no I/O.

pub mod traceback;

use std::sync::Arc;

use serde::Serialize;

pub use traceback::{Frame, MemoryErrorKind, Traceback};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// What a diagnostic is about; serialised as a stable kebab-case code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// MemoryError: the heap does not have enough free blocks in total.
    MemoryErrorHeapFull,
    /// MemoryError: enough free bytes in total, but no free run long enough.
    MemoryErrorFragmented,
    /// MemoryError raised while the heap was locked (hard IRQ, `heap_lock()`).
    MemoryErrorHeapLocked,
    /// MemoryError without a usable size, or without a failure-time snapshot.
    MemoryError,
    /// The script did not compile.
    SyntaxError,
    /// Any other uncaught exception.
    Exception,
    /// The run was stopped (Ctrl-C, timeout, Stop command).
    Interrupted,
    /// One line allocated more than the per-line threshold in this run.
    LineAllocation,
    /// A line inside a loop allocates more on each iteration.
    GrowingAllocation,
    /// The run shrank the longest free run by more than the threshold.
    Fragmentation,
    /// Allocations of several executions of one line are still held after `gc.collect()`:
    /// the heap grows each time the line runs.
    Leak,
}

impl Code {
    /// The kebab-case code as it appears in JSON and in the editor.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::MemoryErrorHeapFull => "memory-error-heap-full",
            Code::MemoryErrorFragmented => "memory-error-fragmented",
            Code::MemoryErrorHeapLocked => "memory-error-heap-locked",
            Code::MemoryError => "memory-error",
            Code::SyntaxError => "syntax-error",
            Code::Exception => "exception",
            Code::Interrupted => "interrupted",
            Code::LineAllocation => "line-allocation",
            Code::GrowingAllocation => "growing-allocation",
            Code::Fragmentation => "fragmentation",
            Code::Leak => "leak",
        }
    }
}

/// A pointer from a diagnostic to another line (a caller, a holder of the heap).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Related {
    /// The line's file (relative to the project root).
    pub file: String,
    /// User line, 1-based.
    pub line: u32,
    pub message: String,
}

/// A finding about one range of lines of one of the user's files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The file (relative to the project root): the script's or an imported module's.
    pub file: String,
    /// First user line, 1-based.
    pub line: u32,
    /// Last user line, 1-based, inclusive.
    pub end_line: u32,
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    pub related: Vec<Related>,
}

/// Per-line usage as the probes measured it (user lines, 1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineUsage {
    pub file: Arc<str>,
    pub line: u32,
    pub hits: u64,
    pub allocated_bytes: u64,
    pub net_bytes: i64,
    pub max_single_bytes: u64,
    /// The part of `allocated_bytes` that is estimated (executions after the line's
    /// measuring budget); 0 when every execution was measured.
    pub estimated_bytes: u64,
}

impl LineUsage {
    /// "3 hits" / "1 hit".
    fn hits_text(&self) -> String {
        format!(
            "{} hit{}",
            thousands(self.hits),
            if self.hits == 1 { "" } else { "s" }
        )
    }

    /// The bytes of the measured executions alone.
    fn measured_bytes(&self) -> u64 {
        self.allocated_bytes.saturating_sub(self.estimated_bytes)
    }
}

/// What a line's allocations still hold after the run and a final `gc.collect()` (from
/// allocation tracing): the likeliest holders of the heap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retained {
    pub file: Arc<str>,
    pub line: u32,
    pub bytes: u64,
    /// How many of the line's traced allocations those bytes are.
    pub allocations: u32,
}

/// The heap figures that decide whether a failed allocation was "full" or "fragmented", read
/// from the snapshot taken right after the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapAtFailure {
    pub block_bytes: u64,
    /// Longest run of free blocks (max over areas).
    pub max_free_blocks: u64,
    /// All free bytes.
    pub free_bytes: u64,
}

/// Limits above which a warning is raised.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Thresholds {
    /// A line allocating more than this many bytes in one run is reported.
    pub line_bytes: u64,
    /// A run shrinking the longest free run by more than this percentage is reported.
    pub fragmentation_percent: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            line_bytes: 16 * 1024,
            fragmentation_percent: 25.0,
        }
    }
}

/// Everything about one run that diagnostics are made from.
#[derive(Debug, Clone, Default)]
pub struct RunFacts<'a> {
    /// The uncaught exception, frames already mapped to user lines.
    pub traceback: Option<&'a Traceback>,
    /// The script's file as the traceback names it: its frames are the user's, and a
    /// diagnostic with no line of its own goes there.
    pub script_file: &'a str,
    /// The other files whose frames are the user's (a project's modules, as the traceback
    /// names them).
    pub user_files: &'a [String],
    /// The heap right after the failure (for MemoryError verdicts).
    pub heap_at_failure: Option<HeapAtFailure>,
    pub lines: &'a [LineUsage],
    /// Longest free run (blocks) before the run and after it plus `gc.collect()`.
    pub max_free_blocks_before: Option<u64>,
    pub max_free_blocks_after_gc: Option<u64>,
    pub block_bytes: Option<u64>,
    /// The run stopped because it was interrupted on purpose (Stop, timeout).
    pub interrupted: bool,
    /// No snapshot could be taken after the run because the heap was too full for even the
    /// capture command.
    pub heap_exhausted: bool,
    /// Whether the collector was off when the run ended (`None`: unknown).
    pub collector_disabled: Option<bool>,
    /// Bytes each line's allocations still hold after the final `gc.collect()`, largest
    /// first (empty without allocation tracing).
    pub retained: &'a [Retained],
    /// The heap's size (for "never a line under 1 % of the heap").
    pub heap_bytes: Option<u64>,
    /// How long the script ran, in milliseconds, as its heap timeline saw it (`None`: no
    /// timeline). Gives leaks their rate per second.
    pub run_ms: Option<u64>,
    /// How much the heap's floor (the least heap in use) rose from the first third of the
    /// run to the last, from a timeline of enough samples (`None`: too short to tell).
    pub heap_floor_growth: Option<i64>,
}

/// Turns the facts of a run into diagnostics, sorted by line then severity.
pub fn diagnose(facts: &RunFacts<'_>, thresholds: &Thresholds) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if let Some(tb) = facts.traceback {
        out.push(exception_diagnostic(tb, facts));
    }
    line_warnings(facts, thresholds, &mut out);
    leak_warnings(facts, &mut out);
    if let Some(d) = fragmentation_warning(facts, thresholds) {
        out.push(d);
    }
    out.sort_by(|a, b| {
        (a.file != facts.script_file, &a.file, a.line, a.severity).cmp(&(
            b.file != facts.script_file,
            &b.file,
            b.line,
            b.severity,
        ))
    });
    out
}

fn exception_diagnostic(tb: &Traceback, facts: &RunFacts<'_>) -> Diagnostic {
    let user_frames: Vec<&Frame> = tb
        .frames
        .iter()
        .filter(|f| f.file == facts.script_file || facts.user_files.contains(&f.file))
        .collect();
    let line = user_frames.last().map_or(1, |f| f.line.max(1));
    let file = user_frames
        .last()
        .map_or(facts.script_file, |f| f.file.as_str())
        .to_string();
    // The call chain: every outer frame of the user's script, innermost caller first.
    let mut related: Vec<Related> = user_frames
        .iter()
        .rev()
        .skip(1)
        .map(|f| Related {
            file: f.file.clone(),
            line: f.line.max(1),
            message: match &f.function {
                Some(func) if func != "<module>" => format!("called from here, in {func}"),
                _ => "called from here".to_string(),
            },
        })
        .collect();

    let (code, message) = match tb.exception.as_str() {
        "MemoryError" => {
            let (code, message) = match (facts.heap_at_failure, facts.heap_exhausted) {
                (None, true) => exhausted_heap_message(&tb.message, facts.collector_disabled),
                (heap, _) => memory_error_message(&tb.message, heap),
            };
            related.extend(largest_live_lines(facts));
            (code, message)
        }
        "SyntaxError" | "IndentationError" => (Code::SyntaxError, tb.exception_line()),
        "KeyboardInterrupt" if facts.interrupted => (
            Code::Interrupted,
            "stopped here: the run was interrupted (KeyboardInterrupt)".to_string(),
        ),
        _ => (Code::Exception, tb.exception_line()),
    };
    let severity = if code == Code::Interrupted {
        Severity::Info
    } else {
        Severity::Error
    };
    Diagnostic {
        file,
        line,
        end_line: line,
        severity,
        code,
        message,
        related,
    }
}

/// The sentence that explains a MemoryError, and its code.
pub fn memory_error_message(message: &str, heap: Option<HeapAtFailure>) -> (Code, String) {
    match MemoryErrorKind::from_message(message) {
        MemoryErrorKind::HeapLocked => (
            Code::MemoryErrorHeapLocked,
            "memory allocation failed, heap is locked: this code allocated while allocation was \
             forbidden — inside a hard interrupt handler (e.g. Pin.irq(hard=True)) or between \
             micropython.heap_lock() and heap_unlock(). Preallocate buffers outside the handler, \
             or defer the work with micropython.schedule()"
                .to_string(),
        ),
        MemoryErrorKind::Unknown => (
            Code::MemoryError,
            format!(
                "MemoryError{}: the heap was so full that even the error message could not be \
                 allocated",
                if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                }
            ),
        ),
        MemoryErrorKind::Allocating { bytes } => match heap {
            Some(heap) if heap.block_bytes > 0 => {
                let verdict = verdict_for(bytes, heap);
                (verdict.code(), verdict.message(bytes, heap))
            }
            _ => (
                Code::MemoryError,
                format!(
                    "memory allocation failed, allocating {} bytes (no heap snapshot at failure)",
                    thousands(bytes)
                ),
            ),
        },
    }
}

/// The MemoryError of a run after which not even a heap capture fitted: the heap is full by
/// any measure, although there are no figures to show.
fn exhausted_heap_message(message: &str, collector_disabled: Option<bool>) -> (Code, String) {
    let what = match MemoryErrorKind::from_message(message) {
        MemoryErrorKind::Allocating { bytes } => {
            format!("allocation of {} bytes", thousands(bytes))
        }
        MemoryErrorKind::HeapLocked => return memory_error_message(message, None),
        MemoryErrorKind::Unknown => "an allocation".to_string(),
    };
    let why = if collector_disabled == Some(true) {
        " The collector was disabled, so nothing could be reclaimed."
    } else {
        ""
    };
    (
        Code::MemoryErrorHeapFull,
        format!(
            "{what} failed, and afterwards not even the few hundred bytes of a heap capture \
             were free: the heap is full.{why} The board was soft-reset, so there are no \
             snapshots or per-line figures for this run"
        ),
    )
}

/// Why an allocation of `bytes` could not be served by a heap in state `heap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureVerdict {
    /// Fewer free bytes in all than requested.
    HeapFull,
    /// Enough free bytes in all, but no contiguous run long enough.
    Fragmented,
    /// The heap as captured could serve it: something was freed after the failure.
    FreedSince,
}

/// Decides the verdict from blocks needed, longest free run and free total.
pub fn verdict_for(bytes: u64, heap: HeapAtFailure) -> FailureVerdict {
    let needed = bytes.div_ceil(heap.block_bytes);
    let free_blocks = heap.free_bytes / heap.block_bytes;
    if needed <= heap.max_free_blocks {
        FailureVerdict::FreedSince
    } else if free_blocks < needed {
        FailureVerdict::HeapFull
    } else {
        FailureVerdict::Fragmented
    }
}

impl FailureVerdict {
    fn code(self) -> Code {
        match self {
            FailureVerdict::HeapFull => Code::MemoryErrorHeapFull,
            FailureVerdict::Fragmented => Code::MemoryErrorFragmented,
            FailureVerdict::FreedSince => Code::MemoryError,
        }
    }

    /// The sentence of the verdict. Every figure comes from one snapshot, the heap at the
    /// failure, and says so; sizes are KiB with the exact bytes.
    fn message(self, bytes: u64, heap: HeapAtFailure) -> String {
        let max_free_bytes = heap.max_free_blocks * heap.block_bytes;
        let head = format!(
            "allocation of {} bytes exceeds the longest free run at failure, {}",
            thousands(bytes),
            kib_and_bytes(max_free_bytes)
        );
        match self {
            FailureVerdict::HeapFull => format!(
                "{head}; only {} is free in all: the heap is full",
                kib_and_bytes(heap.free_bytes)
            ),
            FailureVerdict::Fragmented => format!(
                "{head}, although {} is free in all: the heap is fragmented",
                kib_and_bytes(heap.free_bytes)
            ),
            FailureVerdict::FreedSince => format!(
                "memory allocation failed, allocating {} bytes; the heap captured after the \
                 failure has a free run of {}, so memory was freed in between",
                thousands(bytes),
                kib_and_bytes(max_free_bytes)
            ),
        }
    }
}

/// The likeliest holders of what filled the heap, as related information: the lines whose
/// allocations are still alive after the final `gc.collect()` (allocation tracing), largest
/// first, else the lines the probes saw grow the heap most (net bytes; objects a later
/// collection freed may still be counted). Never a line holding under 1 % of the heap. The
/// failing line itself can be one (the Parrot's doubling line holds the string it doubles).
fn largest_live_lines(facts: &RunFacts<'_>) -> Vec<Related> {
    let floor = facts.heap_bytes.map_or(1, |heap| (heap / 100).max(1));
    if !facts.retained.is_empty() {
        return facts
            .retained
            .iter()
            .filter(|r| r.bytes >= floor)
            .take(3)
            .map(|r| Related {
                file: r.file.to_string(),
                line: r.line,
                message: format!(
                    "{} allocated here is still alive after gc.collect(): a likely holder of the heap",
                    human_bytes(r.bytes)
                ),
            })
            .collect();
    }
    let mut holders: Vec<&LineUsage> = facts
        .lines
        .iter()
        .filter(|l| l.net_bytes > 0 && l.net_bytes as u64 >= floor)
        .collect();
    holders.sort_by(|a, b| b.net_bytes.cmp(&a.net_bytes).then(a.line.cmp(&b.line)));
    holders
        .into_iter()
        .take(3)
        .map(|l| Related {
            file: l.file.to_string(),
            line: l.line,
            message: format!(
                "net +{} allocated here ({}): a likely holder of the heap",
                human_bytes(l.net_bytes as u64),
                l.hits_text()
            ),
        })
        .collect()
}

fn line_warnings(facts: &RunFacts<'_>, thresholds: &Thresholds, out: &mut Vec<Diagnostic>) {
    for l in facts.lines {
        if l.allocated_bytes > thresholds.line_bytes {
            let mut message = format!(
                "this line allocated {} in this run ({}, largest allocation {})",
                human_bytes(l.allocated_bytes),
                l.hits_text(),
                human_bytes(l.max_single_bytes)
            );
            if l.estimated_bytes > 0 {
                message.push_str(&format!(
                    "; {} of it estimated for the executions after the first measured ones",
                    human_bytes(l.estimated_bytes)
                ));
            }
            out.push(Diagnostic {
                file: l.file.to_string(),
                line: l.line,
                end_line: l.line,
                severity: Severity::Warning,
                code: Code::LineAllocation,
                message,
                related: Vec::new(),
            });
        }
        // Growth heuristic: the probes keep the sum and the maximum per line. A constant
        // allocation per hit has max == mean; a doubling one has max ≈ hits/2 × mean. Require
        // several hits and a maximum at least twice the mean so that one outlier in a short
        // loop does not count. Estimated bytes are not per execution, so they stay out.
        if l.hits >= 3 && l.max_single_bytes > 0 && l.estimated_bytes == 0 {
            let mean = l.measured_bytes() as f64 / l.hits as f64;
            if l.max_single_bytes as f64 >= 2.0 * mean && l.max_single_bytes >= 1024 {
                out.push(Diagnostic {
                    file: l.file.to_string(),
                    line: l.line,
                    end_line: l.line,
                    severity: Severity::Warning,
                    code: Code::GrowingAllocation,
                    message: format!(
                        "allocation on this line grows with the iterations: largest {} vs {} on \
                         average over {}",
                        human_bytes(l.max_single_bytes),
                        human_bytes(mean as u64),
                        l.hits_text()
                    ),
                    related: Vec::new(),
                });
            }
        }
    }
}

fn fragmentation_warning(facts: &RunFacts<'_>, thresholds: &Thresholds) -> Option<Diagnostic> {
    let before = facts.max_free_blocks_before?;
    let after = facts.max_free_blocks_after_gc?;
    if before == 0 || after >= before {
        return None;
    }
    let shrink = (before - after) as f64 * 100.0 / before as f64;
    if shrink <= thresholds.fragmentation_percent {
        return None;
    }
    // Put it on the line that keeps the most memory alive: the likeliest cause.
    let culprit = facts
        .lines
        .iter()
        .filter(|l| l.net_bytes > 0)
        .max_by_key(|l| (l.net_bytes, std::cmp::Reverse(l.line)));
    let line = culprit.map_or(1, |l| l.line);
    let file = culprit.map_or(facts.script_file, |l| &l.file).to_string();
    let size = |blocks: u64| match facts.block_bytes {
        Some(b) => human_bytes(blocks * b),
        None => format!("{blocks} blocks"),
    };
    Some(Diagnostic {
        file,
        line,
        end_line: line,
        severity: Severity::Warning,
        code: Code::Fragmentation,
        message: format!(
            "this run shrank the longest free run from {} before it to {} after gc \
             (−{shrink:.0}%): later large allocations may fail",
            size(before),
            size(after)
        ),
        related: Vec::new(),
    })
}

/// The one leak rule, for runs that end and for runs stopped by Stop or a timeout: a line
/// leaks when its live bytes grow with its executions. The evidence is allocation tracing,
/// which follows each line's first (so oldest) allocations: when the results of several of
/// them are still held after the final `gc.collect()`, the line keeps what it makes (a list
/// never trimmed, a dict, a global). A line that keeps a bounded number (append, then pop to
/// keep 20) has let its oldest go by then; one big object a line keeps (the Parrot's last
/// string) is one execution's worth, not several. Two guards: what the line would hold at
/// that pace (its bytes per execution times its executions) reaches 1 % of the heap, and,
/// when the run was long enough for its heap timeline to show a trend, the heap's floor
/// rose across the run. The growth rate is the line's heap bytes per execution, and per
/// second that times its executions per second. Tracing follows each line's first
/// executions only, so the bytes named are a lower bound. [`LEAK_METHOD`] says it for users.
fn leak_warnings(facts: &RunFacts<'_>, out: &mut Vec<Diagnostic>) {
    let floor = facts.heap_bytes.map_or(1, |heap| (heap / 100).max(1));
    if facts.heap_floor_growth.is_some_and(|growth| growth <= 0) {
        return;
    }
    for retained in facts.retained {
        let Some(usage) = facts
            .lines
            .iter()
            .find(|l| l.file == retained.file && l.line == retained.line)
        else {
            continue;
        };
        // Several executions' worth: twice the line's largest allocation (one big object
        // is one execution's), or several allocations (a line whose largest allocation is a
        // list's growth keeps small items).
        let several = usage.hits >= 2
            && usage.max_single_bytes > 0
            && (retained.bytes >= 2 * usage.max_single_bytes
                || retained.allocations >= SEVERAL_ALLOCATIONS);
        let at_this_pace = retained.bytes.max(usage.allocated_bytes);
        if !several || at_this_pace < floor {
            continue;
        }
        let per_execution = usage.allocated_bytes / usage.hits.max(1);
        let per_second = facts
            .run_ms
            .filter(|&ms| ms > 0)
            .map(|ms| (u128::from(usage.allocated_bytes) * 1000 / u128::from(ms)) as u64);
        let rate = match per_second {
            Some(per_second) => format!(
                "+{} per execution, +{} per second",
                human_bytes(per_execution),
                human_bytes(per_second)
            ),
            None => format!("+{} per execution", human_bytes(per_execution)),
        };
        out.push(Diagnostic {
            file: retained.file.to_string(),
            line: retained.line,
            end_line: retained.line,
            severity: Severity::Warning,
            code: Code::Leak,
            message: format!(
                "leak: at least {} allocated on this line is still held after gc.collect(), \
                 from several of its {}: something keeps each result (a list, a dict, a \
                 global), so the heap grows every time the line runs ({rate})",
                kib_and_bytes(retained.bytes),
                usage.hits_text()
            ),
            related: Vec::new(),
        });
    }
}

/// Traced allocations of one line still held after gc that make "several executions".
const SEVERAL_ALLOCATIONS: u32 = 4;

/// How the `leak` diagnostic is found, for the hover of a leaking line.
pub const LEAK_METHOD: &str = "**How HeapLens finds leaks.** Allocation tracing follows the \
first allocations each line makes. When the run ends, or is stopped (Stop, a timeout), the \
heap is collected and those allocations are looked for: a line whose results from several \
executions (its oldest ones) are all still held keeps what it makes, so its live bytes grow \
with every execution. A line that keeps a bounded number (append, then pop) has let its \
oldest results go by then and is not a leak. On runs long enough for a heap timeline, the \
heap's floor (the least heap in use) must also have risen across the run. The rate is the \
line's heap bytes per execution, and per second that times how often it ran.";

/// `1536` → `1.5 KiB`, `512` → `512 B`: the one unit system of every HeapLens surface
/// (binary units, as MicroPython users count; exact bytes go next to it where precision
/// matters, see [`kib_and_bytes`]).
pub fn human_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}

/// `1234567` → `1,234,567`: counts and exact byte figures people read.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `98305` → `96.0 KiB (98,305 bytes)`; below 1 KiB just `512 B`.
pub fn kib_and_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else {
        format!("{} ({} bytes)", human_bytes(bytes), thousands(bytes))
    }
}

#[cfg(test)]
mod tests;
