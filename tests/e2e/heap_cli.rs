//! `heaplens stats | map | diff` as a user runs them: files and stdin, exit codes, JSON keys,
//! errors on input that is not a dump.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::support::{fixture, heaplens_bin};

const PICO: &str = "meminfo/pico-seed-192064.txt";
const PARROT: &str = "meminfo/unix-1.29pre-192k-after-parrot.txt";
const COLLECTED: &str = "meminfo/unix-1.29pre-192k-after-parrot-gc-collect.txt";

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(heaplens_bin())
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn heaplens");
    let mut pipe = child.stdin.take().expect("stdin");
    pipe.write_all(stdin.unwrap_or_default())
        .expect("write stdin");
    drop(pipe);
    child.wait_with_output().expect("wait heaplens")
}

fn path(rel: &str) -> String {
    fixture(rel).display().to_string()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn stats_json_has_every_protocol_key_and_the_exact_pico_figures() {
    let output = run(&["stats", &path(PICO), "--json"], None);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    for key in [
        "gc_total",
        "used",
        "free",
        "block_bytes",
        "blocks_total",
        "one_blocks",
        "two_blocks",
        "max_block_blocks",
        "max_free_blocks",
        "max_free_bytes",
        "fragmentation",
        "free_runs",
        "by_kind",
        "stack_used",
        "stack_total",
        "warnings",
    ] {
        assert!(json.get(key).is_some(), "missing {key} in {json}");
    }
    assert_eq!(json["blocks_total"], 12_004);
    assert_eq!(json["block_bytes"], 16);
    assert_eq!(json["one_blocks"], 52);
    assert_eq!(json["two_blocks"], 13);
    assert_eq!(json["max_block_blocks"], 64);
    assert_eq!(json["max_free_blocks"], 11_650);
    assert_eq!(json["used"], 4_896);
    assert_eq!(json["warnings"], serde_json::json!([]));
    let bucket = &json["free_runs"][0];
    for key in ["min_blocks", "max_blocks", "runs", "blocks"] {
        assert!(bucket.get(key).is_some(), "{key}");
    }
}

#[test]
fn stats_reads_stdin_with_a_noisy_capture() {
    let mut capture = b">>> import micropython; micropython.mem_info(1)\r\n".to_vec();
    for line in std::fs::read_to_string(fixture(PARROT)).unwrap().lines() {
        capture.extend_from_slice(format!("\x1b[0m{line}\r\n").as_bytes());
    }
    capture.extend_from_slice(b"None\r\n>>> \xff");
    let output = run(&["stats", "-", "--json"], Some(&capture));
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["block_bytes"], 32);
    assert_eq!(json["max_block_blocks"], 1537);

    let text = run(&["stats", "-"], Some(&capture));
    assert_eq!(text.status.code(), Some(0));
    assert!(
        stdout(&text).contains("longest free run    2,843 blocks"),
        "{}",
        stdout(&text)
    );
}

#[test]
fn garbage_is_an_error_on_stderr_not_a_panic() {
    let output = run(&["stats", "-"], Some(b"\x00\x01hello\nthis is no dump\n"));
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a readable mem_info dump"), "{stderr}");
    assert!(
        stderr.contains("no mem_info output in 2 line(s)"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());

    // A map whose only row is damaged leaves nothing to read.
    let bad_row = run(
        &["map", "-"],
        Some(b"GC memory layout; from 0:\n00000000: h=\n00000400: h?\n00000800: h\n"),
    );
    assert_eq!(bad_row.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&bad_row.stderr).contains("line 3, column 12"));
    let only_bad_row = run(
        &["map", "-"],
        Some(b"GC memory layout; from 0:\n00000400: h?\n"),
    );
    assert_eq!(only_bad_row.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&only_bad_row.stderr).contains("line 2, column 12"));

    let missing = run(&["diff", "/nonexistent/before.txt", &path(PICO)], None);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read the dump file"));
}

