//! Instrumented runs: the harness on the board, rewriting scripts with probes, reading what
//! they print, running.

pub(crate) mod harness;
pub use harness::Nonce;
pub mod instrument;
#[cfg(test)]
mod interp_tests;
#[doc(hidden)]
pub mod output_split;
pub mod plain;
pub mod plan;
pub mod probes;
pub(crate) mod records;
pub mod runner;
mod source_rows;
pub mod timeline;
pub(crate) mod trace;
pub mod upload;

/// The whole on-board run of `source` as one script (the harness's prologue, then its run
/// call), for running it directly with `micropython` (benchmarks, experiments). `budget`
/// and `exact` are as in [`runner::RunOptions`]; `like_pico` first hides
/// `micropython.mem_total()`, as a Pico's port lacks it.
pub fn harnessed_script(
    source: &str,
    budget: Option<u32>,
    exact: bool,
    like_pico: bool,
) -> Result<String, instrument::InstrumentError> {
    let nonce = harness::Nonce::random();
    let instrumented = instrument::instrument(&instrument::normalize(source), &nonce)?;
    let options = harness::HarnessOptions {
        slots: instrumented.probe_lines.len(),
        budget,
        exact,
        trace_allocations: false,
        counts_allocations: !like_pico,
        modules: Vec::new(),
        sample_every_ms: None,
    };
    let mut text = String::new();
    if like_pico {
        text.push_str(HIDE_MEM_TOTAL);
    }
    text.push_str(&harness::prologue(&instrumented.code, &options, &nonce));
    text.push_str(&nonce.run_call());
    text.push('\n');
    Ok(text)
}

/// Makes `import micropython` give a module without `mem_total()`, as on a Pico.
pub(crate) const HIDE_MEM_TOTAL: &str = "import sys, micropython\nclass _P: pass\n_p = _P()\nfor _n in dir(micropython):\n    if _n != 'mem_total': setattr(_p, _n, getattr(micropython, _n))\nsys.modules['micropython'] = _p\ndel _n, _p, _P, sys, micropython\n";
