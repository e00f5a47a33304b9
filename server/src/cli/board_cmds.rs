//! `heaplens ports | exec | capture | sim`: talk to a board (or the simulated Pico).

use std::path::Path;
use std::process::ExitCode;

use super::BoardArgs;

pub fn ports(_json: bool) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

pub fn exec(_board: &BoardArgs, _code: &str, _timeout: f64) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

pub fn capture(
    _board: &BoardArgs,
    _json: bool,
    _gc: bool,
    _reset: bool,
    _no_color: bool,
) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

pub fn sim(_link: Option<&Path>, _heap: usize) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
