//! `heaplens check`'s domain: heap budgets (`budget.rs`), the project's budget file
//! (`config.rs`), and the results of a check as text, JSON and JUnit XML (this file).
//!
//! Knows nothing of boards, processes, files or the terminal: `cli/check_cmd.rs` runs the
//! scripts and hands their reports here.

pub mod budget;
pub mod config;

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Value};

pub use budget::{evaluate, parse_size, Budgets, Figures, Violation};

use crate::diagnose::human_bytes;

/// How one script's check ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The script ran to its end (or to a MemoryError); `violations` empty means within budget.
    Ran {
        figures: Box<Figures>,
        violations: Vec<Violation>,
        /// What the script printed.
        output: String,
    },
    /// The script could not be run or judged (the board failed, it raised something other
    /// than MemoryError, it timed out); the reason says which.
    Error { reason: String },
}

/// One script's result. Paths are as the user wrote them (relative to the working folder),
/// so `file:line` points at the file from where `check` ran.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptResult {
    pub script: String,
    pub budgets: Budgets,
    pub elapsed: Duration,
    pub outcome: Outcome,
}

/// A script's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    OverBudget,
    Error,
}

impl Verdict {
    /// The word in the table and the JSON.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::OverBudget => "over budget",
            Verdict::Error => "error",
        }
    }
}

impl ScriptResult {
    pub fn verdict(&self) -> Verdict {
        match &self.outcome {
            Outcome::Ran { violations, .. } if violations.is_empty() => Verdict::Ok,
            Outcome::Ran { .. } => Verdict::OverBudget,
            Outcome::Error { .. } => Verdict::Error,
        }
    }

    fn figures(&self) -> Option<&Figures> {
        match &self.outcome {
            Outcome::Ran { figures, .. } => Some(figures),
            Outcome::Error { .. } => None,
        }
    }

    fn violations(&self) -> &[Violation] {
        match &self.outcome {
            Outcome::Ran { violations, .. } => violations,
            Outcome::Error { .. } => &[],
        }
    }
}

/// The exit code of a check: 2 when a script could not run, else 1 when any is over budget,
/// else 0.
pub fn exit_code(results: &[ScriptResult]) -> u8 {
    let verdicts: Vec<Verdict> = results.iter().map(ScriptResult::verdict).collect();
    if verdicts.contains(&Verdict::Error) {
        2
    } else if verdicts.contains(&Verdict::OverBudget) {
        1
    } else {
        0
    }
}

/// `script:line: message` for every violation, and `script: error: reason` for every script
/// that could not run: the form editors and CI problem matchers annotate.
pub fn problem_lines(results: &[ScriptResult]) -> String {
    let mut out = String::new();
    for result in results {
        match &result.outcome {
            Outcome::Ran { violations, .. } => {
                for v in violations {
                    let _ = writeln!(out, "{}:{}: {}", v.file, v.line, v.message);
                }
            }
            Outcome::Error { reason } => {
                let _ = writeln!(out, "{}: error: {reason}", result.script);
            }
        }
    }
    out
}

fn size_cell(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "—".to_string(), human_bytes)
}

/// The summary table: script, peak, after gc, longest free run, verdict, and a total line.
pub fn summary_table(results: &[ScriptResult]) -> String {
    let width = results
        .iter()
        .map(|r| r.script.chars().count())
        .max()
        .unwrap_or(0)
        .max("script".len());
    let mut out = format!(
        "{:<width$}  {:>10}  {:>10}  {:>16}  {}\n",
        "script", "peak", "after gc", "longest free run", "verdict"
    );
    for r in results {
        let f = r.figures();
        let verdict = match r.verdict() {
            Verdict::OverBudget => format!("over budget ({})", r.violations().len()),
            v => v.word().to_string(),
        };
        let _ = writeln!(
            out,
            "{:<width$}  {:>10}  {:>10}  {:>16}  {verdict}",
            r.script,
            size_cell(f.and_then(|f| f.peak_bytes)),
            size_cell(f.and_then(|f| f.after_gc_bytes)),
            size_cell(f.and_then(|f| f.free_run_bytes)),
        );
    }
    let count = |v: Verdict| results.iter().filter(|r| r.verdict() == v).count();
    let _ = writeln!(
        out,
        "{} checked: {} within budget, {} over budget, {} could not run",
        results.len(),
        count(Verdict::Ok),
        count(Verdict::OverBudget),
        count(Verdict::Error)
    );
    out
}

