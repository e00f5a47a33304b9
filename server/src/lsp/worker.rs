//! The board worker: one OS thread that owns the [`Board`] and does every piece of board work
//! (runs, captures, resets) in order. The LSP side only queues jobs; everything a job produces
//! (its start, phases, output, snapshots, and at the end its outcome) comes back as
//! [`WorkerEvent`]s on one channel, in order, so a run's `jobFinished` can never overtake its
//! own output. Stop does not queue: it trips the running job's [`CancelToken`], which makes
//! the link send Ctrl-C.
//!
//! The REPL terminal lives here too, so that a serial board and the simulated Pico behave the
//! same: while it is open and no job runs, the board sits in its friendly REPL, the worker
//! passes the board's output on and writes the keys the terminal sends. A job releases the
//! REPL for its duration (the board goes back to raw mode for it) and the REPL is attached
//! again afterwards.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::board::{
    Board, BoardInfo, BoardKind, BoardSpec, CancelToken, LinkError, LinkOptions, SandboxStatus,
    SimOptions,
};
use crate::heap::Snapshot;
use crate::run::plain::{self, PlainReport};
use crate::run::runner::{
    self, AllocationLine, Phase, RunError, RunEvent, RunOptions, RunReport, Script,
};
use crate::run::timeline::Sample;

use super::ext::{JobKind, ReplState, SandboxState};
use super::state::BoardReport;
use super::to_proto::error_code;

/// How long the REPL's output is waited for between two looks at the job queue: the
/// latency a queued job (or a key) can see while the REPL is open.
const REPL_POLL: Duration = Duration::from_millis(20);

/// Something that happened while a job ran, forwarded to the client as it happens.
#[derive(Debug)]
pub(super) enum WorkerEvent {
    /// The board began job `job_id` (queued until now).
    Started {
        job_id: u64,
        kind: JobKind,
    },
    /// The REPL terminal's hold on the board changed (`job_id`: the job that released it).
    Repl {
        state: ReplState,
        job_id: Option<u64>,
        message: Option<String>,
    },
    /// What the board's friendly REPL printed.
    ReplOutput(Vec<u8>),
    Phase {
        job_id: u64,
        phase: Phase,
    },
    Output {
        job_id: u64,
        bytes: Vec<u8>,
    },
    /// Project files were copied to the board (paths relative to the project root).
    Copied {
        job_id: u64,
        files: Vec<String>,
    },
    Snapshot {
        job_id: u64,
        label: &'static str,
        snapshot: Box<Snapshot>,
        /// The line (1-based) of each new allocation, for a traced run's `after` snapshot.
        allocation_lines: Vec<AllocationLine>,
    },
    /// New samples of a run's heap timeline.
    Timeline {
        job_id: u64,
        interval_ms: u32,
        samples: Vec<Sample>,
    },
    Board(BoardReport),
    /// A job ended; always the last event of its job.
    Finished {
        job_id: u64,
        outcome: JobOutcome,
    },
}

/// How often a run's timeline samples are sent at most.
const TIMELINE_BATCH: Duration = Duration::from_millis(200);

/// How a job ended.
#[derive(Debug)]
pub(super) enum JobOutcome {
    Run(Result<Box<RunReport>, RunError>),
    PlainRun(Result<PlainReport, RunError>),
    /// The REPL attached (or could not).
    Repl(Result<(), RunError>),
    Capture(Result<Box<Snapshot>, RunError>),
    SoftReset(Result<(), RunError>),
    SetBoard(Result<(), RunError>),
    /// The job panicked (a HeapLens bug); the worker kept running.
    Panicked(String),
}

/// Work for the board thread.
pub(super) enum Job {
    /// Open the board now (if it is not open), so its status is known before the first run.
    Connect,
    Run {
        job_id: u64,
        script: Box<Script>,
        options: RunOptions,
        cancel: CancelToken,
        /// The user allowed runs on a simulated Pico that is not sandboxed here.
        allow_unsandboxed: bool,
    },
    /// Run a script as it is (`heaplens.runPlain`).
    PlainRun {
        job_id: u64,
        script: Box<Script>,
        soft_reset: bool,
        timeout: Option<Duration>,
        cancel: CancelToken,
        /// The user allowed runs on a simulated Pico that is not sandboxed here.
        allow_unsandboxed: bool,
    },
    Capture {
        job_id: u64,
        gc: bool,
    },
    /// Open the REPL terminal on the board.
    ReplOpen {
        job_id: u64,
    },
    /// Keys typed in the REPL terminal (dropped unless the REPL is attached).
    ReplInput(Vec<u8>),
    /// Close the REPL terminal.
    ReplClose,
    SoftReset {
        job_id: u64,
    },
    SetBoard {
        job_id: u64,
        spec: BoardSpec,
        sim: SimOptions,
    },
}

