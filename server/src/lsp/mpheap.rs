//! Heap dump documents (`*.mpheap`, language `mpheap`, or `mem_info` text pasted from a REPL):
//! diagnostics for unreadable or inconsistent dumps, hover over a map character, and document
//! symbols for the header and each area. The dump itself is read by [`crate::heap`]; this
//! module only maps editor positions to blocks.

use tower_lsp_server::ls_types::{
    Diagnostic, DiagnosticSeverity, DocumentSymbol, NumberOrString, Position, Range, SymbolKind,
    Uri,
};

use crate::heap::{self, DumpError, Snapshot, Warning};

use super::to_proto::{line_range, LINE_END};

fn whole_line(line: u32) -> Range {
    line_range(line, line)
}

/// Whether a document should be treated as a heap dump.
pub fn is_heap_dump(uri: &Uri, language_id: &str) -> bool {
    language_id == "mpheap" || uri.path().as_str().ends_with(".mpheap")
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

/// Reads the dump document `text` (once per version: hovers and symbols reuse the result).
pub fn read(text: &str) -> Result<Snapshot, DumpError> {
    heap::parse_dump(text.as_bytes())
}

/// Reading errors and cross-check warnings of the dump `parsed` from `text`.
pub fn diagnostics(text: &str, parsed: &Result<Snapshot, DumpError>) -> Vec<Diagnostic> {
    match parsed {
        Err(e) => {
            let line = dump_error_line(e).map_or(0, |l| l.saturating_sub(1) as u32);
            vec![diagnostic(
                line,
                DiagnosticSeverity::ERROR,
                "unreadable-dump",
                e.to_string(),
            )]
        }
        Ok(snapshot) => {
            let gc_line = find_line(text, |l| l.trim_start().starts_with("GC:")).unwrap_or(0);
            snapshot
                .warnings
                .iter()
                .map(|w| {
                    let line = warning_line(w).map_or(gc_line, |l| l.saturating_sub(1) as u32);
                    diagnostic(
                        line,
                        DiagnosticSeverity::WARNING,
                        "inconsistent-dump",
                        w.to_string(),
                    )
                })
                .collect()
        }
    }
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

/// The 1-based line a warning points at, when it is about one line.
fn warning_line(w: &Warning) -> Option<usize> {
    match w {
        Warning::RowMisplaced { line, .. } | Warning::ExtraDump { line } => Some(*line),
        _ => None,
    }
}

fn find_line(text: &str, pred: impl Fn(&str) -> bool) -> Option<u32> {
    text.lines().position(pred).map(|i| i as u32)
}

/// A map row: `offset: letters`, with the column where the letters start.
struct Row<'a> {
    offset: u64,
    letters_start: usize,
    letters: &'a str,
}

fn parse_row(line: &str) -> Option<Row<'_>> {
    let line = line.trim_end_matches('\r');
    let (offset, rest) = line.split_once(": ")?;
    if offset.is_empty() || !offset.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(Row {
        offset: u64::from_str_radix(offset, 16).ok()?,
        letters_start: offset.len() + 2,
        letters: rest,
    })
}

fn is_area_header(line: &str) -> bool {
    line.contains("GC memory layout; from")
}

/// Hover over a block letter of `text` (read as `snapshot`): its block, offset, address, kind
/// and allocation.
pub fn hover(text: &str, snapshot: &Snapshot, line: u32, character: u32) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let row_text = lines.get(line as usize)?;
    let row = parse_row(row_text)?;
    let col = character as usize;
    if col < row.letters_start || col >= row.letters_start + row.letters.len() {
        return None;
    }
    let area_index = lines[..line as usize]
        .iter()
        .filter(|l| is_area_header(l))
        .count()
        .saturating_sub(1);
    block_hover(snapshot, area_index, row.offset, col - row.letters_start)
}

