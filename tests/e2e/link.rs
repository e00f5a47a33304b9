//! Hardening of the link and the CLI's input (issue 13): what a script prints is data, never
//! framing; bad numbers and paths get a clear error, never a panic; a run stopped at any
//! moment gives its report so far or a clear reason, and leaves the board usable.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{heaplens_bin, SimProcess};

/// `heaplens ARGS…`.
fn heaplens(args: &[&OsStr]) -> Output {
    Command::new(heaplens_bin())
        .args(args)
        .output()
        .expect("spawn heaplens")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `heaplens run SCRIPT --json ARGS…`: exit code and the report.
fn run_json(script: &Path, args: &[&str]) -> (Option<i32>, Value, String) {
    let mut all: Vec<&OsStr> = vec![OsStr::new("run"), script.as_os_str(), OsStr::new("--json")];
    all.extend(args.iter().map(OsStr::new));
    let out = heaplens(&all);
    let stderr = text(&out.stderr);
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}); stderr:\n{stderr}"));
    (out.status.code(), report, stderr)
}

/// Line endings as a Pico sends them or as the simulated one does: compared as `\n`.
fn lf(text: &str) -> String {
    text.replace("\r\n", "\n")
}

// ---- The link cannot be confused by what a script prints ----

/// A script that prints what the raw REPL and the harness use as framing: EOT bytes, a fake
/// `\x04Traceback … MemoryError … \x04>` followed by silence, fake record markers (with
/// another run's nonce), and output cut by the harness's own trace records mid-line.
const CONFUSING: &str = r#"import time
print('a\x04b')
print('c\x04d\x04e')
print('\x04Traceback (most recent call last):\r\n  File "<stdin>", line 9\r\nMemoryError: memory allocation failed, allocating 99999 bytes\r\n\x04>', end='')
time.sleep(0.3)
print('\x1eHL0123456789abcdef T 1')
print('\x1eHL0123456789abcdef Z 0 0')
print('\x1eHL0123456789abcdef .\x1e\x1eHL')
x = [bytearray(100) for i in range(5)]
print('tail', end='')
y = bytearray(2000)
print(' end\x04', end='')
z = bytearray(3000)
print('!')
"#;

/// What [`CONFUSING`] prints, byte for byte (as `\n` line endings).
const CONFUSING_OUTPUT: &str = "a\x04b\nc\x04d\x04e\n\x04Traceback (most recent call last):\n  File \"<stdin>\", line 9\nMemoryError: memory allocation failed, allocating 99999 bytes\n\x04>\x1eHL0123456789abcdef T 1\n\x1eHL0123456789abcdef Z 0 0\n\x1eHL0123456789abcdef .\x1e\x1eHL\ntail end\x04!\n";

#[test]
fn script_output_is_data_never_framing_with_and_without_allocation_tracing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("confusing.py");
    std::fs::write(&script, CONFUSING).expect("write script");
    for tracing in [false, true] {
        let mut args = vec!["--board", "sim"];
        if tracing {
            args.push("--trace-allocations");
        }
        let (code, report, stderr) = run_json(&script, &args);
        assert_eq!(code, Some(0), "tracing {tracing}: {stderr}");
        let output = report["output"].as_str().expect("output");
        assert_eq!(lf(output), CONFUSING_OUTPUT, "tracing {tracing}");
        assert_eq!(report["exception"], Value::Null, "no fake MemoryError");
        assert_eq!(report["traceback"], Value::Null);
        let diagnostics = report["diagnostics"].as_array().expect("diagnostics");
        assert!(
            diagnostics.iter().all(|d| d["severity"] != "error"),
            "tracing {tracing}: {diagnostics:?}"
        );
        // The lines after the fake markers were measured: the harness's records were read.
        let line = |n: u64| {
            report["lines"]
                .as_array()
                .and_then(|lines| lines.iter().find(|l| l["line"] == n))
                .cloned()
                .unwrap_or(Value::Null)
        };
        assert!(
            line(13)["allocated_bytes"].as_u64() >= Some(3000),
            "{}",
            line(13)
        );
        assert!(report["snapshots"]["after_gc"].is_object());
        if tracing {
            let lines: Vec<&Value> = report["allocation_lines"]
                .as_array()
                .expect("allocation lines")
                .iter()
                .collect();
            assert!(lines.iter().any(|l| l["line"] == 13), "{lines:?}");
        }
    }
}

