//! Board jobs: `heaplens/jobStarted`, `heaplens/jobFinished` (with a run's summary) and
//! the `JobStarted` result of every command that starts one.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::notification::Notification;

use super::*;

/// What kind of board job a `heaplens/jobFinished` reports.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum JobKind {
    Run,
    /// A run without probes or snapshots (`heaplens.runPlain`), as `mpremote run` runs it.
    PlainRun,
    Capture,
    SoftReset,
    SelectBoard,
    /// The REPL terminal attached to the board (`heaplens.openRepl`).
    Repl,
}

/// `heaplens/jobStarted` params: the board began a job that was queued until now.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobStartedParams {
    pub job_id: u64,
    pub kind: JobKind,
    /// The document a run runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

/// Server → client: a board job began (its output, snapshots and `heaplens/jobFinished`
/// follow).
pub enum JobStartedNotification {}
impl Notification for JobStartedNotification {
    type Params = JobStartedParams;
    const METHOD: &'static str = "heaplens/jobStarted";
}

/// A job that failed: a code to switch on and a message for people.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobError {
    pub code: ErrorCode,
    pub message: String,
}

/// The outcome of a finished run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// The final exception line (`MemoryError: …`), null when the script ended normally.
    pub exception: Option<String>,
    /// The code of a `SystemExit` the script raised (null: it did not).
    #[serde(default)]
    pub system_exit: Option<i64>,
    pub diagnostics: usize,
    pub gc_collections: Option<u32>,
    /// Stopped by Stop, a newer run or the timeout.
    pub interrupted: bool,
    pub timed_out: bool,
    /// False when the script ran without probes (`notInstrumented` says why).
    pub instrumented: bool,
    pub not_instrumented: Option<String>,
    pub elapsed_ms: u64,
    /// Project files copied to the board before the run (paths relative to the project
    /// root).
    #[serde(default)]
    pub copied: Vec<String>,
    /// The files the run measured (relative to the project root): the script's first.
    #[serde(default)]
    pub files: Vec<String>,
}

/// `heaplens/jobFinished` params: a board job started by a command has ended. Sent after
/// everything the job produced (a run's output, snapshots, diagnostics and decorations).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobFinishedParams {
    pub job_id: u64,
    pub kind: JobKind,
    /// The document a run ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Null when the job succeeded.
    pub error: Option<JobError>,
    /// A finished run's outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunSummary>,
    /// A capture's snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<String>,
}

/// Server → client: a board job ended.
pub enum JobFinishedNotification {}
impl Notification for JobFinishedNotification {
    type Params = JobFinishedParams;
    const METHOD: &'static str = "heaplens/jobFinished";
}

/// The result of every command that starts a board job: the job's id, which
/// `heaplens/jobFinished` (and, for a run, its snapshots and output) will carry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobStarted {
    pub job_id: u64,
}
