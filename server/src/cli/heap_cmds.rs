//! `heaplens stats | map | diff`: read dumps from files or stdin and render them.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::heap::render::{render_diff, render_map, render_stats, MapOptions};
use crate::heap::{self, Snapshot};

/// Read a dump from a file, or from stdin when the path is `-`.
fn read_dump(path: &Path) -> anyhow::Result<Snapshot> {
    let (bytes, name) = if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read the dump from stdin")?;
        (bytes, "<stdin>".to_string())
    } else {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read the dump file {}", path.display()))?;
        (bytes, path.display().to_string())
    };
    heap::parse_dump(&bytes).with_context(|| format!("{name} is not a readable mem_info dump"))
}

/// Write to stdout; a closed pipe (`heaplens map x | head`) is not an error.
fn print(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(err).context("cannot write to stdout")
        }
        _ => Ok(()),
    }
}

/// Colours only for a terminal, unless `--no-color` or `NO_COLOR` says otherwise.
pub(super) fn use_color(no_color: bool) -> bool {
    !no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

pub fn stats(dump: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let stats = read_dump(dump)?.stats();
    if json {
        let mut text = serde_json::to_string_pretty(&stats)?;
        text.push('\n');
        print(&text)?;
    } else {
        print(&render_stats(&stats))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn map(
    dump: &Path,
    columns: usize,
    rainbow: bool,
    show_free: bool,
    no_color: bool,
) -> anyhow::Result<ExitCode> {
    if columns == 0 {
        anyhow::bail!("--columns must be at least 1");
    }
    let snapshot = read_dump(dump)?;
    let options = MapOptions {
        columns,
        rainbow,
        show_free,
        color: use_color(no_color),
    };
    print(&render_map(&snapshot, &options))?;
    Ok(ExitCode::SUCCESS)
}

pub fn diff(before: &Path, after: &Path, json: bool, no_color: bool) -> anyhow::Result<ExitCode> {
    if before == Path::new("-") && after == Path::new("-") {
        anyhow::bail!("only one of BEFORE and AFTER can be `-` (stdin)");
    }
    let before = read_dump(before)?;
    let after = read_dump(after)?;
    let diff = heap::diff(&before, &after);
    if json {
        let mut text = serde_json::to_string_pretty(&diff)?;
        text.push('\n');
        print(&text)?;
    } else {
        print(&render_diff(&diff, use_color(no_color)))?;
    }
    Ok(ExitCode::SUCCESS)
}
