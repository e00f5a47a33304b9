//! Read-only editor features: `textDocument/hover`, `inlayHint`, `codeLens`,
//! `documentSymbol`. They read state the runs and dump reads computed (a dump document still
//! being read is read at once, off the request path).

use tower_lsp_server::jsonrpc::Result as RpcResult;
use tower_lsp_server::ls_types::*;

use crate::lsp::server::Backend;
use std::sync::Arc;

use crate::lsp::state::DumpDocument;
use crate::lsp::{features, mpheap, to_proto};

pub(crate) async fn hover(backend: &Backend, params: HoverParams) -> RpcResult<Option<Hover>> {
    let uri = params.text_document_position_params.text_document.uri;
    let pos = params.text_document_position_params.position;
    if let Some(read) = current_dump(backend, &uri).await {
        let text = backend.state().documents.get(&uri).map(|d| d.text.clone());
        let markdown = read.parsed.as_ref().ok().and_then(|dumps| {
            mpheap::hover(
                dumps,
                text.as_deref().unwrap_or(""),
                pos.line,
                pos.character,
            )
        });
        return Ok(markdown.map(to_proto::hover));
    }
    let st = backend.state();
    let doc = st.documents.get(&uri);
    let markdown = st.runs.get(&uri).and_then(|runs| {
        let last = runs.last.as_ref()?;
        let source = doc.and_then(|d| d.text.lines().nth(pos.line as usize));
        features::hover_markdown(last, runs.previous.as_deref(), pos.line + 1, source)
    });
    Ok(markdown.map(to_proto::hover))
}

pub(crate) async fn inlay_hint(
    backend: &Backend,
    params: InlayHintParams,
) -> RpcResult<Option<Vec<InlayHint>>> {
    let st = backend.state();
    let uri = &params.text_document.uri;
    let Some(run) = st.runs.get(uri).and_then(|r| r.last.clone()) else {
        return Ok(None);
    };
    let line_lengths: Vec<u32> = st
        .documents
        .get(uri)
        .map(|d| d.text.as_str())
        .unwrap_or("")
        .lines()
        .map(|l| l.encode_utf16().count() as u32)
        .collect();
    Ok(Some(to_proto::inlay_hints(
        &run,
        st.settings.thresholds.hint_bytes,
        params.range,
        &line_lengths,
    )))
}

pub(crate) async fn code_lens(
    backend: &Backend,
    params: CodeLensParams,
) -> RpcResult<Option<Vec<CodeLens>>> {
    let uri = params.text_document.uri;
    if let Some(read) = current_dump(backend, &uri).await {
        let dumps = read.parsed.as_deref().unwrap_or_default();
        return Ok(Some(mpheap::code_lenses(&uri, dumps)));
    }
    let st = backend.state();
    let language = st.documents.get(&uri).map(|d| d.language_id.as_str());
    if !super::documents::is_python(&uri, language) {
        return Ok(None);
    }
    let last = st.runs.get(&uri).and_then(|r| r.last.as_deref());
    Ok(Some(to_proto::code_lenses(&uri, last)))
}

pub(crate) async fn document_symbol(
    backend: &Backend,
    params: DocumentSymbolParams,
) -> RpcResult<Option<DocumentSymbolResponse>> {
    let uri = &params.text_document.uri;
    let Some(read) = current_dump(backend, uri).await else {
        return Ok(None);
    };
    let Ok(dumps) = read.parsed.as_deref() else {
        return Ok(Some(DocumentSymbolResponse::Nested(Vec::new())));
    };
    let text = backend.state().documents.get(uri).map(|d| d.text.clone());
    Ok(text.map(|text| DocumentSymbolResponse::Nested(mpheap::symbols(&text, dumps))))
}

/// The dumps of a heap dump document as read for its current version: the stored read, or,
/// while the read its last change started is still going, one made now (off the request
/// path). `None` for documents that are not heap dumps.
async fn current_dump(backend: &Backend, uri: &Uri) -> Option<Arc<DumpDocument>> {
    let (text, version) = {
        let st = backend.state();
        let doc = st
            .documents
            .get(uri)
            .filter(|d| mpheap::is_heap_dump(uri, &d.language_id))?;
        if let Some(read) = doc.dump.as_ref().filter(|d| d.version == doc.version) {
            return Some(read.clone());
        }
        (doc.text.clone(), doc.version)
    };
    let parsed = super::off_thread(move || Ok(mpheap::read(&text)))
        .await
        .ok()?;
    let read = Arc::new(DumpDocument { version, parsed });
    if let Some(doc) = backend
        .state()
        .documents
        .get_mut(uri)
        .filter(|d| d.version == version)
    {
        doc.dump = Some(read.clone());
    }
    Some(read)
}
