//! The `heaplens` command line: argument parsing and dispatch. Each subcommand's work lives in
//! a module of its own; this file only knows the shape of the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod board_cmds;
mod heap_cmds;
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
    pub board: String,
    /// Simulated board heap in bytes (GC total is slightly smaller).
    #[arg(long, default_value_t = 194_300)]
    pub heap: usize,
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
        /// per area the runs of changed blocks (`start`, `blocks`, `change`).
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
        /// Seconds before the running code is interrupted (0 = no limit).
        #[arg(long, default_value_t = 0.0)]
        timeout: f64,
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
        /// Simulated board heap in bytes (GC total is slightly smaller).
        #[arg(long, default_value_t = 194_300)]
        heap: usize,
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
    /// Language server over stdio.
    Lsp,
}

/// Entry point of the binary. Errors are printed to stderr with a non-zero exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
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
        } => board_cmds::exec(&board, &code, timeout),
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
        Command::Lsp => {
            crate::lsp::serve_stdio()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
