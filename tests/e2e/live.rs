//! Live heap, end to end: a Pico-style endless loop stopped by `--timeout` gives its heap
//! timeline (JSON, CSV, the terminal report) and names the leaking line, never the bounded
//! one (`tests/fixtures/scenarios/endless_leak.py`).

use std::process::Command;

use serde_json::Value;

use crate::support::{fixture, heaplens_bin};

fn num(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{v} is not a non-negative integer"))
}

#[test]
fn an_endless_loop_stopped_by_timeout_has_a_timeline_and_a_leak_on_its_unbounded_line() {
    let csv = tempfile::NamedTempFile::new().expect("temp file");
    let out = Command::new(heaplens_bin())
        .arg("run")
        .arg(fixture("scenarios/endless_leak.py"))
        .args([
            "--board",
            "sim",
            "--json",
            "--timeout",
            "3",
            "--trace-allocations",
        ])
        .arg("--timeline-csv")
        .arg(csv.path())
        .output()
        .expect("spawn heaplens run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}); stderr:\n{stderr}"));
    assert_eq!(report["timed_out"], true, "{stderr}");

    // The timeline: samples in time order, each with used + free = the heap's size.
    let timeline = report["timeline"].as_array().expect("timeline is a list");
    assert!(timeline.len() >= 10, "{} samples", timeline.len());
    assert_eq!(num(&report["timeline_samples"]), timeline.len() as u64);
    let total = num(&report["snapshots"]["before"]["gc_total"]);
    let mut last_t = None;
    for sample in timeline {
        let t = num(&sample["t_ms"]);
        assert!(
            last_t.is_none_or(|last| t > last),
            "{sample} after {last_t:?}"
        );
        last_t = Some(t);
        assert_eq!(
            num(&sample["used"]) + num(&sample["free"]),
            total,
            "{sample}"
        );
        assert!(sample.get("max_free").is_none(), "not sampled: {sample}");
    }
    // The heap grew while it ran (the unbounded list).
    let used = |i: usize| num(&timeline[i]["used"]);
    assert!(used(timeline.len() - 1) > used(0), "{timeline:?}");

    // `leak` on line 11 only, with its rate; line 8 keeps 20 items and is no leak.
    let diagnostics = report["diagnostics"].as_array().expect("diagnostics");
    let leaks: Vec<&Value> = diagnostics.iter().filter(|d| d["code"] == "leak").collect();
    assert_eq!(
        leaks.iter().map(|d| num(&d["line"])).collect::<Vec<_>>(),
        [11],
        "{diagnostics:#?}"
    );
    let message = leaks[0]["message"].as_str().expect("message");
    assert!(message.contains(" per execution, +"), "{message}");
    assert!(message.ends_with(" per second)"), "{message}");

    // The CSV holds the same samples.
    let text = std::fs::read_to_string(csv.path()).expect("the CSV was written");
    let mut rows = text.lines();
    assert_eq!(rows.next(), Some("t_ms,used,free,max_free"));
    let rows: Vec<&str> = rows.collect();
    assert_eq!(rows.len(), timeline.len());
    assert_eq!(
        rows[0],
        format!(
            "{},{},{},",
            timeline[0]["t_ms"], timeline[0]["used"], timeline[0]["free"]
        )
    );
}

#[test]
fn the_terminal_report_of_a_stopped_endless_loop_has_its_timeline_section() {
    let out = Command::new(heaplens_bin())
        .arg("run")
        .arg(fixture("scenarios/endless_leak.py"))
        .args([
            "--board",
            "sim",
            "--timeout",
            "2",
            "--no-color",
            "--timeline-ms",
            "50",
        ])
        .output()
        .expect("spawn heaplens run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let section = stdout
        .split("Heap timeline\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no timeline section:\n{stdout}"));
    let first = section.lines().next().unwrap_or_default();
    let samples: u64 = first
        .trim()
        .split(' ')
        .next()
        .and_then(|n| n.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("{first}"));
    assert!(samples >= 10, "{first}");
    assert!(section.contains("  peak "), "{section}");
    assert!(section.contains(" │"), "a sparkline: {section}");
    // Without allocation tracing there is no evidence for a leak: none is claimed.
    assert!(!stdout.contains("[leak]"), "{stdout}");
}

#[test]
fn no_timeline_with_timeline_ms_zero() {
    let out = Command::new(heaplens_bin())
        .arg("run")
        .arg(fixture("scenarios/endless_leak.py"))
        .args([
            "--board",
            "sim",
            "--json",
            "--timeout",
            "1",
            "--timeline-ms",
            "0",
        ])
        .output()
        .expect("spawn heaplens run");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["timeline"], serde_json::json!([]));
    assert_eq!(report["timed_out"], true);
}
