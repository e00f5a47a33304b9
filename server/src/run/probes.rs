//! The probes' results: the readout record the harness prints after a run (see
//! [`super::harness`]), decoded into per-line figures.

use serde::Serialize;
use thiserror::Error;

/// What one user line did to the heap during a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineDelta {
    /// User line, 1-based.
    pub line: u32,
    /// Executions of the line's statement (for `if`/`elif`/`while`: evaluations of the
    /// condition; for `for`: iterations; for `def`/`class`: definitions).
    pub hits: u64,
    /// Heap bytes (block-rounded) the line allocated: measured for its first allocating
    /// executions, plus `estimated_bytes` for the later ones.
    pub allocated_bytes: u64,
    /// Net change of allocated heap attributed to the line. Without exact mode this equals
    /// the measured growth (a drop is a collection, never the line freeing memory); in exact
    /// mode it includes real releases and can be negative.
    pub net_bytes: i64,
    /// The largest growth seen in one measured execution of the line.
    pub max_single_bytes: u64,
    /// The part of `allocated_bytes` that is an estimate: executions after the line's
    /// measuring budget, from the bytes they requested (scaled by the line's own ratio of
    /// heap bytes to requested bytes) or, on boards without `micropython.mem_total()`, from
    /// the heap's growth found at the next measurement. 0 when every execution was measured.
    pub estimated_bytes: u64,
}

/// The heap's high-water mark during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Peak {
    /// `gc.mem_alloc()` at its highest reading.
    pub used: u64,
    /// The line whose interval reached it (`None`: before the first line, or outside any).
    pub line: Option<u32>,
}

/// Everything the probes reported for one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeReport {
    /// One entry per probed user line (lines whose probes never ran have `hits == 0`), sorted
    /// by line.
    pub lines: Vec<LineDelta>,
    /// Collections seen as `gc.mem_alloc()` drops: a lower bound (in estimated stretches
    /// only a periodic reading below the one before counts, however many ran).
    pub gc_collections: Option<u32>,
    /// The highest heap use the probes measured (a lower bound where lines were estimated).
    pub peak: Option<Peak>,
}

impl ProbeReport {
    /// Gives each `(line, counted_on)` alias the hits of the line it is counted on (no bytes of
    /// its own: its work is that line's).
    pub fn apply_aliases(&mut self, aliases: &[(u32, u32)]) {
        for &(alias, counted_on) in aliases {
            let Some(hits) = self
                .lines
                .iter()
                .find(|l| l.line == counted_on)
                .map(|l| l.hits)
            else {
                continue;
            };
            match self.lines.iter_mut().find(|l| l.line == alias) {
                Some(existing) => existing.hits = existing.hits.max(hits),
                None => self.lines.push(LineDelta {
                    line: alias,
                    hits,
                    allocated_bytes: 0,
                    net_bytes: 0,
                    max_single_bytes: 0,
                    estimated_bytes: 0,
                }),
            }
        }
        self.lines.sort_by_key(|l| l.line);
    }
}

/// The readout could not be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProbeError {
    /// A readout line is not in the expected format.
    #[error("unreadable probe readout line {line:?}: {reason}")]
    BadLine { line: String, reason: String },
    /// The readout talks about a different script (slot count or slot number mismatch).
    #[error("the probe readout does not match the instrumented script: {0}")]
    Mismatch(String),
}

/// One slot's raw counters.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    hits: u64,
    allocated: u64,
    net: i64,
    max_single: u64,
    drops: u64,
    /// Requested bytes during measured intervals (boards with `mem_total()`).
    requested: u64,
    /// Estimated intervals' raw bytes (requested, or heap growth without `mem_total()`).
    estimate: u64,
}

