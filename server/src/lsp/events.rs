//! Forwards the board worker's events to the client, in the order they happened: output,
//! progress phases, snapshots, board status, and at the end of each job its outcome (a run's
//! diagnostics and decorations, then `heaplens/jobFinished`). One task handles them all, so a
//! job's `jobFinished` never overtakes its own output or snapshots.

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;
use tower_lsp_server::ls_types::*;

use crate::run::runner::{RunError, RunReport};

use super::ext::{
    self, ErrorCode, JobError, JobFinishedParams, JobKind, JobStartedParams, OutputParams,
    OutputStream, ReplState, ReplStateParams, ReplTextParams, RunSummary, SnapshotLabel,
};
use super::features::{self, FileRun};
use super::server::{guard_notification, Backend};
use super::snapshots::RunEnding;
use super::state::{LastFree, RunProject};
use super::to_proto;
use super::worker::{JobOutcome, WorkerEvent};

/// Handles worker events until the worker ends.
pub(super) async fn forward(backend: Backend, mut events: UnboundedReceiver<WorkerEvent>) {
    while let Some(event) = events.recv().await {
        // A bug in handling one event must not stop the ones after it.
        guard_notification(&backend, "a board event", handle(&backend, event)).await;
    }
}

async fn handle(backend: &Backend, event: WorkerEvent) {
    let client = &backend.client;
    match event {
        WorkerEvent::Started { job_id, kind } => {
            let uri = backend
                .state()
                .run_uris
                .get(&job_id)
                .map(|u| u.as_str().to_string());
            client
                .send_notification::<ext::JobStartedNotification>(JobStartedParams {
                    job_id,
                    kind,
                    uri,
                })
                .await;
        }
        WorkerEvent::Repl {
            state,
            job_id,
            message,
        } => {
            let message = message.or_else(|| {
                (state == ReplState::Released).then(|| {
                    let file = job_id.and_then(|id| {
                        backend
                            .state()
                            .run_uris
                            .get(&id)
                            .map(|u| file_name(u.as_str()))
                    });
                    match file {
                        Some(file) => format!(
                            "HeapLens is running {file} on the board; the REPL comes back when it ends"
                        ),
                        None => "HeapLens is using the board; the REPL comes back when it is done"
                            .to_string(),
                    }
                })
            });
            if state == ReplState::Closed {
                backend.state().repl_open = false;
            }
            client
                .send_notification::<ext::ReplStateNotification>(ReplStateParams { state, message })
                .await;
        }
        WorkerEvent::ReplOutput(bytes) => {
            client
                .send_notification::<ext::ReplOutputNotification>(ReplTextParams {
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                })
                .await;
        }
        WorkerEvent::Output { job_id, bytes } => {
            client
                .send_notification::<ext::OutputNotification>(OutputParams {
                    run_id: Some(job_id),
                    stream: OutputStream::Stdout,
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                })
                .await;
        }
        WorkerEvent::Copied { job_id, files } => {
            client
                .send_notification::<ext::OutputNotification>(OutputParams {
                    run_id: Some(job_id),
                    stream: OutputStream::Copied,
                    text: format!("HeapLens copied to the board: {}\n", files.join(", ")),
                })
                .await;
        }
        WorkerEvent::Phase { job_id, phase } => {
            if let Some(progress) = backend.state().progress.get(&job_id) {
                let _ = progress.send(phase.label());
            }
        }
        WorkerEvent::Snapshot {
            job_id,
            label,
            snapshot,
            allocation_lines,
        } => {
            let label = SnapshotLabel::of_run(label);
            let params = {
                let mut st = backend.state();
                let file = st.run_uris.get(&job_id).map(|u| u.as_str().to_string());
                let project = st.run_projects.get(&job_id).cloned();
                if label == SnapshotLabel::AfterGc {
                    st.last_free = last_free(&snapshot, label);
                }
                // A line of another file than the script's carries that file's document.
                let uri_of = |line_file: &str| {
                    let project = project.as_ref()?;
                    (line_file != project.script_file)
                        .then(|| project.uri_of(line_file))
                        .flatten()
                        .map(|uri| uri.as_str().to_string())
                };
                st.snapshots.add_run_snapshot(
                    label,
                    file.as_deref(),
                    job_id,
                    *snapshot,
                    &allocation_lines,
                    &uri_of,
                )
            };
            client
                .send_notification::<ext::SnapshotNotification>(params)
                .await;
        }
        WorkerEvent::Timeline {
            job_id,
            interval_ms,
            samples,
        } => {
            let uri = backend
                .state()
                .run_uris
                .get(&job_id)
                .map(|u| u.as_str().to_string())
                .unwrap_or_default();
            client
                .send_notification::<ext::TimelineNotification>(ext::TimelineParams {
                    run_id: job_id,
                    uri,
                    interval_ms,
                    samples: samples.iter().map(to_proto::timeline_sample).collect(),
                })
                .await;
        }
        WorkerEvent::Board(report) => {
            let params = {
                let mut st = backend.state();
                st.board = Some(report);
                st.board_status()
            };
            client
                .send_notification::<ext::BoardStatusNotification>(params)
                .await;
        }
        WorkerEvent::Finished { job_id, outcome } => finished(backend, job_id, outcome).await,
    }
}