impl Job {
    fn id(&self) -> Option<u64> {
        self.started().map(|(id, _)| id)
    }

    /// The id and kind of a job that reports its start and end.
    fn started(&self) -> Option<(u64, JobKind)> {
        match self {
            Job::Connect | Job::ReplInput(_) | Job::ReplClose => None,
            Job::Run { job_id, .. } => Some((*job_id, JobKind::Run)),
            Job::PlainRun { job_id, .. } => Some((*job_id, JobKind::PlainRun)),
            Job::Capture { job_id, .. } => Some((*job_id, JobKind::Capture)),
            Job::SoftReset { job_id } => Some((*job_id, JobKind::SoftReset)),
            Job::SetBoard { job_id, .. } => Some((*job_id, JobKind::SelectBoard)),
            Job::ReplOpen { job_id } => Some((*job_id, JobKind::Repl)),
        }
    }

    /// Whether the job needs the board in raw mode (it releases an attached REPL).
    fn uses_board(&self) -> bool {
        !matches!(
            self,
            Job::Connect | Job::ReplOpen { .. } | Job::ReplInput(_) | Job::ReplClose
        )
    }
}

/// The LSP side's handle on the worker thread. Dropping every handle ends the thread, which
/// closes the board (stopping the simulated Pico's interpreter).
#[derive(Clone)]
pub(super) struct WorkerHandle {
    jobs: crossbeam_channel::Sender<Job>,
}

/// The worker thread has ended (only after a panic outside any job).
#[derive(Debug, thiserror::Error)]
#[error("the board worker has stopped")]
pub(super) struct WorkerGone;

impl WorkerHandle {
    /// Starts the worker thread for the board `spec`. Events go to `events` as they happen.
    pub fn spawn(
        spec: BoardSpec,
        sim: SimOptions,
        events: mpsc::UnboundedSender<WorkerEvent>,
    ) -> (WorkerHandle, thread::JoinHandle<()>) {
        let (jobs, rx) = crossbeam_channel::unbounded::<Job>();
        let thread = thread::Builder::new()
            .name("heaplens-board".into())
            .spawn(move || {
                let mut worker = Worker {
                    spec,
                    sim,
                    board: None,
                    events,
                    link: LinkOptions::default(),
                    repl: Repl::Closed,
                };
                loop {
                    let job = if worker.repl == Repl::Attached {
                        // The REPL is the board's: pass its output on between jobs and keys.
                        match rx.try_recv() {
                            Ok(job) => job,
                            Err(crossbeam_channel::TryRecvError::Empty) => {
                                worker.pump_repl();
                                continue;
                            }
                            Err(crossbeam_channel::TryRecvError::Disconnected) => break,
                        }
                    } else {
                        match rx.recv() {
                            Ok(job) => job,
                            Err(_) => break,
                        }
                    };
                    let job_id = job.id();
                    // A bug in one job must not take the board thread (and with it every later
                    // run) down: the panic becomes that job's outcome.
                    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| worker.handle(job))) {
                        let message = super::server::panic_message(&*panic);
                        tracing::error!(%message, "board job panicked");
                        if let Some(job_id) = job_id {
                            worker.finish(job_id, JobOutcome::Panicked(message));
                        }
                    }
                }
                if let Some(board) = worker.board.take() {
                    board.close();
                }
            })
            .expect("spawning the board thread");
        (WorkerHandle { jobs }, thread)
    }

    /// Queues a job.
    pub fn send(&self, job: Job) -> Result<(), WorkerGone> {
        self.jobs.send(job).map_err(|_| WorkerGone)
    }
}

/// The REPL terminal's state, as the worker holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repl {
    Closed,
    /// Open, and the board sits in its friendly REPL.
    Attached,
    /// Open, but a job has the board.
    Released,
}

struct Worker {
    spec: BoardSpec,
    sim: SimOptions,
    board: Option<Board>,
    events: mpsc::UnboundedSender<WorkerEvent>,
    link: LinkOptions,
    repl: Repl,
}

impl Worker {
    fn finish(&self, job_id: u64, outcome: JobOutcome) {
        let _ = self.events.send(WorkerEvent::Finished { job_id, outcome });
    }

    fn repl_event(&self, state: ReplState, job_id: Option<u64>, message: Option<String>) {
        let _ = self.events.send(WorkerEvent::Repl {
            state,
            job_id,
            message,
        });
    }

