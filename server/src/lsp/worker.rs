//! The board worker: one OS thread that owns the [`Board`] and does every piece of board work
//! (runs, captures, resets) in order. The LSP loop only sends it jobs and awaits replies, so no
//! request ever waits on a serial read. Stop does not queue: it trips the running job's
//! [`CancelToken`], which makes the link send Ctrl-C.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread;

use tokio::sync::{mpsc, oneshot};

use crate::board::{Board, BoardInfo, BoardKind, BoardSpec, CancelToken, LinkOptions};
use crate::heap::Snapshot;
use crate::run::runner::{self, AllocationLine, Phase, RunError, RunEvent, RunOptions, RunReport};

/// Something that happened while a job ran, forwarded to the client as it happens.
#[derive(Debug)]
pub enum WorkerEvent {
    Phase {
        run_id: Option<u64>,
        phase: Phase,
    },
    Output {
        run_id: Option<u64>,
        bytes: Vec<u8>,
    },
    Snapshot {
        run_id: u64,
        label: &'static str,
        snapshot: Box<Snapshot>,
        /// The line (1-based) of each new allocation, for a traced run's `after` snapshot.
        allocation_lines: Vec<AllocationLine>,
    },
    Board(BoardReport),
}

/// The board as the status bar shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardReport {
    pub connected: bool,
    pub simulated: bool,
    pub port: Option<String>,
    pub firmware: Option<String>,
    pub message: Option<String>,
}

impl BoardReport {
    fn from_info(info: &BoardInfo) -> BoardReport {
        BoardReport {
            connected: true,
            simulated: matches!(info.kind, BoardKind::Simulated),
            port: Some(info.port.clone()),
            firmware: info.firmware.clone(),
            message: None,
        }
    }

    fn disconnected(message: String) -> BoardReport {
        BoardReport {
            connected: false,
            simulated: false,
            port: None,
            firmware: None,
            message: Some(message),
        }
    }
}

/// One listed board for `heaplens.selectBoard`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BoardChoice {
    pub label: String,
    pub board: String,
    pub description: String,
}

type Reply<T> = oneshot::Sender<Result<T, String>>;

/// Work for the board thread.
pub enum Job {
    /// Open the board now (if it is not open), so its status is known before the first run.
    Connect {
        reply: Reply<()>,
    },
    Run {
        run_id: u64,
        source: String,
        options: RunOptions,
        cancel: CancelToken,
        reply: Reply<RunReport>,
    },
    Capture {
        gc: bool,
        reply: Reply<Snapshot>,
    },
    SoftReset {
        reply: Reply<()>,
    },
    SetBoard {
        spec: BoardSpec,
        sim_heap: usize,
        reply: Reply<()>,
    },
}

/// The LSP side's handle on the worker thread.
#[derive(Clone)]
pub struct WorkerHandle {
    jobs: crossbeam_channel::Sender<Job>,
}

impl WorkerHandle {
    /// Starts the worker thread. Events go to `events` as they happen.
    pub fn spawn(
        spec: BoardSpec,
        sim_heap: usize,
        events: mpsc::UnboundedSender<WorkerEvent>,
    ) -> WorkerHandle {
        let (jobs, rx) = crossbeam_channel::unbounded::<Job>();
        thread::Builder::new()
            .name("heaplens-board".into())
            .spawn(move || {
                let mut worker = Worker {
                    spec,
                    sim_heap,
                    board: None,
                    events,
                    link: LinkOptions::default(),
                };
                for job in rx {
                    // A bug in one job must not take the board thread (and with it every later
                    // run) down: the panic becomes that job's error.
                    let _ = catch_unwind(AssertUnwindSafe(|| worker.handle(job)));
                }
                if let Some(board) = worker.board.take() {
                    board.close();
                }
            })
            .expect("spawning the board thread");
        WorkerHandle { jobs }
    }

    /// Queues a job; the reply arrives on the job's channel.
    pub fn send(&self, job: Job) -> Result<(), String> {
        self.jobs
            .send(job)
            .map_err(|_| "the board worker has stopped".to_string())
    }

    /// Sends a job built around a fresh reply channel and awaits the reply.
    pub async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Job) -> Result<T, String> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx))?;
        rx.await
            .map_err(|_| "the board worker dropped the job (it panicked)".to_string())?
    }
}

struct Worker {
    spec: BoardSpec,
    /// Heap of the simulated board when `spec` is (or `Auto` falls back to) the simulator.
    sim_heap: usize,
    board: Option<Board>,
    events: mpsc::UnboundedSender<WorkerEvent>,
    link: LinkOptions,
}

