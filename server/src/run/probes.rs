//! The on-board half of per-line allocation probes: the prologue that prepares them, the
//! per-statement probe text, the readout that prints their results, and the parser of that
//! readout.
//!
//! This module knows the MicroPython code the probes run and the text format they print; it
//! does not know how a script is rewritten (see `instrument`) or how code reaches a board.
//!
//! # How a probe measures (the method, in full)
//!
//! Every probe site is numbered with a *slot*, one slot per user line. The prologue allocates
//! five lists of one small int per slot (hits, allocated, net, max single growth, drops) and
//! two global ints, all **before** the "before" heap snapshot. A probe
//! attributes to its line everything the heap did since the previous probe ran (anywhere:
//! another line, another function), so each line is charged for its own allocations ("self"
//! attribution; the call line is not charged for what the callee's lines allocated).
//!
//! A probe is two inline statements: `_hl_h[k] += 1; _hl_q() == _hl_T or _hl_p(k)` (or, on
//! boards without `mem_total()`, the call `_hl_e(k)`, which does the same in less code).
//! * `_hl_q` is the *change detector*. On ports built with `MICROPY_MEM_STATS` (the unix port,
//!   i.e. the simulated board) it is `micropython.mem_total()`, an O(1) counter that moves on
//!   every `m_malloc`/`m_realloc`. Elsewhere (a Pico) it is `gc.mem_alloc()` itself. When the
//!   detector has not moved, nothing was allocated, and the probe only counts the hit; this
//!   keeps probes cheap because `gc.mem_alloc()` scans the whole allocation table (measured:
//!   about 12 µs per call on a 192 KB heap, against 0.05 µs for `mem_total()`).
//! * `_hl_p(k)`, the slow path, reads `gc.mem_alloc()` and compares it with the reading kept
//!   at the end of the previous slow path. A growth `d >= 0` is added to the line's allocated
//!   and net bytes and raises its largest single growth: these figures are block-rounded
//!   heap bytes, the same unit as the heap map.
//! * **Collections.** An automatic collection can only run inside an allocation, and it makes
//!   `mem_alloc()` drop. A drop (`d < 0`) is therefore counted as a collection against the
//!   line being measured (its `drops` slot; the run's `gc_collections` is their sum) and is
//!   never booked as that line freeing memory: its net bytes are left unchanged, and since the
//!   interval's real growth is unknown, its allocated bytes get the `mem_total()` growth of the
//!   interval when that counter exists (requested bytes, not block-rounded) and 0 otherwise.
//!   A collection that frees less than the interval allocated shows no drop and is not
//!   counted, so `gc_collections` is a lower bound. Explicit releases (a shrinking realloc,
//!   an explicit `gc.collect()`) also show as drops and are counted the same way.
//! * **Exact mode** puts `gc.disable()` in the prologue: no automatic collection can run (a
//!   MemoryError comes sooner instead), so every growth is exactly the line's allocation, and
//!   a drop is a real release, added to the line's net bytes (drops are still counted). One
//!   blind spot remains where `mem_total()` is the detector: a release with no allocation
//!   in the same interval (an explicit `gc.collect()`) does not move the detector, so it is
//!   seen at the next allocating line instead.
//!
//! The probe allocates nothing: subscripting a preallocated list with a small-int constant,
//! storing small ints, comparing them, and calling a global function with one small-int
//! positional argument
//! do not touch the heap on MicroPython (checked on the real interpreter by the tests in
//! `interp_tests`). Limitation: on 32-bit ports a slot above 2^30 (a line that allocated more
//! than 1 GiB in one run) would make the probe allocate a big int.

use serde::Serialize;
use thiserror::Error;

use super::instrument::{InstrumentOptions, Instrumented};
use super::sampling::SampledBlock;

/// Marker that opens the readout block.
pub const READOUT_HEADER: &str = "HLPROBE 1";
/// Marker that closes the readout block.
pub const READOUT_FOOTER: &str = "HLPROBE end";

