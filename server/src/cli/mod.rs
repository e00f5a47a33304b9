//! The `heaplens` command line: argument parsing and dispatch. Each subcommand's work lives in
//! a module of its own; this file only knows the shape of the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod board_cmds;
mod check_cmd;
mod heap_cmds;
mod html;
mod run_cmd;
mod stop;

/// Where a MicroPython heap goes.
#[derive(Debug, Parser)]
#[command(name = "heaplens", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Which board a command talks to.
#[derive(Debug, Clone, Args)]
pub struct BoardArgs {
    /// `auto` (a detected MicroPython board, else the simulated Pico), `sim`, a port path
    /// such as /dev/ttyACM0, or `id:SERIAL`.
    #[arg(long, default_value = "auto")]
    pub board: crate::board::BoardSpec,
    #[command(flatten)]
    pub heap: HeapArg,
}

/// The simulated Pico's heap.
#[derive(Debug, Clone, Copy, Args)]
pub struct HeapArg {
    /// Simulated board heap in bytes (`-X heapsize`; GC total is slightly smaller).
    #[arg(long = "heap", default_value_t = crate::board::DEFAULT_SIM_HEAP_BYTES as u64,
          value_parser = clap::value_parser!(u64).range(
              crate::lsp::settings::SIM_HEAP_MIN..=crate::lsp::settings::SIM_HEAP_MAX))]
    pub bytes: u64,
}

impl HeapArg {
    /// How to start the simulated Pico for one command. A one-shot command never resets
    /// the board it just started, so it keeps no spare interpreter warm: starting one would
    /// take a core from the script being measured.
    pub fn sim_options(self) -> crate::board::SimOptions {
        crate::board::SimOptions {
            heap_bytes: usize::try_from(self.bytes).unwrap_or(usize::MAX),
            warm_spare: false,
            ..crate::board::SimOptions::default()
        }
    }
}

/// Which dumps of a capture to show: a capture (a device log, a series of REPL calls) may
/// hold several.
#[derive(Debug, Clone, Copy, Args)]
pub struct DumpPick {
    /// Show every dump of the capture (JSON: a list, each object with its `dump` number).
    #[arg(long, conflicts_with = "index")]
    pub all: bool,
    /// Show dump N of the capture (numbered from 1); without it, the first, with a warning
    /// when there are more.
    #[arg(long, value_name = "N")]
    pub index: Option<usize>,
}

