//! Tests that run the whole on-board path — the harness's prologue, then its run call — on the
//! real MicroPython interpreter (the simulated board's unix port) as a subprocess. The script
//! is fed on stdin, so MicroPython compiles it as `<stdin>` as the raw REPL does; the output
//! is split into the script's output and the harness's records exactly as the runner does.
//! The plain run of the same source is the truth for output and tracebacks.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use proptest::prelude::*;

use super::harness::{self, kind, Ending, HarnessOptions, Nonce};
use super::instrument::{instrument, normalize, Instrumented};
use super::probes::{parse_readout, LineDelta, ProbeReport};
use super::records::{Demux, Piece};

fn interpreter() -> PathBuf {
    crate::board::find_interpreter()
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/micropython"))
}

/// Whether the MicroPython interpreter is installed. Without it these tests are skipped with a
/// message (`cargo test --lib` must pass on a machine without it); `scripts/test.sh` runs
/// after `scripts/setup.sh` installed it, so CI always runs them.
fn interpreter_present(test: &str) -> bool {
    let present = interpreter().is_file();
    if !present {
        eprintln!(
            "skipping {test}: no MicroPython interpreter (run `bash scripts/setup.sh` or set \
             HEAPLENS_MICROPYTHON)"
        );
    }
    present
}

fn scenario(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/scenarios")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path:?}: {error}"))
}

/// Output of one interpreter run: stdout and stderr (where the unix port prints tracebacks).
struct Run {
    stdout: String,
    stderr: String,
}

fn run_on_interpreter(code: &str) -> Run {
    let mut child = Command::new(interpreter())
        .arg("-X")
        .arg(format!("heapsize={}", crate::board::DEFAULT_SIM_HEAP_BYTES))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {:?}: {error}", interpreter()));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(code.as_bytes())
            .unwrap_or_else(|error| panic!("writing the script: {error}"));
    }
    let output = child
        .wait_with_output()
        .unwrap_or_else(|error| panic!("waiting for the interpreter: {error}"));
    Run {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// How a test runs a script under the harness.
#[derive(Debug, Clone, Copy)]
struct Opts {
    exact: bool,
    trace_allocations: bool,
    /// Exact measurements per line (`None`: every execution).
    budget: Option<u32>,
    /// False: the board is made to look like a Pico (no `micropython.mem_total()`).
    counts_allocations: bool,
    /// The heap timeline's interval: every test samples every millisecond, the most often a
    /// run can, so that each checks that sampling changes no figure and no output.
    sample_every_ms: Option<u32>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            exact: false,
            trace_allocations: false,
            budget: None,
            counts_allocations: true,
            sample_every_ms: Some(1),
        }
    }
}

/// Every combination of `exact`, `trace_allocations` and the two kinds of board.
fn all_options() -> Vec<Opts> {
    let mut out = Vec::new();
    for exact in [false, true] {
        for trace_allocations in [false, true] {
            for counts_allocations in [true, false] {
                out.push(Opts {
                    exact,
                    trace_allocations,
                    budget: None,
                    counts_allocations,
                    sample_every_ms: Some(1),
                });
            }
        }
    }
    out
}

use super::HIDE_MEM_TOTAL;

/// A run under the harness, split as the runner splits it.
struct Harnessed {
    /// What the script printed.
    output: String,
    /// The traceback as the script would see it (harness frames removed), or "".
    traceback: String,
    report: ProbeReport,
    ending: Option<Ending>,
    traces: usize,
    /// Heap timeline samples.
    samples: usize,
    after: Option<crate::heap::Snapshot>,
}

fn instrumented(source: &str, nonce: &Nonce) -> Instrumented {
    instrument(&normalize(source), nonce)
        .unwrap_or_else(|error| panic!("instrumenting failed: {error}"))
}

