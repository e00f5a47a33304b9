//! What the editor shows for a file that has run: hover text, inlay hint labels, decorations,
//! the code-lens summary. Pure functions over [`FileRun`], so they are tested without a client.
//!
//! One unit system (KiB, exact bytes next to it in hovers) and one vocabulary ("largest
//! allocation", "longest free run") on every surface; a figure of a heap snapshot names the
//! snapshot it comes from ("after gc", "at failure").

use crate::diagnose::{human_bytes, kib_and_bytes, thousands, Diagnostic, MemoryErrorKind};
use crate::run::probes::LineDelta;

use super::ext::LineDecoration;

/// The exception that ended a run, on the user's line where it was raised (in the file a
/// [`FileRun`] is about).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// User line, 1-based.
    pub line: u32,
    /// The exception line (`MemoryError: memory allocation failed, allocating 98305 bytes`).
    pub exception: String,
}

impl Failure {
    /// What the failing line tried to do, for its hover.
    pub fn what(&self) -> String {
        let (name, message) = self
            .exception
            .split_once(": ")
            .unwrap_or((self.exception.as_str(), ""));
        match (name, MemoryErrorKind::from_message(message)) {
            ("MemoryError", MemoryErrorKind::Allocating { bytes }) => format!(
                "tried to allocate {} and failed (`MemoryError`)",
                kib_and_bytes(bytes)
            ),
            _ => format!("raised `{}`", self.exception),
        }
    }
}

/// The parts of a finished run that the editor features need, for one of its files.
#[derive(Debug, Clone, Default)]
pub struct FileRun {
    pub run_id: u64,
    /// The script that ran, when this file is another (a module it imported).
    pub script: Option<String>,
    /// This file's lines.
    pub lines: Vec<LineDelta>,
    /// This file's diagnostics.
    pub diagnostics: Vec<Diagnostic>,
    /// Bytes allocated by every line of every file of the run.
    pub run_allocated: u64,
    /// Longest free run after the run and `gc.collect()`, in bytes.
    pub max_free_bytes_after_gc: Option<u64>,
    pub gc_collections: Option<u32>,
    pub exact: bool,
    /// The run's peak heap use and its line, when that line is in this file.
    pub peak: Option<crate::run::probes::Peak>,
    /// The exception that ended the run (not a Stop), and its line.
    pub failure: Option<Failure>,
}

impl FileRun {
    /// The figures of a finished run that the editor features read for `file` (relative to
    /// the project root).
    pub fn of_report(report: &crate::run::runner::RunReport, run_id: u64, file: &str) -> FileRun {
        let failure = report.exception.as_ref().and_then(|exception| {
            let error = report
                .diagnostics
                .iter()
                .find(|d| d.severity == crate::diagnose::Severity::Error)
                .filter(|d| d.file == file)?;
            Some(Failure {
                line: error.line,
                exception: exception.clone(),
            })
        });
        FileRun {
            run_id,
            script: (file != report.script_file).then(|| report.script_file.clone()),
            lines: report
                .lines
                .iter()
                .filter(|l| l.file == file)
                .cloned()
                .collect(),
            diagnostics: report
                .diagnostics
                .iter()
                .filter(|d| d.file == file)
                .cloned()
                .collect(),
            run_allocated: report.lines.iter().map(|l| l.allocated_bytes).sum(),
            max_free_bytes_after_gc: report
                .snapshots
                .after_gc
                .as_ref()
                .and_then(|s| s.figures().max_free_bytes),
            gc_collections: report.gc_collections,
            exact: report.exact,
            peak: report
                .peak
                .as_ref()
                .filter(|p| p.file.as_deref() == Some(file))
                .map(|p| crate::run::probes::Peak {
                    used: p.used,
                    line: p.line,
                    file: p.file.clone(),
                }),
            failure,
        }
    }

    /// All bytes allocated by this file's lines.
    pub fn total_allocated(&self) -> u64 {
        self.lines.iter().map(|l| l.allocated_bytes).sum()
    }

    pub fn line(&self, line: u32) -> Option<&LineDelta> {
        self.lines.iter().find(|l| l.line == line)
    }
}

fn signed_bytes(n: i64) -> String {
    if n < 0 {
        format!("−{}", human_bytes(n.unsigned_abs()))
    } else {
        format!("+{}", human_bytes(n as u64))
    }
}

/// `+97.0 KiB (+99,328 bytes)`, or `+64 B` under a KiB.
fn signed_kib_and_bytes(n: i64) -> String {
    let sign = if n < 0 { "−" } else { "+" };
    let magnitude = n.unsigned_abs();
    if magnitude < 1024 {
        format!("{sign}{magnitude} B")
    } else {
        format!(
            "{sign}{} ({sign}{} bytes)",
            human_bytes(magnitude),
            thousands(magnitude)
        )
    }
}

