//! The on-board half of a run: the MicroPython code that HeapLens puts on the board before the
//! user's script, and the text it prints.
//!
//! # How a run happens on the board
//! 1. **Prologue** (one raw-REPL exec). A single expression statement, so it leaves no name in
//!    the user's namespace: it hands the REPL's globals, the script's text and the run's values
//!    (marker, probe names, slots, budget, …: [`harness_params`]) over under a `sys.modules`
//!    key no import can name, then runs the harness, whose first statement takes them back
//!    out: `exec(compile(HARNESS, '<heaplens>', 'exec'), {})`, or on a just-started simulated
//!    Pico an import of the same code compiled ahead of time ([`compiled_harness`], one per
//!    [`HarnessShape`]: ~0.3 ms to load where compiling the text takes ~3 ms), removed from
//!    `sys.modules` at once. The harness runs in a dictionary of its own. It binds everything it will ever need (`print`,
//!    `mem_info`, `gc.collect`, `compile`, `exec`, …) while the script has not run yet, so a
//!    script that rebinds or deletes any of them (`builtins.print = …`, `del gc`,
//!    `globals().clear()`) cannot break the capture or the readout. It preallocates the probes'
//!    counters, installs the few probe functions the instrumented code calls as `builtins`
//!    (under names with a per-run nonce, so no script name can shadow them and `globals()` /
//!    `dir()` stay exactly those of a plain run), and compiles the script as `<stdin>` (so the
//!    script sees the line numbers and file name of a plain raw-REPL run: probes sit on the
//!    statements' own lines, no line is ever inserted).
//! 2. **Run** (one raw-REPL exec of one call). The harness collects (the prologue's text is
//!    garbage by now), prints the **before** dump, sets the probes' baseline and executes the
//!    script in the REPL's globals, inside a `try` that catches everything: an exception,
//!    `SystemExit`, a Ctrl-C. Then, with nothing compiled
//!    and nothing allocated, it prints the **after** dump (the heap at the failure for an
//!    exception), the traceback, the probes' readout, collects, prints the **after-gc** dump,
//!    and a final record with how the script ended.
//!
//! # Project modules
//! When the script imports a project module (one the host found in its import statements,
//! [`HarnessModule`]), the harness's `__import__` (installed in `builtins` for the run and
//! restored after it) loads it with probes instead of the board's own copy: it asks the host
//! for the module's instrumented code with an `M` record, reads exactly that many bytes from
//! stdin, compiles them under the file name the board's import would give (`helper.py`,
//! `/lib/x.py`, so tracebacks and `__file__` are those of a plain run) and executes them in
//! a new module object, registered in `sys.modules` before its body runs (as MicroPython
//! does) and removed if the body raises. MicroPython offers no way to create a module object
//! from Python, so the harness mints one: it mounts a tiny filesystem of its own for that
//! moment, whose every file is empty, and imports a unique name from it. The instrumented
//! code lives only in RAM: nothing is written to the board. Imports of anything else go
//! straight to the board's `__import__`, through a frame small enough to stay off the heap
//! (they allocate nothing more than without the harness). A module whose instrumented code
//! does not fit in the heap to compile is imported from the board's own copy, unmeasured
//! (an `N` record says so).
//!
//! Everything the harness prints is a *record*: `RS` (`\x1e`) and a per-run random marker, a
//! space, a kind letter, a header line, and for block records a body closed by the marker and
//! ` .` (see [`super::records`]). Whatever else appears in the stream is the script's own output,
//! passed to the user byte for byte. The marker is chosen afresh for every run, so output
//! cannot fake a record.
//!
//! # How a probe measures
//! Probes follow a *current line* like a line tracer. `S(k)` runs before the statement of line
//! `k` (or in front of an `if`/`while` condition, a `with` item, an `except` type): it counts a
//! hit of `k`, closes the interval of the current line (charging it everything the heap did
//! since the previous probe), and makes `k` current. So a statement that raises keeps its hit
//! and the bytes it allocated before raising, and `return EXPR`'s bytes stay on the `return`
//! line. `X(k)` makes `k` current without a hit (a `for` line, between its body's end and
//! the next iteration); `H(k)` counts a hit only.
//!
//! Closing an interval is cheap while nothing was allocated: the change detector (`mem_total()`
//! on ports built with `MICROPY_MEM_STATS`, such as the simulated Pico; `gc.mem_alloc()`
//! elsewhere) has not moved. When it moved, the interval is measured:
//! * **exactly** while the line has measuring budget left (`budget` heap readings: an exact
//!   interval takes one, or two when it must start with a reading of its own): the growth of
//!   `gc.mem_alloc()` (block-rounded heap bytes, the unit of the heap map) since the line
//!   started. A drop is a collection: it is counted, never booked as the line freeing memory
//!   (except in exact mode, where the collector is off and a drop is a real release);
//! * **by estimate** afterwards: with `mem_total()`, the bytes requested in the interval (an
//!   O(1) counter), which the host scales by the line's own ratio of block-rounded to
//!   requested bytes in its exact executions; without it, the line's later executions are not
//!   measured one by one, and what they allocated is found at the next measurement.
//!   Every `PEAK_EVERY` estimated intervals a real `gc.mem_alloc()` keeps the peak current
//!   (and a reading below the previous one counts a collection: a lower bound).
//!
//! With `mem_total()`, a reading made so that a line's interval can start exactly costs that
//! line budget even when the interval then allocates nothing: a line that never allocates (a
//! loop's header) would otherwise ask for a full heap scan on every entry, forever. Without
//! it, such a line keeps measuring (its readings are what finds the other lines' bytes).
//!
//! # The heap timeline
//! With a sampling interval, the harness also samples the heap while the script runs: `Y()`
//! prints an `L` record (`t_ms used free`: milliseconds since the script started,
//! `gc.mem_alloc()`, `gc.mem_free()`) when a sample is due. The probes read the clock only
//! where the heap moved: every [`SAMPLE_CHECK_EVERY`] measured intervals and at each periodic
//! real reading of the estimated ones ([`PEAK_EVERY`]), so a probe whose line allocated
//! nothing pays nothing, and a stretch where the heap did not move has no samples (nothing
//! changed; the last sample stands for it). A script that sleeps runs no probes, so the
//! simulated Pico's `time.sleep_ms` (which `sleep` and `sleep_us` go through) calls `Y()`
//! between slices of its sleep (its `_hk` hook, set for the run). On a real board a sleep
//! has no hook: samples resume when the heap moves again. The end of the script always
//! takes a last sample. A sample is printed at once (no buffer to fill), needs no heap, and
//! is never charged to a line: the probes' change detector sees no allocation.
//!
//! Probes allocate nothing: list stores of small ints, calls of a function with one small-int
//! argument (checked on the real interpreter, also under `micropython.heap_lock()`).

