//! The board link against the simulated Pico over a real pty: the library's `Board`, the
//! `heaplens exec` / `capture` / `sim` commands, and stock mpremote talking to `heaplens sim`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use heaplens::board::{Board, BoardSpec, CancelToken, LinkError, LinkOptions, SimOptions};

use crate::support::{fixture, heaplens_bin, SimProcess};

fn open_sim(opts: LinkOptions) -> Board {
    Board::open(&BoardSpec::Simulated, &SimOptions::default(), &opts)
        .expect("simulated board opens")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace("\r\n", "\n")
}

/// A script spanning many 128-byte raw-paste windows that prints a checksum.
fn big_script() -> String {
    let mut script = String::new();
    for i in 0..60 {
        script.push_str(&format!(
            "v{i} = {i} * 3  # padding so the script spans windows\n"
        ));
    }
    script.push_str("print(sum([");
    script.push_str(
        &(0..60)
            .map(|i| format!("v{i}"))
            .collect::<Vec<_>>()
            .join(","),
    );
    script.push_str("]))\n");
    script
}

#[test]
fn board_identifies_itself_and_runs_code_in_raw_mode() {
    let mut board = open_sim(LinkOptions::default());
    let info = board.info().clone();
    assert!(info.port.starts_with("/dev/"), "{info:?}");
    assert!(
        info.firmware
            .as_deref()
            .is_some_and(|f| f.starts_with("micropython 1.")),
        "{info:?}"
    );
    assert_eq!(info.block_bytes, Some(32));
    // Asked in the same exchange as the firmware.
    assert!(board.counts_allocations().expect("mem_total"));
    assert_eq!(board.sys_path().expect("sys.path"), ["", ".frozen", "/lib"]);
    let mut streamed = Vec::new();
    let outcome = board
        .exec(
            "for i in range(3): print('line', i)",
            &mut |b| streamed.extend_from_slice(b),
            &CancelToken::new(),
        )
        .expect("exec");
    assert_eq!(text(&outcome.stdout), "line 0\nline 1\nline 2\n");
    assert_eq!(streamed, outcome.stdout);
    assert_eq!(outcome.traceback, None);
    board.close();
}

/// A just-started simulated Pico is identified from what its boot line printed (no exchange);
/// the same board asked through the raw REPL once it ran code says the same.
#[test]
fn the_identity_printed_at_boot_is_the_one_the_raw_repl_gives() {
    let mut board = open_sim(LinkOptions::default());
    let booted = board.info().clone();
    let booted_path = board.sys_path().expect("sys.path");
    assert!(booted.firmware.is_some(), "{booted:?}");
    board
        .exec("x = 1", &mut |_| {}, &CancelToken::new())
        .expect("exec");
    let asked = board.identify().expect("identify").clone();
    assert_eq!(asked.firmware, booted.firmware);
    assert_eq!(asked.block_bytes, booted.block_bytes);
    assert_eq!(board.sys_path().expect("sys.path"), booted_path);
    assert!(board.counts_allocations().expect("mem_total"));
    board.close();
}

#[test]
fn a_script_larger_than_many_windows_runs_with_and_without_raw_paste() {
    let script = big_script();
    assert!(script.len() > 8 * 128);
    let expected = format!("{}\n", (0..60).map(|i| i * 3).sum::<i32>());
    let mut pasted = open_sim(LinkOptions::default());
    let outcome = pasted.exec_capture(&script).expect("raw-paste exec");
    assert_eq!(text(&outcome.stdout), expected);
    let mut plain = open_sim(LinkOptions {
        use_raw_paste: false,
        ..LinkOptions::default()
    });
    let outcome = plain.exec_capture(&script).expect("plain raw exec");
    assert_eq!(text(&outcome.stdout), expected);
}

#[test]
fn the_traceback_is_kept_apart_from_stdout() {
    let mut board = open_sim(LinkOptions::default());
    let outcome = board
        .exec_capture("print('before')\nraise ValueError('parrot')")
        .expect("exec");
    assert_eq!(text(&outcome.stdout), "before\n");
    let traceback = outcome.traceback.expect("a traceback");
    assert!(traceback.contains("line 2"), "{traceback}");
    assert!(
        text(traceback.as_bytes()).ends_with("ValueError: parrot\n"),
        "{traceback}"
    );
}

