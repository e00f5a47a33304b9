//! `heaplens run` end to end: the real binary against the simulated Pico, one test per
//! scenario of `tests/fixtures/scenarios/` (its README says what each must show), plus the
//! `--json` contract, `--exact`, the terminal report, exit codes and bad input.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support::{fixture, heaplens_bin, SimProcess};

/// What one `heaplens run` printed.
struct RunOutput {
    code: Option<i32>,
    /// The JSON document (stdout) with `--json`, `Null` otherwise.
    json: Value,
    stdout: String,
    stderr: Vec<u8>,
}

impl RunOutput {
    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

fn scenario(name: &str) -> PathBuf {
    fixture(&format!("scenarios/{name}"))
}

/// `heaplens run SCRIPT ARGS…` (the caller passes `--board …`, `--json`, …).
fn heaplens_run(script: &Path, args: &[&str]) -> RunOutput {
    let out: Output = Command::new(heaplens_bin())
        .arg("run")
        .arg(script)
        .args(args)
        .output()
        .expect("spawn heaplens run");
    finish(out, args.contains(&"--json"))
}

fn finish(out: Output, json: bool) -> RunOutput {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = if json {
        serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}); stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    } else {
        Value::Null
    };
    RunOutput {
        code: out.status.code(),
        json,
        stdout,
        stderr: out.stderr,
    }
}

/// `heaplens run SCRIPT --board sim --json ARGS…` on a fresh simulated board.
fn run_sim(name: &str, args: &[&str]) -> RunOutput {
    let mut all = vec!["--board", "sim", "--json"];
    all.extend_from_slice(args);
    heaplens_run(&scenario(name), &all)
}

/// The `lines[]` entry of user line `n`.
fn line(report: &Value, n: u64) -> &Value {
    report["lines"]
        .as_array()
        .and_then(|lines| lines.iter().find(|l| l["line"] == n))
        .unwrap_or_else(|| panic!("no lines[] entry for line {n}: {}", report["lines"]))
}

fn num(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{v} is not a non-negative integer"))
}

fn diagnostics(report: &Value) -> &[Value] {
    report["diagnostics"]
        .as_array()
        .map(Vec::as_slice)
        .expect("diagnostics is a list")
}

fn errors(report: &Value) -> Vec<&Value> {
    diagnostics(report)
        .iter()
        .filter(|d| d["severity"] == "error")
        .collect()
}

/// The only error diagnostic of the run.
fn the_error(report: &Value) -> &Value {
    let errors = errors(report);
    assert_eq!(
        errors.len(),
        1,
        "exactly one error: {:#}",
        report["diagnostics"]
    );
    errors[0]
}

fn related_lines(diag: &Value) -> Vec<u64> {
    diag["related"]
        .as_array()
        .expect("related is a list")
        .iter()
        .map(|r| num(&r["line"]))
        .collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("{v} is not an object"))
        .keys()
        .cloned()
        .collect()
}

fn set(words: &[&str]) -> BTreeSet<String> {
    words.iter().map(|w| w.to_string()).collect()
}

// ---- the JSON contract ----

