//! `heaplens check`: runs scripts (each on its own simulated Pico, in parallel) and checks
//! them against heap budgets. The budgets, verdicts and outputs are `crate::check`'s; this
//! file finds the scripts and the budget file, runs the boards, and prints.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::board::{Board, BoardSpec, CancelToken, LinkOptions, SandboxStatus, SimOptions};
use crate::check::config::{parse_config, Config, ConfigKind, ScriptSettings};
use crate::check::{self, Budgets, Figures, Outcome, ScriptResult};
use crate::diagnose::{human_bytes, Thresholds};
use crate::run::runner::{self, RunOptions, RunReport, Sampling};

/// Seconds a script may run when neither the flag nor the budget file says (CI must not hang
/// on a script that never ends).
const DEFAULT_TIMEOUT_SECONDS: u64 = 300;

/// A size flag: bytes, `64K`, `1.5M`.
fn size_arg(text: &str) -> Result<u64, String> {
    check::parse_size(text).map_err(|e| e.to_string())
}

/// The arguments of `heaplens check`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// Scripts, or folders (each `.py` file directly in a folder is a script). Default: the
    /// budget file's `paths`.
    pub paths: Vec<PathBuf>,
    /// `sim` (default: each script on its own simulated Pico, in parallel), or a board (a
    /// port path, `id:SERIAL`, `auto`): then scripts run one at a time, each after a soft
    /// reset.
    #[arg(long, default_value = "sim")]
    pub board: BoardSpec,
    /// Scripts run at once on simulated Picos (default: the number of cores).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// The simulated Pico's heap (bytes, 64K, 1.5M; default 230K, a Pico's).
    #[arg(long, value_name = "SIZE", value_parser = size_arg)]
    pub heap: Option<u64>,
    /// Budget: the highest heap use during the run.
    #[arg(long, value_name = "SIZE", value_parser = size_arg)]
    pub max_peak: Option<u64>,
    /// Budget: heap use after the run's final gc.collect().
    #[arg(long, value_name = "SIZE", value_parser = size_arg)]
    pub max_after_gc: Option<u64>,
    /// Budget: the longest free run after the final collection must be at least this large.
    #[arg(long, value_name = "SIZE", value_parser = size_arg)]
    pub min_free_run: Option<u64>,
    /// Budget: bytes any one line may allocate over the whole run.
    #[arg(long, value_name = "SIZE", value_parser = size_arg)]
    pub max_line: Option<u64>,
    /// The budget file (default: the nearest heaplens.toml, or pyproject.toml with
    /// [tool.heaplens], from the working folder up).
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    pub config: Option<PathBuf>,
    /// Ignore budget files: only the flags' budgets apply.
    #[arg(long)]
    pub no_config: bool,
    /// The project folder of every script (default: each script's folder).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Seconds before a script is stopped and counted as not run (0 = no limit; default 300).
    #[arg(long, value_name = "SECONDS", value_parser = super::parse_timeout)]
    pub timeout: Option<super::Timeout>,
    /// Print a JSON summary on stdout instead of the table (problems then go to stderr).
    #[arg(long)]
    pub json: bool,
    /// Write JUnit XML: a testcase per script, a failure per violation, figures as properties.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a self-contained HTML report per script into this folder.
    #[arg(long, value_name = "DIR")]
    pub html: Option<PathBuf>,
}

/// A script's result, with its run's report when it ran (for `--html`).
type Checked = (ScriptResult, Option<RunReport>);

/// A script to check, with everything its run needs.
struct Job {
    /// As shown to the user (relative to the working folder where possible).
    display: String,
    path: PathBuf,
    settings: ScriptSettings,
    budgets: Budgets,
}

