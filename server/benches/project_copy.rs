//! Benchmark (not a test): what a project's files cost before a run on the simulated Pico
//! reached as a serial board (its pty opened like any port, as `heaplens sim --link` serves
//! it), for a generated 50-file project (~150 KB: `main.py`, 39 modules, 10 `lib/` drivers). Run with
//! `cargo bench --bench project_copy`.
//!
//! Three figures, each the median of `RUNS` on one board: copying the whole project to an
//! empty flash, checking the unchanged project (the board hashes its 50 files; nothing is
//! written: the cost every run pays, budget 0.5 s), and copying one edited file. Each is also
//! given as a ratio to a bare raw-REPL round trip (`pass`) measured in the same process.

use std::path::Path;
use std::time::{Duration, Instant};

use heaplens::board::{Board, BoardSpec, CancelToken, LinkOptions, SimHandle, SimOptions};
use heaplens::project::{BoardLayout, Project};
use heaplens::run::upload::copy_project;

const RUNS: usize = 15;
/// Modules besides `main.py`: 39 in the root, 10 in `lib/`.
const MODULES: usize = 49;

/// A module of about `bytes` bytes of plausible MicroPython.
fn module_text(index: usize, bytes: usize) -> String {
    let mut text = format!("# module {index}\nimport time\n\nSTATE = {{}}\n\n");
    let mut n = 0;
    while text.len() < bytes {
        text.push_str(&format!(
            "\ndef handler_{n}(value, scale={index}):\n    buf = bytearray(16)\n    for i in range(len(buf)):\n        buf[i] = (value * scale + i) & 0xFF\n    STATE['h{n}'] = buf\n    return sum(buf)\n"
        ));
        n += 1;
    }
    text
}

/// `main.py`, 39 modules of 1–5 KB and 10 drivers of 4–6 KB in `lib/`: 50 files.
fn generate(root: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(root.join("lib"))?;
    let mut main = String::new();
    for i in 0..MODULES {
        let (path, bytes) = if i < 39 {
            (root.join(format!("mod_{i}.py")), 1024 + (i % 5) * 1024)
        } else {
            (
                root.join(format!("lib/driver_{i}.py")),
                4096 + (i % 3) * 1024,
            )
        };
        std::fs::write(path, module_text(i, bytes))?;
        main.push_str(&format!("# uses module {i}\n"));
    }
    std::fs::write(root.join("main.py"), main)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    generate(dir.path())?;
    let project = Project::scan(dir.path())?;
    let total: usize = project.files().map(|(_, b)| b.len()).sum();
    println!(
        "project: {} files, {:.1} KB; {RUNS} runs each, medians",
        project.len(),
        total as f64 / 1024.0
    );

    let sim = SimHandle::start(SimOptions::default())?;
    let port = sim.wait_path(Duration::from_secs(10))?;
    let spec: BoardSpec = port.to_string_lossy().parse()?;
    let mut board = Board::open(&spec, &SimOptions::default(), &LinkOptions::default())?;
    let layout = BoardLayout::from_sys_path(&board.sys_path()?);

    let mut round_trips = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        board.exec("pass", &mut |_| {}, &CancelToken::new())?;
        round_trips.push(started.elapsed());
    }
    let round_trip = median(round_trips);

    // Copy everything to an empty flash: a fresh folder on the board each time, and the lib
    // folder (absolute on a Pico: `/lib`) emptied.
    let lib = &layout.lib_dir;
    let mut full = Vec::new();
    for run in 0..RUNS {
        let folder = format!("copy{run}");
        board.exec(
            &format!(
                "import os\ntry:\n for n in os.listdir('{lib}'): os.remove('{lib}/' + n)\n\
                 except OSError: pass\nos.mkdir('{folder}'); os.chdir('{folder}')"
            ),
            &mut |_| {},
            &CancelToken::new(),
        )?;
        let started = Instant::now();
        let report = copy_project(&mut board, &project, &layout)?;
        full.push(started.elapsed());
        anyhow::ensure!(
            report.copied.len() == project.len(),
            "copied {:?}",
            report.copied
        );
    }
    let full = median(full);

    // The project as it is now on the board (the last folder): unchanged.
    let mut unchanged = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let report = copy_project(&mut board, &project, &layout)?;
        unchanged.push(started.elapsed());
        anyhow::ensure!(report.copied.is_empty(), "copied {:?}", report.copied);
    }
    let unchanged = median(unchanged);

    // One module edited between runs.
    let mut one = Vec::new();
    for run in 0..RUNS {
        let text = format!("{}# edit {run}\n", module_text(7, 3000));
        let edited = project.clone().with_file("mod_7.py", text.into_bytes());
        let started = Instant::now();
        let report = copy_project(&mut board, &edited, &layout)?;
        one.push(started.elapsed());
        anyhow::ensure!(report.copied == ["mod_7.py"], "copied {:?}", report.copied);
    }
    let one = median(one);

    let ratio = |d: Duration| d.as_secs_f64() / round_trip.as_secs_f64();
    println!("raw-REPL round trip (`pass`): {round_trip:.2?}");
    println!(
        "copy all {} files to an empty flash: {full:.2?} ({:.0}× a round trip)",
        project.len(),
        ratio(full)
    );
    println!(
        "check the unchanged project:        {unchanged:.2?} ({:.0}× a round trip; budget 500 ms)",
        ratio(unchanged)
    );
    println!(
        "copy one edited module:             {one:.2?} ({:.0}× a round trip)",
        ratio(one)
    );
    board.close();
    Ok(())
}