/// The JSON summary of `check --json`.
pub fn to_json(results: &[ScriptResult]) -> Value {
    let scripts: Vec<Value> = results
        .iter()
        .map(|r| {
            let f = r.figures();
            json!({
                "script": r.script,
                "verdict": match r.verdict() {
                    Verdict::Ok => "ok",
                    Verdict::OverBudget => "over_budget",
                    Verdict::Error => "error",
                },
                "budgets": r.budgets,
                "figures": f.map(|f| json!({
                    "peak_bytes": f.peak_bytes,
                    "peak_line": f.peak_place,
                    "after_gc_bytes": f.after_gc_bytes,
                    "longest_free_run_bytes": f.free_run_bytes,
                    "heap_bytes": f.heap_bytes,
                    "memory_error": f.memory_error.as_ref().map(|(_, text)| text),
                })),
                "violations": r.violations(),
                "error": match &r.outcome {
                    Outcome::Error { reason } => Some(reason),
                    Outcome::Ran { .. } => None,
                },
                "elapsed_seconds": r.elapsed.as_secs_f64(),
            })
        })
        .collect();
    let count = |v: Verdict| results.iter().filter(|r| r.verdict() == v).count();
    json!({
        "scripts": scripts,
        "checked": results.len(),
        "ok": count(Verdict::Ok),
        "over_budget": count(Verdict::OverBudget),
        "errors": count(Verdict::Error),
        "exit_code": exit_code(results),
    })
}

