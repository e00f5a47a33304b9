//! Heap budgets and the verdict of one run against them.
//!
//! Pure: sizes are parsed from text, figures come in as plain numbers ([`Figures`], built from
//! a `RunReport` by [`Figures::from_report`]), violations go out as values. Printing, files
//! and boards belong to `cli/check_cmd.rs`.

use serde::Serialize;

use crate::diagnose::{human_bytes, thousands, Code};
use crate::run::runner::RunReport;

/// A size that is not one: names the text and the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a size: use bytes (65536), K (64K) or M (1.5M); K = 1024 bytes")]
pub struct SizeError {
    /// The text as written.
    pub text: String,
}

/// Parses a size: plain bytes (`65536`), or a number with `K`/`KB`/`KiB` or `M`/`MB`/`MiB`
/// (binary units, as every HeapLens figure: `64K` is 65,536 bytes), optionally with a `B`
/// suffix for bytes (`512B`). Fractions are allowed with a unit (`1.5M`), and round down to a
/// whole byte. Underscores and thousands separators (`65_536`, `65,536`) are accepted.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let error = || SizeError {
        text: text.to_string(),
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_' || c == ','))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: String = number.chars().filter(|c| *c != '_' && *c != ',').collect();
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        _ => return Err(error()),
    };
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(error());
    }
    if let Ok(whole) = number.parse::<u64>() {
        return whole.checked_mul(multiplier).ok_or_else(error);
    }
    // A fraction: only meaningful with a unit (half a byte is not a size).
    let value: f64 = number.parse().map_err(|_| error())?;
    if multiplier == 1 || !value.is_finite() {
        return Err(error());
    }
    let bytes = value * multiplier as f64;
    if bytes >= u64::MAX as f64 {
        return Err(error());
    }
    Ok(bytes as u64)
}

/// `65536` → `64 KiB (65,536 bytes)`: a budget or figure with its exact bytes.
fn exact(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else {
        format!("{} ({} bytes)", human_bytes(bytes), thousands(bytes))
    }
}

/// The budgets a script must meet. `None`: that figure is not checked. No MemoryError is
/// always checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Budgets {
    /// The highest heap use during the run (`--max-peak`).
    pub max_peak: Option<u64>,
    /// Heap use after the run's final `gc.collect()` (`--max-after-gc`).
    pub max_after_gc: Option<u64>,
    /// The longest free run after the final collection must be at least this (`--min-free-run`).
    pub min_free_run: Option<u64>,
    /// Bytes any one line may allocate over the whole run (`--max-line`).
    pub max_line: Option<u64>,
}

impl Budgets {
    /// These budgets with every budget `over` sets replacing ours (flags over a file, a
    /// script's table over the file's).
    pub fn overridden_by(self, over: Budgets) -> Budgets {
        Budgets {
            max_peak: over.max_peak.or(self.max_peak),
            max_after_gc: over.max_after_gc.or(self.max_after_gc),
            min_free_run: over.min_free_run.or(self.min_free_run),
            max_line: over.max_line.or(self.max_line),
        }
    }
}

/// A place in the project: a file (relative to the project root) and a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Place {
    pub file: String,
    pub line: u32,
}

/// A line's allocation over the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineFigure {
    pub file: String,
    pub line: u32,
    pub allocated_bytes: u64,
}

/// What a run measured, as budgets read it. `None`: the run could not measure that figure.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Figures {
    /// The script's file (relative to the project root): where figures without a line go.
    pub script_file: String,
    /// The highest heap use measured: the probes' peak, or a snapshot after the run when
    /// that is higher. `None` when the script ran without probes.
    pub peak_bytes: Option<u64>,
    /// The line whose execution reached the peak.
    pub peak_place: Option<Place>,
    /// Heap use after the final collection.
    pub after_gc_bytes: Option<u64>,
    /// The longest free run after the final collection.
    pub free_run_bytes: Option<u64>,
    /// The total heap (GC total) of the board.
    pub heap_bytes: Option<u64>,
    /// Lines that allocated, with their bytes.
    pub lines: Vec<LineFigure>,
    /// Where a MemoryError was raised (the traceback's innermost user line) and its text.
    pub memory_error: Option<(Place, String)>,
    /// The line still holding the most bytes after the run (largest net growth): where a
    /// too-high after-gc figure is reported.
    pub most_retained: Option<Place>,
    /// The line that shrank the longest free run most (a fragmentation warning's line).
    pub most_fragmenting: Option<Place>,
}