/// Opens an allocation trace in the script's output: `TRACE_START` slot, newline, a
/// `mem_info(1)` dump, then [`TRACE_END`] on its own line. The record separator control
/// character makes a clash with a script's own output unlikely.
pub const TRACE_START: &str = "\x1eHLT ";
/// Closes an allocation trace (followed by the board's line ending).
pub const TRACE_END: &str = "\x1eHLE";
/// How many traces a run prints at most (each is a whole heap dump on the wire).
pub const TRACE_BUDGET: usize = 64;
/// How many traces one line prints at most (its first allocating executions).
pub const TRACE_PER_LINE: usize = 3;

/// The probe statement(s) for slot `slot`, to be placed on one line (inline, `;`-separated).
///
/// Inline statements beat a probe function: measured on the unix port, a call per probe was
/// about 30% slower than this shape, and reading a global int is faster than subscripting
/// a state buffer for the detector's baseline.
pub fn probe_text(slot: usize) -> String {
    format!("_hl_h[{slot}] += 1; _hl_q() == _hl_T or _hl_p({slot})")
}

/// The probe of slot `slot` as an expression that evaluates to `None` (for placing inside
/// an `if` condition or a `for` iterable: `_hl_e(k) or (…)`).
pub fn probe_expression(slot: usize) -> String {
    format!("_hl_e({slot})")
}

/// The probe that follows a versioned loop (block `block`, see `sampling`), charged to the
/// loop's header line (slot `slot`). It counts no hit. Once the block has run unprobed, the
/// growth it measures is what the unprobed iterations did, and it is also added to the
/// line's `unsampled` figure (and left out of its largest single growth). Collections during
/// a long unprobed phase hide most of its allocation from `mem_alloc()`, so where
/// `mem_total()` exists the allocated figure is the larger of the heap's growth and the bytes
/// requested (both lower bounds of what the iterations allocated); net bytes stay the
/// heap's growth.
pub fn after_loop_text(slot: usize, block: usize) -> String {
    format!("_hl_r({slot}, {block})")
}

/// The statement that resets the probes' baseline. It runs first in the instrumented script,
/// so the script's own compilation (which happens after the prologue ran) is not charged to
/// its first line.
pub const RESET_TEXT: &str = "_hl_z()";

/// The readout code: prints every slot that was hit, between [`READOUT_HEADER`] and
/// [`READOUT_FOOTER`].
pub const READOUT_CODE: &str = "_hl_o()\n";

