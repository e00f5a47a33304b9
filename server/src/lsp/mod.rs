//! The language server (`heaplens lsp`): the only module that knows LSP.
//!
//! - [`server`]: the `LanguageServer` impl, one line per method, each under a panic guard;
//! - `handlers/`: the work of each method; [`to_proto`]: building protocol types;
//! - [`worker`]: the thread that owns the board; [`events`]: its events, in order, to the client;
//! - [`ext`]: the custom messages and command results; [`settings`]: every setting;
//! - [`features`] (hover text, labels), [`mpheap`] (dump documents), [`snapshots`] (the store).
//!
//! Must not know: how a run is instrumented, how a dump is read, the raw REPL.

mod events;
pub mod ext;
mod features;
mod framing;
#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod generated;
mod handlers;
mod mpheap;
mod server;
pub mod settings;
mod snapshots;
mod state;
mod to_proto;
mod worker;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tower_lsp_server::ls_types::notification::Notification;
use tower_lsp_server::ls_types::request::Request;
use tower_lsp_server::{LspService, Server};

pub use server::Backend;

/// How long the server waits, after the client went away, for the board to be closed.
const EXIT_GRACE: Duration = Duration::from_secs(3);

/// Serve LSP over stdin/stdout until the client exits or closes stdin. A run in progress is
/// then stopped and the board closed (the simulated Pico's interpreter ends with it).
pub fn serve_stdio() -> anyhow::Result<()> {
    crate::logging::init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let backend_slot: Arc<Mutex<Option<Backend>>> = Arc::default();
    runtime.block_on(serve_framed(
        tokio::io::stdin(),
        tokio::io::stdout(),
        backend_slot.clone(),
    ));
    tracing::info!("the client went away: stopping");
    let backend = backend_slot
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(backend) = backend {
        let worker_thread = backend.stop_for_exit();
        drop(backend);
        // Dropping the runtime drops the event task's handle on the worker: the worker then
        // ends after the (now cancelled) job, closing the board.
        runtime.shutdown_timeout(Duration::from_millis(200));
        if let Some(thread) = worker_thread {
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = thread.join();
                let _ = done_tx.send(());
            });
            if done_rx.recv_timeout(EXIT_GRACE).is_err() {
                tracing::warn!("the board did not close in time; exiting anyway");
            }
        }
    }
    Ok(())
}

/// Serves LSP on `input`/`output` through [`framing`]: tower-lsp sees only well-formed
/// messages, every malformed one gets its error reply from the framing layer, and the server
/// keeps serving. Returns when the client sent `exit`, or closed its input (then requests
/// still running get [`EXIT_GRACE`] to finish).
pub(crate) async fn serve_framed(
    input: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    output: impl tokio::io::AsyncWrite + Unpin + Send + 'static,
    backend_slot: Arc<Mutex<Option<Backend>>>,
) {
    let (service, socket) = service(backend_slot);
    let (to_server, server_input) = tokio::io::duplex(64 * 1024);
    let (server_output, from_server) = tokio::io::duplex(64 * 1024);
    let (bodies_tx, bodies_rx) = tokio::sync::mpsc::unbounded_channel();
    let writer = tokio::spawn(framing::write_frames(output, bodies_rx));
    let mut server_replies = tokio::spawn(framing::pump_output(from_server, bodies_tx.clone()));
    let mut reader = tokio::spawn(framing::pump_input(input, to_server, bodies_tx));
    let serve = Server::new(server_input, server_output, socket).serve(service);
    let input_closed = async {
        let _ = (&mut reader).await;
        tokio::time::sleep(EXIT_GRACE).await;
    };
    tokio::select! {
        () = serve => {}
        () = input_closed => tracing::warn!("requests still running when the client left; not waiting for them"),
    }
    // The server's output is closed now: pass on what it wrote last, then stop reading.
    let _ = tokio::time::timeout(EXIT_GRACE, &mut server_replies).await;
    server_replies.abort();
    reader.abort();
    let _ = tokio::time::timeout(EXIT_GRACE, writer).await;
}