fn block_hover(
    snapshot: &Snapshot,
    area_index: usize,
    row_offset: u64,
    column: usize,
) -> Option<String> {
    let block_bytes = u64::from(snapshot.block_bytes.max(1));
    let area = snapshot.areas.get(area_index)?;
    let block = (row_offset / block_bytes) as usize + column;
    let kind = *area.blocks.get(block)?;
    let offset = block as u64 * block_bytes;
    let mut md = format!(
        "**{}** `{}` · block {block} of area {area_index}\n\n",
        kind.name(),
        kind.letter()
    );
    md.push_str(&format!("offset `0x{offset:x}`"));
    if let Some(base) = area.address {
        md.push_str(&format!(" · address `0x{:x}`", base + offset));
    }
    md.push('\n');
    if let Some(alloc) = snapshot
        .allocations()
        .find(|a| a.area == area_index && a.offset <= block && block < a.offset + a.blocks)
    {
        md.push_str(&format!(
            "\nallocation: {} at block {}, {} block{} = {} bytes\n",
            alloc.kind.name(),
            alloc.offset,
            alloc.blocks,
            if alloc.blocks == 1 { "" } else { "s" },
            alloc.blocks as u64 * block_bytes
        ));
    } else {
        md.push_str("\nfree block\n");
    }
    Some(md)
}

/// The header and each area as document symbols.
#[allow(
    deprecated,
    reason = "DocumentSymbol::deprecated must still be initialised"
)]
pub fn symbols(text: &str) -> Vec<DocumentSymbol> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let header_lines: Vec<u32> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start();
            t.starts_with("mem:")
                || t.starts_with("stack:")
                || t.starts_with("GC:")
                || t.starts_with("No. of")
        })
        .map(|(i, _)| i as u32)
        .collect();
    let symbol = |name: String, detail: Option<String>, first: u32, last: u32, kind: SymbolKind| {
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
    };
    if let (Some(&first), Some(&last)) = (header_lines.first(), header_lines.last()) {
        let detail = lines
            .iter()
            .find(|l| l.trim_start().starts_with("GC:"))
            .map(|l| l.trim().to_string());
        out.push(symbol(
            "Header".into(),
            detail,
            first,
            last,
            SymbolKind::NAMESPACE,
        ));
    }
    let headers: Vec<u32> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| is_area_header(l))
        .map(|(i, _)| i as u32)
        .collect();
    for (n, &start) in headers.iter().enumerate() {
        let next = headers.get(n + 1).copied().unwrap_or(lines.len() as u32);
        let last_row = (start..next)
            .rev()
            .find(|&i| {
                parse_row(lines[i as usize]).is_some()
                    || lines[i as usize].contains("lines all free")
            })
            .unwrap_or(start);
        let name = lines[start as usize]
            .trim()
            .trim_end_matches(':')
            .replace("GC memory layout; from", "Area from")
            .trim()
            .to_string();
        out.push(symbol(
            format!("Area {n}: {name}"),
            None,
            start,
            last_row,
            SymbolKind::ARRAY,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../../tests/fixtures/meminfo/pico-seed-192064.txt");

    #[test]
    fn hover_over_a_tuple_block() {
        // Row 00000: block 11 is the first `T` after "h=MhhhBDhhB".
        let seed = read(SEED).unwrap();
        let md = hover(SEED, &seed, 4, 7 + 11).unwrap();
        assert!(md.starts_with("**tuple** `T` · block 11 of area 0"), "{md}");
        assert!(md.contains("address `0x200085"), "{md}");
        assert!(md.contains("1 block = 16 bytes"), "{md}");
        assert_eq!(
            hover(SEED, &seed, 4, 2),
            None,
            "the offset column is not a block"
        );
        assert_eq!(hover(SEED, &seed, 0, 0), None);
    }

    #[test]
    fn garbage_gets_one_error_and_symbols_cover_areas() {
        let d = diagnostics("hello\nworld\n", &read("hello\nworld\n"));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].severity, Some(DiagnosticSeverity::ERROR));
        assert!(diagnostics(SEED, &read(SEED)).is_empty());
        let names: Vec<String> = symbols(SEED).into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["Header", "Area 0: Area from 200084a0"]);
    }
}
