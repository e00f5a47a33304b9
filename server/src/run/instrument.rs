//! Rewriting a user's script so that probes between its statements measure each line's
//! heap allocation.
//!
//! The script is parsed with tree-sitter-python (never with regexes). Probes are inserted as
//! text, and the rewrite keeps the user's line numbers wherever it can:
//!
//! * after a simple statement, on the same line: `x = f(); <probe>` (the probe goes right
//!   after the statement's last token, before any trailing comment; a multi-line statement's
//!   probe goes after its last token and is charged to its **first** line). Statements that
//!   share a line (`a; b`, `for …: a; b`) get one probe after the last of them;
//! * before `return`/`raise`/`break`/`continue`, which nothing can follow: `<probe>; return x`;
//! * at the start of every block (function body, loop body, each clause), charged to the
//!   clause's header line (so a `for` line is charged for its iteration, a `def` line for the
//!   call's setup, an `except` line for catching): as a prefix of the first statement when it
//!   is simple, after the docstring when there is one (docstrings stay docstrings), and not
//!   at all when the body sits on the header's own line (`if x: y` — the body's probe is on
//!   the same line and covers the header too);
//! * after a `def`/`class`/decorated definition, charged to its first line, because creating
//!   the function or class object happens after its body's text.
//!
//! When a block's first statement is an `if` or a `for`, the block-start probe goes inside
//! its condition or iterable in expression form, `if _hl_e(k) or (cond):` (the probe returns
//! `None`, so the value and truthiness are the original expression's; it runs once each time
//! the statement starts). Any other probe that cannot share a line with a statement (a block
//! starting with `while`/`try`/`with`/`def`, the end of a definition) is written on a blank
//! or comment-only line in the right place when there is one (typical code has them), and
//! only otherwise on an inserted line; the [`LineMap`] undoes such shifts. A class body that
//! starts with a `def` and has no free line gets no block-start probe (its small namespace
//! setup is charged to that first `def`'s line) rather than shifting every later line. Module docstrings, `from __future__` imports and
//! `global`/`nonlocal` declarations get no probe, so they keep their required positions.
//! Bodies of `@micropython.viper` and `@micropython.asm_*` functions are left untouched: their
//! code is not ordinary Python.
//!
//! Probe slots are numbered by user line; `probe_lines[slot]` is the line of slot `slot`.
//! This module knows nothing about boards or about how runs are driven.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;
use tree_sitter::{Node, Parser};

use super::line_map::{LineMap, LineOrigin};
use super::probes;
use super::sampling::{self, has_native_code_decorator, SampledBlock};
use super::source_rows::{is_docstring, SourceRows};

/// How to instrument.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstrumentOptions {
    /// Run with the collector disabled (`gc.disable()` in the prologue): deltas are exact,
    /// and a MemoryError comes sooner.
    pub exact: bool,
    /// Make the probes' slow path also print a heap dump (between [`probes::TRACE_START`] and
    /// [`probes::TRACE_END`]) for the first allocating executions of each line, so the runner
    /// can tell which line made each allocation. Off by default.
    pub trace_allocations: bool,
    /// Sampled instrumentation: each loop body and function body is measured line by line
    /// for its first `N` executions only, and runs without probes afterwards (see
    /// [`super::sampling`]). `None` measures every execution.
    pub sample: Option<u32>,
    /// Write each probe as a call, `_hl_e(k)`, instead of the inline statements of
    /// [`probes::probe_text`]. The inline form is faster where `mem_total()` keeps most probes
    /// on the fast path; where it does not (a Pico), every probe scans the heap anyway, and
    /// the call form halves what the probes add to the script's compile-time heap.
    pub compact_probes: bool,
}

/// An instrumented script and everything needed to run it and read its probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instrumented {
    /// The instrumented script, to be compiled as `<stdin>` after the prologue ran.
    pub code: String,
    /// Code to run first, in the same interpreter session, before the "before" snapshot:
    /// imports and preallocated probe buffers.
    pub prologue: String,
    /// Code to run last: prints the probe results for [`super::probes::parse_readout`].
    pub readout: String,
    /// Maps lines of `code` to the user's lines.
    pub line_map: LineMap,
    /// The user line of each probe slot (sorted; slot `i` measures `probe_lines[i]`).
    pub probe_lines: Vec<u32>,
    /// With sampling, the versioned blocks (block `b` is reported by number in the readout).
    pub blocks: Vec<SampledBlock>,
}