    /// Gives the board's friendly REPL to the terminal; on failure the REPL is closed with
    /// the reason.
    fn attach_repl(&mut self) -> Result<(), RunError> {
        let result = self.with_board(|board, _| board.repl_attach().map_err(RunError::from));
        match &result {
            Ok(()) => {
                self.repl = Repl::Attached;
                self.repl_event(ReplState::Attached, None, None);
            }
            Err(e) => {
                self.repl = Repl::Closed;
                self.repl_event(ReplState::Closed, None, Some(e.to_string()));
            }
        }
        result
    }

    /// Passes on what the REPL printed (waiting at most [`REPL_POLL`]).
    fn pump_repl(&mut self) {
        let Some(board) = self.board.as_mut() else {
            self.repl = Repl::Closed;
            self.repl_event(ReplState::Closed, None, Some("the board is closed".into()));
            return;
        };
        match board.repl_read(REPL_POLL) {
            Ok(bytes) if bytes.is_empty() => {}
            Ok(bytes) => {
                let _ = self.events.send(WorkerEvent::ReplOutput(bytes));
            }
            Err(e) => self.repl_lost(e.into()),
        }
    }

    /// The board went away under the REPL: close both, say why.
    fn repl_lost(&mut self, error: RunError) {
        if let Some(board) = self.board.take() {
            board.close();
        }
        self.repl = Repl::Closed;
        self.report(disconnected(&error, error.to_string()));
        self.repl_event(ReplState::Closed, None, Some(error.to_string()));
    }

    fn handle(&mut self, job: Job) {
        if let Some((job_id, kind)) = job.started() {
            let _ = self.events.send(WorkerEvent::Started { job_id, kind });
        }
        let release = self.repl == Repl::Attached && job.uses_board();
        let job_id = job.id();
        if release {
            self.repl = Repl::Released;
            self.repl_event(ReplState::Released, job_id, None);
        }
        self.do_job(job);
        if release && self.repl == Repl::Released {
            let _ = self.attach_repl();
        }
    }