#[test]
fn json_report_has_exactly_the_documented_keys() {
    let run = run_sim("nested_error.py", &[]);
    let report = &run.json;
    for key in [
        "snapshots",
        "lines",
        "diagnostics",
        "gc_collections",
        "exception",
        "output",
    ] {
        assert!(report.get(key).is_some(), "missing key {key}: {report:#}");
    }
    assert_eq!(
        keys(&report["snapshots"]),
        set(&["before", "after", "after_gc"])
    );

    // Each snapshot is the object `heaplens stats --json` prints for a dump.
    let stats = Command::new(heaplens_bin())
        .args(["stats", "--json"])
        .arg(fixture("meminfo/unix-1.29pre-192k-fresh.txt"))
        .output()
        .expect("spawn heaplens stats");
    assert!(stats.status.success(), "{stats:?}");
    let stats: Value = serde_json::from_slice(&stats.stdout).expect("stats JSON");
    for label in ["before", "after", "after_gc"] {
        let snapshot = &report["snapshots"][label];
        assert_eq!(keys(snapshot), keys(&stats), "snapshots.{label}");
        assert_eq!(snapshot["block_bytes"], 32, "snapshots.{label}");
        assert_eq!(snapshot["gc_total"], 232_960, "snapshots.{label}");
    }

    let lines = report["lines"].as_array().expect("lines is a list");
    assert!(!lines.is_empty());
    for l in lines {
        assert_eq!(
            keys(l),
            set(&[
                "file",
                "line",
                "hits",
                "allocated_bytes",
                "net_bytes",
                "max_single_bytes",
                "estimated_bytes"
            ]),
            "{l}"
        );
        assert_eq!(l["file"], "nested_error.py", "{l}");
        assert!(l["net_bytes"].is_i64(), "{l}");
        num(&l["hits"]);
        num(&l["allocated_bytes"]);
        num(&l["max_single_bytes"]);
    }

    let diags = diagnostics(report);
    assert!(!diags.is_empty());
    for d in diags {
        assert_eq!(
            keys(d),
            set(&["file", "line", "end_line", "severity", "code", "message", "related"]),
            "{d}"
        );
        assert!(
            ["error", "warning", "info"].contains(&d["severity"].as_str().unwrap_or("")),
            "{d}"
        );
        assert!(num(&d["line"]) >= 1 && num(&d["end_line"]) >= num(&d["line"]));
        for r in d["related"].as_array().expect("related is a list") {
            assert_eq!(keys(r), set(&["file", "line", "message"]), "{r}");
        }
    }
    assert!(report["gc_collections"].is_u64(), "{report:#}");
    assert!(report["exception"].is_string());
    assert!(report["output"].is_string());
    assert_eq!(report["system_exit"], Value::Null);
    let peak = &report["peak"];
    assert_eq!(keys(peak), set(&["used", "line", "file"]), "{peak}");
    assert!(num(&peak["used"]) >= num(&report["snapshots"]["before"]["used"]));
    assert!(report["retained"].is_array());
    // The project: the scenarios' folder, whose files were copied to the fresh board.
    assert_eq!(report["script"], "nested_error.py");
    let copied = report["copied"].as_array().expect("copied is a list");
    assert!(copied.iter().any(|f| f == "nested_error.py"), "{copied:?}");
    assert!(report["not_copied"].is_array());
    assert!(report["unmeasured"].is_array());
}

// ---- the scenarios ----

