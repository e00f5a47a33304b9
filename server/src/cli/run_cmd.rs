//! `heaplens run`: an instrumented run with heap captures and a report.

use std::path::Path;
use std::process::ExitCode;

use super::BoardArgs;

#[allow(clippy::too_many_arguments)]
pub fn run(
    _script: &Path,
    _board: &BoardArgs,
    _json: bool,
    _exact: bool,
    _no_reset: bool,
    _timeout: f64,
    _no_color: bool,
) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