/// Whether a source line starts a definition (`def`, `async def`, `class`, a decorator).
fn is_definition(source: &str) -> bool {
    let text = source.trim_start();
    ["def ", "async def ", "class ", "@"]
        .iter()
        .any(|start| text.starts_with(start))
}

/// Hover markdown for `line` (1-based; `source` is its text), or `None` when the run says
/// nothing about it. Diagnostics are not repeated here: editors show them in the same hover.
pub fn hover_markdown(
    run: &FileRun,
    previous: Option<&FileRun>,
    line: u32,
    source: Option<&str>,
) -> Option<String> {
    let stat = run.line(line);
    let failure = run.failure.as_ref().filter(|f| f.line == line);
    if stat.is_none() && failure.is_none() {
        return None;
    }
    let mut md = match &run.script {
        Some(script) => format!(
            "**HeapLens** · line {line} · run {} of `{script}`\n\n",
            run.run_id
        ),
        None => format!("**HeapLens** · line {line} · run {}\n\n", run.run_id),
    };
    md.push_str("| | |\n|---|---|\n");
    if let Some(failure) = failure {
        md.push_str(&format!("| failed here | {} |\n", failure.what()));
    }
    if let Some(s) = stat {
        let total = run.run_allocated;
        let share = if total > 0 {
            s.allocated_bytes as f64 * 100.0 / total as f64
        } else {
            0.0
        };
        md.push_str(&format!("| hits | {} |\n", thousands(s.hits)));
        if s.estimated_bytes > 0 {
            md.push_str(&format!(
                "| allocated | ≈ {}, of which ≈ {} estimated |\n",
                kib_and_bytes(s.allocated_bytes),
                human_bytes(s.estimated_bytes)
            ));
        } else {
            md.push_str(&format!(
                "| allocated | {} |\n",
                kib_and_bytes(s.allocated_bytes)
            ));
        }
        if s.hits > 1 && s.allocated_bytes > 0 {
            md.push_str(&format!(
                "| per hit | {} on average |\n",
                human_bytes(s.allocated_bytes / s.hits)
            ));
        }
        md.push_str(&format!(
            "| net | {} |\n",
            signed_kib_and_bytes(s.net_bytes)
        ));
        if s.max_single_bytes > 0 {
            md.push_str(&format!(
                "| largest allocation | {} |\n",
                kib_and_bytes(s.max_single_bytes)
            ));
        }
        if let Some(peak) = run.peak.as_ref().filter(|p| p.line == Some(line)) {
            md.push_str(&format!(
                "| peak | the run's highest heap use, {}, was reached here |\n",
                kib_and_bytes(peak.used)
            ));
        }
        md.push_str(&format!("| share of run | {share:.1}% |\n"));
        if let Some(prev) = previous {
            let before = prev.line(line).map_or(0, |p| p.allocated_bytes);
            let change = s.allocated_bytes as i64 - before as i64;
            let word = if change == 0 {
                "no change".to_string()
            } else {
                signed_bytes(change)
            };
            md.push_str(&format!(
                "| vs previous run | {word} (was {}) |\n",
                human_bytes(before)
            ));
        }
        if s.estimated_bytes > 0 {
            md.push_str(
                "\n_≈: this line's first allocating executions were measured exactly; the \
                 later ones are estimated from the bytes they requested._\n",
            );
        }
        if source.is_some_and(is_definition) {
            md.push_str(
                "\n_A definition: its hits and bytes are creating the function or class; each \
                 call is counted on the line that calls it._\n",
            );
        } else {
            md.push_str(
                "\n_Hits count executions of the line's statement: condition evaluations for \
                 `if`/`while`, iterations for `for`._\n",
            );
        }
        // The leak diagnostic says what leaks; the hover says how that was found.
        if run
            .diagnostics
            .iter()
            .any(|d| d.code == crate::diagnose::Code::Leak && d.line == line)
        {
            md.push('\n');
            md.push_str(crate::diagnose::LEAK_METHOD);
            md.push('\n');
        }
        if !run.exact && run.gc_collections.unwrap_or(0) > 0 {
            md.push_str(&format!(
                "\n_{} garbage collection(s) ran during this run; growth across a collection is not counted._\n",
                run.gc_collections.unwrap_or(0)
            ));
        }
    }
    Some(md)
}

/// The files a run measured or diagnosed (relative to the project root): the script's first,
/// then the others in the run's order.
pub fn run_files(report: &crate::run::runner::RunReport) -> Vec<String> {
    let mut files = vec![report.script_file.clone()];
    let named = report
        .lines
        .iter()
        .map(|l| &l.file)
        .chain(report.diagnostics.iter().map(|d| &d.file));
    for file in named {
        if !files.contains(file) {
            files.push(file.clone());
        }
    }
    files
}

