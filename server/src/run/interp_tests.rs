//! Tests that run instrumented scripts on the real MicroPython interpreter (the simulated
//! board's unix port, `.venv/bin/micropython`) as a subprocess. Scripts are fed on stdin so
//! MicroPython compiles them as `<stdin>`, exactly as the raw REPL does; prologue, script and
//! readout are concatenated into one text (`Instrumented::single_file`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use proptest::prelude::*;

use super::instrument::{instrument, InstrumentOptions, Instrumented};
use super::line_map::LineMap;
use super::probes::{parse_readout, ProbeReport};
use super::trace::{RawTrace, TraceDemux};

fn interpreter() -> PathBuf {
    crate::board::find_interpreter()
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/micropython"))
}

/// Whether the MicroPython interpreter is installed. Without it these tests are skipped with a
/// message (`cargo test --lib` must pass on a machine without it); `scripts/test.sh` installs
/// it first, so CI always runs them.
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

/// An instrumented run: the user-visible output (probe readout removed), the traceback
/// rewritten to user lines, and the decoded probe report.
struct ProbedRun {
    output: String,
    traceback: String,
    report: ProbeReport,
}

fn instrumented(source: &str, opts: InstrumentOptions) -> Instrumented {
    instrument(source, &opts).unwrap_or_else(|error| panic!("instrumenting failed: {error}"))
}

/// Runs the instrumented script; when it raises, the readout runs in a second part (as the
/// runner does after a failed exec), here simulated by catching nothing: the readout is only
/// available when the script finishes, so `report` is parsed only then.
fn run_probed(source: &str, exact: bool) -> (ProbedRun, Instrumented, LineMap) {
    run_probed_with(
        source,
        InstrumentOptions {
            exact,
            ..InstrumentOptions::default()
        },
    )
    .0
}

/// Like [`run_probed`] with every option; with tracing, the traces are taken out of the
/// output (as the runner does) and returned.
fn run_probed_with(
    source: &str,
    opts: InstrumentOptions,
) -> ((ProbedRun, Instrumented, LineMap), Vec<RawTrace>) {
    let script = instrumented(source, opts);
    let (text, map) = script.single_file();
    let mut run = run_on_interpreter(&text);
    let mut demux = TraceDemux::new();
    let mut user = demux.feed(run.stdout.as_bytes());
    user.extend(demux.finish());
    if !opts.trace_allocations {
        assert!(demux.traces().is_empty(), "a trace without tracing");
    }
    run.stdout = String::from_utf8_lossy(&user).into_owned();
    let (output, readout) = match run.stdout.find(super::probes::READOUT_HEADER) {
        Some(at) => (run.stdout[..at].to_string(), run.stdout[at..].to_string()),
        None => (run.stdout.clone(), String::new()),
    };
    let report = parse_readout(&readout, &script).unwrap_or(ProbeReport {
        lines: Vec::new(),
        gc_collections: None,
    });
    let traceback = map.rewrite_traceback(&run.stderr);
    (
        (
            ProbedRun {
                output,
                traceback,
                report,
            },
            script,
            map,
        ),
        demux.traces().to_vec(),
    )
}

/// Every combination of `exact` and `trace_allocations` with inline probes, and `exact`
/// with the call-form probes used on boards without `mem_total()`.
fn all_options() -> [InstrumentOptions; 6] {
    [
        (false, false, false),
        (true, false, false),
        (false, true, false),
        (true, true, false),
        (false, false, true),
        (true, false, true),
    ]
    .map(
        |(exact, trace_allocations, compact_probes)| InstrumentOptions {
            exact,
            trace_allocations,
            sample: None,
            compact_probes,
        },
    )
}

