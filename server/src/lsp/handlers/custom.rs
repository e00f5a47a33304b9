//! The custom requests the heap map uses (`heaplens/listSnapshots`, `getSnapshot`, `diff`)
//! `heaplens/replInput` (the REPL terminal's keys) and `window/workDoneProgress/cancel` (the
//! Cancel button of a run's progress).

use tower_lsp_server::jsonrpc::Result as RpcResult;
use tower_lsp_server::ls_types::*;

use crate::lsp::ext;
use crate::lsp::server::{guard, guard_notification, Backend};
use crate::lsp::to_proto::{invalid, run_progress_token};

impl Backend {
    pub(crate) async fn list_snapshots(
        &self,
        _: ext::ListSnapshotsParams,
    ) -> RpcResult<ext::ListSnapshotsResult> {
        guard("heaplens/listSnapshots", async {
            Ok(ext::ListSnapshotsResult {
                snapshots: self.state().snapshots.list(),
            })
        })
        .await
    }

    pub(crate) async fn get_snapshot(
        &self,
        params: ext::GetSnapshotParams,
    ) -> RpcResult<ext::SnapshotParams> {
        guard("heaplens/getSnapshot", async {
            self.state()
                .snapshots
                .payload(&params.id)
                .ok_or_else(|| invalid(format!("no snapshot {}", params.id)))
        })
        .await
    }

    pub(crate) async fn diff_request(&self, params: ext::DiffParams) -> RpcResult<ext::DiffResult> {
        guard("heaplens/diff", async {
            self.state()
                .snapshots
                .diff(&params.before, &params.after)
                .map_err(invalid)
        })
        .await
    }

    /// Keys typed in the REPL terminal: queued for the board worker, which writes them while
    /// the REPL is attached (and drops them while a job has the board).
    pub(crate) async fn repl_input(&self, params: ext::ReplTextParams) {
        guard_notification(self, "heaplens/replInput", async {
            if self.state().repl_open && !params.text.is_empty() {
                let _ = self
                    .worker
                    .send(crate::lsp::worker::Job::ReplInput(params.text.into_bytes()));
            }
        })
        .await
    }

    pub(crate) async fn progress_cancel(&self, params: WorkDoneProgressCancelParams) {
        guard_notification(self, "window/workDoneProgress/cancel", async {
            let st = self.state();
            if let Some(current) = &st.current {
                if params.token == run_progress_token(current.run_id) {
                    current.cancel.cancel();
                }
            }
        })
        .await
    }
}
