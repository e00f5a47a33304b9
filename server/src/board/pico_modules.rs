//! The simulated Pico's own Python modules: `machine`, `rp2`, `neopixel` and `network` with a
//! Raspberry Pi Pico's API, and a `time` whose `sleep()` and `sleep_us()` let Timer callbacks
//! run while a script sleeps. They are MicroPython sources (`pico_modules/*.py`) for the unix
//! port behind the simulator; `pico_modules/README.md` tables what each call does there and
//! where it allocates differently from a Pico.
//!
//! The unix port imports a `machine.py` (and `time.py`) found on `MICROPYPATH` or in its
//! working directory instead of its built-in module. The supervisor writes the modules into
//! the board's private folder ([`write_to`]) and runs [`boot_line`] at each interpreter
//! start, so that their code and objects are in the heap before a script runs and a script is
//! charged only for what it allocates. Importing them costs about [`BOOT_HEAP_LIMIT_BYTES`]
//! of the heap.
//!
//! Must not know: ptys, the raw REPL, heaps.

use std::fmt::Write as _;
use std::path::Path;

/// One module: its import name, its source, and that source compiled by `mpy-cross`.
#[derive(Debug, Clone, Copy)]
pub struct PicoModule {
    pub name: &'static str,
    pub source: &'static str,
    /// `pico_modules/mpy/NAME.mpy`: what the board loads. Loading compiled code allocates
    /// only the code objects, not a parse tree, so the boot leaves a heap with a 138 KB
    /// longest free run instead of ~100 KB (compiling from source leaves holes where the
    /// parse tree was), and takes half the time. Kept fresh by the test
    /// `compiled_modules_are_fresh` (`UPDATE_GENERATED=1` rewrites them).
    pub compiled: &'static [u8],
}

/// The `mpy-cross` that compiles [`PicoModule::compiled`] (its version must match the files).
pub const MPY_CROSS_VERSION: &str = "mpy-cross emitting mpy v6.3";

/// Every module. `time` comes first: `machine` imports it.
pub const MODULES: [PicoModule; 5] = [
    PicoModule {
        name: "time",
        source: include_str!("pico_modules/time.py"),
        compiled: include_bytes!("pico_modules/mpy/time.mpy"),
    },
    PicoModule {
        name: "machine",
        source: include_str!("pico_modules/machine.py"),
        compiled: include_bytes!("pico_modules/mpy/machine.mpy"),
    },
    PicoModule {
        name: "rp2",
        source: include_str!("pico_modules/rp2.py"),
        compiled: include_bytes!("pico_modules/mpy/rp2.mpy"),
    },
    PicoModule {
        name: "neopixel",
        source: include_str!("pico_modules/neopixel.py"),
        compiled: include_bytes!("pico_modules/mpy/neopixel.mpy"),
    },
    PicoModule {
        name: "network",
        source: include_str!("pico_modules/network.py"),
        compiled: include_bytes!("pico_modules/mpy/network.mpy"),
    },
];

/// The names of [`MODULES`], in the same order.
pub const MODULE_NAMES: [&str; 5] = ["time", "machine", "rp2", "neopixel", "network"];

/// Statements that import every module (found on `sys.path`), then collect what loading
/// them left behind. Expressions only, so that `__main__`'s globals stay as a fresh board's
/// (a name bound and deleted would leave the dict grown, and the script's first names would
/// then cost nothing). `machine` imports `time`; the Timer thread starts with the first
/// Timer a script arms (`machine._start`), so a board without one has a single thread.
pub const BOOT_LINE: &str = "[__import__(m) for m in ('machine','rp2','neopixel','network')].clear();__import__('gc').collect()";

/// Host folders the boot line names.
#[derive(Debug, Clone, Copy)]
pub struct BootPaths<'a> {
    /// Where [`write_to`] put the modules.
    pub modules: &'a Path,
    /// The board's flash folder: becomes `/`.
    pub flash: &'a Path,
    /// The project, mounted read-only at `/project`.
    pub project: Option<&'a Path>,
}

/// The line the supervisor types at each interpreter's first friendly prompt (ending in
/// `\r`): imports the modules from `paths.modules`, then makes the flash folder the
/// filesystem's root (`os.VfsPosix` mounted at `/`, the working folder), mounts the project
/// read-only at `/project`, and sets `sys.path` as a Pico's (`''`, `.frozen`, `/lib`, then
/// `/project` and `/project/lib`). Leaves no new name in `__main__`. The mounts are only the
/// view a Pico gives; the sandbox is what keeps the script from the rest of the host.
/// `then` (statements, `;`-separated) runs last, before the collection: what it leaves is
/// garbage by then.
pub fn boot_line(paths: &BootPaths, then: &str) -> String {
    let os = "__import__('os')";
    let mut line = format!("__import__('sys').path[:]=[{}];", python_str(paths.modules));
    line.push_str(BOOT_LINE);
    let _ = write!(
        line,
        ";{os}.umount('/');{os}.mount({os}.VfsPosix({}),'/')",
        python_str(paths.flash)
    );
    let mut path = String::from("'','.frozen','/lib'");
    if let Some(project) = paths.project {
        let _ = write!(
            line,
            ";{os}.mount({os}.VfsPosix({}),'/project',readonly=True)",
            python_str(project)
        );
        path.push_str(",'/project','/project/lib'");
    }
    let _ = write!(
        line,
        ";{os}.chdir('/');__import__('sys').path[:]=[{path}];{then};__import__('gc').collect()\r"
    );
    line
}

/// `path` as a Python string literal: ASCII punctuation and controls escaped, other
/// characters as they are (the line is UTF-8, as MicroPython reads it).
fn python_str(path: &Path) -> String {
    let mut out = String::from("'");
    for c in path.to_string_lossy().chars() {
        if c.is_alphanumeric() || "/._-+".contains(c) {
            out.push(c);
        } else if u32::from(c) <= 0xFFFF {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            let _ = write!(out, "\\U{:08x}", u32::from(c));
        }
    }
    out.push('\'');
    out
}

/// What importing every module may cost, in bytes of the simulated Pico's heap (64-bit unix
/// port: 32-byte blocks) after a collection; measured at about 39.6 KB from the `.mpy` files.
pub const BOOT_HEAP_LIMIT_BYTES: usize = 42_000;

/// Writes every module, compiled, as `NAME.mpy` into `dir`, which must exist.
pub fn write_to(dir: &Path) -> std::io::Result<()> {
    for module in &MODULES {
        std::fs::write(dir.join(format!("{}.mpy", module.name)), module.compiled)?;
    }
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
pub(crate) mod tests;
