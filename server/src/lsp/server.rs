//! The `LanguageServer` implementation: each method is one line that hands its params to a
//! handler in [`super::handlers`] under [`guard`], so a bug in a handler (a panic) becomes an
//! error reply and the server keeps serving. All state sits behind one mutex that is never
//! held across an `.await`; all board work happens on the worker thread.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Error as RpcError, Result as RpcResult};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer};

use super::handlers;
use super::state::State;
use super::worker::{WorkerEvent, WorkerHandle};

/// The HeapLens language server. Cloning shares the same state and worker (a spawned task
/// needs its own handle: the service owns the original).
#[derive(Clone)]
pub struct Backend {
    pub(super) client: Client,
    pub(super) state: Arc<Mutex<State>>,
    pub(super) worker: WorkerHandle,
    /// The worker thread, taken once when the server exits.
    worker_thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl Backend {
    /// Builds the backend and starts the board worker and the task that forwards its events.
    pub fn new(client: Client) -> Backend {
        let state = State::default();
        let (events_tx, events_rx) = mpsc::unbounded_channel::<WorkerEvent>();
        // The worker thread ends when every handle is dropped (the service ends): it then
        // closes the board. Not joined: a board stuck in a write must not hold the exit.
        let (worker, thread) = WorkerHandle::spawn(
            state.settings.board.clone(),
            handlers::sim_options(&state.settings),
            events_tx,
        );
        let backend = Backend {
            client,
            state: Arc::new(Mutex::new(state)),
            worker,
            worker_thread: Arc::new(Mutex::new(Some(thread))),
        };
        tokio::spawn(super::events::forward(backend.clone(), events_rx));
        backend
    }

    /// Stops the run in progress (the client is gone) and hands over the worker thread, which
    /// ends once every handle on it is dropped.
    pub(super) fn stop_for_exit(&self) -> Option<std::thread::JoinHandle<()>> {
        if let Some(current) = self.state().current.take() {
            current.cancel.cancel();
        }
        self.worker_thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// The state. A poisoned lock only means a handler panicked mid-update; the data is
    /// still usable.
    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The text of a panic payload.
pub(super) fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs a request handler so that a panic becomes an internal-error reply for that one
/// request instead of a server that answers nothing.
pub(super) async fn guard<T>(
    method: &'static str,
    work: impl Future<Output = RpcResult<T>>,
) -> RpcResult<T> {
    #[cfg(test)]
    let work = async {
        fault::strike(method);
        work.await
    };
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let detail = panic_message(&*panic);
            tracing::error!(method, %detail, "handler panicked");
            let mut error = RpcError::internal_error();
            error.message = format!("HeapLens bug while answering {method}: {detail}").into();
            Err(error)
        }
    }
}

/// Runs a notification handler so that a panic is logged and shown, never fatal.
pub(super) async fn guard_notification(
    backend: &Backend,
    method: &'static str,
    work: impl Future<Output = ()>,
) {
    if let Err(panic) = AssertUnwindSafe(work).catch_unwind().await {
        let detail = panic_message(&*panic);
        tracing::error!(method, %detail, "notification handler panicked");
        backend
            .client
            .show_message(
                MessageType::ERROR,
                format!("HeapLens bug while handling {method}: {detail}"),
            )
            .await;
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> RpcResult<InitializeResult> {
        guard("initialize", handlers::lifecycle::initialize(self, params)).await
    }

    async fn initialized(&self, _: InitializedParams) {
        guard_notification(self, "initialized", handlers::lifecycle::initialized(self)).await
    }

    async fn shutdown(&self) -> RpcResult<()> {
        guard("shutdown", handlers::lifecycle::shutdown(self)).await
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        guard_notification(self, "didOpen", handlers::documents::did_open(self, params)).await
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        guard_notification(
            self,
            "didChange",
            handlers::documents::did_change(self, params),
        )
        .await
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        guard_notification(self, "didSave", handlers::documents::did_save(self, params)).await
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        guard_notification(
            self,
            "didClose",
            handlers::documents::did_close(self, params),
        )
        .await
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        guard_notification(
            self,
            "didChangeConfiguration",
            handlers::lifecycle::did_change_configuration(self, params),
        )
        .await
    }

    async fn did_change_workspace_folders(&self, params: DidChangeWorkspaceFoldersParams) {
        guard_notification(
            self,
            "didChangeWorkspaceFolders",
            handlers::lifecycle::did_change_workspace_folders(self, params),
        )
        .await
    }

    async fn hover(&self, params: HoverParams) -> RpcResult<Option<Hover>> {
        guard("hover", handlers::views::hover(self, params)).await
    }

    async fn inlay_hint(&self, params: InlayHintParams) -> RpcResult<Option<Vec<InlayHint>>> {
        guard("inlayHint", handlers::views::inlay_hint(self, params)).await
    }

    async fn code_lens(&self, params: CodeLensParams) -> RpcResult<Option<Vec<CodeLens>>> {
        guard("codeLens", handlers::views::code_lens(self, params)).await
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> RpcResult<Option<DocumentSymbolResponse>> {
        guard(
            "documentSymbol",
            handlers::views::document_symbol(self, params),
        )
        .await
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> RpcResult<Option<LSPAny>> {
        guard(
            "workspace/executeCommand",
            handlers::commands::execute(self, params),
        )
        .await
    }
}

/// Fault injection for tests: `arm("textDocument/hover")` makes the next request of that method
/// panic inside its guard, as a bug in its handler would.
#[cfg(test)]
pub(super) mod fault {
    use std::sync::Mutex;

    static ARMED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

    pub fn arm(method: &'static str) {
        ARMED.lock().unwrap_or_else(|e| e.into_inner()).push(method);
    }

    pub fn strike(method: &str) {
        let mut armed = ARMED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = armed.iter().position(|m| *m == method) {
            armed.remove(i);
            drop(armed);
            panic!("injected fault in {method}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_becomes_an_error_reply() {
        let err = guard("hover", async {
            let lines: Vec<u32> = Vec::new();
            Ok::<u32, RpcError>(lines[3])
        })
        .await
        .expect_err("the panic is caught");
        assert_eq!(
            err.code,
            tower_lsp_server::jsonrpc::ErrorCode::InternalError
        );
        assert_eq!(
            err.message,
            "HeapLens bug while answering hover: index out of bounds: the len is 0 but the index is 3"
        );
        assert_eq!(guard("hover", async { Ok(7) }).await.ok(), Some(7));
    }
}
