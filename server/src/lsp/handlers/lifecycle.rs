//! `initialize`, `initialized`, `shutdown`, `workspace/didChangeConfiguration`.

use tower_lsp_server::jsonrpc::Result as RpcResult;
use tower_lsp_server::ls_types::*;

use crate::lsp::ext;
use crate::lsp::server::Backend;
use crate::lsp::worker::Job;

pub(crate) async fn initialize(
    backend: &Backend,
    params: InitializeParams,
) -> RpcResult<InitializeResult> {
    if let Some(options) = &params.initialization_options {
        super::apply_settings(backend, options).await;
    }
    {
        let workspace = params.capabilities.workspace.as_ref();
        let mut st = backend.state();
        st.inlay_refresh = workspace
            .and_then(|w| w.inlay_hint.as_ref())
            .and_then(|i| i.refresh_support)
            .unwrap_or(false);
        st.lens_refresh = workspace
            .and_then(|w| w.code_lens.as_ref())
            .and_then(|c| c.refresh_support)
            .unwrap_or(false);
        // The project roots: the workspace folders (else the older single root).
        #[expect(
            deprecated,
            reason = "clients without workspace folders send only rootUri"
        )]
        let root = params.root_uri.clone();
        st.workspace_folders = match &params.workspace_folders {
            Some(folders) => folders.iter().filter_map(|f| folder_path(&f.uri)).collect(),
            None => root.iter().filter_map(folder_path).collect(),
        };
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
            workspace: Some(WorkspaceServerCapabilities {
                workspace_folders: Some(WorkspaceFoldersServerCapabilities {
                    supported: Some(true),
                    change_notifications: Some(OneOf::Left(true)),
                }),
                file_operations: None,
            }),
            execute_command_provider: Some(ExecuteCommandOptions {
                commands: ext::COMMANDS.iter().map(|c| c.name.to_string()).collect(),
                ..Default::default()
            }),
            ..Default::default()
        },
        offset_encoding: None,
    })
}

pub(crate) async fn initialized(backend: &Backend) {
    let status = backend.state().board_status();
    backend
        .client
        .send_notification::<ext::BoardStatusNotification>(status)
        .await;
    // Open the board in the background: the status bar then shows it (or why it cannot be
    // opened) before the first save, and the first run does not pay for the start-up.
    let _ = backend.worker.send(Job::Connect);
}

pub(crate) async fn shutdown(backend: &Backend) -> RpcResult<()> {
    if let Some(current) = backend.state().current.take() {
        current.cancel.cancel();
    }
    Ok(())
}

pub(crate) async fn did_change_configuration(
    backend: &Backend,
    params: DidChangeConfigurationParams,
) {
    super::apply_settings(backend, &params.settings).await;
}

/// A workspace folder's path (`None` for a folder that is not on disk).
fn folder_path(uri: &Uri) -> Option<std::path::PathBuf> {
    uri.to_file_path().map(|p| p.into_owned())
}

pub(crate) async fn did_change_workspace_folders(
    backend: &Backend,
    params: DidChangeWorkspaceFoldersParams,
) {
    let mut st = backend.state();
    let removed: Vec<std::path::PathBuf> = params
        .event
        .removed
        .iter()
        .filter_map(|f| folder_path(&f.uri))
        .collect();
    st.workspace_folders.retain(|f| !removed.contains(f));
    for added in params
        .event
        .added
        .iter()
        .filter_map(|f| folder_path(&f.uri))
    {
        if !st.workspace_folders.contains(&added) {
            st.workspace_folders.push(added);
        }
    }
}
