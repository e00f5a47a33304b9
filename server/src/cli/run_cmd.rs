//! `heaplens run`: an instrumented run with heap captures and a report.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use super::BoardArgs;
use crate::board::LinkOptions;
use crate::diagnose::{human_bytes, thousands, Severity, Thresholds};
use crate::heap::Stats;
use crate::project::Project;
use crate::run::runner::{self, InputSource, RunEvent, RunOptions, RunReport, Sampling, Script};

/// The flags of `heaplens run`.
#[derive(Debug, Clone, clap::Args)]
pub struct Flags {
    /// Print the report as one JSON document (the script's output then goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Disable the garbage collector during the run: deltas are exact allocations.
    #[arg(long)]
    pub exact: bool,
    /// Do not soft-reset the board before the run.
    #[arg(long)]
    pub no_reset: bool,
    /// Seconds before the script is interrupted and its report so far printed (0 = no limit;
    /// at most a day).
    #[arg(long, default_value = "0", value_parser = super::parse_timeout)]
    pub timeout: super::Timeout,
    /// No ANSI colours in the report.
    #[arg(long)]
    pub no_color: bool,
    /// Find the line that made each new allocation (heap dumps from the probes; slower).
    #[arg(long)]
    pub trace_allocations: bool,
    /// The project folder (default: the script's folder): its changed files are copied to
    /// the board first, and its modules (there and in its `lib/`) import with probes.
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Measure each line's first N allocating executions exactly, estimate the later ones
    /// (default 64; hits are always exact). `--sample=0` measures every execution: exact
    /// bytes everywhere, slower for hot loops.
    #[arg(long, value_name = "N", num_args = 0..=1, require_equals = true, default_missing_value = "64",
          value_parser = clap::value_parser!(u32).range(0..=(u32::MAX >> 2) as i64))]
    pub sample: Option<u32>,
    /// Also write a self-contained HTML report (heap maps, per-line table, diagnostics) to
    /// FILE: one file that opens offline in any browser.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Milliseconds between two samples of the heap timeline while the script runs (0 = no
    /// timeline).
    #[arg(long, value_name = "MS", default_value_t = crate::run::timeline::DEFAULT_SAMPLE_EVERY_MS,
          value_parser = clap::value_parser!(u32).range(0..=3_600_000))]
    pub timeline_ms: u32,
    /// Write the heap timeline to FILE as CSV (`t_ms,used,free,max_free`).
    #[arg(long, value_name = "FILE")]
    pub timeline_csv: Option<PathBuf>,
}

