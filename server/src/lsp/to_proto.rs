//! Conversions from HeapLens values to protocol types: ranges, diagnostics, hovers, inlay
//! hints, code lenses, error codes and JSON-RPC errors. Handlers call these and stay short.

use tower_lsp_server::jsonrpc::{Error as RpcError, ErrorCode as RpcCode};
use tower_lsp_server::ls_types::*;

use crate::board::LinkError;
use crate::diagnose::{Diagnostic as HlDiagnostic, Severity};
use crate::run::runner::RunError;

use super::ext::{ErrorCode, JobError, RunSummary};
use super::features::{self, FileRun};

/// A character offset meaning "end of the line": the largest the protocol allows (LSP's
/// `uinteger` stops at 2³¹ − 1); clients clamp it to the line's real length.
pub const LINE_END: u32 = i32::MAX as u32;

/// Whole lines `start..=end` (0-based).
pub fn line_range(start: u32, end: u32) -> Range {
    Range {
        start: Position {
            line: start,
            character: 0,
        },
        end: Position {
            line: end,
            character: LINE_END,
        },
    }
}

/// The start of the document.
pub fn top() -> Range {
    Range::default()
}

/// A run diagnostic (1-based lines) as an LSP diagnostic (0-based); `uri_of` gives the
/// document of a project file (for related lines, which may be in other files).
pub fn diagnostic(d: &HlDiagnostic, uri_of: &dyn Fn(&str) -> Option<Uri>) -> Diagnostic {
    let severity = match d.severity {
        Severity::Error => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
        Severity::Info => DiagnosticSeverity::INFORMATION,
    };
    let related: Vec<DiagnosticRelatedInformation> = d
        .related
        .iter()
        .filter_map(|r| {
            Some(DiagnosticRelatedInformation {
                location: Location {
                    uri: uri_of(&r.file)?,
                    range: line_range(r.line.saturating_sub(1), r.line.saturating_sub(1)),
                },
                message: r.message.clone(),
            })
        })
        .collect();
    Diagnostic {
        range: line_range(d.line.saturating_sub(1), d.end_line.saturating_sub(1)),
        severity: Some(severity),
        code: Some(NumberOrString::String(d.code.as_str().to_string())),
        source: Some("heaplens".into()),
        message: d.message.clone(),
        related_information: (!related.is_empty()).then_some(related),
        ..Default::default()
    }
}

/// Markdown hover contents.
pub fn hover(markdown: String) -> Hover {
    Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: markdown,
        }),
        range: None,
    }
}

/// Inlay hints at the end of each hinted line of `run` within `range`. `line_lengths` are the
/// document's line lengths in UTF-16 units.
pub fn inlay_hints(
    run: &FileRun,
    hint_bytes: u64,
    range: Range,
    line_lengths: &[u32],
) -> Vec<InlayHint> {
    features::hinted_lines(run, hint_bytes.max(1))
        .filter_map(|l| {
            let line = l.line.checked_sub(1)?;
            (range.start.line <= line && line <= range.end.line).then(|| InlayHint {
                position: Position {
                    line,
                    character: line_lengths.get(line as usize).copied().unwrap_or(0),
                },
                label: InlayHintLabel::String(features::line_label(l)),
                kind: None,
                text_edits: None,
                tooltip: None,
                padding_left: Some(true),
                padding_right: None,
                data: None,
            })
        })
        .collect()
}

/// The code lenses of a Python document: run, capture, and the last run's summary.
pub fn code_lenses(uri: &Uri, last_run: Option<&FileRun>) -> Vec<CodeLens> {
    let lens = |title: String, command: &str, arguments: Option<Vec<serde_json::Value>>| CodeLens {
        range: top(),
        command: Some(Command {
            title,
            command: command.into(),
            arguments,
        }),
        data: None,
    };
    let mut lenses = vec![
        lens(
            "▶ Run with heap capture".into(),
            "heaplens.runFile",
            Some(vec![serde_json::json!(uri.as_str())]),
        ),
        lens("Capture heap".into(), "heaplens.captureHeap", None),
    ];
    if let Some(run) = last_run {
        lenses.push(lens(
            features::lens_summary(run),
            "heaplens.showHeapMap",
            None,
        ));
    }
    lenses
}

/// The progress token of run `run_id`.
pub fn run_progress_token(run_id: u64) -> NumberOrString {
    NumberOrString::String(format!("heaplens/run/{run_id}"))
}

/// What a client can act on for a failed board job.
pub fn error_code(error: &RunError) -> ErrorCode {
    match error {
        RunError::Link(link) => match link {
            LinkError::PortBusy { .. } => ErrorCode::PortBusy,
            LinkError::PermissionDenied { .. } => ErrorCode::PermissionDenied,
            LinkError::PortNotFound { .. } | LinkError::SerialNumberNotFound { .. } => {
                ErrorCode::PortNotFound
            }
            LinkError::Open { .. } => ErrorCode::OpenFailed,
            LinkError::Disconnected { .. } | LinkError::Io { .. } => ErrorCode::Disconnected,
            LinkError::Timeout { .. } => ErrorCode::Timeout,
            LinkError::Protocol { .. } => ErrorCode::Protocol,
            LinkError::Raised { .. } => ErrorCode::BoardRaised,
            LinkError::Cancelled | LinkError::StopIgnored { .. } => ErrorCode::Cancelled,
            LinkError::SimulatorMissing => ErrorCode::SimulatorMissing,
            LinkError::SimulatorUnsupported { .. } => ErrorCode::SimulatorUnsupported,
            LinkError::Simulator(_) => ErrorCode::SimulatorFailed,
            LinkError::NotSandboxed { .. } => ErrorCode::NotSandboxed,
        },
        RunError::Dump(_) => ErrorCode::UnreadableDump,
        RunError::Probes(_) => ErrorCode::Probes,
        RunError::Stopped(_) => ErrorCode::Cancelled,
    }
}

/// A failed job's error, as `heaplens/jobFinished` carries it.
pub fn job_error(error: &RunError) -> JobError {
    JobError {
        code: error_code(error),
        message: error.to_string(),
    }
}

/// The summary `heaplens/jobFinished` carries for a finished run.
pub fn run_summary(report: &crate::run::runner::RunReport) -> RunSummary {
    RunSummary {
        exception: report.exception.clone(),
        system_exit: report.system_exit,
        diagnostics: report.diagnostics.len(),
        gc_collections: report.gc_collections,
        interrupted: report.interrupted,
        timed_out: report.timed_out,
        instrumented: report.instrumented,
        not_instrumented: report.not_instrumented.clone(),
        elapsed_ms: u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
        copied: report.copied.clone(),
        files: features::run_files(report),
    }
}

/// A JSON-RPC error for a request the server cannot carry out (bad arguments, missing file):
/// the user should read `message`.
pub fn invalid(message: impl Into<String>) -> RpcError {
    RpcError {
        code: RpcCode::InvalidParams,
        message: message.into().into(),
        data: None,
    }
}

/// A JSON-RPC error with a HeapLens error code in `data.code`, so clients switch on it.
pub fn coded(code: ErrorCode, message: impl Into<String>) -> RpcError {
    RpcError {
        code: RpcCode::ServerError(1),
        message: message.into().into(),
        data: Some(serde_json::json!({ "code": code })),
    }
}

/// A heap timeline sample on the wire.
pub fn timeline_sample(sample: &crate::run::timeline::Sample) -> super::ext::TimelineSample {
    super::ext::TimelineSample {
        t_ms: sample.t_ms,
        used: sample.used,
        free: sample.free,
        max_free: sample.max_free,
    }
}
