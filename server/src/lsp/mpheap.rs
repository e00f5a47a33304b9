//! Heap dump documents (`*.mpheap`, language `mpheap`, or `mem_info` text pasted from a REPL
//! or a device log): diagnostics for unreadable or inconsistent dumps, hover over a map
//! character, document symbols and code lenses for each dump of the document. The dumps are
//! read by [`crate::heap`]; this module only maps editor positions to dumps and blocks.
//!
//! Lines are counted as LSP counts them (LF, CR LF and a lone CR each end a line), which is
//! how the reader numbers them too.

use tower_lsp_server::ls_types::{
    CodeLens, Command, Diagnostic, DiagnosticSeverity, DocumentSymbol, NumberOrString, Position,
    Range, SymbolKind, Uri,
};

use crate::diagnose::{kib_and_bytes, thousands};
use crate::heap::RowPlacement;
use crate::heap::{self, Dump, DumpError, Snapshot};

use super::to_proto::{line_range, LINE_END};

/// Whether a document should be treated as a heap dump.
pub fn is_heap_dump(uri: &Uri, language_id: &str) -> bool {
    language_id == "mpheap" || uri.path().as_str().ends_with(".mpheap")
}

fn whole_line(line: u32) -> Range {
    line_range(line, line)
}

fn diagnostic(line: u32, severity: DiagnosticSeverity, code: &str, message: String) -> Diagnostic {
    Diagnostic {
        range: whole_line(line),
        severity: Some(severity),
        code: Some(NumberOrString::String(code.into())),
        source: Some("heaplens".into()),
        message,
        ..Default::default()
    }
}

/// The document's lines, split where LSP splits them.
fn doc_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find(['\n', '\r']) {
            Some(at) => {
                lines.push(&rest[..at]);
                let ending = if rest[at..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[at + ending..];
            }
            None => {
                lines.push(rest);
                rest = "";
            }
        }
    }
    lines
}

/// 0-based LSP line of a 1-based reader line.
fn lsp_line(line: usize) -> u32 {
    u32::try_from(line.saturating_sub(1)).unwrap_or(u32::MAX)
}

/// The dumps of a dump document, read once per version (diagnostics, hovers, symbols and
/// lenses reuse the result).
pub type Read = Result<Vec<Dump>, DumpError>;

/// Reads the dump document `text`, with the placement of every map row (for hovers).
pub fn read(text: &str) -> Read {
    #[cfg(test)]
    reads::record(text);
    heap::parse_dumps_with_rows(text.as_bytes())
}

/// Counts reads per text, so tests can check a document is read once per version.
#[cfg(test)]
pub(crate) mod reads {
    use std::collections::HashMap;
    use std::sync::Mutex;

    static READS: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);

    pub fn record(text: &str) {
        let mut reads = READS.lock().unwrap_or_else(|e| e.into_inner());
        *reads
            .get_or_insert_with(HashMap::new)
            .entry(text.to_string())
            .or_default() += 1;
    }

    /// How many times `text` was read.
    pub fn of(text: &str) -> usize {
        let reads = READS.lock().unwrap_or_else(|e| e.into_inner());
        reads
            .as_ref()
            .and_then(|r| r.get(text))
            .copied()
            .unwrap_or(0)
    }
}

/// Reading errors, the warnings of every dump, and the figures each dump leaves unknown.
pub fn diagnostics(text: &str, read: &Read) -> Vec<Diagnostic> {
    let dumps = match read {
        Ok(dumps) => dumps,
        Err(e) => {
            let line = dump_error_line(e).map_or(0, lsp_line);
            return vec![diagnostic(
                line,
                DiagnosticSeverity::ERROR,
                "unreadable-dump",
                e.to_string(),
            )];
        }
    };
    let lines = doc_lines(text);
    let several = dumps.len() > 1;
    let mut out = Vec::new();
    for (index, dump) in dumps.iter().enumerate() {
        // Warnings about the dump as a whole go on its `GC:` line (else its first line).
        let anchor = (dump.first_line..=dump.last_line)
            .find(|&l| {
                lines
                    .get(l.saturating_sub(1))
                    .is_some_and(|t| t.contains("GC:"))
            })
            .unwrap_or(dump.first_line);
        let prefix = if several {
            format!("dump {}: ", index + 1)
        } else {
            String::new()
        };
        let figures = dump.snapshot.figures();
        for warning in dump.snapshot.warnings.iter().chain(&figures.unknown) {
            let line = warning.line().unwrap_or(anchor);
            out.push(diagnostic(
                lsp_line(line),
                DiagnosticSeverity::WARNING,
                "inconsistent-dump",
                format!("{prefix}{warning}"),
            ));
        }
    }
    out
}

