//! The board link: transports (serial, pty, simulated board), the raw REPL, discovery.
//! The only module that does board I/O; knows nothing of heaps or LSP.
//!
//! `Board` is the entry point: `Board::open(&"auto".parse()?, &SimOptions::default(), &LinkOptions::default())`
//! then `exec` / `capture_mem_info` / `soft_reset`. A board that vanishes gives
//! `LinkError::Disconnected` at once; the next operation reopens it.

pub mod connector;
pub(crate) mod discovery;
mod error;
pub mod files;
// What the simulated Pico does with host bytes (Linux only, as the board is).
#[cfg(target_os = "linux")]
mod host_input;
pub mod pico_modules;
pub mod raw_repl;
// The simulated Pico runs on Linux only (ptys, /proc, Landlock, seccomp); elsewhere a
// stand-in with the same interface refuses to start it with a typed error.
#[cfg(target_os = "linux")]
mod sim;
mod sim_options;
// Compiled by Linux tests too, so its refusal is tested where the tests run.
#[cfg(any(not(target_os = "linux"), test))]
#[cfg_attr(
    target_os = "linux",
    expect(dead_code, reason = "on Linux only its tests use it")
)]
mod sim_unsupported;
mod spec;
pub mod transport;
pub(crate) mod watchdog;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use connector::{connector_for, Connector};
pub use error::LinkError;
pub use files::{python_string, BoardFile, FileState};
pub use raw_repl::{ExecOutcome, Framing, Interruptible, RawRepl};
#[cfg(target_os = "linux")]
pub use sim::sandbox::kernel_landlock_abi;
#[cfg(target_os = "linux")]
pub use sim::SimHandle;
pub use sim_options::{
    find_interpreter, SandboxStatus, SimOptions, DEFAULT_SIM_GC_TOTAL, DEFAULT_SIM_HEAP_BYTES,
    MIN_SIM_HEAP_BYTES,
};
#[cfg(not(target_os = "linux"))]
pub use sim_unsupported::SimHandle;
pub use spec::{BoardSpec, BoardSpecError};
pub use transport::{FakeTransport, SerialTransport, Transport};
pub use watchdog::Watchdog;

/// Every timeout and knob of the link, explicit.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// How long to wait for a protocol reply (banner, `OK`, raw-paste grants, prompt).
    pub response_timeout: Duration,
    /// How long to wait for each step of a soft reset.
    pub reset_timeout: Duration,
    /// After Ctrl-C, how long to wait for the board to stop and print its traceback.
    pub interrupt_deadline: Duration,
    /// Granularity of waits: how often cancellation is checked.
    pub poll_interval: Duration,
    /// Try raw-paste first (false forces plain raw mode).
    pub use_raw_paste: bool,
    /// Plain raw mode: bytes per write, and pause between writes.
    pub plain_chunk_bytes: usize,
    pub plain_chunk_delay: Duration,
    /// Limit for a single write to the port.
    pub write_timeout: Duration,
    /// Ask the board for its firmware (`sys.implementation`) right after opening.
    pub identify_on_open: bool,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            response_timeout: Duration::from_secs(5),
            reset_timeout: Duration::from_secs(10),
            interrupt_deadline: Duration::from_secs(3),
            poll_interval: Duration::from_millis(50),
            use_raw_paste: true,
            plain_chunk_bytes: 256,
            plain_chunk_delay: Duration::from_millis(10),
            write_timeout: Duration::from_secs(5),
            identify_on_open: true,
        }
    }
}

/// A cancellation flag shared between the caller and a running operation.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }
    /// Asks every operation watching this token to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    /// Whether `cancel` was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Serial board or simulated Pico.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BoardKind {
    Serial,
    Simulated,
}

/// What we know about the connected board.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BoardInfo {
    pub kind: BoardKind,
    /// Port path (for the simulated board: its pty path).
    pub port: String,
    /// E.g. `micropython 1.29.0; linux [GCC 14.2.1]` or
    /// `micropython 1.23.0; Raspberry Pi Pico with RP2040` (None until identified).
    pub firmware: Option<String>,
    /// GC block size in bytes (16 on 32-bit ports, 32 on 64-bit), when identified.
    pub block_bytes: Option<usize>,
    /// For the simulated Pico: how well it is sandboxed here (None for a serial board).
    pub sandbox: Option<SandboxStatus>,
}