use std::fmt::Write as _;

pub use crate::board::python_string;

/// How long the markers' random part is (hex digits).
const MARKER_HEX: usize = 16;
/// How long the probe names' random part is (hex digits): short, because every probe in the
/// script spells it and the board compiles it.
const NAME_HEX: usize = 4;

/// Record kinds (the letter after the marker).
pub mod kind {
    /// The before dump (block).
    pub const BEFORE: u8 = b'B';
    /// An allocation trace: header = slot, body = a `mem_info(1)` dump (block).
    pub const TRACE: u8 = b'T';
    /// The after dump (block).
    pub const AFTER: u8 = b'A';
    /// The traceback of the exception that ended the script (block).
    pub const EXCEPTION: u8 = b'K';
    /// The probes' readout (block).
    pub const READOUT: u8 = b'R';
    /// The after-gc dump (block).
    pub const AFTER_GC: u8 = b'G';
    /// The script could not be compiled for want of heap (single).
    pub const COMPILE_OUT_OF_MEMORY: u8 = b'C';
    /// The script asks for a line of input (single); the host answers on stdin.
    pub const INPUT: u8 = b'I';
    /// The script imports project module `k` (single, header `k`): the host answers on stdin
    /// with its instrumented code, exactly as many bytes as the harness was told.
    pub const MODULE: u8 = b'M';
    /// Project module `k` did not fit in the heap with its probes and was imported from the
    /// board's own copy, unmeasured (single, header `k`).
    pub const MODULE_UNMEASURED: u8 = b'N';
    /// A heap timeline sample: header = `t_ms used free` (single; see "The heap timeline").
    pub const SAMPLE: u8 = b'L';
    /// A mixed allocation trace: as [`TRACE`], but the heap changed between the previous
    /// dump and the start of the traced interval (an untraced interval allocated), so what
    /// is new in the dump is not only the line's (block). A separate kind rather than a
    /// header field: one more argument to the print would make the probe's frame too big to
    /// stay off the heap.
    pub const MIXED_TRACE: u8 = b'U';
    /// The run is over: header = `status code` (single, always last).
    pub const DONE: u8 = b'Z';
}

/// How the script ended (the first number of the [`kind::DONE`] record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It ran to its end.
    Normal,
    /// It raised (the [`kind::EXCEPTION`] record has the traceback).
    Exception,
    /// It raised `SystemExit` with this exit code.
    SystemExit(i64),
    /// It was interrupted (Ctrl-C: Stop, a timeout).
    Interrupted,
}

impl Ending {
    /// Reads the header of a [`kind::DONE`] record.
    pub fn parse(header: &str) -> Option<Ending> {
        let mut fields = header.split_whitespace();
        let status: u8 = fields.next()?.parse().ok()?;
        Some(match status {
            0 => Ending::Normal,
            1 => Ending::Exception,
            2 => Ending::SystemExit(fields.next()?.parse().ok()?),
            3 => Ending::Interrupted,
            _ => return None,
        })
    }
}

/// The per-run random parts: the records' marker and the probe names' prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonce {
    /// `\x1e` + `HL` + hex: starts every record.
    pub marker: String,
    /// The prefix of the probe functions in `builtins` (`_h1a2b`).
    pub names: String,
}

