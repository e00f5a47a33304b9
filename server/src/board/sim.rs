//! The simulated Pico: the MicroPython unix port run behind a pseudo-terminal, made to behave
//! like a Pico on the wire (ARCHITECTURE.md, "The simulated Pico").
//!
//! Two ptys. The *host pty* is what host tools open (its slave path, `/dev/pts/N`, optionally
//! symlinked); the *child pty* is the interpreter's controlling terminal (ISIG on so Ctrl-C
//! becomes SIGINT, VQUIT/VSUSP disabled, no output processing). A supervisor thread forwards
//! bytes both ways and adds what the unix port lacks:
//!
//! - **Soft reset**: the unix port exits on Ctrl-D at an empty prompt (and on `sys.exit()`).
//!   When the interpreter exits normally the supervisor respawns it and prints what a Pico
//!   prints (`MPY: soft reboot` then the raw banner and `>` in raw mode, or the friendly
//!   banner), buffering host bytes meanwhile.
//! - **Vanishing**: when the interpreter dies from a signal (killed, crashed) the board behaves
//!   like an unplugged Pico: the host pty is closed (host reads fail at once with EIO/HUP), a
//!   new host pty is created (new path; the `--link` symlink is updated) with a fresh
//!   interpreter in friendly mode. `SimHandle::wait_path` gives the current path.
//! - **Back-pressure** like a Pico's USB CDC: output waits for the host up to 500 ms, then
//!   is dropped.
//! - **Ctrl-C**: in raw-paste mode the unix port runs code with ISIG off, so the tty never
//!   turns `\x03` into SIGINT. While the interpreter has a SIGINT handler installed (it only
//!   does while executing; `/proc/PID/status`), the supervisor sends SIGINT itself instead of
//!   the byte. Each interpreter runs its boot line at start-up, so that CPython's own start-up
//!   SIGINT handler is gone before the board is handed to the host.
//! - **Warm spare**: a second interpreter waits at its prompt (started 300 ms after the
//!   simulator) and replaces the exiting one at a soft reset, which then takes milliseconds.
//! - **Boot**: each interpreter (the spare too) runs [`pico_modules::boot_line`] at its first
//!   prompt, before the board is handed over: the Pico modules are imported and the private
//!   flash folder becomes the script's `/`. Being the first execution, it also serves as the
//!   SIGINT warm-up above.
//! - **Sandbox** (`sim/sandbox.rs`): each interpreter starts confined by Landlock and seccomp
//!   to its private folder (`sim/folder.rs`), the project (read-only) and what the
//!   interpreter program needs; [`SimHandle::sandbox`] says how well this kernel does it.
//!
//! `HEAPLENS_SIM_DEBUG=1` prints each interpreter exit status to stderr.
//!
//! Linux only (`board/mod.rs` gates it): elsewhere `sim_unsupported.rs` stands in and refuses.
//!
//! Must not know: the raw REPL as a client, heaps, LSP.

mod folder;
pub mod sandbox;

use folder::BoardFolder;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::termios::{self, LocalFlags, SetArg, SpecialCharacterIndices};

use super::host_input::HostInput;
use super::pico_modules::{self, BootPaths};
use super::sim_options::{find_interpreter, SandboxStatus, SimOptions, MIN_SIM_HEAP_BYTES};
use super::LinkError;
use sandbox::Sandbox;

const RAW_BANNER_WITH_PROMPT: &[u8] = b"raw REPL; CTRL-B to exit\r\n>";
const SOFT_REBOOT: &[u8] = b"MPY: soft reboot\r\n";
/// Brackets what the boot line prints of the identify query (an RS byte: never in what the
/// query prints, and not in the boot line's own echo, which spells it `\x1e`; the boot line
/// prints it with `print('\x1eHLID')`).
const IDENTITY_MARK: &str = "\x1eHLID";
/// A Pico's USB CDC waits this long for a host that does not read, then drops output.
const HOST_STALL_LIMIT: Duration = Duration::from_millis(500);
/// Stop reading from one side while this much is waiting for the other.
const BUFFER_LIMIT: usize = 64 * 1024;
/// The warm spare interpreter is started only once the simulator has lived this long.
const SPARE_DELAY: Duration = Duration::from_millis(300);
/// An interpreter that does not show its prompt within this time has failed to start.
const START_LIMIT: Duration = Duration::from_secs(15);
/// A read of the interpreter's output smaller than this is a trickle (see `Supervisor::run`).
const STREAM_CHUNK: usize = 1024;
/// Trickling reads closer than this are one stream…
const STREAM_GAP: Duration = Duration::from_millis(1);
/// …which, once this long, is given time to gather…
const STREAM_BYTES: usize = 256;
/// …this long before each next read.
const STREAM_NAP: Duration = Duration::from_micros(200);

/// State shared between the supervisor thread and its handle.
#[derive(Default)]
struct Status {
    /// Current host pty path (changes after the interpreter was killed).
    path: Option<PathBuf>,
    /// Increases each time a new host pty is published.
    generation: u64,
    child_pid: Option<i32>,
    failed: Option<String>,
    stop: bool,
    /// What the current interpreter's boot line printed of `IDENTIFY_CODE` (see
    /// [`SimHandle::boot_identity`]).
    boot_identity: Option<String>,
}

