//! `heaplens stats | map | diff`: read dumps from files or stdin and render them.
//!
//! A capture may hold several dumps: `--all` shows each, `--index N` (1-based) picks one, and
//! `diff` takes `FILE#N`. Warnings go to stderr in text mode and into `warnings` in JSON; the
//! exit status is 0 for a readable dump, 2 for an unreadable one (and for bad arguments).

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::heap::render::{render_diff, render_map, render_stats, MapOptions};
use crate::heap::{self, Dump, Snapshot, Warning};

/// Which dumps of a capture a command shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Dump N (1-based); without `--index`, the first, with a warning when there are more.
    One(Option<usize>),
    All,
}

/// A dump file (or `-` for stdin) read into its dumps, named for messages.
struct Capture {
    name: String,
    dumps: Vec<Dump>,
}

/// Read the bytes of a dump file, or stdin when the path is `-`.
fn read_bytes(path: &Path) -> anyhow::Result<(Vec<u8>, String)> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read the dump from stdin")?;
        Ok((bytes, "<stdin>".to_string()))
    } else {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read the dump file {}", path.display()))?;
        Ok((bytes, path.display().to_string()))
    }
}

fn read_capture(path: &Path) -> anyhow::Result<Capture> {
    let (bytes, name) = read_bytes(path)?;
    parse_capture(&bytes, name)
}

fn parse_capture(bytes: &[u8], name: String) -> anyhow::Result<Capture> {
    let dumps = heap::parse_dumps(bytes)
        .with_context(|| format!("{name} is not a readable mem_info dump"))?;
    Ok(Capture { name, dumps })
}

impl Capture {
    /// The dumps `pick` names, each with its 1-based number. Picking one dump of several
    /// without `--index` adds a warning that there are more.
    fn pick(self, pick: Pick) -> anyhow::Result<Vec<(usize, Snapshot)>> {
        let count = self.dumps.len();
        match pick {
            Pick::All => Ok(self
                .dumps
                .into_iter()
                .enumerate()
                .map(|(i, d)| (i + 1, d.snapshot))
                .collect()),
            Pick::One(index) => {
                let number = index.unwrap_or(1);
                if number == 0 || number > count {
                    anyhow::bail!(
                        "{} holds {count} dump(s); there is no dump {number} (dumps are numbered from 1)",
                        self.name
                    );
                }
                let second_line = self.dumps.get(1).map(|d| d.first_line);
                let mut snapshot = self
                    .dumps
                    .into_iter()
                    .nth(number - 1)
                    .map(|d| d.snapshot)
                    .context("dump vanished")?;
                if let (None, Some(line)) = (index, second_line) {
                    snapshot.warnings.push(Warning::ExtraDump { line, count });
                }
                Ok(vec![(number, snapshot)])
            }
        }
    }
}

/// Write to stdout; a closed pipe (`heaplens map x | head`) is not an error.
fn print(text: &str) -> anyhow::Result<()> {
    print_bytes(text.as_bytes())
}

/// Write bytes to stdout as they are; a closed pipe is not an error.
pub(super) fn print_bytes(bytes: &[u8]) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(err).context("cannot write to stdout")
        }
        _ => Ok(()),
    }
}

/// Print warnings to stderr (text mode), with the dump's number when there are several.
pub(super) fn warn(warnings: &[String], dump: Option<usize>) {
    let prefix = dump.map(|n| format!("dump {n}: ")).unwrap_or_default();
    for warning in warnings {
        eprintln!("heaplens: warning: {prefix}{warning}");
    }
}

/// Colours only for a terminal, unless `--no-color` or `NO_COLOR` says otherwise.
pub(super) fn use_color(no_color: bool) -> bool {
    !no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

/// Write `value` as pretty JSON to stdout as it is serialised, never as one string in
/// memory: a diff of two big heaps that differ everywhere is large. A closed pipe is not an
/// error.
fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let stdout = std::io::stdout().lock();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout);
    let written = serde_json::to_writer_pretty(&mut out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    match written {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(err).context("cannot write to stdout")
        }
        _ => Ok(()),
    }
}