/// Decodes the readout record (header `counter exact slots`, body one line per slot and a
/// `P used slot` line) of a script whose probe slots measure `probe_lines`.
pub fn parse_readout(
    header: &str,
    body: &str,
    probe_lines: &[u32],
) -> Result<ProbeReport, ProbeError> {
    let fields = parse_numbers(header, header)?;
    let [counts_allocations, _exact, slots] = fields[..] else {
        return Err(bad_line(header, "expected 3 numbers after the marker"));
    };
    // One slot more than lines: "outside any line".
    let expected = probe_lines.len() as i64 + 1;
    if slots != expected {
        return Err(ProbeError::Mismatch(format!(
            "{slots} slots on the board, {expected} in the script"
        )));
    }
    let mut counters = vec![Counters::default(); probe_lines.len() + 1];
    let mut peak = None;
    for line in body.lines().map(|l| l.trim_end_matches('\r')) {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("P ") {
            let numbers = parse_numbers(rest, line)?;
            let [used, slot] = numbers[..] else {
                return Err(bad_line(line, "expected `P used slot`"));
            };
            peak = Some(Peak {
                used: non_negative(used, line)?,
                line: usize::try_from(slot)
                    .ok()
                    .and_then(|slot| probe_lines.get(slot).copied()),
            });
            continue;
        }
        let numbers = parse_numbers(line, line)?;
        let [slot, hits, allocated, net, max_single, drops, requested, estimate] = numbers[..]
        else {
            return Err(bad_line(line, "expected 8 numbers"));
        };
        let entry = usize::try_from(slot)
            .ok()
            .and_then(|slot| counters.get_mut(slot))
            .ok_or_else(|| ProbeError::Mismatch(format!("slot {slot} does not exist")))?;
        *entry = Counters {
            hits: non_negative(hits, line)?,
            allocated: non_negative(allocated, line)?,
            net,
            max_single: non_negative(max_single, line)?,
            drops: non_negative(drops, line)?,
            requested: non_negative(requested, line)?,
            estimate: non_negative(estimate, line)?,
        };
    }
    // Requested bytes become heap bytes at the line's own measured ratio (a bytes object of
    // 10 bytes takes a 16- or 32-byte block plus its header), else the run's, else 1:1.
    let total_allocated: u64 = counters.iter().map(|c| c.allocated).sum();
    let total_requested: u64 = counters.iter().map(|c| c.requested).sum();
    let scale = |c: &Counters| -> u64 {
        if counts_allocations == 0 {
            return c.estimate;
        }
        let (num, den) = if c.requested > 0 {
            (c.allocated, c.requested)
        } else if total_requested > 0 {
            (total_allocated, total_requested)
        } else {
            (1, 1)
        };
        let scaled = u128::from(c.estimate) * u128::from(num) / u128::from(den.max(1));
        u64::try_from(scaled).unwrap_or(u64::MAX)
    };
    let drops: u64 = counters.iter().map(|c| c.drops).sum();
    let lines = probe_lines
        .iter()
        .zip(&counters)
        .map(|(&line, c)| {
            let estimated = scale(c);
            LineDelta {
                line,
                hits: c.hits,
                allocated_bytes: c.allocated.saturating_add(estimated),
                net_bytes: c
                    .net
                    .saturating_add(i64::try_from(estimated).unwrap_or(i64::MAX)),
                max_single_bytes: c.max_single,
                estimated_bytes: estimated,
            }
        })
        .collect();
    Ok(ProbeReport {
        lines,
        gc_collections: Some(u32::try_from(drops).unwrap_or(u32::MAX)),
        peak,
    })
}

fn parse_numbers(text: &str, whole_line: &str) -> Result<Vec<i64>, ProbeError> {
    text.split_whitespace()
        .map(|word| {
            word.parse::<i64>()
                .map_err(|_| bad_line(whole_line, &format!("{word:?} is not a number")))
        })
        .collect()
}

fn non_negative(value: i64, line: &str) -> Result<u64, ProbeError> {
    u64::try_from(value).map_err(|_| bad_line(line, "negative count"))
}

fn bad_line(line: &str, reason: &str) -> ProbeError {
    ProbeError::BadLine {
        line: line.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readout_is_decoded_into_user_lines() {
        let body = "0 1 0 0 0 0 0 0\r\n1 1 64 64 64 0 40 0\r\n2 4 96 32 64 2 60 0\r\nP 5000 1\r\n";
        let report = parse_readout("1 0 4", body, &[1, 2, 3]).expect("readout parses");
        insta::assert_json_snapshot!(report, @r#"
        {
          "lines": [
            {
              "line": 1,
              "hits": 1,
              "allocated_bytes": 0,
              "net_bytes": 0,
              "max_single_bytes": 0,
              "estimated_bytes": 0
            },
            {
              "line": 2,
              "hits": 1,
              "allocated_bytes": 64,
              "net_bytes": 64,
              "max_single_bytes": 64,
              "estimated_bytes": 0
            },
            {
              "line": 3,
              "hits": 4,
              "allocated_bytes": 96,
              "net_bytes": 32,
              "max_single_bytes": 64,
              "estimated_bytes": 0
            }
          ],
          "gc_collections": 2,
          "peak": {
            "used": 5000,
            "line": 2
          }
        }
        "#);
    }

    #[test]
    fn estimates_use_the_lines_own_ratio_else_the_runs() {
        // Line 1: 640 heap bytes for 400 requested (ratio 1.6), then 1000 requested later.
        // Line 2: never measured (no ratio of its own): the run's ratio (640 / 400).
        let body = "0 20 640 640 64 0 400 1000\n1 5 0 0 0 0 0 100\n";
        let report = parse_readout("1 0 3", body, &[1, 2]).expect("readout parses");
        assert_eq!(report.lines[0].estimated_bytes, 1600);
        assert_eq!(report.lines[0].allocated_bytes, 2240);
        assert_eq!(report.lines[1].estimated_bytes, 160);
        // Without mem_total() the estimate is heap growth already.
        let report = parse_readout("0 0 3", body, &[1, 2]).expect("readout parses");
        assert_eq!(report.lines[0].estimated_bytes, 1000);
    }

    #[test]
    fn broken_readouts_are_typed_errors() {
        assert!(matches!(
            parse_readout("1 0 7", "", &[1]),
            Err(ProbeError::Mismatch(_))
        ));
        assert!(matches!(
            parse_readout("1 0 2", "5 1 0 0 0 0 0 0\n", &[1]),
            Err(ProbeError::Mismatch(_))
        ));
        assert!(matches!(
            parse_readout("1 0 2", "0 x 0 0 0 0 0 0\n", &[1]),
            Err(ProbeError::BadLine { .. })
        ));
        assert!(matches!(
            parse_readout("1 0", "", &[1]),
            Err(ProbeError::BadLine { .. })
        ));
    }
}