fn line(report: &ProbeReport, line: u32) -> &super::probes::LineDelta {
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
        let ((run, _, _), traces) = run_probed_with(&scenario("known_sizes.py"), opts);
        // Tracing: the baseline (printed twice in a single file: prologue and script start)
        // and one trace per allocating line.
        assert_eq!(traces.is_empty(), !opts.trace_allocations, "{opts:?}");
        assert_eq!(run.output, "1000 100 0 5000 3 300 50\n");
        let deltas: Vec<(u32, u64, i64)> = (9..=15)
            .map(|number| {
                let delta = line(&run.report, number);
                (number, delta.allocated_bytes, delta.net_bytes)
            })
            .collect();
        assert_eq!(
            deltas,
            vec![
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
    }
}

#[test]
fn prealloc_loop_lines_report_zero_bytes() {
    if !interpreter_present("prealloc_loop_lines_report_zero_bytes") {
        return;
    }
    for trace_allocations in [false, true] {
        let ((run, _, _), _) = run_probed_with(
            &scenario("prealloc.py"),
            InstrumentOptions {
                trace_allocations,
                ..InstrumentOptions::default()
            },
        );
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
                "line {number} (trace_allocations={trace_allocations})"
            );
        }
    }
}

/// A script whose measured lines allocate nothing — calls, methods, loops, branches,
/// try/except, nested calls — must report 0 bytes on every one of them: the probes (fast
/// path, slow path after an allocating line, expression form) allocate nothing.
#[test]
fn probes_allocate_nothing() {
    if !interpreter_present("probes_allocate_nothing") {
        return;
    }
    let source = "\
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
r = work(50, k)
r = work(50, k)
for _ in (1, 2, 3):
    r += 1
print(r)
";
    // Lines that create objects or new globals: the class, the defs, `k`, `r`'s first
    // binding (a new dict entry) and the print.
    let setup = [1, 2, 6, 22, 23, 28];
    let plain = run_on_interpreter(source);
    // Sampled runs too: with a budget of 1000 nothing runs unprobed, so the hit counts below
    // hold; with 2, later executions run unprobed and must add 0 bytes as well.
    let sampled = [
        (false, Some(1000)),
        (true, Some(1000)),
        (false, Some(2)),
        (true, Some(2)),
    ]
    .map(|(exact, sample)| InstrumentOptions {
        exact,
        sample,
        ..InstrumentOptions::default()
    });
    for opts in all_options().into_iter().chain(sampled) {
        let ((run, script, _), _) = run_probed_with(source, opts);
        assert_eq!(run.output, plain.stdout);
        for number in script
            .probe_lines
            .iter()
            .filter(|line| !setup.contains(line))
        {
            let delta = line(&run.report, *number);
            assert_eq!(
                (
                    delta.allocated_bytes,
                    delta.net_bytes,
                    delta.max_single_bytes
                ),
                (0, 0, 0),
                "line {number} ({opts:?}): {delta:?}"
            );
            assert_eq!(delta.unsampled_bytes, 0, "line {number} ({opts:?})");
        }
        if opts.sample == Some(2) {
            assert!(line(&run.report, 10).sampled, "{opts:?}");
            assert_eq!(line(&run.report, 9).hits, 2, "while line, {opts:?}");
            continue;
        }
        assert!(
            run.report.lines.iter().all(|delta| !delta.sampled),
            "{opts:?}"
        );
        assert_eq!(line(&run.report, 9).hits, 100, "while line");
        assert_eq!(line(&run.report, 11).hits, 50, "call line");
        assert_eq!(line(&run.report, 3).hits, 50, "method body");
    }
}

#[test]
fn gc_churn_counts_collections_and_never_books_a_drop_as_freeing() {
    if !interpreter_present("gc_churn_counts_collections_and_never_books_a_drop_as_freeing") {
        return;
    }
    let (run, _, _) = run_probed(&scenario("gc_churn.py"), false);
    assert_eq!(run.output, "item 19999\n");
    let collections = run.report.gc_collections.unwrap_or(0);
    assert!(collections > 0, "no collection seen: {:?}", run.report);
    for delta in &run.report.lines {
        assert!(delta.net_bytes >= 0, "{delta:?}");
        assert!(delta.net_bytes as u64 <= delta.allocated_bytes, "{delta:?}");
    }
    let allocating = line(&run.report, 7);
    assert_eq!(allocating.hits, 20000);
    // 20000 strings of one or two blocks each; intervals with a collection are estimated.
    assert!(allocating.allocated_bytes >= 20000 * 32, "{allocating:?}");
    assert_eq!(allocating.max_single_bytes, 64);
}