/// A connection to a board (or the simulated Pico) speaking the raw REPL. `Send`, so a
/// worker thread can own it.
pub struct Board {
    connector: Box<dyn Connector>,
    opts: LinkOptions,
    info: BoardInfo,
    /// None after a disconnect: the next operation reopens.
    repl: Option<RawRepl>,
    /// Whether `micropython.mem_total()` exists, once asked (see [`Board::counts_allocations`]).
    counts_allocations: Option<bool>,
    /// `sys.implementation._mpy`, once identified (see [`Board::loads_mpy`]).
    mpy_version: Option<u32>,
    /// The board's `sys.path`, once asked (see [`Board::sys_path`]).
    sys_path: Option<Vec<String>>,
    /// The board is as a soft reset leaves it: nothing but HeapLens's own queries ran since
    /// (see [`Board::is_fresh`]).
    fresh: bool,
}

/// Code that prints `name|version|machine|block bytes` on one line.
/// One expression statement: it leaves no name in the board's globals (the user's namespace).
/// Firmware, block size, `mem_total()`, the `.mpy` version and `sys.path` in one exchange
/// (each costs a round trip; a run needs them all). Names stay out of the board's globals. A
/// simulated Pico also runs it at the end of its boot (see `SimHandle::boot_identity`).
const IDENTIFY_CODE: &str = "(lambda s,i:print(i.name,'.'.join(str(x) for x in i.version[:3]),getattr(i,'_machine',s.platform),32 if s.maxsize>2**32 else 16,hasattr(__import__('micropython'),'mem_total'),getattr(i,'_mpy',0),sep='|')or print(__import__('json').dumps(s.path)))(__import__('sys'),__import__('sys').implementation)";

impl Board {
    /// Opens the board `spec` names and enters the raw REPL (no soft reset). `sim` says how
    /// to start the simulated Pico when `spec` is (or `auto` falls back to) it.
    pub fn open(
        spec: &BoardSpec,
        sim: &SimOptions,
        opts: &LinkOptions,
    ) -> Result<Board, LinkError> {
        Board::with_connector(connector_for(spec, sim)?, opts)
    }

    /// Opens the board behind `connector` and enters the raw REPL (no soft reset).
    pub fn with_connector(
        connector: Box<dyn Connector>,
        opts: &LinkOptions,
    ) -> Result<Board, LinkError> {
        let mut board = Board {
            info: BoardInfo {
                kind: connector.kind(),
                port: String::new(),
                firmware: None,
                block_bytes: None,
                sandbox: connector.simulator().map(|sim| sim.sandbox().clone()),
            },
            connector,
            opts: opts.clone(),
            repl: None,
            counts_allocations: None,
            mpy_version: None,
            sys_path: None,
            fresh: false,
        };
        board.reconnect()?;
        // A simulated Pico's interpreter was just started: as fresh as after a soft reset.
        board.fresh = board.info.kind == BoardKind::Simulated;
        if opts.identify_on_open {
            board.identify()?;
        }
        Ok(board)
    }

    /// What we know about the board.
    pub fn info(&self) -> &BoardInfo {
        &self.info
    }

    /// Whether the firmware has `micropython.mem_total()`, an O(1) count of the bytes ever
    /// allocated (ports built with `MICROPY_MEM_STATS`, such as the unix port behind the
    /// simulated Pico; not a Pico's). Asked once per connection, then remembered.
    pub fn counts_allocations(&mut self) -> Result<bool, LinkError> {
        if let Some(known) = self.counts_allocations {
            return Ok(known);
        }
        let outcome = self.exec_query("print(hasattr(__import__('micropython'), 'mem_total'))")?;
        let known = String::from_utf8_lossy(&outcome.stdout).trim() == "True";
        if outcome.traceback.is_none() {
            self.counts_allocations = Some(known);
        }
        Ok(known)
    }

    /// Whether the board loads .mpy files of `version` (`sys.implementation._mpy & 0x3ff`:
    /// version and sub-version), as [`Board::identify`] found. False when not yet asked.
    pub fn loads_mpy(&self, version: u32) -> bool {
        self.mpy_version.is_some_and(|v| v & 0x3ff == version)
    }

