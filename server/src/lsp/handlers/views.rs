//! Read-only editor features: `textDocument/hover`, `inlayHint`, `codeLens`,
//! `documentSymbol`. They read state the runs and dump reads already computed.

use tower_lsp_server::jsonrpc::Result as RpcResult;
use tower_lsp_server::ls_types::*;

use crate::lsp::server::Backend;
use crate::lsp::state::Document;
use crate::lsp::{features, mpheap, to_proto};

pub(crate) async fn hover(backend: &Backend, params: HoverParams) -> RpcResult<Option<Hover>> {
    let uri = params.text_document_position_params.text_document.uri;
    let pos = params.text_document_position_params.position;
    let st = backend.state();
    let markdown = match st.documents.get(&uri) {
        Some(doc) if mpheap::is_heap_dump(&uri, &doc.language_id) => {
            // The dump as read for this version (None while it is being read).
            let dump = doc.dump.as_ref().filter(|d| d.version == doc.version);
            dump.and_then(|d| d.parsed.as_ref().ok())
                .and_then(|dumps| mpheap::hover(dumps, pos.line, pos.character))
        }
        _ => st.runs.get(&uri).and_then(|runs| {
            let last = runs.last.as_ref()?;
            features::hover_markdown(last, runs.previous.as_deref(), pos.line + 1)
        }),
    };
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
    let st = backend.state();
    if let Some(dumps) = st.documents.get(&uri).and_then(|doc| read_dump(&uri, doc)) {
        return Ok(Some(mpheap::code_lenses(&uri, dumps)));
    }
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
    let st = backend.state();
    let uri = &params.text_document.uri;
    Ok(st.documents.get(uri).and_then(|doc| {
        let dumps = read_dump(uri, doc)?;
        Some(DocumentSymbolResponse::Nested(mpheap::symbols(
            &doc.text, dumps,
        )))
    }))
}

/// The dumps of a heap dump document as read for its current version (None while it is
/// being read, or when it could not be read).
fn read_dump<'a>(uri: &Uri, doc: &'a Document) -> Option<&'a [crate::heap::Dump]> {
    if !mpheap::is_heap_dump(uri, &doc.language_id) {
        return None;
    }
    let dump = doc.dump.as_ref().filter(|d| d.version == doc.version)?;
    dump.parsed.as_deref().ok()
}