impl Nonce {
    /// Fresh random parts (from the OS's random source; a clock as a fallback).
    pub fn random() -> Nonce {
        let mut bytes = [0u8; 16];
        if getrandom(&mut bytes).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            bytes = (nanos ^ (u128::from(std::process::id()) << 64)).to_le_bytes();
        }
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Nonce::from_hex(&hex)
    }

    /// The parts made from a hex string (tests use fixed ones).
    pub fn from_hex(hex: &str) -> Nonce {
        let marker = &hex[..MARKER_HEX.min(hex.len())];
        let names = &hex[hex.len().saturating_sub(NAME_HEX)..];
        Nonce {
            marker: format!("\x1eHL{marker}"),
            names: format!("_h{names}"),
        }
    }

    /// The probe call that starts line `slot`'s statement.
    pub fn statement(&self, slot: usize) -> String {
        format!("{}S({slot})", self.names)
    }

    /// The probe call that counts a hit of `first`, then does what [`Self::statement`] does
    /// for `slot`.
    pub fn hit_then_statement(&self, first: usize, slot: usize) -> String {
        format!("{}T({first}, {slot})", self.names)
    }

    /// The probe call that makes `slot` current without counting a hit.
    pub fn current(&self, slot: usize) -> String {
        format!("{}X({slot})", self.names)
    }

    /// The probe call that counts a hit of `slot` only.
    pub fn hit(&self, slot: usize) -> String {
        format!("{}H({slot})", self.names)
    }

    /// The one-line exec that runs the script once the prologue ran. The `try` that catches
    /// whatever ends the script is in a harness function, whose locals need no heap: a name
    /// bound at the top level of the exec would be a new global, which a full heap cannot
    /// hold. (That costs the script a frame of depth: its recursion limit is about three
    /// frames below a plain run's, with the probe's own.)
    pub fn run_call(&self) -> String {
        format!("{}R()\n", self.names)
    }
}

fn getrandom(bytes: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(bytes)
}

/// What the harness does besides running the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarnessOptions {
    /// Probe slots (user lines with probes); 0 for a plain run.
    pub slots: usize,
    /// Exact measurements per line before estimates take over (`None`: every execution).
    pub budget: Option<u32>,
    /// Run with the collector off (`gc.disable()` before the script, on again after).
    pub exact: bool,
    /// Print a heap dump for each line's first allocating executions.
    pub trace_allocations: bool,
    /// The board has `micropython.mem_total()` (the host knows; the harness checks again).
    pub counts_allocations: bool,
    /// Project modules loaded with probes when the script imports them.
    pub modules: Vec<HarnessModule>,
    /// Milliseconds between two heap timeline samples (`None`: no timeline).
    pub sample_every_ms: Option<u32>,
}

/// A project module the harness loads with probes (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarnessModule {
    /// Dotted module name (`pkg.sub`).
    pub name: String,
    /// The file name the board's own import would give its code (`pkg/sub.py`,
    /// `/lib/x.py`); `None` for a package folder without `__init__.py`.
    pub file: Option<String>,
    /// For a package, its folder as the board names it (its `__path__`).
    pub package_dir: Option<String>,
    /// Bytes of its instrumented code (UTF-8), which the host sends when asked.
    pub code_bytes: usize,
}

/// Traces a run prints at most (each is a whole heap dump on the wire).
pub const TRACE_BUDGET: usize = 64;
/// Traces one line prints for its first allocating executions (later, only for an
/// allocation bigger than any before on that line: the one most likely to still be held).
pub const TRACE_PER_LINE: usize = 3;
/// Estimated intervals between two real `gc.mem_alloc()` readings that keep the peak current.
pub const PEAK_EVERY: usize = 64;
/// The budget that stands for "every execution" (a small int on every port).
const UNLIMITED: u32 = 1 << 29;

/// Where the harness's run-time values are handed over: a key of `sys.modules` that no
/// import can name, taken out by the harness's first statement (before the script exists).
const HANDOVER: &str = "<heaplens>";

/// The prologue exec for `source` (the instrumented or plain script text): the harness's
/// text is compiled on the board.
pub fn prologue(source: &str, options: &HarnessOptions, nonce: &Nonce) -> String {
    let harness = harness_text(HarnessShape::of(options));
    format!(
        "(lambda s:(s.modules.__setitem__({key},(globals(),lambda:{source},{params})),\
         exec(compile({harness},{key},'exec'),{{}})))(__import__('sys'))\n",
        key = python_string(HANDOVER),
        source = python_string(source),
        params = harness_params(options, nonce),
        harness = python_string(&harness),
    )
}

/// Where a staged prologue finds the harness's code on the board (see [`staged_prologue`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StagedHarness {
    /// [`compiled_harness`]'s bytes in the file `file`, imported as module `module`
    /// (`file` is `/<module>.mpy`).
    Compiled { module: String, file: String },
    /// [`harness_text`] in the file `file`, compiled on the board.
    Text { file: String },
}

impl StagedHarness {
    /// The board path of the file that holds it.
    pub fn file(&self) -> &str {
        match self {
            StagedHarness::Compiled { file, .. } | StagedHarness::Text { file } => file,
        }
    }
}

/// The same prologue, its texts read from files the board already holds (`harness`, and
/// `source_file` with the script): each file is removed as soon as it is read, before
/// anything of the script's runs, and an imported harness module leaves `sys.modules`
/// again. What runs is what [`prologue`] runs.
pub fn staged_prologue(
    harness: &StagedHarness,
    source_file: &str,
    options: &HarnessOptions,
    nonce: &Nonce,
) -> String {
    // `R` reads and removes a file; it and the rest are names of the lambdas, never of the
    // script's globals. Short: each byte sent costs the board a read.
    let load = match harness {
        StagedHarness::Compiled { module, file } => format!(
            "s.modules.pop(__import__({m}).__name__),__import__('os').remove({f})",
            m = python_string(module),
            f = python_string(file),
        ),
        StagedHarness::Text { file } => format!(
            "exec(compile(R({}),{},'exec'),{{}})",
            python_string(file),
            python_string(HANDOVER)
        ),
    };
    format!(
        "(lambda s,R:(s.modules.__setitem__({key},(globals(),lambda:R({source}),{params})),{load}))\
         (__import__('sys'),lambda p,o=__import__('os'):(lambda f:(f.read(),f.close(),o.remove(p))[0])(open(p)))\n",
        key = python_string(HANDOVER),
        source = python_string(source_file),
        params = harness_params(options, nonce),
    )
}

