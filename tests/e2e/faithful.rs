//! Faithful runs (issue #12): a script runs under `heaplens run` exactly as it runs plainly
//! over the raw REPL (what `mpremote run` does; here `heaplens exec`), and every line gets its
//! own hits and bytes by the rules the README states.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::heaplens_bin;

/// A script written to a temporary file.
struct Script {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn script(name: &str, text: &[u8]) -> Script {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write script");
    Script { _dir: dir, path }
}

/// `heaplens run SCRIPT --board sim --json ARGS…`: the report and the exit code.
fn run_json(script: &Script, args: &[&str]) -> (Value, Option<i32>) {
    let out = Command::new(heaplens_bin())
        .arg("run")
        .arg(&script.path)
        .args(["--board", "sim", "--json"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("spawn heaplens run");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (report, out.status.code())
}

/// The plain run over the raw REPL: (stdout, traceback).
fn plain(code: &str) -> (String, String) {
    let out = Command::new(heaplens_bin())
        .args(["exec", "--board", "sim", code])
        .output()
        .expect("spawn heaplens exec");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn line(report: &Value, n: u64) -> &Value {
    report["lines"]
        .as_array()
        .and_then(|lines| lines.iter().find(|l| l["line"] == n))
        .unwrap_or_else(|| panic!("no entry for line {n}: {:#}", report["lines"]))
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{v} is not a count"))
}

#[test]
fn system_exit_is_a_normal_end_with_its_code() {
    let s = script(
        "exit.py",
        b"import sys\nx = [1] * 100\nprint('bye')\nsys.exit(3)\nprint('never')\n",
    );
    let (report, code) = run_json(&s, &[]);
    assert_eq!(code, Some(3), "heaplens run exits with the script's code");
    assert_eq!(report["system_exit"], 3);
    assert_eq!(report["output"], "bye\n");
    assert_eq!(report["exception"], Value::Null);
    assert!(report["snapshots"]["after_gc"].is_object());
    assert_eq!(line(&report, 4)["hits"], 1);
    assert!(num(&line(&report, 2)["allocated_bytes"]) >= 800);
    for (text, want) in [
        (&b"raise SystemExit\n"[..], 0),
        (b"import sys\nsys.exit()\n", 0),
        (b"raise SystemExit(7)\n", 7),
    ] {
        let s = script("exit.py", text);
        let (report, code) = run_json(&s, &[]);
        assert_eq!(
            report["system_exit"],
            want,
            "{}",
            String::from_utf8_lossy(text)
        );
        assert_eq!(code, Some(want));
    }
}

#[test]
fn a_script_may_rebind_or_delete_anything() {
    let s = script(
        "rebind.py",
        b"import builtins, gc, micropython\n\
          data = bytearray(2000)\n\
          builtins.print = None\n\
          builtins.__import__ = lambda *a: None\n\
          builtins.isinstance = None\n\
          del gc\n\
          micropython = None\n\
          _hl_o = _hl_h = _hl_p = 0\n\
          globals().clear()\n\
          raise ValueError('still reported')\n",
    );
    let (report, code) = run_json(&s, &[]);
    assert_eq!(code, Some(1));
    assert_eq!(report["exception"], "ValueError: still reported");
    assert!(report["snapshots"]["after"].is_object());
    assert!(report["snapshots"]["after_gc"].is_object());
    assert!(num(&line(&report, 2)["allocated_bytes"]) >= 2000);
    assert_eq!(line(&report, 10)["hits"], 1);
}

#[test]
fn the_namespace_and_the_line_numbers_are_the_plain_runs() {
    let code = "\
import sys
print(sorted(globals().keys()))
print(dir())
try:
    try:
        1 / 0
    finally:
        pass
except ZeroDivisionError as e:
    sys.print_exception(e)
try:
    micropython.const(1)
except NameError as e:
    print('NameError', e)
";
    let s = script("ns.py", code.as_bytes());
    let (report, _) = run_json(&s, &[]);
    let (stdout, _) = plain(code);
    assert_eq!(report["output"].as_str(), Some(stdout.as_str()));
    assert!(stdout.contains("line 6"), "{stdout}");
    assert!(stdout.contains("NameError"), "{stdout}");
}

#[test]
fn the_script_sees_the_boards_files_and_nothing_of_heaplens() {
    // On the simulated Pico the harness and the script reach the board as files of its
    // flash (read, then removed, before the script starts): none may be left for the script
    // to see, in this run or the next.
    let code = "import os\nprint(sorted(os.listdir('/')))\nprint(sorted(os.listdir()))\n";
    let s = script("files.py", code.as_bytes());
    let (report, _) = run_json(&s, &[]);
    assert_eq!(
        report["output"].as_str(),
        Some("['files.py']\n['files.py']\n"),
        "{report:#}"
    );
    // The plain run sees an empty board: it copies nothing.
    let (stdout, _) = plain(code);
    assert_eq!(stdout, "[]\n[]\n");
}

#[test]
fn crlf_cr_only_and_a_byte_order_mark_behave_as_on_a_board() {
    // The lexer turns CR LF and lone CR into line breaks; a CRLF inside a string is one.
    let s = script(
        "crlf.py",
        b"s = \"\"\"a\r\nb\"\"\"\r\nprint(repr(s))\r\nx = [1]\r\n",
    );
    let (report, _) = run_json(&s, &[]);
    assert_eq!(report["output"], "'a\\nb'\n");
    assert_eq!(report["instrumented"], true);
    assert_eq!(line(&report, 3)["hits"], 1);
    let s = script("cr.py", b"x = [1]\rprint(x)\ry = 2\r");
    let (report, _) = run_json(&s, &[]);
    assert_eq!(report["output"], "[1]\n");
    assert_eq!(report["instrumented"], true, "{report:#}");
    assert!(num(&line(&report, 1)["allocated_bytes"]) > 0);
    let s = script("bom.py", "\u{feff}print('bom')\n".as_bytes());
    let (report, code) = run_json(&s, &[]);
    assert_eq!((report["output"].as_str(), code), (Some("bom\n"), Some(0)));
}

#[test]
fn input_reads_the_terminal_or_ends_at_once() {
    let s = script(
        "ask.py",
        b"x = input('n? ')\nprint(int(x) * 2)\ntry:\n    input()\nexcept EOFError:\n    print('eof')\n",
    );
    let mut child = Command::new(heaplens_bin())
        .arg("run")
        .arg(&s.path)
        .args(["--board", "sim", "--no-color", "--timeout", "30"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"21\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("n? 42\neof\n"), "{stdout}");
    // With --json (and in the editor) the script gets end of input at once.
    let (report, _) = run_json(&s, &["--timeout", "30"]);
    assert_eq!(report["exception"], "EOFError");
    assert_eq!(report["timed_out"], false);
}

#[test]
fn recursion_goes_as_deep_as_in_a_plain_run() {
    let code = "\
depth = 0
def down():
    global depth
    depth += 1
    down()
try:
    down()
except RuntimeError:
    print(depth)
";
    let s = script("deep.py", code.as_bytes());
    let (report, _) = run_json(&s, &[]);
    let (stdout, _) = plain(code);
    let plain_depth: i64 = stdout.trim().parse().expect("plain depth");
    let depth: i64 = report["output"]
        .as_str()
        .and_then(|o| o.trim().parse().ok())
        .unwrap_or_else(|| panic!("{report:#}"));
    // The harness's own frame and a probe's cost the script about three levels of ~200.
    assert!((plain_depth - depth).abs() <= 3, "{depth} vs {plain_depth}");
}

/// Every construct keeps its plain-run allocation behaviour: under `heap_lock()` each one
/// either runs or raises MemoryError exactly as it does plainly.
#[test]
fn constructs_under_heap_lock_do_what_they_do_plainly() {
    let code = "\
import micropython
class CM:
    def __enter__(self): return self
    def __exit__(self, *a): return False
cm = CM()
T = (1, 2)
def for_range(n):
    for i in range(n):
        pass
def for_range_first(n):
    x = 0
    for i in range(n):
        x += i
    return x
def nested_range():
    for i in range(2):
        for j in range(3):
            pass
def for_tuple():
    for x in T:
        pass
def range_step_in_range():
    for i in range(2):
        for j in range(i, 5, 2):
            pass
def loop_else():
    for x in T:
        pass
    else:
        v = 1
def try_in_range():
    for i in range(2):
        try:
            v = 1
        finally:
            v = 2
def while_loop():
    i = 0
    while i < 3:
        i += 1
def branches(v):
    if v > 1:
        return 1
    elif v < 0:
        return 2
    else:
        return 3
def with_block():
    with cm:
        pass
def try_ok():
    try:
        v = 1
    except ValueError:
        v = 2
    finally:
        v = 3
def gen():
    yield 1
def list_comp():
    return [i for i in T]
def call_chain():
    return branches(2) + branches(-1)
def main():
    out = []
    for f in (for_range, for_range_first, nested_range, for_tuple, range_step_in_range,
              loop_else, try_in_range, while_loop, branches, with_block, try_ok, gen,
              list_comp, call_chain):
        micropython.heap_lock()
        try:
            if f is for_range or f is for_range_first:
                f(5)
            elif f is branches:
                f(0)
            else:
                f()
            r = 1
        except MemoryError:
            r = 0
        micropython.heap_unlock()
        out.append(r)
    print(out)
main()
";
    let s = script("locked.py", code.as_bytes());
    let (report, _) = run_json(&s, &[]);
    let (stdout, _) = plain(code);
    assert_eq!(
        report["output"].as_str(),
        Some(stdout.as_str()),
        "{report:#}"
    );
    assert!(stdout.starts_with("[1, 1, 1, 1, 1, 1, 1, 1, 1"), "{stdout}");
}

#[test]
fn hits_and_bytes_belong_to_the_line_that_did_the_work() {
    let code = "\
def make(n):
    return [n] * 500
hits = 0
for i in range(4):
    if i == 9:
        hits += 1
n = 0
while n < 3:
    n += 1
try:
    x = [0] * 100 + int('nope')
except ValueError:
    pass
kept = make(1)
";
    let s = script("rules.py", code.as_bytes());
    let (report, _) = run_json(&s, &["--sample=0"]);
    // `def`: its definition, once; calls are not its hits.
    assert_eq!(line(&report, 1)["hits"], 1);
    // `return EXPR`: the list is the return line's.
    assert_eq!(line(&report, 2)["hits"], 1);
    assert!(num(&line(&report, 2)["allocated_bytes"]) >= 4000);
    // `for`: iterations; `if`: every evaluation, true or false.
    assert_eq!(line(&report, 4)["hits"], 4);
    assert_eq!(line(&report, 5)["hits"], 4);
    assert_eq!(line(&report, 6)["hits"], 0);
    // `while`: every evaluation of its condition.
    assert_eq!(line(&report, 8)["hits"], 4);
    assert_eq!(line(&report, 9)["hits"], 3);
    // A statement that raises counts its hit and keeps what it allocated before raising.
    assert_eq!(line(&report, 11)["hits"], 1);
    assert!(num(&line(&report, 11)["allocated_bytes"]) >= 800);
    assert_eq!(line(&report, 12)["hits"], 1, "the handler was entered once");
    assert!(num(&line(&report, 12)["allocated_bytes"]) < 800);
}

#[test]
fn a_memory_error_in_a_heap_of_small_holes_gets_its_verdict_and_snapshots() {
    // The heap is left with about half free, in holes of ~500 bytes; then 4 KB is asked for.
    // (The handler drops one item: the loop can fill the heap to the last block, and the
    // `range` after it must fit whatever the harness's own size.)
    let code = "\
import gc
gc.collect()
keep = []
try:
    while True:
        keep.append(bytearray(480))
except MemoryError:
    keep.pop()
for i in range(0, len(keep), 2):
    keep[i] = None
gc.collect()
big = bytearray(4096)
";
    let s = script("holes.py", code.as_bytes());
    let (report, code) = run_json(&s, &[]);
    assert_eq!(code, Some(1));
    let error = report["diagnostics"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["severity"] == "error"))
        .expect("an error");
    assert_eq!(error["line"], 12);
    assert_eq!(error["code"], "memory-error-fragmented", "{error:#}");
    let message = error["message"].as_str().unwrap_or("");
    assert!(!message.contains("collector was disabled"), "{message}");
    assert!(report["snapshots"]["after"].is_object());
    assert!(report["snapshots"]["after_gc"].is_object());
    assert!(!report["lines"].as_array().expect("lines").is_empty());
}

#[test]
fn the_peak_and_the_lines_still_holding_the_heap() {
    let s = script(
        "parrot.py",
        &std::fs::read(crate::support::fixture("scenarios/parrot.py")).expect("parrot"),
    );
    let (report, _) = run_json(&s, &["--trace-allocations"]);
    let peak = &report["peak"];
    assert_eq!(peak["line"], 10, "{peak}");
    assert!(num(&peak["used"]) >= num(&report["snapshots"]["before"]["used"]) + 48_000);
    // The doubling line holds the 48 KB string after gc.collect(): the likely holder.
    let retained = report["retained"].as_array().expect("retained");
    assert_eq!(retained.first().map(|r| &r["line"]), Some(&Value::from(10)));
    assert!(num(&retained[0]["bytes"]) >= 48_000);
    let error = &report["diagnostics"][0];
    assert!(
        error["related"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["line"] == 10
                && r["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("still alive")))),
        "{error:#}"
    );
}
