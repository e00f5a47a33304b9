//! Rewriting a user's script with probes (see [`super::harness`] for what they do) so that
//! every line gets its own hits and bytes, **without moving any line**: the instrumented
//! script has exactly the user's lines, so line numbers the script sees itself (a traceback it
//! prints) are those of a plain run. The script is parsed with tree-sitter-python.
//!
//! # The rules (also in the README's "How HeapLens counts")
//! * **Simple statements** (`x = f()`, `return EXPR`, `raise`, `pass`, …): a probe in front,
//!   `S(k); x = f()`. Hits are executions; the statement's bytes, up to the next probe, are
//!   the line's, including what it allocated before raising, and the value of `return EXPR` /
//!   `yield EXPR` / `raise EXPR`. Statements chained on one line (`a; b`) are one line. A
//!   multi-line statement belongs to its first line.
//! * **`if` / `elif` / `while`**: the probe goes in front of the condition,
//!   `if S(k) or (cond):`, so every evaluation counts (true or false) and the condition's
//!   bytes are the header's. `try:` counts each time the statement starts, `else:` and
//!   `finally:` each time their block is entered (a probe at the start of the block).
//! * **`for`**: hits are iterations, counted at the start of the body; the iterable's
//!   evaluation and each step (fetching the next item) are the header's bytes: the iterable is
//!   wrapped (`for x in X(k) or (it):`, except `range(…)`, whose compiled loop allocates
//!   nothing and must stay so), and the end of the body hands the line back to the header
//!   (`last; X(k)`; not for a `range` loop, whose step allocates nothing). A body that ends
//!   in a compound statement hands it back at the end of each of its branches; `continue`
//!   hands it back before jumping. A body that starts with a
//!   `range` loop gets the count inside that loop's first argument (`range(S(k) or (a), b)`),
//!   which keeps it a compiled range loop.
//! * **`except`**: counted when the handler is entered, at the start of its body (a probe in
//!   front of the exception type would run with the exception on the stack and make the
//!   function's frame bigger than in a plain run).
//! * **`with`**: in front of the first context expression, once per execution.
//! * **`def` / `class`** (decorators included): one hit per definition, never per call: a
//!   probe on the blank or comment line above the definition (or after the statement before
//!   it), so creating the function (its defaults, its decorators) is its bytes. A class also
//!   gets the creation of the class object after its body. Calls are not hits of the `def`
//!   line; a function's lines count their own executions.
//! * **Lambdas, comprehensions, generator expressions**: their work belongs to the line of the
//!   statement that runs them.
//! * Docstrings, `from __future__` imports and `global`/`nonlocal` declarations get no probe
//!   (they keep their required positions and run nothing). Bodies of `@micropython.viper` and
//!   `@micropython.asm_*` functions are left alone: their code is not ordinary Python.
//!
//! A probe that needs a line of its own (a `def` with no blank line above it and no simple
//! statement before it) is left out rather than inserting a line. Such a definition runs
//! exactly when the definition before it in its block does (or, first in a class body, when
//! the class body does), so its lines are [`Instrumented::aliases`] of that one; with neither,
//! its hits (like the step of a `for` whose body starts with `while`) are not counted.
//!
//! What this cannot see: after a call returns, the rest of the calling statement (say the list
//! in `[f()]`) is counted on the called function's last executed line, because only statement
//! boundaries are probed.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;
use tree_sitter::{Node, Parser};

use super::harness::Nonce;
use super::source_rows::{is_docstring, SourceRows};

/// An instrumented script and what reading its probes needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instrumented {
    /// The script with probes; line for line the user's script.
    pub code: String,
    /// The user line of each probe slot (sorted; slot `first_slot + i` measures
    /// `probe_lines[i]`).
    pub probe_lines: Vec<u32>,
    /// The slot of the first probed line: files measured in one run share the run's slots.
    pub first_slot: usize,
    /// Lines that share another line's hits, `(line, counted_on)`: the further decorator
    /// lines and the `def`/`class` line of a decorated definition, whose one hit per
    /// definition is counted on its first decorator (a decorator cannot hold a probe).
    pub aliases: Vec<(u32, u32)>,
}

/// Why a script could not be instrumented. In every case the runner runs the plain script,
/// so that MicroPython reports its own error.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum InstrumentError {
    /// The parser found a syntax error (an ERROR or MISSING node) on this user line.
    #[error("syntax error near line {line}: {detail}")]
    Syntax { line: u32, detail: String },
    /// The script uses syntax MicroPython does not accept (e.g. `match`, Python 2 `print`).
    #[error("line {line}: {construct} is not supported by MicroPython")]
    Unsupported { line: u32, construct: String },
    /// The parser itself could not be set up (a build problem, not the script's fault).
    #[error("the Python parser could not be loaded: {0}")]
    Parser(String),
}