impl Figures {
    /// The figures of a run.
    pub fn from_report(report: &RunReport) -> Figures {
        let after_gc = report.snapshots.after_gc.as_ref().map(|s| s.stats());
        let memory_error = report
            .diagnostics
            .iter()
            .find(|d| {
                matches!(
                    d.code,
                    Code::MemoryError
                        | Code::MemoryErrorFragmented
                        | Code::MemoryErrorHeapFull
                        | Code::MemoryErrorHeapLocked
                )
            })
            .map(|d| {
                (
                    Place {
                        file: d.file.clone(),
                        line: d.line,
                    },
                    report
                        .exception
                        .clone()
                        .unwrap_or_else(|| "MemoryError".to_string()),
                )
            })
            .or_else(|| {
                // A MemoryError with no diagnostic (no user line in its traceback) is still one.
                report
                    .exception
                    .as_deref()
                    .filter(|e| e.starts_with("MemoryError"))
                    .map(|e| {
                        (
                            Place {
                                file: report.script_file.clone(),
                                line: 1,
                            },
                            e.to_string(),
                        )
                    })
            });
        let most_retained = report
            .lines
            .iter()
            .filter(|l| l.net_bytes > 0)
            .max_by_key(|l| (l.net_bytes, std::cmp::Reverse(l.line)))
            .map(|l| Place {
                file: l.file.to_string(),
                line: l.line,
            });
        let most_fragmenting = report
            .diagnostics
            .iter()
            .find(|d| d.code == Code::Fragmentation)
            .map(|d| Place {
                file: d.file.clone(),
                line: d.line,
            });
        // The peak is the highest reading of the run: the probes' high-water mark, or a
        // snapshot after the run when that is higher (the probes read between lines; the
        // snapshots also hold what the last line left).
        let probe_peak = report.peak.as_ref();
        let peak_bytes = probe_peak.map(|p| p.used).map(|probes| {
            [
                report.snapshots.after.as_ref(),
                report.snapshots.after_gc.as_ref(),
            ]
            .into_iter()
            .flatten()
            .filter_map(|s| s.stats().used)
            .fold(probes, u64::max)
        });
        Figures {
            script_file: report.script_file.clone(),
            peak_bytes,
            // Where the probes saw the heap highest (a snapshot after the run that reads a
            // little higher holds what that line and the ones after it left), else the line
            // holding the most after the run.
            peak_place: probe_peak
                .and_then(|p| {
                    p.line.map(|line| Place {
                        file: p.file.clone().unwrap_or_else(|| report.script_file.clone()),
                        line,
                    })
                })
                .or_else(|| most_retained.clone()),
            after_gc_bytes: after_gc.as_ref().and_then(|s| s.used),
            free_run_bytes: after_gc.as_ref().and_then(|s| s.max_free_bytes),
            heap_bytes: report.snapshots.before.stats().gc_total,
            lines: report
                .lines
                .iter()
                .filter(|l| l.allocated_bytes > 0)
                .map(|l| LineFigure {
                    file: l.file.to_string(),
                    line: l.line,
                    allocated_bytes: l.allocated_bytes,
                })
                .collect(),
            memory_error,
            most_retained,
            most_fragmenting,
        }
    }
}

/// Which budget a violation broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Budget {
    MaxPeak,
    MaxAfterGc,
    MinFreeRun,
    MaxLine,
    NoMemoryError,
}

impl Budget {
    /// The flag (and file key) that sets it.
    pub fn flag(self) -> &'static str {
        match self {
            Budget::MaxPeak => "max-peak",
            Budget::MaxAfterGc => "max-after-gc",
            Budget::MinFreeRun => "min-free-run",
            Budget::MaxLine => "max-line",
            Budget::NoMemoryError => "no MemoryError",
        }
    }
}

/// One budget a run broke, at the line that broke it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub budget: Budget,
    /// Where: the responsible line (the script's first line when no line is responsible).
    pub file: String,
    pub line: u32,
    /// The figure measured (`None`: the run could not measure it).
    pub actual: Option<u64>,
    /// The budget's bytes (`None` for no MemoryError).
    pub limit: Option<u64>,
    /// `peak heap use 70.2 KiB (71,884 bytes) over budget 64.0 KiB (65,536 bytes)`.
    pub message: String,
}

