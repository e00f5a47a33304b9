//! The simulated Pico's own Python modules: `machine`, `rp2`, `neopixel` and `network` with a
//! Raspberry Pi Pico's API, and a `time` whose `sleep()` and `sleep_us()` let Timer callbacks
//! run while a script sleeps. They are MicroPython sources (`pico_modules/*.py`) for the unix
//! port behind the simulator; `pico_modules/README.md` tables what each call does there and
//! where it allocates differently from a Pico.
//!
//! The unix port imports a `machine.py` (and `time.py`) found on `MICROPYPATH` or in its
//! working directory instead of its built-in module. The supervisor writes the modules there
//! ([`write_to`]) and runs [`BOOT_LINE`] at each interpreter start, so that their code and
//! objects are in the heap before a script runs and a script is charged only for what it
//! allocates. Importing them costs about [`BOOT_HEAP_LIMIT_BYTES`] of the heap.
//!
//! Must not know: ptys, the raw REPL, heaps.

use std::path::Path;

/// One module: its import name and its source.
#[derive(Debug, Clone, Copy)]
pub struct PicoModule {
    pub name: &'static str,
    pub source: &'static str,
}

/// Every module. `time` comes first: `machine` imports it.
pub const MODULES: [PicoModule; 5] = [
    PicoModule {
        name: "time",
        source: include_str!("pico_modules/time.py"),
    },
    PicoModule {
        name: "machine",
        source: include_str!("pico_modules/machine.py"),
    },
    PicoModule {
        name: "rp2",
        source: include_str!("pico_modules/rp2.py"),
    },
    PicoModule {
        name: "neopixel",
        source: include_str!("pico_modules/neopixel.py"),
    },
    PicoModule {
        name: "network",
        source: include_str!("pico_modules/network.py"),
    },
];

/// The names of [`MODULES`], in the same order.
pub const MODULE_NAMES: [&str; 5] = ["time", "machine", "rp2", "neopixel", "network"];

/// One line for the interpreter's friendly REPL (where the supervisor sends its start-up
/// `pass`) that imports every module, then collects what compiling them left behind, leaving
/// no new name in `__main__`. `machine` imports `time`; importing `machine` starts the Timer
/// thread, which stays blocked until a Timer is armed.
pub const BOOT_LINE: &str =
    "import machine,rp2,neopixel,network,gc;del machine,rp2,neopixel,network;gc.collect();del gc";

/// What importing every module may cost, in bytes of the simulated Pico's heap (64-bit unix
/// port: 32-byte blocks) after a collection; measured at about 39.4 KB, compiled from source.
pub const BOOT_HEAP_LIMIT_BYTES: usize = 42_000;

/// Writes every module as `NAME.py` into `dir`, which must exist.
pub fn write_to(dir: &Path) -> std::io::Result<()> {
    for module in &MODULES {
        std::fs::write(dir.join(format!("{}.py", module.name)), module.source)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