impl Instrumented {
    /// Prologue, code and readout concatenated into one script (for running with
    /// `micropython FILE` or one raw-REPL exec), with the line map of that whole text.
    pub fn single_file(&self) -> (String, LineMap) {
        let mut text =
            String::with_capacity(self.prologue.len() + self.code.len() + self.readout.len() + 1);
        text.push_str(&self.prologue);
        text.push_str(&self.code);
        if !self.code.is_empty() && !self.code.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&self.readout);
        let map = self
            .line_map
            .wrapped(self.prologue.lines().count(), self.readout.lines().count());
        (text, map)
    }
}

/// Why a script could not be instrumented. In every case the runner should run the plain
/// script, so that MicroPython reports its own error.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum InstrumentError {
    /// The parser found a syntax error (an ERROR or MISSING node) on this user line.
    #[error("syntax error near line {line}: {detail}")]
    Syntax {
        /// User line, 1-based.
        line: u32,
        /// What the parser saw there.
        detail: String,
    },
    /// The script uses syntax MicroPython does not accept (e.g. `match`, Python 2 `print`).
    #[error("line {line}: {construct} is not supported by MicroPython")]
    Unsupported {
        /// User line, 1-based.
        line: u32,
        /// The construct.
        construct: String,
    },
    /// The parser itself could not be set up (a build problem, not the script's fault).
    #[error("the Python parser could not be loaded: {0}")]
    Parser(String),
}

/// Rewrites `source` with per-line allocation probes. See the module doc for where probes go.
pub fn instrument(source: &str, opts: &InstrumentOptions) -> Result<Instrumented, InstrumentError> {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .map_err(|error| InstrumentError::Parser(error.to_string()))?;
    let tree = parser
        .parse(source, None)
        .ok_or_else(|| InstrumentError::Parser("the parser gave no tree".to_string()))?;
    let root = tree.root_node();
    if root.has_error() {
        return Err(first_syntax_error(root, source));
    }

    if opts.sample.is_some() {
        if let Some(versioned) = sampling::version(source, root) {
            // The versioned text parses cleanly by construction; if it ever did not, the
            // script is instrumented without sampling rather than broken.
            if let Some(tree) = parser.parse(&versioned.text, None) {
                if !tree.root_node().has_error() {
                    let mut planner = Planner::new(&versioned.text);
                    planner.row_origins = Some(versioned.origins);
                    planner.module(tree.root_node())?;
                    return Ok(planner.finish(opts, versioned.blocks));
                }
            }
        }
    }
    let mut planner = Planner::new(source);
    planner.module(root)?;
    Ok(planner.finish(opts, Vec::new()))
}

fn first_syntax_error(root: Node<'_>, source: &str) -> InstrumentError {
    let mut cursor = root.walk();
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        if node.is_error() || node.is_missing() {
            let line = row_to_line(node.start_position().row);
            let detail = if node.is_missing() {
                format!("missing `{}`", node.kind())
            } else {
                let text = source
                    .get(node.start_byte()..node.end_byte())
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim();
                format!("cannot parse `{text}`")
            };
            return InstrumentError::Syntax { line, detail };
        }
        if node.has_error() {
            // Children pushed in reverse so the earliest error in the text is found first.
            let children: Vec<Node<'_>> = node.children(&mut cursor).collect();
            stack.extend(children.into_iter().rev());
        }
    }
    InstrumentError::Syntax {
        line: 1,
        detail: "the parser reported an error".to_string(),
    }
}

fn row_to_line(row: usize) -> u32 {
    u32::try_from(row + 1).unwrap_or(u32::MAX)
}