/// The 1-based line a reading error points at.
fn dump_error_line(e: &DumpError) -> Option<usize> {
    match e {
        DumpError::NotADump { .. } => None,
        DumpError::Malformed { line, .. }
        | DumpError::BadBlock { line, .. }
        | DumpError::TooLarge { line, .. } => Some(*line),
    }
}

/// Hover over a dump line: a block letter (its block, offset, address, kind and allocation)
/// or a header line (each figure it states, in KiB with the exact bytes, and what it means).
/// `text` is the document the dumps were read from.
pub fn hover(dumps: &[Dump], text: &str, line: u32, character: u32) -> Option<String> {
    let line = line as usize + 1;
    let column = character as usize;
    let several = dumps.len() > 1;
    let footer = |index: usize| {
        if several {
            format!("\ndump {} of {}\n", index + 1, dumps.len())
        } else {
            String::new()
        }
    };
    let block = dumps.iter().enumerate().find_map(|(index, dump)| {
        let row = dump
            .rows
            .iter()
            .find(|r| r.line == line && r.column <= column && column < r.column + r.blocks)?;
        let md = block_hover(&dump.snapshot, row, column - row.column)?;
        Some(md + &footer(index))
    });
    if block.is_some() {
        return block;
    }
    let lines = doc_lines(text);
    let source = *lines.get(line.checked_sub(1)?)?;
    let (index, dump) = dumps
        .iter()
        .enumerate()
        .find(|(_, d)| d.first_line <= line && line <= d.last_line)?;
    let area = || {
        (dump.first_line..line)
            .filter(|&l| lines.get(l - 1).is_some_and(|t| is_area_header(t)))
            .count()
    };
    let md = header_hover(&dump.snapshot, source, area)?;
    Some(md + &footer(index))
}

/// `N` blocks as `N blocks = 1.5 KiB (1,536 bytes)` (blocks alone when the size is unknown).
fn blocks_text(blocks: u64, block_bytes: Option<u64>) -> String {
    let plural = if blocks == 1 { "block" } else { "blocks" };
    match block_bytes {
        Some(b) => format!(
            "{} {plural} = {}",
            thousands(blocks),
            kib_and_bytes(blocks * b)
        ),
        None => format!("{} {plural} (block size unknown)", thousands(blocks)),
    }
}