struct Shared {
    status: Mutex<Status>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running simulated board. Dropping it stops the interpreter, removes the link and the
/// board's private folder (its flash included).
pub struct SimHandle {
    shared: Arc<Shared>,
    wake: File,
    thread: Option<JoinHandle<()>>,
    flash: PathBuf,
    sandbox: SandboxStatus,
}

impl SimHandle {
    /// Creates the host pty, spawns the interpreter, and starts the supervisor thread. Returns
    /// as soon as the host pty exists; bytes written before the interpreter is ready are held.
    pub fn start(opts: SimOptions) -> Result<SimHandle, LinkError> {
        let interpreter = match &opts.interpreter {
            Some(path) => path.clone(),
            None => find_interpreter()?,
        };
        let folder =
            BoardFolder::create().map_err(|e| sim_err("creating the board's private folder", e))?;
        let project_root = match &opts.project_root {
            Some(root) => Some(std::fs::canonicalize(root).map_err(|e| {
                sim_err(&format!("reading the project folder {}", root.display()), e)
            })?),
            None => None,
        };
        tracing::debug!(folder = %folder.path().display(), "simulated Pico's private folder");
        let mut allowed = sandbox::interpreter_needs(&interpreter);
        allowed.read_write.push(folder.flash().to_path_buf());
        allowed.read.push(folder.modules().to_path_buf());
        allowed.read.extend(project_root.clone());
        let sandbox = Sandbox::build(&allowed).map_err(|e| sim_err("building the sandbox", e))?;
        let boot_line = pico_modules::boot_line(
            &BootPaths {
                modules: folder.modules(),
                flash: folder.flash(),
                project: project_root.as_deref(),
            },
            // The marker as Python spells it: the echo of the typed line never holds the RS
            // byte itself.
            &format!(
                "print('\\x1eHLID');{};print('\\x1eHLID')",
                super::IDENTIFY_CODE
            ),
        );
        let flash = folder.flash().to_path_buf();
        let sandbox_status = sandbox.status().clone();
        let shared = Arc::new(Shared {
            status: Mutex::new(Status::default()),
            changed: Condvar::new(),
        });
        let (wake_rx, wake_tx) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
            .map_err(|e| sim_err("creating a pipe", e))?;
        let host = HostPty::open().map_err(|e| sim_err("creating the host pty", e))?;
        let mut sup = Supervisor {
            opts,
            interpreter,
            folder,
            sandbox,
            boot_line,
            shared: Arc::clone(&shared),
            wake: File::from(wake_rx),
            host,
            child: None,
            phase: Phase::Running,
            mode: Mode::Friendly,
            to_child: Vec::new(),
            to_host: Vec::new(),
            host_stalled_since: None,
            mode_tail: Vec::new(),
            input: HostInput::default(),
            failed_starts: 0,
            spare: None,
            spare_failures: 0,
            boot_failure: None,
            spare_not_before: Instant::now() + SPARE_DELAY,
            trickle: (Instant::now(), 0),
            link_target: None,
        };
        sup.make_link()?;
        sup.publish_path();
        // Spawn the first interpreter from the supervisor thread: PR_SET_PDEATHSIG is tied to
        // the thread that forked, and that thread lives as long as the simulator.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("heaplens-sim".into())
            .spawn(move || {
                let first = sup.spawn_child(false, Mode::Friendly);
                let ok = first.is_ok();
                let _ = ready_tx.send(first);
                if ok {
                    sup.run();
                }
                sup.shutdown();
            })
            .map_err(|e| sim_err("starting the supervisor thread", e))?;
        let handle = SimHandle {
            shared,
            wake: File::from(wake_tx),
            thread: Some(thread),
            flash,
            sandbox: sandbox_status,
        };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(handle),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(LinkError::Simulator(
                "supervisor ended while starting".into(),
            )),
        }
    }