/// The prologue for `slots` probe slots with every instrumentation option. With
/// `trace_allocations`, the slow path (which runs only when the interval allocated) also
/// prints a trace for the line's first [`TRACE_PER_LINE`] allocating executions, up to
/// [`TRACE_BUDGET`] in the run. Printing a constant string and a small int and calling
/// `mem_info(1)` allocate nothing (checked on the real interpreter in `interp_tests`), so the
/// probe's figures do not change.
///
/// With `blocks > 0` (sampled instrumentation), it also defines the switches of the versioned
/// blocks: `_hl_s{b}` (1 while block `b` is probed), `_hl_S[b]` (its remaining budget of
/// probed executions; -1 once it ran unprobed), `_hl_v(b)` (the budget test in front of the
/// probed copy), `_hl_r(k, b)` (the after-loop probe) and `_hl_u` (per slot, the growth of
/// unprobed iterations). Setting a switch stores into an existing key of the module's globals
/// dict, which allocates nothing.
pub fn prologue_with(slots: usize, blocks: usize, opts: &InstrumentOptions) -> String {
    let exact = opts.exact;
    // At least one slot, so the buffers and the readout loop are never empty.
    let slots = slots.max(1);
    let exact_flag = u8::from(exact);
    let mut code = String::new();
    code.push_str("import gc as _hl_gc\n");
    code.push_str("import micropython as _hl_mp\n");
    // Lists of small ints: storing a small int into an existing list slot never allocates,
    // and list subscripting is the fastest container access.
    for name in ["_hl_h", "_hl_a", "_hl_n", "_hl_x", "_hl_g"] {
        code.push_str(&format!("{name} = [0] * {slots}\n"));
    }
    if opts.trace_allocations {
        // Per-slot trace counts and the run's remaining budget (small ints: no allocation).
        code.push_str(&format!("_hl_c = [0] * {slots}\n_hl_B = {TRACE_BUDGET}\n"));
    }
    code.push_str("_hl_ma = _hl_gc.mem_alloc\n");
    // _hl_t: 1 when the O(1) mem_total() counter is the change detector. _hl_T is the
    // detector's value and _hl_M the mem_alloc() reading at the last measurement.
    code.push_str("_hl_t = 1 if hasattr(_hl_mp, 'mem_total') else 0\n");
    code.push_str("_hl_q = _hl_mp.mem_total if _hl_t else _hl_ma\n");
    code.push_str("_hl_T = 0\n_hl_M = 0\n");
    // The trace budget is a global only when tracing (the plain prologue stays unchanged).
    let globals = if opts.trace_allocations {
        "_hl_T, _hl_M, _hl_B"
    } else {
        "_hl_T, _hl_M"
    };
    code.push_str(&format!(
        "def _hl_p(k):\n\
         \x20   global {globals}\n\
         \x20   m = _hl_ma()\n\
         \x20   d = m - _hl_M\n\
         \x20   if d >= 0:\n\
         \x20       _hl_a[k] += d\n\
         \x20       _hl_n[k] += d\n\
         \x20       if d > _hl_x[k]:\n\
         \x20           _hl_x[k] = d\n\
         \x20   else:\n\
         \x20       _hl_g[k] += 1\n",
    ));
    if exact {
        code.push_str("        _hl_n[k] += d\n");
    }
    code.push_str(
        "        if _hl_t:\n\
         \x20           d = _hl_q() - _hl_T\n\
         \x20           if d > 0:\n\
         \x20               _hl_a[k] += d\n\
         \x20   _hl_M = m\n\
         \x20   _hl_T = _hl_q()\n",
    );
    if opts.trace_allocations {
        // After the measurement: the trace shows the heap with this line's allocations.
        code.push_str(&format!(
            "    if _hl_B > 0 and _hl_c[k] < {TRACE_PER_LINE}:\n\
             \x20       _hl_B -= 1\n\
             \x20       _hl_c[k] += 1\n\
             \x20       print('\\x1eHLT', k)\n\
             \x20       _hl_mp.mem_info(1)\n\
             \x20       print('\\x1eHLE')\n"
        ));
    }
    if blocks > 0 {
        let budget = opts.sample.unwrap_or(u32::MAX >> 2);
        code.push_str(&format!(
            "_hl_u = [0] * {slots}\n_hl_S = [{budget}] * {blocks}\n_hl_G = globals()\n"
        ));
        let names: Vec<String> = (0..blocks)
            .map(|b| format!("'{}{b}'", super::sampling::SWITCH_PREFIX))
            .collect();
        code.push_str(&format!("_hl_K = ({},)\n", names.join(", ")));
        for b in 0..blocks {
            code.push_str(&format!("{}{b} = 1\n", super::sampling::SWITCH_PREFIX));
        }
        code.push_str(
            "def _hl_v(b):\n\
             \x20   n = _hl_S[b]\n\
             \x20   if n > 0:\n\
             \x20       _hl_S[b] = n - 1\n\
             \x20       return 1\n\
             \x20   _hl_S[b] = -1\n\
             \x20   _hl_G[_hl_K[b]] = 0\n\
             \x20   return 0\n\
             def _hl_r(k, b):\n\
             \x20   if _hl_S[b] >= 0:\n\
             \x20       _hl_q() == _hl_T or _hl_p(k)\n\
             \x20   elif _hl_q() != _hl_T:\n\
             \x20       a = _hl_a[k]\n\
             \x20       x = _hl_x[k]\n\
             \x20       t = _hl_T\n\
             \x20       _hl_p(k)\n\
             \x20       g = _hl_a[k] - a\n\
             \x20       if _hl_t and _hl_T - t > g:\n\
             \x20           _hl_a[k] += _hl_T - t - g\n\
             \x20           g = _hl_T - t\n\
             \x20       _hl_u[k] += g\n\
             \x20       _hl_x[k] = x\n",
        );
    }
    code.push_str(
        "def _hl_e(k):\n\
         \x20   _hl_h[k] += 1\n\
         \x20   _hl_q() == _hl_T or _hl_p(k)\n\
         def _hl_z():\n\
         \x20   global _hl_T, _hl_M\n",
    );
    if opts.trace_allocations {
        // The baseline trace (slot -1): the heap once the script is compiled, so the first
        // line is not charged with the script's own code objects.
        code.push_str(
            "    print('\\x1eHLT', -1)\n\
             \x20   _hl_mp.mem_info(1)\n\
             \x20   print('\\x1eHLE')\n",
        );
    }
    code.push_str(
        "    _hl_M = _hl_ma()\n\
         \x20   _hl_T = _hl_q()\n",
    );
    if blocks > 0 {
        // Sampled: the header also gives the block count, each slot line its unsampled
        // growth, and `B b` lines name the blocks that ran unprobed.
        code.push_str(&format!(
            "def _hl_o():\n\
             \x20   print('{READOUT_HEADER}', _hl_t, {exact_flag}, {slots}, {blocks})\n\
             \x20   for k in range({slots}):\n\
             \x20       if _hl_h[k] or _hl_u[k]:\n\
             \x20           print(k, _hl_h[k], _hl_a[k], _hl_n[k], _hl_x[k], _hl_g[k], _hl_u[k])\n\
             \x20   for b in range({blocks}):\n\
             \x20       if _hl_S[b] < 0:\n\
             \x20           print('B', b)\n\
             \x20   print('{READOUT_FOOTER}')\n"
        ));
    } else {
        code.push_str(&format!(
            "def _hl_o():\n\
             \x20   print('{READOUT_HEADER}', _hl_t, {exact_flag}, {slots})\n\
             \x20   for k in range({slots}):\n\
             \x20       if _hl_h[k]:\n\
             \x20           print(k, _hl_h[k], _hl_a[k], _hl_n[k], _hl_x[k], _hl_g[k])\n\
             \x20   print('{READOUT_FOOTER}')\n"
        ));
    }
    if exact {
        code.push_str("_hl_gc.disable()\n");
    }
    code.push_str("_hl_z()\n");
    code
}

