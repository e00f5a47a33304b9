//! Projects end to end: a script that imports the project's modules, packages and `lib/`
//! drivers, on the simulated Pico (`--board sim`) and on the simulated Pico reached as a
//! serial board (`heaplens sim --link PATH`, whose filesystem is its own). Every imported
//! module is measured; the project's files reach the board before the run (only the changed
//! ones), as plain files; nothing else on the board is touched.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{fixture, heaplens_bin, SimProcess};

/// A copy of `tests/fixtures/projects/NAME` in a temporary folder (tests edit it).
struct ProjectDir {
    dir: tempfile::TempDir,
}

impl ProjectDir {
    fn copy_of(name: &str) -> ProjectDir {
        let dir = tempfile::tempdir().expect("a temp folder");
        copy_tree(&fixture(&format!("projects/{name}")), dir.path());
        ProjectDir { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.path(rel), text).expect("write a project file");
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).expect("read a project file")
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read the fixture folder") {
        let entry = entry.expect("a fixture entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("its type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// `heaplens run SCRIPT --json ARGS…`: the report and what went to stderr.
fn run_json(script: &Path, args: &[&str]) -> (Value, String, Option<i32>) {
    let out = Command::new(heaplens_bin())
        .arg("run")
        .arg(script)
        .arg("--json")
        .args(args)
        .output()
        .expect("spawn heaplens run");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}); stderr:\n{stderr}"));
    (report, stderr, out.status.code())
}

/// The `lines[]` entry of `file` line `n`.
fn line<'a>(report: &'a Value, file: &str, n: u64) -> &'a Value {
    report["lines"]
        .as_array()
        .and_then(|lines| lines.iter().find(|l| l["file"] == file && l["line"] == n))
        .unwrap_or_else(|| panic!("no lines[] entry for {file}:{n}: {:#}", report["lines"]))
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

