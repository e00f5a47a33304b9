//! `heaplens check` end to end: the real binary, scripts on simulated Picos, budgets from
//! flags and from the project's files, exit codes, the problem lines CI annotates, `--json`,
//! and JUnit XML read back by a real JUnit reader (Python's `junitparser`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::heaplens_bin;

/// A project folder with scripts: `small.py` (a few hundred bytes), `big.py` (a 20,000-byte
/// bytearray on line 2), `raises.py` (a ValueError on line 2).
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("small.py"),
        "x = [1, 2, 3]\nprint(len(x))\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("big.py"),
        "a = 1\nbuf = bytearray(20000)\nprint(len(buf))\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("raises.py"),
        "x = 1\nraise ValueError('no')\n",
    )
    .unwrap();
    dir
}

/// `heaplens check ARGS…` in `dir`.
fn check(dir: &Path, args: &[&str]) -> Output {
    Command::new(heaplens_bin())
        .arg("check")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("spawn heaplens check")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Lines of stdout that are problems (`file:line: …`).
fn problems(out: &Output) -> Vec<String> {
    text(&out.stdout)
        .lines()
        .filter(|l| l.contains(".py:") && !l.starts_with("script"))
        .map(str::to_string)
        .collect()
}

#[test]
fn scripts_within_budget_exit_0_with_a_summary_table() {
    let dir = project();
    let out = check(
        dir.path(),
        &[
            "small.py",
            "big.py",
            "--max-peak",
            "1.5M",
            "--max-after-gc",
            "200K",
            "--min-free-run",
            "4K",
            "--max-line",
            "64K",
            "--jobs",
            "2",
        ],
    );
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert_eq!(problems(&out), Vec::<String>::new());
    let table: Vec<&str> = stdout.lines().collect();
    assert!(
        table[0].starts_with("script") && table[0].contains("peak") && table[0].contains("verdict"),
        "{stdout}"
    );
    // In the order given, whatever order the parallel runs finished in.
    assert!(
        table[1].starts_with("small.py") && table[1].ends_with("ok"),
        "{stdout}"
    );
    assert!(
        table[2].starts_with("big.py") && table[2].ends_with("ok"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 checked: 2 within budget, 0 over budget, 0 could not run"),
        "{stdout}"
    );
    // Not a terminal: a progress line per finished script on stderr.
    let stderr = text(&out.stderr);
    assert!(stderr.contains("/2] small.py: ok"), "{stderr}");
    assert!(stderr.contains("/2] big.py: ok"), "{stderr}");
}

#[test]
fn over_budget_exits_1_with_each_violation_at_its_line() {
    let dir = project();
    let out = check(
        dir.path(),
        &[
            "big.py",
            "small.py",
            "--max-line",
            "16K",
            "--max-peak",
            "32K",
        ],
    );
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let found = problems(&out);
    // The bytearray's line, in the `file:line: message` form problem matchers read.
    assert!(
        found
            .iter()
            .any(|l| l.starts_with("big.py:2: line allocated")
                && l.contains("over budget 16.0 KiB (16,384 bytes)")),
        "{found:?}"
    );
    // Both scripts hold the Pico modules (~40 KiB) so both break a 32K peak budget.
    assert!(
        found
            .iter()
            .any(|l| l.starts_with("big.py:") && l.contains("peak heap use")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|l| l.starts_with("small.py:") && l.contains("peak heap use")),
        "{found:?}"
    );
    assert!(stdout.contains("over budget (2)"), "{stdout}");
}

#[test]
fn a_memory_error_is_over_budget_even_without_budgets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("oom.py"),
        "keep = []\nkeep.append(bytearray(10_000_000))\n",
    )
    .unwrap();
    let out = check(dir.path(), &["oom.py"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        problems(&out)
            .iter()
            .any(|l| l.starts_with("oom.py:2: MemoryError")),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn bad_values_are_usage_errors_that_name_the_value() {
    let dir = project();
    let out = check(dir.path(), &["small.py", "--max-peak", "64Q"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("\"64Q\" is not a size"), "{stderr}");

    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[tool.heaplens]\nmax-after-gc = \"12 parsecs\"\n",
    )
    .unwrap();
    let out = check(dir.path(), &["small.py"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("pyproject.toml: tool.heaplens.max-after-gc: \"12 parsecs\" is not a size"),
        "{stderr}"
    );

    let out = check(dir.path(), &["missing.py", "--no-config"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("missing.py: no such script or folder"));
}

#[test]
fn a_script_that_raises_could_not_run_and_exits_2() {
    let dir = project();
    let out = check(dir.path(), &["raises.py", "small.py", "--max-peak", "1M"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("raises.py: error: the script raised ValueError: no (raises.py line 2)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 within budget, 0 over budget, 1 could not run"),
        "{stdout}"
    );
}

#[test]
fn budgets_from_pyproject_with_a_per_script_override_and_flags_over_both() {
    let dir = project();
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[project]\nname = \"fw\"\n\n[tool.heaplens]\nmax-line = \"8K\"\npaths = [\"small.py\", \"big.py\"]\n\n\
         [tool.heaplens.scripts.\"big.py\"]\nmax-line = \"32K\"\n",
    )
    .unwrap();
    // No arguments: the file's paths; big.py's own budget lets its 20,000 bytes pass.
    let out = check(dir.path(), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("budgets from pyproject.toml"));
    // A flag overrides the script's table.
    let out = check(dir.path(), &["--max-line", "16K"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(problems(&out)
        .iter()
        .any(|l| l.starts_with("big.py:2: line allocated")));
    // A heaplens.toml in a subfolder is found from there and wins over the pyproject above.
    let sub = dir.path().join("fw");
    std::fs::create_dir(&sub).unwrap();
    std::fs::copy(dir.path().join("big.py"), sub.join("big.py")).unwrap();
    std::fs::write(sub.join("heaplens.toml"), "max-line = 1000\n").unwrap();
    let out = check(&sub, &["big.py", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(json["scripts"][0]["budgets"]["max_line"], 1000);
    assert_eq!(json["scripts"][0]["verdict"], "over_budget");
    // Problems go to stderr so that stdout stays one document.
    assert!(text(&out.stderr).contains("big.py:2: line allocated"));
}

#[test]
fn json_summary_has_figures_and_violations() {
    let dir = project();
    let out = check(
        dir.path(),
        &[
            "big.py",
            "--max-line",
            "16K",
            "--json",
            "--no-config",
            "--html",
            "reports",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    // --html DIR: one self-contained page per script, with the check's verdict in its data
    // (extension/test/webview/report.test.ts renders such a page in Chromium).
    let page = std::fs::read_to_string(dir.path().join("reports/big.html")).expect("big.html");
    assert!(page.contains("id=\"heaplens-report\""));
    assert!(page.contains("\"verdict\":\"over budget\""));
    assert!(!page.contains("src=\"") && !page.contains("href=\""));
    let json: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let script = &json["scripts"][0];
    assert_eq!(script["script"], "big.py");
    assert_eq!(json["over_budget"], 1);
    assert_eq!(json["exit_code"], 1);
    let figures = &script["figures"];
    assert_eq!(figures["heap_bytes"], 232_960);
    for key in ["peak_bytes", "after_gc_bytes", "longest_free_run_bytes"] {
        assert!(
            figures[key].as_u64().is_some_and(|n| n > 0),
            "{key}: {figures}"
        );
    }
    let violation = &script["violations"][0];
    assert_eq!(violation["budget"], "max-line");
    assert_eq!(violation["line"], 2);
    assert_eq!(violation["limit"], 16384);
    assert!(
        violation["actual"].as_u64().unwrap() >= 20_000,
        "{violation}"
    );
}

/// The repository's venv Python, which has `junitparser` (scripts/requirements.txt).
fn venv_python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python")
}

#[test]
fn junit_xml_reads_back_with_junitparser() {
    let dir = project();
    let xml = dir.path().join("heap.xml");
    let out = check(
        dir.path(),
        &[
            "small.py",
            "big.py",
            "raises.py",
            "--max-line",
            "16K",
            "--junit",
            "heap.xml",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let reader = r#"
import json, sys
from junitparser import JUnitXml, Failure, Error, Properties
xml = JUnitXml.fromfile(sys.argv[1])
cases = []
for suite in xml:
    for case in suite:
        cases.append({
            "name": case.name,
            "failures": [r.message for r in case.result if isinstance(r, Failure)],
            "errors": [r.message for r in case.result if isinstance(r, Error)],
            "properties": {p.name: p.value for ps in case.iterchildren(Properties) for p in ps},
            "out": case.system_out,
        })
print(json.dumps({"tests": xml.tests, "failures": xml.failures, "errors": xml.errors, "cases": cases}))
"#;
    let python = venv_python();
    let read = Command::new(&python)
        .args(["-c", reader])
        .arg(&xml)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup.sh)", python.display()));
    assert!(read.status.success(), "junitparser: {}", text(&read.stderr));
    let parsed: Value = serde_json::from_slice(&read.stdout).unwrap();
    assert_eq!(parsed["tests"], 3);
    assert_eq!(parsed["failures"], 1);
    assert_eq!(parsed["errors"], 1);
    let cases = parsed["cases"].as_array().unwrap();
    let names: Vec<&str> = cases.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["small.py", "big.py", "raises.py"]);
    assert_eq!(cases[0]["failures"], serde_json::json!([]));
    assert_eq!(cases[0]["out"], "3\n");
    let big = &cases[1];
    assert!(
        big["failures"][0]
            .as_str()
            .unwrap()
            .starts_with("line allocated"),
        "{big}"
    );
    let props = &big["properties"];
    assert_eq!(props["heap_bytes"], "232960");
    assert_eq!(props["budget.max_line"], "16384");
    assert!(
        props["peak_bytes"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 20_000
    );
    assert!(cases[2]["errors"][0]
        .as_str()
        .unwrap()
        .contains("ValueError: no"));
}
