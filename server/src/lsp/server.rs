//! The `LanguageServer` implementation: one small handler per LSP method, all state behind a
//! mutex that is never held across an `.await`, and all board work on the worker thread.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Error as RpcError, Result as RpcResult};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer};

use crate::board::CancelToken;
use crate::diagnose::{Diagnostic as HlDiagnostic, Severity};
use crate::run::runner::{Phase, RunOptions, RunReport};

use super::config::Settings;
use super::ext::{self, BoardState, BoardStatusParams, OutputParams};
use super::features::{self, FileRun};
use super::mpheap;
use super::snapshots::SnapshotStore;
use super::worker::{list_boards, spec_from_setting, BoardReport, Job, WorkerEvent, WorkerHandle};

/// A document the client has open.
struct Document {
    text: String,
    language_id: String,
}

/// The last and previous run of one file (for hover comparisons).
#[derive(Default)]
struct FileRuns {
    last: Option<Arc<FileRun>>,
    previous: Option<Arc<FileRun>>,
}

/// The run in progress, so that a new save or Stop can cancel it.
struct CurrentRun {
    run_id: u64,
    uri: Uri,
    cancel: CancelToken,
}

#[derive(Default)]
struct State {
    settings: Settings,
    documents: HashMap<Uri, Document>,
    runs: HashMap<Uri, FileRuns>,
    snapshots: SnapshotStore,
    board: Option<BoardReport>,
    current: Option<CurrentRun>,
    next_run_id: u64,
    last_free: Option<(u64, u64)>,
    /// The client can be asked to re-request inlay hints / code lenses after a run.
    inlay_refresh: bool,
    lens_refresh: bool,
    /// The suggestion to sample slow runs was shown (once per session is enough).
    sampling_hint_shown: bool,
}

/// The HeapLens language server. Cloning shares the same state and worker (a spawned task
/// needs its own handle: the service owns the original).
#[derive(Clone)]
pub struct Backend {
    client: Client,
    state: Arc<Mutex<State>>,
    worker: WorkerHandle,
}