pub fn run(script: &Path, board_args: &BoardArgs, flags: Flags) -> anyhow::Result<ExitCode> {
    let Flags {
        json,
        exact,
        no_reset,
        timeout,
        no_color,
        trace_allocations,
        project,
        sample,
        html,
        timeline_ms,
        timeline_csv,
    } = flags;
    // Ctrl-C from the very start stops the run cleanly (the script on the board, or the run
    // before it starts), never the process half-way.
    let cancel = super::stop::stop_token();
    let bytes =
        std::fs::read(script).with_context(|| format!("cannot read {}", script.display()))?;
    let source = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not UTF-8 text (byte {}): MicroPython needs UTF-8 source",
            script.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    let script = project_script(script, project.as_deref(), source)?;
    for warning in script.project.iter().flat_map(|p| p.skipped()) {
        eprintln!("heaplens: {warning}");
    }
    let mut board = super::board_cmds::open_board(board_args, &LinkOptions::default())?;
    let options = RunOptions {
        exact,
        soft_reset: !no_reset,
        timeout: timeout.0,
        thresholds: Thresholds::default(),
        trace_allocations,
        sampling: match sample {
            None => Sampling::Auto,
            Some(0) => Sampling::Every,
            Some(n) => Sampling::Sample(n),
        },
        // The script's input() reads this terminal's (or pipe's) lines; with --json stdout is
        // a document, and input() gets end of input at once.
        input: (!json).then(|| InputSource(Arc::new(read_stdin_line))),
        sample_every_ms: (timeline_ms > 0).then_some(timeline_ms),
    };
    if cancel.is_cancelled() {
        anyhow::bail!(
            "stopped while connecting to the board, before the script started: nothing ran"
        );
    }
    let quiet_progress = json;
    let mut stdout = std::io::stdout();
    let mut on_event = |event: RunEvent<'_>| match event {
        // The script's own output goes to stdout unchanged, as it arrives; with --json it goes
        // to stderr so that stdout stays one JSON document.
        RunEvent::Output(bytes) => {
            if json {
                let _ = std::io::stderr().write_all(bytes);
            } else {
                let _ = stdout.write_all(bytes);
                let _ = stdout.flush();
            }
        }
        RunEvent::Phase(phase) if !quiet_progress => {
            eprintln!("heaplens: {}…", phase.label());
        }
        // What reached the board's filesystem is always said, even with --json.
        RunEvent::Copied(files) => {
            eprintln!("heaplens: copied to the board: {}", files.join(", "));
        }
        RunEvent::Phase(_) | RunEvent::Snapshot { .. } | RunEvent::Sample(_) => {}
    };
    let report = runner::run_script(&mut board, &script, &options, &mut on_event, &cancel)?;
    if let Some(file) = &html {
        std::fs::write(
            file,
            super::html::report_html(&report, &script.source, None),
        )
        .with_context(|| format!("cannot write {}", file.display()))?;
        eprintln!("heaplens: report written to {}", file.display());
    }
    if let Some(path) = &timeline_csv {
        std::fs::write(path, report.timeline.to_csv())
            .with_context(|| format!("cannot write the timeline to {}", path.display()))?;
    }
    let text = if json {
        format!("{}\n", serde_json::to_string_pretty(&report.to_json())?)
    } else {
        render_report(&report, &script, super::heap_cmds::use_color(no_color))
    };
    // A reader that went away (`| head`) is not an error of the run.
    super::heap_cmds::print_bytes(text.as_bytes())?;
    // The report is out before the board is let go (a simulated Pico's teardown takes a
    // few milliseconds the user need not wait for).
    board.close();
    // A script that ended with SystemExit(n) exits with n, as on a board's own run.
    if let Some(code) = report.system_exit {
        return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
    }
    let failed = report
        .diagnostics
        .iter()
        .any(|d| d.severity == Severity::Error);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The script as part of its project: `project` (else the script's folder) is read, and the
/// script is named by its path there (by its file name when it lies outside).
pub(super) fn project_script(
    path: &Path,
    project: Option<&Path>,
    source: String,
) -> anyhow::Result<Script> {
    let script_path =
        std::fs::canonicalize(path).with_context(|| format!("cannot read {}", path.display()))?;
    let root = match project {
        Some(dir) => std::fs::canonicalize(dir)
            .with_context(|| format!("the project folder {} does not exist", dir.display()))?,
        None => script_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/")),
    };
    let project = Project::scan(&root)?;
    let file = project.relative(&script_path).unwrap_or_else(|| {
        script_path
            .file_name()
            .map_or("script.py".to_string(), |n| {
                n.to_string_lossy().into_owned()
            })
    });
    // The run copies and measures exactly this text, even if the file changes meanwhile.
    let project = if project.file(&file).is_some() {
        project.with_file(&file, source.as_bytes().to_vec())
    } else {
        project
    };
    Ok(Script {
        source,
        file,
        project: Some(Arc::new(project)),
    })
}

/// One line of this process's stdin, `None` at its end.
fn read_stdin_line() -> Option<String> {
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line),
    }
}

/// The text of `file` (relative to the project root) as the run used it.
fn file_text<'s>(script: &'s Script, file: &str) -> Option<&'s str> {
    if file == script.file {
        return Some(&script.source);
    }
    script
        .project
        .as_deref()
        .and_then(|p| p.file(file))
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
}

/// Where a line is, for the report: `line N` in the script, `FILE line N` elsewhere.
fn place(report: &RunReport, file: &str, line: u32) -> String {
    if file == report.script_file {
        format!("line {line}")
    } else {
        format!("{file} line {line}")
    }
}