impl DumpPick {
    fn pick(self) -> heap_cmds::Pick {
        if self.all {
            heap_cmds::Pick::All
        } else {
            heap_cmds::Pick::One(self.index)
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Figures of a mem_info dump: header, recomputed counts, fragmentation. A figure the
    /// dump does not determine is "unknown" (null in JSON), with a warning saying why.
    Stats {
        /// Dump file (any capture or paste of mem_info output), or `-` for stdin.
        dump: PathBuf,
        #[command(flatten)]
        pick: DumpPick,
        /// Print the figures as JSON (the `Stats` object of server/PROTOCOL.md) instead of a
        /// table; warnings go into its `warnings` instead of stderr.
        #[arg(long)]
        json: bool,
    },
    /// Terminal heap map of a dump, with legend and stats header.
    Map {
        /// Dump file, or `-` for stdin.
        dump: PathBuf,
        #[command(flatten)]
        pick: DumpPick,
        /// Blocks per row.
        #[arg(long, default_value_t = 64)]
        columns: usize,
        /// Alternate colours per allocation instead of colouring by kind.
        #[arg(long)]
        rainbow: bool,
        /// Draw free blocks visibly.
        #[arg(long)]
        show_free: bool,
        /// No ANSI colours (also when NO_COLOR is set or stdout is not a terminal).
        #[arg(long)]
        no_color: bool,
    },
    /// Difference between two dumps: coloured map plus totals.
    Diff {
        /// Dump file (`-` for stdin); `FILE#N` takes dump N (from 1) of a capture of several
        /// (`-#N` of stdin).
        #[arg(allow_hyphen_values = true)]
        before: PathBuf,
        /// Dump file (`-` for stdin); `FILE#N` takes dump N (from 1) of a capture of several
        /// (`-#N` of stdin).
        #[arg(allow_hyphen_values = true)]
        after: PathBuf,
        /// Print the difference as JSON: totals, the largest new and freed allocations, and
        /// for each changed area its blocks as a run string (`runs`: `<count><letter>` runs,
        /// `-` unchanged, `a` allocated, `f` freed, `c` changed; a count of 1 left out).
        #[arg(long)]
        json: bool,
        /// No ANSI colours (also when NO_COLOR is set or stdout is not a terminal).
        #[arg(long)]
        no_color: bool,
    },
    /// Detected boards, and the simulated one.
    Ports {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run code on the board and stream its output; non-zero exit on a traceback.
    Exec {
        #[command(flatten)]
        board: BoardArgs,
        /// Python source to run.
        code: String,
        /// Seconds before the running code is interrupted (0 = no limit; at most a day).
        #[arg(long, default_value = "0", value_parser = parse_timeout)]
        timeout: Timeout,
    },
    /// Take a mem_info(1) snapshot from the board and show it as `map` does.
    Capture {
        #[command(flatten)]
        board: BoardArgs,
        /// Print the stats JSON (as `stats --json`) plus the dump text under `raw`.
        #[arg(long, conflicts_with = "raw")]
        json: bool,
        /// Print the board's dump text exactly as received instead of a map; `stats`, `map`,
        /// `diff` and the editor read it back.
        #[arg(long)]
        raw: bool,
        /// Also write the board's dump text, exactly as received, to FILE.
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
        /// Run gc.collect() first.
        #[arg(long)]
        gc: bool,
        /// Soft-reset the board first.
        #[arg(long)]
        reset: bool,
        /// No ANSI colours (also when NO_COLOR is set or stdout is not a terminal).
        #[arg(long)]
        no_color: bool,
    },
    /// Serve the simulated Pico on a pseudo-terminal that any host tool can open.
    Sim {
        /// Also create a symlink at this path pointing to the pty.
        #[arg(long)]
        link: Option<PathBuf>,
        #[command(flatten)]
        heap: HeapArg,
    },
    /// Run a script with heap captures and per-line allocation deltas.
    Run {
        /// The MicroPython script to run (UTF-8).
        script: PathBuf,
        #[command(flatten)]
        board: BoardArgs,
        #[command(flatten)]
        flags: run_cmd::Flags,
    },
    /// Run scripts on simulated Picos and check them against heap budgets (exit 0 within
    /// budget, 1 over budget, 2 when a script could not run or on a usage error).
    Check(check_cmd::CheckArgs),
    /// Language server over stdio.
    Lsp,
}

/// A `--timeout`: `None` means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout(pub Option<std::time::Duration>);

/// A timeout in seconds: a finite number from 0 (no limit) to a day (`inf`, `nan`, `1e300`
/// and negative numbers are refused with a message, never a panic).
pub(crate) fn parse_timeout(text: &str) -> Result<Timeout, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    let max = crate::lsp::settings::RUN_TIMEOUT_MAX_SECONDS;
    if !seconds.is_finite() || !(0.0..=max).contains(&seconds) {
        return Err(format!(
            "{text:?} is not a timeout: use seconds from 0 (no limit) to {max} (a day)"
        ));
    }
    Ok(Timeout(
        (seconds > 0.0).then(|| std::time::Duration::from_secs_f64(seconds)),
    ))
}

/// A report piped into a reader that stops early (`heaplens run … | head`) ends the process
/// quietly, as any Unix tool does, instead of `println!` panicking on EPIPE. Rust ignores
/// SIGPIPE by default; this restores the default action. The simulated Pico's interpreters
/// die with their parent (PR_SET_PDEATHSIG). Not for the language server: its stdout closing
/// is the client going away, which it handles itself.
fn reader_gone_ends_quietly() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Entry point of the binary. Errors are printed to stderr with a non-zero exit code.
pub fn main() -> ExitCode {
    crate::logging::init();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Lsp) {
        reader_gone_ends_quietly();
    }
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("heaplens: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Stats { dump, pick, json } => heap_cmds::stats(&dump, pick.pick(), json),
        Command::Map {
            dump,
            pick,
            columns,
            rainbow,
            show_free,
            no_color,
        } => heap_cmds::map(
            &dump,
            pick.pick(),
            crate::heap::render::MapOptions {
                columns,
                rainbow,
                show_free,
                color: heap_cmds::use_color(no_color),
            },
        ),
        Command::Diff {
            before,
            after,
            json,
            no_color,
        } => heap_cmds::diff(&before, &after, json, no_color),
        Command::Ports { json } => board_cmds::ports(json),
        Command::Exec {
            board,
            code,
            timeout,
        } => board_cmds::exec(&board, &code, timeout.0),
        Command::Capture {
            board,
            json,
            raw,
            save,
            gc,
            reset,
            no_color,
        } => board_cmds::capture(
            &board,
            board_cmds::CaptureOutput {
                json,
                raw,
                save,
                no_color,
            },
            gc,
            reset,
        ),
        Command::Sim { link, heap } => board_cmds::sim(link.as_deref(), heap),
        Command::Run {
            script,
            board,
            flags,
        } => run_cmd::run(&script, &board, flags),
        Command::Check(args) => check_cmd::check(args),
        Command::Lsp => {
            crate::lsp::serve_stdio()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
