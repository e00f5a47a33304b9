//! Benchmark (not a test): what the heap timeline's sampling costs a run on the simulated
//! Pico. The same script runs as `heaplens run` does it (`run_script`, `--sample 64`, the
//! default), alternating on one board between no timeline (the baseline) and a timeline at
//! 100 ms (the default) and at 10 ms (ten times as many samples); printed as ratios of the
//! script phase (between the runner's `Running` and `After` phase events), best of RUNS, with
//! the samples each run took. Run with `cargo bench --profile dev --bench timeline_cost`.
//!
//! Scripts (`benches/scripts/`): the typical loop and the tight loops of `run_overhead`
//! (made twice as long here, so that a run lasts long enough for several samples), and
//! a loop that sleeps 1 ms per iteration (samples come from the sleep hook).

use std::time::{Duration, Instant};

use heaplens::board::{Board, BoardSpec, CancelToken, LinkOptions, SimOptions};
use heaplens::run::runner::{run_script, Phase, RunEvent, RunOptions, Sampling, Script};

const TYPICAL_LOOP: &str = include_str!("scripts/typical_loop.py");
const TIGHT_LOOPS: &str = include_str!("scripts/tight_loops.py");
const SLEEPY_LOOP: &str = include_str!("scripts/sleepy_loop.py");

const RUNS: usize = 5;

/// A soft reset, then a pause (the simulated board starts its next spare interpreter).
fn settle(board: &mut Board) -> anyhow::Result<()> {
    board.soft_reset()?;
    std::thread::sleep(Duration::from_millis(300));
    Ok(())
}

/// The script phase of one run and how many samples it took.
fn timed_run(
    board: &mut Board,
    script: &str,
    every: Option<u32>,
) -> anyhow::Result<(Duration, u64)> {
    settle(board)?;
    let options = RunOptions {
        soft_reset: false,
        sampling: Sampling::Sample(64),
        sample_every_ms: every,
        ..RunOptions::default()
    };
    let (mut running, mut after) = (None, None);
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
    if let Some(exception) = report.exception {
        anyhow::bail!("the run raised: {exception}");
    }
    let (Some(running), Some(after)) = (running, after) else {
        anyhow::bail!("no running/after phases");
    };
    Ok((after - running, report.timeline.received()))
}

fn measure(board: &mut Board, name: &str, script: &str) -> anyhow::Result<()> {
    let intervals = [None, Some(100), Some(10)];
    let mut best = [Duration::MAX; 3];
    let mut samples = [0u64; 3];
    timed_run(board, script, None)?; // warm-up
    for _ in 0..RUNS {
        // Alternate so that load from other processes hits every side alike.
        for (k, every) in intervals.iter().enumerate() {
            let (time, taken) = timed_run(board, script, *every)?;
            best[k] = best[k].min(time);
            samples[k] = taken;
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let ratio = |a: Duration| a.as_secs_f64() / best[0].as_secs_f64().max(1e-9);
    println!(
        "{name}: no timeline {:.0} ms; every 100 ms {:.0} ms ({} samples): {:.3}x; every 10 ms \
         {:.0} ms ({} samples): {:.3}x (best of {RUNS})",
        ms(best[0]),
        ms(best[1]),
        samples[1],
        ratio(best[1]),
        ms(best[2]),
        samples[2],
        ratio(best[2]),
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // `cargo test --all-targets` runs bench binaries without `--bench`: measure only when
    // asked to.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("timeline_cost: run with `cargo bench --bench timeline_cost`");
        return Ok(());
    }
    let mut board = Board::open(
        &BoardSpec::Simulated,
        &SimOptions::default(),
        &LinkOptions::default(),
    )?;
    let longer = |script: &str| {
        script
            .replace("range(120000)", "range(240000)")
            .replace("range(400000)", "range(800000)")
    };
    let scripts = [
        ("typical loop (240,000 iterations)", longer(TYPICAL_LOOP)),
        ("tight loops (800,000 iterations)", longer(TIGHT_LOOPS)),
        ("sleepy loop (1,200 × sleep_ms(1))", SLEEPY_LOOP.to_string()),
    ];
    for (name, script) in &scripts {
        if let Err(e) = measure(&mut board, name, script) {
            println!("{name}: skipped: {e}");
        }
    }
    board.close();
    Ok(())
}
