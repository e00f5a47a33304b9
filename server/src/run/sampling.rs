//! Sampled instrumentation: every loop body and function body exists twice, a probed copy
//! that runs for the block's first N executions and a plain copy for every later one.
//!
//! Why: exact per-line figures need `gc.mem_alloc()`, which scans the whole allocation table,
//! on every allocating probe. A hot loop then runs 3x to 20x slower than the plain script (far
//! worse on a Pico, which has no O(1) allocation counter at all). Measuring only a block's
//! first executions keeps the figures exact for those and costs one global test per
//! execution afterwards.
//!
//! The rewrite works on rows of text, before the probes are planned:
//!
//! ```text
//! for i in r:                 for i in r:
//!     a = f(i)        ==>         if _hl_s0 and _hl_v(0):
//!     b.append(a)                     a = f(i)
//!                                     b.append(a)
//!                                 else:
//!                                     a = f(i)
//!                                     b.append(a)
//! ```
//!
//! `_hl_s0` is a module global that holds 1 until `_hl_v(0)` has said yes N times; the
//! (N+1)-th call records that the block ran unmeasured and sets it to 0, so from then on the
//! test is a single global lookup. Both copies keep their statements' text, so they behave
//! alike, and every row keeps its user line for the [`LineMap`](super::line_map::LineMap).
//! Only the probed copy gets probes (and, recursively, versioned inner blocks); the plain copy
//! is the user's code and nothing else.
//!
//! Indentation: each copy's rows get one more level, written as the block's own indentation
//! step when the block indents with spaces only, and as a tab otherwise (a tab moves any
//! indentation by exactly 8 columns in MicroPython's lexer, so mixed indentation stays
//! consistent). Rows that start inside a multi-line string are not touched, so string values
//! do not change. A function's docstring stays its first statement, before the test.
//! Not versioned: class bodies (they run once; their methods are versioned), bodies on their header's line (`for x in y:
//! z`), and anything inside `@micropython.viper`/`asm_*` functions.
//!
//! This module knows nothing about probes or boards; it only produces the two-copy text.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde::Serialize;
use tree_sitter::Node;

use super::line_map::LineOrigin;
use super::source_rows::{is_docstring, SourceRows};

/// Prefix of the per-block switch globals (`_hl_s0`, `_hl_s1`, …).
pub const SWITCH_PREFIX: &str = "_hl_s";

/// A loop or function body that the rewrite versioned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SampledBlock {
    /// The `for`/`while`/`def` line (user line, 1-based).
    pub header_line: u32,
    /// The block's last user line.
    pub last_line: u32,
    /// True for a function body (later calls are charged to their caller's line), false for
    /// a loop body (later iterations are charged to the loop's header line).
    pub function: bool,
}

/// The versioned text, with the user origin of each of its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The rewritten script.
    pub text: String,
    /// Origin of each row of `text` (index 0 = row 0): user rows are `User`, the inserted
    /// `if`/`else` rows are `Probe` of their header line.
    pub origins: Vec<LineOrigin>,
    /// The versioned blocks; block `b` is switched by `_hl_s{b}`.
    pub blocks: Vec<SampledBlock>,
}

/// The condition text that opens the probed copy of block `block`.
pub fn switch_condition(block: usize) -> String {
    format!("{SWITCH_PREFIX}{block} and _hl_v({block})")
}

/// A block that can be versioned: rows `rows` (the part after any docstring) get two copies.
#[derive(Debug, Clone)]
struct Candidate {
    rows: Range<usize>,
    header_line: u32,
    function: bool,
    /// One indentation step for the copies.
    step: String,
}

struct Rewriter<'s> {
    source: &'s str,
    rows: SourceRows<'s>,
    newline: &'static str,
    /// Rows whose first byte lies inside a string literal: never re-indented.
    in_string: BTreeSet<usize>,
    /// Candidates keyed by their first row.
    candidates: BTreeMap<usize, Candidate>,
    text: String,
    origins: Vec<LineOrigin>,
    blocks: Vec<SampledBlock>,
}

/// Versions every eligible loop and function body of the parsed `source` (`root` is its
/// tree). Returns `None` when nothing is eligible.
pub fn version(source: &str, root: Node<'_>) -> Option<Versioned> {
    let rows = SourceRows::new(source);
    let mut rewriter = Rewriter {
        source,
        newline: rows.newline(),
        in_string: BTreeSet::new(),
        candidates: BTreeMap::new(),
        text: String::with_capacity(source.len() * 2),
        origins: Vec::new(),
        blocks: Vec::new(),
        rows,
    };
    rewriter.scan(root);
    if rewriter.candidates.is_empty() {
        return None;
    }
    let rows = rewriter.rows.len();
    // Row 0 never starts a candidate (a body's rows follow its header), so `emit`'s rule of
    // not versioning its own first row costs nothing here.
    rewriter.emit(0..rows, "", true);
    Some(Versioned {
        text: rewriter.text,
        origins: rewriter.origins,
        blocks: rewriter.blocks,
    })
}

fn line_of(row: usize) -> u32 {
    u32::try_from(row + 1).unwrap_or(u32::MAX)
}