#[test]
fn soft_reset_clears_globals_and_keeps_the_link() {
    let mut board = open_sim(LinkOptions::default());
    board.exec_capture("parrot = 'blue'").expect("set");
    assert_eq!(
        text(&board.exec_capture("print(parrot)").expect("get").stdout),
        "blue\n"
    );
    board.soft_reset().expect("soft reset");
    let outcome = board.exec_capture("print(parrot)").expect("exec");
    assert!(outcome
        .traceback
        .as_deref()
        .is_some_and(|t| t.contains("NameError")));
    // Give the simulator time to start its warm spare interpreter, then reset onto it.
    board.exec_capture("parrot = 'red'").expect("set");
    std::thread::sleep(Duration::from_millis(800));
    board.soft_reset().expect("soft reset onto the spare");
    let outcome = board.exec_capture("print(parrot)").expect("exec");
    assert!(outcome
        .traceback
        .as_deref()
        .is_some_and(|t| t.contains("NameError")));
    // sys.exit() is a soft reset too, as on a Pico.
    let outcome = board
        .exec_capture("parrot = 1\nimport sys\nsys.exit()")
        .expect("exit");
    assert_eq!(outcome.traceback, None);
    let outcome = board.exec_capture("print(parrot)").expect("exec");
    assert!(outcome
        .traceback
        .as_deref()
        .is_some_and(|t| t.contains("NameError")));
}

#[test]
fn cancel_stops_an_endless_loop_with_keyboard_interrupt() {
    let mut board = open_sim(LinkOptions {
        interrupt_deadline: Duration::from_secs(5),
        ..LinkOptions::default()
    });
    let cancel = CancelToken::new();
    let trigger = cancel.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        trigger.cancel();
    });
    let outcome = board
        .exec("print('spinning')\nwhile True: pass", &mut |_| {}, &cancel)
        .expect("interrupted, not failed");
    canceller.join().expect("canceller");
    assert_eq!(text(&outcome.stdout), "spinning\n");
    assert!(
        outcome
            .traceback
            .as_deref()
            .is_some_and(|t| t.contains("KeyboardInterrupt")),
        "{outcome:?}"
    );
    // The board is usable right after.
    assert_eq!(
        text(&board.exec_capture("print(6*7)").expect("exec").stdout),
        "42\n"
    );
}

#[test]
fn a_killed_interpreter_is_a_disconnect_and_the_next_command_reconnects() {
    let mut board = open_sim(LinkOptions::default());
    let pid = board.simulator_child_pid().expect("interpreter pid");
    let old_port = board.info().port.clone();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    });
    let result = board.exec("while True: pass", &mut |_| {}, &CancelToken::new());
    killer.join().expect("killer");
    assert!(
        matches!(result, Err(LinkError::Disconnected { .. })),
        "{result:?}"
    );
    // The next operation reopens the (respawned) simulated board on its new pty.
    let outcome = board.exec_capture("print('back')").expect("reconnected");
    assert_eq!(text(&outcome.stdout), "back\n");
    assert_ne!(board.info().port, old_port);
    assert_ne!(board.simulator_child_pid(), Some(pid));
}

#[test]
fn capture_mem_info_returns_the_heap_map() {
    let mut board = open_sim(LinkOptions::default());
    let dump = text(&board.capture_mem_info(true).expect("capture"));
    assert!(dump.contains("GC: total: 232960, used: "), "{dump}");
    assert!(dump.contains("GC memory layout; from "), "{dump}");
}

// ---- the binary ----

fn mpremote() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/mpremote")
}

#[test]
fn heaplens_exec_runs_the_parrot_into_a_memory_error() {
    let script = std::fs::read_to_string(fixture("scenarios/parrot.py")).expect("parrot.py");
    let out = Command::new(heaplens_bin())
        .args(["exec", "--board", "sim", &script])
        .output()
        .expect("run heaplens exec");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .trim_end()
            .ends_with("MemoryError: memory allocation failed, allocating 98305 bytes"),
        "{stderr}"
    );
}

