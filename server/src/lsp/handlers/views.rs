//! Read-only editor features: `textDocument/hover`, `inlayHint`, `codeLens`,
//! `documentSymbol`. They read state the runs and dump reads already computed.

use tower_lsp_server::jsonrpc::Result as RpcResult;
use tower_lsp_server::ls_types::*;

use crate::lsp::server::Backend;
use crate::lsp::{features, mpheap, to_proto};

pub(crate) async fn hover(backend: &Backend, params: HoverParams) -> RpcResult<Option<Hover>> {
    let uri = params.text_document_position_params.text_document.uri;
    let pos = params.text_document_position_params.position;
    if let Some(dump) = super::documents::dump_document(backend, &uri).await {
        let text = backend.state().documents.get(&uri).map(|d| d.text.clone());
        let markdown = dump.parsed.as_ref().ok().and_then(|dumps| {
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
    if let Some(dump) = super::documents::dump_document(backend, &uri).await {
        return Ok(dump
            .parsed
            .as_ref()
            .ok()
            .map(|dumps| mpheap::code_lenses(&uri, dumps)));
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
    let Some(dump) = super::documents::dump_document(backend, uri).await else {
        return Ok(None);
    };
    let text = backend.state().documents.get(uri).map(|d| d.text.clone());
    Ok(dump.parsed.as_ref().ok().map(|dumps| {
        DocumentSymbolResponse::Nested(mpheap::symbols(text.as_deref().unwrap_or(""), dumps))
    }))
}