/// The hover of a header line of `snapshot`'s dump: what its figures are. `area` counts the
/// area headers before this line (for a `GC memory layout` line).
fn header_hover(snapshot: &Snapshot, source: &str, area: impl Fn() -> usize) -> Option<String> {
    let header = &snapshot.header;
    let block_bytes = snapshot.block_bytes.map(u64::from);
    let stated = |value: Option<u64>| value.map_or("not stated".to_string(), kib_and_bytes);
    let mut md = String::new();
    if is_area_header(source) {
        let index = area();
        let area = snapshot.areas.get(index)?;
        md.push_str(&format!("**heap area {index}**"));
        if let Some(address) = area.address {
            md.push_str(&format!(" · starts at address `0x{address:x}`"));
        }
        md.push_str(&format!(
            "\n\n{}. The offsets at the start of each map row count bytes from the start of \
             this area; each letter is one block (`.` free, `=` the tail of the allocation to \
             its left, other letters an allocation's kind).\n",
            blocks_text(area.blocks.len() as u64, block_bytes)
        ));
    } else if source.contains("mem:") {
        md.push_str("**mem** — allocation counters (only on builds with `MICROPY_MEM_STATS`, such as the unix port behind the simulated Pico)\n\n| | |\n|---|---|\n");
        md.push_str(&format!(
            "| total | {} allocated since start-up |\n",
            stated(header.mem_total())
        ));
        md.push_str(&format!(
            "| current | {} allocated now |\n",
            stated(header.mem_current())
        ));
        md.push_str(&format!(
            "| peak | {} at the most |\n",
            stated(header.mem_peak())
        ));
    } else if source.contains("stack:") {
        md.push_str(&format!(
            "**stack** — {} of the C stack in use",
            stated(header.stack_used())
        ));
        if let Some(limit) = header.stack_limit() {
            md.push_str(&format!(", out of {}", kib_and_bytes(limit)));
        }
        md.push_str(
            "\n\nThe C stack is not the heap: deep recursion exhausts it \
             (`RuntimeError: maximum recursion depth exceeded`), allocations do not.\n",
        );
    } else if source.contains("GC:") {
        md.push_str("**GC heap**\n\n| | |\n|---|---|\n");
        md.push_str(&format!("| total | {} |\n", stated(header.gc_total())));
        let share = match (header.gc_used(), header.gc_total()) {
            (Some(used), Some(total)) if total > 0 => {
                format!(" ({:.1}%)", used as f64 * 100.0 / total as f64)
            }
            _ => String::new(),
        };
        md.push_str(&format!("| used | {}{share} |\n", stated(header.gc_used())));
        md.push_str(&format!("| free | {} |\n", stated(header.gc_free())));
        if let Some(split) = header.max_new_split() {
            md.push_str(&format!(
                "| max new split | {}: the most this port could still add as a new area |\n",
                kib_and_bytes(split)
            ));
        }
        md.push_str(
            "\n_`used` includes garbage not collected yet: capture after `gc.collect()` for \
             what is really alive._\n",
        );
    } else if source.contains("No. of") || source.contains("1-blocks") {
        let blocks = |value: Option<u64>| {
            value.map_or("not stated".to_string(), |n| blocks_text(n, block_bytes))
        };
        md.push_str("**allocations and free runs**\n\n| | |\n|---|---|\n");
        if let Some(n) = header.one_blocks() {
            md.push_str(&format!(
                "| 1-blocks | {} allocations exactly one block long |\n",
                thousands(n)
            ));
        }
        if let Some(n) = header.two_blocks() {
            md.push_str(&format!(
                "| 2-blocks | {} allocations exactly two blocks long |\n",
                thousands(n)
            ));
        }
        md.push_str(&format!(
            "| largest allocation (`max blk sz`) | {} |\n",
            blocks(header.max_block())
        ));
        md.push_str(&format!(
            "| longest free run (`max free sz`) | {}: the largest allocation that can succeed now |\n",
            blocks(header.max_free())
        ));
    } else {
        return None;
    }
    Some(md)
}

fn block_hover(snapshot: &Snapshot, row: &RowPlacement, column: usize) -> Option<String> {
    let area = snapshot.areas.get(row.area)?;
    let block = row.block + column;
    let kind = *area.blocks.get(block)?;
    let mut md = format!(
        "**{}** `{}` · block {block} of area {}\n\n",
        kind.name(),
        kind.letter(),
        row.area
    );
    match snapshot.block_bytes.map(u64::from) {
        Some(bytes) => {
            let offset = block as u64 * bytes;
            md.push_str(&format!("offset `0x{offset:x}`"));
            if let Some(base) = area.address {
                md.push_str(&format!(" · address `0x{:x}`", base + offset));
            }
        }
        None => md.push_str("offset unknown (block size unknown)"),
    }
    md.push('\n');
    if let Some(alloc) = snapshot
        .allocations()
        .find(|a| a.area == row.area && a.offset <= block && block < a.offset + a.blocks)
    {
        let size = snapshot
            .block_bytes
            .map(|b| format!(" = {} bytes", alloc.blocks as u64 * u64::from(b)))
            .unwrap_or_default();
        md.push_str(&format!(
            "\nallocation: {} at block {}, {} block{}{size}\n",
            alloc.kind.name(),
            alloc.offset,
            alloc.blocks,
            if alloc.blocks == 1 { "" } else { "s" },
        ));
    } else {
        md.push_str("\nfree block\n");
    }
    Some(md)
}

fn is_header_line(line: &str) -> bool {
    ["mem:", "stack:", "GC:", "No. of"]
        .iter()
        .any(|key| line.contains(key))
        && !is_area_header(line)
}

fn is_area_header(line: &str) -> bool {
    line.contains("GC memory layout") || line.contains("GC area #")
}

fn symbol(
    name: String,
    detail: Option<String>,
    first: u32,
    last: u32,
    kind: SymbolKind,
) -> DocumentSymbol {
    #[allow(
        deprecated,
        reason = "DocumentSymbol::deprecated must still be initialised"
    )]
    DocumentSymbol {
        name,
        detail,
        kind,
        tags: None,
        deprecated: None,
        range: Range {
            start: Position {
                line: first,
                character: 0,
            },
            end: Position {
                line: last,
                character: LINE_END,
            },
        },
        selection_range: whole_line(first),
        children: None,
    }
}