impl Backend {
    /// Builds the backend and starts the board worker and the event forwarder.
    pub fn new(client: Client) -> Backend {
        let state = Arc::new(Mutex::new(State::default()));
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let settings = Settings::default();
        let spec = spec_from_setting(settings.board.as_cli(), settings.simulated_heap_bytes)
            .expect("the default board setting is valid");
        let worker = WorkerHandle::spawn(spec, settings.simulated_heap_bytes, events_tx);
        tokio::spawn(forward_events(client.clone(), state.clone(), events_rx));
        Backend {
            client,
            state,
            worker,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a handler panicked mid-update; the data is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn apply_settings(&self, value: &Value) {
        let (errors, spec_change) = {
            let mut st = self.state();
            let old = st.settings.clone();
            let errors = st.settings.apply(value);
            let new = &st.settings;
            let changed =
                old.board != new.board || old.simulated_heap_bytes != new.simulated_heap_bytes;
            (
                errors,
                changed.then(|| (new.board.as_cli().to_string(), new.simulated_heap_bytes)),
            )
        };
        for e in errors {
            self.client
                .show_message(MessageType::ERROR, format!("HeapLens: {e}"))
                .await;
        }
        if let Some((board, heap)) = spec_change {
            match spec_from_setting(&board, heap) {
                Ok(spec) => {
                    // Switching boards must not wait for the new board to open.
                    let _ = self.worker.send(Job::SetBoard {
                        spec,
                        sim_heap: heap,
                        reply: tokio::sync::oneshot::channel().0,
                    });
                }
                Err(e) => {
                    self.client
                        .show_message(MessageType::ERROR, format!("HeapLens: {e}"))
                        .await
                }
            }
        }
    }

    /// Starts a run of `uri` and returns when it is finished (or superseded).
    async fn run_file(&self, uri: Uri) -> RpcResult<Value> {
        let source = {
            let st = self.state();
            st.documents.get(&uri).map(|d| d.text.clone())
        };
        let source = match source {
            Some(s) => s,
            None => match uri.to_file_path() {
                Some(path) => std::fs::read_to_string(&path)
                    .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?,
                None => return Err(invalid(format!("not a file: {}", uri.as_str()))),
            },
        };
        let (run_id, cancel, options, previous_cancel) = {
            let mut st = self.state();
            st.next_run_id += 1;
            let run_id = st.next_run_id;
            let cancel = CancelToken::new();
            let previous = st.current.replace(CurrentRun {
                run_id,
                uri: uri.clone(),
                cancel: cancel.clone(),
            });
            let s = &st.settings;
            let options = RunOptions {
                exact: s.exact,
                soft_reset: s.soft_reset_before_run,
                timeout: (s.run_timeout_seconds > 0.0)
                    .then(|| Duration::from_secs_f64(s.run_timeout_seconds)),
                thresholds: s.thresholds,
                trace_allocations: s.trace_allocations,
                sampling: s.sampling,
            };
            (run_id, cancel, options, previous.map(|p| p.cancel))
        };
        // A new run supersedes the one in progress: Ctrl-C it; the worker runs ours next.
        if let Some(c) = previous_cancel {
            c.cancel();
        }
        let progress = self
            .begin_progress(
                format!("heaplens/run/{run_id}"),
                "HeapLens: run with heap capture",
            )
            .await;
        let result = self
            .worker
            .call(|reply| Job::Run {
                run_id,
                source,
                options,
                cancel: cancel.clone(),
                reply,
            })
            .await;
        let still_current = {
            let mut st = self.state();
            let current = st.current.as_ref().is_some_and(|c| c.run_id == run_id);
            if current {
                st.current = None;
            }
            current
        };
        if let Some(p) = progress {
            p.finish().await;
        }
        match result {
            Ok(report) => {
                if !still_current {
                    return Ok(json!({ "runId": run_id, "superseded": true }));
                }
                let summary = self.publish_run(&uri, run_id, report).await;
                Ok(summary)
            }
            Err(message) => {
                if still_current {
                    let diag = Diagnostic {
                        range: line_range(0, 0),
                        severity: Some(DiagnosticSeverity::ERROR),
                        code: Some(NumberOrString::String("run-failed".into())),
                        source: Some("heaplens".into()),
                        message: format!("the run did not complete: {message}"),
                        ..Default::default()
                    };
                    self.client
                        .publish_diagnostics(uri.clone(), vec![diag], None)
                        .await;
                    self.client
                        .show_message(
                            MessageType::ERROR,
                            format!("HeapLens: run failed: {message}"),
                        )
                        .await;
                }
                Err(invalid(message))
            }
        }
    }

    async fn begin_progress(
        &self,
        token: String,
        title: &str,
    ) -> Option<
        tower_lsp_server::OngoingProgress<
            tower_lsp_server::Unbounded,
            tower_lsp_server::Cancellable,
        >,
    > {
        let token = NumberOrString::String(token);
        // Clients that do not support server-initiated progress answer with an error: run anyway.
        self.client
            .create_work_done_progress(token.clone())
            .await
            .ok()?;
        Some(
            self.client
                .progress(token, title)
                .with_cancel_button()
                .with_message("connecting")
                .begin()
                .await,
        )
    }

    /// Stores a finished run, then sends diagnostics, snapshots, decorations and refreshes.
    async fn publish_run(&self, uri: &Uri, run_id: u64, report: RunReport) -> Value {
        let file_run = Arc::new(file_run_of(&report, run_id));
        let settings = {
            let mut st = self.state();
            let runs = st.runs.entry(uri.clone()).or_default();
            runs.previous = runs.last.take();
            runs.last = Some(file_run.clone());
            st.settings.clone()
        };
        let diagnostics = report
            .diagnostics
            .iter()
            .map(|d| to_lsp_diagnostic(uri, d))
            .collect();
        self.client
            .publish_diagnostics(uri.clone(), diagnostics, None)
            .await;
        let decorations = features::decorations(&file_run, settings.hint_min_bytes);
        self.client
            .send_notification::<ext::DecorationsNotification>(ext::DecorationsParams {
                uri: uri.as_str().to_string(),
                lines: decorations,
            })
            .await;
        self.send_board_status().await;
        let (inlay_refresh, lens_refresh) = {
            let st = self.state();
            (st.inlay_refresh, st.lens_refresh)
        };
        if inlay_refresh {
            let _ = self.client.inlay_hint_refresh().await;
        }
        if lens_refresh {
            let _ = self.client.code_lens_refresh().await;
        }
        let hint =
            features::sampling_hint(report.elapsed, report.instrumented, report.sample.is_some())
                .filter(|_| !std::mem::replace(&mut self.state().sampling_hint_shown, true));
        if let Some(hint) = hint {
            self.client.show_message(MessageType::INFO, hint).await;
        }
        // A script that does not parse already has its SyntaxError diagnostic; any other
        // reason for missing per-line figures is worth saying once per run.
        if let Some(why) = features::not_instrumented_message(
            report.not_instrumented.as_deref(),
            report.exception.as_deref(),
        ) {
            self.client.show_message(MessageType::INFO, why).await;
        }
        json!({
            "runId": run_id,
            "exception": report.exception,
            "diagnostics": report.diagnostics.len(),
            "gcCollections": report.gc_collections,
        })
    }

    async fn send_board_status(&self) {
        let params = {
            let st = self.state();
            board_status_params(st.board.as_ref(), st.current.is_some(), st.last_free)
        };
        self.client
            .send_notification::<ext::BoardStatusNotification>(params)
            .await;
    }

    async fn capture(&self, gc: bool) -> RpcResult<Value> {
        let snapshot = self
            .worker
            .call(|reply| Job::Capture { gc, reply })
            .await
            .map_err(invalid)?;
        let params = {
            let mut st = self.state();
            let stats = snapshot.stats();
            st.last_free = stats.free.zip(stats.max_free_bytes);
            st.snapshots.add_capture(snapshot)
        };
        let id = params.id.clone();
        self.client
            .send_notification::<ext::SnapshotNotification>(params)
            .await;
        self.send_board_status().await;
        Ok(json!({ "id": id }))
    }

    /// Reads a heap dump document (open or on disk) into stored snapshots for the heap map:
    /// dump `index` (0-based) alone, or, without an index, every dump of the document in
    /// order (a series of dumps is a timeline). Returns the payload of the one dump, or of the
    /// first of the series.
    fn open_dump(&self, uri: &str, index: Option<usize>) -> RpcResult<ext::SnapshotParams> {
        let parsed: Uri = uri
            .parse()
            .map_err(|_| invalid(format!("not a URI: {uri}")))?;
        let text = self
            .state()
            .documents
            .get(&parsed)
            .map(|d| d.text.clone().into_bytes());
        let bytes = match text {
            Some(t) => t,
            None => {
                let path = parsed
                    .to_file_path()
                    .ok_or_else(|| invalid(format!("not a file: {uri}")))?;
                std::fs::read(&path)
                    .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?
            }
        };
        let dumps = crate::heap::parse_dumps(&bytes).map_err(|e| invalid(format!("{uri}: {e}")))?;
        let count = dumps.len();
        let chosen: Vec<(usize, crate::heap::Dump)> = match index {
            Some(index) => {
                let dump = dumps.into_iter().nth(index).ok_or_else(|| {
                    invalid(format!(
                        "{uri} holds {count} dump(s); there is no dump {index}"
                    ))
                })?;
                vec![(index, dump)]
            }
            None => dumps.into_iter().enumerate().collect(),
        };
        let mut st = self.state();
        let mut first = None;
        for (index, dump) in chosen {
            let number = (count > 1).then_some(index + 1);
            let params = st.snapshots.add_dump(uri, number, dump.snapshot);
            first.get_or_insert(params);
        }
        first.ok_or_else(|| invalid(format!("{uri}: no dump")))
    }

    fn diff(&self, before: &str, after: &str) -> RpcResult<ext::DiffResult> {
        self.state().snapshots.diff(before, after).map_err(invalid)
    }
}

/// Runs a handler's synchronous work so that a bug (a panic) becomes an error reply for that
/// one request instead of taking the whole server, and the user's editor session, down.
fn contained<T>(what: &str, work: impl FnOnce() -> T) -> RpcResult<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).map_err(|panic| {
        let detail = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let mut e = RpcError::internal_error();
        e.message = format!("HeapLens bug while answering {what}: {detail}").into();
        e
    })
}