    /// Asks the board for its firmware and block size and records them in `info`.
    pub fn identify(&mut self) -> Result<&BoardInfo, LinkError> {
        // A just-started simulated Pico printed the same query's answer while it booted.
        let booted = if self.fresh {
            self.connector
                .simulator()
                .and_then(SimHandle::boot_identity)
        } else {
            None
        };
        let text = match booted {
            Some(text) => text,
            None => String::from_utf8_lossy(&self.exec_query(IDENTIFY_CODE)?.stdout).into_owned(),
        };
        let mut lines = text.lines();
        let parts: Vec<&str> = lines.next().unwrap_or("").trim().split('|').collect();
        if let [name, version, machine, block, mem_total, mpy] = parts[..] {
            // The unix port's machine string ends in its banner's word "version"
            // (`linux [GCC 14.2.1] version`): not part of the machine.
            let machine = machine.strip_suffix(" version").unwrap_or(machine);
            self.info.firmware = Some(format!("{name} {version}; {machine}"));
            self.info.block_bytes = block.parse().ok();
            self.counts_allocations = Some(mem_total == "True");
            self.mpy_version = mpy.parse().ok().filter(|&v| v != 0);
        }
        // A board without `json` leaves it to `sys_path()` to say what failed.
        if let Some(Ok(path)) = lines.next().map(|l| serde_json::from_str(l.trim())) {
            self.sys_path = Some(path);
        }
        Ok(&self.info)
    }

    /// (Re)opens the port and enters the raw REPL. Called automatically after a disconnect.
    pub fn reconnect(&mut self) -> Result<(), LinkError> {
        // Drop the old link first: its Ctrl-B goes nowhere if the board is gone.
        self.repl = None;
        // The port may now lead to another board (or firmware).
        self.counts_allocations = None;
        self.mpy_version = None;
        self.sys_path = None;
        let opened = self.connector.connect(&self.opts).and_then(|transport| {
            self.info.port = transport.name().to_string();
            let mut repl = RawRepl::new(transport, self.opts.clone());
            repl.enter_raw(&CancelToken::new())?;
            Ok(repl)
        });
        // A simulated Pico that could not start says why, rather than "disconnected".
        let failure = self.connector.simulator().and_then(SimHandle::failure);
        match (opened, failure) {
            (Err(_), Some(msg)) => Err(LinkError::Simulator(msg)),
            (Err(err), None) => Err(err),
            (Ok(repl), _) => {
                self.repl = Some(repl);
                Ok(())
            }
        }
    }

    /// Runs `code`, streaming stdout to `on_output`. A traceback is part of the outcome, not
    /// an error. Cancelling sends Ctrl-C and returns the KeyboardInterrupt traceback (or
    /// `LinkError::Cancelled` if the board did not stop in time).
    pub fn exec(
        &mut self,
        code: &str,
        on_output: &mut dyn FnMut(&[u8]),
        cancel: &CancelToken,
    ) -> Result<ExecOutcome, LinkError> {
        self.fresh = false;
        let result = self.repl()?.exec(code.as_bytes(), on_output, cancel);
        let result = self.reset_if_stop_ignored(result);
        self.after(result)
    }

    /// Runs code whose output may hold any byte (a user's script under the harness): see
    /// [`RawRepl::exec_framed`].
    pub fn exec_framed(
        &mut self,
        code: &str,
        framing: &Framing<'_>,
        on_output: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>,
        cancel: &CancelToken,
    ) -> Result<ExecOutcome, LinkError> {
        self.fresh = false;
        let result = self
            .repl()?
            .exec_framed(code.as_bytes(), framing, on_output, cancel);
        let result = self.reset_if_stop_ignored(result);
        self.after(result)
    }

    /// Whether the board is as a soft reset leaves it: just reset (or, for the simulated Pico,
    /// just started), with only HeapLens's own queries and captures run since. A run need not
    /// reset such a board again (saving a simulated interpreter's start-up).
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// Runs one of HeapLens's own small queries (identification, a capture): what they leave
    /// is garbage a collection removes, so the board stays as fresh as it was.
    fn exec_query(&mut self, code: &str) -> Result<ExecOutcome, LinkError> {
        let fresh = self.fresh;
        let outcome = self.exec_capture(code);
        self.fresh = fresh && outcome.is_ok();
        outcome
    }

    /// Runs `code` and returns its output at the end.
    pub fn exec_capture(&mut self, code: &str) -> Result<ExecOutcome, LinkError> {
        self.exec(code, &mut |_| {}, &CancelToken::new())
    }

    /// Soft-resets the board (fresh heap, globals gone), staying in raw mode.
    pub fn soft_reset(&mut self) -> Result<(), LinkError> {
        let result = self.repl()?.soft_reset(&CancelToken::new());
        self.fresh = result.is_ok();
        self.after(result)
    }