/// Every module the script imports is measured, line by line, in its own file; the error
/// raised inside a module lands there, called from the script's line.
fn assert_sensor_report(report: &Value) {
    assert_eq!(report["script"], "main.py");
    assert_eq!(report["instrumented"], true, "{report:#}");
    assert_eq!(report["output"], "peak 58 frame 512\n");
    // Each file's lines carry their file; the script's come first.
    let files: Vec<&str> = report["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(|l| l["file"].as_str())
        .collect();
    assert_eq!(files.first(), Some(&"main.py"));
    for file in [
        "filters.py",
        "sensors/__init__.py",
        "sensors/raw.py",
        "lib/ssd1306.py",
    ] {
        assert!(files.contains(&file), "{file} not measured: {files:?}");
    }
    // The loop of moving_average ran 40 times; reading() was called 40 times; the driver
    // allocated its frame buffer (512 bytes of data) on its own line.
    assert_eq!(line(report, "filters.py", 7)["hits"], 40);
    assert_eq!(line(report, "sensors/raw.py", 5)["hits"], 40);
    let buffer = line(report, "lib/ssd1306.py", 5);
    assert_eq!(buffer["hits"], 1);
    assert!(
        buffer["allocated_bytes"].as_u64().unwrap_or(0) >= 512,
        "{buffer}"
    );
    // The import lines carry the cost of loading their modules.
    assert!(
        line(report, "main.py", 2)["allocated_bytes"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
    // The traceback is the board's own (module file names as its import gives them) ...
    let traceback = report["traceback"].as_str().expect("a traceback");
    assert!(
        traceback.contains("File \"filters.py\", line 19, in check"),
        "{traceback}"
    );
    assert!(!traceback.contains("<heaplens>"), "{traceback}");
    // ... and the diagnostic is on the module's line, called from the script's.
    let error = report["diagnostics"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["severity"] == "error"))
        .expect("an error diagnostic");
    assert_eq!(
        (&error["file"], &error["line"], &error["code"]),
        (
            &Value::from("filters.py"),
            &Value::from(19),
            &Value::from("exception")
        )
    );
    assert_eq!(error["related"][0]["file"], "main.py");
    assert_eq!(error["related"][0]["line"], 11);
    assert_eq!(report["unmeasured"], serde_json::json!([]));
}

#[test]
fn a_project_on_the_simulated_pico_measures_every_imported_module() {
    let project = ProjectDir::copy_of("sensor");
    let (report, stderr, code) = run_json(&project.path("main.py"), &["--board", "sim"]);
    assert_eq!(code, Some(1), "the script raised: {stderr}");
    assert_sensor_report(&report);
    // A fresh simulated Pico has an empty flash: every project file is copied, README.md
    // (not a board file) is not.
    assert_eq!(
        strings(&report["copied"]),
        [
            "config.json",
            "filters.py",
            "lib/ssd1306.py",
            "main.py",
            "sensors/__init__.py",
            "sensors/raw.py"
        ]
    );
    assert!(
        stderr.contains("heaplens: copied to the board: config.json, filters.py"),
        "{stderr}"
    );
}

#[test]
fn the_terminal_report_groups_lines_by_file() {
    let project = ProjectDir::copy_of("sensor");
    let out = Command::new(heaplens_bin())
        .args(["run", "--board", "sim", "--no-color"])
        .arg(project.path("main.py"))
        .output()
        .expect("spawn heaplens run");
    let text = String::from_utf8_lossy(&out.stdout);
    let heading = |name: &str| {
        text.lines()
            .position(|l| l.starts_with(name) && l.ends_with(')'))
            .unwrap_or_else(|| panic!("no heading for {name}:\n{text}"))
    };
    let order = [
        heading("main.py ("),
        heading("filters.py ("),
        heading("sensors/__init__.py ("),
        heading("lib/ssd1306.py ("),
    ];
    assert!(order[0] < order[1], "{text}");
    assert!(
        text.contains(
            "error filters.py line 19 [exception]: ValueError: reading 52 over the limit 50"
        ),
        "{text}"
    );
    assert!(text.contains("    line 11: called from here"), "{text}");
}

#[test]
fn a_serial_board_gets_only_changed_plain_files_and_keeps_its_own() {
    let link_dir = tempfile::tempdir().expect("a temp folder");
    let link = link_dir.path().join("pico");
    let sim = SimProcess::start_with(Some(&link), None);
    let board = link.to_string_lossy().into_owned();
    let project = ProjectDir::copy_of("sensor");
    let main = project.path("main.py");
    // A file of the board's own, which no run may delete.
    sim.exec("f = open('notes.txt', 'w'); f.write('mine'); f.close()");

    let (report, stderr, _) = run_json(&main, &["--board", &board]);
    assert_sensor_report(&report);
    assert_eq!(strings(&report["copied"]).len(), 6, "{stderr}");
    // The board holds the user's own plain files, never instrumented ones.
    for file in ["main.py", "filters.py", "sensors/raw.py"] {
        let on_board = sim.exec(&format!("print(open('{file}').read(), end='')"));
        assert_eq!(on_board, project.read(file), "{file} on the board");
    }
    let on_board = sim.exec("print(open('lib/ssd1306.py').read(), end='')");
    assert_eq!(on_board, project.read("lib/ssd1306.py"));

    // Unchanged: nothing is copied again.
    let (report, _, _) = run_json(&main, &["--board", &board]);
    assert_eq!(report["copied"], serde_json::json!([]));
    assert_sensor_report(&report);

    // An edited module reaches the board on the next run, and only it; its new lines are
    // measured.
    let edited = project.read("sensors/raw.py").replace(
        "return (i * SCALE) % 64",
        "return (i * SCALE) % 40\n\n\nTABLE = [0] * 100",
    );
    project.write("sensors/raw.py", &edited);
    let (report, stderr, _) = run_json(&main, &["--board", &board]);
    assert_eq!(strings(&report["copied"]), ["sensors/raw.py"], "{stderr}");
    assert_eq!(
        sim.exec("print(open('sensors/raw.py').read(), end='')"),
        edited
    );
    let table = line(&report, "sensors/raw.py", 8);
    assert_eq!(table["hits"], 1);
    assert!(
        table["allocated_bytes"].as_u64().unwrap_or(0) >= 400,
        "{table}"
    );
    assert_eq!(report["output"], "peak 34 frame 512\n");

    // A file bigger than one write goes in parts, renamed into place in `/lib` (the unix
    // port's flash mount cannot rename absolute paths: this once failed with ENOENT).
    let big: String = (0..400).map(|i| format!("T{i} = {i}\n")).collect();
    assert!(big.len() > 4096);
    project.write("lib/table.py", &big);
    let (report, stderr, _) = run_json(&main, &["--board", &board]);
    assert_eq!(strings(&report["copied"]), ["lib/table.py"], "{stderr}");
    project.write("lib/table.py", &format!("{big}END = 1\n"));
    let (report, stderr, _) = run_json(&main, &["--board", &board]);
    assert_eq!(strings(&report["copied"]), ["lib/table.py"], "{stderr}");
    assert_eq!(
        sim.exec("print(open('/lib/table.py').read(), end='')"),
        format!("{big}END = 1\n")
    );

    // The board's own file is still there.
    assert_eq!(sim.exec("print(open('notes.txt').read())"), "mine\n");
}

#[test]
fn imports_the_probes_cannot_measure_run_as_the_boards_own() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let write = |rel: &str, text: &str| std::fs::write(dir.path().join(rel), text).expect("write");
    write(
        "main.py",
        "import time\nimport plain\nx = __import__('dyn').VALUE\nprint(plain.f(), x, time.ticks_ms() >= 0)\nimport broken\n",
    );
    // A Ctrl-C byte would interrupt the board while the module is sent: it runs unmeasured.
    write(
        "plain.py",
        "# a raw \x03 in a comment\ndef f():\n    return 'one'\n",
    );
    write("dyn.py", "VALUE = 7\n");
    write("broken.py", "y = 1\ndef g(:\n    pass\n");
    let (report, stderr, code) = run_json(&dir.path().join("main.py"), &["--board", "sim"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(report["output"], "one 7 True\n");
    let unmeasured: Vec<&str> = report["unmeasured"]
        .as_array()
        .expect("unmeasured")
        .iter()
        .filter_map(|u| u["file"].as_str())
        .collect();
    assert_eq!(
        unmeasured,
        ["plain.py", "broken.py"],
        "{:#}",
        report["unmeasured"]
    );
    // `dyn` is imported by a name computed at run time: found by the board's own import.
    assert!(report["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .all(|l| l["file"] == "main.py"));
    // The board's own SyntaxError, in the module's file.
    let error = report["diagnostics"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["severity"] == "error"))
        .expect("an error");
    assert_eq!(error["code"], "syntax-error", "{error:#}");
    assert_eq!(error["file"], "broken.py", "{error:#}");
    assert_eq!(error["line"], 2, "{error:#}");
}

#[test]
fn imports_under_the_probes_behave_as_the_boards_own() {
    let link_dir = tempfile::tempdir().expect("a temp folder");
    let link = link_dir.path().join("pico");
    let sim = SimProcess::start_with(Some(&link), None);
    let board = link.to_string_lossy().into_owned();
    let project = ProjectDir::copy_of("imports");
    let (report, stderr, code) = run_json(&project.path("main.py"), &["--board", &board]);
    assert_eq!(code, Some(0), "{stderr}");
    // The plain script on the same board, after a soft reset, with the board's own import
    // of the files the run copied.
    let reset = Command::new(heaplens_bin())
        .args(["capture", "--board", &board, "--reset", "--raw"])
        .output()
        .expect("spawn heaplens capture");
    assert!(reset.status.success(), "{reset:?}");
    let plain = sim.exec(&project.read("main.py"));
    assert_eq!(report["output"].as_str(), Some(plain.as_str()));
    assert!(plain.contains("circ 1 1\n"), "{plain}");
    assert!(plain.contains("failing raised boom False\n"), "{plain}");
    // Every module was measured; imports in a loop allocate nothing through the harness.
    for file in [
        "circ_a.py",
        "circ_b.py",
        "pkg/__init__.py",
        "pkg/sub.py",
        "stars/__init__.py",
        "failing.py",
    ] {
        assert!(
            report["lines"]
                .as_array()
                .expect("lines")
                .iter()
                .any(|l| l["file"] == file),
            "{file} not measured"
        );
    }
    for n in [25, 26] {
        let l = line(&report, "main.py", n);
        assert_eq!(
            (l["hits"].as_u64(), l["allocated_bytes"].as_u64()),
            (Some(50), Some(0)),
            "{l}"
        );
    }
    // The module that raised ran twice (its second import ran it again).
    assert_eq!(line(&report, "failing.py", 2)["hits"], 2);
}