fn invalid(message: impl Into<String>) -> RpcError {
    let mut e = RpcError::invalid_params(message.into());
    e.code = tower_lsp_server::jsonrpc::ErrorCode::ServerError(1);
    e
}

fn line_range(start: u32, end: u32) -> Range {
    Range {
        start: Position {
            line: start,
            character: 0,
        },
        end: Position {
            line: end,
            character: super::LINE_END,
        },
    }
}

fn board_status_params(
    board: Option<&BoardReport>,
    busy: bool,
    last_free: Option<(u64, u64)>,
) -> BoardStatusParams {
    let (free_bytes, max_free_bytes) = last_free.map_or((None, None), |(f, m)| (Some(f), Some(m)));
    match board {
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
            message: b.message.clone(),
        },
        Some(b) => BoardStatusParams {
            state: BoardState::Disconnected,
            port: b.port.clone(),
            firmware: None,
            free_bytes: None,
            max_free_bytes: None,
            message: b.message.clone(),
        },
        None => BoardStatusParams {
            state: BoardState::Disconnected,
            port: None,
            firmware: None,
            free_bytes,
            max_free_bytes,
            message: Some("not connected yet".into()),
        },
    }
}

/// The figures of a run that the editor features read.
fn file_run_of(report: &RunReport, run_id: u64) -> FileRun {
    FileRun {
        run_id,
        lines: report.lines.clone(),
        diagnostics: report.diagnostics.clone(),
        max_free_blocks_after: report
            .snapshots
            .after_gc
            .as_ref()
            .and_then(|s| s.figures().max_free_blocks),
        block_bytes: report.snapshots.before.block_bytes.map(u64::from),
        gc_collections: report.gc_collections,
        exact: report.exact,
    }
}