fn sampled(sample: u32) -> InstrumentOptions {
    InstrumentOptions {
        sample: Some(sample),
        ..InstrumentOptions::default()
    }
}

#[test]
fn sampled_gc_churn_books_later_iterations_on_the_loop_line() {
    if !interpreter_present("sampled_gc_churn_books_later_iterations_on_the_loop_line") {
        return;
    }
    let source = scenario("gc_churn.py");
    let ((run, script, _), _) = run_probed_with(&source, sampled(16));
    assert_eq!(run.output, "item 19999\n");
    assert_eq!(script.blocks.len(), 1);
    let body = line(&run.report, 7);
    assert!(body.sampled, "{body:?}");
    assert_eq!(body.hits, 16);
    // "item %d" with a one- or two-digit number: a string object and its data, one 32-byte
    // block each.
    assert_eq!(body.allocated_bytes, 16 * 64, "{body:?}");
    assert_eq!(body.unsampled_bytes, 0);
    let header = line(&run.report, 6);
    assert!(header.sampled);
    // The other 19,984 iterations, measured as a whole when the loop ended. Collections ran
    // during them, so the figure is the mem_total() estimate of `probes` (requested bytes).
    assert!(header.unsampled_bytes >= 19_984 * 4, "{header:?}");
    assert_eq!(header.allocated_bytes, header.unsampled_bytes);
    // Collections during unprobed iterations cannot be counted: the count is unknown.
    assert_eq!(run.report.gc_collections, None, "{:?}", run.report);
}

#[test]
fn sampled_prealloc_reports_zero_bytes_for_probed_and_unprobed_iterations() {
    if !interpreter_present(
        "sampled_prealloc_reports_zero_bytes_for_probed_and_unprobed_iterations",
    ) {
        return;
    }
    let ((run, _, _), _) = run_probed_with(&scenario("prealloc.py"), sampled(16));
    assert_eq!(run.output, "59180\n");
    for number in 7..=10 {
        let delta = line(&run.report, number);
        assert!(delta.sampled, "{delta:?}");
        assert_eq!(
            (delta.allocated_bytes, delta.unsampled_bytes),
            (0, 0),
            "{delta:?}"
        );
    }
    assert_eq!(line(&run.report, 8).hits, 16);
    assert!(!line(&run.report, 11).sampled);
}

#[test]
fn sampled_functions_are_probed_for_their_first_calls() {
    if !interpreter_present("sampled_functions_are_probed_for_their_first_calls") {
        return;
    }
    let ((run, script, _), _) = run_probed_with(&scenario("leak.py"), sampled(10));
    assert_eq!(run.output, "500\n");
    // The function body and the loop body.
    assert_eq!(script.blocks.len(), 2);
    assert_eq!(line(&run.report, 8).hits, 10);
    assert_eq!(line(&run.report, 8).allocated_bytes, 10 * 64);
    assert!(line(&run.report, 8).sampled);
    // The loop's later iterations (and the calls in them) are booked on the loop line.
    assert!(line(&run.report, 12).unsampled_bytes >= 480 * 64);
}

#[test]
fn leak_lines_allocate_on_every_call() {
    if !interpreter_present("leak_lines_allocate_on_every_call") {
        return;
    }
    let (run, _, _) = run_probed(&scenario("leak.py"), false);
    assert_eq!(run.output, "500\n");
    assert_eq!(line(&run.report, 8).hits, 500);
    assert_eq!(line(&run.report, 8).allocated_bytes, 500 * 64);
    assert!(line(&run.report, 9).allocated_bytes > 0);
    assert_eq!(line(&run.report, 13).allocated_bytes, 0);
}

