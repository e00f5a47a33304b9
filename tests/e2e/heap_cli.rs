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
    let run_of_changes = &json["areas"][0]["changes"][0];
    for key in ["start", "blocks", "change"] {
        assert!(run_of_changes.get(key).is_some(), "{key}");
    }

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