/// Checks figures against budgets: every broken budget, in a fixed order (MemoryError, peak,
/// after gc, free run, then lines in the run's order). A figure the run could not measure
/// breaks its budget (a CI gate must not pass what it did not see).
pub fn evaluate(figures: &Figures, budgets: &Budgets) -> Vec<Violation> {
    let script_start = || Place {
        file: figures.script_file.clone(),
        line: 1,
    };
    let mut out = Vec::new();
    let mut push =
        |budget: Budget, place: Place, actual: Option<u64>, limit: Option<u64>, message: String| {
            out.push(Violation {
                budget,
                file: place.file,
                line: place.line,
                actual,
                limit,
                message,
            });
        };
    if let Some((place, text)) = &figures.memory_error {
        push(
            Budget::NoMemoryError,
            place.clone(),
            None,
            None,
            format!("{text} (a script must not raise MemoryError)"),
        );
    }
    let mut over = |budget: Budget,
                    name: &str,
                    actual: Option<u64>,
                    limit: u64,
                    place: Option<Place>,
                    why_unknown: &str| {
        match actual {
            Some(bytes) if bytes > limit => push(
                budget,
                place.unwrap_or_else(script_start),
                Some(bytes),
                Some(limit),
                format!("{name} {} over budget {}", exact(bytes), exact(limit)),
            ),
            Some(_) => {}
            None => push(
                budget,
                place.unwrap_or_else(script_start),
                None,
                Some(limit),
                format!(
                    "{name} unknown ({why_unknown}), so budget {} is not met",
                    exact(limit)
                ),
            ),
        }
    };
    if let Some(limit) = budgets.max_peak {
        over(
            Budget::MaxPeak,
            "peak heap use",
            figures.peak_bytes,
            limit,
            figures.peak_place.clone(),
            "the script ran without probes",
        );
    }
    if let Some(limit) = budgets.max_after_gc {
        over(
            Budget::MaxAfterGc,
            "heap use after gc",
            figures.after_gc_bytes,
            limit,
            figures.most_retained.clone(),
            "no snapshot after the run",
        );
    }
    if let Some(limit) = budgets.min_free_run {
        let place = figures
            .most_fragmenting
            .clone()
            .or_else(|| figures.most_retained.clone())
            .unwrap_or_else(script_start);
        match figures.free_run_bytes {
            Some(bytes) if bytes < limit => push(
                Budget::MinFreeRun,
                place,
                Some(bytes),
                Some(limit),
                format!(
                    "longest free run after gc {} under budget {}",
                    exact(bytes),
                    exact(limit)
                ),
            ),
            Some(_) => {}
            None => push(
                Budget::MinFreeRun,
                place,
                None,
                Some(limit),
                format!(
                    "longest free run after gc unknown (no snapshot after the run), so budget \
                     {} is not met",
                    exact(limit)
                ),
            ),
        }
    }
    if let Some(limit) = budgets.max_line {
        for line in figures.lines.iter().filter(|l| l.allocated_bytes > limit) {
            push(
                Budget::MaxLine,
                Place {
                    file: line.file.clone(),
                    line: line.line,
                },
                Some(line.allocated_bytes),
                Some(limit),
                format!(
                    "line allocated {} over budget {}",
                    exact(line.allocated_bytes),
                    exact(limit)
                ),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_bytes_k_m_and_fractions() {
        let cases = [
            ("65536", 65536),
            ("64K", 65536),
            ("64k", 65536),
            ("64KB", 65536),
            ("64 KiB", 65536),
            ("1.5M", 1_572_864),
            ("1.5m", 1_572_864),
            ("0.5K", 512),
            ("512B", 512),
            ("65_536", 65536),
            ("65,536", 65536),
            (" 8K ", 8192),
            ("0", 0),
        ];
        for (text, bytes) in cases {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
    }

    #[test]
    fn bad_sizes_name_the_text() {
        for text in [
            "",
            "K",
            "64Q",
            "-1",
            "1.5",
            "1.5B",
            "1e3",
            ".5K",
            "5.K",
            "64 K B",
            "nan",
            "inf",
            "99999999999999999999",
            "18014398509481984M",
        ] {
            let err = parse_size(text).expect_err(text);
            assert_eq!(err.text, text);
            assert!(err.to_string().contains(&format!("{text:?}")), "{err}");
        }
    }

    #[test]
    fn later_budgets_override_earlier_ones_only_where_set() {
        let file = Budgets {
            max_peak: Some(1),
            max_after_gc: Some(2),
            ..Budgets::default()
        };
        let flags = Budgets {
            max_peak: Some(10),
            max_line: Some(30),
            ..Budgets::default()
        };
        assert_eq!(
            file.overridden_by(flags),
            Budgets {
                max_peak: Some(10),
                max_after_gc: Some(2),
                min_free_run: None,
                max_line: Some(30),
            }
        );
    }

    fn figures() -> Figures {
        Figures {
            script_file: "main.py".into(),
            peak_bytes: Some(70_000),
            peak_place: Some(Place {
                file: "main.py".into(),
                line: 7,
            }),
            after_gc_bytes: Some(50_000),
            free_run_bytes: Some(3_000),
            heap_bytes: Some(232_960),
            lines: vec![
                LineFigure {
                    file: "main.py".into(),
                    line: 3,
                    allocated_bytes: 100,
                },
                LineFigure {
                    file: "lib/big.py".into(),
                    line: 9,
                    allocated_bytes: 9_000,
                },
            ],
            memory_error: None,
            most_retained: Some(Place {
                file: "main.py".into(),
                line: 5,
            }),
            most_fragmenting: None,
        }
    }

    fn summary(violations: &[Violation]) -> Vec<String> {
        violations
            .iter()
            .map(|v| format!("{}:{}: {}", v.file, v.line, v.message))
            .collect()
    }

    #[test]
    fn within_budget_has_no_violations() {
        let budgets = Budgets {
            max_peak: Some(70_000),
            max_after_gc: Some(64 * 1024),
            min_free_run: Some(3_000),
            max_line: Some(9_000),
        };
        assert_eq!(evaluate(&figures(), &budgets), vec![]);
        assert_eq!(evaluate(&figures(), &Budgets::default()), vec![]);
    }

    #[test]
    fn each_broken_budget_is_a_violation_at_its_line() {
        let budgets = Budgets {
            max_peak: Some(64 * 1024),
            max_after_gc: Some(48 * 1024),
            min_free_run: Some(4 * 1024),
            max_line: Some(1024),
        };
        assert_eq!(
            summary(&evaluate(&figures(), &budgets)),
            [
                "main.py:7: peak heap use 68.4 KiB (70,000 bytes) over budget 64.0 KiB (65,536 bytes)",
                "main.py:5: heap use after gc 48.8 KiB (50,000 bytes) over budget 48.0 KiB (49,152 bytes)",
                "main.py:5: longest free run after gc 2.9 KiB (3,000 bytes) under budget 4.0 KiB (4,096 bytes)",
                "lib/big.py:9: line allocated 8.8 KiB (9,000 bytes) over budget 1.0 KiB (1,024 bytes)",
            ]
        );
    }

    #[test]
    fn a_memory_error_is_always_a_violation() {
        let mut f = figures();
        f.memory_error = Some((
            Place {
                file: "main.py".into(),
                line: 12,
            },
            "MemoryError: memory allocation failed, allocating 4096 bytes".into(),
        ));
        let v = evaluate(&f, &Budgets::default());
        assert_eq!(
            summary(&v),
            ["main.py:12: MemoryError: memory allocation failed, allocating 4096 bytes (a script must not raise MemoryError)"]
        );
        assert_eq!(v[0].budget, Budget::NoMemoryError);
    }

    #[test]
    fn an_unmeasured_figure_breaks_its_budget_at_the_script_start() {
        let f = Figures {
            script_file: "main.py".into(),
            ..Figures::default()
        };
        let budgets = Budgets {
            max_peak: Some(1024),
            min_free_run: Some(1024),
            ..Budgets::default()
        };
        assert_eq!(
            summary(&evaluate(&f, &budgets)),
            [
                "main.py:1: peak heap use unknown (the script ran without probes), so budget 1.0 KiB (1,024 bytes) is not met",
                "main.py:1: longest free run after gc unknown (no snapshot after the run), so budget 1.0 KiB (1,024 bytes) is not met",
            ]
        );
    }
}
