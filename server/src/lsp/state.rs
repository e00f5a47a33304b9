//! The server's state: open documents, finished runs, snapshots, the board as last reported,
//! the run in progress, settings. Behind one mutex (see [`super::server::Backend::state`]),
//! never held across an `.await`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tower_lsp_server::ls_types::Uri;

use crate::board::CancelToken;

use super::ext::{BoardState, BoardStatusParams, ErrorCode, SandboxState, SnapshotLabel};
use super::features::FileRun;
use super::settings::Settings;
use super::snapshots::SnapshotStore;

/// A document the client has open.
pub(super) struct Document {
    pub text: String,
    pub language_id: String,
    pub version: i32,
    /// For heap dump documents: the dump read once per version (hovers and symbols reuse it).
    pub dump: Option<Arc<DumpDocument>>,
}

/// A heap dump document, read.
pub(super) struct DumpDocument {
    pub version: i32,
    pub parsed: super::mpheap::Read,
}

/// The last and previous run of one file (for hover comparisons).
#[derive(Default)]
pub(super) struct FileRuns {
    pub last: Option<Arc<FileRun>>,
    pub previous: Option<Arc<FileRun>>,
}

/// The newest run started, so that Stop, a newer save or the timeout can cancel it.
pub(super) struct CurrentRun {
    pub run_id: u64,
    pub uri: Uri,
    pub cancel: CancelToken,
}

/// Where a queued or running run's files are: its project root, and the script's path there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RunProject {
    pub root: PathBuf,
    pub script_file: String,
}

impl RunProject {
    /// The document of the project file `file`.
    pub fn uri_of(&self, file: &str) -> Option<Uri> {
        Uri::from_file_path(self.root.join(file))
    }
}

/// The board as the worker last reported it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct BoardReport {
    pub connected: bool,
    pub simulated: bool,
    pub port: Option<String>,
    pub firmware: Option<String>,
    pub reason: Option<ErrorCode>,
    pub message: Option<String>,
    pub sandbox: Option<SandboxState>,
}

/// The free-heap figures the status bar shows, and the snapshot they come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LastFree {
    pub free: u64,
    pub max_free: u64,
    pub label: SnapshotLabel,
}

#[derive(Default)]
pub(super) struct State {
    pub settings: Settings,
    /// False when the client said the workspace is not trusted: no code runs then.
    pub untrusted: bool,
    /// The user allowed runs on a simulated Pico that is not sandboxed here.
    pub unsandboxed_allowed: bool,
    pub documents: HashMap<Uri, Document>,
    /// Per file, the last runs that measured it: a script's own runs, and runs of other
    /// scripts that imported it.
    pub runs: HashMap<Uri, FileRuns>,
    /// The workspace folders (project roots), from `initialize` and later changes.
    pub workspace_folders: Vec<PathBuf>,
    /// For each script, the files its last run published diagnostics and decorations to
    /// (cleared when a later run of it no longer reaches them).
    pub published: HashMap<Uri, Vec<Uri>>,
    pub snapshots: SnapshotStore,
    pub board: Option<BoardReport>,
    pub current: Option<CurrentRun>,
    /// The document of each queued or running run.
    pub run_uris: HashMap<u64, Uri>,
    /// The project of each queued or running run (none for a document not on disk).
    pub run_projects: HashMap<u64, RunProject>,
    /// Every board job gets the next id (runs included: a run's id is its job id).
    pub next_job_id: u64,
    pub last_free: Option<LastFree>,
    /// The client can be asked to re-request inlay hints / code lenses after a run.
    pub inlay_refresh: bool,
    pub lens_refresh: bool,
    /// The client shows failed board jobs itself (`clientShowsJobErrors`).
    pub client_shows_job_errors: bool,
    /// The REPL terminal is open (its keys go to the worker).
    pub repl_open: bool,
    /// The suggestion to sample slow runs was shown (once per session is enough).
    pub sampling_hint_shown: bool,
    /// Progress indicators of queued and running runs: their phases go here; dropping the
    /// sender ends the progress.
    pub progress: HashMap<u64, tokio::sync::mpsc::UnboundedSender<&'static str>>,
}

impl State {
    /// A fresh job id.
    pub fn new_job_id(&mut self) -> u64 {
        self.next_job_id += 1;
        self.next_job_id
    }

    /// The `heaplens/boardStatus` payload for the current state.
    pub fn board_status(&self) -> BoardStatusParams {
        let busy = self.current.is_some();
        let (free_bytes, max_free_bytes, free_snapshot) = match self.last_free {
            Some(f) => (Some(f.free), Some(f.max_free), Some(f.label)),
            None => (None, None, None),
        };
        match &self.board {
            Some(b) if b.connected => BoardStatusParams {
                state: if busy {
                    BoardState::Busy
                } else if b.simulated {
                    BoardState::Simulated
                } else {
                    BoardState::Connected
                },
                port: b.port.clone(),
                firmware: b.firmware.clone(),
                free_bytes,
                max_free_bytes,
                free_snapshot,
                reason: None,
                message: b.message.clone(),
                sandbox: b.sandbox,
            },
            Some(b) => BoardStatusParams {
                state: BoardState::Disconnected,
                port: b.port.clone(),
                firmware: None,
                free_bytes: None,
                max_free_bytes: None,
                free_snapshot: None,
                reason: b.reason,
                message: b.message.clone(),
                sandbox: None,
            },
            None => BoardStatusParams {
                state: BoardState::Disconnected,
                port: None,
                firmware: None,
                free_bytes,
                max_free_bytes,
                free_snapshot,
                reason: Some(ErrorCode::NotConnected),
                message: Some("not connected yet".into()),
                sandbox: None,
            },
        }
    }
}