/// The last segment of a URI's path (`parrot.py`), for messages.
fn file_name(uri: &str) -> String {
    uri.rsplit('/').next().unwrap_or(uri).to_string()
}

/// Sends a finished run's traceback to the output, after everything the script printed.
async fn send_traceback(backend: &Backend, job_id: u64, traceback: Option<&str>) {
    let Some(text) = traceback.filter(|t| !t.trim().is_empty()) else {
        return;
    };
    backend
        .client
        .send_notification::<ext::OutputNotification>(OutputParams {
            run_id: Some(job_id),
            stream: OutputStream::Traceback,
            text: text.to_string(),
        })
        .await;
}

/// The free figures of a live snapshot (None when a capture damaged on the wire lacks them).
fn last_free(snapshot: &crate::heap::Snapshot, label: SnapshotLabel) -> Option<LastFree> {
    let figures = snapshot.figures();
    Some(LastFree {
        free: figures.free?,
        max_free: figures.max_free_bytes?,
        label,
    })
}

/// A job ended: publish what it produced, then `heaplens/jobFinished`.
async fn finished(backend: &Backend, job_id: u64, outcome: JobOutcome) {
    let (uri, project, newer_run_of_same_file, progress) = {
        let mut st = backend.state();
        let uri = st.run_uris.remove(&job_id);
        let project = st.run_projects.remove(&job_id);
        if st.current.as_ref().is_some_and(|c| c.run_id == job_id) {
            st.current = None;
        }
        let newer = match (&uri, &st.current) {
            (Some(uri), Some(current)) => current.uri == *uri,
            _ => false,
        };
        (uri, project, newer, st.progress.remove(&job_id))
    };
    // Dropping the progress's sender ends it.
    drop(progress);
    let mut params = JobFinishedParams {
        job_id,
        kind: JobKind::Run,
        uri: uri.as_ref().map(|u| u.as_str().to_string()),
        error: None,
        run: None,
        snapshot_id: None,
    };
    let failure = |error: &RunError| Some(to_proto::job_error(error));
    match outcome {
        JobOutcome::Run(result) => match (result, uri) {
            (Ok(report), Some(uri)) => {
                params.run = Some(to_proto::run_summary(&report));
                let ending = if report.interrupted {
                    RunEnding::Stop
                } else if report.exception.is_some() {
                    RunEnding::Failure
                } else {
                    RunEnding::End
                };
                backend.state().snapshots.name_run_ending(job_id, ending);
                send_traceback(backend, job_id, report.traceback.as_deref()).await;
                if newer_run_of_same_file {
                    params.error = Some(JobError {
                        code: ErrorCode::Superseded,
                        message: "a newer run of the same file replaced this one".into(),
                    });
                } else {
                    publish_run(backend, &uri, project.as_ref(), job_id, *report).await;
                }
            }
            // The board could not run it: nothing is wrong with the document, so nothing is
            // marked in it; the message (and the status bar) say what to do.
            (Err(error), Some(_)) => {
                params.error = failure(&error);
                if !newer_run_of_same_file {
                    show_job_error(backend, format!("HeapLens: the run failed: {error}")).await;
                }
            }
            (_, None) => {}
        },
        JobOutcome::PlainRun(result) => {
            params.kind = JobKind::PlainRun;
            match result {
                Ok(report) => {
                    send_traceback(backend, job_id, report.traceback.as_deref()).await;
                    params.run = Some(RunSummary {
                        exception: report.exception,
                        system_exit: None,
                        diagnostics: 0,
                        gc_collections: None,
                        interrupted: report.interrupted,
                        timed_out: report.timed_out,
                        instrumented: false,
                        not_instrumented: Some("a plain run: no probes".into()),
                        elapsed_ms: u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
                        copied: report.copied,
                        files: Vec::new(),
                    });
                }
                Err(error) => {
                    params.error = failure(&error);
                    show_job_error(backend, format!("HeapLens: the run failed: {error}")).await;
                }
            }
        }
        JobOutcome::Repl(result) => {
            params.kind = JobKind::Repl;
            // The terminal shows why (heaplens/replState carries the reason).
            params.error = result.err().as_ref().and_then(failure);
        }
        JobOutcome::Capture(result) => {
            params.kind = JobKind::Capture;
            match result {
                Ok(snapshot) => {
                    let snapshot_params = {
                        let mut st = backend.state();
                        st.last_free = last_free(&snapshot, SnapshotLabel::Capture);
                        st.snapshots.add_capture(*snapshot)
                    };
                    params.snapshot_id = Some(snapshot_params.id.clone());
                    backend
                        .client
                        .send_notification::<ext::SnapshotNotification>(snapshot_params)
                        .await;
                }
                Err(error) => {
                    params.error = failure(&error);
                    show_job_error(backend, format!("HeapLens: the capture failed: {error}")).await;
                }
            }
        }
        JobOutcome::SoftReset(result) => {
            params.kind = JobKind::SoftReset;
            if let Err(error) = result {
                params.error = failure(&error);
                show_job_error(backend, format!("HeapLens: the soft reset failed: {error}")).await;
            }
        }
        JobOutcome::SetBoard(result) => {
            params.kind = JobKind::SelectBoard;
            if let Err(error) = result {
                params.error = failure(&error);
            }
        }
        JobOutcome::Panicked(message) => {
            params.error = Some(JobError {
                code: ErrorCode::Internal,
                message: format!("HeapLens bug: {message}"),
            });
            show_error(backend, format!("HeapLens bug in a board job: {message}")).await;
        }
    }
    let status = backend.state().board_status();
    backend
        .client
        .send_notification::<ext::BoardStatusNotification>(status)
        .await;
    backend
        .client
        .send_notification::<ext::JobFinishedNotification>(params)
        .await;
}