#[test]
fn heaplens_exec_timeout_interrupts_and_exits_non_zero() {
    let out = Command::new(heaplens_bin())
        .args([
            "exec",
            "--board",
            "sim",
            "--timeout",
            "0.3",
            "while True: pass",
        ])
        .output()
        .expect("run heaplens exec");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("KeyboardInterrupt"), "{stderr}");
}

#[test]
fn mpremote_talks_to_heaplens_sim_with_no_extra_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("pico");
    let sim = SimProcess::start_with(Some(&link), None);
    assert!(sim.path.starts_with("/dev/"), "{:?}", sim.path);
    assert_eq!(
        std::fs::read_link(&link).ok(),
        Some(PathBuf::from(&sim.path))
    );

    let out = Command::new(mpremote())
        .arg("connect")
        .arg(&sim.path)
        .args(["exec", "print(1+1)"])
        .output()
        .expect("run mpremote exec");
    assert_eq!(text(&out.stdout), "2\n", "{}", text(&out.stderr));
    assert!(out.status.success());

    let script = dir.path().join("script.py");
    std::fs::write(
        &script,
        "import gc\nprint('free', gc.mem_free() > 100000)\n",
    )
    .expect("write");
    let out = Command::new(mpremote())
        .arg("connect")
        .arg(&link)
        .arg("run")
        .arg(&script)
        .output()
        .expect("run mpremote run");
    assert_eq!(text(&out.stdout), "free True\n", "{}", text(&out.stderr));

    // heaplens itself, after mpremote, on the same board.
    let out = Command::new(heaplens_bin())
        .arg("capture")
        .arg("--board")
        .arg(&sim.path)
        .output()
        .expect("run heaplens capture");
    assert!(
        text(&out.stdout).contains("GC heap 232,960 bytes = 7,280 blocks of 32 bytes"),
        "{out:?}"
    );

    let status = sim.stop();
    assert!(status.success(), "{status:?}");
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "link removed on exit"
    );
}

#[test]
fn raw_mode_is_entered_and_left_so_other_tools_find_the_friendly_repl() {
    use heaplens::board::transport::{SerialTransport, Transport};
    use heaplens::board::{RawRepl, SimHandle, SimOptions};
    let sim = SimHandle::start(SimOptions::default()).expect("sim");
    let path = sim.wait_path(Duration::from_secs(5)).expect("path");
    let transport = SerialTransport::open(&path, Duration::from_secs(5)).expect("open");
    let mut repl = RawRepl::new(Box::new(transport), LinkOptions::default());
    repl.enter_raw(&CancelToken::new()).expect("enter raw");
    assert!(repl.in_raw());
    repl.leave_raw().expect("leave raw");
    assert!(!repl.in_raw());
    drop(repl);
    // A plain client now sees the friendly prompt.
    let mut port = SerialTransport::open(&path, Duration::from_secs(5)).expect("reopen");
    port.write_all(b"\r").expect("write");
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    for _ in 0..50 {
        let n = port
            .read_timeout(&mut buf, Duration::from_millis(100))
            .expect("read");
        seen.extend_from_slice(&buf[..n]);
        if seen.ends_with(b">>> ") {
            break;
        }
    }
    assert!(text(&seen).ends_with(">>> "), "{:?}", text(&seen));
}

#[test]
fn dropping_the_simulator_leaves_no_interpreter_behind() {
    let board = open_sim(LinkOptions::default());
    let pid = board.simulator_child_pid().expect("pid");
    drop(board);
    // Killed at once; reaped by a thread of its own (the kernel's teardown of a process takes
    // a millisecond or two that nobody needs to wait for), so it is gone soon after.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut alive = true;
    while alive && std::time::Instant::now() < deadline {
        alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        !alive,
        "interpreter {pid} still there 5 s after the board was dropped"
    );
}