/// Runs `source` instrumented under the harness with `opts`, prologue and run call in one
/// stdin script (an uncaught error of the harness itself would show on stderr and fail the
/// test).
fn run_harnessed(source: &str, opts: Opts) -> (Harnessed, Instrumented) {
    let nonce = Nonce::random();
    let script = instrumented(source, &nonce);
    let options = HarnessOptions {
        slots: script.probe_lines.len(),
        budget: opts.budget,
        exact: opts.exact,
        trace_allocations: opts.trace_allocations,
        counts_allocations: opts.counts_allocations,
        modules: Vec::new(),
        sample_every_ms: opts.sample_every_ms,
    };
    let mut text = String::new();
    if !opts.counts_allocations {
        text.push_str(HIDE_MEM_TOTAL);
    }
    text.push_str(&harness::prologue(&script.code, &options, &nonce));
    text.push_str(&nonce.run_call());
    text.push('\n');
    let run = run_on_interpreter(&text);
    assert_eq!(run.stderr, "", "the harness itself failed");
    let mut demux = Demux::new(&nonce.marker);
    let mut pieces = demux.feed(run.stdout.as_bytes());
    pieces.push(Piece::Output(demux.finish()));
    let mut result = Harnessed {
        output: String::new(),
        traceback: String::new(),
        report: ProbeReport {
            lines: Vec::new(),
            gc_collections: None,
            peak: None,
        },
        ending: None,
        traces: 0,
        samples: 0,
        after: None,
    };
    for piece in pieces {
        match piece {
            Piece::Output(bytes) => result.output.push_str(&String::from_utf8_lossy(&bytes)),
            Piece::Record(record) => match record.kind {
                kind::EXCEPTION => {
                    let text = String::from_utf8_lossy(&record.body).into_owned();
                    result.traceback = super::runner::without_harness_frames(&text);
                }
                kind::READOUT => {
                    result.report = parse_readout(
                        &record.header,
                        &String::from_utf8_lossy(&record.body),
                        &script
                            .probe_lines
                            .iter()
                            .map(|&line| super::probes::SourceLine::new(&"<stdin>".into(), line))
                            .collect::<Vec<_>>(),
                    )
                    .unwrap_or_else(|error| panic!("readout: {error}"));
                }
                kind::TRACE | kind::MIXED_TRACE => result.traces += 1,
                kind::SAMPLE => result.samples += 1,
                kind::AFTER => result.after = crate::heap::parse_dump(&record.body).ok(),
                kind::DONE => result.ending = Ending::parse(&record.header),
                _ => {}
            },
        }
    }
    (result, script)
}

fn line(report: &ProbeReport, line: u32) -> &LineDelta {
    report
        .lines
        .iter()
        .find(|delta| delta.line == line)
        .unwrap_or_else(|| panic!("line {line} has no probe: {:?}", report.lines))
}

#[test]
fn known_sizes_deltas_are_block_rounded_sizes() {
    if !interpreter_present("known_sizes_deltas_are_block_rounded_sizes") {
        return;
    }
    for opts in all_options() {
        let (run, _) = run_harnessed(&scenario("known_sizes.py"), opts);
        assert_eq!(run.traces > 0, opts.trace_allocations, "{opts:?}");
        assert_eq!(run.output, "1000 100 0 5000 3 300 50\n");
        let deltas: Vec<(u32, u64, i64)> = (9..=15)
            .map(|number| {
                let delta = line(&run.report, number);
                (number, delta.allocated_bytes, delta.net_bytes)
            })
            .collect();
        // bytearray(1000): a 32-byte object and 1000 bytes of data in 32 blocks; and so on
        // (32-byte blocks on this 64-bit build).
        assert_eq!(
            deltas,
            [
                (9, 1056, 1056),
                (10, 896, 896),
                (11, 32, 32),
                (12, 5056, 5056),
                (13, 0, 0),
                (14, 352, 352),
                (15, 608, 608)
            ],
            "{opts:?}"
        );
        assert_eq!(run.ending, Some(Ending::Normal));
    }
}

