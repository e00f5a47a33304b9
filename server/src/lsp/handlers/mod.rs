//! One module per group of LSP methods; each handler converts params, reads or updates the
//! state, queues board work, and answers. Shared steps (settings, reading a file off the
//! request path, starting a run) live here.

pub(super) mod commands;
pub(super) mod custom;
pub(super) mod documents;
pub(super) mod lifecycle;
pub(super) mod views;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use tower_lsp_server::jsonrpc::Result as RpcResult;
use tower_lsp_server::ls_types::{MessageType, Uri};

use crate::board::{CancelToken, SimOptions};
use crate::project::Project;
use crate::run::runner::{RunOptions, Script};

use super::ext::{ErrorCode, JobStarted};
use super::server::Backend;
use super::settings::Settings;
use super::state::{CurrentRun, RunProject};
use super::to_proto::{self, coded};
use super::worker::Job;

/// Largest script HeapLens runs (a Pico's whole flash is 2 MB; a script this big could not
/// even compile in its heap).
const MAX_SCRIPT_BYTES: u64 = 1024 * 1024;
/// Largest heap dump document read from disk (a 10 MB heap's dump is about 1 MB of text).
pub(super) const MAX_DUMP_BYTES: u64 = 64 * 1024 * 1024;

/// How the simulated Pico starts, from the settings.
pub(super) fn sim_options(settings: &Settings) -> SimOptions {
    SimOptions {
        heap_bytes: settings.sim_heap_bytes(),
        ..SimOptions::default()
    }
}

/// Applies client settings (`{heaplens: …, workspaceTrusted}` or the bare section), reports
/// rejected values, and switches boards when the board or the simulated heap changed.
pub(super) async fn apply_settings(backend: &Backend, value: &Value) {
    let (errors, board_change, redecorate) = {
        let mut st = backend.state();
        let old = st.settings.clone();
        let errors = st.settings.apply(value);
        if let Some(trusted) = value.get("workspaceTrusted").and_then(Value::as_bool) {
            st.untrusted = !trusted;
        }
        if let Some(allowed) = value
            .get("unsandboxedSimulatorAllowed")
            .and_then(Value::as_bool)
        {
            st.unsandboxed_allowed = allowed;
        }
        if let Some(shows) = value.get("clientShowsJobErrors").and_then(Value::as_bool) {
            st.client_shows_job_errors = shows;
        }
        let new = &st.settings;
        let changed =
            old.board != new.board || old.simulated_heap_bytes != new.simulated_heap_bytes;
        let change = changed.then(|| (new.board.clone(), sim_options(new)));
        // Heat marks follow the hint threshold: a new one redraws every file's marks now,
        // not at its next run.
        let hint_bytes = new.thresholds.hint_bytes;
        let redecorate: Vec<(Uri, std::sync::Arc<super::features::FileRun>)> =
            if old.thresholds.hint_bytes != hint_bytes {
                st.runs
                    .iter()
                    .filter_map(|(uri, runs)| Some((uri.clone(), runs.last.clone()?)))
                    .collect()
            } else {
                Vec::new()
            };
        let job_id = change.as_ref().map(|_| st.new_job_id());
        (errors, change.zip(job_id), (hint_bytes, redecorate))
    };
    let level = backend.state().settings.trace.server;
    crate::logging::set_level(level.directive());
    for e in errors {
        backend
            .client
            .show_message(MessageType::ERROR, format!("HeapLens: {e}"))
            .await;
    }
    let (hint_bytes, redecorate) = redecorate;
    let refresh_hints = !redecorate.is_empty() && backend.state().inlay_refresh;
    for (uri, run) in redecorate {
        backend
            .client
            .send_notification::<super::ext::DecorationsNotification>(
                super::ext::DecorationsParams {
                    uri: uri.as_str().to_string(),
                    lines: super::features::decorations(&run, hint_bytes),
                },
            )
            .await;
    }
    if refresh_hints {
        let client = backend.client.clone();
        tokio::spawn(async move {
            let _ = client.inlay_hint_refresh().await;
        });
    }
    if let Some(((spec, sim), job_id)) = board_change {
        tracing::info!(%spec, "switching boards");
        // Switching boards must not wait for the new board to open.
        let _ = backend.worker.send(Job::SetBoard { job_id, spec, sim });
    }
}