/// Says why a board job failed, unless the client shows job errors itself.
async fn show_job_error(backend: &Backend, message: String) {
    if backend.state().client_shows_job_errors {
        return;
    }
    show_error(backend, message).await;
}

async fn show_error(backend: &Backend, message: String) {
    backend
        .client
        .show_message(MessageType::ERROR, message)
        .await;
}

/// Stores a finished run, then sends diagnostics, decorations and refreshes: for the script
/// and for every project file the run measured or diagnosed (an imported module gets its
/// own), and empty ones for files its previous run reached and this one does not.
async fn publish_run(
    backend: &Backend,
    uri: &Uri,
    project: Option<&RunProject>,
    run_id: u64,
    report: RunReport,
) {
    let uri_of = |file: &str| -> Option<Uri> {
        if file == report.script_file {
            return Some(uri.clone());
        }
        project.and_then(|p| p.uri_of(file))
    };
    let files: Vec<(Uri, Arc<FileRun>)> = features::run_files(&report)
        .iter()
        .filter_map(|file| {
            let file_uri = uri_of(file)?;
            Some((
                file_uri,
                Arc::new(FileRun::of_report(&report, run_id, file)),
            ))
        })
        .collect();
    let (hint_bytes, inlay_refresh, lens_refresh, hint, gone) = {
        let mut st = backend.state();
        for (file_uri, file_run) in &files {
            let runs = st.runs.entry(file_uri.clone()).or_default();
            runs.previous = runs.last.take();
            runs.last = Some(file_run.clone());
        }
        let reached: Vec<Uri> = files.iter().map(|(u, _)| u.clone()).collect();
        let before = st
            .published
            .insert(uri.clone(), reached.clone())
            .unwrap_or_default();
        let gone: Vec<Uri> = before
            .into_iter()
            .filter(|u| !reached.contains(u))
            .collect();
        for file_uri in &gone {
            // Only what this script's run put there is taken away.
            if let Some(runs) = st.runs.get_mut(file_uri) {
                if runs.last.as_ref().is_some_and(|r| r.script.is_some()) {
                    runs.previous = runs.last.take();
                }
            }
        }
        let hint = features::sampling_hint(
            report.elapsed,
            report.instrumented,
            report.sample.is_some(),
            report.interrupted,
        )
        .filter(|_| !std::mem::replace(&mut st.sampling_hint_shown, true));
        (
            st.settings.thresholds.hint_bytes,
            st.inlay_refresh,
            st.lens_refresh,
            hint,
            gone,
        )
    };
    let client = &backend.client;
    for (file_uri, file_run) in &files {
        let diagnostics = file_run
            .diagnostics
            .iter()
            .map(|d| to_proto::diagnostic(d, &uri_of))
            .collect();
        client
            .publish_diagnostics(file_uri.clone(), diagnostics, None)
            .await;
        client
            .send_notification::<ext::DecorationsNotification>(ext::DecorationsParams {
                uri: file_uri.as_str().to_string(),
                lines: features::decorations(file_run, hint_bytes),
            })
            .await;
    }
    for file_uri in gone {
        client
            .publish_diagnostics(file_uri.clone(), Vec::new(), None)
            .await;
        client
            .send_notification::<ext::DecorationsNotification>(ext::DecorationsParams {
                uri: file_uri.as_str().to_string(),
                lines: Vec::new(),
            })
            .await;
    }
    // Refresh requests wait for the client's answer: never hold the event queue on them.
    if inlay_refresh || lens_refresh {
        let client = client.clone();
        tokio::spawn(async move {
            if inlay_refresh {
                let _ = client.inlay_hint_refresh().await;
            }
            if lens_refresh {
                let _ = client.code_lens_refresh().await;
            }
        });
    }
    if let Some(hint) = hint {
        client.show_message(MessageType::INFO, hint).await;
    }
    // A script that does not parse already has its SyntaxError diagnostic; any other reason
    // for missing per-line figures is worth saying once per run.
    if let Some(why) = features::not_instrumented_message(
        report.not_instrumented.as_deref(),
        report.exception.as_deref(),
    ) {
        client.show_message(MessageType::INFO, why).await;
    }
}