/// What a planned insertion does when the script runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// A probe measuring this user line.
    Probe(u32),
    /// The baseline reset that starts the script.
    Reset,
    /// After a versioned loop (block `.1`), charged to its header line `.0`: measures the
    /// loop's end and, once the block ran unprobed, everything its later iterations did.
    After(u32, usize),
    /// A probe in expression form, opening a parenthesis around an `if` condition or a
    /// `for` iterable: `_hl_e(k) or (…)` (the probe returns `None`, so the value is the
    /// original expression's).
    ProbeExpr(u32),
    /// The baseline reset in expression form: `_hl_z() or (…)`.
    ResetExpr,
    /// The closing parenthesis of an expression-form probe.
    Close,
}

/// Text inserted at a byte offset of the source (inside a line).
#[derive(Debug)]
struct InlineInsert {
    byte: usize,
    /// Insertions at the same byte keep the order they were planned in.
    order: usize,
    before: String,
    action: Action,
    after: &'static str,
}

/// A probe that needs a line of its own, at a given indentation.
#[derive(Debug)]
struct OwnLine {
    indent: String,
    action: Action,
}

struct Planner<'s> {
    source: &'s str,
    rows: SourceRows<'s>,
    inline: Vec<InlineInsert>,
    /// Probes that must follow source row `row`, innermost first.
    after_row: BTreeMap<usize, Vec<OwnLine>>,
    /// Probes that must come right before source row `row` (inserted lines).
    before_row: BTreeMap<usize, Vec<OwnLine>>,
    /// Blank/comment rows already holding a probe.
    used_rows: BTreeSet<usize>,
    lines: BTreeSet<u32>,
    /// With sampling, the user origin of each row of the (versioned) source; `None` when the
    /// source is the user's own text.
    row_origins: Option<Vec<LineOrigin>>,
}

const TERMINATORS: [&str; 4] = [
    "return_statement",
    "raise_statement",
    "break_statement",
    "continue_statement",
];

/// Statements that only declare something to the compiler: they allocate nothing at run time
/// and some must keep their position, so they get no probe.
const DECLARATIONS: [&str; 3] = [
    "global_statement",
    "nonlocal_statement",
    "future_import_statement",
];

const COMPOUND: [&str; 9] = [
    "if_statement",
    "for_statement",
    "while_statement",
    "try_statement",
    "with_statement",
    "function_definition",
    "class_definition",
    "decorated_definition",
    "match_statement",
];

fn is_compound(node: Node<'_>) -> bool {
    COMPOUND.contains(&node.kind())
}