#[test]
fn nested_error_traceback_names_user_lines() {
    if !interpreter_present("nested_error_traceback_names_user_lines") {
        return;
    }
    let source = scenario("nested_error.py");
    let plain = run_on_interpreter(&source);
    let (run, _, _) = run_probed(&source, false);
    assert_eq!(run.traceback, plain.stderr);
    assert_eq!(
        run.traceback,
        "Traceback (most recent call last):\n  File \"<stdin>\", line 14, in <module>\n  File \"<stdin>\", line 11, in main\n  File \"<stdin>\", line 6, in parse\nValueError: invalid syntax for integer with base 10: 'three'\n"
    );
}

#[test]
fn parrot_memory_error_is_on_line_ten() {
    if !interpreter_present("parrot_memory_error_is_on_line_ten") {
        return;
    }
    let source = scenario("parrot.py");
    let plain = run_on_interpreter(&source);
    for exact in [false, true] {
        let (run, _, _) = run_probed(&source, exact);
        assert_eq!(run.traceback, plain.stderr, "exact={exact}");
        assert!(
            run.traceback.contains("line 10, in <module>\nMemoryError: memory allocation failed, allocating 98305 bytes"),
            "{}",
            run.traceback
        );
    }
}

#[test]
fn shifted_lines_are_mapped_back_in_tracebacks() {
    if !interpreter_present("shifted_lines_are_mapped_back_in_tracebacks") {
        return;
    }
    // No free line anywhere: probes get inserted lines and later lines shift.
    let source = "def f(n):\n    def g():\n        return 1 // n\n    return g()\nprint(f(1))\nprint(f(0))\n";
    let plain = run_on_interpreter(source);
    let (run, script, _) = run_probed(source, false);
    assert_ne!(script.code.lines().count(), source.lines().count());
    assert_eq!(run.output, plain.stdout);
    assert_eq!(run.traceback, plain.stderr);
    assert!(run.traceback.contains("line 6, in <module>"));
}

#[test]
fn construct_files_print_the_same_instrumented() {
    if !interpreter_present("construct_files_print_the_same_instrumented") {
        return;
    }
    for name in [
        "constructs.py",
        "async_and_tabs.py",
        "no_free_lines.py",
        "sampled.py",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/run/testdata")
            .join(name);
        let source =
            std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path:?}: {error}"));
        let plain = run_on_interpreter(&source);
        let (run, _, _) = run_probed(&source, false);
        assert_eq!(run.output, plain.stdout, "{name}");
        assert_eq!(run.traceback, plain.stderr, "{name}");
        assert!(!run.report.lines.is_empty(), "{name}: no readout");
        for budget in [1, 2] {
            let ((run, _, _), _) = run_probed_with(&source, sampled(budget));
            assert_eq!(run.output, plain.stdout, "{name} sampled {budget}");
            assert_eq!(run.traceback, plain.stderr, "{name} sampled {budget}");
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
        // Early returns from a loop, a generator, a method with a loop: bodies that sampling
        // versions, called again and again.
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
        let (run, _, _) = run_probed(&source, false);
        prop_assert_eq!(&run.output, &plain.stdout, "source:\n{}", source);
        prop_assert_eq!(&run.traceback, &plain.stderr, "source:\n{}", source);
        // Sampled: each loop and function body's first execution is probed, later ones run
        // the plain copy; the program must not notice. (With call-form probes, as on a board
        // without mem_total().)
        let opts = InstrumentOptions { compact_probes: true, ..sampled(1) };
        let ((run, _, _), _) = run_probed_with(&source, opts);
        prop_assert_eq!(&run.output, &plain.stdout, "sampled source:\n{}", source);
        prop_assert_eq!(&run.traceback, &plain.stderr, "sampled source:\n{}", source);
    }
}