/// The terminal report: top lines (grouped by file when the run measured several), the three
/// snapshots side by side, the diff, diagnostics.
pub fn render_report(report: &RunReport, script: &Script, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    };
    let source_line = |file: &str, line: u32| -> String {
        file_text(script, file)
            .and_then(|text| text.lines().nth((line as usize).saturating_sub(1)))
            .map_or("", str::trim)
            .chars()
            .take(48)
            .collect()
    };
    let mut out = String::new();
    if !report.output.is_empty() && !report.output.ends_with('\n') {
        out.push('\n');
    }
    if let Some(tb) = &report.traceback {
        out.push_str(tb);
        if !tb.ends_with('\n') {
            out.push('\n');
        }
    }
    out.push('\n');
    out.push_str(&paint("1", "Top lines by bytes allocated\n"));
    let lines: Vec<_> = report.lines.iter().filter(|l| l.hits > 0).collect();
    // Files in the run's order (the script first), each with its own top lines.
    let mut files: Vec<&str> = Vec::new();
    for l in &lines {
        if !files.contains(&l.file.as_str()) {
            files.push(&l.file);
        }
    }
    let grouped = files.len() > 1;
    out.push_str(&format!(
        "{:>6} {:>10} {:>12} {:>12}  {}\n",
        "line", "hits", "allocated", "net", "source"
    ));
    for file in &files {
        let mut top: Vec<_> = lines.iter().filter(|l| l.file == *file).collect();
        top.sort_by(|a, b| {
            b.allocated_bytes
                .cmp(&a.allocated_bytes)
                .then(a.line.cmp(&b.line))
        });
        if grouped {
            let total: u64 = top.iter().map(|l| l.allocated_bytes).sum();
            out.push_str(&format!("{file} ({})\n", human_bytes(total)));
        }
        for l in top.iter().take(10) {
            // "≈" marks figures that include estimated executions.
            let approx = if l.estimated_bytes > 0 { "≈" } else { "" };
            out.push_str(&format!(
                "{:>6} {:>10} {:>12} {:>12}  {}\n",
                l.line,
                thousands(l.hits),
                format!("{approx}{}", human_bytes(l.allocated_bytes)),
                signed(l.net_bytes),
                source_line(&l.file, l.line)
            ));
        }
    }
    if lines.is_empty() {
        let why = match (&report.not_instrumented, &report.snapshots.after) {
            (Some(why), _) => format!("the script ran without probes: {why}"),
            (None, None) => format!("{} to read them out", why_no_capture(report)),
            (None, Some(_)) => "no line ran".to_string(),
        };
        out.push_str(&format!("  (no per-line figures: {why})\n"));
    }
    if let Some(n) = report
        .sample
        .filter(|_| lines.iter().any(|l| l.estimated_bytes > 0))
    {
        out.push_str(&format!(
            "  ≈ includes an estimate: each line's first {n} allocating executions were measured \
             exactly, later ones from the bytes they requested (--sample=0 measures every \
             execution). Hits are always exact.\n"
        ));
    }
    for u in &report.unmeasured {
        out.push_str(&format!(
            "  {} runs without probes if imported: {}\n",
            u.file, u.reason
        ));
    }
    if let Some(peak) = &report.peak {
        let at = peak
            .line
            .map(|line| {
                let file = peak.file.as_deref().unwrap_or(&report.script_file);
                format!(" at {}", place(report, file, line))
            })
            .unwrap_or_default();
        out.push_str(&format!("  peak heap use {}{at}\n", human_bytes(peak.used)));
    }
    if let Some(code) = report.system_exit {
        out.push_str(&format!("  the script ended with SystemExit({code})\n"));
    }
    out.push_str(&render_allocation_lines(report, &source_line));

    match report.gc_collections {
        Some(0) | None => {}
        Some(n) => out.push_str(&format!(
            "  at least {n} garbage collection(s) ran during the run; growth across a collection \
             is not counted as freeing (use --exact for exact allocations)\n"
        )),
    }
    if report.exact {
        out.push_str("  exact mode: the collector was disabled during the run, so these are exact allocations — and a MemoryError comes sooner than in a normal run\n");
    }

    out.push_str(&render_timeline(report, &paint));

    out.push('\n');
    out.push_str(&paint("1", "Heap\n"));
    let s = &report.snapshots;
    let cols: Vec<(&str, Option<Stats>)> = vec![
        ("before", Some(s.before.stats())),
        ("after", s.after.as_ref().map(|x| x.stats())),
        ("after gc", s.after_gc.as_ref().map(|x| x.stats())),
    ];
    out.push_str(&format!("{:<20}", ""));
    for (name, _) in &cols {
        out.push_str(&format!("{name:>14}"));
    }
    out.push('\n');
    // A live capture has every figure; one damaged on the wire shows "?" where it lacks one.
    let known = |figure: Option<String>| figure.unwrap_or_else(|| "?".to_string());
    type Row = (&'static str, fn(&Stats) -> Option<String>);
    let rows: [Row; 7] = [
        ("used", |st| st.used.map(human_bytes)),
        ("free", |st| st.free.map(human_bytes)),
        ("1-blocks", |st| st.one_blocks.map(|n| n.to_string())),
        ("2-blocks", |st| st.two_blocks.map(|n| n.to_string())),
        ("largest allocation", |st| {
            st.max_block_blocks
                .zip(st.block_bytes)
                .map(|(n, b)| human_bytes(n * u64::from(b)))
        }),
        ("longest free run", |st| st.max_free_bytes.map(human_bytes)),
        ("fragmentation", |st| {
            st.fragmentation.map(|f| format!("{:.0}%", f * 100.0))
        }),
    ];
    for (name, f) in rows {
        out.push_str(&format!("{name:<20}"));
        for (_, st) in &cols {
            out.push_str(&format!(
                "{:>14}",
                st.as_ref().map_or("—".to_string(), |st| known(f(st)))
            ));
        }
        out.push('\n');
    }
    let d = &report.diff;
    let block_bytes = report.snapshots.before.block_bytes.map(u64::from);
    let run_bytes = |blocks: Option<u64>| match (blocks, block_bytes) {
        (Some(n), Some(b)) => Some(human_bytes(n * b)),
        (Some(n), None) => Some(format!("{n} blocks")),
        (None, _) => None,
    };
    if s.after_gc.is_none() {
        out.push_str(&format!(
            "no snapshots after the run: {} to take one; the board was soft-reset\n",
            why_no_capture(report)
        ));
    } else {
        out.push_str(&format!(
            "before → after gc: +{} allocated, −{} freed, net {}; longest free run {} → {}\n",
            known(d.allocated_bytes.map(human_bytes)),
            known(d.freed_bytes.map(human_bytes)),
            known(d.net_bytes.map(signed)),
            known(run_bytes(d.max_free_blocks_before)),
            known(run_bytes(d.max_free_blocks_after)),
        ));
    }

    out.push('\n');
    if report.diagnostics.is_empty() {
        out.push_str(&paint("32", "No problems found.\n"));
    } else {
        out.push_str(&paint("1", "Diagnostics\n"));
    }
    for diag in &report.diagnostics {
        let (code, word) = match diag.severity {
            Severity::Error => ("31", "error"),
            Severity::Warning => ("33", "warning"),
            Severity::Info => ("36", "note"),
        };
        out.push_str(&format!(
            "{} {} [{}]: {}\n",
            paint(code, word),
            place(report, &diag.file, diag.line),
            diag.code.as_str(),
            diag.message
        ));
        for r in &diag.related {
            out.push_str(&format!(
                "    {}: {}\n",
                place(report, &r.file, r.line),
                r.message
            ));
        }
    }
    out
}