/// The Pico modules' Timer thread starts with the first Timer: until then the interpreter has
/// a single thread, so a collection stops nothing (with a second thread, every collection
/// signals it and waits: over 1 ms when the host's cores are busy).
#[test]
fn the_timer_thread_starts_with_the_first_timer() {
    let threads = |pid: i32| -> usize {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|n| n.trim().parse().ok())
            .expect("Threads:")
    };
    let mut board = open_sim(LinkOptions::default());
    let pid = board.simulator_child_pid().expect("pid");
    let before = threads(pid);
    board
        .exec(
            "import machine, gc\ngc.collect()",
            &mut |_| {},
            &CancelToken::new(),
        )
        .expect("exec");
    assert_eq!(threads(pid), before, "importing machine started a thread");
    let outcome = board
        .exec(
            "t = machine.Timer(period=5, callback=lambda t: None)",
            &mut |_| {},
            &CancelToken::new(),
        )
        .expect("exec");
    assert_eq!(outcome.traceback, None);
    assert_eq!(threads(pid), before + 1);
    board.close();
}

#[test]
fn non_utf8_output_passes_through_byte_for_byte() {
    let mut board = open_sim(LinkOptions::default());
    let outcome = board
        .exec_capture("import sys\nsys.stdout.buffer.write(b'\\xff\\xfe\\x80ok')")
        .expect("exec");
    assert_eq!(outcome.stdout, b"\xff\xfe\x80ok");
}

#[test]
fn a_port_held_by_another_program_is_reported_as_busy() {
    use heaplens::board::transport::SerialTransport;
    let board = open_sim(LinkOptions::default());
    let path = PathBuf::from(&board.info().port);
    let second = SerialTransport::open(&path, Duration::from_secs(1));
    let err = second.err().expect("second open fails");
    assert!(matches!(err, LinkError::PortBusy { .. }), "{err:?}");
    assert!(
        err.to_string().contains("Thonny, mpremote, screen"),
        "{err}"
    );
}

#[test]
fn heaplens_ports_lists_the_simulated_board() {
    let out = Command::new(heaplens_bin())
        .args(["ports", "--json"])
        .output()
        .expect("run heaplens ports");
    assert!(out.status.success());
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(value["simulated"]["board"], "sim");
    assert!(value["ports"].is_array());
    let out = Command::new(heaplens_bin())
        .arg("ports")
        .output()
        .expect("run heaplens ports");
    assert!(text(&out.stdout).contains("sim: Simulated Pico"));
}

/// `capture --raw` prints the board's dump text exactly as received and `--save` writes the
/// same bytes to a file; `stats`, `map` and `diff` read it back without a warning.
#[test]
fn capture_raw_and_save_write_a_dump_that_reads_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let saved = dir.path().join("heap.mpheap");
    let out = Command::new(heaplens_bin())
        .args(["capture", "--board", "sim", "--raw", "--save"])
        .arg(&saved)
        .env("NO_COLOR", "1")
        .output()
        .expect("run heaplens capture");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let raw = out.stdout;
    assert_eq!(
        std::fs::read(&saved).expect("saved"),
        raw,
        "saved = printed"
    );
    let shown = text(&raw);
    assert!(
        shown.contains("GC: total: ") && shown.contains("GC memory layout; from "),
        "{shown}"
    );
    assert!(!shown.contains("legend:"), "raw text, not a drawn map");

    let stats = Command::new(heaplens_bin())
        .args(["stats", "--json"])
        .arg(&saved)
        .output()
        .expect("stats");
    assert_eq!(stats.status.code(), Some(0), "{stats:?}");
    let json: serde_json::Value = serde_json::from_slice(&stats.stdout).expect("JSON");
    assert_eq!(json["block_bytes"], 32);
    assert_eq!(json["map"], "complete");
    assert_eq!(json["warnings"], serde_json::json!([]));

    let map = Command::new(heaplens_bin())
        .args(["map", "--no-color"])
        .arg(&saved)
        .output()
        .expect("map");
    assert_eq!(map.status.code(), Some(0), "{map:?}");
    assert!(map.stderr.is_empty(), "{}", text(&map.stderr));

    let diff = Command::new(heaplens_bin())
        .args(["diff", "--json"])
        .arg(&saved)
        .arg(&saved)
        .output()
        .expect("diff");
    assert_eq!(diff.status.code(), Some(0), "{diff:?}");
    let json: serde_json::Value = serde_json::from_slice(&diff.stdout).expect("JSON");
    assert_eq!(json["net_bytes"], 0);
}