/// Converts a run diagnostic (1-based lines) to LSP (0-based).
pub fn to_lsp_diagnostic(uri: &Uri, d: &HlDiagnostic) -> Diagnostic {
    let severity = match d.severity {
        Severity::Error => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
        Severity::Info => DiagnosticSeverity::INFORMATION,
    };
    let related = d
        .related
        .iter()
        .map(|r| DiagnosticRelatedInformation {
            location: Location {
                uri: uri.clone(),
                range: line_range(r.line.saturating_sub(1), r.line.saturating_sub(1)),
            },
            message: r.message.clone(),
        })
        .collect::<Vec<_>>();
    Diagnostic {
        range: line_range(d.line.saturating_sub(1), d.end_line.saturating_sub(1)),
        severity: Some(severity),
        code: Some(NumberOrString::String(d.code.as_str().to_string())),
        source: Some("heaplens".into()),
        message: d.message.clone(),
        related_information: (!related.is_empty()).then_some(related),
        ..Default::default()
    }
}

/// Forwards worker events to the client: output, progress phases, board status.
async fn forward_events(
    client: Client,
    state: Arc<Mutex<State>>,
    mut events: mpsc::UnboundedReceiver<WorkerEvent>,
) {
    while let Some(event) = events.recv().await {
        match event {
            WorkerEvent::Output { run_id, bytes } => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                client
                    .send_notification::<ext::OutputNotification>(OutputParams {
                        run_id,
                        stream: "stdout".into(),
                        text,
                    })
                    .await;
            }
            WorkerEvent::Phase { run_id, phase } => {
                if let Some(run_id) = run_id {
                    let token = NumberOrString::String(format!("heaplens/run/{run_id}"));
                    let message = match phase {
                        Phase::Connecting => "connecting",
                        Phase::SoftReset => "soft reset",
                        Phase::Before => "before snapshot",
                        Phase::Running => "running",
                        Phase::After => "after snapshots",
                    };
                    client
                        .send_notification::<notification::Progress>(ProgressParams {
                            token,
                            value: ProgressParamsValue::WorkDone(WorkDoneProgress::Report(
                                WorkDoneProgressReport {
                                    cancellable: Some(true),
                                    message: Some(message.into()),
                                    percentage: None,
                                },
                            )),
                        })
                        .await;
                }
            }
            WorkerEvent::Snapshot {
                run_id,
                label,
                snapshot,
                allocation_lines,
            } => {
                let params = {
                    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                    let file = st
                        .current
                        .as_ref()
                        .filter(|c| c.run_id == run_id)
                        .map(|c| c.uri.as_str().to_string());
                    let stats = snapshot.stats();
                    st.last_free = stats.free.zip(stats.max_free_bytes);
                    st.snapshots.add_run_snapshot(
                        label,
                        file.as_deref(),
                        run_id,
                        *snapshot,
                        &allocation_lines,
                    )
                };
                client
                    .send_notification::<ext::SnapshotNotification>(params)
                    .await;
            }
            WorkerEvent::Board(report) => {
                let params = {
                    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                    st.board = Some(report);
                    board_status_params(st.board.as_ref(), st.current.is_some(), st.last_free)
                };
                client
                    .send_notification::<ext::BoardStatusNotification>(params)
                    .await;
            }
        }
    }
}