pub fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the working folder")?;
    let config = if args.no_config {
        None
    } else {
        load_config(args.config.as_deref(), &cwd)?
    };
    if let Some((path, _)) = &config {
        if !args.json {
            eprintln!("heaplens: budgets from {}", display_path(path, &cwd));
        }
    }
    let config_dir = config
        .as_ref()
        .and_then(|(path, _)| path.parent().map(Path::to_path_buf));
    let config = config.map(|(_, c)| c).unwrap_or_default();

    // What to check: the arguments, else the file's `paths` (relative to its folder).
    let roots: Vec<PathBuf> = if !args.paths.is_empty() {
        args.paths.clone()
    } else if let (Some(dir), false) = (&config_dir, config.paths.is_empty()) {
        config.paths.iter().map(|p| dir.join(p)).collect()
    } else {
        anyhow::bail!(
            "no scripts to check: name scripts or folders (`heaplens check main.py examples/`), \
             or list them as `paths` under [tool.heaplens] in pyproject.toml"
        );
    };
    let scripts = expand_scripts(&roots)?;

    let flags = ScriptSettings {
        budgets: Budgets {
            max_peak: args.max_peak,
            max_after_gc: args.max_after_gc,
            min_free_run: args.min_free_run,
            max_line: args.max_line,
        },
        heap: args.heap,
        timeout_seconds: args.timeout.map(|t| t.0.map_or(0, |d| d.as_secs().max(1))),
    };
    let jobs: Vec<Job> = scripts
        .into_iter()
        .map(|path| {
            let relative = config_dir
                .as_deref()
                .and_then(|dir| path.strip_prefix(dir).ok())
                .map(|p| p.to_string_lossy().replace('\\', "/"));
            let from_file = relative
                .as_deref()
                .map_or(config.settings, |r| config.settings_for(r));
            let settings = from_file.overridden_by(flags);
            if let Some(heap) = settings.heap {
                let (min, max) = (
                    crate::lsp::settings::SIM_HEAP_MIN,
                    crate::lsp::settings::SIM_HEAP_MAX,
                );
                if !(min..=max).contains(&heap) {
                    anyhow::bail!(
                        "heap {heap} for {} is out of range: the simulated Pico's heap is {} to {}",
                        display_path(&path, &cwd),
                        human_bytes(min),
                        human_bytes(max)
                    );
                }
            }
            Ok(Job {
                display: display_path(&path, &cwd),
                budgets: settings.budgets,
                settings,
                path,
            })
        })
        .collect::<anyhow::Result<_>>()?;

    let simulated = matches!(args.board, BoardSpec::Simulated);
    // Said once, before anything runs, rather than once per script.
    if simulated && !cfg!(target_os = "linux") {
        anyhow::bail!(
            "`heaplens check` runs each script on a simulated Pico, which needs Linux: check \
             them on a board with `--board PORT` (`heaplens ports` lists them), or run the \
             check on Linux (in CI: a Linux runner)"
        );
    }
    let workers = if simulated {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        usize::from(args.jobs.unwrap_or(0)).max(if args.jobs.is_some() { 1 } else { cores })
    } else {
        // One board: one script at a time.
        1
    }
    .min(jobs.len().max(1));

    let cancel = super::stop::stop_token();
    let progress = Progress::new(jobs.len(), std::io::stderr().is_terminal());
    let results: Vec<Mutex<Option<Checked>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let project = args.project.clone();
    let warned_sandbox = Mutex::new(false);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                let Some(job) = jobs.get(index) else {
                    break;
                };
                progress.started(&job.display);
                let result = check_one(
                    job,
                    &args.board,
                    project.as_deref(),
                    &cwd,
                    &cancel,
                    &warned_sandbox,
                );
                progress.finished(&job.display, &result.0);
                *results[index].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
            });
        }
    });
    progress.clear();
    let (results, reports): (Vec<ScriptResult>, Vec<Option<RunReport>>) = results
        .into_iter()
        .filter_map(|slot| slot.into_inner().unwrap_or_else(|e| e.into_inner()))
        .unzip();

    if let Some(file) = &args.junit {
        std::fs::write(file, check::junit_xml(&results))
            .with_context(|| format!("cannot write {}", file.display()))?;
    }
    if let Some(dir) = &args.html {
        write_html_reports(dir, &jobs, &reports, &results)?;
    }
    let problems = check::problem_lines(&results);
    if args.json {
        eprint!("{problems}");
        println!(
            "{}",
            serde_json::to_string_pretty(&check::to_json(&results))?
        );
    } else {
        print!("{problems}");
        if !problems.is_empty() {
            println!();
        }
        print!("{}", check::summary_table(&results));
    }
    Ok(ExitCode::from(check::exit_code(&results)))
}