/// The text MicroPython's lexer sees: CR LF and lone CR become LF (as the lexer does), and a
/// leading UTF-8 byte order mark (which editors on Windows add) is dropped.
pub fn normalize(source: &str) -> String {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    if !source.contains('\r') {
        return source.to_string();
    }
    source.replace("\r\n", "\n").replace('\r', "\n")
}

/// Rewrites `source` (already [`normalize`]d) with probes named after `nonce`.
pub fn instrument(source: &str, nonce: &Nonce) -> Result<Instrumented, InstrumentError> {
    instrument_from(source, nonce, 0)
}

/// [`instrument`], its probes numbered from slot `first_slot` (the files of a project share
/// one run's slots: the script's first, then each imported module's).
pub fn instrument_from(
    source: &str,
    nonce: &Nonce,
    first_slot: usize,
) -> Result<Instrumented, InstrumentError> {
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
    let mut planner = Planner::new(source);
    planner.module(root)?;
    Ok(planner.finish(nonce, first_slot))
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

/// Which probe a planned insertion is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// `S(k)`: line k's statement starts (a hit).
    Statement(u32),
    /// `X(k)`: line k becomes current (no hit).
    Current(u32),
    /// `H(k)`: a hit of line k only.
    Hit(u32),
}

impl Probe {
    fn line(self) -> u32 {
        match self {
            Probe::Statement(line) | Probe::Current(line) | Probe::Hit(line) => line,
        }
    }
}

/// Text inserted at a byte offset of the source.
#[derive(Debug)]
struct Insert {
    byte: usize,
    /// Insertions at the same byte keep the order they were planned in.
    order: usize,
    before: String,
    probe: Option<Probe>,
    after: &'static str,
}

struct Planner<'s> {
    source: &'s str,
    rows: SourceRows<'s>,
    inserts: Vec<Insert>,
    /// Blank/comment rows already holding a probe.
    used_rows: BTreeSet<usize>,
    /// See [`Instrumented::aliases`].
    aliases: Vec<(u32, u32)>,
}

/// Statements that end their block's flow: nothing after them runs.
const TERMINATORS: [&str; 4] = [
    "return_statement",
    "raise_statement",
    "break_statement",
    "continue_statement",
];

/// Statements that only declare something to the compiler.
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

fn is_definition(node: Node<'_>) -> bool {
    matches!(
        node.kind(),
        "function_definition" | "class_definition" | "decorated_definition"
    )
}

/// Named children that are statements (comments are skipped).
fn statements(block: Node<'_>) -> Vec<Node<'_>> {
    let mut cursor = block.walk();
    block
        .named_children(&mut cursor)
        .filter(|child| child.kind() != "comment")
        .collect()
}

/// Groups of a block's statements: a compound statement alone, or simple statements chained
/// on one row (`a; b; c`).
fn groups<'t>(stmts: &[Node<'t>]) -> Vec<Vec<Node<'t>>> {
    let mut out: Vec<Vec<Node<'t>>> = Vec::new();
    for &stmt in stmts {
        let joins = out.last().is_some_and(|last: &Vec<Node<'t>>| {
            let previous = last[last.len() - 1];
            !is_compound(stmt)
                && !is_compound(previous)
                && stmt.start_position().row == previous.end_position().row
        });
        match out.last_mut() {
            Some(last) if joins => last.push(stmt),
            _ => out.push(vec![stmt]),
        }
    }
    out
}

