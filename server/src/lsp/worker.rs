//! The board worker: one OS thread that owns the [`Board`] and does every piece of board work
//! (runs, captures, resets) in order. The LSP side only queues jobs; everything a job produces
//! (phases, output, snapshots, and at the end its outcome) comes back as [`WorkerEvent`]s on
//! one channel, in order, so a run's `jobFinished` can never overtake its own output. Stop
//! does not queue: it trips the running job's [`CancelToken`], which makes the link send Ctrl-C.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread;

use tokio::sync::mpsc;

use crate::board::{Board, BoardInfo, BoardKind, BoardSpec, CancelToken, LinkOptions, SimOptions};
use crate::heap::Snapshot;
use crate::run::runner::{
    self, AllocationLine, Phase, RunError, RunEvent, RunOptions, RunReport, Script,
};

use super::state::BoardReport;
use super::to_proto::error_code;

/// Something that happened while a job ran, forwarded to the client as it happens.
#[derive(Debug)]
pub(super) enum WorkerEvent {
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
    Board(BoardReport),
    /// A job ended; always the last event of its job.
    Finished {
        job_id: u64,
        outcome: JobOutcome,
    },
}

/// How a job ended.
#[derive(Debug)]
pub(super) enum JobOutcome {
    Run(Result<Box<RunReport>, RunError>),
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
    },
    Capture {
        job_id: u64,
        gc: bool,
    },
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
        match self {
            Job::Connect => None,
            Job::Run { job_id, .. }
            | Job::Capture { job_id, .. }
            | Job::SoftReset { job_id }
            | Job::SetBoard { job_id, .. } => Some(*job_id),
        }
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
                };
                for job in rx {
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

struct Worker {
    spec: BoardSpec,
    sim: SimOptions,
    board: Option<Board>,
    events: mpsc::UnboundedSender<WorkerEvent>,
    link: LinkOptions,
}

impl Worker {
    fn finish(&self, job_id: u64, outcome: JobOutcome) {
        let _ = self.events.send(WorkerEvent::Finished { job_id, outcome });
    }

    fn handle(&mut self, job: Job) {
        match job {
            Job::Connect => {
                let _ = self.with_board(|_, _| Ok(()));
            }
            Job::Run {
                job_id,
                script,
                options,
                cancel,
            } => {
                tracing::info!(job_id, "run started");
                let result = self.with_board(|board, events| {
                    let mut on_event = |event: RunEvent<'_>| {
                        let event = match event {
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
                    runner::run_script(board, &script, &options, &mut on_event, &cancel)
                });
                tracing::info!(job_id, ok = result.is_ok(), "run ended");
                self.finish(job_id, JobOutcome::Run(result.map(Box::new)));
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

fn connected(info: &BoardInfo) -> BoardReport {
    BoardReport {
        connected: true,
        simulated: matches!(info.kind, BoardKind::Simulated),
        port: Some(info.port.clone()),
        firmware: info.firmware.clone(),
        reason: None,
        message: None,
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
    }
}
