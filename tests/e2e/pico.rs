//! The simulated Pico speaks a Pico's API (issue 15, part 3): a script that blinks, scans I2C,
//! reads the ADC (the temperature sensor too), drives a PWM, runs a periodic Timer while it
//! sleeps, writes a NeoPixel and loads a PIO program runs unchanged through `heaplens run` and
//! `heaplens exec`, on the simulated Pico and on it behind `heaplens sim --link` (a pty, as a
//! serial board); the modules are part of the "before" heap, so the script is charged only
//! for what it allocates; `machine.reset()` and `deepsleep()` are a soft reset.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::support::{fixture, heaplens_bin, SimProcess};

/// What `tests/fixtures/pico/tour.py` prints on the simulated Pico: every value is the
/// documented, deterministic one (`server/src/board/pico_modules/README.md`).
const TOUR_OUTPUT: &str = "blink 1
i2c scan ['0x3c', '0x76']
bme280 chip id 0x60
temperature 27.0
adc0 0
pwm 1000 32768
timer fired while sleeping True True
neopixel b'\\x00\\xff\\x00\\x00\\x00\\x00\\x00\\x00\\xff'
pio True ['0xff01', '0xbf42', '0xff00', '0xbf42']
";

fn tour() -> PathBuf {
    fixture("pico/tour.py")
}

/// `heaplens run tour.py --json --board BOARD`, which must succeed; its report.
fn run_tour(board: &str) -> Value {
    let out = Command::new(heaplens_bin())
        .arg("run")
        .arg(tour())
        .args(["--json", "--board", board])
        .output()
        .expect("spawn heaplens run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON report")
}

fn check_tour_report(report: &Value) {
    assert_eq!(report["exception"], Value::Null, "{report:#}");
    assert_eq!(report["instrumented"], true, "{report:#}");
    assert_eq!(
        report["output"].as_str().map(|s| s.replace("\r\n", "\n")),
        Some(TOUR_OUTPUT.to_string())
    );
    let lines = report["lines"].as_array().expect("lines");
    let bytes_of = |n: u64| {
        lines
            .iter()
            .find(|l| l["line"] == n)
            .and_then(|l| l["allocated_bytes"].as_u64())
            .unwrap_or_else(|| panic!("line {n} in {lines:?}"))
    };
    // The modules were loaded at boot, before the "before" snapshot: importing them costs the
    // script only its own names (a few blocks of its globals), not ~40 KB of module code.
    assert!(bytes_of(5) <= 256, "from machine import …: {}", bytes_of(5));
    assert!(bytes_of(6) <= 128, "import neopixel: {}", bytes_of(6));
    assert!(bytes_of(7) <= 128, "import rp2: {}", bytes_of(7));
    let total: u64 = lines
        .iter()
        .filter_map(|l| l["allocated_bytes"].as_u64())
        .sum();
    assert!(total < 8 * 1024, "the whole tour allocates {total} bytes");
    // A Pico's heap: GC total 232960, and most of it free before the script ran.
    let before = &report["snapshots"]["before"];
    assert_eq!(before["gc_total"], 232_960, "{before:#}");
    assert!(
        before["free"].as_u64().is_some_and(|free| free > 170_000),
        "{before:#}"
    );
}

#[test]
fn the_pico_tour_runs_on_the_simulated_pico_charged_only_for_its_own_allocations() {
    check_tour_report(&run_tour("sim"));
}

#[test]
fn the_pico_tour_runs_on_the_simulated_pico_behind_sim_link() {
    let dir = tempfile::tempdir().expect("tmp");
    let link = dir.path().join("pico");
    let sim = SimProcess::start_with(Some(&link), None);
    check_tour_report(&run_tour(link.to_str().expect("utf-8 path")));
    // The same board again: the modules stay loaded across the runs' soft resets.
    check_tour_report(&run_tour(&sim.path));
    let status = sim.stop();
    assert!(status.success(), "{status:?}");
}

#[test]
fn heaplens_exec_speaks_the_pico_api() {
    let out = Command::new(heaplens_bin())
        .args([
            "exec",
            "--board",
            "sim",
            "from machine import Pin, ADC, unique_id\nimport sys, network\n\
             print(Pin('LED', Pin.OUT), ADC(4).read_u16(), len(unique_id()))\n\
             print(network.WLAN(network.STA_IF).isconnected(), sys.path)",
        ])
        .output()
        .expect("spawn heaplens exec");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"),
        "Pin(GPIO25, mode=OUT) 14019 8\nFalse ['', '.frozen', '/lib']\n"
    );
}

#[test]
fn machine_reset_and_deepsleep_are_a_soft_reset_of_the_linked_board() {
    let sim = SimProcess::start();
    for ending in [
        "machine.reset()",
        "machine.deepsleep(10)",
        "machine.soft_reset()",
    ] {
        let out = Command::new(heaplens_bin())
            .args([
                "exec",
                "--board",
                &sim.path,
                &format!("import machine\nleft_behind = 1\n{ending}"),
            ])
            .output()
            .expect("spawn heaplens exec");
        // SystemExit ends the code as on a Pico; the board then reboots softly.
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("Traceback"),
            "{ending}: {out:?}"
        );
        // The board is back, fresh (no globals left), with its Pico modules loaded.
        assert_eq!(
            sim.exec("print('left_behind' in globals(), __import__('machine').Pin(2))"),
            "False Pin(GPIO2, mode=IN)\n",
            "after {ending}"
        );
    }
    let status = sim.stop();
    assert!(status.success(), "{status:?}");
}
