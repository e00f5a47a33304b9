//! Benchmark (not a test): a loop-heavy script on the simulated board, run plain (raw-REPL
//! exec) and as `heaplens run` does it (`run_script`: prologue, before snapshot, instrumented
//! script, after and after-gc snapshots, readout), alternating on one board, as ratios. Run
//! with `cargo bench --bench run_overhead`.
//!
//! Both sides start from a board that was soft-reset and then left alone for 300 ms: a reset
//! of the simulated board starts its next spare interpreter in the background, and that
//! start-up would otherwise land inside whichever run comes next.
//!
//! Each script runs in four modes: every execution probed (the default) and sampled
//! (`--sample 64`: loop and function bodies probed for their first 64 executions), each with
//! and without `--exact`.
//!
//! Two ratios per script and mode: the script phase alone (plain exec vs the instrumented
//! exec, timed between the runner's `Running` and `After` phase events), and the whole run
//! (exec vs everything `run_script` does after the reset, captures included).

use std::time::{Duration, Instant};

use heaplens::board::{Board, BoardSpec, CancelToken, LinkOptions, SimOptions};
use heaplens::run::runner::{run_script, Phase, RunEvent, RunOptions, Sampling, Script};

/// The same two loops as `instrument_overhead` (which times the bare interpreter).
const TYPICAL_LOOP: &str = include_str!("scripts/typical_loop.py");

const TIGHT_LOOPS: &str = include_str!("scripts/tight_loops.py");

const RUNS: usize = 15;

struct Sample {
    plain_script: Duration,
    plain_whole: Duration,
    probed_script: Duration,
    probed_whole: Duration,
}

/// A soft reset, then a pause: the simulated board replaces its interpreter at each reset and
/// starts the next spare in the background, which would otherwise compete with the timed run.
fn settle(board: &mut Board) -> anyhow::Result<()> {
    board.soft_reset()?;
    std::thread::sleep(Duration::from_millis(300));
    Ok(())
}

fn plain_run(board: &mut Board, script: &str) -> anyhow::Result<(Duration, Duration, Vec<u8>)> {
    settle(board)?;
    let started = Instant::now();
    let exec_started = Instant::now();
    let outcome = board.exec(script, &mut |_| {}, &CancelToken::new())?;
    let done = Instant::now();
    if let Some(tb) = outcome.traceback {
        anyhow::bail!("the plain run raised: {tb}");
    }
    Ok((done - exec_started, done - started, outcome.stdout))
}

fn instrumented_run(
    board: &mut Board,
    script: &str,
    options: &RunOptions,
) -> anyhow::Result<(Duration, Duration, String)> {
    settle(board)?;
    let options = RunOptions {
        soft_reset: false,
        ..options.clone()
    };
    let (mut running, mut after) = (None, None);
    let started = Instant::now();
    let report = run_script(
        board,
        &Script::lone(script, "script.py"),
        &options,
        &mut |event| match event {
            RunEvent::Phase(Phase::Running) => running = Some(Instant::now()),
            RunEvent::Phase(Phase::After) => after = Some(Instant::now()),
            _ => {}
        },
        &CancelToken::new(),
    )?;
    let whole = started.elapsed();
    if let Some(exception) = report.exception {
        anyhow::bail!("the instrumented run raised: {exception}");
    }
    let (Some(running), Some(after)) = (running, after) else {
        anyhow::bail!("the runner reported no running/after phases");
    };
    Ok((after - running, whole, report.output))
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn measure(
    board: &mut Board,
    name: &str,
    script: &str,
    mode: &str,
    options: &RunOptions,
) -> anyhow::Result<()> {
    // One untimed round each, and the outputs must agree.
    let (_, _, plain_out) = plain_run(board, script)?;
    let (_, _, probed_out) = instrumented_run(board, script, options)?;
    let plain_out = String::from_utf8_lossy(&plain_out).into_owned();
    if plain_out != probed_out {
        anyhow::bail!("{name}: outputs differ: {plain_out:?} vs {probed_out:?}");
    }
    let mut samples = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        // Alternate so that load from other processes hits both sides alike.
        let (plain_script, plain_whole, _) = plain_run(board, script)?;
        let (probed_script, probed_whole, _) = instrumented_run(board, script, options)?;
        samples.push(Sample {
            plain_script,
            plain_whole,
            probed_script,
            probed_whole,
        });
    }
    // Best of N is the headline: on a shared VM the noise only ever adds time, so the
    // fastest run of each side is the closest to its own cost. Medians are printed too.
    let best = |f: fn(&Sample) -> Duration| samples.iter().map(f).min().unwrap_or_default();
    let mid = |f: fn(&Sample) -> Duration| median(samples.iter().map(f).collect());
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    let (ps, is) = (best(|s| s.plain_script), best(|s| s.probed_script));
    let (pw, iw) = (best(|s| s.plain_whole), best(|s| s.probed_whole));
    let (mps, mis) = (mid(|s| s.plain_script), mid(|s| s.probed_script));
    println!(
        "{name} ({mode}): script phase plain {:.0} ms, instrumented {:.0} ms: {:.2}x; \
         whole run plain {:.0} ms, `heaplens run` {:.0} ms: {:.2}x (best of {RUNS}); \
         script phase medians {:.0} → {:.0} ms: {:.2}x",
        ms(ps),
        ms(is),
        ratio(is, ps),
        ms(pw),
        ms(iw),
        ratio(iw, pw),
        ms(mps),
        ms(mis),
        ratio(mis, mps),
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // `cargo test --all-targets` runs bench binaries without `--bench`: measure only when
    // asked to, so the test suite stays quick.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("run_overhead: run with `cargo bench --bench run_overhead`");
        return Ok(());
    }
    let mut board = Board::open(
        &BoardSpec::Simulated,
        &SimOptions::default(),
        &LinkOptions::default(),
    )?;
    let scripts = match std::env::var("HL_BENCH_SCRIPT") {
        Ok(path) => vec![(path.clone(), std::fs::read_to_string(&path)?)],
        Err(_) => vec![
            ("typical loop".to_string(), TYPICAL_LOOP.to_string()),
            ("tight loops".to_string(), TIGHT_LOOPS.to_string()),
        ],
    };
    let modes = [
        ("every execution", false, Sampling::Every),
        ("every execution, --exact", true, Sampling::Every),
        ("--sample 64", false, Sampling::Sample(64)),
        ("--sample 64 --exact", true, Sampling::Sample(64)),
    ];
    for (name, script) in &scripts {
        for (mode, exact, sampling) in modes {
            let options = RunOptions {
                exact,
                sampling,
                ..RunOptions::default()
            };
            if let Err(e) = measure(&mut board, name, script, mode, &options) {
                println!("{name} ({mode}): skipped: {e}");
            }
        }
    }
    board.close();
    Ok(())
}
