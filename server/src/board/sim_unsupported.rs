//! The simulated Pico where it cannot run: every system but Linux. The real board (`sim.rs`)
//! needs ptys with Linux semantics, `/proc`, `PR_SET_PDEATHSIG`, Landlock and seccomp; here
//! [`SimHandle`] keeps the same interface but cannot be built, so the CLI, the language server
//! and serial boards compile and work unchanged, and asking for the simulated Pico (`--board
//! sim`, or `auto` with no board attached) fails with [`LinkError::SimulatorUnsupported`].
//!
//! Must not know: ptys, the raw REPL, heaps, LSP.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::sim_options::{SandboxStatus, SimOptions};
use super::LinkError;

/// A running simulated board; on this system there never is one (the type has no values).
pub enum SimHandle {}

impl SimHandle {
    /// Refuses: the simulated Pico needs Linux.
    pub fn start(_opts: SimOptions) -> Result<SimHandle, LinkError> {
        Err(LinkError::SimulatorUnsupported { os: system_name() })
    }

    /// The current host pty path (never reached: no `SimHandle` exists here).
    pub fn wait_path(&self, _timeout: Duration) -> Result<PathBuf, LinkError> {
        match *self {}
    }

    /// The current host pty path, if any.
    pub fn path(&self) -> Option<PathBuf> {
        match *self {}
    }

    /// How many host ptys have been published.
    pub fn generation(&self) -> u64 {
        match *self {}
    }

    /// The interpreter's process id.
    pub fn interpreter_pid(&self) -> Option<i32> {
        match *self {}
    }

    /// Why the simulator stopped working, if it did.
    pub fn failure(&self) -> Option<String> {
        match *self {}
    }

    /// What the interpreter printed of the identify query while it booted.
    pub fn boot_identity(&self) -> Option<String> {
        match *self {}
    }

    /// The board's flash folder on the host.
    pub fn flash_dir(&self) -> &Path {
        match *self {}
    }

    /// Kills the interpreter and waits for a fresh one.
    pub fn hard_reset(&self, _timeout: Duration) -> Result<(), LinkError> {
        match *self {}
    }

    /// How well the interpreter is sandboxed on this machine.
    pub fn sandbox(&self) -> &SandboxStatus {
        match *self {}
    }
}

/// This system's usual name ("macOS", "Windows"), for the error message.
fn system_name() -> &'static str {
    match std::env::consts::OS {
        "macos" => "macOS",
        "windows" => "Windows",
        "freebsd" => "FreeBSD",
        other => other,
    }
}

/// Dropping a running board stops it (as on Linux; never reached here).
impl Drop for SimHandle {
    fn drop(&mut self) {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starting_refuses_with_a_typed_error_that_says_what_to_do() {
        // `SimHandle` has no values, so `Err` is the only pattern there is.
        let Err(err) = SimHandle::start(SimOptions::default());
        assert!(
            matches!(err, LinkError::SimulatorUnsupported { .. }),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.starts_with("the simulated Pico needs Linux and this is "),
            "{message}"
        );
        assert!(message.contains("attach a MicroPython board"), "{message}");
        assert!(message.contains("`--board PORT`"), "{message}");
    }

    #[test]
    fn systems_are_named_as_people_write_them() {
        let name = system_name();
        assert!(!name.is_empty());
        if cfg!(target_os = "macos") {
            assert_eq!(name, "macOS");
        }
        if cfg!(target_os = "windows") {
            assert_eq!(name, "Windows");
        }
    }
}