pub fn stats(dump: &Path, pick: Pick, json: bool) -> anyhow::Result<ExitCode> {
    let dumps = read_capture(dump)?.pick(pick)?;
    if json {
        match pick {
            Pick::All => {
                // A list of stats objects, each with its dump number.
                let list: Vec<serde_json::Value> = dumps
                    .iter()
                    .map(|(number, snapshot)| {
                        let mut value = serde_json::to_value(snapshot.stats())?;
                        value["dump"] = serde_json::Value::from(*number);
                        Ok(value)
                    })
                    .collect::<anyhow::Result<_>>()?;
                print_json(&list)?;
            }
            Pick::One(_) => print_json(&dumps[0].1.stats())?,
        }
        return Ok(ExitCode::SUCCESS);
    }
    let several = dumps.len() > 1;
    let mut out = String::new();
    for (number, snapshot) in &dumps {
        let stats = snapshot.stats();
        if several {
            out.push_str(&format!("== dump {number} ==\n"));
        }
        out.push_str(&render_stats(&stats));
        warn(&stats.warnings, several.then_some(*number));
    }
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

pub fn map(dump: &Path, pick: Pick, options: MapOptions) -> anyhow::Result<ExitCode> {
    if options.columns == 0 {
        anyhow::bail!("--columns must be at least 1");
    }
    let dumps = read_capture(dump)?.pick(pick)?;
    let several = dumps.len() > 1;
    let mut out = String::new();
    for (number, snapshot) in &dumps {
        if several {
            out.push_str(&format!("== dump {number} ==\n"));
        }
        out.push_str(&render_map(snapshot, &options));
        warn(&snapshot.stats().warnings, several.then_some(*number));
    }
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// `FILE#N`: dump N (1-based) of FILE. A path that exists as written is taken whole, so a
/// file named with a `#` still reads.
fn split_dump_ref(arg: &Path) -> (PathBuf, Option<usize>) {
    let text = arg.to_string_lossy();
    if arg.exists() || arg == Path::new("-") {
        return (arg.to_path_buf(), None);
    }
    match text.rsplit_once('#') {
        Some((file, number))
            if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (PathBuf::from(file), number.parse().ok())
        }
        _ => (arg.to_path_buf(), None),
    }
}

pub fn diff(before: &Path, after: &Path, json: bool, no_color: bool) -> anyhow::Result<ExitCode> {
    let (before_path, before_index) = split_dump_ref(before);
    let (after_path, after_index) = split_dump_ref(after);
    let stdin = Path::new("-");
    // Stdin can be read once; two dumps of it (`-#1 -#2`) share that read.
    let stdin_bytes = if before_path == stdin || after_path == stdin {
        if before_path == stdin && after_path == stdin && before_index.is_none() {
            anyhow::bail!("only one of BEFORE and AFTER can be `-` (stdin), unless both name a dump of it (`-#1 -#2`)");
        }
        Some(read_bytes(stdin)?.0)
    } else {
        None
    };
    let load = |path: &Path, index: Option<usize>| -> anyhow::Result<(Snapshot, Vec<String>)> {
        let capture = match &stdin_bytes {
            Some(bytes) if path == stdin => parse_capture(bytes, "<stdin>".to_string())?,
            _ => read_capture(path)?,
        };
        let (_, snapshot) = capture
            .pick(Pick::One(index))?
            .into_iter()
            .next()
            .context("no dump")?;
        let warnings = snapshot.stats().warnings;
        Ok((snapshot, warnings))
    };
    let (before, before_warnings) = load(&before_path, before_index)?;
    let (after, after_warnings) = load(&after_path, after_index)?;
    let mut diff = heap::diff(&before, &after);
    if json {
        // The snapshots' own warnings belong in the JSON too.
        let mut warnings: Vec<String> = before_warnings
            .iter()
            .map(|w| format!("before: {w}"))
            .chain(after_warnings.iter().map(|w| format!("after: {w}")))
            .collect();
        warnings.append(&mut diff.warnings);
        diff.warnings = warnings;
        print_json(&diff)?;
    } else {
        for (side, warnings) in [("before", &before_warnings), ("after", &after_warnings)] {
            for warning in warnings {
                eprintln!("heaplens: warning: {side}: {warning}");
            }
        }
        warn(&diff.warnings, None);
        diff.warnings.clear();
        print(&render_diff(&diff, use_color(no_color)))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_references() {
        assert_eq!(
            split_dump_ref(Path::new("/nonexistent/log.txt#3")),
            (PathBuf::from("/nonexistent/log.txt"), Some(3))
        );
        assert_eq!(
            split_dump_ref(Path::new("/nonexistent/log.txt")),
            (PathBuf::from("/nonexistent/log.txt"), None)
        );
        assert_eq!(
            split_dump_ref(Path::new("/nonexistent/a#b")),
            (PathBuf::from("/nonexistent/a#b"), None)
        );
        assert_eq!(
            split_dump_ref(Path::new("-#2")),
            (PathBuf::from("-"), Some(2))
        );
    }
}