/// Writes `DIR/<script>.html` for every script that ran.
fn write_html_reports(
    dir: &Path,
    jobs: &[Job],
    reports: &[Option<RunReport>],
    results: &[ScriptResult],
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for ((job, report), result) in jobs.iter().zip(reports).zip(results) {
        let Some(report) = report else { continue };
        let name: String = job
            .display
            .trim_start_matches("./")
            .chars()
            .map(|c| {
                if c == '/' || c == '\\' || c == ':' {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        let file = dir.join(format!("{}.html", name.trim_end_matches(".py")));
        let source = std::fs::read_to_string(&job.path).unwrap_or_default();
        let html = super::html::report_html(report, &source, Some(result));
        std::fs::write(&file, html).with_context(|| format!("cannot write {}", file.display()))?;
    }
    Ok(())
}

/// Runs one script and judges it. Never fails: a script that could not run is an
/// [`Outcome::Error`] naming why.
fn check_one(
    job: &Job,
    board_spec: &BoardSpec,
    project: Option<&Path>,
    cwd: &Path,
    cancel: &CancelToken,
    warned_sandbox: &Mutex<bool>,
) -> Checked {
    let started = Instant::now();
    let result = |outcome: Outcome| ScriptResult {
        script: job.display.clone(),
        budgets: job.budgets,
        elapsed: started.elapsed(),
        outcome,
    };
    match run_job(job, board_spec, project, cancel, warned_sandbox) {
        Err(err) => (
            result(Outcome::Error {
                reason: format!("{err:#}"),
            }),
            None,
        ),
        Ok((report, root)) => {
            // The report names files relative to the project root; the user reads them
            // relative to the working folder.
            let user_path = |file: &str| display_path(&root.join(file), cwd);
            let outcome = match could_not_judge(&report) {
                Some(reason) => Outcome::Error { reason },
                None => {
                    let figures = Figures::from_report(&report);
                    let violations = check::evaluate(&figures, &job.budgets)
                        .into_iter()
                        .map(|v| check::Violation {
                            file: user_path(&v.file),
                            ..v
                        })
                        .collect();
                    Outcome::Ran {
                        figures: Box::new(figures),
                        violations,
                        output: report.output.clone(),
                    }
                }
            };
            (result(outcome), Some(report))
        }
    }
}

/// Why a finished run cannot be judged against budgets: it was stopped, it raised something
/// other than MemoryError, or it exited with a failure code.
fn could_not_judge(report: &RunReport) -> Option<String> {
    if report.timed_out {
        return Some("the script did not finish within the timeout".to_string());
    }
    if report.interrupted {
        return Some("the check was interrupted".to_string());
    }
    if let Some(code) = report.system_exit {
        return (code != 0).then(|| format!("the script ended with SystemExit({code})"));
    }
    match report.exception.as_deref() {
        Some(e) if !e.starts_with("MemoryError") => {
            let at = report
                .diagnostics
                .iter()
                .find(|d| d.severity == crate::diagnose::Severity::Error)
                .map(|d| format!(" ({} line {})", d.file, d.line))
                .unwrap_or_default();
            Some(format!("the script raised {e}{at}"))
        }
        _ => None,
    }
}

/// Opens the board and runs the script with probes. Returns the report and the project root.
fn run_job(
    job: &Job,
    board_spec: &BoardSpec,
    project: Option<&Path>,
    cancel: &CancelToken,
    warned_sandbox: &Mutex<bool>,
) -> anyhow::Result<(RunReport, PathBuf)> {
    let bytes =
        std::fs::read(&job.path).with_context(|| format!("cannot read {}", job.path.display()))?;
    let source = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("not UTF-8 text: MicroPython needs UTF-8 source"))?;
    let script = super::run_cmd::project_script(&job.path, project, source)?;
    let root = script
        .project
        .as_deref()
        .map(|p| p.root().to_path_buf())
        .unwrap_or_default();
    let sim = SimOptions {
        heap_bytes: job
            .settings
            .heap
            .map_or(crate::board::DEFAULT_SIM_HEAP_BYTES, |b| {
                usize::try_from(b).unwrap_or(usize::MAX)
            }),
        // Each simulated Pico runs one script: a spare interpreter would only cost a core.
        warm_spare: false,
        ..SimOptions::default()
    };
    let mut board = Board::open(board_spec, &sim, &LinkOptions::default())
        .with_context(|| format!("opening board `{board_spec}`"))?;
    if let Some(SandboxStatus::NotSandboxed { reason }) = &board.info().sandbox {
        let mut warned = warned_sandbox.lock().unwrap_or_else(|e| e.into_inner());
        if !*warned {
            *warned = true;
            eprintln!(
                "heaplens: warning: the simulated Pico is not sandboxed on this machine \
                 ({reason}): scripts can read and write your files and run programs"
            );
        }
    }
    let timeout = match job.settings.timeout_seconds {
        Some(0) => None,
        Some(s) => Some(Duration::from_secs(s)),
        None => Some(Duration::from_secs(DEFAULT_TIMEOUT_SECONDS)),
    };
    let options = RunOptions {
        exact: false,
        soft_reset: true,
        timeout,
        thresholds: Thresholds::default(),
        trace_allocations: false,
        sampling: Sampling::Auto,
        input: None,
        // The HTML report plots it.
        sample_every_ms: Some(crate::run::timeline::DEFAULT_SAMPLE_EVERY_MS),
    };
    let report = runner::run_script(&mut board, &script, &options, &mut |_| {}, cancel);
    board.close();
    Ok((report?, root))
}

/// `path` relative to the working folder when it lies inside it, else as it is.
fn display_path(path: &Path, cwd: &Path) -> String {
    let shown = path.strip_prefix(cwd).unwrap_or(path);
    shown.to_string_lossy().replace('\\', "/")
}

/// The scripts named: files as they are, folders as their `.py` files (not subfolders: a
/// project's `lib/` and packages hold modules, not programs), sorted; each script once.
fn expand_scripts(roots: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut scripts = Vec::new();
    for root in roots {
        let meta = std::fs::metadata(root)
            .with_context(|| format!("{}: no such script or folder", root.display()))?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(root)
                .with_context(|| format!("cannot list {}", root.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "py"))
                .collect();
            found.sort();
            if found.is_empty() {
                anyhow::bail!("{}: no .py scripts in this folder", root.display());
            }
            scripts.extend(found);
        } else {
            scripts.push(root.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    let mut unique = Vec::new();
    for script in scripts {
        let absolute = std::fs::canonicalize(&script)
            .with_context(|| format!("cannot read {}", script.display()))?;
        if seen.insert(absolute) {
            unique.push(if script.is_absolute() {
                script
            } else {
                std::env::current_dir()?.join(script)
            });
        }
    }
    Ok(unique)
}

/// The budget file: `--config FILE`, else the nearest `heaplens.toml` or `pyproject.toml` with
/// a `[tool.heaplens]` table from `start` up (a `heaplens.toml` wins in the same folder).
fn load_config(explicit: Option<&Path>, start: &Path) -> anyhow::Result<Option<(PathBuf, Config)>> {
    let read = |path: &Path| -> anyhow::Result<Option<Config>> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let kind = if path.file_name().is_some_and(|n| n == "pyproject.toml") {
            ConfigKind::Pyproject
        } else {
            ConfigKind::HeaplensToml
        };
        parse_config(&text, kind).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    };
    if let Some(path) = explicit {
        let absolute = std::path::absolute(path)?;
        return Ok(Some((
            absolute.clone(),
            read(&absolute)?
                .ok_or_else(|| anyhow::anyhow!("{}: no [tool.heaplens] table", path.display()))?,
        )));
    }
    for dir in start.ancestors() {
        for name in ["heaplens.toml", "pyproject.toml"] {
            let path = dir.join(name);
            if path.is_file() {
                if let Some(config) = read(&path)? {
                    return Ok(Some((path, config)));
                }
            }
        }
    }
    Ok(None)
}

/// The progress line on stderr: redrawn in place on a terminal, a line per finished script
/// otherwise (CI logs).
struct Progress {
    total: usize,
    terminal: bool,
    state: Mutex<(usize, Vec<String>)>,
}

impl Progress {
    fn new(total: usize, terminal: bool) -> Arc<Progress> {
        Arc::new(Progress {
            total,
            terminal,
            state: Mutex::new((0, Vec::new())),
        })
    }

    fn started(&self, script: &str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.1.push(script.to_string());
        self.draw(&state);
    }

    fn finished(&self, script: &str, result: &ScriptResult) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0 += 1;
        state.1.retain(|s| s != script);
        if !self.terminal {
            eprintln!(
                "heaplens: [{}/{}] {script}: {} ({:.1} s)",
                state.0,
                self.total,
                result.verdict().word(),
                result.elapsed.as_secs_f64()
            );
        }
        self.draw(&state);
    }

    fn draw(&self, state: &(usize, Vec<String>)) {
        if !self.terminal {
            return;
        }
        let running = state.1.join(", ");
        let line: String = format!("heaplens: [{}/{}] checking {running}", state.0, self.total)
            .chars()
            .take(100)
            .collect();
        let mut err = std::io::stderr();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    }

    fn clear(&self) {
        if self.terminal {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}
