//! The language server (`heaplens lsp`): the only module that knows LSP. Handlers are thin:
//! they convert protocol types, read state computed by the board worker, and queue board work.

pub mod config;
pub mod ext;
pub mod features;
pub mod mpheap;
pub mod server;
pub mod snapshots;
pub mod worker;

use tower_lsp_server::{LspService, Server};

/// Serve LSP over stdin/stdout until the client exits.
pub fn serve_stdio() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (service, socket) = LspService::build(server::Backend::new)
            .custom_method(ext::LIST_SNAPSHOTS, server::Backend::list_snapshots)
            .custom_method(ext::GET_SNAPSHOT, server::Backend::get_snapshot)
            .custom_method(ext::DIFF, server::Backend::diff_request)
            .custom_method(
                "window/workDoneProgress/cancel",
                server::Backend::progress_cancel,
            )
            .finish();
        Server::new(tokio::io::stdin(), tokio::io::stdout(), socket)
            .serve(service)
            .await;
    });
    Ok(())
}

/// A character offset meaning "end of the line": the largest the protocol allows (LSP's
/// `uinteger` stops at 2³¹ − 1); clients clamp it to the line's real length.
pub const LINE_END: u32 = i32::MAX as u32;