/// What the harness's code depends on. Everything else (the marker, the probe names, the
/// number of slots, the budget, exact mode, the timeline's interval, the project modules)
/// is a run-time value ([`harness_params`]), so each shape's code can be compiled ahead of
/// time ([`compiled_harness`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HarnessShape {
    /// See [`HarnessOptions::trace_allocations`].
    pub trace_allocations: bool,
    /// See [`HarnessOptions::counts_allocations`].
    pub counts_allocations: bool,
    /// There are project modules (the import hook is needed).
    pub modules: bool,
    /// There is a heap timeline (the sampler is needed).
    pub timeline: bool,
}

impl HarnessShape {
    /// The shape of a run with `options`.
    pub fn of(options: &HarnessOptions) -> HarnessShape {
        HarnessShape {
            trace_allocations: options.trace_allocations,
            counts_allocations: options.counts_allocations,
            modules: !options.modules.is_empty(),
            timeline: options.sample_every_ms.is_some(),
        }
    }

    /// Every shape, in the order of [`HarnessShape::index`].
    #[cfg(test)]
    pub fn all() -> impl Iterator<Item = HarnessShape> {
        (0..16).map(|i| HarnessShape {
            trace_allocations: i & 8 != 0,
            counts_allocations: i & 4 != 0,
            modules: i & 2 != 0,
            timeline: i & 1 != 0,
        })
    }

    /// 0..16: names the shape's compiled file (`harness_mpy/shape-N.mpy`).
    pub fn index(self) -> usize {
        usize::from(self.trace_allocations) * 8
            + usize::from(self.counts_allocations) * 4
            + usize::from(self.modules) * 2
            + usize::from(self.timeline)
    }
}

/// The `mpy-cross` that compiles [`compiled_harness`] (`-s '<heaplens>'`): MicroPython's
/// .mpy version 6.3, which boards from v1.23 on load. A board reports it as
/// `sys.implementation._mpy & 0x3ff` (the bits above are the native architecture, which
/// bytecode does not need).
pub const COMPILED_MPY_VERSION: u32 = 0x306;

/// [`harness_text`] of `shape` compiled by `mpy-cross` (kept fresh by the test
/// `compiled_harnesses_are_fresh`; `UPDATE_GENERATED=1` rewrites them). A board whose .mpy
/// version is [`COMPILED_MPY_VERSION`] loads it in ~0.3 ms where compiling the text takes
/// ~3 ms (and leaves no parse tree behind in the heap).
pub fn compiled_harness(shape: HarnessShape) -> &'static [u8] {
    COMPILED[shape.index()]
}

const COMPILED: [&[u8]; 16] = [
    include_bytes!("harness_mpy/shape-0.mpy"),
    include_bytes!("harness_mpy/shape-1.mpy"),
    include_bytes!("harness_mpy/shape-2.mpy"),
    include_bytes!("harness_mpy/shape-3.mpy"),
    include_bytes!("harness_mpy/shape-4.mpy"),
    include_bytes!("harness_mpy/shape-5.mpy"),
    include_bytes!("harness_mpy/shape-6.mpy"),
    include_bytes!("harness_mpy/shape-7.mpy"),
    include_bytes!("harness_mpy/shape-8.mpy"),
    include_bytes!("harness_mpy/shape-9.mpy"),
    include_bytes!("harness_mpy/shape-10.mpy"),
    include_bytes!("harness_mpy/shape-11.mpy"),
    include_bytes!("harness_mpy/shape-12.mpy"),
    include_bytes!("harness_mpy/shape-13.mpy"),
    include_bytes!("harness_mpy/shape-14.mpy"),
    include_bytes!("harness_mpy/shape-15.mpy"),
];

/// The harness's run-time values, a Python tuple the prologue hands over: the marker, the
/// number of slots, the budget, exact mode, the probe names' prefix, the timeline's interval
/// (or None), and the project modules' names, files, package folders and code sizes.
pub fn harness_params(options: &HarnessOptions, nonce: &Nonce) -> String {
    // One slot more than the script has: "no line yet" (what happens before the first probe).
    let slots = options.slots + 1;
    let budget = options.budget.unwrap_or(UNLIMITED).min(UNLIMITED);
    let every = options
        .sample_every_ms
        .map_or("None".to_string(), |ms| ms.max(1).to_string());
    let modules = &options.modules;
    let names: Vec<String> = modules
        .iter()
        .enumerate()
        .map(|(k, m)| format!("{}:{k}", python_string(&m.name)))
        .collect();
    let optional =
        |value: &Option<String>| value.as_deref().map_or("None".to_string(), python_string);
    let files: Vec<String> = modules.iter().map(|m| optional(&m.file)).collect();
    let dirs: Vec<String> = modules.iter().map(|m| optional(&m.package_dir)).collect();
    let sizes: Vec<String> = modules.iter().map(|m| m.code_bytes.to_string()).collect();
    format!(
        "({marker},{slots},{budget},{exact},{names_prefix},{every},{{{names}}},[{files}],[{dirs}],[{sizes}])",
        marker = python_string(&nonce.marker),
        exact = u8::from(options.exact),
        names_prefix = python_string(&nonce.names),
        names = names.join(","),
        files = files.join(","),
        dirs = dirs.join(","),
        sizes = sizes.join(","),
    )
}