    /// The current host pty path, waiting up to `timeout` while a new one is being made.
    pub fn wait_path(&self, timeout: Duration) -> Result<PathBuf, LinkError> {
        let deadline = Instant::now() + timeout;
        let mut status = self.shared.lock();
        loop {
            if let Some(msg) = &status.failed {
                return Err(LinkError::Simulator(msg.clone()));
            }
            if let Some(path) = &status.path {
                return Ok(path.clone());
            }
            let now = Instant::now();
            if now >= deadline || status.stop {
                return Err(LinkError::Simulator("no pty available".into()));
            }
            status = match self.shared.changed.wait_timeout(status, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// The current host pty path, if any.
    pub fn path(&self) -> Option<PathBuf> {
        self.shared.lock().path.clone()
    }

    /// How many host ptys have been published (1 until the interpreter is first killed).
    pub fn generation(&self) -> u64 {
        self.shared.lock().generation
    }

    /// Resets the board as pulling a Pico's power does: kills the interpreter (whatever it
    /// runs) and waits up to `timeout` for the fresh one's host pty (see "Vanishing" in the
    /// module doc: the old pty closes, a new one is published).
    pub fn hard_reset(&self, timeout: Duration) -> Result<(), LinkError> {
        let (pid, generation) = {
            let status = self.shared.lock();
            (status.child_pid, status.generation)
        };
        let pid = pid.ok_or_else(|| LinkError::Simulator("no interpreter to reset".into()))?;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .map_err(|e| LinkError::Simulator(format!("resetting the simulated Pico: {e}")))?;
        let deadline = Instant::now() + timeout;
        let mut status = self.shared.lock();
        while status.generation == generation {
            if let Some(msg) = &status.failed {
                return Err(LinkError::Simulator(msg.clone()));
            }
            let now = Instant::now();
            if now >= deadline || status.stop {
                return Err(LinkError::Simulator(
                    "the simulated Pico did not restart after its reset".into(),
                ));
            }
            status = match self.shared.changed.wait_timeout(status, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        Ok(())
    }

    /// The interpreter's process id.
    pub fn interpreter_pid(&self) -> Option<i32> {
        self.shared.lock().child_pid
    }

    /// Why the simulator stopped working, if it did.
    pub fn failure(&self) -> Option<String> {
        self.shared.lock().failed.clone()
    }

    /// What the current interpreter printed of the board's identify query while it booted
    /// (the same text the query prints through the raw REPL), so that a just-started board
    /// is identified without an exchange. None while it boots, or if it printed none.
    pub fn boot_identity(&self) -> Option<String> {
        self.shared.lock().boot_identity.clone()
    }

    /// The board's flash folder on the host: what the script sees as `/` (its working
    /// folder; `lib/` in it is `/lib` on `sys.path`). Private to this board (mode 0700 parent,
    /// unpredictable name) and removed when the board is dropped. Files put here are on the
    /// board, as if copied to a Pico's flash.
    pub fn flash_dir(&self) -> &Path {
        &self.flash
    }

    /// How well the interpreter is sandboxed on this machine.
    pub fn sandbox(&self) -> &SandboxStatus {
        &self.sandbox
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        let _ = self.wake.write(&[1]);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn sim_err(what: &str, err: impl std::fmt::Display) -> LinkError {
    LinkError::Simulator(format!("{what}: {err}"))
}

/// Opens a pty pair with close-on-exec fds (so concurrently spawned processes don't inherit
/// them, which would keep the pty alive) and returns (master, slave, slave path).
fn open_pty() -> std::io::Result<(File, File, PathBuf)> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)?;
    nix::pty::grantpt(&master)?;
    nix::pty::unlockpt(&master)?;
    let name = PathBuf::from(nix::pty::ptsname_r(&master)?);
    // std opens with O_CLOEXEC.
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&name)?;
    let master = File::from(OwnedFd::from(master));
    fcntl(&master, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    Ok((master, slave, name))
}

/// The pty host tools open. The supervisor keeps the slave open itself ("keeper") so that
/// host tools may close and reopen it without the master seeing a hang-up.
struct HostPty {
    // Declared (so dropped) before the master: a master closed while a slave is still open
    // hangs that slave up, which costs ~1.5 ms; closed last, it costs nothing.
    _keeper: File,
    master: File,
    path: PathBuf,
}

impl HostPty {
    fn open() -> std::io::Result<HostPty> {
        let (master, keeper, path) = open_pty()?;
        // Raw from the start: with the default ECHO, board output would echo back into the
        // interpreter before a host tool sets its own mode.
        let mut t = termios::tcgetattr(&keeper)?;
        termios::cfmakeraw(&mut t);
        termios::tcsetattr(&keeper, SetArg::TCSANOW, &t)?;
        Ok(HostPty {
            master,
            _keeper: keeper,
            path,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Friendly,
    Raw,
}

/// Steps of an interpreter start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartStep {
    /// Waiting for the friendly banner's `>>> `.
    Banner,
    /// Sent the boot line: it imports the Pico modules and mounts the flash as `/`; being
    /// the first execution, it also makes the unix port drop the SIGINT handler CPython
    /// installed at start-up, so "SIGINT is caught" really means "code is running".
    WarmUp,
    /// Sent Ctrl-A: waiting for the raw banner.
    Raw,
}

enum Phase {
    /// A fresh interpreter is starting; its banner is swallowed.
    Starting {
        /// Print `MPY: soft reboot` + banner to the host when ready (soft reset).
        announce: bool,
        target: Mode,
        seen: Vec<u8>,
        /// The interpreter's friendly banner, up to and including its first `>>> `.
        banner: Vec<u8>,
        step: StartStep,
        since: Instant,
    },
    Running,
}

struct ChildProc {
    process: Child,
    /// The pty the interpreter reads (its stdin and controlling terminal: Ctrl-C is SIGINT).
    master: File,
    /// The pipe it writes to (stdout and stderr, in order). The unix port writes a heap map
    /// one byte per `write`; through a pty each byte costs a line-discipline pass and a
    /// wake-up (a `mem_info(1)` of 8 KB: ~25 ms), through a pipe a fraction of that.
    output: File,
    /// The pty hung up while the pipe is still open (the interpreter closed its stdin):
    /// polling it would only report the hang-up again.
    master_hung: bool,
}

/// A started interpreter waiting at its friendly prompt, used at the next (soft) reset.
struct Spare {
    child: ChildProc,
    seen: Vec<u8>,
    banner: Vec<u8>,
    warmed: bool,
    ready: bool,
    /// What its boot line printed of the identify query (once ready).
    identity: Option<String>,
}

struct Supervisor {
    opts: SimOptions,
    interpreter: PathBuf,
    /// Removed when the supervisor ends (dropped with it).
    folder: BoardFolder,
    sandbox: Sandbox,
    /// What each interpreter runs at its first prompt, ending with `\r`.
    boot_line: String,
    shared: Arc<Shared>,
    wake: File,
    host: HostPty,
    child: Option<ChildProc>,
    phase: Phase,
    /// Raw or friendly REPL, tracked from the interpreter's output.
    mode: Mode,
    to_child: Vec<u8>,
    to_host: Vec<u8>,
    host_stalled_since: Option<Instant>,
    mode_tail: Vec<u8>,
    /// CR LF as a Pico reads it (see `host_input`).
    input: HostInput,
    failed_starts: u32,
    spare: Option<Spare>,
    spare_failures: u32,
    /// Set when an interpreter's boot line raised: the board cannot work.
    boot_failure: Option<String>,
    /// No spare before this instant: one-shot commands finish before it and never pay for one.
    spare_not_before: Instant,
    /// When the interpreter's output last came in a trickle (`STREAM_CHUNK`), and how many
    /// bytes that stream has had.
    trickle: (Instant, usize),
    /// Where the `--link` symlink we made points (None: we made none, or it is no longer
    /// ours). Only that link is ever moved or removed.
    link_target: Option<PathBuf>,
}

impl Supervisor {
    fn publish_path(&mut self) {
        let mut status = self.shared.lock();
        status.path = Some(self.host.path.clone());
        status.generation += 1;
        if let (Some(link), Some(previous)) = (&self.opts.link, &self.link_target) {
            // Move our link to the new pty, but only while it is still ours: a path someone
            // else put there is theirs. Atomically: a new symlink under a name of our own,
            // renamed over the link.
            if std::fs::read_link(link).is_ok_and(|target| target == *previous) {
                let tmp = link.with_file_name(format!(
                    ".{}.heaplens-{}",
                    link.file_name()
                        .map_or("link".into(), |n| n.to_string_lossy()),
                    std::process::id()
                ));
                let _ = std::fs::remove_file(&tmp);
                if std::os::unix::fs::symlink(&self.host.path, &tmp).is_ok()
                    && std::fs::rename(&tmp, link).is_ok()
                {
                    self.link_target = Some(self.host.path.clone());
                } else {
                    let _ = std::fs::remove_file(&tmp);
                }
            } else {
                tracing::warn!(link = %link.display(), "the link was replaced by someone else; leaving it");
                self.link_target = None;
            }
        }
        self.shared.changed.notify_all();
    }

    /// Makes the `--link` symlink to the first pty. Refuses any path that exists (a file, a
    /// folder, a symlink: never replaced) and a missing folder, with a message saying so.
    fn make_link(&mut self) -> Result<(), LinkError> {
        let Some(link) = &self.opts.link else {
            return Ok(());
        };
        let shown = link.display();
        // `symlink` creates only where nothing is: no check-then-create race.
        match std::os::unix::fs::symlink(&self.host.path, link) {
            Ok(()) => {
                self.link_target = Some(self.host.path.clone());
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let what = match std::fs::symlink_metadata(link) {
                    Ok(meta) if meta.is_dir() => "a folder",
                    Ok(meta) if meta.file_type().is_symlink() => "a symlink",
                    _ => "a file",
                };
                Err(LinkError::Simulator(format!(
                    "--link {shown}: {what} already exists there; the link is made only where \
                     nothing is, and never replaces anything (remove it or choose another path)"
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(LinkError::Simulator(format!(
                    "--link {shown}: the folder {} does not exist",
                    link.parent()
                        .filter(|p| !p.as_os_str().is_empty())
                        .map_or_else(|| ".".into(), |p| p.display().to_string())
                )))
            }
            Err(e) => Err(LinkError::Simulator(format!(
                "--link {shown}: cannot make the link: {e}"
            ))),
        }
    }

    /// Makes `child` the board's interpreter: the warm spare when one is ready, else a fresh
    /// process whose banner is awaited.
    fn spawn_child(&mut self, announce: bool, target: Mode) -> Result<(), LinkError> {
        // A new interpreter is in no paste.
        self.input = HostInput::default();
        // A spare still starting is further along than a fresh process: take it anyway.
        if let Some(spare) = self.spare.take() {
            {
                let mut status = self.shared.lock();
                status.child_pid = i32::try_from(spare.child.process.id()).ok();
                status.boot_identity = spare.identity;
            }
            let (step, seen) = match (spare.ready, spare.warmed) {
                // It already sits at a fresh `>>> `: continue as if it had just shown it.
                (true, _) => (StartStep::WarmUp, b">>> ".to_vec()),
                (false, true) => (StartStep::WarmUp, spare.seen),
                (false, false) => (StartStep::Banner, spare.seen),
            };
            self.child = Some(spare.child);
            self.phase = Phase::Starting {
                announce,
                target,
                seen,
                banner: spare.banner,
                step,
                since: Instant::now(),
            };
            self.child_output(b"");
            return Ok(());
        }
        let child = self.spawn_process()?;
        {
            let mut status = self.shared.lock();
            status.child_pid = i32::try_from(child.process.id()).ok();
            status.boot_identity = None;
        }
        self.child = Some(child);
        self.phase = Phase::Starting {
            announce,
            target,
            seen: Vec::new(),
            banner: Vec::new(),
            step: StartStep::Banner,
            since: Instant::now(),
        };
        Ok(())
    }

    fn wants_spare(&self) -> bool {
        self.opts.warm_spare
            && self.spare.is_none()
            && self.spare_failures < 3
            && matches!(self.phase, Phase::Running)
            && Instant::now() >= self.spare_not_before
    }

    /// Starts a spare interpreter (when one is wanted).
    fn ensure_spare(&mut self) {
        if !self.wants_spare() {
            return;
        }
        match self.spawn_process() {
            Ok(child) => {
                self.spare = Some(Spare {
                    child,
                    seen: Vec::new(),
                    banner: Vec::new(),
                    warmed: false,
                    ready: false,
                    identity: None,
                })
            }
            Err(_) => self.spare_failures += 1,
        }
    }

    /// Reads the spare's start-up output and warms it up; reaps it if it died.
    fn read_spare(&mut self) {
        let Some(spare) = &mut self.spare else { return };
        let mut buf = [0u8; 4096];
        match spare.child.output.read(&mut buf) {
            Ok(n) if n > 0 => {
                if spare.ready {
                    return;
                }
                spare.seen.extend_from_slice(&buf[..n]);
                let Some(i) = find(&spare.seen, b">>> ") else {
                    return;
                };
                if spare.warmed {
                    if boot_error(&spare.seen[..i]).is_some() {
                        // Booting failed (a broken module): this spare is of no use.
                        if let Some(mut dead) = self.spare.take() {
                            let _ = dead.child.process.kill();
                            let _ = dead.child.process.wait();
                        }
                        self.spare_failures += 1;
                        return;
                    }
                    spare.ready = true;
                    spare.identity = boot_identity(&spare.seen[..i]);
                    spare.seen.clear();
                } else {
                    spare.banner = spare.seen.drain(..i + 4).collect();
                    spare.seen.clear();
                    spare.warmed = true;
                    let _ = spare.child.master.write_all(self.boot_line.as_bytes());
                }
            }
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) => {}
            _ => {
                if let Some(mut dead) = self.spare.take() {
                    let _ = dead.child.process.kill();
                    let _ = dead.child.process.wait();
                }
                self.spare_failures += 1;
            }
        }
    }

    /// Spawns an interpreter on a pty of its own (not yet the board's).
    fn spawn_process(&mut self) -> Result<ChildProc, LinkError> {
        let (master, slave, _) = open_pty().map_err(|e| sim_err("creating the child pty", e))?;
        let mut t = termios::tcgetattr(&slave).map_err(|e| sim_err("reading termios", e))?;
        termios::cfmakeraw(&mut t);
        // Ctrl-C must become SIGINT (the unix port's only interrupt path); Ctrl-\ and Ctrl-Z
        // must not kill or stop it. No ONLCR: the interpreter writes its own CRLFs.
        t.local_flags |= LocalFlags::ISIG;
        t.control_chars[SpecialCharacterIndices::VINTR as usize] = 0x03;
        t.control_chars[SpecialCharacterIndices::VQUIT as usize] = 0;
        t.control_chars[SpecialCharacterIndices::VSUSP as usize] = 0;
        termios::tcsetattr(&slave, SetArg::TCSANOW, &t)
            .map_err(|e| sim_err("setting termios", e))?;
        // Close-on-exec like the pty: a spare spawned meanwhile must not hold it open.
        let (read_end, write_end) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| sim_err("creating a pipe", e))?;
        fcntl(&read_end, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
            .map_err(|e| sim_err("setting the pipe non-blocking", e))?;
        let write_end = File::from(write_end);
        let stdio = |f: &File| f.try_clone().map(Stdio::from);
        let mut cmd = Command::new(&self.interpreter);
        cmd.arg("-X")
            .arg(format!("heapsize={}", self.opts.heap_bytes))
            .current_dir(self.folder.flash())
            // Nothing of the user's environment (tokens, paths) reaches the script.
            .env_clear()
            .stdin(stdio(&slave).map_err(|e| sim_err("dup", e))?)
            .stdout(Stdio::from(
                write_end.try_clone().map_err(|e| sim_err("dup", e))?,
            ))
            .stderr(Stdio::from(write_end));
        let confine = self
            .sandbox
            .for_child()
            .map_err(|e| sim_err("preparing the sandbox", e))?;
        // SAFETY: only async-signal-safe calls (setsid, ioctl, prctl, landlock_restrict_self,
        // seccomp) between fork and exec; nothing allocates.
        unsafe {
            cmd.pre_exec(move || {
                // A session of its own whose controlling terminal is the child pty, so the
                // line discipline turns \x03 into SIGINT for it.
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // No orphan if heaplens dies without cleaning up.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                // Last: from here on the process reaches only what the sandbox allows, and
                // the exec itself must be allowed.
                confine.apply_in_child()
            });
        }
        let process = cmd
            .spawn()
            .map_err(|e| sim_err(&format!("starting {}", self.interpreter.display()), e))?;
        // Close our copies of the child's slave and pipe end: EOF on the pipe then means
        // it exited.
        drop(cmd);
        drop(slave);
        Ok(ChildProc {
            process,
            master,
            output: File::from(read_end),
            master_hung: false,
        })
    }

    fn run(&mut self) {
        loop {
            if self.shared.lock().stop {
                return;
            }
            let running = matches!(self.phase, Phase::Running);
            let mut fds = vec![libc::pollfd {
                fd: self.wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            let mut host_events = 0;
            if self.to_child.len() < BUFFER_LIMIT {
                host_events |= libc::POLLIN;
            }
            if !self.to_host.is_empty() {
                host_events |= libc::POLLOUT;
            }
            fds.push(libc::pollfd {
                fd: self.host.master.as_raw_fd(),
                events: host_events,
                revents: 0,
            });
            if let Some(child) = &self.child {
                let room = self.to_host.len() < BUFFER_LIMIT;
                fds.push(libc::pollfd {
                    fd: child.output.as_raw_fd(),
                    events: if room { libc::POLLIN } else { 0 },
                    revents: 0,
                });
                let mut events = 0;
                if room {
                    events |= libc::POLLIN;
                }
                if running && !self.to_child.is_empty() {
                    events |= libc::POLLOUT;
                }
                // A negative fd is skipped by poll.
                fds.push(libc::pollfd {
                    fd: if child.master_hung {
                        -1
                    } else {
                        child.master.as_raw_fd()
                    },
                    events,
                    revents: 0,
                });
            }
            let spare_index = fds.len();
            if let Some(spare) = &self.spare {
                fds.push(libc::pollfd {
                    fd: spare.child.output.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            let nfds = libc::nfds_t::try_from(fds.len()).unwrap_or(0);
            // Short waits while a spare is wanted, so that it starts in the first quiet
            // 10 ms after a reset.
            let timeout_ms = if self.wants_spare() { 10 } else { 100 };
            // SAFETY: `fds` is a valid array of `nfds` pollfd structs for the whole call.
            let ready = unsafe { libc::poll(fds.as_mut_ptr(), nfds, timeout_ms) };
            if ready < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                self.fail(format!("poll failed: {err}"));
                return;
            }
            if fds[0].revents != 0 {
                let mut buf = [0u8; 16];
                let _ = self.wake.read(&mut buf);
            }
            if fds[1].revents & libc::POLLIN != 0 {
                self.read_host();
            }
            if fds[1].revents & libc::POLLOUT != 0 {
                self.write_host();
            }
            if self.spare.is_some() && fds.get(spare_index).is_some_and(|f| f.revents != 0) {
                self.read_spare();
            }
            let mut trickle = 0;
            if let (Some(output), Some(tty)) = (
                fds.get(2).filter(|_| spare_index > 3),
                fds.get(3).filter(|_| spare_index > 3),
            ) {
                if tty.revents & libc::POLLOUT != 0 {
                    self.write_child();
                }
                if tty.revents & libc::POLLIN != 0 {
                    // Nothing writes to the tty but the interpreter itself, if ever: pass it on.
                    self.read_child_tty();
                } else if tty.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
                    if let Some(child) = &mut self.child {
                        child.master_hung = true;
                    }
                }
                if output.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                    match self.read_child() {
                        Some(n) if n < STREAM_CHUNK => trickle = n,
                        Some(_) => {}
                        None => {
                            if let Err(msg) = self.child_exited() {
                                self.fail(msg);
                                return;
                            }
                        }
                    }
                }
            }
            if let Some(msg) = self.boot_failure.take() {
                self.fail(msg);
                return;
            }
            self.check_timers();
            // Start a spare only when quiet (poll timed out): spawning blocks this thread for
            // a few milliseconds, which must not delay a reply the host is waiting for.
            if ready == 0 && self.wants_spare() {
                self.ensure_spare();
            }
            // The interpreter writes a heap map a byte at a time: reading each byte as it
            // comes would wake this thread (and the host) thousands of times per map. In the
            // middle of such a stream, let bytes gather a moment. Replies the host waits for
            // one by one (raw-paste windows, prompts) are a few bytes each: passed on at once.
            if trickle > 0 {
                let now = Instant::now();
                let (last, bytes) = self.trickle;
                let bytes = if now.duration_since(last) < STREAM_GAP {
                    bytes + trickle
                } else {
                    trickle
                };
                self.trickle = (now, bytes);
                if bytes >= STREAM_BYTES {
                    std::thread::sleep(STREAM_NAP);
                }
            }
        }
    }

    fn read_host(&mut self) {
        let mut buf = [0u8; 4096];
        // EAGAIN, or EIO while no host has the slave open (cannot happen with the keeper).
        let Ok(n) = self.host.master.read(&mut buf) else {
            return;
        };
        let data = &buf[..n];
        let running = matches!(self.phase, Phase::Running);
        let pid = self.child.as_ref().map(|c| c.process.id());
        // A running script can only be interrupted by SIGINT, and in raw-paste mode the unix
        // port keeps ISIG off, so the tty never makes one from \x03. While the interpreter has
        // its SIGINT handler installed (that is: it is executing code), turn \x03 into
        // SIGINT ourselves. At a prompt SIGINT would kill it, so there \x03 stays a byte.
        let executing =
            running && data.contains(&0x03) && pid.is_some_and(interpreter_catches_sigint);
        if !executing {
            self.input
                .take_host(data, &mut self.to_child, &mut self.to_host);
            return;
        }
        for &byte in data {
            if byte == 0x03 {
                if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGINT,
                    );
                }
            } else {
                self.input
                    .take_host(&[byte], &mut self.to_child, &mut self.to_host);
            }
        }
    }

    fn write_host(&mut self) {
        match self.host.master.write(&self.to_host) {
            Ok(n) => {
                self.to_host.drain(..n);
                self.host_stalled_since = None;
            }
            Err(_) => {
                self.host_stalled_since.get_or_insert_with(Instant::now);
            }
        }
    }

    fn write_child(&mut self) {
        let Some(child) = &mut self.child else { return };
        if let Ok(n) = child.master.write(&self.to_child) {
            self.to_child.drain(..n);
        }
    }

    /// Reads the interpreter's output: how many bytes, or None when it has gone (EOF).
    fn read_child(&mut self) -> Option<usize> {
        let Some(child) = &mut self.child else {
            return Some(0);
        };
        let mut buf = [0u8; 4096];
        match child.output.read(&mut buf) {
            Ok(0) => None,
            Ok(n) => {
                self.child_output(&buf[..n]);
                Some(n)
            }
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => Some(0),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => Some(0),
            Err(_) => None,
        }
    }

    /// Passes on anything written to the interpreter's tty (its output goes to the pipe).
    fn read_child_tty(&mut self) {
        let Some(child) = &mut self.child else { return };
        let mut buf = [0u8; 4096];
        let n = match child.master.read(&mut buf) {
            Ok(n) if n > 0 => n,
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                return
            }
            // EIO: the interpreter closed the tty (or exited; the pipe's EOF tells).
            _ => {
                child.master_hung = true;
                return;
            }
        };
        self.child_output(&buf[..n]);
    }

    fn child_output(&mut self, data: &[u8]) {
        match &mut self.phase {
            Phase::Running => {
                self.input.watch_child(data);
                self.track_mode(data);
                self.to_host.extend_from_slice(data);
            }
            Phase::Starting {
                announce,
                target,
                seen,
                banner,
                step,
                ..
            } => {
                seen.extend_from_slice(data);
                let prompt = find(seen, b">>> ");
                if let (StartStep::WarmUp, Some(i)) = (*step, prompt) {
                    if let Some(identity) = boot_identity(&seen[..i]) {
                        self.shared.lock().boot_identity = Some(identity);
                    }
                }
                match (*step, prompt) {
                    (StartStep::Banner, Some(i)) => {
                        *banner = seen.drain(..i + 4).collect();
                        seen.clear();
                        *step = StartStep::WarmUp;
                        if let Some(child) = &mut self.child {
                            let _ = child.master.write_all(self.boot_line.as_bytes());
                        }
                    }
                    (StartStep::WarmUp, Some(i)) if boot_error(&seen[..i]).is_some() => {
                        let text = boot_error(&seen[..i]).unwrap_or_default();
                        self.boot_failure = Some(if text.contains("MemoryError") {
                            format!(
                                "the simulated Pico could not boot: a heap of {} bytes is too \
                                 small for the Pico modules it loads at boot (about {} bytes); \
                                 give it at least {} bytes",
                                self.opts.heap_bytes,
                                pico_modules::BOOT_HEAP_LIMIT_BYTES,
                                MIN_SIM_HEAP_BYTES
                            )
                        } else {
                            format!("the simulated Pico could not boot (its Pico modules failed): {text}")
                        });
                    }
                    (StartStep::WarmUp, Some(_)) if *target == Mode::Raw => {
                        seen.clear();
                        *step = StartStep::Raw;
                        self.write_child_now(b"\x01");
                    }
                    (StartStep::WarmUp, Some(_)) => {
                        if *announce {
                            self.to_host.extend_from_slice(SOFT_REBOOT);
                            self.to_host.extend_from_slice(banner);
                        }
                        self.mode = Mode::Friendly;
                        self.phase = Phase::Running;
                        self.failed_starts = 0;
                    }
                    (StartStep::Raw, _) => {
                        let Some(i) = find(seen, RAW_BANNER_WITH_PROMPT) else {
                            return;
                        };
                        let rest = seen.split_off(i + RAW_BANNER_WITH_PROMPT.len());
                        if *announce {
                            self.to_host.extend_from_slice(SOFT_REBOOT);
                            self.to_host.extend_from_slice(RAW_BANNER_WITH_PROMPT);
                        }
                        self.to_host.extend_from_slice(&rest);
                        self.mode = Mode::Raw;
                        self.phase = Phase::Running;
                        self.failed_starts = 0;
                    }
                    _ => {}
                }
            }
        }
    }

    /// Writes to the interpreter ahead of buffered host bytes (start-up handshake).
    fn write_child_now(&mut self, data: &[u8]) {
        if let Some(child) = &mut self.child {
            let _ = child.master.write_all(data);
        }
    }

    /// Follows raw/friendly mode from the REPL's own strings.
    fn track_mode(&mut self, data: &[u8]) {
        self.mode_tail.extend_from_slice(data);
        let raw = rfind(&self.mode_tail, b"raw REPL; CTRL-B to exit");
        let friendly = rfind(&self.mode_tail, b">>> ");
        self.mode = match (raw, friendly) {
            (Some(r), Some(f)) if f > r => Mode::Friendly,
            (Some(_), _) => Mode::Raw,
            (None, Some(_)) => Mode::Friendly,
            (None, None) => self.mode,
        };
        let keep = 32;
        if self.mode_tail.len() > keep {
            self.mode_tail.drain(..self.mode_tail.len() - keep);
        }
    }

    /// The interpreter exited: a normal exit is a soft reset; death by signal is a vanished
    /// board.
    fn child_exited(&mut self) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        self.shared.lock().child_pid = None;
        let status = child.process.wait().map_err(|e| format!("wait: {e}"))?;
        if std::env::var_os("HEAPLENS_SIM_DEBUG").is_some() {
            eprintln!("heaplens sim: interpreter exited: {status}");
        }
        let was_starting = matches!(self.phase, Phase::Starting { .. });
        if was_starting {
            self.failed_starts += 1;
            if self.failed_starts >= 3 {
                return Err(format!(
                    "{} exits while starting ({status})",
                    self.interpreter.display()
                ));
            }
        }
        if status.signal().is_some() {
            self.vanish().map_err(|e| e.to_string())?;
            self.spawn_child(false, Mode::Friendly)
                .map_err(|e| e.to_string())
        } else {
            let target = self.mode;
            self.spawn_child(true, target).map_err(|e| e.to_string())
        }
    }

    /// Acts like an unplugged board: a new host pty replaces the old one, which is closed so
    /// that host reads fail at once.
    fn vanish(&mut self) -> std::io::Result<()> {
        let fresh = HostPty::open()?;
        let old = std::mem::replace(&mut self.host, fresh);
        self.to_child.clear();
        self.to_host.clear();
        self.mode_tail.clear();
        self.mode = Mode::Friendly;
        self.publish_path();
        drop(old);
        Ok(())
    }

    fn check_timers(&mut self) {
        if let Some(since) = self.host_stalled_since {
            if since.elapsed() >= HOST_STALL_LIMIT {
                // Nobody reads: drop output like a Pico's USB CDC does.
                self.to_host.clear();
                self.host_stalled_since = None;
            }
        }
        if let Phase::Starting { since, .. } = &self.phase {
            if since.elapsed() >= START_LIMIT {
                if let Some(child) = &mut self.child {
                    let _ = child.process.kill();
                }
            }
        }
    }

    fn fail(&mut self, msg: String) {
        let mut status = self.shared.lock();
        status.failed = Some(msg);
        status.path = None;
        self.shared.changed.notify_all();
    }

    fn shutdown(&mut self) {
        let spare = self.spare.take().map(|s| s.child);
        let mut children: Vec<ChildProc> = self.child.take().into_iter().chain(spare).collect();
        for child in &mut children {
            let _ = child.process.kill();
        }
        // The kernel takes ~1.5 ms to tear a killed interpreter down; nothing here needs to
        // wait for that. A thread of its own reaps it: a language server reaps every child,
        // and a one-shot command exits meanwhile (its orphans are reaped by init). The board's
        // folder is removed right after this; should a dying interpreter still create a file
        // in it, the next board removes the stale folder (see `folder`).
        if !children.is_empty() {
            let _ = std::thread::Builder::new()
                .name("heaplens-reap".into())
                .spawn(move || {
                    for mut child in children {
                        let _ = child.process.wait();
                    }
                });
        }
        {
            let mut status = self.shared.lock();
            status.child_pid = None;
            status.path = None;
            self.shared.changed.notify_all();
        }
        // Remove the link only if it is the one we made, still pointing where we put it.
        if let (Some(link), Some(ours)) = (&self.opts.link, self.link_target.take()) {
            if std::fs::read_link(link).is_ok_and(|target| target == ours) {
                let _ = std::fs::remove_file(link);
            }
        }
    }
}

/// Whether process `pid` has a SIGINT handler installed (Linux `/proc/PID/status`, `SigCgt`).
/// The unix port installs one only while it executes code.
fn interpreter_catches_sigint(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (libc::SIGINT - 1)) != 0)
}

/// What the boot line printed between its two [`IDENTITY_MARK`]s.
fn boot_identity(output: &[u8]) -> Option<String> {
    let mark = IDENTITY_MARK.as_bytes();
    let start = find(output, mark)? + mark.len();
    let len = find(&output[start..], mark)?;
    let text = String::from_utf8_lossy(&output[start..start + len]);
    Some(text.trim_start_matches(['\r', '\n']).to_string())
}

/// The traceback the boot line printed, if it raised.
fn boot_error(output: &[u8]) -> Option<String> {
    let start = find(output, b"Traceback (most recent call last)")?;
    Some(String::from_utf8_lossy(&output[start..]).trim().to_string())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}