#[test]
fn known_sizes_reports_the_exact_block_rounded_delta_of_each_line() {
    let run = run_sim("known_sizes.py", &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let report = &run.json;
    assert_eq!(report["output"], "1000 100 0 5000 3 300 50\n");
    for (n, bytes) in [
        (9, 1056),
        (10, 896),
        (11, 32),
        (12, 5056),
        (13, 0),
        (14, 352),
        (15, 608),
    ] {
        let l = line(report, n);
        assert_eq!(l["hits"], 1, "line {n}: {l}");
        assert_eq!(l["allocated_bytes"], bytes, "line {n}: {l}");
        assert_eq!(l["net_bytes"], bytes, "line {n}: {l}");
        assert_eq!(l["max_single_bytes"], bytes, "line {n}: {l}");
    }
    assert_eq!(report["exception"], Value::Null);
    assert_eq!(report["gc_collections"], 0);
    assert!(errors(report).is_empty(), "{:#}", report["diagnostics"]);
}

#[test]
fn trace_allocations_attributes_each_new_allocation_to_its_line() {
    let plain = run_sim("known_sizes.py", &[]);
    let run = run_sim("known_sizes.py", &["--trace-allocations"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let report = &run.json;
    // The traces never reach the user: same output, same per-line figures.
    assert_eq!(report["output"], plain.json["output"]);
    assert_eq!(report["lines"], plain.json["lines"]);
    assert_eq!(plain.json["allocation_lines"], serde_json::json!([]));
    let traced: Vec<(u64, u64)> = report["allocation_lines"]
        .as_array()
        .expect("allocation_lines is a list")
        .iter()
        .map(|a| {
            assert_eq!(
                keys(a),
                set(&["area", "offset", "blocks", "file", "line"]),
                "{a}"
            );
            (num(&a["line"]), num(&a["blocks"]))
        })
        .collect();
    // Each line's delta is one object block plus its data: the bytearray's 1000 bytes
    // (1056 B = 1 + 32 blocks of 32 bytes), the list's 100 slots (896 B = 3 + 25: the list,
    // and the `[0]` operand) and the 5000-char str's data (5056 B = 1 + 157).
    for (line, blocks) in [(9, 32), (10, 25), (12, 157)] {
        assert!(
            traced.contains(&(line, blocks)),
            "line {line}, {blocks} blocks: {traced:?}"
        );
    }
    // Every attributed line is a line of the script that allocated.
    for (number, _) in &traced {
        let l = line(report, *number);
        assert!(num(&l["allocated_bytes"]) > 0, "{l}");
    }
}

#[test]
fn parrot_memory_error_is_explained_with_the_failure_time_snapshot() {
    let run = run_sim("parrot.py", &[]);
    assert_eq!(run.code, Some(1), "{}", run.stderr_text());
    let report = &run.json;
    assert_eq!(
        report["exception"],
        "MemoryError: memory allocation failed, allocating 98305 bytes"
    );
    let error = the_error(report);
    assert_eq!(error["line"], 10);
    assert_eq!(error["end_line"], 10);
    assert_eq!(error["code"], "memory-error-heap-full");
    // The figures are those of the `after` snapshot, taken at the failure (not after gc).
    let after = &report["snapshots"]["after"];
    let (max_blocks, max_bytes, free) = (
        num(&after["max_free_blocks"]),
        num(&after["max_free_bytes"]),
        num(&after["free"]),
    );
    assert_eq!(max_bytes, max_blocks * 32);
    assert!(
        free < 98_305,
        "the verdict must follow the numbers: {after}"
    );
    assert_eq!(
        error["message"],
        format!(
            "allocation of 98,305 bytes exceeds the longest free run at failure, {}; only {} \
             is free in all: the heap is full",
            kib_and_bytes(max_bytes),
            kib_and_bytes(free)
        )
    );
    // The doubling line ran 14 times, the 14th failing (a statement that raises counts its
    // hit); the largest string that fitted has 49153 bytes of data (1537 blocks) plus its
    // one-block str object.
    let doubling = line(report, 10);
    assert_eq!(doubling["hits"], 14);
    assert_eq!(doubling["max_single_bytes"], (1537 + 1) * 32);
    assert_eq!(line(report, 11)["hits"], 0, "print never ran");
}

#[test]
fn fragmentation_error_says_fragmented_with_the_free_total_at_failure() {
    let run = run_sim("fragmentation.py", &[]);
    assert_eq!(run.code, Some(1), "{}", run.stderr_text());
    let report = &run.json;
    assert_eq!(
        report["exception"],
        "MemoryError: memory allocation failed, allocating 8192 bytes"
    );
    let error = the_error(report);
    assert_eq!(error["line"], 17);
    assert_eq!(error["code"], "memory-error-fragmented");
    let after = &report["snapshots"]["after"];
    let (max_blocks, free) = (num(&after["max_free_blocks"]), num(&after["free"]));
    assert!(max_blocks < 256 && free > 8192, "{after}");
    assert_eq!(
        error["message"],
        format!(
            "allocation of 8,192 bytes exceeds the longest free run at failure, {}, although {} \
             is free in all: the heap is fragmented",
            kib_and_bytes(max_blocks * 32),
            kib_and_bytes(free)
        )
    );
    // About half the heap is free, as the script itself printed one line earlier (the
    // instrumented script and the exception take a few blocks more than the plain run).
    let printed: u64 = report["output"]
        .as_str()
        .and_then(|o| o.trim().strip_prefix("free bytes: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("output: {}", report["output"]));
    assert!(
        free <= printed && printed - free <= 1024,
        "free at failure {free} vs printed {printed}"
    );
    assert!(
        printed > 90_000,
        "about half of the ~192 KB free heap: {printed}"
    );
    // Related information: the line that holds the 1 KB buffers comes first.
    let related = related_lines(error);
    assert_eq!(related.first(), Some(&10), "{error}");
    assert!(
        num(&line(report, 10)["max_single_bytes"]) >= 1056,
        "bytearray(1024) at least"
    );
}

#[test]
fn leak_keeps_about_500_strings_and_its_lines_allocate_on_every_call() {
    let run = run_sim("leak.py", &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let report = &run.json;
    assert_eq!(report["output"], "500\n");
    let kinds = |label: &str| {
        let by_kind = &report["snapshots"][label]["by_kind"];
        num(&by_kind["str"])
    };
    let kept = kinds("after_gc") as i64 - kinds("before") as i64;
    assert!(
        (450..=550).contains(&kept),
        "after gc.collect() the heap keeps about 500 more strings: {kept}"
    );
    let used = |label: &str| num(&report["snapshots"][label]["used"]);
    assert!(used("after_gc") >= used("before") + 500 * 32);
    for n in [8, 9] {
        let l = line(report, n);
        assert_eq!(l["hits"], 500, "line {n}: {l}");
        assert!(num(&l["allocated_bytes"]) > 0, "line {n}: {l}");
    }
    // Each message string is one or two blocks.
    assert!(num(&line(report, 8)["allocated_bytes"]) >= 500 * 32);
}

#[test]
fn prealloc_loop_body_allocates_nothing() {
    let run = run_sim("prealloc.py", &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let report = &run.json;
    assert_eq!(report["output"], "59180\n");
    for n in [8, 9, 10] {
        let l = line(report, n);
        assert_eq!(l["hits"], 1000, "line {n}: {l}");
        assert_eq!(l["allocated_bytes"], 0, "line {n}: {l}");
        assert_eq!(l["net_bytes"], 0, "line {n}: {l}");
        assert_eq!(l["max_single_bytes"], 0, "line {n}: {l}");
    }
    // The buffer itself is seen where it is made.
    assert!(num(&line(report, 4)["allocated_bytes"]) >= 256);
    assert!(
        diagnostics(report).is_empty(),
        "{:#}",
        report["diagnostics"]
    );
}

#[test]
fn parrot_caught_has_no_error_but_a_growing_allocation_warning() {
    let run = run_sim("parrot_caught.py", &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let report = &run.json;
    assert_eq!(
        report["output"],
        "memory allocation failed, allocating 98305 bytes\n"
    );
    assert_eq!(report["exception"], Value::Null);
    assert!(errors(report).is_empty(), "{:#}", report["diagnostics"]);
    let growing: Vec<&Value> = diagnostics(report)
        .iter()
        .filter(|d| d["code"] == "growing-allocation")
        .collect();
    assert_eq!(growing.len(), 1, "{:#}", report["diagnostics"]);
    assert_eq!(growing[0]["line"], 10);
    assert_eq!(growing[0]["severity"], "warning");
}

#[test]
fn nested_error_is_on_the_raising_line_with_the_call_chain() {
    let run = run_sim("nested_error.py", &[]);
    assert_eq!(run.code, Some(1), "{}", run.stderr_text());
    let report = &run.json;
    let error = the_error(report);
    assert_eq!(error["line"], 6);
    assert_eq!(error["code"], "exception");
    assert_eq!(
        error["message"],
        "ValueError: invalid syntax for integer with base 10: 'three'"
    );
    assert_eq!(related_lines(error), vec![11, 14]);
    assert_eq!(report["exception"], error["message"]);
    // The traceback carries the user's lines only.
    let tb = report["traceback"].as_str().expect("traceback");
    for n in [14, 11, 6] {
        assert!(tb.contains(&format!("line {n},")), "{tb}");
    }
    assert!(!tb.contains("_hl_"), "{tb}");
}

#[test]
fn syntax_error_is_reported_on_its_line_without_instrumentation() {
    let run = run_sim("syntax_error.py", &[]);
    assert_eq!(run.code, Some(1), "{}", run.stderr_text());
    let report = &run.json;
    let error = the_error(report);
    assert_eq!(error["line"], 4);
    assert_eq!(error["code"], "syntax-error");
    assert_eq!(error["message"], "SyntaxError: invalid syntax");
    assert_eq!(report["instrumented"], false);
    assert_eq!(report["lines"], Value::Array(Vec::new()));
    assert_eq!(
        report["gc_collections"],
        Value::Null,
        "unknown without probes"
    );
}

#[test]
fn runaway_is_interrupted_and_the_next_run_on_the_same_board_works() {
    let sim = SimProcess::start();
    let board = ["--board", sim.path.as_str(), "--json"];
    let mut args = board.to_vec();
    args.extend(["--timeout", "2"]);
    let run = heaplens_run(&scenario("runaway.py"), &args);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let report = &run.json;
    assert_eq!(report["exception"], "KeyboardInterrupt");
    assert_eq!(report["interrupted"], true);
    assert_eq!(report["timed_out"], true);
    let diags = diagnostics(report);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0]["code"], "interrupted");
    assert_eq!(diags[0]["severity"], "info");
    let stopped = num(&diags[0]["line"]);
    assert!(stopped == 6 || stopped == 7, "{:?}", diags[0]);
    assert!(num(&line(report, 7)["hits"]) > 1000, "the loop ran");
    assert!(report["snapshots"]["after_gc"].is_object());

    // The same board, right after: a normal run with exact figures.
    let next = heaplens_run(&scenario("known_sizes.py"), &board);
    assert_eq!(next.code, Some(0), "{}", next.stderr_text());
    assert_eq!(next.json["output"], "1000 100 0 5000 3 300 50\n");
    assert_eq!(next.json["exception"], Value::Null);
    assert_eq!(line(&next.json, 12)["allocated_bytes"], 5056);
}

#[test]
fn output_flood_streams_survives_non_utf8_and_ends_with_done() {
    let mut child = Command::new(heaplens_bin())
        .arg("run")
        .arg(scenario("output_flood.py"))
        .args(["--board", "sim", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn heaplens run");
    let mut stdout = child.stdout.take().expect("stdout");
    let json_reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let mut stderr = child.stderr.take().expect("stderr");
    // The first script line arrives while the run is still going: ~1 MB of output is far
    // more than a pipe holds, so the run cannot have finished before we read it.
    let mut streamed = Vec::new();
    let mut chunk = [0u8; 4096];
    while !streamed.windows(7).any(|w| w == b"line 0 ") {
        let n = stderr.read(&mut chunk).expect("read stderr");
        assert!(n > 0, "stderr closed before the first line");
        streamed.extend_from_slice(&chunk[..n]);
    }
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "output streams while the script runs"
    );
    stderr.read_to_end(&mut streamed).expect("read stderr");
    let status = child.wait().expect("wait heaplens run");
    let json = json_reader.join().expect("reader thread").expect("stdout");
    assert_eq!(status.code(), Some(0));

    // The stream carries the script's bytes unchanged, non-UTF-8 included.
    let needle = b"not utf-8 follows:\r\n\xff\xfe\xfd\r\ndone";
    let plain = b"not utf-8 follows:\n\xff\xfe\xfd\ndone";
    assert!(
        streamed.windows(needle.len()).any(|w| w == needle)
            || streamed.windows(plain.len()).any(|w| w == plain),
        "raw bytes in the stream"
    );
    let report: Value = serde_json::from_str(&json).expect("one JSON document");
    let output = report["output"].as_str().expect("output");
    let output = output.replace("\r\n", "\n");
    assert_eq!(
        output.lines().filter(|l| l.starts_with("line ")).count(),
        20_000
    );
    assert!(output.contains(&format!("line 19999 {}\n", "x".repeat(40))));
    assert!(
        output.ends_with("not utf-8 follows:\n\u{fffd}\u{fffd}\u{fffd}\ndone\n"),
        "{}",
        &output[output.len() - 80..]
    );
    assert_eq!(report["exception"], Value::Null);
}

#[test]
fn gc_churn_charges_line_7_and_counts_collections_without_negative_figures() {
    let run = run_sim("gc_churn.py", &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let report = &run.json;
    assert_eq!(report["output"], "item 19999\n");
    assert!(
        num(&report["gc_collections"]) > 0,
        "{}",
        report["gc_collections"]
    );
    let lines = report["lines"].as_array().expect("lines");
    let top = lines
        .iter()
        .max_by_key(|l| num(&l["allocated_bytes"]))
        .expect("some line");
    assert_eq!(top["line"], 7, "{lines:?}");
    let seven = line(report, 7);
    assert_eq!(seven["hits"], 20_000);
    // 20000 strings of one or two blocks: far more than the 232960-byte heap.
    assert!(num(&seven["allocated_bytes"]) >= 20_000 * 32, "{seven}");
    for l in lines {
        // A collection is never booked as a line freeing memory.
        assert!(
            l["net_bytes"].as_i64().is_some_and(|n| n >= 0),
            "negative net without --exact: {l}"
        );
        num(&l["allocated_bytes"]);
    }
    assert_eq!(
        line(report, 6)["allocated_bytes"],
        0,
        "range() does not allocate per item"
    );
}

// ---- measuring budgets (--sample=N) ----

#[test]
fn past_its_budget_a_line_keeps_exact_hits_and_an_estimate_of_its_bytes() {
    let run = run_sim("gc_churn.py", &["--sample=16"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let report = &run.json;
    assert_eq!(report["output"], "item 19999\n");
    assert_eq!(report["sample"], 16);
    let seven = line(report, 7);
    assert_eq!(seven["hits"], 20_000, "hits are always exact: {seven}");
    // "item N": a str object and its data, one 32-byte block each: the estimate for the
    // 19,984 later executions follows what the first 16 measured.
    let estimated = num(&seven["estimated_bytes"]);
    assert!(estimated > 19_000 * 60, "{seven}");
    // An estimate: within 15 % of the 20,000 two-block strings.
    let all = num(&seven["allocated_bytes"]) as f64;
    assert!(
        (all - 20_000.0 * 64.0).abs() <= 0.15 * 20_000.0 * 64.0,
        "{seven}"
    );
    assert_eq!(line(report, 8)["estimated_bytes"], 0);
    // The terminal report marks the estimated figures.
    let text = heaplens_run(
        &scenario("gc_churn.py"),
        &["--board", "sim", "--sample=16", "--no-color"],
    );
    assert_eq!(text.code, Some(0), "{}", text.stderr_text());
    assert!(text.stdout.contains("≈1."), "{}", text.stdout);
    assert!(
        text.stdout.contains("first 16 allocating executions"),
        "{}",
        text.stdout
    );

    // --sample=0 measures every execution.
    let run = run_sim("leak.py", &["--sample=0"]);
    assert_eq!(run.json["sample"], Value::Null);
    assert_eq!(line(&run.json, 8)["allocated_bytes"], 500 * 64);
    assert_eq!(line(&run.json, 8)["estimated_bytes"], 0);
}

#[test]
fn a_board_without_mem_total_keeps_exact_hits() {
    // A Pico's port has no `micropython.mem_total()`. The simulated board is made to look like
    // one: the module is replaced in `sys.modules` by a copy without it (the board keeps this
    // state between commands; `--no-reset` keeps it for the run).
    let sim = SimProcess::start();
    sim.exec(
        "import sys, micropython\n\
         class _M: pass\n\
         m = _M()\n\
         for k in dir(micropython):\n    \
             if k != 'mem_total' and not k.startswith('__'):\n        \
                 setattr(m, k, getattr(micropython, k))\n\
         sys.modules['micropython'] = m",
    );
    assert_eq!(
        sim.exec("import micropython\nprint(hasattr(micropython, 'mem_total'))"),
        "False\n"
    );
    let run = heaplens_run(
        &scenario("leak.py"),
        &["--board", &sim.path, "--json", "--no-reset"],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let report = &run.json;
    assert_eq!(report["output"], "500\n");
    assert_eq!(report["sample"], 64);
    // Measured with `gc.mem_alloc()` alone (the Pico's path): every hit counted, the first
    // 64 allocating calls measured (one string of two blocks each), the later ones found in
    // aggregate.
    let eight = line(report, 8);
    assert_eq!(eight["hits"], 500);
    assert!(num(&eight["allocated_bytes"]) >= 64 * 64, "{eight}");

    let run = heaplens_run(
        &scenario("leak.py"),
        &["--board", &sim.path, "--json", "--no-reset", "--sample=0"],
    );
    assert_eq!(run.json["sample"], Value::Null);
    assert_eq!(line(&run.json, 8)["hits"], 500);
    assert_eq!(line(&run.json, 8)["allocated_bytes"], 500 * 64);
}

#[test]
fn a_script_too_big_to_compile_with_probes_runs_without_them() {
    // Three copies of a script of every construct: on a 99000-byte heap (the Pico modules the
    // board boots with take ~42 KB of it) they compile and run under the harness; with their
    // probes the board runs out of heap while compiling (from about 90 KB to 110 KB of heap;
    // the margin keeps the test away from either edge).
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/run/testdata/constructs.py");
    let dir = tempfile::tempdir().expect("tempdir");
    let tripled = dir.path().join("constructs3.py");
    let text = std::fs::read_to_string(&script).expect("read constructs.py");
    std::fs::write(&tripled, text.repeat(3)).expect("write constructs3.py");
    let run = heaplens_run(&tripled, &["--board", "sim", "--heap", "99000", "--json"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let report = &run.json;
    assert_eq!(report["instrumented"], false);
    assert!(
        report["not_instrumented"]
            .as_str()
            .is_some_and(|why| why.contains("too big to compile")),
        "{report:#}"
    );
    assert_eq!(report["exception"], Value::Null);
    assert!(
        report["output"]
            .as_str()
            .is_some_and(|out| out.ends_with("string 3 7\n")),
        "{report:#}"
    );
    assert!(report["snapshots"]["after_gc"].is_object());

    // On a 67000-byte heap not even the harness fits beside it (it does from ~69000: loaded
    // compiled, it needs no parse tree): the script runs as `mpremote run` would, with its
    // snapshots, and says why it has no per-line figures.
    let run = heaplens_run(&script, &["--board", "sim", "--heap", "67000", "--json"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert_eq!(run.json["instrumented"], false);
    assert!(
        run.json["not_instrumented"]
            .as_str()
            .is_some_and(|why| why.contains("not the harness")),
        "{:#}",
        run.json
    );
    assert!(run.json["output"]
        .as_str()
        .is_some_and(|out| out.ends_with("string 3 7\n")));
    assert!(run.json["snapshots"]["after_gc"].is_object());
}

// ---- options, the terminal report, exit codes, bad input ----

#[test]
fn exact_mode_is_reported_and_leaves_the_collector_enabled() {
    let sim = SimProcess::start();
    // The board keeps state between commands (no reset on exec): this is what makes the
    // check below meaningful.
    sim.exec("import gc\ngc.disable()");
    assert_eq!(sim.exec("import gc\nprint(gc.isenabled())"), "False\n");

    let run = heaplens_run(
        &scenario("gc_churn.py"),
        &["--board", &sim.path, "--json", "--exact"],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr_text());
    let report = &run.json;
    assert_eq!(report["exact"], true);
    // With the collector off the churn fills the heap to the last block on its allocating
    // line; the harness still captures the heap as the failure left it (nothing is compiled
    // after a failure).
    let error = the_error(report);
    assert_eq!(error["line"], 7);
    assert_eq!(error["code"], "memory-error-heap-full");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("the heap is full")),
        "{error}"
    );
    assert!(report["snapshots"]["before"].is_object());
    assert_eq!(report["snapshots"]["after"]["max_free_blocks"], 0);
    assert!(report["snapshots"]["after_gc"].is_object());
    assert_eq!(sim.exec("import gc\nprint(gc.isenabled())"), "True\n");

    let run = heaplens_run(
        &scenario("prealloc.py"),
        &["--board", &sim.path, "--exact", "--no-color"],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert!(
        run.stdout
            .contains("exact mode: the collector was disabled during the run"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("a MemoryError comes sooner"),
        "{}",
        run.stdout
    );
    assert_eq!(sim.exec("import gc\nprint(gc.isenabled())"), "True\n");
}

#[test]
fn no_reset_keeps_the_boards_globals() {
    let sim = SimProcess::start();
    sim.exec("kept = 41");
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("uses_kept.py");
    std::fs::write(&script, "print(kept + 1)\n").expect("write script");
    let run = heaplens_run(&script, &["--board", &sim.path, "--json", "--no-reset"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert_eq!(run.json["output"], "42\n");
    // Without --no-reset the board starts fresh and the name is gone.
    let run = heaplens_run(&script, &["--board", &sim.path, "--json"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr_text());
    assert_eq!(
        run.json["exception"],
        "NameError: name 'kept' isn't defined"
    );
    assert_eq!(the_error(&run.json)["line"], 1);
}

/// The report with the heap figures (which depend on the interpreter's own start-up
/// allocations) replaced by their row names, and without the heap timeline section (a run
/// long enough for one depends on the machine's speed; `tests/e2e/live.rs` checks it).
fn redact_heap_table(report: &str) -> String {
    let mut out = Vec::new();
    let mut in_heap = false;
    let mut in_timeline = false;
    for l in report.lines() {
        if l == "Heap timeline" {
            in_timeline = true;
            out.pop(); // the blank line before it
            continue;
        }
        if in_timeline {
            in_timeline = !l.is_empty();
            if in_timeline {
                continue;
            }
        }
        if l == "Heap" {
            in_heap = true;
            out.push(l.to_string());
            continue;
        }
        if in_heap && l.is_empty() {
            in_heap = false;
        }
        // The peak includes the harness's own few KiB, which change with its code.
        if let Some(at) = l
            .trim_start()
            .strip_prefix("peak heap use ")
            .and_then(|rest| rest.find(" at line"))
        {
            let indent = &l[..l.len() - l.trim_start().len()];
            let rest = &l.trim_start()["peak heap use ".len() + at..];
            out.push(format!("{indent}peak heap use [redacted]{rest}"));
            continue;
        }
        if in_heap && !l.starts_with(' ') {
            if let Some((head, _)) = l.split_once(':') {
                out.push(format!("{head}: [redacted]"));
            } else {
                let name = l.get(..18).unwrap_or(l).trim_end();
                out.push(format!("{name} [redacted]"));
            }
        } else {
            out.push(l.to_string());
        }
    }
    out.join("\n")
}

#[test]
fn terminal_report_shows_output_top_lines_heap_and_diagnostics() {
    let run = heaplens_run(
        &scenario("known_sizes.py"),
        &["--board", "sim", "--no-color"],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    insta::assert_snapshot!("known_sizes_report", redact_heap_table(&run.stdout));
    // Progress goes to stderr, never into the report.
    assert!(run.stderr_text().contains("heaplens: running…"));
}

#[test]
fn terminal_report_with_traced_allocations_names_their_lines() {
    let run = heaplens_run(
        &scenario("known_sizes.py"),
        &["--board", "sim", "--no-color", "--trace-allocations"],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let out = &run.stdout;
    // The script's output is there once, without trace bytes.
    assert!(out.starts_with("1000 100 0 5000 3 300 50\n"), "{out}");
    assert!(
        !out.contains('\x1e') && !out.contains("GC memory layout"),
        "{out}"
    );
    let table = out
        .split("Largest new allocations by line")
        .nth(1)
        .unwrap_or_else(|| panic!("no traced allocations table:\n{out}"));
    let rows: Vec<&str> = table
        .lines()
        .skip(2)
        .take_while(|l| !l.is_empty())
        .collect();
    // Largest first: the 5000-char str's data, then the bytearray's.
    assert!(rows[0].ends_with("    12  d = \"x\" * 5000"), "{rows:?}");
    assert!(rows[1].ends_with("     9  a = bytearray(1000)"), "{rows:?}");
}

#[test]
fn terminal_report_of_a_memory_error_exits_1() {
    let run = heaplens_run(&scenario("parrot.py"), &["--board", "sim", "--no-color"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr_text());
    let out = &run.stdout;
    assert!(
        out.contains("MemoryError: memory allocation failed, allocating 98305 bytes\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "error line 10 [memory-error-heap-full]: allocation of 98,305 bytes exceeds the longest free run at failure"
        ),
        "{out}"
    );
    assert!(
        out.contains("warning line 10 [growing-allocation]"),
        "{out}"
    );
    assert!(!out.contains("_hl_"), "no probe code in the report: {out}");
}

#[test]
fn missing_script_is_a_clear_error() {
    let run = heaplens_run(
        Path::new("/nonexistent/heaplens-e2e/missing.py"),
        &["--board", "sim"],
    );
    let stderr = run.stderr_text();
    assert_eq!(run.code, Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot read /nonexistent/heaplens-e2e/missing.py"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(run.stdout.is_empty());
}

#[test]
fn non_utf8_script_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("latin1.py");
    std::fs::write(&script, b"s = 'caf\xe9'\nprint(s)\n").expect("write script");
    let run = heaplens_run(&script, &["--board", "sim"]);
    let stderr = run.stderr_text();
    assert_eq!(run.code, Some(2), "{stderr}");
    assert!(stderr.contains("is not UTF-8"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        run.stdout.is_empty(),
        "no report for a script that was not run"
    );
}

#[test]
fn heap_locked_error_is_explained_and_the_board_recovers() {
    // The script leaves the heap locked: the harness unlocks it before its captures, so the
    // run keeps its snapshots and per-line figures.
    let out = heaplens_run(
        &fixture("scripts/heap_locked.py"),
        &["--board", "sim", "--json"],
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr_text());
    let err = the_error(&out.json);
    assert_eq!(err["code"], "memory-error-heap-locked");
    assert_eq!(err["line"], 7);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("interrupt handler"),
        "{err}"
    );
    assert_eq!(related_lines(err), [11]);
    assert_eq!(
        out.json["exception"],
        "MemoryError: memory allocation failed, heap is locked"
    );
    assert!(out.json["snapshots"]["after"].is_object());
    assert!(out.json["snapshots"]["after_gc"].is_object());
    assert!(!out.json["lines"].as_array().expect("lines").is_empty());
}

/// HeapLens's one unit system, written out independently of the server's code:
/// `96.0 KiB (98,305 bytes)`, and `512 B` under a KiB.
fn kib_and_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let digits = bytes.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{:.1} KiB ({grouped} bytes)", bytes as f64 / 1024.0)
}

/// A reader that stops early (`heaplens run … | head -1`) ends the run quietly, like any Unix
/// tool: killed by SIGPIPE, never a panic message about a broken pipe.
#[test]
fn a_reader_that_stops_early_ends_the_run_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("talk.py");
    // More than a pipe holds (64 KiB), so heaplens is still writing when the reader goes.
    std::fs::write(&script, "for i in range(20000):\n    print('line', i)\n").expect("write");
    let mut child = Command::new(heaplens_bin())
        .args(["run", "--board", "sim", "--no-color"])
        .arg(&script)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn heaplens run");
    let mut first = [0u8; 16];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("the report starts");
    // The read end is closed here: every later write of the report hits EPIPE.
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    let status = child.wait().expect("wait");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?} {stderr}");
}