/// The harness's own code for runs of `shape`, which [`prologue`] compiles on the board (it
/// runs in its own dictionary; see the module doc). It takes its run-time values
/// ([`harness_params`]) and the script's text from the hand-over as its first statement.
pub fn harness_text(shape: HarnessShape) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "import builtins, gc, micropython, sys
G, SRC, PRM = sys.modules.pop({handover})
M, N, EXACT = PRM[0], PRM[1], PRM[3]
pr = print
mi = micropython.mem_info
collect = gc.collect
ma = gc.mem_alloc
pe = sys.print_exception
ex = exec
co = compile
rd = sys.stdin.read
BI = builtins
lock = micropython.heap_lock
unlock = micropython.heap_unlock
enable = gc.enable
disable = gc.disable
isi = isinstance
INT = int
BE = BaseException
SE = SystemExit
KI = KeyboardInterrupt
MEM = MemoryError
EOF = EOFError
MT = getattr(micropython, 'mem_total', None)
q = MT or ma
O = N - 1
C = [O]
B = [0]
V = [0, 0]
P = [0, O]
Z = [{PEAK_EVERY}]
W = [0]
",
        handover = python_string(HANDOVER),
    );
    if shape.trace_allocations {
        let _ = writeln!(s, "TB = [{TRACE_BUDGET}]\nTQ = [0]");
    }
    if shape.modules {
        s.push_str(IMPORT_HOOK);
    }
    if shape.timeline {
        s.push_str(&sampler_source());
    }
    s.push_str(
        "def close(k):
    c = C[0]
    t = q()
    dt = t - B[0]
    if L[c] > 0 and V[1]:
        L[c] -= 1
        m = ma() if MT else t
        d = m - V[0]
        if d >= 0:
            a[c] += d
            n[c] += d
            if d > x[c]:
                x[c] = d
        else:
            g[c] += 1
            if EXACT:
                n[c] += d
        if MT and dt > 0:
            r[c] += dt
        V[0] = m
        if m > P[0]:
            P[0] = m
            P[1] = c
",
    );
    // The sampler's clock is read only where the heap moved (a probe whose line did not
    // allocate pays nothing): every SAMPLE_CHECK_EVERY measured intervals, and at the
    // estimated intervals' periodic real reading below.
    let sample_now = shape.timeline;
    if sample_now {
        let _ = write!(
            s,
            "        TD[0] -= 1
        if TD[0] <= 0:
            TD[0] = {SAMPLE_CHECK_EVERY}
            Y()
"
        );
    }
    if shape.trace_allocations {
        let _ = write!(
            s,
            "        if d > 0 and TB[0] > 0 and (TC[c] < {TRACE_PER_LINE} or d >= x[c]):
            TB[0] -= 1
            TC[c] += 1
            if m - d == TQ[0]:
                pr(M, 'T', c)
            else:
                pr(M, 'U', c)
            mi(1)
            pr(M, '.')
            TQ[0] = m
"
        );
    }
    s.push_str(
        &"    else:
        if dt > 0:
            e[c] += dt
        V[1] = 0
        Z[0] -= 1
        if Z[0] <= 0:
            Z[0] = PEAK
            m = ma() if MT else t
            if m < W[0]:
                g[c] += 1
            W[0] = m
            V[0] = m
            V[1] = 1
            if m > P[0]:
                P[0] = m
                P[1] = c
{SAMPLE_ESTIMATED}    if not V[1] and L[k] > 0:
        if MT:
            L[k] -= 1
            V[0] = ma()
        else:
            V[0] = t
        V[1] = 1
    B[0] = t
"
        .replace(
            "{SAMPLE_ESTIMATED}",
            if sample_now { "            Y()\n" } else { "" },
        ),
    );
    let _ = writeln!(s, "PEAK = {PEAK_EVERY}");
    // The probes. Without mem_total() the detector itself scans the heap, so a line past its
    // budget, following another, is not measured at all: its bytes are found by the next
    // measurement (and charged, as an estimate, to the line current then).
    // `S(k)` counts a hit of `k` and makes it current; `T(j, k)` is `H(j)` then `S(k)` in one
    // call (a loop header's hit and its body's first statement: `S` is written out in it, a
    // call fewer on every pass of a loop); `X(k)` makes `k` current.
    // With mem_total(), the common case of a loop that allocates on every pass (the line
    // past its budget, the next one too, no peak reading due) is `close`'s estimate branch,
    // written out here: a call fewer per probe. Anything else goes to `close`.
    let detector = if shape.counts_allocations {
        "    t = q()
    if t != B[0]:
        c = C[0]
        if L[k] > 0 or Z[0] <= 1 or L[c] > 0 and V[1]:
            close(k)
        else:
            if t > B[0]:
                e[c] += t - B[0]
            V[1] = 0
            Z[0] -= 1
            B[0] = t
    elif not V[1] and L[k] > 0:
        L[k] -= 1
        V[0] = ma()
        V[1] = 1
    C[0] = k
"
    } else {
        "    if L[k] > 0 or L[C[0]] > 0:
        if q() != B[0]:
            close(k)
    C[0] = k
"
    };
    let _ = write!(
        s,
        "def S(k):
    h[k] += 1
{detector}def T(j, k):
    h[j] += 1
    h[k] += 1
{detector}def X(k):
{detector}"
    );
    // R() runs the script inside a `try` that starts right after the before snapshot (the
    // host sends Ctrl-C only once that snapshot is complete, see `runner`), so a Stop
    // always reaches the script or the ending, never an uncaught spot. A Ctrl-C that lands
    // in the ending (the host sends one at most) starts the ending again; its first record
    // abandons the one left open (see `records`). Should the ending itself fail, a `Z 4`
    // record says so and the host captures what is missing. Either way the run call's
    // output ends with a `Z` record: the raw REPL's end of output is found by position.
    // end() gives the board its own `__import__` back before anything else: after the run,
    // imports are the board's again. R() first collects: the prologue's own code (with the
    // script's text in it) is garbage
    // by then, and the before snapshot is the heap the script starts with. The script is
    // compiled by the prologue, after R() is defined: its code is part of the heap the script
    // starts with, as in a plain run, and its source text is freed before the probes'
    // counters are allocated, so they fill the hole instead of leaving one.
    let restore = if !shape.modules {
        ""
    } else {
        "    BI.__import__ = HI\n"
    };
    // The timeline starts with the script (a sample at 0 ms, the sleep hook set) and ends
    // with a last sample once the script is over, before the after snapshot.
    let (start, unhook, last) = if shape.timeline {
        (
            "    TS[0] = tk()\n    TS[1] = 0\n    if HK:\n        HK[0] = Y\n    Y()\n",
            "    if HK:\n        HK[0] = None\n",
            "    TS[1] = 0\n    Y()\n",
        )
    } else {
        ("", "", "")
    };
    s.push_str(
        &"def H(k):
    h[k] += 1
def z():
{START}    B[0] = q()
    V[0] = ma()
    V[1] = 1
    P[0] = V[0]
    W[0] = V[0]
{TRACE_START}
def inp(prompt=''):
    if prompt:
        pr(prompt, end='')
    pr(M, 'I')
    s = ''
    while True:
        c = rd(1)
        if not c or c == '\\x04':
            raise EOF
        if c == '\\n' or c == '\\r':
            return s
        s += c
def out():
    pr(M, 'R', MT and 1 or 0, EXACT, N)
    k = 0
    while k < N:
        if h[k] or a[k] or e[k] or g[k]:
            pr(k, h[k], a[k], n[k], x[k], g[k], r[k], e[k])
        k += 1
    pr('P', P[0], P[1])
    pr(M, '.')
def end(y):
    d = unlock()
    if d > 16383:
        lock()
    else:
        while d:
            d = unlock()
{UNHOOK}    if q() != B[0]:
        close(C[0])
{LAST}{RESTORE}    pr(M, 'A')
    mi(1)
    pr(M, '.')
    s = 0
    v = 0
    if y is not None:
        if isi(y, SE):
            s = 2
            v = y.args[0] if y.args else 0
            if v is None:
                v = 0
            elif not isi(v, INT):
                v = 1
        else:
            s = 3 if isi(y, KI) else 1
            pr(M, 'K')
            pe(y)
            pr(M, '.')
    out()
    if EXACT:
        enable()
    collect()
    pr(M, 'G')
    mi(1)
    pr(M, '.')
    pr(M, 'Z', s, v)
def R():
    c = CODE[0]
    CODE[0] = None
    collect()
    pr(M, 'B')
    mi(1)
    pr(M, '.')
    y = None
    i = BI.input
    if isi(c, BE):
        y = c
    else:
        try:
            BI.input = inp
            if EXACT:
                disable()
            z()
            ex(c, G)
        except BE as w:
            y = w
        c = None
        BI.input = i
    while True:
        try:
            end(y)
            return
        except KI:
            pass
        except BE:
            pr(M, 'Z', 4, 0)
            return
CODE = [None]
s = SRC()
del SRC
try:
    CODE[0] = co(s, '<stdin>', 'exec')
except MEM:
    CODE[0] = MEM
except BE as y:
    CODE[0] = y
s = None
collect()
"
        .replace("{RESTORE}", restore)
        .replace("{START}", start)
        .replace(
            "{TRACE_START}",
            if shape.trace_allocations {
                "    TQ[0] = V[0]\n"
            } else {
                ""
            },
        )
        .replace("{UNHOOK}", unhook)
        .replace("{LAST}", last),
    );
    // The counters come after the compile (see above).
    s.push_str(
        "h = [0] * N
a = [0] * N
n = [0] * N
x = [0] * N
g = [0] * N
r = [0] * N
e = [0] * N
L = [PRM[2]] * N
",
    );
    if shape.trace_allocations {
        s.push_str("TC = [0] * N\n");
    }
    s.push_str(
        "if CODE[0] is MEM:
    pr(M, 'C')
",
    );
    s.push_str(
        "setattr(BI, PRM[4] + 'S', S)
setattr(BI, PRM[4] + 'T', T)
setattr(BI, PRM[4] + 'X', X)
setattr(BI, PRM[4] + 'H', H)
setattr(BI, PRM[4] + 'R', R)
",
    );
    if shape.modules {
        s.push_str("BI.__import__ = imp\n");
    }
    // The hand-over is not held while the script runs.
    s.push_str("del PRM\n");
    s
}