/// The service with every custom method registered; `slot` receives the backend (so the
/// caller can stop it when the transport ends).
pub(crate) fn service(
    slot: Arc<Mutex<Option<Backend>>>,
) -> (LspService<Backend>, tower_lsp_server::ClientSocket) {
    LspService::build(move |client| {
        let backend = Backend::new(client);
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(backend.clone());
        backend
    })
    .custom_method(ext::ListSnapshots::METHOD, Backend::list_snapshots)
    .custom_method(ext::GetSnapshot::METHOD, Backend::get_snapshot)
    .custom_method(ext::DiffRequest::METHOD, Backend::diff_request)
    .custom_method(ext::ReplInputNotification::METHOD, Backend::repl_input)
    .custom_method("window/workDoneProgress/cancel", Backend::progress_cancel)
    .finish()
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use tower::{Service, ServiceExt};
    use tower_lsp_server::jsonrpc::Request;

    async fn call(
        service: &mut tower_lsp_server::LspService<super::Backend>,
        request: Request,
    ) -> Value {
        let response = service
            .ready()
            .await
            .expect("the service is ready")
            .call(request)
            .await
            .expect("the service answers")
            .expect("a request gets a response");
        serde_json::to_value(response).expect("a response is JSON")
    }

    /// A panic inside a real handler, reached through the whole service, becomes an error
    /// reply for that request, and the server answers the next one.
    #[tokio::test]
    async fn a_panic_injected_in_a_handler_becomes_an_error_reply() {
        let (mut service, _socket) = super::service(Default::default());
        let initialize = Request::build("initialize")
            .params(json!({ "capabilities": {}, "initializationOptions": { "heaplens": { "board": "/dev/null-board" } } }))
            .id(1)
            .finish();
        let reply = call(&mut service, initialize).await;
        assert_eq!(reply["result"]["serverInfo"]["name"], "heaplens", "{reply}");
        let hover = |id| {
            Request::build("textDocument/hover")
                .params(json!({
                    "textDocument": { "uri": "file:///tmp/x.py" },
                    "position": { "line": 0, "character": 0 }
                }))
                .id(id)
                .finish()
        };
        super::server::fault::arm("hover");
        let reply = call(&mut service, hover(2)).await;
        assert_eq!(reply["error"]["code"], -32603, "{reply}");
        assert_eq!(
            reply["error"]["message"],
            "HeapLens bug while answering hover: injected fault in hover"
        );
        let reply = call(&mut service, hover(3)).await;
        assert_eq!(reply["result"], Value::Null, "still serving: {reply}");
    }

    async fn notify(
        service: &mut tower_lsp_server::LspService<super::Backend>,
        method: &'static str,
        params: Value,
    ) {
        let reply = service
            .ready()
            .await
            .expect("the service is ready")
            .call(Request::build(method).params(params).finish())
            .await
            .expect("the service takes notifications");
        assert!(reply.is_none());
    }

    /// Hovers on a heap dump document reuse the read of its version: a big dump is read once
    /// per version, not once per hover.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dump_document_is_read_once_per_version_however_often_it_is_hovered() {
        let (mut service, socket) = super::service(Default::default());
        // Drain what the server sends the client (diagnostics), or its sends would wait.
        tokio::spawn(async move {
            use futures::StreamExt;
            let (mut requests, _responses) = socket.split();
            while requests.next().await.is_some() {}
        });
        let initialize = Request::build("initialize")
            .params(json!({ "capabilities": {}, "initializationOptions": { "heaplens": { "board": "/dev/null-board" } } }))
            .id(1)
            .finish();
        call(&mut service, initialize).await;
        let uri = "file:///tmp/read-once-test.mpheap";
        let seed = include_str!("../../../tests/fixtures/meminfo/pico-seed-192064.txt");
        // Unique texts: other tests read dumps in this process too.
        let first = format!("{seed}\n# read-once v1\n");
        let second = format!("{seed}\n# read-once v2\n");
        notify(
            &mut service,
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "mpheap", "version": 1, "text": first } }),
        )
        .await;
        let hover = |id: i64| {
            Request::build("textDocument/hover")
                .params(json!({ "textDocument": { "uri": uri }, "position": { "line": 4, "character": 18 } }))
                .id(id)
                .finish()
        };
        for id in 2..12 {
            let reply = call(&mut service, hover(id)).await;
            let text = reply["result"]["contents"]["value"]
                .as_str()
                .unwrap_or_default();
            assert!(
                text.starts_with("**tuple** `T` · block 11 of area 0"),
                "{reply}"
            );
        }
        assert_eq!(
            super::mpheap::reads::of(&first),
            1,
            "one read for version 1"
        );
        notify(
            &mut service,
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": 2 }, "contentChanges": [{ "text": second }] }),
        )
        .await;
        for id in 12..22 {
            call(&mut service, hover(id)).await;
        }
        assert_eq!(
            super::mpheap::reads::of(&second),
            1,
            "one read for version 2"
        );
        assert_eq!(super::mpheap::reads::of(&first), 1);
    }
}