/// The file behind `uri`, or why it cannot be one.
pub(super) fn file_path(uri: &Uri) -> Result<PathBuf, String> {
    if uri.scheme().as_str() != "file" {
        return Err(format!(
            "{} is not a local file (scheme `{}`): HeapLens runs files on disk",
            uri.as_str(),
            uri.scheme().as_str()
        ));
    }
    if let Some(host) = uri.authority().map(|a| a.host().to_string()) {
        if !host.is_empty() && host != "localhost" {
            return Err(format!(
                "{} is a file on another machine ({host}): HeapLens runs files on disk",
                uri.as_str()
            ));
        }
    }
    // Decoded byte for byte: a file name need not be UTF-8 (`caf%E9.py`), and a lossy
    // decoding would name another file.
    let encoded = uri.path().as_str();
    percent_decode(encoded)
        .filter(|bytes| bytes.starts_with(b"/"))
        .and_then(path_from_bytes)
        .ok_or_else(|| format!("{} is not a file path", uri.as_str()))
}

/// A decoded URI path as a path of this system: on Unix the bytes as they are.
#[cfg(unix)]
fn path_from_bytes(bytes: Vec<u8>) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    Some(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
}

/// A decoded URI path as a path of this system: elsewhere (Windows) file names are Unicode, so
/// the bytes must be UTF-8, and `/c:/x.py` names `c:/x.py`.
#[cfg(not(unix))]
fn path_from_bytes(bytes: Vec<u8>) -> Option<PathBuf> {
    let text = String::from_utf8(bytes).ok()?;
    Some(PathBuf::from(without_slash_before_drive(&text)))
}

/// `/c:/x.py` → `c:/x.py` (a Windows drive path in a file URI); any other path unchanged.
#[cfg(any(not(unix), test))]
fn without_slash_before_drive(path: &str) -> &str {
    let bytes = path.as_bytes();
    let drive = bytes.len() >= 3
        && bytes[0] == b'/'
        && bytes[1].is_ascii_alphabetic()
        && bytes[2] == b':'
        && bytes.get(3).is_none_or(|&b| b == b'/');
    if drive {
        &path[1..]
    } else {
        path
    }
}

/// `%XX` escapes decoded to their bytes (`None` for a malformed escape).
fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    Some(bytes)
}

/// Reads at most `limit` bytes of the regular file at `path`, refusing anything else (a FIFO
/// or a device would block or never end). Blocking: call it off the request path.
pub(super) fn read_regular_file(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{shown} does not exist"),
        std::io::ErrorKind::PermissionDenied => {
            format!("{shown} cannot be read (permission denied)")
        }
        _ => format!("cannot read {shown}: {e}"),
    })?;
    if meta.is_dir() {
        return Err(format!("{shown} is a folder, not a file"));
    }
    if !meta.is_file() {
        return Err(format!(
            "{shown} is not a regular file (a pipe or a device); HeapLens reads only files"
        ));
    }
    if meta.len() > limit {
        return Err(format!(
            "{shown} is {} bytes, more than the {limit} bytes HeapLens reads",
            meta.len()
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open {shown}: {e}"))?;
    let mut bytes = Vec::new();
    // The size can change between the check and the read: never read more than the limit.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "{shown} grew beyond {limit} bytes while being read"
        ));
    }
    Ok(bytes)
}

/// Runs blocking file work on tokio's blocking pool, so no request waits on a slow disk.
pub(super) async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(format!("HeapLens bug while reading a file: {e}")))
}