#[test]
fn a_plain_exec_passes_every_byte_and_only_the_scripts_own_traceback() {
    // Ends normally: every byte on stdout, nothing on stderr, exit 0.
    let out = heaplens(&[
        OsStr::new("exec"),
        OsStr::new("--board"),
        OsStr::new("sim"),
        OsStr::new(CONFUSING),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(lf(&text(&out.stdout)), CONFUSING_OUTPUT);
    assert_eq!(text(&out.stderr), "");
    // Ends in an exception after the same output: the traceback is the script's, as the
    // raw REPL prints it for a plain exec (no frame of the wrapper that framed it).
    let failing = format!("{CONFUSING}def f():\n    1/0\nf()\n");
    let out = heaplens(&[
        OsStr::new("exec"),
        OsStr::new("--board"),
        OsStr::new("sim"),
        OsStr::new(&failing),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lf(&text(&out.stdout)), CONFUSING_OUTPUT);
    assert_eq!(
        lf(&text(&out.stderr)),
        "Traceback (most recent call last):\n  File \"<stdin>\", line 17, in <module>\n  \
         File \"<stdin>\", line 16, in f\nZeroDivisionError: divide by zero\n"
    );
    // A syntax error: the compiler's traceback, as for a plain exec, and nothing ran.
    let out = heaplens(&[
        OsStr::new("exec"),
        OsStr::new("--board"),
        OsStr::new("sim"),
        OsStr::new("print('ran')\nx = (\n"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        lf(&text(&out.stderr)),
        "Traceback (most recent call last):\n  File \"<stdin>\", line 3\nSyntaxError: invalid syntax\n"
    );
}

#[test]
fn the_terminal_gets_the_scripts_bytes_in_order_before_the_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("confusing.py");
    std::fs::write(&script, CONFUSING).expect("write script");
    let out = heaplens(&[
        OsStr::new("run"),
        script.as_os_str(),
        OsStr::new("--board"),
        OsStr::new("sim"),
        OsStr::new("--no-color"),
        OsStr::new("--trace-allocations"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = lf(&text(&out.stdout));
    assert!(stdout.starts_with(CONFUSING_OUTPUT), "{stdout}");
    assert!(stdout[CONFUSING_OUTPUT.len()..].contains("Top lines by bytes allocated"));
}

// ---- Runs end cleanly whenever they are stopped ----

/// Whether process `pid` has a SIGINT handler (`/proc/PID/status`, `SigCgt`).
fn catches_sigint(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        })
        .is_some_and(|mask| mask & (1 << (libc::SIGINT - 1)) != 0)
}

fn interrupt(child: &Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
}

#[test]
fn ctrl_c_at_any_moment_gives_the_report_so_far_or_a_clear_reason_and_the_board_stays_usable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("spin.py");
    std::fs::write(
        &script,
        "import time\nn = 0\nfor i in range(300):\n    n += i\n    s = str(i)\n    time.sleep(0.01)\nprint('end', n)\n",
    )
    .expect("write script");
    let sim = SimProcess::start();
    let (mut reports, mut refused) = (0, 0);
    // Delays after `heaplens run` can take Ctrl-C: while connecting, copying, resetting,
    // starting the harness, running, ending. Only outcomes are checked, never timings.
    for delay_ms in [0u64, 40, 50, 60, 70, 120, 200, 350, 600, 1000, 1600] {
        let child = Command::new(heaplens_bin())
            .arg("run")
            .arg(&script)
            .args(["--board", &sim.path, "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn heaplens run");
        let started = Instant::now();
        while !catches_sigint(child.id()) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no Ctrl-C handler"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        interrupt(&child);
        let out = child.wait_with_output().expect("wait heaplens run");
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{delay_ms} ms: {stderr}");
        assert!(
            !stderr.contains("did not stop"),
            "{delay_ms} ms: a stop is never a deadline failure: {stderr}"
        );
        match out.status.code() {
            Some(0) => {
                let report: Value = serde_json::from_slice(&out.stdout)
                    .unwrap_or_else(|e| panic!("{delay_ms} ms: {e}; {stderr}"));
                let output = lf(report["output"].as_str().expect("output"));
                // Stopped: the report so far; or the script had finished by then.
                assert!(
                    report["interrupted"] == true || output == "end 44850\n",
                    "{delay_ms} ms: {report}"
                );
                if report["interrupted"] == true {
                    let codes: Vec<&Value> = report["diagnostics"]
                        .as_array()
                        .expect("diagnostics")
                        .iter()
                        .map(|d| &d["code"])
                        .collect();
                    assert!(codes.contains(&&Value::from("interrupted")), "{codes:?}");
                    assert!(
                        report["exception"].is_null() || report["exception"] == "KeyboardInterrupt",
                        "{report}"
                    );
                }
                assert!(report["snapshots"]["before"].is_object());
                assert!(report["snapshots"]["after_gc"].is_object());
                reports += 1;
            }
            Some(2) => {
                assert!(
                    stderr.contains("before the script started: nothing ran"),
                    "{delay_ms} ms: {stderr}"
                );
                refused += 1;
            }
            other => panic!("{delay_ms} ms: exit {other:?}: {stderr}"),
        }
        // The board is usable right after.
        assert_eq!(
            sim.exec("print(6 * 7)"),
            "42\n",
            "after a stop at {delay_ms} ms"
        );
    }
    eprintln!("{reports} reports, {refused} stopped before the script started");
    assert!(reports > 0, "some stops came while the script ran");
}

// ---- Bad numbers and paths get a clear error, never a panic ----

#[test]
fn timeouts_that_are_not_seconds_are_refused_with_a_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("a.py");
    std::fs::write(&script, "print(1)\n").expect("write script");
    for bad in [
        "inf",
        "-inf",
        "1e300",
        "1e19",
        "2^64",
        "18446744073709551616",
        "nan",
        "NaN",
        "-1",
        "86401",
        "",
        "ten",
    ] {
        let flag = format!("--timeout={bad}");
        for command in [
            vec![OsStr::new("run"), script.as_os_str(), OsStr::new(&flag)],
            vec![
                OsStr::new("exec"),
                OsStr::new(&flag),
                OsStr::new("print(1)"),
            ],
        ] {
            let out = heaplens(&command);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{flag}: {stderr}");
            assert!(
                stderr.contains("invalid value") && stderr.contains("--timeout"),
                "{flag}: {stderr}"
            );
            assert!(
                stderr.contains("is not a timeout") || stderr.contains("is not a number"),
                "{flag}: {stderr}"
            );
        }
    }
}

#[test]
fn sim_link_refuses_any_existing_path_and_a_missing_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("file");
    std::fs::write(&file, "keep me").expect("write file");
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).expect("make folder");
    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink("/nonexistent/target", &dangling).expect("make symlink");
    for (path, what) in [
        (&file, "a file already exists"),
        (&folder, "a folder already exists"),
        (&dangling, "a symlink already exists"),
    ] {
        let out = heaplens(&[OsStr::new("sim"), OsStr::new("--link"), path.as_os_str()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(what), "{stderr}");
        assert!(stderr.contains("never replaces"), "{stderr}");
    }
    assert_eq!(
        std::fs::read_to_string(&file).expect("file kept"),
        "keep me"
    );
    assert!(folder.is_dir());
    assert_eq!(
        std::fs::read_link(&dangling).expect("symlink kept"),
        Path::new("/nonexistent/target")
    );
    let missing = dir.path().join("no-such-folder").join("pico");
    let out = heaplens(&[OsStr::new("sim"), OsStr::new("--link"), missing.as_os_str()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(!missing.parent().expect("parent").exists());
}

#[test]
fn sim_link_removes_only_the_link_it_made() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Its own link goes when it stops.
    let link = dir.path().join("pico");
    let sim = SimProcess::start_with(Some(&link), None);
    assert_eq!(
        std::fs::read_link(&link).expect("link made"),
        Path::new(&sim.path)
    );
    assert!(sim.stop().success());
    assert!(std::fs::symlink_metadata(&link).is_err(), "link removed");
    // A file put in the link's place while it ran is someone else's: it stays.
    let sim = SimProcess::start_with(Some(&link), None);
    std::fs::remove_file(&link).expect("remove link");
    std::fs::write(&link, "mine").expect("write file");
    assert!(sim.stop().success());
    assert_eq!(std::fs::read_to_string(&link).expect("file kept"), "mine");
}

#[test]
fn a_script_whose_file_name_is_not_utf8_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join(OsStr::from_bytes(b"caf\xe9.py"));
    std::fs::write(&script, "x = bytearray(500)\nprint('hi')\n").expect("write script");
    let (code, report, stderr) = run_json(&script, &["--board", "sim"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(lf(report["output"].as_str().expect("output")), "hi\n");
    assert_eq!(report["script"], "caf\u{fffd}.py");
    let first = &report["lines"][0];
    assert_eq!(first["line"], 1);
    assert!(first["allocated_bytes"].as_u64() >= Some(500), "{first}");
}

/// A script that catches KeyboardInterrupt forever.
const STUBBORN: &str = "import time
print('started')
while True:
    try:
        time.sleep(1)
    except KeyboardInterrupt:
        print('ignored')
";

#[test]
fn a_script_that_ignores_ctrl_c_resets_the_simulated_pico_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("stubborn.py");
    std::fs::write(&script, STUBBORN).expect("write script");
    for command in ["exec", "run"] {
        let target: &OsStr = if command == "exec" {
            OsStr::new(STUBBORN)
        } else {
            script.as_os_str()
        };
        let out = heaplens(&[
            OsStr::new(command),
            target,
            OsStr::new("--board"),
            OsStr::new("sim"),
            OsStr::new("--timeout"),
            OsStr::new("0.5"),
        ]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("the script ignored Ctrl-C")
                && stderr.contains("the simulated Pico was reset"),
            "{command}: {stderr}"
        );
        assert!(!stderr.contains("did not stop"), "{command}: {stderr}");
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains("started") && stdout.contains("ignored"),
            "{command}: the output so far is shown: {stdout}"
        );
    }
}

#[test]
fn the_simulated_pico_works_after_a_reset_for_an_ignored_stop() {
    use heaplens::board::{Board, BoardSpec, CancelToken, LinkError, LinkOptions, SimOptions};
    let opts = LinkOptions {
        interrupt_deadline: Duration::from_millis(500),
        ..LinkOptions::default()
    };
    let mut board =
        Board::open(&BoardSpec::Simulated, &SimOptions::default(), &opts).expect("open sim");
    let old_pid = board.simulator_child_pid();
    let cancel = CancelToken::new();
    let trigger = cancel.clone();
    let result = heaplens::run::plain::exec_as_is(
        &mut board,
        STUBBORN,
        &mut |bytes| {
            if String::from_utf8_lossy(bytes).contains("started") {
                trigger.cancel();
            }
        },
        &cancel,
    );
    assert!(
        matches!(
            result,
            Err(LinkError::StopIgnored {
                board_reset: true,
                ..
            })
        ),
        "{result:?}"
    );
    assert_ne!(board.simulator_child_pid(), old_pid, "a new interpreter");
    assert!(board.is_fresh());
    let outcome = board
        .exec_capture("print(6 * 7)")
        .expect("exec after reset");
    assert_eq!(text(&outcome.stdout).trim(), "42");
}