/// The header and each area of one dump, as symbols (lines are 0-based).
fn dump_symbols(lines: &[&str], dump: &Dump) -> Vec<DocumentSymbol> {
    let first = dump.first_line.saturating_sub(1);
    let last = dump
        .last_line
        .saturating_sub(1)
        .min(lines.len().saturating_sub(1));
    let range = first..=last;
    let mut out = Vec::new();
    let header_lines: Vec<usize> = range
        .clone()
        .filter(|&i| lines.get(i).is_some_and(|l| is_header_line(l)))
        .collect();
    if let (Some(&start), Some(&end)) = (header_lines.first(), header_lines.last()) {
        let detail = header_lines
            .iter()
            .filter_map(|&i| lines.get(i))
            .find(|l| l.contains("GC:"))
            .map(|l| l.trim().to_string());
        out.push(symbol(
            "Header".into(),
            detail,
            start as u32,
            end as u32,
            SymbolKind::NAMESPACE,
        ));
    }
    let area_lines: Vec<usize> = range
        .filter(|&i| lines.get(i).is_some_and(|l| is_area_header(l)))
        .collect();
    for (n, &start) in area_lines.iter().enumerate() {
        let next = area_lines.get(n + 1).copied().unwrap_or(last + 1);
        // The area's last row: the last placed row before the next area.
        let end = dump
            .rows
            .iter()
            .map(|r| r.line.saturating_sub(1))
            .filter(|&l| l > start && l < next)
            .max()
            .unwrap_or(start);
        let text = lines.get(start).copied().unwrap_or_default().trim();
        let name = match text.find("from") {
            Some(at) => format!("Area {n}: Area {}", text[at..].trim_end_matches(':')),
            None => format!("Area {n}"),
        };
        out.push(symbol(
            name,
            None,
            start as u32,
            end as u32,
            SymbolKind::ARRAY,
        ));
    }
    out
}

/// Symbols of the document: for one dump its header and areas; for several, one symbol per
/// dump holding its header and areas.
pub fn symbols(text: &str, dumps: &[Dump]) -> Vec<DocumentSymbol> {
    let lines = doc_lines(text);
    if let [dump] = dumps {
        return dump_symbols(&lines, dump);
    }
    dumps
        .iter()
        .enumerate()
        .map(|(index, dump)| {
            let stats = dump.snapshot.figures();
            let detail = match (stats.used, stats.gc_total) {
                (Some(used), Some(total)) => Some(format!("used {used} of {total} bytes")),
                _ => None,
            };
            let mut parent = symbol(
                format!("Dump {}", index + 1),
                detail,
                lsp_line(dump.first_line),
                lsp_line(dump.last_line),
                SymbolKind::MODULE,
            );
            parent.children = Some(dump_symbols(&lines, dump));
            parent
        })
        .collect()
}

/// One lens per dump opening it as a heap map, and for a document with several dumps one
/// more at the top that opens them all as a timeline. The client's
/// `heaplens.openAsHeapMap [uri, index?]` runs `heaplens.openDump` with the same arguments.
pub fn code_lenses(uri: &Uri, dumps: &[Dump]) -> Vec<CodeLens> {
    let uri_arg = serde_json::json!(uri.as_str());
    let at = |line: u32| Range {
        start: Position { line, character: 0 },
        end: Position { line, character: 0 },
    };
    let mut lenses = Vec::new();
    if dumps.len() > 1 {
        lenses.push(CodeLens {
            range: at(0),
            command: Some(Command {
                title: format!("Open all {} dumps as a timeline", dumps.len()),
                command: "heaplens.openAsHeapMap".into(),
                arguments: Some(vec![uri_arg.clone()]),
            }),
            data: None,
        });
    }
    for (index, dump) in dumps.iter().enumerate() {
        let title = if dumps.len() > 1 {
            format!("Open dump {} of {} as heap map", index + 1, dumps.len())
        } else {
            "Open as heap map".to_string()
        };
        lenses.push(CodeLens {
            range: at(lsp_line(dump.first_line)),
            command: Some(Command {
                title,
                command: "heaplens.openAsHeapMap".into(),
                arguments: Some(vec![uri_arg.clone(), serde_json::json!(index)]),
            }),
            data: None,
        });
    }
    lenses
}

#[cfg(test)]
mod tests;