impl Worker {
    fn handle(&mut self, job: Job) {
        match job {
            Job::Run {
                run_id,
                source,
                options,
                cancel,
                reply,
            } => {
                let result = self.with_board(|board, events| {
                    let mut on_event = |event: RunEvent<'_>| match event {
                        RunEvent::Phase(phase) => {
                            let _ = events.send(WorkerEvent::Phase {
                                run_id: Some(run_id),
                                phase,
                            });
                        }
                        RunEvent::Output(bytes) => {
                            let _ = events.send(WorkerEvent::Output {
                                run_id: Some(run_id),
                                bytes: bytes.to_vec(),
                            });
                        }
                        RunEvent::Snapshot {
                            label,
                            snapshot,
                            allocation_lines,
                        } => {
                            let _ = events.send(WorkerEvent::Snapshot {
                                run_id,
                                label,
                                snapshot: Box::new(snapshot.clone()),
                                allocation_lines: allocation_lines.to_vec(),
                            });
                        }
                    };
                    runner::run_script(board, &source, &options, &mut on_event, &cancel)
                });
                let _ = reply.send(result);
            }
            Job::Capture { gc, reply } => {
                let result = self.with_board(|board, _| runner::capture(board, gc));
                let _ = reply.send(result);
            }
            Job::SoftReset { reply } => {
                let result = self.with_board(|board, _| board.soft_reset().map_err(RunError::from));
                let _ = reply.send(result);
            }
            Job::Connect { reply } => {
                let result = self.with_board(|_, _| Ok(()));
                let _ = reply.send(result);
            }
            Job::SetBoard {
                spec,
                sim_heap,
                reply,
            } => {
                if let Some(board) = self.board.take() {
                    board.close();
                }
                self.spec = spec;
                self.sim_heap = sim_heap;
                let result = self.with_board(|_, _| Ok(()));
                let _ = reply.send(result);
            }
        }
    }

    /// Runs `f` on an open board, opening (or reopening after a disconnect) it first. A link
    /// failure closes the board so that the next job reopens it, and is reported as status.
    fn with_board<T>(
        &mut self,
        f: impl FnOnce(&mut Board, &mpsc::UnboundedSender<WorkerEvent>) -> Result<T, RunError>,
    ) -> Result<T, String> {
        if self.board.is_none() {
            match Board::open(&self.spec.clone().resolve_auto(self.sim_heap), &self.link) {
                Ok(board) => {
                    let _ = self
                        .events
                        .send(WorkerEvent::Board(BoardReport::from_info(board.info())));
                    self.board = Some(board);
                }
                Err(e) => {
                    let message = format!("cannot open the board: {e}");
                    let _ = self
                        .events
                        .send(WorkerEvent::Board(BoardReport::disconnected(
                            message.clone(),
                        )));
                    return Err(message);
                }
            }
        }
        let board = self.board.as_mut().expect("opened above");
        match f(board, &self.events) {
            Ok(value) => Ok(value),
            Err(e) => {
                let message = e.to_string();
                if e.is_disconnect() {
                    // Drop the dead link: the next job reopens the board (respawning the
                    // simulated one), so one unplug does not need a server restart.
                    if let Some(board) = self.board.take() {
                        board.close();
                    }
                    let _ = self
                        .events
                        .send(WorkerEvent::Board(BoardReport::disconnected(
                            message.clone(),
                        )));
                }
                Err(message)
            }
        }
    }
}

/// Detected serial ports, MicroPython boards first, then the simulated Pico.
pub fn list_boards() -> Vec<BoardChoice> {
    let mut out: Vec<BoardChoice> = crate::board::discovery::list_ports()
        .into_iter()
        .map(|p| {
            let ids = match (p.vid, p.pid) {
                (Some(v), Some(pid)) => format!("{v:04X}:{pid:04X}"),
                _ => "no USB id".to_string(),
            };
            let who = [p.manufacturer.as_deref(), p.product.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            BoardChoice {
                label: p.port_name.clone(),
                board: p.port_name.clone(),
                description: format!("{ids} {who}").trim().to_string(),
            }
        })
        .collect();
    out.push(BoardChoice {
        label: "Simulated Pico".into(),
        board: "simulated".into(),
        description: "MicroPython unix port with a Pico-sized heap, run locally".into(),
    });
    out
}

/// A board spec from the settings' spelling.
pub fn spec_from_setting(board: &str, heap_bytes: usize) -> Result<BoardSpec, String> {
    Ok(BoardSpec::parse(board).with_sim_heap(heap_bytes))
}