/// Named children that are statements (comments are skipped).
fn statements(block: Node<'_>) -> Vec<Node<'_>> {
    let mut cursor = block.walk();
    block
        .named_children(&mut cursor)
        .filter(|child| child.kind() != "comment")
        .collect()
}

impl<'s> Planner<'s> {
    fn new(source: &'s str) -> Self {
        Planner {
            source,
            rows: SourceRows::new(source),
            inline: Vec::new(),
            after_row: BTreeMap::new(),
            before_row: BTreeMap::new(),
            used_rows: BTreeSet::new(),
            lines: BTreeSet::new(),
            row_origins: None,
        }
    }

    /// The user line of source row `row`.
    fn line(&self, row: usize) -> u32 {
        self.origin(row).map_or_else(
            || row_to_line(row),
            |origin| match origin {
                LineOrigin::User(line) | LineOrigin::Probe(line) => line,
                LineOrigin::Harness => row_to_line(row),
            },
        )
    }

    /// The origin of source row `row` when the source is a versioned text.
    fn origin(&self, row: usize) -> Option<LineOrigin> {
        self.row_origins.as_ref()?.get(row).copied()
    }

    fn row_text(&self, row: usize) -> &'s str {
        self.rows.text(row)
    }

    /// The whitespace in front of the statement that starts row `row`.
    fn indent_of(&self, row: usize) -> String {
        self.rows.indent(row).to_string()
    }

    /// A row between statements that holds nothing but whitespace or a comment, and is not
    /// continued from the row above.
    fn is_free_row(&self, row: usize) -> bool {
        if row >= self.rows.len() || self.used_rows.contains(&row) {
            return false;
        }
        let text = self.row_text(row).trim();
        if !(text.is_empty() || text.starts_with('#')) {
            return false;
        }
        row == 0 || !self.row_text(row - 1).trim_end().ends_with('\\')
    }

    fn insert(&mut self, byte: usize, before: &str, action: Action, after: &'static str) {
        if let Action::Probe(line) | Action::ProbeExpr(line) | Action::After(line, _) = action {
            self.lines.insert(line);
        }
        let order = self.inline.len();
        self.inline.push(InlineInsert {
            byte,
            order,
            before: before.to_string(),
            action,
            after,
        });
    }

    fn own_line_after(&mut self, row: usize, indent: String, action: Action) {
        if let Action::Probe(line) | Action::ProbeExpr(line) | Action::After(line, _) = action {
            self.lines.insert(line);
        }
        self.after_row
            .entry(row)
            .or_default()
            .push(OwnLine { indent, action });
    }

    /// Puts `action` on a line of its own right before row `first_row`, using a free row in
    /// `from_row..first_row` when there is one.
    fn own_line_before(&mut self, from_row: usize, first_row: usize, action: Action) {
        let indent = self.indent_of(first_row);
        if let Some(row) = (from_row..first_row)
            .rev()
            .find(|&row| self.is_free_row(row))
        {
            self.used_rows.insert(row);
            let byte = self.rows.start(row);
            self.fill_free_row(byte, row, indent, action);
            return;
        }
        if let Action::Probe(line) | Action::ProbeExpr(line) = action {
            self.lines.insert(line);
        }
        self.before_row
            .entry(first_row)
            .or_default()
            .push(OwnLine { indent, action });
    }

    /// Puts a probe (or the reset) in front of compound statement `stmt` without a line of
    /// its own when it is an `if` or a `for`: inside its condition or iterable, which run
    /// exactly once each time the statement starts. Returns false for other statements.
    fn hook_into_header(&mut self, stmt: Node<'_>, action: Action) -> bool {
        let field = match stmt.kind() {
            "if_statement" => "condition",
            "for_statement" => "right",
            _ => return false,
        };
        let Some(expression) = stmt.child_by_field_name(field) else {
            return false;
        };
        let action = match action {
            Action::Probe(line) => Action::ProbeExpr(line),
            Action::Reset => Action::ResetExpr,
            other => other,
        };
        self.insert(expression.start_byte(), "", action, " or (");
        self.insert(expression.end_byte(), "", Action::Close, "");
        true
    }

    /// Writes `action` into the free row `row` at `indent`, keeping any comment there.
    fn fill_free_row(&mut self, byte: usize, row: usize, indent: String, action: Action) {
        let has_comment = !self.row_text(row).trim().is_empty();
        self.insert(byte, &indent, action, if has_comment { "  " } else { "" });
    }

    fn module(&mut self, root: Node<'_>) -> Result<(), InstrumentError> {
        let stmts = statements(root);
        // The module docstring and `from __future__` imports stay first; the baseline reset
        // follows them.
        let mut preamble = 0;
        if stmts.first().is_some_and(|s| is_docstring(*s)) {
            preamble = 1;
        }
        while stmts
            .get(preamble)
            .is_some_and(|s| s.kind() == "future_import_statement")
        {
            preamble += 1;
        }
        if let Some(first) = stmts.get(preamble) {
            if preamble > 0 {
                let last = stmts[preamble - 1];
                self.insert(last.end_byte(), "; ", Action::Reset, "");
            } else if !is_compound(*first) {
                self.insert(first.start_byte(), "", Action::Reset, "; ");
            } else if !self.hook_into_header(*first, Action::Reset) {
                self.own_line_before(0, first.start_position().row, Action::Reset);
            }
        }
        self.statements(&stmts, preamble)
    }

    /// Plans probes for a block's statements, from index `skip` on (earlier ones are the
    /// preamble: docstring, future imports).
    fn statements(&mut self, stmts: &[Node<'_>], skip: usize) -> Result<(), InstrumentError> {
        let mut index = skip;
        while index < stmts.len() {
            let stmt = stmts[index];
            if is_compound(stmt) {
                self.compound(stmt)?;
                index += 1;
                continue;
            }
            // A group: simple statements chained on one line (`a; b; c`).
            let mut end = index + 1;
            while end < stmts.len()
                && !is_compound(stmts[end])
                && stmts[end].start_position().row == stmts[end - 1].end_position().row
            {
                end += 1;
            }
            self.simple_group(&stmts[index..end])?;
            index = end;
        }
        Ok(())
    }

    fn simple_group(&mut self, group: &[Node<'_>]) -> Result<(), InstrumentError> {
        for stmt in group {
            if matches!(stmt.kind(), "print_statement" | "exec_statement") {
                return Err(InstrumentError::Unsupported {
                    line: self.line(stmt.start_position().row),
                    construct: format!("a Python 2 `{}` statement", &stmt.kind()[..4]),
                });
            }
        }
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            return Ok(());
        };
        if group.iter().all(|stmt| DECLARATIONS.contains(&stmt.kind())) {
            return Ok(());
        }
        let line = self.line(first.start_position().row);
        if TERMINATORS.contains(&last.kind()) {
            self.insert(last.start_byte(), "", Action::Probe(line), "; ");
        } else {
            self.insert(last.end_byte(), "; ", Action::Probe(line), "");
        }
        Ok(())
    }

    fn compound(&mut self, stmt: Node<'_>) -> Result<(), InstrumentError> {
        let line = self.line(stmt.start_position().row);
        match stmt.kind() {
            "match_statement" => {
                return Err(InstrumentError::Unsupported {
                    line,
                    construct: "a `match` statement".to_string(),
                })
            }
            "decorated_definition" => {
                let raw = stmt
                    .child_by_field_name("definition")
                    .is_some_and(|_| has_native_code_decorator(stmt, self.source));
                if let Some(definition) = stmt.child_by_field_name("definition") {
                    if !raw {
                        self.clauses(definition)?;
                    }
                }
            }
            _ => {
                if let Some(block) = self.clauses(stmt)? {
                    // What a loop's unprobed iterations did is measured when the loop ends
                    // (after its `else` clause; planned after the clauses so that probes
                    // closing inner loops on the same row come first).
                    let indent = self.indent_of(stmt.start_position().row);
                    self.own_line_after(
                        stmt.end_position().row,
                        indent,
                        Action::After(line, block),
                    );
                }
            }
        }
        if matches!(
            stmt.kind(),
            "function_definition" | "class_definition" | "decorated_definition"
        ) {
            // Creating the function/class object happens after the body's text: measure it
            // with a probe after the definition, at the definition's indentation.
            let indent = self.indent_of(stmt.start_position().row);
            self.own_line_after(stmt.end_position().row, indent, Action::Probe(line));
        }
        Ok(())
    }

    /// Plans the blocks of a compound statement: its own body and those of its clauses.
    /// Returns the sampling block number of a loop's versioned body.
    fn clauses(&mut self, stmt: Node<'_>) -> Result<Option<usize>, InstrumentError> {
        let mut body = None;
        let mut cursor = stmt.walk();
        let children: Vec<Node<'_>> = stmt.children(&mut cursor).collect();
        for (position, child) in children.iter().enumerate() {
            if child.kind() == "block" {
                // The header ends at its `:` (a comment may sit between it and the block).
                let colon_row = children[..position]
                    .iter()
                    .rev()
                    .find(|token| token.kind() == ":")
                    .map_or(stmt.start_position().row, |colon| colon.end_position().row);
                let defines = matches!(stmt.kind(), "function_definition" | "class_definition");
                let header_line = self.line(stmt.start_position().row);
                let versioned = self.block(
                    *child,
                    header_line,
                    colon_row,
                    defines,
                    stmt.kind() == "class_definition",
                )?;
                if matches!(stmt.kind(), "for_statement" | "while_statement") {
                    body = versioned;
                }
            } else if child.kind().ends_with("_clause") && child.is_named() {
                self.clauses(*child)?;
            }
        }
        Ok(body)
    }

    fn block(
        &mut self,
        block: Node<'_>,
        header_line: u32,
        colon_row: usize,
        defines: bool,
        class_body: bool,
    ) -> Result<Option<usize>, InstrumentError> {
        let stmts = statements(block);
        let Some(first) = stmts.first().copied() else {
            return Ok(None);
        };
        // A versioned body (see `sampling`): only the probed copy, the `if` branch, gets
        // probes, starting with the block-start probe of the header; the plain copy in the
        // `else` branch stays as the user wrote it.
        if let Some((switch, block_number)) = stmts
            .iter()
            .find_map(|stmt| self.versioning_switch(*stmt).map(|b| (*stmt, b)))
        {
            if let Some(consequence) = switch.child_by_field_name("consequence") {
                let if_row = switch.start_position().row;
                self.block(consequence, header_line, if_row, false, false)?;
            }
            return Ok(Some(block_number));
        }
        let mut skip = 0;
        let first_row = first.start_position().row;
        if first_row != colon_row {
            if defines && is_docstring(first) {
                // The docstring must stay the first statement.
                self.insert(first.end_byte(), "; ", Action::Probe(header_line), "");
                skip = 1;
            } else if is_compound(first) {
                let has_free_row = (colon_row + 1..first_row).any(|row| self.is_free_row(row));
                if self.hook_into_header(first, Action::Probe(header_line)) {
                } else if class_body && !has_free_row {
                    // A class body usually starts with a `def`: rather than shifting every
                    // later line, its (small) namespace setup is charged to that def's line.
                } else {
                    self.own_line_before(colon_row + 1, first_row, Action::Probe(header_line));
                }
            } else {
                self.insert(first.start_byte(), "", Action::Probe(header_line), "; ");
            }
        }
        self.statements(&stmts, skip)?;
        Ok(None)
    }

    /// The block number when `stmt` is the `if` that `sampling` put in front of a body's
    /// two copies.
    fn versioning_switch(&self, stmt: Node<'_>) -> Option<usize> {
        self.row_origins.as_ref()?;
        if stmt.kind() != "if_statement"
            || !matches!(
                self.origin(stmt.start_position().row),
                Some(LineOrigin::Probe(_))
            )
        {
            return None;
        }
        let condition = stmt.child_by_field_name("condition")?;
        let text = self
            .source
            .get(condition.start_byte()..condition.end_byte())?;
        let number = text
            .strip_prefix(sampling::SWITCH_PREFIX)?
            .split(' ')
            .next()?;
        let block: usize = number.parse().ok()?;
        (text == sampling::switch_condition(block)).then_some(block)
    }
}

impl Planner<'_> {
    /// Turns the plan into the instrumented text, its line map and the slot table.
    fn finish(mut self, opts: &InstrumentOptions, blocks: Vec<SampledBlock>) -> Instrumented {
        let probe_lines: Vec<u32> = self.lines.iter().copied().collect();
        let slot_of = |line: u32| probe_lines.binary_search(&line).unwrap_or(0);
        let render = |action: Action| match action {
            Action::Probe(line) if opts.compact_probes => probes::probe_expression(slot_of(line)),
            Action::Probe(line) => probes::probe_text(slot_of(line)),
            Action::ProbeExpr(line) => probes::probe_expression(slot_of(line)),
            Action::After(line, block) => probes::after_loop_text(slot_of(line), block),
            Action::Reset | Action::ResetExpr => probes::RESET_TEXT.to_string(),
            Action::Close => ")".to_string(),
        };

        // Probes that follow a definition take the free rows right after it, innermost
        // first; the rest get inserted lines.
        let after_row = std::mem::take(&mut self.after_row);
        let mut inserted_after: BTreeMap<usize, Vec<OwnLine>> = BTreeMap::new();
        for (row, requests) in after_row {
            let mut candidate = row + 1;
            let mut last_used = row;
            for request in requests {
                if self.is_free_row(candidate) {
                    self.used_rows.insert(candidate);
                    let byte = self.rows.start(candidate);
                    self.fill_free_row(byte, candidate, request.indent, request.action);
                    last_used = candidate;
                    candidate += 1;
                } else {
                    inserted_after.entry(last_used).or_default().push(request);
                }
            }
        }

        let newline = self.rows.newline();
        let mut inline = std::mem::take(&mut self.inline);
        inline.sort_by_key(|insert| (insert.byte, insert.order));
        let mut inline = inline.into_iter().peekable();

        let mut code = String::with_capacity(self.source.len() * 2);
        let mut origins = Vec::new();
        let rows = self.rows.len();
        let own_line =
            |code: &mut String, origins: &mut Vec<LineOrigin>, line: &OwnLine, user: u32| {
                code.push_str(&line.indent);
                code.push_str(&render(line.action));
                code.push_str(newline);
                origins.push(LineOrigin::Probe(match line.action {
                    Action::Probe(measured)
                    | Action::ProbeExpr(measured)
                    | Action::After(measured, _) => measured,
                    Action::Reset | Action::ResetExpr | Action::Close => user,
                }));
            };
        for row in 0..rows {
            let user = self.line(row);
            for line in self.before_row.get(&row).into_iter().flatten() {
                own_line(&mut code, &mut origins, line, user);
            }
            let (start, end) = (self.rows.start(row), self.rows.end(row));
            let is_last = row + 1 == rows;
            let mut cursor = start;
            while let Some(insert) =
                inline.next_if(|insert| insert.byte < end || (is_last && insert.byte <= end))
            {
                code.push_str(&self.source[cursor..insert.byte]);
                cursor = insert.byte;
                code.push_str(&insert.before);
                code.push_str(&render(insert.action));
                code.push_str(insert.after);
            }
            code.push_str(&self.source[cursor..end]);
            origins.push(self.origin(row).unwrap_or(LineOrigin::User(user)));
            if let Some(lines) = inserted_after.get(&row) {
                if !code.ends_with('\n') {
                    code.push_str(newline);
                }
                for line in lines {
                    own_line(&mut code, &mut origins, line, user);
                }
            }
        }

        Instrumented {
            prologue: probes::prologue_with(probe_lines.len(), blocks.len(), opts),
            readout: probes::READOUT_CODE.to_string(),
            line_map: LineMap::from_origins(origins),
            probe_lines,
            code,
            blocks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rewritten script followed by its line map, for snapshots.
    fn check(source: &str) -> String {
        match instrument(source, &InstrumentOptions::default()) {
            Ok(instrumented) => {
                let shifted: Vec<String> = (1..=instrumented.line_map.len() as u32)
                    .filter_map(|line| match instrumented.line_map.origin(line) {
                        Some(LineOrigin::User(user)) if user == line => None,
                        origin => Some(format!("{line} -> {origin:?}")),
                    })
                    .collect();
                format!(
                    "{}\n---- probe lines: {:?}\n---- lines not mapped to themselves: {:?}\n",
                    instrumented.code, instrumented.probe_lines, shifted
                )
            }
            Err(error) => format!("error: {error:?}"),
        }
    }

    fn testdata(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/run/testdata")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path:?}: {error}"))
    }

    fn scenario(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/scenarios")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path:?}: {error}"))
    }

    #[test]
    fn constructs() {
        insta::assert_snapshot!(check(&testdata("constructs.py")));
    }

    #[test]
    fn async_and_tabs() {
        insta::assert_snapshot!(check(&testdata("async_and_tabs.py")));
    }

    #[test]
    fn no_free_lines_inserts_lines() {
        insta::assert_snapshot!(check(&testdata("no_free_lines.py")));
    }

    #[test]
    fn one_line_compound_statements() {
        insta::assert_snapshot!(check(
            "if x: y\nfor i in r: a; b\nwhile c: ...\nclass C: pass\nif x: return_ = 1\nelse: pass\n"
        ));
    }

    #[test]
    fn docstrings_and_future_stay_first() {
        insta::assert_snapshot!(check(
            "\"\"\"Doc.\"\"\"\nfrom __future__ import annotations\nx = 1\ndef f():\n    \"\"\"Doc\n    more.\"\"\"\n    return x\n"
        ));
    }

    #[test]
    fn trailing_comments_and_continuations() {
        insta::assert_snapshot!(check(
            "x = 1  # one\ny = [1,\n     2]  # two\nz = 1 + \\\n    2\nw = 3;  # trailing semicolon\n"
        ));
    }

    #[test]
    fn compound_first_statements_use_comment_lines() {
        insta::assert_snapshot!(check(
            "def f(xs):\n    # loop over xs\n    for x in xs:\n\n        if x:\n            print(x)\n"
        ));
    }

    #[test]
    fn viper_and_asm_bodies_are_left_alone() {
        insta::assert_snapshot!(check(
            "import micropython\n\n@micropython.viper\ndef add(a: int, b: int) -> int:\n    return a + b\n\n@micropython.asm_thumb\ndef one():\n    mov(r0, 1)\n\nprint(add(1, 2))\n"
        ));
    }

    #[test]
    fn sampled_bodies_get_a_probed_and_a_plain_copy() {
        let opts = InstrumentOptions {
            sample: Some(4),
            ..InstrumentOptions::default()
        };
        let instrumented =
            instrument(&testdata("sampled.py"), &opts).unwrap_or_else(|error| panic!("{error}"));
        let map: Vec<String> = (1..=instrumented.line_map.len() as u32)
            .map(|line| format!("{line} -> {:?}", instrumented.line_map.origin(line)))
            .collect();
        insta::assert_snapshot!(format!(
            "{}\n---- blocks: {:?}\n---- map:\n{}\n",
            instrumented.code,
            instrumented.blocks,
            map.join("\n")
        ));
    }

    #[test]
    fn compact_probes_are_calls() {
        let opts = InstrumentOptions {
            compact_probes: true,
            ..InstrumentOptions::default()
        };
        let instrumented = instrument("def f(x):\n    y = [x]\n    return y\nprint(f(1))\n", &opts)
            .unwrap_or_else(|error| panic!("{error}"));
        insta::assert_snapshot!(instrumented.code, @r"
        _hl_z()
        def f(x):
            _hl_e(0); y = [x]; _hl_e(1)
            _hl_e(2); return y
        _hl_e(0)
        print(f(1)); _hl_e(3)
        ");
    }

    #[test]
    fn crlf_sources_keep_crlf() {
        let out = check("def f():\r\n    return 1\r\nprint(f())\r\n");
        assert!(!out.replace("\r\n", "").contains('\n') || out.contains("\r\n"));
        insta::assert_snapshot!(out.replace('\r', "<CR>"));
    }

    #[test]
    fn empty_and_comment_only_scripts() {
        assert_eq!(
            check(""),
            "\n---- probe lines: []\n---- lines not mapped to themselves: []\n"
        );
        insta::assert_snapshot!(check("# nothing\n\n"));
    }

    #[test]
    fn scenario_scripts() {
        for name in [
            "fragmentation.py",
            "gc_churn.py",
            "known_sizes.py",
            "leak.py",
            "nested_error.py",
            "output_flood.py",
            "parrot.py",
            "parrot_caught.py",
            "prealloc.py",
            "runaway.py",
        ] {
            insta::assert_snapshot!(name, check(&scenario(name)));
        }
    }

    #[test]
    fn syntax_errors_are_typed_with_the_user_line() {
        let error = instrument(&scenario("syntax_error.py"), &InstrumentOptions::default());
        assert!(
            matches!(error, Err(InstrumentError::Syntax { line: 4, .. })),
            "{error:?}"
        );
        let error = instrument("x = 1\ny = (2\n", &InstrumentOptions::default());
        assert!(
            matches!(error, Err(InstrumentError::Syntax { .. })),
            "{error:?}"
        );
    }

    #[test]
    fn unsupported_syntax_is_typed() {
        let error = instrument("x = 1\nprint x\n", &InstrumentOptions::default());
        assert!(
            matches!(error, Err(InstrumentError::Unsupported { line: 2, .. })),
            "{error:?}"
        );
        let error = instrument(
            "match x:\n    case 1:\n        pass\n",
            &InstrumentOptions::default(),
        );
        assert!(
            matches!(error, Err(InstrumentError::Unsupported { line: 1, .. })),
            "{error:?}"
        );
    }

    #[test]
    fn single_file_map_covers_the_prologue() {
        let instrumented = instrument("x = 1\n", &InstrumentOptions::default())
            .unwrap_or_else(|error| panic!("{error}"));
        let (text, map) = instrumented.single_file();
        assert_eq!(text.lines().count(), map.len());
        let prologue_lines = instrumented.prologue.lines().count() as u32;
        assert_eq!(map.user_line(prologue_lines), None);
        assert_eq!(map.user_line(prologue_lines + 1), Some(1));
        assert_eq!(map.user_line(prologue_lines + 2), None);
    }
}