#[test]
fn map_draws_rows_legend_and_header() {
    let output = run(&["map", &path(PICO), "--no-color", "--show-free"], None);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    assert!(!text.contains('\x1b'), "--no-color must not emit escapes");
    assert!(text.contains("legend:"));
    assert!(text.contains("12,004 blocks of 16 bytes"));
    assert!(text.contains("00000000  h=MhhhBDhhBTTBDhTBDBBBh===DBDh===="));
    assert!(text.contains("(181 rows all free)"));

    let narrow = run(
        &[
            "map",
            &path(PICO),
            "--no-color",
            "--columns",
            "32",
            "--rainbow",
        ],
        None,
    );
    assert_eq!(narrow.status.code(), Some(0));
    assert!(stdout(&narrow).contains("\n00000200  "));

    let zero = run(&["map", &path(PICO), "--columns", "0"], None);
    assert_eq!(zero.status.code(), Some(2));
}

#[test]
fn diff_json_has_totals_allocations_and_runs_of_changes() {
    let output = run(&["diff", &path(PARROT), &path(COLLECTED), "--json"], None);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for key in [
        "allocated_bytes",
        "freed_bytes",
        "net_bytes",
        "allocated_blocks",
        "freed_blocks",
        "new_allocation_count",
        "freed_allocation_count",
        "largest_new_allocations",
        "largest_freed_allocations",
        "max_free_blocks_before",
        "max_free_blocks_after",
        "areas",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    assert_eq!(json["net_bytes"], 50_848 - 101_024);
    let freed = &json["largest_freed_allocations"][0];
    for key in ["block", "offset", "blocks", "bytes", "kind", "area"] {
        assert!(freed.get(key).is_some(), "{key}");
    }
    // Each changed area's blocks as a run string: `<count><letter>` runs that add up to
    // its blocks.
    let area = &json["areas"][0];
    let runs = area["runs"].as_str().expect("runs");
    let mut blocks = 0;
    let mut count = 0;
    for c in runs.chars() {
        match c.to_digit(10) {
            Some(d) => count = count * 10 + d as u64,
            None => {
                assert!("-afc".contains(c), "{c} in {runs}");
                blocks += count.max(1);
                count = 0;
            }
        }
    }
    assert_eq!(Some(blocks), area["blocks"].as_u64(), "{runs}");
    assert!(runs.contains('f'), "freed blocks: {runs}");

    let text = run(
        &["diff", &path(PARROT), &path(COLLECTED), "--no-color"],
        None,
    );
    assert_eq!(text.status.code(), Some(0));
    assert!(
        stdout(&text).contains("freed 50,400 bytes"),
        "{}",
        stdout(&text)
    );
}

#[test]
fn diff_of_heaps_of_different_sizes_works() {
    let output = run(&["diff", &path(PICO), &path(PARROT), "--json"], None);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(!json["warnings"].as_array().unwrap().is_empty());

    let stdin = std::fs::read(fixture(PICO)).unwrap();
    let from_stdin = run(&["diff", "-", &path(PICO), "--json"], Some(&stdin));
    assert_eq!(from_stdin.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&from_stdin.stdout).unwrap();
    assert_eq!(json["net_bytes"], 0);
}

const SERIES: &str = "meminfo/real-world/pyboard-v1.6-issue1877-series.txt";
const TWO: &str = "meminfo/real-world/esp8266-v1.12-issue6086-two-dumps.txt";

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Rule 6: `--all`, `--index N` and `FILE#N` reach every dump of a capture; stdin too.
#[test]
fn every_dump_of_a_capture_is_reachable() {
    let all = run(&["stats", "--all", "--json", &path(SERIES)], None);
    assert_eq!(all.status.code(), Some(0), "{all:?}");
    let list: serde_json::Value = serde_json::from_slice(&all.stdout).expect("JSON");
    let used: Vec<u64> = list
        .as_array()
        .expect("a list with --all")
        .iter()
        .map(|s| s["used"].as_u64().unwrap())
        .collect();
    assert_eq!(used, [8768, 8832, 8896, 8960, 9024]);
    assert_eq!(list[4]["dump"], 5);

    let third = run(&["stats", "--index", "3", "--json", &path(SERIES)], None);
    let json: serde_json::Value = serde_json::from_slice(&third.stdout).expect("JSON");
    assert_eq!(json["used"], 8896);

    let missing = run(&["stats", "--index", "9", &path(SERIES)], None);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("holds 5 dump(s)"), "{missing:?}");

    let text = run(&["stats", "--all", &path(SERIES)], None);
    assert!(stdout(&text).contains("== dump 5 =="), "{}", stdout(&text));

    let diff = run(
        &[
            "diff",
            "--json",
            &format!("{}#2", path(SERIES)),
            &format!("{}#3", path(SERIES)),
        ],
        None,
    );
    assert_eq!(diff.status.code(), Some(0), "{diff:?}");
    // Header-only dumps: no blocks to compare, so no allocation changes, and no error.
    let json: serde_json::Value = serde_json::from_slice(&diff.stdout).expect("JSON");
    assert_eq!(json["max_free_blocks_before"], serde_json::Value::Null);

    let stdin = std::fs::read(fixture(TWO)).unwrap();
    let both = run(&["diff", "--json", "-#1", "-#2"], Some(&stdin));
    assert_eq!(both.status.code(), Some(0), "{both:?}");
    let json: serde_json::Value = serde_json::from_slice(&both.stdout).expect("JSON");
    let warnings = json["warnings"].to_string();
    assert!(warnings.contains("the after map is partial"), "{warnings}");

    let map = run(&["map", "--index", "2", &path(TWO)], None);
    assert_eq!(map.status.code(), Some(0), "{map:?}");
    assert!(stdout(&map).contains("partial map"), "{}", stdout(&map));
    assert!(
        stderr(&map).contains("the map ends early"),
        "{}",
        stderr(&map)
    );
}