/// The source of `uri`: the open document's text, else the file on disk (read off the
/// request path, checked).
async fn script_source(backend: &Backend, uri: &Uri) -> Result<String, String> {
    if let Some(text) = backend.state().documents.get(uri).map(|d| d.text.clone()) {
        return Ok(text);
    }
    let path = file_path(uri)?;
    let bytes = off_thread(move || read_regular_file(&path, MAX_SCRIPT_BYTES)).await?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{} is not UTF-8 text (byte {}): MicroPython needs UTF-8 source",
            uri.as_str(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// The project a file belongs to: the deepest workspace folder holding it, else its own
/// folder.
pub(super) fn project_root(folders: &[PathBuf], file: &Path) -> PathBuf {
    folders
        .iter()
        .filter(|folder| file.starts_with(folder))
        .max_by_key(|folder| folder.components().count())
        .cloned()
        .unwrap_or_else(|| {
            file.parent()
                .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
        })
}

/// The script of `uri` as part of its project (read off the request path). A workspace folder
/// too big to be a MicroPython project gives way to the script's own folder. A document that
/// is not a file on disk runs alone.
async fn project_script(
    backend: &Backend,
    uri: &Uri,
    source: String,
) -> Result<(Script, Option<RunProject>), String> {
    let Ok(path) = file_path(uri) else {
        let name = uri
            .path()
            .as_str()
            .rsplit('/')
            .next()
            .unwrap_or("script.py")
            .to_string();
        return Ok((Script::lone(source, name), None));
    };
    let folders = backend.state().workspace_folders.clone();
    let root = project_root(&folders, &path);
    let scanned = off_thread(move || {
        let project = match Project::scan(&root) {
            Ok(project) => project,
            Err(first) => {
                let own = path.parent().map(Path::to_path_buf);
                match own.filter(|own| *own != root) {
                    Some(own) => Project::scan(&own).map_err(|_| first.to_string())?,
                    None => return Err(first.to_string()),
                }
            }
        };
        Ok((project, path))
    })
    .await?;
    let (project, path) = scanned;
    let file = project.relative(&path).unwrap_or_else(|| {
        path.file_name().map_or("script.py".to_string(), |n| {
            n.to_string_lossy().into_owned()
        })
    });
    // The run copies and measures the editor's text of the script.
    let project = if project.file(&file).is_some() {
        project.with_file(&file, source.as_bytes().to_vec())
    } else {
        project
    };
    let target = RunProject {
        root: project.root().to_path_buf(),
        script_file: file.clone(),
    };
    Ok((
        Script {
            source,
            file,
            project: Some(Arc::new(project)),
        },
        Some(target),
    ))
}

/// How to run a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RunKind {
    /// With probes and heap captures (`heaplens.runFile`, a save).
    Measured,
    /// As it is, like `mpremote run` (`heaplens.runPlain`).
    Plain,
}

/// Starts a run of `uri`; its outcome arrives as `heaplens/jobFinished` (after its output
/// and snapshots). A run in progress is superseded (stopped).
pub(super) async fn start_run(backend: &Backend, uri: Uri, kind: RunKind) -> RpcResult<JobStarted> {
    if backend.state().untrusted {
        return Err(coded(
            ErrorCode::Untrusted,
            "this workspace is not trusted: HeapLens runs no code from it until you trust it",
        ));
    }
    let source = script_source(backend, &uri)
        .await
        .map_err(|e| coded(ErrorCode::UnreadableFile, e))?;
    let (script, target) = project_script(backend, &uri, source)
        .await
        .map_err(|e| coded(ErrorCode::UnreadableFile, e))?;
    let (job_id, job, previous) = {
        let mut st = backend.state();
        let job_id = st.new_job_id();
        let cancel = CancelToken::new();
        st.run_uris.insert(job_id, uri.clone());
        if let Some(target) = target {
            st.run_projects.insert(job_id, target);
        }
        let previous = st.current.replace(CurrentRun {
            run_id: job_id,
            uri: uri.clone(),
            cancel: cancel.clone(),
        });
        let s = &st.settings;
        let job = match kind {
            RunKind::Measured => Job::Run {
                job_id,
                script: Box::new(script),
                options: RunOptions {
                    exact: s.exact,
                    soft_reset: s.soft_reset_before_run,
                    timeout: s.run_timeout(),
                    thresholds: s.diagnose_thresholds(),
                    trace_allocations: s.trace_allocations,
                    sampling: s.sample_executions.sampling(),
                    // The editor has no terminal for the script: input() ends at once.
                    input: None,
                    sample_every_ms: s.timeline_interval_ms(),
                },
                cancel,
                allow_unsandboxed: st.unsandboxed_allowed,
            },
            RunKind::Plain => Job::PlainRun {
                job_id,
                script: Box::new(script),
                soft_reset: s.soft_reset_before_run,
                timeout: s.run_timeout(),
                cancel,
                allow_unsandboxed: st.unsandboxed_allowed,
            },
        };
        (job_id, job, previous)
    };
    // A new run supersedes the one in progress: Ctrl-C it; the worker runs ours next.
    if let Some(previous) = previous {
        previous.cancel.cancel();
    }
    tracing::info!(job_id, uri = uri.as_str(), "run queued");
    if kind == RunKind::Measured {
        spawn_progress(backend, job_id);
    }
    if backend.worker.send(job).is_err() {
        let mut st = backend.state();
        st.current = None;
        st.run_uris.remove(&job_id);
        st.run_projects.remove(&job_id);
        st.progress.remove(&job_id);
        drop(st);
        return Err(coded(ErrorCode::Internal, "the board worker has stopped"));
    }
    Ok(JobStarted { job_id })
}

/// Shows a cancellable progress for run `job_id`: the forwarder sends it the run's phases
/// and, at the run's end, closes the channel. One task owns the progress, so a phase can
/// never be reported before the progress began. Clients without server-initiated progress
/// simply get none.
fn spawn_progress(backend: &Backend, job_id: u64) {
    let (phases_tx, mut phases) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    backend.state().progress.insert(job_id, phases_tx);
    let client = backend.client.clone();
    tokio::spawn(async move {
        let token = to_proto::run_progress_token(job_id);
        if client
            .create_work_done_progress(token.clone())
            .await
            .is_err()
        {
            return;
        }
        let progress = client
            .progress(token, "HeapLens: run with heap capture")
            .with_cancel_button()
            .with_message("connecting")
            .begin()
            .await;
        while let Some(phase) = phases.recv().await {
            progress.report_with_message(phase, Some(true)).await;
        }
        progress.finish().await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_of(uri: &str) -> Result<PathBuf, String> {
        file_path(&uri.parse::<Uri>().expect("a URI"))
    }

    #[test]
    fn file_uris_decode_to_the_bytes_of_their_path() {
        use std::os::unix::ffi::OsStrExt;
        let path = path_of("file:///tmp/caf%E9%20x.py").expect("a path");
        assert_eq!(path.as_os_str().as_bytes(), b"/tmp/caf\xe9 x.py");
        assert_eq!(
            path_of("file://localhost/a/b.py").expect("a path"),
            PathBuf::from("/a/b.py")
        );
        assert!(path_of("http://example.com/main.py")
            .is_err_and(|e| e.contains("is not a local file (scheme `http`)")));
        assert!(path_of("file://server/share/a.py").is_err_and(|e| e.contains("another machine")));
    }

    #[test]
    fn windows_drive_paths_lose_the_slash_of_the_uri() {
        assert_eq!(
            without_slash_before_drive("/c:/Users/a.py"),
            "c:/Users/a.py"
        );
        assert_eq!(without_slash_before_drive("/C:"), "C:");
        assert_eq!(without_slash_before_drive("/tmp/a.py"), "/tmp/a.py");
        assert_eq!(without_slash_before_drive("/cd:/a.py"), "/cd:/a.py");
    }
}