    /// The raw text of `micropython.mem_info(1)`, after `gc.collect()` when asked.
    pub fn capture_mem_info(&mut self, gc: bool) -> Result<Vec<u8>, LinkError> {
        // Expression statements only: a capture leaves no name in the user's namespace.
        let code = if gc {
            "__import__('gc').collect()\n__import__('micropython').mem_info(1)"
        } else {
            "__import__('micropython').mem_info(1)"
        };
        let outcome = self.exec_query(code)?;
        match outcome.traceback {
            None => Ok(outcome.stdout),
            Some(traceback) => Err(LinkError::raised("capturing mem_info", traceback)),
        }
    }

    /// Gives the board's friendly REPL to a person (see [`RawRepl::enter_friendly`]): what
    /// they type can change anything, so the board is no longer fresh. The next exec, capture
    /// or reset takes the board back into raw mode by itself.
    pub fn repl_attach(&mut self) -> Result<(), LinkError> {
        self.fresh = false;
        let result = self.repl()?.enter_friendly();
        self.after(result)
    }

    /// What the friendly REPL printed, waiting at most `timeout` (empty when nothing came).
    pub fn repl_read(&mut self, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        let result = self.repl()?.passthrough_read(timeout);
        self.after(result)
    }

    /// Sends a person's keys to the friendly REPL.
    pub fn repl_write(&mut self, keys: &[u8]) -> Result<(), LinkError> {
        self.fresh = false;
        let result = self.repl()?.passthrough_write(keys);
        self.after(result)
    }

    /// Leaves raw mode (Ctrl-B) and closes the port; stops the simulator if we own it.
    pub fn close(mut self) {
        if let Some(mut repl) = self.repl.take() {
            let _ = repl.leave_raw();
        }
    }

    /// The simulated Pico's flash folder on the host (None for a serial board): what its
    /// scripts see as `/`, with `lib/` as `/lib`; files put there are on the board.
    pub fn simulator_flash_dir(&self) -> Option<&std::path::Path> {
        self.connector.simulator().map(SimHandle::flash_dir)
    }

    /// The process id of the simulated board's interpreter (None for serial boards). Tests
    /// kill it to simulate a board that vanishes.
    pub fn simulator_child_pid(&self) -> Option<i32> {
        self.connector
            .simulator()
            .and_then(SimHandle::interpreter_pid)
    }

    /// The link, reopened first if the board had disconnected.
    fn repl(&mut self) -> Result<&mut RawRepl, LinkError> {
        if self.repl.is_none() {
            self.reconnect()?;
        }
        self.repl
            .as_mut()
            .ok_or_else(|| LinkError::Simulator("link not open".into()))
    }

    /// After code that ignored a Stop's Ctrl-C ([`LinkError::StopIgnored`]): the simulated
    /// Pico is reset as pulling a Pico's power would (its interpreter killed, a fresh one
    /// started, the link reopened), so the board is usable at once. A serial board cannot be
    /// reset from here while code runs (Ctrl-D and `machine.reset()` need the REPL, which the
    /// code holds; `mpremote` cannot either): the error says what to do.
    fn reset_if_stop_ignored<T>(&mut self, result: Result<T, LinkError>) -> Result<T, LinkError> {
        let Err(LinkError::StopIgnored { waited, .. }) = result else {
            return result;
        };
        let Some(sim) = self.connector.simulator() else {
            return result;
        };
        tracing::info!("the code ignored Ctrl-C: resetting the simulated Pico");
        // The old link ends with the interpreter.
        self.repl = None;
        sim.hard_reset(self.opts.reset_timeout)?;
        self.reconnect()?;
        self.fresh = true;
        Err(LinkError::StopIgnored {
            waited,
            board_reset: true,
        })
    }

    /// Forgets the link after a disconnect so the next operation reopens it.
    fn after<T>(&mut self, result: Result<T, LinkError>) -> Result<T, LinkError> {
        if let Err(err) = &result {
            if err.is_disconnect() {
                self.repl = None;
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn board_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Board>();
        assert_send::<CancelToken>();
    }

    #[test]
    fn cancel_token_clones_share_the_flag() {
        let token = CancelToken::new();
        let clone = token.clone();
        assert!(!token.is_cancelled());
        clone.cancel();
        assert!(token.is_cancelled());
    }
}
