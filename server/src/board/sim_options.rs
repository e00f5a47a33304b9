//! How to start the simulated Pico and how it reports itself: the part of the simulated board
//! that every platform compiles (options, sizes, finding the interpreter, the sandbox status a
//! board reports). The board itself (`sim.rs`, ptys, Landlock, seccomp) is Linux-only; on other
//! systems `sim_unsupported.rs` stands in for it and refuses to start.
//!
//! Must not know: ptys, the raw REPL, heaps, LSP.

use std::path::PathBuf;

use super::LinkError;

/// Default `-X heapsize`: gives `GC: total: 232960` on the unix port, a Pico's (RP2040) GC
/// heap; after the Pico modules are loaded at boot (~40 KB), about 192 KB are free, as the
/// simulated Pico offered before it had them (ARCHITECTURE.md, "The simulated Pico's heap").
pub const DEFAULT_SIM_HEAP_BYTES: usize = 235_750;

/// The smallest `-X heapsize` that boots: the Pico modules take ~40 KB.
pub const MIN_SIM_HEAP_BYTES: usize = 64 * 1024;

/// `GC: total` of the simulated Pico with [`DEFAULT_SIM_HEAP_BYTES`].
pub const DEFAULT_SIM_GC_TOTAL: usize = 232_960;

/// How to run the simulated board.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// `-X heapsize=` for the interpreter.
    pub heap_bytes: usize,
    /// Keep a symlink to the current host pty at this path.
    pub link: Option<PathBuf>,
    /// The `micropython` program; `None` = `find_interpreter()`.
    pub interpreter: Option<PathBuf>,
    /// Keep a second interpreter started and waiting, so a soft reset takes milliseconds
    /// (like a Pico's) instead of an interpreter start-up.
    pub warm_spare: bool,
    /// The user's project folder: readable (never writable) by the interpreter, mounted at
    /// `/project` with `/project` and `/project/lib` on `sys.path` after the flash's own.
    pub project_root: Option<PathBuf>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            heap_bytes: DEFAULT_SIM_HEAP_BYTES,
            link: None,
            interpreter: None,
            warm_spare: true,
            project_root: None,
        }
    }
}

/// Finds the MicroPython unix port: `$HEAPLENS_MICROPYTHON`, else `.venv/bin/micropython` in
/// a parent of the running executable (the project's own set-up), else `micropython` on PATH.
pub fn find_interpreter() -> Result<PathBuf, LinkError> {
    if let Some(path) = std::env::var_os("HEAPLENS_MICROPYTHON") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(LinkError::SimulatorMissing)
        };
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1) {
            let candidate = dir.join(".venv/bin/micropython");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("micropython");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(LinkError::SimulatorMissing)
}

/// How well the simulated Pico is sandboxed on this machine.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum SandboxStatus {
    /// Landlock confines files and programs; `network` says whether sockets are blocked too.
    Sandboxed {
        /// The kernel's Landlock ABI version.
        landlock_abi: u8,
        /// `socket()` is refused (seccomp), so no network at all.
        network_blocked: bool,
    },
    /// The kernel has no Landlock: the interpreter runs with the user's own rights (it can
    /// read and write the user's files and run programs).
    NotSandboxed {
        /// Why, in a sentence.
        reason: String,
    },
}

impl SandboxStatus {
    /// Whether files and programs are confined.
    pub fn is_sandboxed(&self) -> bool {
        matches!(self, SandboxStatus::Sandboxed { .. })
    }
}