/// What one user line did to the heap during a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineDelta {
    /// User line, 1-based.
    pub line: u32,
    /// How many times the line's probes ran (for a compound statement's header: how many
    /// times its body was entered, plus the definition itself for `def`/`class`).
    pub hits: u64,
    /// Sum of the heap growth attributed to the line (block-rounded bytes).
    pub allocated_bytes: u64,
    /// Net change of allocated heap attributed to the line. Without `exact` this equals the
    /// sum of growths (drops are collections, never a line freeing memory); with `exact` it
    /// includes real releases and can be negative.
    pub net_bytes: i64,
    /// The largest growth seen in one execution of the line.
    pub max_single_bytes: u64,
    /// Sampled runs only: the part of `allocated_bytes` that unprobed iterations of the loop
    /// headed by this line allocated (measured as a whole when the loop ended, not split by
    /// line). 0 otherwise.
    pub unsampled_bytes: u64,
    /// Sampled runs only: the line lies in a loop or function body that ran more often than
    /// it was probed, so `hits` and the byte figures cover its probed executions (plus, on a
    /// loop's header line, `unsampled_bytes`).
    pub sampled: bool,
    /// Sampled runs only, for lines of a loop that ran unprobed: an **estimate** of what the
    /// line allocated in all iterations, its probed bytes plus a share of the loop's
    /// `unsampled_bytes` in proportion to what it allocated while probed (see
    /// [`estimate_unprobed`]). `None` elsewhere.
    pub estimated_bytes: Option<u64>,
}

/// Everything the probes reported for one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeReport {
    /// One entry per probed user line (lines whose probes never ran have `hits == 0`), sorted
    /// by line.
    pub lines: Vec<LineDelta>,
    /// Collections seen as `mem_alloc()` drops during the run (a lower bound; see the module
    /// doc). `None` when the readout could not say, or in a sampled run where some block ran
    /// unprobed with the collector on.
    pub gc_collections: Option<u32>,
}

