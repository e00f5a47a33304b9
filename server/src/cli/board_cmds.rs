//! `heaplens ports | exec | capture | sim`: talk to a board (or the simulated Pico).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::BoardArgs;
use crate::board::{
    discovery, find_interpreter, Board, CancelToken, LinkError, LinkOptions, SandboxStatus,
    SimHandle, SimOptions, Watchdog,
};

pub(super) fn open_board(args: &BoardArgs, opts: &LinkOptions) -> anyhow::Result<Board> {
    let board = Board::open(&args.board, &args.heap.sim_options(), opts)
        .with_context(|| format!("opening board `{}`", args.board))?;
    if let Some(SandboxStatus::NotSandboxed { reason }) = &board.info().sandbox {
        warn_not_sandboxed(reason);
    }
    Ok(board)
}

/// On the command line the user asked for the run themselves: a warning is enough.
fn warn_not_sandboxed(reason: &str) {
    eprintln!(
        "heaplens: warning: the simulated Pico is not sandboxed on this machine ({reason}): \
         the script can read and write your files and run programs"
    );
}

/// Options for one-shot commands: no identification round trip (speed matters).
fn cli_link_options() -> LinkOptions {
    LinkOptions {
        identify_on_open: false,
        ..LinkOptions::default()
    }
}

pub fn ports(json: bool) -> anyhow::Result<ExitCode> {
    let ports = discovery::list_ports();
    // The simulated Pico runs on Linux only: elsewhere there is no interpreter to look for.
    let supported = cfg!(target_os = "linux");
    let interpreter = find_interpreter().ok().filter(|_| supported);
    if json {
        let value = serde_json::json!({
            "ports": ports,
            "simulated": {
                "board": "sim",
                "description": "Simulated Pico",
                "supported": supported,
                "interpreter": interpreter.as_ref().map(|p| p.display().to_string()),
            },
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    for port in &ports {
        let id = match (port.vid, port.pid) {
            (Some(vid), Some(pid)) => format!("{vid:04x}:{pid:04x}"),
            _ => "-".to_string(),
        };
        let mark = if port.rank.is_some() { "*" } else { " " };
        println!(
            "{mark} {}  {id}  {}  {}  {}",
            port.port_name,
            port.manufacturer.as_deref().unwrap_or("-"),
            port.product.as_deref().unwrap_or("-"),
            port.serial_number.as_deref().unwrap_or("-"),
        );
    }
    match interpreter {
        Some(path) => println!("  sim: Simulated Pico ({})", path.display()),
        None if !supported => println!("  sim: Simulated Pico (needs Linux: attach a board)"),
        None => println!("  sim: Simulated Pico (not installed: run `bash scripts/setup.sh`)"),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn exec(board: &BoardArgs, code: &str, timeout: Option<Duration>) -> anyhow::Result<ExitCode> {
    let stop = super::stop::stop_token();
    let mut board = open_board(board, &cli_link_options())?;
    let cancel = CancelToken::new();
    // Ctrl-C/SIGTERM or the --timeout interrupts the code on the board.
    let watchdog = Watchdog::start(stop, cancel.clone(), timeout);
    let mut stdout = std::io::stdout();
    // Framed, so a `\x04` the code prints is output like any other byte.
    let result = crate::run::plain::exec_as_is(
        &mut board,
        code,
        &mut |bytes| {
            let _ = stdout.write_all(bytes);
            let _ = stdout.flush();
        },
        &cancel,
    );
    drop(watchdog);
    let outcome = result?;
    board.close();
    match outcome.traceback {
        Some(traceback) => {
            let text = traceback.replace("\r\n", "\n");
            eprint!("{text}");
            if !text.ends_with('\n') {
                eprintln!();
            }
            Ok(ExitCode::from(1))
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

/// What `heaplens capture` prints and saves.
pub struct CaptureOutput {
    pub json: bool,
    /// Print the dump text exactly as received instead of a map.
    pub raw: bool,
    /// Also write the dump text exactly as received to this file.
    pub save: Option<std::path::PathBuf>,
    pub no_color: bool,
}

pub fn capture(
    board: &BoardArgs,
    output: CaptureOutput,
    gc: bool,
    reset: bool,
) -> anyhow::Result<ExitCode> {
    // Hidden knob for the benchmark: repeat the capture on the open link N times and report
    // the time per capture on stderr.
    let repeat: u32 = std::env::var("HEAPLENS_CAPTURE_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let mut board = open_board(board, &cli_link_options())?;
    if reset {
        board.soft_reset().context("soft reset")?;
    }
    let started = std::time::Instant::now();
    let mut text = Vec::new();
    for _ in 0..repeat {
        text = board.capture_mem_info(gc)?;
    }
    if repeat > 1 {
        let per = started.elapsed() / repeat;
        eprintln!("heaplens: {repeat} captures, {per:?} per capture on the open link");
    }
    board.close();
    if let Some(path) = &output.save {
        std::fs::write(path, &text)
            .with_context(|| format!("cannot write the dump to {}", path.display()))?;
        eprintln!("heaplens: dump saved to {}", path.display());
    }
    if output.raw {
        super::heap_cmds::print_bytes(&text)?;
        return Ok(ExitCode::SUCCESS);
    }
    show_capture(&text, output.json, output.no_color)?;
    Ok(ExitCode::SUCCESS)
}

/// Shows a capture as `heaplens map` does (warnings on stderr), or as the stats JSON plus
/// the raw text.
fn show_capture(text: &[u8], json: bool, no_color: bool) -> anyhow::Result<()> {
    let snapshot =
        crate::heap::parse_dump(text).context("reading the board's mem_info(1) output")?;
    if json {
        let raw = String::from_utf8_lossy(text).replace("\r\n", "\n");
        let mut value = serde_json::to_value(snapshot.stats())?;
        value["raw"] = serde_json::Value::String(raw);
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        let options = crate::heap::render::MapOptions {
            columns: 64,
            rainbow: false,
            show_free: false,
            color: super::heap_cmds::use_color(no_color),
        };
        super::heap_cmds::print_bytes(
            crate::heap::render::render_map(&snapshot, &options).as_bytes(),
        )?;
        super::heap_cmds::warn(&snapshot.stats().warnings, None);
    }
    Ok(())
}

pub fn sim(link: Option<&Path>, heap: super::HeapArg) -> anyhow::Result<ExitCode> {
    let stop = super::stop::stop_token();
    let handle = SimHandle::start(SimOptions {
        link: link.map(Path::to_path_buf),
        // A linked board serves one client after another, each starting with a soft reset.
        warm_spare: true,
        ..heap.sim_options()
    })?;
    if let SandboxStatus::NotSandboxed { reason } = handle.sandbox() {
        warn_not_sandboxed(reason);
    }
    let mut generation = handle.generation();
    let path = handle.wait_path(Duration::from_secs(5))?;
    println!("{}", path.display());
    std::io::stdout().flush()?;
    eprintln!(
        "heaplens sim: Simulated Pico on {} (Ctrl-C to stop)",
        path.display()
    );
    while !stop.is_cancelled() {
        std::thread::sleep(Duration::from_millis(50));
        if let Some(msg) = handle.failure() {
            return Err(LinkError::Simulator(msg).into());
        }
        let now = handle.generation();
        if now != generation {
            generation = now;
            if let Some(path) = handle.path() {
                eprintln!(
                    "heaplens sim: the interpreter died; the board is back on {}",
                    path.display()
                );
            }
        }
    }
    drop(handle);
    Ok(ExitCode::SUCCESS)
}