    fn do_job(&mut self, job: Job) {
        match job {
            Job::Connect => {
                let _ = self.with_board(|_, _| Ok(()));
            }
            Job::Run {
                job_id,
                script,
                options,
                cancel,
                allow_unsandboxed,
            } => {
                tracing::info!(job_id, "run started");
                let interval_ms = options.sample_every_ms.unwrap_or(0);
                let result = self.with_board(|board, events| {
                    refuse_unsandboxed(board, allow_unsandboxed)?;
                    // Timeline samples go out in batches, a few times a second at most (and
                    // before any other event of the run, so that the order holds).
                    let mut batch: Vec<Sample> = Vec::new();
                    let mut batch_since = Instant::now();
                    let flush = |batch: &mut Vec<Sample>| {
                        if !batch.is_empty() {
                            let _ = events.send(WorkerEvent::Timeline {
                                job_id,
                                interval_ms,
                                samples: std::mem::take(batch),
                            });
                        }
                    };
                    let mut on_event = |event: RunEvent<'_>| {
                        if let RunEvent::Sample(sample) = event {
                            batch.push(sample);
                            if batch_since.elapsed() >= TIMELINE_BATCH {
                                flush(&mut batch);
                                batch_since = Instant::now();
                            }
                            return;
                        }
                        flush(&mut batch);
                        let event = match event {
                            RunEvent::Sample(_) => return,
                            RunEvent::Phase(phase) => WorkerEvent::Phase { job_id, phase },
                            RunEvent::Output(bytes) => WorkerEvent::Output {
                                job_id,
                                bytes: bytes.to_vec(),
                            },
                            RunEvent::Copied(files) => WorkerEvent::Copied {
                                job_id,
                                files: files.to_vec(),
                            },
                            RunEvent::Snapshot {
                                label,
                                snapshot,
                                allocation_lines,
                            } => WorkerEvent::Snapshot {
                                job_id,
                                label,
                                snapshot: Box::new(snapshot.clone()),
                                allocation_lines: allocation_lines.to_vec(),
                            },
                        };
                        let _ = events.send(event);
                    };
                    let report =
                        runner::run_script(board, &script, &options, &mut on_event, &cancel);
                    flush(&mut batch);
                    report
                });
                tracing::info!(job_id, ok = result.is_ok(), "run ended");
                self.finish(job_id, JobOutcome::Run(result.map(Box::new)));
            }
            Job::PlainRun {
                job_id,
                script,
                soft_reset,
                timeout,
                cancel,
                allow_unsandboxed,
            } => {
                tracing::info!(job_id, "plain run started");
                let result = self.with_board(|board, events| {
                    refuse_unsandboxed(board, allow_unsandboxed)?;
                    let mut on_output = |bytes: &[u8]| {
                        let _ = events.send(WorkerEvent::Output {
                            job_id,
                            bytes: bytes.to_vec(),
                        });
                    };
                    let mut on_copied = |files: &[String]| {
                        let _ = events.send(WorkerEvent::Copied {
                            job_id,
                            files: files.to_vec(),
                        });
                    };
                    plain::run_plain(
                        board,
                        &script,
                        soft_reset,
                        timeout,
                        &mut on_output,
                        &mut on_copied,
                        &cancel,
                    )
                });
                self.finish(job_id, JobOutcome::PlainRun(result));
            }
            Job::ReplOpen { job_id } => {
                let result = if self.repl == Repl::Attached {
                    Ok(())
                } else {
                    self.attach_repl()
                };
                self.finish(job_id, JobOutcome::Repl(result));
            }
            Job::ReplInput(keys) => {
                if self.repl != Repl::Attached {
                    return;
                }
                let result = match self.board.as_mut() {
                    Some(board) => board.repl_write(&keys),
                    None => return,
                };
                if let Err(e) = result {
                    self.repl_lost(e.into());
                }
            }
            Job::ReplClose => {
                if self.repl != Repl::Closed {
                    self.repl = Repl::Closed;
                    self.repl_event(ReplState::Closed, None, None);
                }
            }
            Job::Capture { job_id, gc } => {
                let result = self.with_board(|board, _| runner::capture(board, gc));
                self.finish(job_id, JobOutcome::Capture(result.map(Box::new)));
            }
            Job::SoftReset { job_id } => {
                let result = self.with_board(|board, _| board.soft_reset().map_err(RunError::from));
                self.finish(job_id, JobOutcome::SoftReset(result));
            }
            Job::SetBoard { job_id, spec, sim } => {
                if let Some(board) = self.board.take() {
                    board.close();
                }
                self.spec = spec;
                self.sim = sim;
                let result = self.with_board(|_, _| Ok(()));
                self.finish(job_id, JobOutcome::SetBoard(result));
            }
        }
    }

    fn report(&self, report: BoardReport) {
        let _ = self.events.send(WorkerEvent::Board(report));
    }

    /// Runs `f` on an open board, opening (or reopening after a disconnect) it first. A link
    /// failure closes the board so that the next job reopens it, and is reported as status.
    fn with_board<T>(
        &mut self,
        f: impl FnOnce(&mut Board, &mpsc::UnboundedSender<WorkerEvent>) -> Result<T, RunError>,
    ) -> Result<T, RunError> {
        if self.board.is_none() {
            tracing::debug!(spec = %self.spec, "opening the board");
            match Board::open(&self.spec, &self.sim, &self.link) {
                Ok(board) => {
                    self.report(connected(board.info()));
                    self.board = Some(board);
                }
                Err(e) => {
                    let e = RunError::from(e);
                    tracing::warn!(error = %e, "cannot open the board");
                    self.report(disconnected(&e, format!("cannot open the board: {e}")));
                    return Err(e);
                }
            }
        }
        let Some(board) = self.board.as_mut() else {
            return Err(RunError::Link(crate::board::LinkError::Simulator(
                "the board closed while opening".into(),
            )));
        };
        let result = f(board, &self.events);
        if let Err(e) = &result {
            if e.is_disconnect() {
                // Drop the dead link: the next job reopens the board (respawning the
                // simulated one), so one unplug does not need a server restart.
                if let Some(board) = self.board.take() {
                    board.close();
                }
                self.report(disconnected(e, e.to_string()));
            }
        }
        result
    }
}

/// A simulated Pico that is not sandboxed here runs nothing the user has not allowed.
/// Checked where the board is open, so that no run slips through before its status reached
/// the client.
fn refuse_unsandboxed(board: &Board, allowed: bool) -> Result<(), RunError> {
    match &board.info().sandbox {
        Some(SandboxStatus::NotSandboxed { reason }) if !allowed => {
            Err(RunError::Link(LinkError::NotSandboxed {
                reason: reason.clone(),
            }))
        }
        _ => Ok(()),
    }
}

fn connected(info: &BoardInfo) -> BoardReport {
    BoardReport {
        connected: true,
        simulated: matches!(info.kind, BoardKind::Simulated),
        port: Some(info.port.clone()),
        firmware: info.firmware.clone(),
        reason: None,
        message: None,
        sandbox: info.sandbox.as_ref().map(|s| {
            if s.is_sandboxed() {
                SandboxState::Sandboxed
            } else {
                SandboxState::NotSandboxed
            }
        }),
    }
}

fn disconnected(error: &RunError, message: String) -> BoardReport {
    BoardReport {
        connected: false,
        simulated: false,
        port: None,
        firmware: None,
        reason: Some(error_code(error)),
        message: Some(message),
        sandbox: None,
    }
}