/// The readout text could not be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProbeError {
    /// No `HLPROBE 1` line: the readout did not run (or its output was lost).
    #[error("the probe readout is missing from the board's output (no `{READOUT_HEADER}` line)")]
    MissingHeader,
    /// The header was seen but not the end marker: the output was cut short.
    #[error("the probe readout was cut short (no `{READOUT_FOOTER}` line)")]
    Truncated,
    /// A readout line is not in the expected format.
    #[error("unreadable probe readout line {line:?}: {reason}")]
    BadLine {
        /// The offending text.
        line: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The readout talks about a different script (slot count or slot number mismatch).
    #[error("the probe readout does not match the instrumented script: {0}")]
    Mismatch(String),
}

/// Decodes the text printed by the readout code (any surrounding output is ignored; both
/// `\n` and `\r\n` line endings are accepted) into per-line deltas of the user's script.
pub fn parse_readout(text: &str, instrumented: &Instrumented) -> Result<ProbeReport, ProbeError> {
    let mut lines = text.lines().map(|line| line.trim_end_matches('\r'));
    let header = lines
        .by_ref()
        .find(|line| line.starts_with(READOUT_HEADER))
        .ok_or(ProbeError::MissingHeader)?;
    let fields = parse_numbers(&header[READOUT_HEADER.len()..], header)?;
    let (exact, slots, blocks) = match fields[..] {
        [_counter, exact, slots] => (exact, slots, 0),
        [_counter, exact, slots, blocks] => (exact, slots, blocks),
        _ => return Err(bad_line(header, "expected 3 or 4 numbers after the marker")),
    };
    if blocks != instrumented.blocks.len() as i64 {
        return Err(ProbeError::Mismatch(format!(
            "{blocks} sampled blocks on the board, {} in the script",
            instrumented.blocks.len()
        )));
    }
    let expected_slots = instrumented.probe_lines.len().max(1) as i64;
    if slots != expected_slots {
        return Err(ProbeError::Mismatch(format!(
            "{slots} slots on the board, {expected_slots} in the script"
        )));
    }

    let mut deltas: Vec<LineDelta> = instrumented
        .probe_lines
        .iter()
        .map(|&line| LineDelta {
            line,
            hits: 0,
            allocated_bytes: 0,
            net_bytes: 0,
            max_single_bytes: 0,
            unsampled_bytes: 0,
            sampled: false,
            estimated_bytes: None,
        })
        .collect();
    let mut unprobed_loops = Vec::new();
    let mut drops: u64 = 0;
    let mut unprobed_blocks = false;
    let mut finished = false;
    for line in lines {
        if line.starts_with(READOUT_FOOTER) {
            finished = true;
            break;
        }
        if let Some(number) = line.strip_prefix("B ") {
            let block = number
                .trim()
                .parse::<usize>()
                .map_err(|_| bad_line(line, "expected a block number"))?;
            let block = instrumented
                .blocks
                .get(block)
                .ok_or_else(|| ProbeError::Mismatch(format!("block {block} does not exist")))?;
            unprobed_blocks = true;
            if !block.function {
                unprobed_loops.push(block.clone());
            }
            for delta in deltas.iter_mut() {
                if (block.header_line..=block.last_line).contains(&delta.line) {
                    delta.sampled = true;
                }
            }
            continue;
        }
        let numbers = parse_numbers(line, line)?;
        let (slot, hits, allocated, net, max_single, slot_drops, unsampled) = match numbers[..] {
            [slot, hits, allocated, net, max_single, drops] => {
                (slot, hits, allocated, net, max_single, drops, 0)
            }
            [slot, hits, allocated, net, max_single, drops, unsampled] if blocks > 0 => {
                (slot, hits, allocated, net, max_single, drops, unsampled)
            }
            _ => return Err(bad_line(line, "expected 6 numbers")),
        };
        let delta = usize::try_from(slot)
            .ok()
            .and_then(|slot| deltas.get_mut(slot))
            .ok_or_else(|| ProbeError::Mismatch(format!("slot {slot} does not exist")))?;
        delta.hits = non_negative(hits, line)?;
        delta.allocated_bytes = non_negative(allocated, line)?;
        delta.net_bytes = net;
        delta.max_single_bytes = non_negative(max_single, line)?;
        delta.unsampled_bytes = non_negative(unsampled, line)?;
        drops = drops.saturating_add(non_negative(slot_drops, line)?);
    }
    if !finished {
        return Err(ProbeError::Truncated);
    }
    deltas.sort_by_key(|delta| delta.line);
    estimate_unprobed(&mut deltas, &unprobed_loops);
    // With the collector on, collections during unprobed executions leave no trace a probe
    // can count (a phase's net growth can hide any number of them): the count is unknown.
    let gc_collections = if unprobed_blocks && exact == 0 {
        None
    } else {
        Some(u32::try_from(drops).unwrap_or(u32::MAX))
    };
    Ok(ProbeReport {
        lines: deltas,
        gc_collections,
    })
}