/// The body block of a compound statement or clause.
fn body_of(node: Node<'_>) -> Option<Node<'_>> {
    node.child_by_field_name("body")
        .or_else(|| node.child_by_field_name("consequence"))
        .or_else(|| {
            let mut cursor = node.walk();
            let found = node
                .named_children(&mut cursor)
                .find(|child| child.kind() == "block");
            found
        })
}

/// Whether `definition` (a decorated one) carries `@micropython.viper` / `@micropython.asm_*`:
/// such bodies are not ordinary Python and get no probes.
fn has_native_code_decorator(definition: Node<'_>, source: &str) -> bool {
    let mut cursor = definition.walk();
    let found = definition.named_children(&mut cursor).any(|child| {
        child.kind() == "decorator"
            && source
                .get(child.start_byte()..child.end_byte())
                .is_some_and(|text| {
                    let text = text.trim_start_matches('@').trim();
                    text.starts_with("micropython.viper") || text.starts_with("micropython.asm_")
                })
    });
    found
}

/// What the statements of a block are inside of.
#[derive(Debug, Clone, Copy, Default)]
struct Context {
    /// The innermost enclosing loop, when it is a `for`: its header line (for `continue`).
    for_line: Option<u32>,
    /// The innermost loop is a `while` (a `continue` needs nothing).
    in_while: bool,
    /// The block is the body of this `class` line (its definitions run once per class).
    class_line: Option<u32>,
}

impl<'s> Planner<'s> {
    fn new(source: &'s str) -> Self {
        Planner {
            source,
            rows: SourceRows::new(source),
            inserts: Vec::new(),
            used_rows: BTreeSet::new(),
            aliases: Vec::new(),
        }
    }

    fn line(&self, node: Node<'_>) -> u32 {
        row_to_line(node.start_position().row)
    }

    fn insert(&mut self, byte: usize, before: &str, probe: Option<Probe>, after: &'static str) {
        let order = self.inserts.len();
        self.inserts.push(Insert {
            byte,
            order,
            before: before.to_string(),
            probe,
            after,
        });
    }

    /// `probe; ` in front of byte `byte`.
    fn prefix(&mut self, byte: usize, probe: Probe) {
        self.insert(byte, "", Some(probe), "; ");
    }

    /// `; probe` after byte `byte`.
    fn append(&mut self, byte: usize, probe: Probe) {
        self.insert(byte, "; ", Some(probe), "");
    }

    /// `probe or (expression)`: the probe runs each time the expression is evaluated, and
    /// returns `None`, so the value is the expression's.
    fn hook(&mut self, expression: Node<'_>, probe: Probe) {
        self.insert(expression.start_byte(), "", Some(probe), " or (");
        self.insert(expression.end_byte(), "", None, ")");
    }

    /// A row that holds nothing but whitespace or a comment, is not continued from the row
    /// above, and holds no probe yet.
    fn is_free_row(&self, row: usize) -> bool {
        if row >= self.rows.len() || self.used_rows.contains(&row) {
            return false;
        }
        let text = self.rows.text(row).trim();
        if !(text.is_empty() || text.starts_with('#')) {
            return false;
        }
        row == 0 || !self.rows.text(row - 1).trim_end().ends_with('\\')
    }

    /// Writes `probe` on free row `row` at `indent`, keeping a comment there.
    fn fill_free_row(&mut self, row: usize, indent: &str, probe: Probe) {
        self.used_rows.insert(row);
        let has_comment = !self.rows.text(row).trim().is_empty();
        let byte = self.rows.start(row);
        self.insert(
            byte,
            indent,
            Some(probe),
            if has_comment { "  " } else { "" },
        );
    }

    fn indent_of(&self, node: Node<'_>) -> String {
        self.rows.indent(node.start_position().row).to_string()
    }

    fn module(&mut self, root: Node<'_>) -> Result<(), InstrumentError> {
        let stmts = statements(root);
        // The module docstring and `from __future__` imports stay first, without probes.
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
        let floor = stmts
            .get(preamble.wrapping_sub(1))
            .map_or(0, |s| s.end_position().row + 1);
        self.block_statements(&stmts[preamble..], None, floor, Context::default())
    }

    /// Plans a block's statements. `header_row` is the row of the block's header when the
    /// header counts the statements on its own row; `floor` is the first row that belongs to
    /// the block (free rows above it are not the block's).
    fn block_statements(
        &mut self,
        stmts: &[Node<'_>],
        header_row: Option<usize>,
        floor: usize,
        context: Context,
    ) -> Result<(), InstrumentError> {
        let groups = groups(stmts);
        for (index, group) in groups.iter().enumerate() {
            let first = group[0];
            if is_compound(first) {
                if is_definition(first) {
                    let previous = index.checked_sub(1).map(|i| groups[i].as_slice());
                    let next = groups.get(index + 1).map(Vec::as_slice);
                    if !self.definition_marker(first, previous, next, floor) {
                        // No place for a probe: the definition runs exactly when the one
                        // before it in the same block does, or, first in a class body, when
                        // the class body does.
                        let runs_with = match previous {
                            Some(group) if is_definition(group[0]) => Some(self.line(group[0])),
                            Some(_) => None,
                            None => context.class_line,
                        };
                        if let Some(target) = runs_with {
                            self.alias_definition(first, target);
                        }
                    }
                }
                let inner = Context {
                    class_line: None,
                    ..context
                };
                self.compound(first, inner)?;
            } else {
                let on_header_row = header_row == Some(first.start_position().row);
                self.simple_group(group, on_header_row, context)?;
            }
        }
        Ok(())
    }

    fn simple_group(
        &mut self,
        group: &[Node<'_>],
        on_header_row: bool,
        context: Context,
    ) -> Result<(), InstrumentError> {
        for stmt in group {
            if matches!(stmt.kind(), "print_statement" | "exec_statement") {
                return Err(InstrumentError::Unsupported {
                    line: self.line(*stmt),
                    construct: format!("a Python 2 `{}` statement", &stmt.kind()[..4]),
                });
            }
        }
        let first = group[0];
        if group.iter().all(|stmt| DECLARATIONS.contains(&stmt.kind())) {
            return Ok(());
        }
        // A body on its header's row (`if x: y`) was counted by the header.
        if !on_header_row {
            self.prefix(first.start_byte(), Probe::Statement(self.line(first)));
        }
        if let Some(for_line) = context.for_line.filter(|_| !context.in_while) {
            for stmt in group {
                if stmt.kind() == "continue_statement" {
                    self.prefix(stmt.start_byte(), Probe::Current(for_line));
                }
            }
        }
        Ok(())
    }

    /// The probe counting a definition's hit (see the module doc): on the free row just above
    /// it (its first decorator), else after the simple statement before it, else (hit only)
    /// in front of the simple statement after it.
    fn definition_marker(
        &mut self,
        definition: Node<'_>,
        previous: Option<&[Node<'_>]>,
        next: Option<&[Node<'_>]>,
        floor: usize,
    ) -> bool {
        let placed = self.place_definition_marker(definition, previous, next, floor);
        if placed {
            self.alias_decorated_lines(definition);
        }
        placed
    }

    /// Every line of `definition` (decorators, `def`/`class`) shares the hits of `target`.
    fn alias_definition(&mut self, definition: Node<'_>, target: u32) {
        let mut lines = self.decorator_lines(definition);
        lines.insert(self.line(definition));
        self.aliases
            .extend(lines.into_iter().map(|alias| (alias, target)));
    }

    /// The decorator lines and the `def`/`class` line of a (decorated) definition.
    fn decorator_lines(&self, definition: Node<'_>) -> BTreeSet<u32> {
        let mut lines = BTreeSet::new();
        if definition.kind() == "decorated_definition" {
            let mut cursor = definition.walk();
            lines.extend(
                definition
                    .named_children(&mut cursor)
                    .filter(|child| child.kind() == "decorator")
                    .map(|decorator| self.line(decorator)),
            );
            lines.extend(
                definition
                    .child_by_field_name("definition")
                    .map(|d| self.line(d)),
            );
        }
        lines
    }

    /// A decorated definition counts on its first line; its other decorator lines and its
    /// `def`/`class` line share that count.
    fn alias_decorated_lines(&mut self, definition: Node<'_>) {
        let line = self.line(definition);
        let mut lines = self.decorator_lines(definition);
        lines.remove(&line);
        self.aliases
            .extend(lines.into_iter().map(|alias| (alias, line)));
    }

    /// Places the definition's probe; false when there is no place for it.
    fn place_definition_marker(
        &mut self,
        definition: Node<'_>,
        previous: Option<&[Node<'_>]>,
        next: Option<&[Node<'_>]>,
        floor: usize,
    ) -> bool {
        let line = self.line(definition);
        let start_row = definition.start_position().row;
        let lower = match previous {
            Some(group) => group[group.len() - 1].end_position().row + 1,
            None => floor,
        };
        if start_row > 0 {
            if let Some(row) = (lower..start_row).rev().find(|&row| self.is_free_row(row)) {
                let indent = self.indent_of(definition);
                self.fill_free_row(row, &indent, Probe::Statement(line));
                return true;
            }
        }
        if let Some(group) = previous {
            let last = group[group.len() - 1];
            if !is_compound(last) && !TERMINATORS.contains(&last.kind()) {
                self.append(last.end_byte(), Probe::Statement(line));
                return true;
            }
        }
        if let Some(group) = next {
            if !is_compound(group[0]) {
                self.prefix(group[0].start_byte(), Probe::Hit(line));
                return true;
            }
        }
        false
    }

    fn compound(&mut self, stmt: Node<'_>, context: Context) -> Result<(), InstrumentError> {
        let line = self.line(stmt);
        let header_row = stmt.start_position().row;
        match stmt.kind() {
            "match_statement" => {
                return Err(InstrumentError::Unsupported {
                    line,
                    construct: "a `match` statement".to_string(),
                })
            }
            "if_statement" => {
                if let Some(condition) = stmt.child_by_field_name("condition") {
                    self.hook(condition, Probe::Statement(line));
                }
                self.clause_bodies(stmt, context)?;
            }
            "while_statement" => {
                if let Some(condition) = stmt.child_by_field_name("condition") {
                    self.hook(condition, Probe::Statement(line));
                }
                let inner = Context {
                    for_line: None,
                    in_while: true,
                    class_line: None,
                };
                if let Some(body) = stmt.child_by_field_name("body") {
                    self.block(body, Some(header_row), inner)?;
                }
                self.else_clauses(stmt, context)?;
            }
            "for_statement" => self.for_statement(stmt, context)?,
            "try_statement" => self.clause_bodies(stmt, context)?,
            "with_statement" => {
                if let Some(expression) = first_with_expression(stmt) {
                    self.hook(expression, Probe::Statement(line));
                }
                if let Some(body) = stmt.child_by_field_name("body") {
                    self.block(body, Some(header_row), context)?;
                }
            }
            "decorated_definition" if !has_native_code_decorator(stmt, self.source) => {
                if let Some(definition) = stmt.child_by_field_name("definition") {
                    self.definition_body(definition)?;
                }
            }
            "function_definition" | "class_definition" => self.definition_body(stmt)?,
            _ => {}
        }
        Ok(())
    }

    /// The body of a `def` or `class` (calls and class creation; the definition's own hit is
    /// planned by [`Planner::definition_marker`]).
    fn definition_body(&mut self, definition: Node<'_>) -> Result<(), InstrumentError> {
        let Some(body) = definition.child_by_field_name("body") else {
            return Ok(());
        };
        // A one-line `def f(): return 1` counts its calls on that line; a one-line class body
        // runs once, with the definition, which is counted already.
        let header_row =
            (definition.kind() == "class_definition").then(|| definition.start_position().row);
        let context = Context {
            class_line: (definition.kind() == "class_definition").then(|| self.line(definition)),
            ..Context::default()
        };
        self.block(body, header_row, context)?;
        if definition.kind() == "class_definition" {
            // Creating the class object happens after its body ran: hand the line back.
            let line = self.line(definition);
            self.end_marker(body, Probe::Current(line), true);
        }
        Ok(())
    }

    fn for_statement(&mut self, stmt: Node<'_>, context: Context) -> Result<(), InstrumentError> {
        let line = self.line(stmt);
        let header_row = stmt.start_position().row;
        // A compiled `range` loop's step allocates nothing: nothing to hand back to its header.
        let range = stmt
            .child_by_field_name("right")
            .is_some_and(|iterable| is_range_call(iterable, self.source));
        if let Some(iterable) = stmt.child_by_field_name("right").filter(|_| !range) {
            self.hook(iterable, Probe::Current(line));
        }
        let inner = Context {
            for_line: (!range).then_some(line),
            in_while: false,
            class_line: None,
        };
        if let Some(body) = stmt.child_by_field_name("body") {
            // Each iteration is a hit of the header, counted as its body starts.
            let colon = colon_row(body).unwrap_or(header_row);
            self.start_marker(body, colon, Probe::Statement(line));
            self.block(body, Some(header_row), inner)?;
            if !range {
                self.end_marker(body, Probe::Current(line), false);
            }
        }
        self.else_clauses(stmt, context)
    }

    /// Puts `probe` where `block` starts executing, once per entry: in front of its first
    /// statement when simple, in an `if` condition, a `with` item or a non-`range` `for`
    /// iterable, at the start of a `try` body, or on a free row between the header's `:` (on
    /// row `header_row`) and the first statement.
    fn start_marker(&mut self, block: Node<'_>, header_row: usize, probe: Probe) {
        let stmts = statements(block);
        let Some(&first) = stmts.first() else {
            return;
        };
        if !is_compound(first) {
            self.prefix(first.start_byte(), probe);
            return;
        }
        let hooked = match first.kind() {
            "if_statement" => first.child_by_field_name("condition"),
            "with_statement" => first_with_expression(first),
            "for_statement" => first
                .child_by_field_name("right")
                .filter(|it| !is_range_call(*it, self.source)),
            _ => None,
        };
        if let Some(expression) = hooked {
            self.insert(expression.start_byte(), "", Some(probe), " or ");
            return;
        }
        // A `range` loop stays a compiled range loop with the probe in its first argument,
        // evaluated once each time the loop starts.
        if let Some(argument) = (first.kind() == "for_statement")
            .then(|| first.child_by_field_name("right"))
            .flatten()
            .filter(|it| is_range_call(*it, self.source))
            .and_then(|call| call.child_by_field_name("arguments"))
            .and_then(|arguments| arguments.named_child(0))
            .filter(|argument| {
                !matches!(
                    argument.kind(),
                    "keyword_argument" | "list_splat" | "dictionary_splat"
                )
            })
        {
            self.insert(argument.start_byte(), "", Some(probe), " or (");
            self.insert(argument.end_byte(), "", None, ")");
            return;
        }
        if first.kind() == "try_statement" {
            if let Some(body) = first.child_by_field_name("body") {
                let colon = colon_row(body).unwrap_or(first.start_position().row);
                self.start_marker(body, colon, probe);
                return;
            }
        }
        let first_row = first.start_position().row;
        if let Some(row) = (header_row + 1..first_row).find(|&row| self.is_free_row(row)) {
            let indent = self.indent_of(first);
            self.fill_free_row(row, &indent, probe);
        }
    }

    /// Puts `probe` where `block` stops executing by falling off its end: after its last
    /// statement when simple, else at the end of each branch of a final `if`/`try`/`with`;
    /// with `after_rows`, also on a free row after the block at its indentation.
    fn end_marker(&mut self, block: Node<'_>, probe: Probe, after_rows: bool) {
        let stmts = statements(block);
        let Some(&last) = stmts.last() else {
            return;
        };
        if !is_compound(last) {
            if !TERMINATORS.contains(&last.kind()) {
                self.append(last.end_byte(), probe);
            }
            return;
        }
        if after_rows {
            // A free row after the block, at the block's indentation, still belongs to it.
            let indent = self.indent_of(last);
            let end_row = block.end_position().row;
            let stop = self.next_code_row(end_row + 1).unwrap_or(self.rows.len());
            if let Some(row) = (end_row + 1..stop).find(|&row| self.is_free_row(row)) {
                self.fill_free_row(row, &indent, probe);
                return;
            }
        }
        match last.kind() {
            "if_statement" | "try_statement" => {
                for body in final_bodies(last) {
                    self.end_marker(body, probe, false);
                }
            }
            "with_statement" => {
                if let Some(body) = last.child_by_field_name("body") {
                    self.end_marker(body, probe, false);
                }
            }
            _ => {}
        }
    }

    fn next_code_row(&self, from: usize) -> Option<usize> {
        (from..self.rows.len()).find(|&row| {
            let text = self.rows.text(row).trim();
            !text.is_empty() && !text.starts_with('#')
        })
    }

    fn block(
        &mut self,
        block: Node<'_>,
        header_row: Option<usize>,
        context: Context,
    ) -> Result<(), InstrumentError> {
        let stmts = statements(block);
        // A docstring stays the first statement of a function or class body, without a probe.
        let skip = usize::from(stmts.first().is_some_and(|s| is_docstring(*s)));
        // The block's own rows start after its header's `:` (a header can span rows).
        let floor = match skip {
            1 => stmts[0].end_position().row + 1,
            _ => colon_row(block).map_or(block.start_position().row, |row| row + 1),
        };
        self.block_statements(&stmts[skip..], header_row, floor, context)
    }

    /// The bodies of an `if` (with `elif`/`else`) or a `try` (with `except`/`else`/`finally`).
    fn clause_bodies(&mut self, stmt: Node<'_>, context: Context) -> Result<(), InstrumentError> {
        // An `if` body on its header's row was counted by the condition; a `try:` is counted
        // as its body starts (each time the statement starts).
        let stmt_row = stmt.start_position().row;
        let mut header_row = (stmt.kind() == "if_statement").then_some(stmt_row);
        if let Some(body) = body_of(stmt) {
            if stmt.kind() == "try_statement" && body.start_position().row != stmt_row {
                let colon = colon_row(body).unwrap_or(stmt_row);
                self.start_marker(body, colon, Probe::Statement(self.line(stmt)));
                header_row = Some(stmt_row);
            }
            self.block(body, header_row, context)?;
        }
        let mut cursor = stmt.walk();
        let clauses: Vec<Node<'_>> = stmt
            .named_children(&mut cursor)
            .filter(|c| c.kind().ends_with("_clause"))
            .collect();
        for clause in clauses {
            let clause_row = clause.start_position().row;
            let clause_line = self.line(clause);
            let Some(body) = body_of(clause) else {
                continue;
            };
            let same_row = body.start_position().row == clause_row;
            // Whether the clause's header counted the statements on its own row.
            let counted = match clause.kind() {
                "elif_clause" => {
                    if let Some(condition) = clause.child_by_field_name("condition") {
                        self.hook(condition, Probe::Statement(clause_line));
                    }
                    true
                }
                // Counted when the handler is entered, at the start of its body: a probe in
                // front of the exception type would run with the exception on the stack and
                // make the function's frame a word bigger than in a plain run. `else:` and
                // `finally:` likewise count the times their block is entered.
                "except_clause" | "except_group_clause" | "else_clause" | "finally_clause" => {
                    if same_row {
                        false
                    } else {
                        let colon = colon_row(body).unwrap_or(clause_row);
                        self.start_marker(body, colon, Probe::Statement(clause_line));
                        true
                    }
                }
                _ => false,
            };
            self.block(body, counted.then_some(clause_row), context)?;
        }
        Ok(())
    }

    /// The `else` clause of a loop, counted each time its block is entered.
    fn else_clauses(&mut self, stmt: Node<'_>, context: Context) -> Result<(), InstrumentError> {
        if let Some(alternative) = stmt.child_by_field_name("alternative") {
            if let Some(body) = body_of(alternative) {
                let row = alternative.start_position().row;
                let counted = body.start_position().row != row;
                if counted {
                    let colon = colon_row(body).unwrap_or(row);
                    self.start_marker(body, colon, Probe::Statement(self.line(alternative)));
                }
                self.block(body, counted.then_some(row), context)?;
            }
        }
        Ok(())
    }

    /// Turns the plan into the instrumented text and the slot table.
    fn finish(mut self, nonce: &Nonce, first_slot: usize) -> Instrumented {
        let lines: BTreeSet<u32> = self
            .inserts
            .iter()
            .filter_map(|insert| insert.probe.map(Probe::line))
            .collect();
        let probe_lines: Vec<u32> = lines.into_iter().collect();
        let slots: BTreeMap<u32, usize> = probe_lines
            .iter()
            .enumerate()
            .map(|(slot, &line)| (line, first_slot + slot))
            .collect();
        let mut inserts = std::mem::take(&mut self.inserts);
        inserts.sort_by_key(|insert| (insert.byte, insert.order));
        let mut code = String::with_capacity(self.source.len() * 2);
        let mut cursor = 0;
        let slot_of = |probe: Probe| slots.get(&probe.line()).copied().unwrap_or(0);
        let mut inserts = inserts.into_iter().peekable();
        while let Some(insert) = inserts.next() {
            code.push_str(&self.source[cursor..insert.byte]);
            cursor = insert.byte;
            code.push_str(&insert.before);
            // A hit followed at once by a statement probe (a loop header's hit and its body's
            // first statement, say) is one call: probes run once per statement in loops.
            if let Some(first @ (Probe::Statement(_) | Probe::Hit(_))) = insert.probe {
                let joins = matches!(insert.after, "; " | " or ");
                let next = inserts.next_if(|next| {
                    joins
                        && next.byte == insert.byte
                        && next.before.is_empty()
                        && matches!(next.probe, Some(Probe::Statement(_)))
                });
                if let Some((next, Some(second))) = next.map(|n| (n.after, n.probe)) {
                    code.push_str(&nonce.hit_then_statement(slot_of(first), slot_of(second)));
                    code.push_str(next);
                    continue;
                }
            }
            if let Some(probe) = insert.probe {
                code.push_str(&match probe {
                    Probe::Statement(_) => nonce.statement(slot_of(probe)),
                    Probe::Current(_) => nonce.current(slot_of(probe)),
                    Probe::Hit(_) => nonce.hit(slot_of(probe)),
                });
            }
            code.push_str(insert.after);
        }
        code.push_str(&self.source[cursor..]);
        Instrumented {
            code,
            probe_lines,
            first_slot,
            aliases: self.aliases,
        }
    }
}

/// The row of the `:` that ends the header of `block`.
fn colon_row(block: Node<'_>) -> Option<usize> {
    let mut node = block.prev_sibling();
    while let Some(n) = node {
        if n.kind() == ":" {
            return Some(n.end_position().row);
        }
        node = n.prev_sibling();
    }
    None
}

/// The bodies where an `if` or `try` can end by falling off its end.
fn final_bodies(stmt: Node<'_>) -> Vec<Node<'_>> {
    let mut cursor = stmt.walk();
    let clauses: Vec<Node<'_>> = stmt
        .named_children(&mut cursor)
        .filter(|c| c.kind().ends_with("_clause"))
        .collect();
    if stmt.kind() == "try_statement" {
        if let Some(finally) = clauses.iter().find(|c| c.kind() == "finally_clause") {
            return body_of(*finally).into_iter().collect();
        }
        let mut out = Vec::new();
        match clauses.iter().find(|c| c.kind() == "else_clause") {
            Some(else_clause) => out.extend(body_of(*else_clause)),
            None => out.extend(body_of(stmt)),
        }
        for clause in clauses.iter().filter(|c| c.kind().starts_with("except")) {
            out.extend(body_of(*clause));
        }
        return out;
    }
    let mut out: Vec<Node<'_>> = body_of(stmt).into_iter().collect();
    for clause in clauses {
        out.extend(body_of(clause));
    }
    out
}

/// The context expression of a `with` statement's first item (without its `as` target).
fn first_with_expression(stmt: Node<'_>) -> Option<Node<'_>> {
    let mut cursor = stmt.walk();
    let clause = stmt
        .named_children(&mut cursor)
        .find(|c| c.kind() == "with_clause")?;
    let mut cursor = clause.walk();
    let item = clause
        .named_children(&mut cursor)
        .find(|c| c.kind() == "with_item")?;
    let value = item.child_by_field_name("value")?;
    if value.kind() == "as_pattern" {
        value.named_child(0)
    } else {
        Some(value)
    }
}

/// Whether `expression` is a call of `range`, which MicroPython compiles into a loop that
/// allocates nothing (wrapping it would make a range object each time the loop starts).
fn is_range_call(expression: Node<'_>, source: &str) -> bool {
    expression.kind() == "call"
        && expression
            .child_by_field_name("function")
            .and_then(|f| source.get(f.start_byte()..f.end_byte()))
            == Some("range")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonce() -> Nonce {
        Nonce::from_hex("00000000000000000000000000000000")
    }

    /// The rewritten script with its slot table, for snapshots; asserts the line count.
    fn check(source: &str) -> String {
        match instrument(&normalize(source), &nonce()) {
            Ok(instrumented) => {
                assert_eq!(
                    instrumented.code.lines().count(),
                    normalize(source).lines().count(),
                    "lines moved:\n{}",
                    instrumented.code
                );
                let mut text = format!(
                    "{}\n---- probe lines: {:?}\n",
                    instrumented.code.replace("_h0000", "_"),
                    instrumented.probe_lines
                );
                if !instrumented.aliases.is_empty() {
                    text.push_str(&format!("---- aliases: {:?}\n", instrumented.aliases));
                }
                text
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
    fn no_free_lines() {
        insta::assert_snapshot!(check(&testdata("no_free_lines.py")));
    }

    #[test]
    fn one_line_compound_statements() {
        insta::assert_snapshot!(check(
            "if x: y\nfor i in r: a; b\nwhile c: ...\nclass C: pass\nif x: return_ = 1\nelse: pass\n"
        ));
    }

    /// A `range` loop that starts a block stays a range loop: the enclosing header's probe goes
    /// into its first argument. `try:`, `else:` and `finally:` count their block's entries.
    #[test]
    fn blocks_starting_with_range_loops_and_clause_entries() {
        insta::assert_snapshot!(check(
            "for a in range(3):\n    for b in range(a, 9, 2):\n        n += 1\nwhile x:\n    for c in range(*r):\n        x -= 1\nelse:\n    done()\ntry:\n    try:\n        f()\n    finally:\n        g()\nexcept E:\n    pass\nelse:\n    h()\n"
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
    fn loops_hand_the_line_back_to_their_header() {
        insta::assert_snapshot!(check(
            "for i, x in enumerate(xs):\n    if x:\n        continue\n    total += x\nfor j in range(3):\n    while j:\n        j -= 1\n"
        ));
    }

    #[test]
    fn try_with_and_except_clauses() {
        insta::assert_snapshot!(check(
            "try:\n    try:\n        f()\n    except ValueError as e:\n        g(e)\n    except:\n        h()\nfinally:\n    done()\nwith open(p) as fh, lock:\n    data = fh.read()\n"
        ));
    }

    #[test]
    fn viper_and_asm_bodies_are_left_alone() {
        insta::assert_snapshot!(check(
            "import micropython\n\n@micropython.viper\ndef add(a: int, b: int) -> int:\n    return a + b\n\n@micropython.asm_thumb\ndef one():\n    mov(r0, 1)\n\nprint(add(1, 2))\n"
        ));
    }

    #[test]
    fn normalizing_line_endings_and_a_bom() {
        assert_eq!(normalize("\u{feff}a\r\nb\rc\n"), "a\nb\nc\n");
        assert_eq!(normalize("a\n"), "a\n");
    }

    #[test]
    fn empty_and_comment_only_scripts() {
        assert_eq!(check(""), "\n---- probe lines: []\n");
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
        let error = instrument(&scenario("syntax_error.py"), &nonce());
        assert!(
            matches!(error, Err(InstrumentError::Syntax { line: 4, .. })),
            "{error:?}"
        );
    }

    #[test]
    fn unsupported_syntax_is_typed() {
        let error = instrument("x = 1\nprint x\n", &nonce());
        assert!(
            matches!(error, Err(InstrumentError::Unsupported { line: 2, .. })),
            "{error:?}"
        );
        let error = instrument("match x:\n    case 1:\n        pass\n", &nonce());
        assert!(
            matches!(error, Err(InstrumentError::Unsupported { line: 1, .. })),
            "{error:?}"
        );
    }
}