/// `+3.1 KiB ×15` — the inlay hint and decoration text of a line (`≈+3.1 KiB` when part of it
/// is estimated).
pub fn line_label(stat: &LineDelta) -> String {
    let approx = if stat.estimated_bytes > 0 { "≈" } else { "" };
    let bytes = human_bytes(stat.allocated_bytes);
    if stat.hits > 1 {
        format!("{approx}+{bytes} ×{}", thousands(stat.hits))
    } else {
        format!("{approx}+{bytes}")
    }
}

/// Lines worth a hint: allocated at least `min_bytes` (and something at all).
pub fn hinted_lines(run: &FileRun, min_bytes: u64) -> impl Iterator<Item = &LineDelta> {
    run.lines
        .iter()
        .filter(move |l| l.allocated_bytes > 0 && l.allocated_bytes >= min_bytes)
}

/// Gutter heat per line: level 1–5 on a log scale relative to the hungriest line.
pub fn decorations(run: &FileRun, min_bytes: u64) -> Vec<LineDecoration> {
    let max = run
        .lines
        .iter()
        .map(|l| l.allocated_bytes)
        .max()
        .unwrap_or(0);
    hinted_lines(run, min_bytes)
        .map(|l| LineDecoration {
            line: l.line.saturating_sub(1),
            level: heat_level(l.allocated_bytes, max),
            text: line_label(l),
            hover: None,
        })
        .collect()
}

/// 1 for the smallest allocations up to 5 for the largest, on a log₂ scale over 5 halvings.
fn heat_level(bytes: u64, max: u64) -> u8 {
    if bytes == 0 || max == 0 {
        return 0;
    }
    let halvings = (max as f64 / bytes as f64).log2();
    (5.0 - halvings.floor()).clamp(1.0, 5.0) as u8
}

/// How long a run that probed every execution may take before the server suggests sampling.
pub const SLOW_RUN: std::time::Duration = std::time::Duration::from_secs(5);

/// The suggestion (shown once per session) to turn on `heaplens.sampleExecutions`, for a run
/// that probed every execution of its instrumented script and took longer than [`SLOW_RUN`].
/// A run that was stopped says nothing about speed: it ran until someone stopped it.
pub fn sampling_hint(
    elapsed: std::time::Duration,
    instrumented: bool,
    sampled: bool,
    interrupted: bool,
) -> Option<String> {
    (instrumented && !sampled && !interrupted && elapsed > SLOW_RUN).then(|| {
        format!(
            "HeapLens: this run took {:.1} s with every execution of every line probed. Set \
             heaplens.sampleExecutions (e.g. 64) to probe each loop only for its first \
             iterations: hot loops then run close to full speed.",
            elapsed.as_secs_f64()
        )
    })
}

/// The message for a run that had no per-line probes (`why`), unless its own SyntaxError
/// already explains that.
pub fn not_instrumented_message(why: Option<&str>, exception: Option<&str>) -> Option<String> {
    let why = why?;
    if exception.is_some_and(|e| e.starts_with("SyntaxError")) {
        return None;
    }
    Some(format!(
        "HeapLens: this run has no per-line figures: the script ran without probes ({why})."
    ))
}

/// The code-lens summary of the last run: `last run: +12.4 KiB allocated · peak heap use
/// 20.1 KiB (line 7) · after gc: longest free run 5.2 KiB · error on line 4` (for a module a
/// script imported: `last run of main.py: +1.2 KiB allocated here · …`).
pub fn lens_summary(run: &FileRun) -> String {
    let mut s = match &run.script {
        Some(script) => format!(
            "last run of {script}: +{} allocated here",
            human_bytes(run.total_allocated())
        ),
        None => format!(
            "last run: +{} allocated",
            human_bytes(run.total_allocated())
        ),
    };
    if let Some(peak) = &run.peak {
        s.push_str(&format!(" · peak heap use {}", human_bytes(peak.used)));
        if let Some(line) = peak.line {
            s.push_str(&format!(" (line {line})"));
        }
    }
    if let Some(bytes) = run.max_free_bytes_after_gc {
        s.push_str(&format!(
            " · after gc: longest free run {}",
            human_bytes(bytes)
        ));
    }
    if let Some(e) = run
        .diagnostics
        .iter()
        .find(|d| d.severity == crate::diagnose::Severity::Error)
    {
        s.push_str(&format!(" · error on line {}", e.line));
    }
    s
}

#[cfg(test)]
mod tests;