fn arg<T: serde::de::DeserializeOwned>(args: &[Value], i: usize) -> Option<T> {
    args.get(i)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> RpcResult<InitializeResult> {
        if let Some(options) = &params.initialization_options {
            self.apply_settings(options).await;
        }
        {
            let workspace = params.capabilities.workspace.as_ref();
            let mut st = self.state();
            st.inlay_refresh = workspace
                .and_then(|w| w.inlay_hint.as_ref())
                .and_then(|i| i.refresh_support)
                .unwrap_or(false);
            st.lens_refresh = workspace
                .and_then(|w| w.code_lens.as_ref())
                .and_then(|c| c.refresh_support)
                .unwrap_or(false);
        }
        Ok(InitializeResult {
            server_info: Some(ServerInfo {
                name: "heaplens".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            capabilities: ServerCapabilities {
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::FULL),
                        save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                            include_text: Some(true),
                        })),
                        ..Default::default()
                    },
                )),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                inlay_hint_provider: Some(OneOf::Left(true)),
                code_lens_provider: Some(CodeLensOptions {
                    resolve_provider: Some(false),
                }),
                document_symbol_provider: Some(OneOf::Left(true)),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: ext::COMMANDS.iter().map(|c| c.to_string()).collect(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        self.send_board_status().await;
        // Open the board in the background: the status bar then shows it (or why it cannot be
        // opened) before the first save, and the first run does not pay for the start-up.
        let _ = self.worker.send(Job::Connect {
            reply: tokio::sync::oneshot::channel().0,
        });
    }

    async fn shutdown(&self) -> RpcResult<()> {
        if let Some(c) = self.state().current.take() {
            c.cancel.cancel();
        }
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = params.text_document;
        let is_dump = mpheap::is_heap_dump(&doc.uri, &doc.language_id);
        self.state().documents.insert(
            doc.uri.clone(),
            Document {
                text: doc.text.clone(),
                language_id: doc.language_id.clone(),
            },
        );
        if is_dump {
            let diagnostics =
                contained("didOpen", || mpheap::diagnostics(&doc.text)).unwrap_or_default();
            self.client
                .publish_diagnostics(doc.uri.clone(), diagnostics, None)
                .await;
        }
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        let Some(change) = params.content_changes.into_iter().last() else {
            return;
        };
        let is_dump = {
            let mut st = self.state();
            let Some(doc) = st.documents.get_mut(&uri) else {
                return;
            };
            doc.text = change.text;
            mpheap::is_heap_dump(&uri, &doc.language_id).then(|| doc.text.clone())
        };
        if let Some(text) = is_dump {
            let diagnostics =
                contained("didChange", || mpheap::diagnostics(&text)).unwrap_or_default();
            self.client
                .publish_diagnostics(uri, diagnostics, None)
                .await;
        }
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        let uri = params.text_document.uri;
        let run = {
            let mut st = self.state();
            if let (Some(text), Some(doc)) = (params.text, st.documents.get_mut(&uri)) {
                doc.text = text;
            }
            let is_python = uri.path().as_str().ends_with(".py")
                || st
                    .documents
                    .get(&uri)
                    .is_some_and(|d| d.language_id == "python");
            is_python && st.settings.run_on_save
        };
        if run {
            // The save notification must not wait for the run; its result is published later.
            let backend = self.clone();
            tokio::spawn(async move {
                let _ = backend.run_file(uri).await;
            });
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        self.state().documents.remove(&params.text_document.uri);
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        self.apply_settings(&params.settings).await;
    }

    async fn hover(&self, params: HoverParams) -> RpcResult<Option<Hover>> {
        let uri = params.text_document_position_params.text_document.uri;
        let pos = params.text_document_position_params.position;
        let markdown = contained("hover", || {
            let st = self.state();
            match st.documents.get(&uri) {
                Some(doc) if mpheap::is_heap_dump(&uri, &doc.language_id) => {
                    mpheap::hover(&doc.text, pos.line, pos.character)
                }
                _ => st.runs.get(&uri).and_then(|runs| {
                    let last = runs.last.as_ref()?;
                    features::hover_markdown(last, runs.previous.as_deref(), pos.line + 1)
                }),
            }
        })?;
        Ok(markdown.map(|value| Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value,
            }),
            range: None,
        }))
    }

    async fn inlay_hint(&self, params: InlayHintParams) -> RpcResult<Option<Vec<InlayHint>>> {
        contained("inlayHint", || self.inlay_hints(params))
    }

    async fn code_lens(&self, params: CodeLensParams) -> RpcResult<Option<Vec<CodeLens>>> {
        contained("codeLens", || self.code_lenses(params.text_document.uri))
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> RpcResult<Option<DocumentSymbolResponse>> {
        contained("documentSymbol", || {
            self.dump_symbols(&params.text_document.uri)
        })
    }
    async fn execute_command(&self, params: ExecuteCommandParams) -> RpcResult<Option<LSPAny>> {
        let args = params.arguments;
        let result = match params.command.as_str() {
            "heaplens.captureHeap" => {
                let gc = args
                    .first()
                    .and_then(|a| a.get("gc"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                self.capture(gc).await?
            }
            "heaplens.runFile" => {
                let uri: String = arg(&args, 0)
                    .ok_or_else(|| invalid("heaplens.runFile needs a document URI"))?;
                let uri: Uri = uri
                    .parse()
                    .map_err(|_| invalid(format!("not a URI: {uri}")))?;
                self.run_file(uri).await?
            }
            "heaplens.stop" => {
                let stopped = self.state().current.as_ref().map(|c| {
                    c.cancel.cancel();
                    c.run_id
                });
                json!({ "stopped": stopped })
            }
            "heaplens.softReset" => {
                self.worker
                    .call(|reply| Job::SoftReset { reply })
                    .await
                    .map_err(invalid)?;
                json!({ "reset": true })
            }
            "heaplens.selectBoard" => match arg::<String>(&args, 0) {
                None => {
                    // Listing ports is system I/O but not board work: it must not wait behind
                    // a run on the worker thread.
                    let boards = tokio::task::spawn_blocking(list_boards)
                        .await
                        .map_err(|e| invalid(format!("listing boards failed: {e}")))?;
                    json!({ "boards": boards })
                }
                Some(board) => {
                    let errors = self.state().settings.apply(&json!({ "board": board }));
                    if let Some(e) = errors.first() {
                        return Err(invalid(e.clone()));
                    }
                    let heap = self.state().settings.simulated_heap_bytes;
                    let spec = spec_from_setting(&board, heap).map_err(invalid)?;
                    self.worker
                        .call(|reply| Job::SetBoard {
                            spec,
                            sim_heap: heap,
                            reply,
                        })
                        .await
                        .map_err(invalid)?;
                    json!({ "board": board })
                }
            },
            "heaplens.openDump" => {
                let uri: String = arg(&args, 0)
                    .ok_or_else(|| invalid("heaplens.openDump needs a document URI"))?;
                let index: Option<usize> = arg(&args, 1);
                serde_json::to_value(self.open_dump(&uri, index)?).unwrap_or(Value::Null)
            }
            "heaplens.compareSnapshots" => {
                let (Some(before), Some(after)) =
                    (arg::<String>(&args, 0), arg::<String>(&args, 1))
                else {
                    return Err(invalid("heaplens.compareSnapshots needs two snapshot ids"));
                };
                serde_json::to_value(self.diff(&before, &after)?).unwrap_or(Value::Null)
            }
            other => return Err(invalid(format!("unknown command {other}"))),
        };
        Ok(Some(result))
    }
}

impl Backend {
    /// `window/workDoneProgress/cancel`: the user pressed Cancel on a run's progress.
    pub async fn progress_cancel(&self, params: WorkDoneProgressCancelParams) {
        let token = match params.token {
            NumberOrString::String(s) => s,
            NumberOrString::Number(n) => n.to_string(),
        };
        let st = self.state();
        if let Some(c) = &st.current {
            if token == format!("heaplens/run/{}", c.run_id) {
                c.cancel.cancel();
            }
        }
    }
}

/// The custom requests the webview uses.
impl Backend {
    pub async fn list_snapshots(
        &self,
        _: ext::ListSnapshotsParams,
    ) -> RpcResult<ext::ListSnapshotsResult> {
        Ok(ext::ListSnapshotsResult {
            snapshots: self.state().snapshots.list(),
        })
    }

    pub async fn get_snapshot(
        &self,
        params: ext::GetSnapshotParams,
    ) -> RpcResult<ext::SnapshotParams> {
        self.state()
            .snapshots
            .payload(&params.id)
            .ok_or_else(|| invalid(format!("no snapshot {}", params.id)))
    }

    pub async fn diff_request(&self, params: ext::DiffParams) -> RpcResult<ext::DiffResult> {
        self.diff(&params.before, &params.after)
    }
}

/// The synchronous work behind the read-only requests (run under [`contained`]).
impl Backend {
    fn inlay_hints(&self, params: InlayHintParams) -> Option<Vec<InlayHint>> {
        let st = self.state();
        let run = st
            .runs
            .get(&params.text_document.uri)
            .and_then(|r| r.last.clone())?;
        let text = st
            .documents
            .get(&params.text_document.uri)
            .map(|d| d.text.as_str())
            .unwrap_or("");
        let line_lengths: Vec<u32> = text
            .lines()
            .map(|l| l.encode_utf16().count() as u32)
            .collect();
        let range = params.range;
        let hints = features::hinted_lines(&run, st.settings.hint_min_bytes.max(1))
            .filter(|l| {
                let line = l.line.saturating_sub(1);
                range.start.line <= line && line <= range.end.line
            })
            .map(|l| {
                let line = l.line.saturating_sub(1);
                InlayHint {
                    position: Position {
                        line,
                        character: line_lengths.get(line as usize).copied().unwrap_or(0),
                    },
                    label: InlayHintLabel::String(features::line_label(l)),
                    kind: None,
                    text_edits: None,
                    tooltip: None,
                    padding_left: Some(true),
                    padding_right: None,
                    data: None,
                }
            })
            .collect();
        Some(hints)
    }

    fn code_lenses(&self, uri: Uri) -> Option<Vec<CodeLens>> {
        let st = self.state();
        if let Some(doc) = st
            .documents
            .get(&uri)
            .filter(|d| mpheap::is_heap_dump(&uri, &d.language_id))
        {
            return Some(mpheap::code_lenses(&uri, &doc.text));
        }
        if !uri.path().as_str().ends_with(".py")
            && st
                .documents
                .get(&uri)
                .is_none_or(|d| d.language_id != "python")
        {
            return None;
        }
        let top = Range {
            start: Position {
                line: 0,
                character: 0,
            },
            end: Position {
                line: 0,
                character: 0,
            },
        };
        let uri_arg = json!(uri.as_str());
        let mut lenses = vec![
            CodeLens {
                range: top,
                command: Some(Command {
                    title: "▶ Run with heap capture".into(),
                    command: "heaplens.runFile".into(),
                    arguments: Some(vec![uri_arg]),
                }),
                data: None,
            },
            CodeLens {
                range: top,
                command: Some(Command {
                    title: "Capture heap".into(),
                    command: "heaplens.captureHeap".into(),
                    arguments: None,
                }),
                data: None,
            },
        ];
        if let Some(run) = st.runs.get(&uri).and_then(|r| r.last.as_ref()) {
            lenses.push(CodeLens {
                range: top,
                command: Some(Command {
                    title: features::lens_summary(run),
                    command: "heaplens.showHeapMap".into(),
                    arguments: None,
                }),
                data: None,
            });
        }
        Some(lenses)
    }

    fn dump_symbols(&self, uri: &Uri) -> Option<DocumentSymbolResponse> {
        let st = self.state();
        let doc = st.documents.get(uri)?;
        if !mpheap::is_heap_dump(uri, &doc.language_id) {
            return None;
        }
        Some(DocumentSymbolResponse::Nested(mpheap::symbols(&doc.text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_handler_becomes_an_error_reply() {
        let err = contained("hover", || -> Option<String> {
            panic!("index out of range")
        })
        .expect_err("the panic is caught");
        assert_eq!(
            err.code,
            tower_lsp_server::jsonrpc::ErrorCode::InternalError
        );
        assert_eq!(
            err.message,
            "HeapLens bug while answering hover: index out of range"
        );
        assert_eq!(contained("hover", || 7).ok(), Some(7));
    }
}