impl<'s> Rewriter<'s> {
    fn row_text(&self, row: usize) -> &'s str {
        self.rows.text(row)
    }

    fn indent_of(&self, row: usize) -> &'s str {
        self.rows.indent(row)
    }

    /// Walks the tree: records string interiors and the blocks that can be versioned.
    fn scan(&mut self, node: Node<'_>) {
        match node.kind() {
            "string" | "concatenated_string" => {
                let (first, last) = (node.start_position().row, node.end_position().row);
                self.in_string.extend(first + 1..=last);
                return;
            }
            "decorated_definition" if has_native_code_decorator(node, self.source) => return,
            "function_definition" => self.consider(node, true),
            "for_statement" | "while_statement" => self.consider(node, false),
            _ => {}
        }
        let mut cursor = node.walk();
        let children: Vec<Node<'_>> = node.children(&mut cursor).collect();
        for child in children {
            self.scan(child);
        }
    }

    fn consider(&mut self, stmt: Node<'_>, function: bool) {
        let Some(body) = stmt.child_by_field_name("body") else {
            return;
        };
        let mut cursor = body.walk();
        let stmts: Vec<Node<'_>> = body
            .named_children(&mut cursor)
            .filter(|child| child.kind() != "comment")
            .collect();
        let Some(&first) = stmts.first() else {
            return;
        };
        // The header ends at the `:` before the body.
        let mut colon = body.prev_sibling();
        while let Some(token) = colon.filter(|token| token.kind() == "comment") {
            colon = token.prev_sibling();
        }
        let Some(colon_row) = colon
            .filter(|token| token.kind() == ":")
            .map(|token| token.end_position().row)
        else {
            return;
        };
        let mut start = first;
        if function && is_docstring(first) {
            let Some(&second) = stmts.get(1) else {
                return;
            };
            if second.start_position().row == first.end_position().row {
                return;
            }
            start = second;
        }
        let first_row = start.start_position().row;
        if first_row <= colon_row {
            return;
        }
        let end = body.end_position();
        // A block that ends at the start of a row ends on the row before.
        let last_row = if end.column == 0 && end.row > first_row {
            end.row - 1
        } else {
            end.row
        };
        let header_indent = self.indent_of(stmt.start_position().row);
        let body_indent = self.indent_of(first_row);
        let Some(step) = body_indent.strip_prefix(header_indent) else {
            return;
        };
        if step.is_empty() {
            return;
        }
        let spaces_only = (stmt.start_position().row..=last_row)
            .filter(|row| !self.in_string.contains(row))
            .all(|row| !self.indent_of(row).contains('\t'));
        let step = if spaces_only && !step.contains('\t') {
            step.to_string()
        } else {
            "\t".to_string()
        };
        self.candidates.insert(
            first_row,
            Candidate {
                rows: first_row..last_row + 1,
                header_line: line_of(stmt.start_position().row),
                function,
                step,
            },
        );
    }

    fn push_row(&mut self, row: usize, prefix: &str) {
        if !prefix.is_empty() && !self.in_string.contains(&row) {
            self.text.push_str(prefix);
        }
        self.text.push_str(self.row_text(row));
        self.text.push_str(self.newline);
        self.origins.push(LineOrigin::User(line_of(row)));
    }

    fn push_harness(&mut self, text: String, header_line: u32) {
        self.text.push_str(&text);
        self.text.push_str(self.newline);
        self.origins.push(LineOrigin::Probe(header_line));
    }

    /// Emits rows `rows` with `prefix` in front of each; with `probed`, versions the
    /// candidates found on the way (a plain copy stays plain all the way down).
    fn emit(&mut self, rows: Range<usize>, prefix: &str, probed: bool) {
        let mut row = rows.start;
        while row < rows.end {
            // A candidate's own first row is where its copies are being written.
            let candidate = if probed && row != rows.start {
                self.candidates.get(&row).cloned()
            } else {
                None
            };
            let Some(candidate) = candidate else {
                self.push_row(row, prefix);
                row += 1;
                continue;
            };
            let block = self.blocks.len();
            self.blocks.push(SampledBlock {
                header_line: candidate.header_line,
                last_line: line_of(candidate.rows.end - 1),
                function: candidate.function,
            });
            let indent = format!("{prefix}{}", self.indent_of(row));
            let inner = format!("{prefix}{}", candidate.step);
            self.push_harness(
                format!("{indent}if {}:", switch_condition(block)),
                candidate.header_line,
            );
            self.emit(candidate.rows.clone(), &inner, true);
            self.push_harness(format!("{indent}else:"), candidate.header_line);
            self.emit(candidate.rows.clone(), &inner, false);
            row = candidate.rows.end;
        }
    }
}

/// True for a definition decorated with `@micropython.viper` or `@micropython.asm_*`: its
/// code is not ordinary Python and must not be touched.
pub fn has_native_code_decorator(decorated: Node<'_>, source: &str) -> bool {
    let mut cursor = decorated.walk();
    let found = decorated.named_children(&mut cursor).any(|child| {
        child.kind() == "decorator"
            && source
                .get(child.start_byte()..child.end_byte())
                .is_some_and(|text| text.contains("viper") || text.contains("asm_"))
    });
    found
}