/// Measured intervals between two reads of the sampler's clock.
pub const SAMPLE_CHECK_EVERY: usize = 8;

/// The heap timeline's sampler (see "The heap timeline" in the module doc). `Y()` prints a
/// sample when one is due and returns the milliseconds until the next; the probes call it
/// where the heap moved (see `close`), the simulated Pico's `time.sleep_ms` (hook `_hk`)
/// between slices of a sleep. Nothing in it allocates: small ints, list stores, prints of
/// small ints and of the marker made in the prologue. The next sample is booked before the
/// print: a write to a slow console that a signal interrupts runs pending callbacks (the
/// unix port retries it through `mp_handle_pending`), and a probed Timer callback calling
/// `Y()` there would print a second record inside this one.
fn sampler_source() -> String {
    format!(
        "try:
    import time as TM
except ImportError:
    import utime as TM
tk = TM.ticks_ms
td = TM.ticks_diff
mf = gc.mem_free
HK = getattr(TM, '_hk', None)
TI = PRM[5]
TS = [0, 0]
TD = [{SAMPLE_CHECK_EVERY}]
def Y():
    t = td(tk(), TS[0])
    w = TS[1] - t
    if w <= 0:
        w = TI
        TS[1] = t + w
        pr(M, 'L', t, ma(), mf())
    return w
"
    )
}