#[test]
fn prealloc_loop_lines_report_zero_bytes() {
    if !interpreter_present("prealloc_loop_lines_report_zero_bytes") {
        return;
    }
    for opts in all_options() {
        let (run, _) = run_harnessed(&scenario("prealloc.py"), opts);
        assert_eq!(run.output, "59180\n");
        for number in 8..=10 {
            let delta = line(&run.report, number);
            assert_eq!(delta.hits, 1000, "line {number}");
            assert_eq!(
                (
                    delta.allocated_bytes,
                    delta.net_bytes,
                    delta.max_single_bytes
                ),
                (0, 0, 0),
                "line {number} ({opts:?})"
            );
        }
    }
}

/// The probes allocate nothing, on either kind of board, measured or past their budget: a
/// script that measures its own allocations with `micropython.mem_total()` (every byte
/// requested, however briefly: call frames included) prints the same figures as the plain
/// run, and lines that allocate nothing report 0 bytes.
#[test]
fn probes_allocate_nothing() {
    if !interpreter_present("probes_allocate_nothing") {
        return;
    }
    let source = "\
import micropython
class K:
    def m(self, v):
        return v + 1


def work(n, k):
    total = 0
    i = 0
    while i < n:
        if i & 1:
            total += k.m(i)
        else:
            total -= 1
        try:
            total ^= 3
        except ValueError:
            pass
        i += 1
    return total


k = K()
r = 0
t0 = micropython.mem_total()
for _ in (1, 2, 3):
    r += work(50, k)
t1 = micropython.mem_total()
print(r, t1 - t0)
";
    // As on a Pico, the script cannot measure itself without mem_total(): it prints r only.
    let pico_source = source.replace("micropython.mem_total()", "0");
    let plain = run_on_interpreter(source);
    let mut all = all_options();
    all.extend([Some(2), Some(1000)].map(|budget| Opts {
        budget,
        ..Opts::default()
    }));
    let pico_plain = run_on_interpreter(&pico_source);
    for opts in all {
        let (source, plain) = match opts.counts_allocations {
            true => (source, &plain),
            false => (pico_source.as_str(), &pico_plain),
        };
        let (run, _) = run_harnessed(source, opts);
        assert_eq!(run.output, plain.stdout, "{opts:?}");
        for delta in run
            .report
            .lines
            .iter()
            .filter(|d| (8..=20).contains(&d.line))
        {
            // (In exact mode `return total` books the release of the call's frame, which
            // MicroPython allocates on the heap for a function this size: a real release.)
            let number = delta.line;
            assert_eq!(
                (delta.allocated_bytes, delta.max_single_bytes),
                (0, 0),
                "line {number} ({opts:?}): {delta:?}"
            );
        }
        // Every evaluation of the while condition, true or false; each call of the method.
        assert_eq!(line(&run.report, 10).hits, 153, "while line, {opts:?}");
        assert_eq!(line(&run.report, 11).hits, 150, "if line, {opts:?}");
        assert_eq!(line(&run.report, 4).hits, 75, "method body");
        assert_eq!(
            line(&run.report, 7).hits,
            1,
            "a def is a hit per definition"
        );
        assert_eq!(line(&run.report, 27).hits, 3, "for: one hit per iteration");
    }
}

#[test]
fn gc_churn_counts_collections_and_never_books_a_drop_as_freeing() {
    if !interpreter_present("gc_churn_counts_collections_and_never_books_a_drop_as_freeing") {
        return;
    }
    let (run, _) = run_harnessed(&scenario("gc_churn.py"), Opts::default());
    assert_eq!(run.output, "item 19999\n");
    let collections = run.report.gc_collections.unwrap_or(0);
    assert!(collections > 0, "no collection seen: {:?}", run.report);
    for delta in &run.report.lines {
        assert!(delta.net_bytes >= 0, "{delta:?}");
        assert!(delta.net_bytes as u64 <= delta.allocated_bytes, "{delta:?}");
    }
    let allocating = line(&run.report, 7);
    assert_eq!(allocating.hits, 20000);
    // A string object and its data, one 32-byte block each; the first execution also grows
    // the globals dict for the new name `s`, as in a plain run.
    assert!(
        (64..=96).contains(&allocating.max_single_bytes),
        "{allocating:?}"
    );
    assert!(allocating.allocated_bytes >= 20000 * 60, "{allocating:?}");
}