/// The heap timeline section: a sparkline of heap use over the run, the peak, the floor's
/// trend. Empty when the run was shorter than two samples' interval (nothing to plot).
fn render_timeline(report: &RunReport, paint: &dyn Fn(&str, &str) -> String) -> String {
    let timeline = &report.timeline;
    let samples = timeline.samples();
    if samples.len() < 3 {
        return String::new();
    }
    let mut out = String::new();
    let span = timeline.span_ms().unwrap_or(0);
    out.push('\n');
    out.push_str(&paint("1", "Heap timeline\n"));
    out.push_str(&format!(
        "  {} samples over {:.1} s{}\n",
        thousands(timeline.received()),
        span as f64 / 1000.0,
        if timeline.received() > samples.len() as u64 {
            format!(
                " (the oldest thinned to {} kept)",
                thousands(samples.len() as u64)
            )
        } else {
            String::new()
        }
    ));
    // One column per slice of time, the most heap used in it, scaled between the least and
    // the most heap used in the run.
    const WIDTH: usize = 60;
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let low = samples.iter().map(|s| s.used).min().unwrap_or(0);
    let high = samples.iter().map(|s| s.used).max().unwrap_or(0);
    let mut columns = vec![None::<u64>; WIDTH];
    for s in samples {
        let column = (s.t_ms * (WIDTH as u64 - 1) / span.max(1)) as usize;
        let slot = &mut columns[column.min(WIDTH - 1)];
        *slot = Some(slot.map_or(s.used, |u| u.max(s.used)));
    }
    let mut line = String::new();
    let mut last = ' ';
    for column in columns {
        if let Some(used) = column {
            let level = ((used - low) * 7).checked_div(high - low).unwrap_or(0);
            last = BARS[level as usize];
        }
        line.push(last);
    }
    out.push_str(&format!(
        "  used {} │{line}│ {}\n",
        human_bytes(low),
        human_bytes(high)
    ));
    if let Some(peak) = timeline.peak() {
        out.push_str(&format!(
            "  peak {} used at {:.1} s ({} free)\n",
            human_bytes(peak.used),
            peak.t_ms as f64 / 1000.0,
            human_bytes(peak.free)
        ));
    }
    if let Some(growth) = timeline.floor_growth() {
        let per_second = growth.bytes as f64 * 1000.0 / growth.over_ms.max(1) as f64;
        out.push_str(&format!(
            "  floor (least heap in use) {} from the first third of the run to the last ({}/s)\n",
            signed(growth.bytes),
            if per_second >= 0.0 {
                format!("+{}", human_bytes(per_second as u64))
            } else {
                format!("−{}", human_bytes((-per_second) as u64))
            }
        ));
    }
    out
}