/// Text for XML content or an attribute value: markup escaped, and the characters XML 1.0
/// cannot hold at all (most control characters, which a script may print) replaced by U+FFFD.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one `testsuite` ("heaplens check") with a `testcase` per script, a `failure`
/// per violation, an `error` for a script that could not run, the figures and budgets as
/// `properties` (bytes), and the script's output as `system-out`.
pub fn junit_xml(results: &[ScriptResult]) -> String {
    let count = |v: Verdict| results.iter().filter(|r| r.verdict() == v).count();
    let total: f64 = results.iter().map(|r| r.elapsed.as_secs_f64()).sum();
    let failures: usize = results.iter().map(|r| r.violations().len()).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"heaplens check\" tests=\"{}\" failures=\"{failures}\" errors=\"{}\" time=\"{total:.3}\">",
        results.len(),
        count(Verdict::Error),
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"heaplens check\" tests=\"{}\" failures=\"{failures}\" errors=\"{}\" skipped=\"0\" time=\"{total:.3}\">",
        results.len(),
        count(Verdict::Error),
    );
    for r in results {
        let _ = writeln!(
            out,
            "    <testcase name=\"{}\" classname=\"heaplens.check\" file=\"{}\" time=\"{:.3}\">",
            xml_escape(&r.script),
            xml_escape(&r.script),
            r.elapsed.as_secs_f64()
        );
        let mut properties: Vec<(String, String)> = Vec::new();
        if let Some(f) = r.figures() {
            for (name, value) in [
                ("peak_bytes", f.peak_bytes),
                ("after_gc_bytes", f.after_gc_bytes),
                ("longest_free_run_bytes", f.free_run_bytes),
                ("heap_bytes", f.heap_bytes),
            ] {
                if let Some(value) = value {
                    properties.push((name.to_string(), value.to_string()));
                }
            }
            if let Some(place) = &f.peak_place {
                properties.push(("peak_line".into(), place.line.to_string()));
            }
        }
        let b = &r.budgets;
        for (name, value) in [
            ("budget.max_peak", b.max_peak),
            ("budget.max_after_gc", b.max_after_gc),
            ("budget.min_free_run", b.min_free_run),
            ("budget.max_line", b.max_line),
        ] {
            if let Some(value) = value {
                properties.push((name.to_string(), value.to_string()));
            }
        }
        if !properties.is_empty() {
            out.push_str("      <properties>\n");
            for (name, value) in properties {
                let _ = writeln!(
                    out,
                    "        <property name=\"{name}\" value=\"{}\"/>",
                    xml_escape(&value)
                );
            }
            out.push_str("      </properties>\n");
        }
        match &r.outcome {
            Outcome::Ran {
                violations, output, ..
            } => {
                for v in violations {
                    let _ = writeln!(
                        out,
                        "      <failure message=\"{}\" type=\"{}\">{}:{}: {}</failure>",
                        xml_escape(&v.message),
                        v.budget.flag(),
                        xml_escape(&v.file),
                        v.line,
                        xml_escape(&v.message)
                    );
                }
                if !output.is_empty() {
                    let _ = writeln!(out, "      <system-out>{}</system-out>", xml_escape(output));
                }
            }
            Outcome::Error { reason } => {
                let _ = writeln!(
                    out,
                    "      <error message=\"{}\" type=\"could not run\">{}</error>",
                    xml_escape(reason),
                    xml_escape(reason)
                );
            }
        }
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::budget::{Budget, Place};
    use super::*;

    fn results() -> Vec<ScriptResult> {
        let figures = Figures {
            script_file: "a.py".into(),
            peak_bytes: Some(70_000),
            peak_place: Some(Place {
                file: "a.py".into(),
                line: 4,
            }),
            after_gc_bytes: Some(40_000),
            free_run_bytes: Some(150_000),
            heap_bytes: Some(232_960),
            ..Figures::default()
        };
        let budgets = Budgets {
            max_peak: Some(65536),
            ..Budgets::default()
        };
        vec![
            ScriptResult {
                script: "ok.py".into(),
                budgets,
                elapsed: Duration::from_millis(1500),
                outcome: Outcome::Ran {
                    figures: Box::new(Figures {
                        peak_bytes: Some(1000),
                        ..figures.clone()
                    }),
                    violations: vec![],
                    output: "hi <there> & \u{1b}[0m\n".into(),
                },
            },
            ScriptResult {
                script: "big & bad.py".into(),
                budgets,
                elapsed: Duration::from_millis(250),
                outcome: Outcome::Ran {
                    violations: evaluate(&figures, &budgets)
                        .into_iter()
                        .map(|v| Violation {
                            file: "big & bad.py".into(),
                            ..v
                        })
                        .collect(),
                    figures: Box::new(figures),
                    output: String::new(),
                },
            },
            ScriptResult {
                script: "broken.py".into(),
                budgets: Budgets::default(),
                elapsed: Duration::ZERO,
                outcome: Outcome::Error {
                    reason: "ValueError: nope".into(),
                },
            },
        ]
    }

    #[test]
    fn exit_codes() {
        let all = results();
        assert_eq!(exit_code(&all[..1]), 0);
        assert_eq!(exit_code(&all[..2]), 1);
        assert_eq!(exit_code(&all), 2);
        assert_eq!(exit_code(&[]), 0);
    }

    #[test]
    fn text_outputs() {
        let all = results();
        insta::assert_snapshot!(problem_lines(&all), @r"
        big & bad.py:4: peak heap use 68.4 KiB (70,000 bytes) over budget 64.0 KiB (65,536 bytes)
        broken.py: error: ValueError: nope
        ");
        insta::assert_snapshot!(summary_table(&all), @r"
        script              peak    after gc  longest free run  verdict
        ok.py             1000 B    39.1 KiB         146.5 KiB  ok
        big & bad.py    68.4 KiB    39.1 KiB         146.5 KiB  over budget (1)
        broken.py              —           —                 —  error
        3 checked: 1 within budget, 1 over budget, 1 could not run
        ");
    }

    #[test]
    fn junit_escapes_and_counts() {
        let xml = junit_xml(&results());
        insta::assert_snapshot!(xml);
        assert!(!xml.contains('\u{1b}'));
    }

    #[test]
    fn json_names_verdicts_and_violations() {
        let value = to_json(&results());
        assert_eq!(value["exit_code"], 2);
        assert_eq!(value["over_budget"], 1);
        assert_eq!(value["scripts"][1]["verdict"], "over_budget");
        assert_eq!(value["scripts"][1]["violations"][0]["budget"], "max-peak");
        assert_eq!(value["scripts"][1]["violations"][0]["actual"], 70_000);
        assert_eq!(value["scripts"][1]["figures"]["peak_line"]["line"], 4);
        assert_eq!(value["scripts"][2]["error"], "ValueError: nope");
        assert_eq!(value["scripts"][0]["budgets"]["max_peak"], 65536);
        let _ = Budget::MaxPeak;
    }
}