#[test]
fn past_its_budget_a_line_keeps_exact_hits_and_estimated_bytes() {
    if !interpreter_present("past_its_budget_a_line_keeps_exact_hits_and_estimated_bytes") {
        return;
    }
    let exact = run_harnessed(&scenario("leak.py"), Opts::default()).0;
    for counts_allocations in [true, false] {
        let opts = Opts {
            budget: Some(16),
            counts_allocations,
            ..Opts::default()
        };
        let (run, _) = run_harnessed(&scenario("leak.py"), opts);
        assert_eq!(run.output, "500\n");
        let (measured, all) = (line(&run.report, 8), line(&exact.report, 8));
        assert_eq!(measured.hits, 500, "hits are always exact ({opts:?})");
        assert!(measured.estimated_bytes > 0, "{measured:?}");
        // The estimate is within 10 % of the exact figure.
        let (got, want) = (measured.allocated_bytes as f64, all.allocated_bytes as f64);
        assert!(
            (got - want).abs() <= want * 0.1,
            "{opts:?}: {got} vs {want}"
        );
    }
}

#[test]
fn leak_lines_allocate_on_every_call() {
    if !interpreter_present("leak_lines_allocate_on_every_call") {
        return;
    }
    let (run, _) = run_harnessed(&scenario("leak.py"), Opts::default());
    assert_eq!(run.output, "500\n");
    assert_eq!(line(&run.report, 8).hits, 500);
    assert_eq!(line(&run.report, 8).allocated_bytes, 500 * 64);
    assert!(line(&run.report, 9).allocated_bytes > 0);
    assert_eq!(line(&run.report, 13).allocated_bytes, 0);
}

#[test]
fn tracebacks_are_the_plain_runs() {
    if !interpreter_present("tracebacks_are_the_plain_runs") {
        return;
    }
    for name in ["nested_error.py", "parrot.py"] {
        let source = scenario(name);
        let plain = run_on_interpreter(&source);
        for opts in [
            Opts::default(),
            Opts {
                exact: true,
                ..Opts::default()
            },
        ] {
            let (run, _) = run_harnessed(&source, opts);
            assert_eq!(run.traceback, plain.stderr, "{name} {opts:?}");
            assert_eq!(run.ending, Some(Ending::Exception));
        }
    }
    // The heap at the failure, not after a collection.
    let (run, _) = run_harnessed(&scenario("parrot.py"), Opts::default());
    let after = run.after.expect("after snapshot");
    assert!(
        after.stats().used.unwrap() > 90_000,
        "{:?}",
        after.stats().used
    );
}

#[test]
fn construct_files_print_the_same_instrumented() {
    if !interpreter_present("construct_files_print_the_same_instrumented") {
        return;
    }
    for name in ["constructs.py", "async_and_tabs.py", "no_free_lines.py"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/run/testdata")
            .join(name);
        let source =
            std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path:?}: {error}"));
        let plain = run_on_interpreter(&source);
        for budget in [None, Some(1)] {
            let (run, _) = run_harnessed(
                &source,
                Opts {
                    budget,
                    ..Opts::default()
                },
            );
            assert_eq!(run.output, plain.stdout, "{name} {budget:?}");
            assert_eq!(run.traceback, plain.stderr, "{name} {budget:?}");
            assert!(!run.report.lines.is_empty(), "{name}: no readout");
        }
    }
}

