//! `workspace/executeCommand`: every `heaplens.*` command, each with typed arguments and a
//! typed result (`ext::COMMANDS`). Commands that need the board queue a job and answer at once
//! with its id; the job's outcome arrives as `heaplens/jobFinished`.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tower_lsp_server::jsonrpc::Result as RpcResult;
use tower_lsp_server::ls_types::*;

use crate::board::BoardSpec;
use crate::lsp::ext::{
    BoardChoice, CaptureHeapArgs, ClearSnapshotsResult, CloseReplResult, DiffResult, ErrorCode,
    JobStarted, ListBoardsResult, SnapshotParams, StopResult,
};
use crate::lsp::server::Backend;
use crate::lsp::to_proto::{coded, invalid};
use crate::lsp::worker::Job;

pub(crate) async fn execute(
    backend: &Backend,
    params: ExecuteCommandParams,
) -> RpcResult<Option<Value>> {
    let args = params.arguments;
    tracing::debug!(command = %params.command, "executeCommand");
    let result = match params.command.as_str() {
        "heaplens.captureHeap" => {
            let options: CaptureHeapArgs = optional_arg(&args, 0, "heaplens.captureHeap")?;
            reply(queue(backend, |job_id| Job::Capture {
                job_id,
                gc: options.gc,
            })?)
        }
        "heaplens.runFile" => {
            let uri = uri_arg(&args, "heaplens.runFile")?;
            reply(super::start_run(backend, uri, super::RunKind::Measured).await?)
        }
        "heaplens.runPlain" => {
            let uri = uri_arg(&args, "heaplens.runPlain")?;
            reply(super::start_run(backend, uri, super::RunKind::Plain).await?)
        }
        "heaplens.clearSnapshots" => reply(ClearSnapshotsResult {
            cleared: backend.state().snapshots.clear(),
        }),
        "heaplens.openRepl" => {
            backend.state().repl_open = true;
            reply(queue(backend, |job_id| Job::ReplOpen { job_id })?)
        }
        "heaplens.closeRepl" => {
            let closed = std::mem::replace(&mut backend.state().repl_open, false);
            let _ = backend.worker.send(Job::ReplClose);
            reply(CloseReplResult { closed })
        }
        "heaplens.stop" => reply(stop(backend)),
        "heaplens.softReset" => reply(queue(backend, |job_id| Job::SoftReset { job_id })?),
        "heaplens.listBoards" => reply(list_boards().await?),
        "heaplens.selectBoard" => {
            let board: String = required_arg(&args, 0, "heaplens.selectBoard", "a board")?;
            reply(select_board(backend, &board)?)
        }
        "heaplens.compareSnapshots" => {
            let before: String =
                required_arg(&args, 0, "heaplens.compareSnapshots", "two snapshot ids")?;
            let after: String =
                required_arg(&args, 1, "heaplens.compareSnapshots", "two snapshot ids")?;
            reply(compare(backend, &before, &after)?)
        }
        "heaplens.openDump" => {
            let uri = uri_arg(&args, "heaplens.openDump")?;
            let index: Option<usize> = optional_arg(&args, 1, "heaplens.openDump")?;
            reply(open_dump(backend, uri, index).await?)
        }
        other => return Err(invalid(format!("unknown command {other}"))),
    };
    result.map(Some)
}

fn reply<T: Serialize>(value: T) -> RpcResult<Value> {
    serde_json::to_value(value).map_err(|e| invalid(format!("cannot encode the result: {e}")))
}

fn required_arg<T: DeserializeOwned>(
    args: &[Value],
    index: usize,
    command: &str,
    what: &str,
) -> RpcResult<T> {
    let value = args
        .get(index)
        .ok_or_else(|| invalid(format!("{command} needs {what}")))?;
    serde_json::from_value(value.clone())
        .map_err(|e| invalid(format!("{command}: bad argument {}: {e}", index + 1)))
}

fn optional_arg<T: DeserializeOwned + Default>(
    args: &[Value],
    index: usize,
    command: &str,
) -> RpcResult<T> {
    match args.get(index) {
        None | Some(Value::Null) => Ok(T::default()),
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|e| invalid(format!("{command}: bad argument {}: {e}", index + 1))),
    }
}

