//! `heaplens stats | map | diff`: read dumps from files or stdin and render them.

use std::path::Path;
use std::process::ExitCode;

pub fn stats(_dump: &Path, _json: bool) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

pub fn map(
    _dump: &Path,
    _columns: usize,
    _rainbow: bool,
    _show_free: bool,
    _no_color: bool,
) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

pub fn diff(
    _before: &Path,
    _after: &Path,
    _json: bool,
    _no_color: bool,
) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