/// Rules 1 and 7: warnings go to stderr in text mode and into `warnings` in JSON; unknown
/// figures are "unknown" in text and null in JSON; a readable dump exits 0.
#[test]
fn warnings_and_unknown_figures_in_text_and_json() {
    let text = run(&["stats", &path(SERIES)], None);
    assert_eq!(text.status.code(), Some(0), "{text:?}");
    assert!(
        stdout(&text).contains("longest free run    unknown"),
        "{}",
        stdout(&text)
    );
    assert!(!stdout(&text).contains("warning"), "{}", stdout(&text));
    let errors = stderr(&text);
    assert!(errors.contains("heaplens: warning: "), "{errors}");
    assert!(errors.contains("only the first was read"), "{errors}");
    assert!(errors.contains("no `max free sz`"), "{errors}");

    let json = run(&["stats", "--json", &path(SERIES)], None);
    assert_eq!(json.status.code(), Some(0));
    assert!(json.stderr.is_empty(), "{}", stderr(&json));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert!(value["max_free_blocks"].is_null() && value["fragmentation"].is_null());
    assert!(value["warnings"].to_string().contains("no `max free sz`"));
}

/// The help text names every option of the heap commands.
#[test]
fn heap_commands_document_their_options() {
    for (command, options) in [
        ("stats", &["--json", "--all", "--index"][..]),
        (
            "map",
            &[
                "--all",
                "--index",
                "--columns",
                "--rainbow",
                "--show-free",
                "--no-color",
            ],
        ),
        ("diff", &["--json", "--no-color", "FILE#N"]),
        (
            "capture",
            &[
                "--json",
                "--raw",
                "--save",
                "--gc",
                "--reset",
                "--no-color",
                "--board",
            ],
        ),
    ] {
        let help = run(&[command, "--help"], None);
        let text = stdout(&help);
        for option in options {
            let documented = text
                .lines()
                .any(|line| line.contains(option) && line.trim().len() > option.len() + 4);
            assert!(documented, "{command} {option}:\n{text}");
        }
    }
}