/// Generated programs: nested blocks of statements drawn from a small grammar, with blank
/// lines, comments and one-line compounds. The instrumented program must print exactly what
/// the plain one prints (and raise the same error at the same user line).
fn statement(depth: u32) -> BoxedStrategy<Vec<String>> {
    let simple = prop_oneof![
        (0..5u8).prop_map(|v| vec![format!("x = x + {v}")]),
        Just(vec!["s = s + str(x)".to_string()]),
        Just(vec!["print(x, len(s))".to_string()]),
        Just(vec!["l.append(x); x = x % 97".to_string()]),
        Just(vec!["t = (x,\n     x + 1)".to_string()]),
        Just(vec!["".to_string()]),
        Just(vec!["# a comment".to_string()]),
        Just(vec!["if x % 2: x += 1".to_string()]),
        Just(vec!["for q in range(2): x += q; s = s[-20:]".to_string()]),
        Just(vec!["x = x if x < 1000 else 1 // (x - x)".to_string()]),
        // Early returns from a loop, a generator, a method with a loop.
        Just(
            [
                "def fr():",
                "    for q in range(5):",
                "        if q == x % 5: return q",
                "    return -1",
                "x = x + fr()",
            ]
            .map(String::from)
            .to_vec()
        ),
        Just(
            [
                "def gen():",
                "    for q in range(3):",
                "        yield q * x",
                "x = x % 1000 + sum(gen())",
            ]
            .map(String::from)
            .to_vec()
        ),
        Just(
            [
                "class K:",
                "    def m(self, n):",
                "        t = 0",
                "        while n > 0:",
                "            n -= 1; t += n",
                "        return t",
                "x = x + K().m(x % 4)",
            ]
            .map(String::from)
            .to_vec()
        ),
    ];
    if depth == 0 {
        return simple.boxed();
    }
    let body = || {
        prop::collection::vec(statement(depth - 1), 1..4).prop_map(|stmts| {
            let mut lines = Vec::new();
            for stmt in stmts {
                lines.extend(stmt);
            }
            // A block needs at least one real statement.
            if lines
                .iter()
                .all(|line| line.trim().is_empty() || line.starts_with('#'))
            {
                lines.push("pass".to_string());
            }
            lines
        })
    };
    let indent = |lines: Vec<String>| -> Vec<String> {
        lines
            .into_iter()
            .map(|line| {
                line.lines()
                    .map(|part| {
                        if part.is_empty() {
                            String::new()
                        } else {
                            format!("    {part}")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect()
    };
    prop_oneof![
        3 => simple,
        1 => (body(), body()).prop_map(move |(a, b)| {
            let mut out = vec!["if x % 3 == 0:".to_string()];
            out.extend(indent(a));
            out.push("else:".to_string());
            out.extend(indent(b));
            out
        }),
        1 => body().prop_map(move |a| {
            let mut out = vec!["for i in range(3):".to_string()];
            out.extend(indent(a));
            out
        }),
        1 => (body(), body()).prop_map(move |(a, b)| {
            // A loop left by `break` or `continue` in any iteration, with an `else` clause.
            // Its counter is named by depth, so nested loops do not reset each other's.
            let w = format!("w{depth}");
            let mut out = vec![
                format!("{w} = 0"),
                format!("while {w} < 4:"),
                format!("    {w} += 1"),
            ];
            out.push(format!("    if (x + {w}) % 5 == 0: break"));
            out.push(format!("    if {w} == 2: continue"));
            out.extend(indent(a));
            out.push("else:".to_string());
            out.extend(indent(b));
            out
        }),
        1 => body().prop_map(move |a| {
            let mut out = vec!["def fn():".to_string(), "    global x, s".to_string()];
            out.extend(indent(a));
            out.push("fn()".to_string());
            out
        }),
        1 => body().prop_map(move |a| {
            let mut out = vec!["try:".to_string()];
            out.extend(indent(a));
            out.extend(["except ZeroDivisionError:".to_string(), "    print('zde')".to_string()]);
            out
        }),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn instrumented_programs_print_what_plain_programs_print(
        stmts in prop::collection::vec(statement(2), 1..8)
    ) {
        if !interpreter_present("instrumented_programs_print_what_plain_programs_print") {
            return Ok(());
        }
        let mut source = String::from("x = 1\ns = ''\nl = []\n");
        for stmt in stmts {
            for line in stmt {
                source.push_str(&line);
                source.push('\n');
            }
        }
        source.push_str("print('end', x, len(l))\n");
        let plain = run_on_interpreter(&source);
        for opts in [Opts::default(), Opts { budget: Some(1), counts_allocations: false, ..Opts::default() }] {
            let (run, _) = run_harnessed(&source, opts);
            prop_assert_eq!(&run.output, &plain.stdout, "{:?} source:\n{}", opts, source);
            prop_assert_eq!(&run.traceback, &plain.stderr, "{:?} source:\n{}", opts, source);
        }
    }
}

/// What the harness costs the script: the heap it holds while the script runs (its functions,
/// counters and names), measured on the interpreter. On a 64-bit build; a Pico's 32-bit words
/// halve most of it.
#[test]
fn the_harness_costs_little_heap() {
    if !interpreter_present("the_harness_costs_little_heap") {
        return;
    }
    let nonce = Nonce::random();
    let options = HarnessOptions {
        slots: 10,
        budget: Some(64),
        exact: false,
        trace_allocations: false,
        counts_allocations: true,
        modules: Vec::new(),
        sample_every_ms: None,
    };
    let prologue = harness::prologue("x = 1\n", &options, &nonce);
    let script = format!(
        "import gc\ngc.collect()\na = gc.mem_alloc()\n{prologue}gc.collect()\nprint('cost', gc.mem_alloc() - a)\n"
    );
    let run = run_on_interpreter(&script);
    let cost: u64 = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("cost "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{}{}", run.stdout, run.stderr));
    assert!(cost <= 7_000, "the harness holds {cost} bytes");
}

/// What loading project modules adds to the harness: the import machinery and a module
/// table, held while the script runs (the modules' own counters are probe slots, as the
/// script's). Measured as [`the_harness_costs_little_heap`] does.
#[test]
fn the_import_machinery_costs_little_heap() {
    if !interpreter_present("the_import_machinery_costs_little_heap") {
        return;
    }
    let cost = |modules: Vec<harness::HarnessModule>| -> u64 {
        let options = HarnessOptions {
            slots: 10,
            budget: Some(64),
            exact: false,
            trace_allocations: false,
            counts_allocations: true,
            modules,
            sample_every_ms: None,
        };
        let prologue = harness::prologue("x = 1\n", &options, &Nonce::random());
        let script = format!(
            "import gc\ngc.collect()\na = gc.mem_alloc()\n{prologue}gc.collect()\nprint('cost', gc.mem_alloc() - a)\n"
        );
        let run = run_on_interpreter(&script);
        run.stdout
            .lines()
            .find_map(|l| l.strip_prefix("cost "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{}{}", run.stdout, run.stderr))
    };
    let module = |name: &str, file: &str| harness::HarnessModule {
        name: name.into(),
        file: Some(file.into()),
        package_dir: None,
        code_bytes: 1234,
    };
    let without = cost(Vec::new());
    let with = cost(vec![
        module("filters", "filters.py"),
        module("sensors", "sensors/__init__.py"),
        module("sensors.raw", "sensors/raw.py"),
        module("ssd1306", "/lib/ssd1306.py"),
    ]);
    let extra = with.saturating_sub(without);
    eprintln!("the import machinery holds {extra} bytes for 4 modules");
    assert!(extra <= 4_000, "the import machinery holds {extra} bytes");
}
