//! The shareable HTML report of a run (`heaplens run --html FILE`, `heaplens check --html DIR`):
//! one self-contained file. The page's script is the extension's webview renderer bundled by
//! esbuild (`extension/src/webview/report.ts` → `server/assets/report.js`, checked fresh by
//! an extension unit test), so the maps are drawn exactly as in the editor; the run's data is
//! embedded as JSON. No external scripts, styles or fonts: it opens offline in any browser.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::check::{Outcome, ScriptResult};
use crate::heap::Snapshot;
use crate::run::runner::RunReport;

const REPORT_JS: &str = include_str!("../../assets/report.js");
const REPORT_CSS: &str = include_str!("../../assets/report.css");

/// A snapshot's drawing data (the wire `Snapshot`'s `areas`, `blockBytes`, `stats`).
fn snapshot_json(name: &str, snapshot: &Snapshot) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    json!({
        "name": name,
        "blockBytes": snapshot.block_bytes,
        "stats": snapshot.stats(),
        "areas": snapshot.areas.iter().map(|area| json!({
            "address": area.address_hex(),
            "blocks": area.blocks.len(),
            "kinds": b64.encode(area.letters()),
        })).collect::<Vec<_>>(),
    })
}

/// The diff of two snapshots as the webview's diff mode draws it.
fn diff_json(before_name: &str, after_name: &str, before: &Snapshot, after: &Snapshot) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    let diff = crate::heap::diff(before, after);
    json!({
        "before": before_name,
        "after": after_name,
        "areas": diff.areas.iter().map(|area| json!({
            "address": area.address.map(|a| format!("{a:x}")).unwrap_or_default(),
            "blocks": area.blocks.len(),
            "codes": b64.encode(area.blocks.iter().map(|c| c.code()).collect::<Vec<u8>>()),
        })).collect::<Vec<_>>(),
    })
}

/// The run's heap timeline (`[{t_ms, used, free}]`), or `null` when the run recorded none:
/// `report.ts` (`timelineReadings`) draws it, and leaves the section out for `null`.
fn timeline_json(report: &RunReport) -> Value {
    let samples = report.timeline.samples();
    if samples.is_empty() {
        Value::Null
    } else {
        serde_json::to_value(samples).unwrap_or(Value::Null)
    }
}

/// The data the page draws.
pub fn report_data(
    report: &RunReport,
    source: &str,
    check: Option<&ScriptResult>,
    command: &str,
) -> Value {
    let s = &report.snapshots;
    let after_name = if report.exception.is_some() {
        "at failure"
    } else if report.interrupted {
        "at stop"
    } else {
        "at end"
    };
    let mut snapshots = vec![snapshot_json("before", &s.before)];
    if let Some(after) = &s.after {
        snapshots.push(snapshot_json(after_name, after));
    }
    if let Some(after_gc) = &s.after_gc {
        snapshots.push(snapshot_json("after gc", after_gc));
    }
    let diff = s
        .after_gc
        .as_ref()
        .map(|gc| diff_json("before", "after gc", &s.before, gc))
        .or_else(|| {
            s.after
                .as_ref()
                .map(|a| diff_json("before", after_name, &s.before, a))
        });
    let source_lines: Vec<&str> = source.lines().collect();
    let lines: Vec<Value> = report
        .lines
        .iter()
        .filter(|l| l.hits > 0)
        .map(|l| {
            let text = if l.file == report.script_file {
                source_lines
                    .get((l.line as usize).saturating_sub(1))
                    .map_or("", |t| t.trim())
            } else {
                ""
            };
            json!({
                "file": l.file, "line": l.line, "hits": l.hits,
                "allocated": l.allocated_bytes, "net": l.net_bytes,
                "largest": l.max_single_bytes, "estimated": l.estimated_bytes,
                "source": text.chars().take(80).collect::<String>(),
            })
        })
        .collect();
    let diagnostics: Vec<Value> = report
        .diagnostics
        .iter()
        .map(|d| {
            json!({
                "file": d.file, "line": d.line,
                "severity": match d.severity {
                    crate::diagnose::Severity::Error => "error",
                    crate::diagnose::Severity::Warning => "warning",
                    crate::diagnose::Severity::Info => "note",
                },
                "code": d.code.as_str(), "message": d.message,
            })
        })
        .collect();
    let mut notes = Vec::new();
    if let Some(why) = &report.not_instrumented {
        notes.push(format!("The script ran without probes: {why}"));
    }
    if report.lines.iter().any(|l| l.estimated_bytes > 0) {
        notes.push(
            "≈ includes an estimate: later executions of a line are estimated from the bytes \
             they requested (--sample=0 measures every execution). Hits are always exact."
                .to_string(),
        );
    }
    let check = check.map(|r| {
        let violations: Vec<Value> = match &r.outcome {
            Outcome::Ran { violations, .. } => violations
                .iter()
                .map(|v| json!({"file": v.file, "line": v.line, "message": v.message}))
                .collect(),
            Outcome::Error { reason } => {
                vec![json!({"file": r.script, "line": 1, "message": reason})]
            }
        };
        json!({ "verdict": r.verdict().word(), "budgets": r.budgets, "violations": violations })
    });
    json!({
        "script": report.script_file,
        "generated": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        "command": command,
        "snapshots": snapshots,
        "diff": diff,
        "lines": lines,
        "diagnostics": diagnostics,
        "peak": report.peak.as_ref().map(|p| json!({"used": p.used, "file": p.file, "line": p.line})),
        "exception": report.exception,
        "traceback": report.traceback,
        "output": report.output,
        "notes": notes,
        "check": check,
        "timeline": timeline_json(report),
    })
}

/// Text safe inside a `<script>` element: no `<` at all (so no `</script>` or `<!--`), which
/// JSON and JavaScript both accept as `\u003c` inside strings.
fn script_safe(text: &str) -> String {
    text.replace('<', "\\u003c")
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The whole page.
pub fn report_html(report: &RunReport, source: &str, check: Option<&ScriptResult>) -> String {
    let command = if check.is_some() {
        "heaplens check"
    } else {
        "heaplens run"
    };
    let data = report_data(report, source, check, command);
    let json = serde_json::to_string(&data).unwrap_or_else(|_| "null".to_string());
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n\
         <title>HeapLens — {title}</title>\n<style>\n{REPORT_CSS}</style>\n</head>\n<body>\n\
         <main id=\"report\"></main>\n\
         <noscript>This report draws its heap maps with JavaScript.</noscript>\n\
         <script id=\"heaplens-report\" type=\"application/json\">{data}</script>\n\
         <script>\n{script}</script>\n</body>\n</html>\n",
        title = html_escape(&report.script_file),
        data = script_safe(&json),
        script = script_safe_js(REPORT_JS),
    )
}

/// The bundle, made safe to inline: esbuild already escapes `</script` in string literals;
/// this makes sure of it.
fn script_safe_js(js: &str) -> String {
    js.replace("</script", "<\\/script")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_text_cannot_end_the_script_element() {
        let json =
            serde_json::to_string(&json!({"output": "</script><script>alert(1)</script><!--"}))
                .unwrap();
        let safe = script_safe(&json);
        assert!(!safe.contains('<'));
        let back: Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["output"], "</script><script>alert(1)</script><!--");
    }

    #[test]
    fn the_bundle_is_embedded_and_refers_to_nothing_outside() {
        assert!(REPORT_JS.contains("heaplens-report"));
        for outside in ["http://", "https://", "@import", "url("] {
            assert!(!REPORT_CSS.contains(outside), "{outside} in report.css");
        }
        assert!(!script_safe_js(REPORT_JS).contains("</script"));
    }
}
