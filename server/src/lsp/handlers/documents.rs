//! `textDocument/didOpen`, `didChange`, `didSave`, `didClose`: keep the text, read heap dump
//! documents once per version, and run Python files on save.

use std::sync::Arc;

use tower_lsp_server::ls_types::*;

use crate::lsp::mpheap;
use crate::lsp::server::Backend;
use crate::lsp::state::{Document, DumpDocument};

/// Whether the document is a Python script HeapLens can run.
pub(crate) fn is_python(uri: &Uri, language_id: Option<&str>) -> bool {
    language_id == Some("python") || uri.path().as_str().ends_with(".py")
}

pub(crate) async fn did_open(backend: &Backend, params: DidOpenTextDocumentParams) {
    let doc = params.text_document;
    backend.state().documents.insert(
        doc.uri.clone(),
        Document {
            text: doc.text,
            language_id: doc.language_id,
            version: doc.version,
            dump: None,
        },
    );
    refresh_dump(backend, &doc.uri).await;
}

pub(crate) async fn did_change(backend: &Backend, params: DidChangeTextDocumentParams) {
    let uri = params.text_document.uri;
    let Some(change) = params.content_changes.into_iter().last() else {
        return;
    };
    {
        let mut st = backend.state();
        let Some(doc) = st.documents.get_mut(&uri) else {
            return;
        };
        doc.text = change.text;
        doc.version = params.text_document.version;
        doc.dump = None;
    }
    refresh_dump(backend, &uri).await;
}

/// For a heap dump document: reads its current version once (off the request path, since a
/// big dump takes a while) and publishes its diagnostics.
async fn refresh_dump(backend: &Backend, uri: &Uri) {
    let (text, version) = {
        let st = backend.state();
        match st.documents.get(uri) {
            Some(doc) if mpheap::is_heap_dump(uri, &doc.language_id) => {
                (doc.text.clone(), doc.version)
            }
            _ => return,
        }
    };
    let read = tokio::task::spawn_blocking(move || {
        let parsed = mpheap::read(&text);
        let diagnostics = mpheap::diagnostics(&text, &parsed);
        (parsed, diagnostics)
    })
    .await;
    let Ok((parsed, diagnostics)) = read else {
        return;
    };
    let current = {
        let mut st = backend.state();
        match st.documents.get_mut(uri) {
            // A newer version arrived meanwhile: its own read publishes.
            Some(doc) if doc.version == version => {
                doc.dump = Some(Arc::new(DumpDocument { version, parsed }));
                true
            }
            _ => false,
        }
    };
    if current {
        backend
            .client
            .publish_diagnostics(uri.clone(), diagnostics, Some(version))
            .await;
    }
}

pub(crate) async fn did_save(backend: &Backend, params: DidSaveTextDocumentParams) {
    let uri = params.text_document.uri;
    let run = {
        let mut st = backend.state();
        if let (Some(text), Some(doc)) = (params.text, st.documents.get_mut(&uri)) {
            doc.text = text;
        }
        let language = st.documents.get(&uri).map(|d| d.language_id.clone());
        is_python(&uri, language.as_deref()) && st.settings.run_on_save && !st.untrusted
    };
    if !run {
        return;
    }
    // The save must not wait for the run; a run that cannot start is said at once.
    if let Err(e) = super::start_run(backend, uri, super::RunKind::Measured).await {
        backend
            .client
            .show_message(MessageType::ERROR, format!("HeapLens: {}", e.message))
            .await;
    }
}

pub(crate) async fn did_close(backend: &Backend, params: DidCloseTextDocumentParams) {
    backend.state().documents.remove(&params.text_document.uri);
}