fn uri_arg(args: &[Value], command: &str) -> RpcResult<Uri> {
    let text: String = required_arg(args, 0, command, "a document URI")?;
    text.parse()
        .map_err(|_| invalid(format!("{command}: not a URI: {text}")))
}

/// Queues a board job made by `make` with a fresh id.
fn queue(backend: &Backend, make: impl FnOnce(u64) -> Job) -> RpcResult<JobStarted> {
    let job_id = backend.state().new_job_id();
    backend
        .worker
        .send(make(job_id))
        .map_err(|e| coded(ErrorCode::Internal, e.to_string()))?;
    Ok(JobStarted { job_id })
}

fn stop(backend: &Backend) -> StopResult {
    let stopped = backend.state().current.as_ref().map(|c| {
        c.cancel.cancel();
        c.run_id
    });
    StopResult { stopped }
}

async fn list_boards() -> RpcResult<ListBoardsResult> {
    // Listing ports is system I/O but not board work: it must not wait behind a run.
    let boards = tokio::task::spawn_blocking(crate::board::discovery::available_boards)
        .await
        .map_err(|e| coded(ErrorCode::Internal, format!("listing boards failed: {e}")))?;
    Ok(ListBoardsResult {
        boards: boards
            .into_iter()
            .map(|b| BoardChoice {
                label: b.label,
                board: b.spec.to_string(),
                description: b.description,
            })
            .collect(),
    })
}

fn select_board(backend: &Backend, board: &str) -> RpcResult<JobStarted> {
    let spec: BoardSpec = board.parse().map_err(|e| invalid(format!("{e}")))?;
    let sim = {
        let mut st = backend.state();
        st.settings.board = spec.clone();
        super::sim_options(&st.settings)
    };
    queue(backend, |job_id| Job::SetBoard { job_id, spec, sim })
}

fn compare(backend: &Backend, before: &str, after: &str) -> RpcResult<DiffResult> {
    backend
        .state()
        .snapshots
        .diff(before, after)
        .map_err(invalid)
}

/// Reads a heap dump document (open, or on disk: a regular file, read off the request path)
/// into a stored snapshot for the heap map.
/// Reads a heap dump document (open or on disk) into stored snapshots for the heap map: dump
/// `index` (0-based) alone, or, without an index, every dump of the document in order (a
/// series of dumps is a timeline). Returns the payload of the one dump, or of the first.
async fn open_dump(backend: &Backend, uri: Uri, index: Option<usize>) -> RpcResult<SnapshotParams> {
    let open = backend
        .state()
        .documents
        .get(&uri)
        .map(|d| d.text.clone().into_bytes());
    let bytes = match open {
        Some(bytes) => bytes,
        None => {
            let path = super::file_path(&uri).map_err(|e| coded(ErrorCode::UnreadableFile, e))?;
            super::off_thread(move || super::read_regular_file(&path, super::MAX_DUMP_BYTES))
                .await
                .map_err(|e| coded(ErrorCode::UnreadableFile, e))?
        }
    };
    let dumps =
        super::off_thread(move || crate::heap::parse_dumps(&bytes).map_err(|e| e.to_string()))
            .await
            .map_err(|e| coded(ErrorCode::UnreadableDump, format!("{}: {e}", uri.as_str())))?;
    let count = dumps.len();
    let chosen: Vec<(usize, crate::heap::Dump)> = match index {
        Some(index) => {
            let dump = dumps.into_iter().nth(index).ok_or_else(|| {
                coded(
                    ErrorCode::UnreadableDump,
                    format!(
                        "{} holds {count} dump(s); there is no dump {}",
                        uri.as_str(),
                        index + 1
                    ),
                )
            })?;
            vec![(index, dump)]
        }
        None => dumps.into_iter().enumerate().collect(),
    };
    let mut st = backend.state();
    let mut first = None;
    for (index, dump) in chosen {
        let number = (count > 1).then_some(index + 1);
        let params = st.snapshots.add_dump(uri.as_str(), number, dump.snapshot);
        first.get_or_insert(params);
    }
    first.ok_or_else(|| {
        coded(
            ErrorCode::UnreadableDump,
            format!("{}: no dump", uri.as_str()),
        )
    })
}