/// Spreads what each loop's unprobed iterations allocated (its header line's
/// `unsampled_bytes`) over the lines of the loop, header included, in proportion to what each
/// allocated in the probed iterations, and records the result as `estimated_bytes`. A loop
/// whose probed iterations allocated nothing keeps the bytes on its header line. Functions
/// called from the loop are not lines of it: their later calls are already on the calling
/// line.
pub fn estimate_unprobed(lines: &mut [LineDelta], loops: &[SampledBlock]) {
    let probed = |d: &LineDelta| d.allocated_bytes.saturating_sub(d.unsampled_bytes);
    // Per line: `Some(share of later iterations)` once it is known to be in an unprobed loop.
    let mut extra: Vec<Option<u64>> = vec![None; lines.len()];
    for block in loops {
        let members: Vec<usize> = (0..lines.len())
            .filter(|&i| (block.header_line..=block.last_line).contains(&lines[i].line))
            .collect();
        let Some(&header) = members
            .iter()
            .find(|&&i| lines[i].line == block.header_line)
        else {
            continue;
        };
        let unprobed = lines[header].unsampled_bytes;
        let total: u64 = members.iter().map(|&i| probed(&lines[i])).sum();
        for &i in &members {
            let share = if total == 0 {
                if i == header {
                    unprobed
                } else {
                    0
                }
            } else {
                let share =
                    u128::from(unprobed) * u128::from(probed(&lines[i])) / u128::from(total);
                u64::try_from(share).unwrap_or(u64::MAX)
            };
            extra[i] = Some(extra[i].unwrap_or(0) + share);
        }
    }
    for (delta, extra) in lines.iter_mut().zip(extra) {
        delta.estimated_bytes = extra.map(|extra| probed(delta) + extra);
    }
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

    /// The prologue for `slots` probe slots. Runs before the "before" snapshot, in the same
    /// interpreter session as the instrumented script (globals persist between raw-REPL execs).
    pub fn prologue(slots: usize, exact: bool) -> String {
        prologue_with(
            slots,
            0,
            &InstrumentOptions {
                exact,
                ..InstrumentOptions::default()
            },
        )
    }

    use crate::run::instrument::{instrument, InstrumentOptions};

    fn instrumented(source: &str) -> Instrumented {
        match instrument(source, &InstrumentOptions::default()) {
            Ok(instrumented) => instrumented,
            Err(error) => panic!("instrumenting the test script failed: {error}"),
        }
    }

    #[test]
    fn readout_is_decoded_into_user_lines() {
        let script = instrumented("a = 1\nb = [a]\nc = 3\n");
        assert_eq!(script.probe_lines, vec![1, 2, 3]);
        let text = "user output\r\nHLPROBE 1 1 0 3\r\n0 1 0 0 0 0\r\n1 1 64 64 64 0\r\n2 4 96 32 64 2\r\nHLPROBE end\r\n";
        let report = parse_readout(text, &script).expect("readout parses");
        insta::assert_json_snapshot!(report, @r#"
        {
          "lines": [
            {
              "line": 1,
              "hits": 1,
              "allocated_bytes": 0,
              "net_bytes": 0,
              "max_single_bytes": 0,
              "unsampled_bytes": 0,
              "sampled": false,
              "estimated_bytes": null
            },
            {
              "line": 2,
              "hits": 1,
              "allocated_bytes": 64,
              "net_bytes": 64,
              "max_single_bytes": 64,
              "unsampled_bytes": 0,
              "sampled": false,
              "estimated_bytes": null
            },
            {
              "line": 3,
              "hits": 4,
              "allocated_bytes": 96,
              "net_bytes": 32,
              "max_single_bytes": 64,
              "unsampled_bytes": 0,
              "sampled": false,
              "estimated_bytes": null
            }
          ],
          "gc_collections": 2
        }
        "#);
    }

    #[test]
    fn unprobed_iterations_are_spread_over_the_loop_in_probed_proportions() {
        let delta = |line, allocated, unsampled| LineDelta {
            line,
            hits: 4,
            allocated_bytes: allocated,
            net_bytes: allocated as i64,
            max_single_bytes: 0,
            unsampled_bytes: unsampled,
            sampled: true,
            estimated_bytes: None,
        };
        // Loop header on line 2 (1000 B in later iterations), body lines 3 and 4 allocated
        // 300 B and 100 B while probed; line 6 is outside the loop.
        let mut lines = vec![
            delta(2, 1000, 1000),
            delta(3, 300, 0),
            delta(4, 100, 0),
            delta(6, 50, 0),
        ];
        let loops = [SampledBlock {
            header_line: 2,
            last_line: 4,
            function: false,
        }];
        estimate_unprobed(&mut lines, &loops);
        let estimates: Vec<Option<u64>> = lines.iter().map(|d| d.estimated_bytes).collect();
        assert_eq!(estimates, [Some(0), Some(1050), Some(350), None]);

        // Nothing allocated while probed: the later iterations stay on the header line.
        let mut lines = vec![delta(2, 640, 640), delta(3, 0, 0)];
        estimate_unprobed(&mut lines, &loops);
        assert_eq!(lines[0].estimated_bytes, Some(640));
        assert_eq!(lines[1].estimated_bytes, Some(0));
    }

    #[test]
    fn unhit_lines_are_reported_with_zero_hits() {
        let script = instrumented("a = 1\nb = 2\n");
        let report = parse_readout("HLPROBE 1 0 1 2\n1 3 0 0 0 0\nHLPROBE end\n", &script)
            .expect("readout parses");
        assert_eq!(report.lines[0].hits, 0);
        assert_eq!(report.lines[1].hits, 3);
        assert_eq!(report.gc_collections, Some(0));
    }

    #[test]
    fn broken_readouts_are_typed_errors() {
        let script = instrumented("a = 1\n");
        assert_eq!(
            parse_readout("nothing here\n", &script),
            Err(ProbeError::MissingHeader)
        );
        assert_eq!(
            parse_readout("HLPROBE 1 1 0 1\n0 1 0 0 0 0\n", &script),
            Err(ProbeError::Truncated)
        );
        assert!(matches!(
            parse_readout("HLPROBE 1 1 0 7\nHLPROBE end\n", &script),
            Err(ProbeError::Mismatch(_))
        ));
        assert!(matches!(
            parse_readout("HLPROBE 1 1 0 1\n5 1 0 0 0 0\nHLPROBE end\n", &script),
            Err(ProbeError::Mismatch(_))
        ));
        assert!(matches!(
            parse_readout("HLPROBE 1 1 0 1\n0 x 0 0 0 0\nHLPROBE end\n", &script),
            Err(ProbeError::BadLine { .. })
        ));
        assert!(matches!(
            parse_readout("HLPROBE 1 1 0 1\n0 1 0\nHLPROBE end\n", &script),
            Err(ProbeError::BadLine { .. })
        ));
    }

    #[test]
    fn prologue_snapshot() {
        insta::assert_snapshot!(prologue(3, false));
    }

    #[test]
    fn traced_prologue_snapshot() {
        let traced = prologue_with(
            3,
            0,
            &InstrumentOptions {
                trace_allocations: true,
                ..InstrumentOptions::default()
            },
        );
        assert!(traced.contains(&format!("_hl_B = {TRACE_BUDGET}\n")));
        insta::assert_snapshot!(traced);
    }

    #[test]
    fn exact_prologue_disables_the_collector() {
        let code = prologue(3, true);
        assert!(code.contains("_hl_gc.disable()\n"));
        assert!(code.contains("        _hl_n[k] += d\n"));
    }
}