/// The largest traced allocations still alive after the run, with the line that made them
/// (empty without `--trace-allocations`).
fn render_allocation_lines(
    report: &RunReport,
    source_line: &dyn Fn(&str, u32) -> String,
) -> String {
    let Some(after) = report.snapshots.after.as_ref() else {
        return String::new();
    };
    if report.allocation_lines.is_empty() {
        return String::new();
    }
    let Some(block) = after.block_bytes.map(u64::from) else {
        return String::new();
    };
    let mut rows: Vec<(u64, &str, &str, u32)> = after
        .allocations()
        .filter_map(|a| {
            let offset = a.offset * block as usize;
            report
                .allocation_lines
                .iter()
                .find(|l| l.area == a.area && l.offset == offset && l.blocks == a.blocks)
                .map(|l| {
                    (
                        a.blocks as u64 * block,
                        a.kind.name(),
                        l.file.as_str(),
                        l.line,
                    )
                })
        })
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.2.cmp(b.2)).then(a.3.cmp(&b.3)));
    let mut out = format!(
        "\nLargest new allocations by line ({} traced)\n{:>10} {:>8} {:>6}  {}\n",
        rows.len(),
        "size",
        "kind",
        "line",
        "source"
    );
    for (bytes, kind, file, line) in rows.iter().take(10) {
        let text = source_line(file, *line);
        let line = if *file == report.script_file {
            line.to_string()
        } else {
            format!("{file}:{line}")
        };
        out.push_str(&format!(
            "{:>10} {:>8} {:>6}  {}\n",
            human_bytes(*bytes),
            kind,
            line,
            text
        ));
    }
    out
}

/// Why the board could not run the capture after the script (the runner then soft-resets it).
fn why_no_capture(report: &RunReport) -> &'static str {
    let locked = report
        .exception
        .as_deref()
        .is_some_and(|e| e.contains("heap is locked"));
    if locked {
        "the heap was still locked (heap_lock() without heap_unlock()), so the board could not compile the code"
    } else {
        "the heap was too full"
    }
}

fn signed(n: i64) -> String {
    if n < 0 {
        format!("−{}", human_bytes(n.unsigned_abs()))
    } else {
        format!("+{}", human_bytes(n as u64))
    }
}