/// The harness's `__import__` and what it needs (only for runs with project modules; their
/// names, files, package folders and code sizes are run-time values).
///
/// mint(): a new, empty module object. `stat` calls every path a file, `open` gives an
/// empty one: importing the unique name HN from the mount point makes MicroPython create
/// (and register) a module, which is then taken out of sys.modules.
/// ld(): once the module's body has run (or raised), X(O) closes its last line and makes
/// the outside slot current: returning through ld(), sl() and imp() frees their
/// heap-allocated frames (an explicit free MicroPython does at each return), which must
/// neither hide the last line's bytes nor count as a collection.
/// imp(): the fast path allocates nothing (its frame stays on the C stack: 5 arguments and
/// a stack of 6 are 11 words, MicroPython's limit), sl() does the rest.
const IMPORT_HOOK: &str = "import os, io
HS = sys.modules
HI = BI.__import__
HT, HF, HD, HZ = PRM[6], PRM[7], PRM[8], PRM[9]
HP = '/' + PRM[4]
HN = PRM[4] + 'm'
rb = sys.stdin.buffer.read
class HV:
    def mount(s, r, m):
        pass
    def umount(s):
        pass
    def stat(s, p):
        return (32768, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    def open(s, p, m):
        return io.BytesIO(b'')
HVV = HV()
def mint():
    os.mount(HVV, HP)
    p = sys.path
    p.append(HP)
    try:
        m = HI(HN)
    finally:
        p.pop()
        os.umount(HP)
    del HS[HN]
    return m
def ld(n):
    k = HT[n]
    m = mint()
    d = m.__dict__
    d['__name__'] = n
    f = HF[k]
    if f:
        d['__file__'] = f
    if HD[k]:
        d['__path__'] = HD[k]
    HS[n] = m
    try:
        if f:
            pr(M, 'M', k)
            s = rb(HZ[k])
            try:
                c = co(s, f, 'exec')
            except MEM:
                s = None
                HS.pop(n, None)
                pr(M, 'N', k)
                HI(n)
                return
            s = None
            ex(c, d)
            c = None
            X(O)
    except BE:
        HS.pop(n, None)
        X(O)
        raise
    i = n.rfind('.')
    if i > 0:
        setattr(HS[n[:i]], n[i + 1:], m)
def rel(n, g, v):
    p = g and g.get('__name__')
    if not p:
        return
    if '__path__' in g:
        v -= 1
    while v:
        i = p.rfind('.')
        if i < 0:
            return
        p = p[:i]
        v -= 1
    return p + '.' + n if n else p
def sl(n, g, l, f, v):
    a = rel(n, g, v) if v else n
    if a in HT and a not in HS:
        i = 0
        while i >= 0:
            i = a.find('.', i + 1)
            q = a if i < 0 else a[:i]
            if q not in HS:
                if q in HT:
                    ld(q)
                else:
                    HI(q)
    return HI(n, g, l, f, v)
def imp(n, g=None, l=None, f=None, v=0):
    if v or n in HT and n not in HS:
        return sl(n, g, l, f, v)
    return HI(n, g, l, f, v)
";

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> HarnessOptions {
        HarnessOptions {
            slots: 3,
            budget: Some(64),
            exact: false,
            trace_allocations: false,
            counts_allocations: true,
            modules: Vec::new(),
            sample_every_ms: Some(100),
        }
    }

    #[test]
    fn strings_escape_what_the_raw_repl_or_python_would_misread() {
        assert_eq!(
            python_string("a'b\\c\n\r\t\x04é"),
            "'a\\'b\\\\c\\n\\r\\t\\x04é'"
        );
    }

    #[test]
    fn nonces_are_fresh_and_shaped() {
        let (a, b) = (Nonce::random(), Nonce::random());
        assert_ne!(a, b);
        assert_eq!(a.marker.len(), 1 + 2 + MARKER_HEX);
        assert!(a.names.starts_with("_h") && a.names.len() == 2 + NAME_HEX);
        let fixed = Nonce::from_hex("0123456789abcdef0123456789abcdef");
        assert_eq!(fixed.statement(7), "_hcdefS(7)");
        assert_eq!(fixed.run_call(), "_hcdefR()\n");
    }

    #[test]
    fn the_prologue_is_one_expression_statement() {
        let nonce = Nonce::from_hex("0123456789abcdef0123456789abcdef");
        let prologue = prologue("x = 1\n", &options(), &nonce);
        assert_eq!(prologue.lines().count(), 1);
        assert!(prologue.starts_with(
            "(lambda s:(s.modules.__setitem__('<heaplens>',(globals(),lambda:'x = 1\\n',('\\x1eHL0123456789abcdef',4,64,0,'_hcdef',100,{},[],[],[]))),exec(compile('import builtins"
        ), "{prologue}");
        assert!(prologue.ends_with(",'<heaplens>','exec'),{})))(__import__('sys'))\n"));
        assert!(!prologue.contains('\x04'));
        for harness in [
            StagedHarness::Compiled {
                module: "_hcdef".into(),
                file: "/_hcdef.mpy".into(),
            },
            StagedHarness::Text {
                file: "/.heaplens-h".into(),
            },
        ] {
            let staged = staged_prologue(&harness, "/.heaplens-s", &options(), &nonce);
            assert_eq!(staged.lines().count(), 1);
            assert!(!staged.contains('\x04'));
        }
    }

    #[test]
    fn shapes_are_numbered_once_each() {
        let indexes: Vec<usize> = HarnessShape::all().map(HarnessShape::index).collect();
        assert_eq!(indexes, (0..16).collect::<Vec<_>>());
        assert_eq!(HarnessShape::of(&options()).index(), 4 + 1);
    }

    #[test]
    fn harness_snapshot() {
        insta::assert_snapshot!(harness_text(HarnessShape::of(&options())));
    }

    #[test]
    fn harness_with_project_modules_snapshot() {
        let nonce = Nonce::from_hex("0123456789abcdef0123456789abcdef");
        let options = HarnessOptions {
            modules: vec![
                HarnessModule {
                    name: "helper".into(),
                    file: Some("helper.py".into()),
                    package_dir: None,
                    code_bytes: 42,
                },
                HarnessModule {
                    name: "ns".into(),
                    file: None,
                    package_dir: Some("/lib/ns".into()),
                    code_bytes: 0,
                },
            ],
            ..options()
        };
        let source = harness_text(HarnessShape::of(&options));
        assert!(
            source.ends_with("BI.__import__ = imp\ndel PRM\n"),
            "{source}"
        );
        assert!(
            source.contains("    BI.__import__ = HI\n    pr(M, 'A')"),
            "{source}"
        );
        assert!(source.contains(IMPORT_HOOK));
        insta::assert_snapshot!(harness_params(&options, &nonce), @r"('\x1eHL0123456789abcdef',4,64,0,'_hcdef',100,{'helper':0,'ns':1},['helper.py',None],[None,'/lib/ns'],[42,0])");
    }

    /// Each shape's [`compiled_harness`] is `mpy-cross`'s compilation of its text.
    #[cfg(target_os = "linux")]
    #[test]
    fn compiled_harnesses_are_fresh() {
        let Some(mpy_cross) = crate::board::pico_modules::tests::mpy_cross() else {
            return;
        };
        let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/run/harness_mpy");
        let out = tempfile::tempdir().expect("creating a temporary directory");
        let mut stale = Vec::new();
        for shape in HarnessShape::all() {
            let name = format!("shape-{}", shape.index());
            let source = out.path().join(format!("{name}.py"));
            std::fs::write(&source, harness_text(shape)).expect("writing the harness");
            let fresh = crate::board::pico_modules::tests::mpy_cross_output(
                &mpy_cross,
                &source,
                &["-s", HANDOVER],
            );
            if fresh != compiled_harness(shape) {
                if std::env::var_os("UPDATE_GENERATED").is_some() {
                    std::fs::create_dir_all(&here).expect("creating harness_mpy");
                    std::fs::write(here.join(format!("{name}.mpy")), &fresh)
                        .expect("updating a compiled harness");
                } else {
                    stale.push(name);
                }
            }
        }
        assert!(
            stale.is_empty(),
            "stale compiled harnesses {stale:?}: run UPDATE_GENERATED=1 cargo test --lib compiled_harnesses_are_fresh"
        );
    }

    #[test]
    fn endings_parse() {
        assert_eq!(Ending::parse("0 0"), Some(Ending::Normal));
        assert_eq!(Ending::parse("2 -3"), Some(Ending::SystemExit(-3)));
        assert_eq!(Ending::parse("3 0"), Some(Ending::Interrupted));
        assert_eq!(Ending::parse("9 0"), None);
        assert_eq!(Ending::parse(""), None);
    }
}
