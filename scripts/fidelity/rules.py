"""What a line's hit count should be, from a CPython `sys.settrace` trace: the one place where
the comparison's rules live.

`settrace_lines.py` records every 'line' event of the script's frames with the previous line
event of the same frame activation and whether it follows a backward jump. This module
classifies each source line by the construct that starts on it (CPython's `ast`, so only
for scripts CPython can parse) and derives, for each line, the count a rule set asks for.

Known settrace artefacts (CPython 3.11) that the measures below correct:

* a `for` header fires once more than its iterations (the final, exhausted `next()`), unless
  the loop is left by `break`/`return`/an exception;
* a `def`/`class` line fires when the definition runs, never for a call; a decorated
  definition fires each decorator line and the `def`/`class` line twice (decorators are
  evaluated, then applied in reverse order); a class body fires once more on the class's
  first line in its own frame (`__module__`/`__qualname__` set-up);
* `else:` and `finally:` lines never fire (they hold no code); a `try:` line fires once;
* an `except X:` line fires each time its type is *tested*, whether or not it matches;
* a `with` header fires twice: on entry and again when `__exit__` runs;
* multi-line statements fire on continuation lines, and again on the first line when the
  evaluation comes back to it (e.g. the call after its arguments);
* comprehensions, generator expressions and lambdas run in frames of their own and fire
  their line once per iteration/call;
* a module or class docstring fires a line event; a function docstring does not;
* `while True:` fires at the start and at the end of each iteration but the last (the
  constant condition is compiled away), which equals the number of iterations.

Rule sets: `RULESETS[name][construct]` names the measure (a function in `MEASURES`) that gives
the expected hits of a line of that construct. `target` is what a user would call right (the
settrace count with the artefacts above corrected; the semantics issue #12 asks for);
`current` is what heaplens documents today (`server/src/run/instrument.rs`), so that a
mismatch under `target` that `current` predicts is a design choice to change, and one that
neither predicts is a bug. To follow a change of heaplens's hit rules, edit a line of
`current` (or add a rule set).

Limits: one-line compound statements (`for x in y: f(x)`, `while c: x`, `if c: x`) share
their line with their body, so the trace cannot always separate header from body; their
measures are approximations and the lines are flagged `one_line`.
"""

import ast

# ---------------------------------------------------------------------------------------------
# The rule sets. Constructs are the values of `LineInfo.construct`.

RULESETS = {
    # What a user expects to read next to a line.
    "target": {
        "simple": "starts",  # every execution of the statement, one that raises included
        "return": "starts",
        "yield": "starts",
        "raise": "starts",
        "multi-line": "starts",  # on its first line
        "comprehension": "starts",  # the statement's executions, not the iterations
        "lambda": "starts",  # likewise, not the lambda's calls
        "continuation": "zero",  # continuation lines of a multi-line statement or header
        "if": "starts",  # every evaluation of the condition
        "elif": "starts",
        "else-if": "body_entries",  # the times the else branch is taken
        "for": "iterations",
        "else-for": "body_entries",
        "while": "while_evaluations",  # every evaluation of the condition
        "else-while": "body_entries",
        "def": "definitions",  # once per definition, never per call
        "class": "definitions",
        "decorator": "definitions",  # every decorator line, once per definition
        "decorated-def": "definitions",  # the def/class line of a decorated definition
        "decorated-class": "definitions",
        "with": "with_starts",  # once per execution of the statement
        "try": "starts",
        "except": "body_entries",  # the exceptions it caught
        "else-try": "body_entries",
        "finally": "body_entries",
        "docstring": "skip",
        "declaration": "skip",  # global/nonlocal: nothing runs
    },
    # What heaplens documents today (README "How HeapLens counts", server/src/run/instrument.rs):
    # the `target` rules. Where a probe would need a line of its own (a `def`/`class` with no
    # free line above it and no simple statement before it, or the step of a `for` whose body
    # starts with `while`), the line gets no count: those show up as lines heaplens does not
    # report ("-"), never as wrong numbers.
    "current": None,
}
RULESETS["current"] = dict(RULESETS["target"])

# How the constructs are grouped in the reports (the categories of issue #12).
CATEGORY = {
    "if": "if-header",
    "elif": "if-header",
    "else-if": "if-header",
    "for": "for-header",
    "else-for": "for-header",
    "while": "while",
    "else-while": "while",
    "def": "def",
    "class": "class",
    "decorator": "decorator",
    "decorated-def": "decorator",
    "decorated-class": "decorator",
    "with": "with",
    "try": "try/except/finally",
    "except": "try/except/finally",
    "else-try": "try/except/finally",
    "finally": "try/except/finally",
    "return": "return/yield/raise",
    "yield": "return/yield/raise",
    "raise": "return/yield/raise",
    "multi-line": "multi-line statements",
    "continuation": "multi-line statements",
    "comprehension": "comprehensions",
    "lambda": "lambdas",
    "simple": "other",
    "docstring": "other",
    "declaration": "other",
}

CATEGORY_ORDER = [
    "if-header",
    "for-header",
    "while",
    "def",
    "class",
    "decorator",
    "with",
    "try/except/finally",
    "return/yield/raise",
    "multi-line statements",
    "comprehensions",
    "lambdas",
    "other",
]

# ---------------------------------------------------------------------------------------------
# Source lines and their constructs.


class LineInfo:
    """The construct that starts on a line, and the spans its measures need."""

    def __init__(self, line, construct, span, **extra):
        self.line = line
        self.construct = construct
        self.span = frozenset(span)  # lines whose events belong to this statement/header
        self.body = frozenset(extra.pop("body", ()))  # all lines of the block it opens
        self.first = frozenset(extra.pop("first", ()))  # the header span of that block's first statement
        self.name = extra.pop("name", None)  # def/class name, for `calls`
        self.code_line = extra.pop("code_line", None)  # co_firstlineno of that def/class
        self.stmt_span = frozenset(extra.pop("stmt_span", ()))  # the whole statement
        self.one_line = extra.pop("one_line", False)
        self.node = extra.pop("node", None)
        self.blocks = ()  # header lines of the enclosing clauses, outermost first
        self.scope = 0  # line of the innermost def/class around it (0: the module)
        self.own = set()  # for a def/class: lines of statements run in its own frame
        assert not extra, extra

    @property
    def category(self):
        return CATEGORY[self.construct]


def _span(a, b):
    return range(a, b + 1)


def _contains(node, types):
    for sub in ast.walk(node):
        if isinstance(sub, types):
            return True
    return False


def _header_end(node, body_first):
    """Last line of a compound statement's header: the line before its body, or the body's
    own line when the body shares it."""
    exprs = []
    for field in ("test", "iter", "target", "returns"):
        value = getattr(node, field, None)
        if value is not None:
            exprs.append(value.end_lineno)
    for item in getattr(node, "items", []) or []:
        exprs.append(item.context_expr.end_lineno)
        if item.optional_vars is not None:
            exprs.append(item.optional_vars.end_lineno)
    args = getattr(node, "args", None)
    if isinstance(args, ast.arguments):
        for a in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
            if a is not None:
                exprs.append(a.end_lineno)
        for d in args.defaults + [d for d in args.kw_defaults if d is not None]:
            exprs.append(d.end_lineno)
    for b in getattr(node, "bases", []) or []:
        exprs.append(b.end_lineno)
    for k in getattr(node, "keywords", []) or []:
        exprs.append(k.value.end_lineno)
    end = max([node.lineno] + exprs)
    first = _stmt_start(body_first)
    if first > end:
        # `):` may sit on a line of its own.
        end = first - 1
    return end


def _first_span(stmt):
    """The lines whose events mean that `stmt` started."""
    if isinstance(stmt, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith)):
        return _span(stmt.lineno, _header_end(stmt, stmt.body[0]))
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        first = stmt.decorator_list[0].lineno if stmt.decorator_list else stmt.lineno
        return _span(first, _header_end(stmt, stmt.body[0]))
    if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
        return [stmt.lineno]
    return _span(stmt.lineno, stmt.end_lineno)


def _stmt_start(stmt):
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and stmt.decorator_list:
        return stmt.decorator_list[0].lineno
    return stmt.lineno


def _block_lines(stmts):
    return _span(_stmt_start(stmts[0]), max(s.end_lineno for s in stmts))


def _is_docstring(stmt):
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


class Classifier:
    def __init__(self, source):
        self.source_lines = source.splitlines()
        self.tree = ast.parse(source)
        self.lines = {}
        self.stack = []  # header lines of the clauses around the statement being classified
        self.scopes = [0]  # lines of the enclosing def/class (0: the module)

    def text(self, line):
        if 1 <= line <= len(self.source_lines):
            return self.source_lines[line - 1]
        return ""

    def put(self, info):
        # The first statement that starts on a line owns it (`a; b`, `if x: y`).
        if info.line not in self.lines:
            info.blocks = tuple(self.stack)
            info.scope = self.scopes[-1]
            self.lines[info.line] = info

    def keyword_line(self, after, before, keyword):
        """The line of a bare `else:`/`finally:` between two lines (the AST keeps no position
        for them)."""
        for line in range(before, after, -1):
            stripped = self.text(line).lstrip()
            if stripped.startswith(keyword) and stripped[len(keyword):].lstrip().startswith(":"):
                return line
        return None

    def clause(self, construct, line, body, parent_span=()):
        one_line = _stmt_start(body[0]) == line
        self.put(
            LineInfo(
                line,
                construct,
                [line],
                body=_block_lines(body),
                first=_first_span(body[0]),
                one_line=one_line,
                stmt_span=parent_span,
            )
        )

    def block(self, stmts, in_class=False, in_func=False, owner=None):
        if owner is not None:
            self.stack.append(owner)
        for i, stmt in enumerate(stmts):
            self.statement(stmt, docstring_ok=(i == 0), owner_is_module_or_class=not in_func)
        if owner is not None:
            self.stack.pop()

    def continuation(self, first, last):
        for line in range(first + 1, last + 1):
            self.put(LineInfo(line, "continuation", []))

    def statement(self, stmt, docstring_ok=False, owner_is_module_or_class=True):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.definition(stmt)
            return
        if isinstance(stmt, ast.If):
            self.if_chain(stmt, "if")
            return
        if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
            construct = "while" if isinstance(stmt, ast.While) else "for"
            end = _header_end(stmt, stmt.body[0])
            span = _span(stmt.lineno, end)
            stmt_span = _span(stmt.lineno, stmt.end_lineno)
            self.put(
                LineInfo(
                    stmt.lineno,
                    construct,
                    span,
                    body=_block_lines(stmt.body),
                    first=_first_span(stmt.body[0]),
                    stmt_span=stmt_span,
                    one_line=_stmt_start(stmt.body[0]) == end,
                    node=stmt,
                )
            )
            self.continuation(stmt.lineno, end - (1 if _stmt_start(stmt.body[0]) == end else 0))
            self.block(stmt.body, owner=stmt.lineno)
            if stmt.orelse:
                line = self.keyword_line(stmt.body[-1].end_lineno, _stmt_start(stmt.orelse[0]), "else")
                if line:
                    self.clause("else-" + construct, line, stmt.orelse, stmt_span)
                self.block(stmt.orelse, owner=line or stmt.lineno)
            return
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            end = _header_end(stmt, stmt.body[0])
            self.put(
                LineInfo(
                    stmt.lineno,
                    "with",
                    _span(stmt.lineno, end),
                    body=_block_lines(stmt.body),
                    first=_first_span(stmt.body[0]),
                    stmt_span=_span(stmt.lineno, stmt.end_lineno),
                    one_line=_stmt_start(stmt.body[0]) == end,
                )
            )
            self.continuation(stmt.lineno, end - (1 if _stmt_start(stmt.body[0]) == end else 0))
            self.block(stmt.body, owner=stmt.lineno)
            return
        if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            stmt_span = _span(stmt.lineno, stmt.end_lineno)
            self.clause("try", stmt.lineno, stmt.body, stmt_span)
            self.block(stmt.body, owner=stmt.lineno)
            for handler in stmt.handlers:
                end = handler.type.end_lineno if handler.type is not None else handler.lineno
                self.clause("except", handler.lineno, handler.body, stmt_span)
                self.continuation(handler.lineno, min(end, _stmt_start(handler.body[0]) - 1))
                self.block(handler.body, owner=handler.lineno)
            prev_end = (stmt.handlers[-1] if stmt.handlers else stmt.body[-1]).end_lineno
            if stmt.orelse:
                line = self.keyword_line(prev_end, _stmt_start(stmt.orelse[0]), "else")
                if line:
                    self.clause("else-try", line, stmt.orelse, stmt_span)
                self.block(stmt.orelse, owner=line or stmt.lineno)
                prev_end = stmt.orelse[-1].end_lineno
            if stmt.finalbody:
                line = self.keyword_line(prev_end, _stmt_start(stmt.finalbody[0]), "finally")
                if line:
                    self.clause("finally", line, stmt.finalbody, stmt_span)
                self.block(stmt.finalbody, owner=line or stmt.lineno)
            return
        if type(stmt).__name__ == "Match":
            self.put(LineInfo(stmt.lineno, "simple", [stmt.lineno]))
            return
        # Simple statements.
        span = _span(stmt.lineno, stmt.end_lineno)
        if _is_docstring(stmt) and docstring_ok and owner_is_module_or_class:
            construct = "docstring"
        elif isinstance(stmt, (ast.Global, ast.Nonlocal)) or (
            isinstance(stmt, ast.AnnAssign) and stmt.value is None
        ):
            # `global x`, `x: int`: nothing runs (CPython emits no line event for a bare
            # annotation in a function).
            construct = "declaration"
        elif isinstance(stmt, ast.Return):
            construct = "return"
        elif isinstance(stmt, ast.Raise):
            construct = "raise"
        elif _contains(stmt, (ast.Yield, ast.YieldFrom, ast.Await)):
            construct = "yield"
        elif _contains(stmt, ast.Lambda):
            construct = "lambda"
        elif _contains(stmt, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            construct = "comprehension"
        elif stmt.end_lineno > stmt.lineno:
            construct = "multi-line"
        else:
            construct = "simple"
        if construct == "docstring":
            for line in span:
                self.put(LineInfo(line, "docstring", []))
            return
        self.put(LineInfo(stmt.lineno, construct, span, stmt_span=span, node=stmt))
        self.continuation(stmt.lineno, stmt.end_lineno)

    def if_chain(self, stmt, construct):
        end = _header_end(stmt, stmt.body[0])
        self.put(
            LineInfo(
                stmt.lineno,
                construct,
                _span(stmt.lineno, end),
                body=_block_lines(stmt.body),
                first=_first_span(stmt.body[0]),
                one_line=_stmt_start(stmt.body[0]) == end,
                node=stmt,
            )
        )
        self.continuation(stmt.lineno, end - (1 if _stmt_start(stmt.body[0]) == end else 0))
        self.block(stmt.body, owner=stmt.lineno)
        if not stmt.orelse:
            return
        nxt = stmt.orelse[0]
        if (
            len(stmt.orelse) == 1
            and isinstance(nxt, ast.If)
            and self.text(nxt.lineno).lstrip().startswith("elif")
        ):
            self.if_chain(nxt, "elif")
            return
        line = self.keyword_line(stmt.body[-1].end_lineno, _stmt_start(nxt), "else")
        if line:
            self.clause("else-if", line, stmt.orelse)
        self.block(stmt.orelse, owner=line or stmt.lineno)

    def definition(self, stmt):
        decorated = bool(stmt.decorator_list)
        is_class = isinstance(stmt, ast.ClassDef)
        first = _stmt_start(stmt)
        end = _header_end(stmt, stmt.body[0])
        header = _span(first, end)
        for deco in stmt.decorator_list:
            self.put(
                LineInfo(deco.lineno, "decorator", header, name=stmt.name, code_line=first,
                         stmt_span=header)
            )
            # A decorator spread over lines: its other lines are continuation lines.
            self.continuation(deco.lineno, deco.end_lineno)
        if is_class:
            construct = "decorated-class" if decorated else "class"
        else:
            construct = "decorated-def" if decorated else "def"
        self.put(
            LineInfo(
                stmt.lineno,
                construct,
                header,
                name=stmt.name,
                code_line=first,
                body=_block_lines(stmt.body),
                first=_first_span(stmt.body[0]),
                stmt_span=header,
                one_line=_stmt_start(stmt.body[0]) == end,
            )
        )
        self.continuation(stmt.lineno, end - (1 if _stmt_start(stmt.body[0]) == end else 0))
        self.scopes.append(stmt.lineno)
        if is_class:
            self.block(stmt.body, in_class=True, owner=stmt.lineno)
        else:
            self.block(stmt.body, in_func=True, owner=stmt.lineno)
        self.scopes.pop()


def classify(source):
    """{line: LineInfo} for every line where a statement, clause or continuation is."""
    c = Classifier(source)
    c.block(c.tree.body)
    for info in c.lines.values():
        owner = c.lines.get(info.scope)
        if owner is not None and info.scope:
            owner.own.add(info.line)
    return c.lines


# ---------------------------------------------------------------------------------------------
# Measures: functions of (LineInfo, Trace) -> expected hits, or None (cannot be told).

STATEMENT_FRAMES = ("module", "function", "class")


class Trace:
    """The events of one `settrace_lines.py` result, indexed for the measures."""

    def __init__(self, data):
        self.raw_lines = {int(k): v for k, v in data["lines"].items()}
        self.events = [e for e in data["events"] if e[0] in STATEMENT_FRAMES]
        self.by_line = {}
        for kind, prev, line, back, count in self.events:
            self.by_line.setdefault(line, []).append((prev, back, count))
        self.raised = {}
        for kind, line, exc, count in data["exceptions"]:
            if kind in STATEMENT_FRAMES:
                self.raised.setdefault(line, []).append((exc, count))
        self.suspended = {line: n for line, n in data.get("suspended", [])}
        self.calls = {}
        for first, name, count in data["calls"]:
            self.calls[(first, name)] = self.calls.get((first, name), 0) + count

    def events_on(self, lines):
        for line in lines:
            for prev, back, count in self.by_line.get(line, ()):
                yield prev, line, back, count

    def stmt_line_events(self, line):
        return sum(c for _, _, c in self.by_line.get(line, ()))


def m_starts(info, tr):
    """Each time the statement (or header) starts: events on its lines that come from another
    line or from a backward jump (a multi-line statement fires its lines several times in
    one execution)."""
    span = info.span
    return sum(c for prev, _, back, c in tr.events_on(span) if prev not in span or back)


def m_completions(info, tr):
    """Starts minus the times the statement did not finish: an exception raised in it (or
    thrown into a generator suspended in it), or a generator left suspended in it."""
    delegates = info.node is not None and _contains(info.node, (ast.YieldFrom, ast.Await))
    raised = sum(
        c
        for line in info.span
        for exc, c in tr.raised.get(line, ())
        # `yield from` / `await` catch the StopIteration that ends the delegation.
        if not (delegates and exc in ("StopIteration", "StopAsyncIteration"))
    )
    suspended = sum(tr.suspended.get(line, 0) for line in info.span)
    return m_starts(info, tr) - raised - suspended


def m_zero(info, tr):
    return 0


def m_skip(info, tr):
    return None


def m_body_entries(info, tr):
    if not info.first:
        return None
    body = info.body
    if info.one_line:
        # `else: x` / `except E: x`: the clause's own line is its body's first line.
        return sum(c for prev, _, back, c in tr.events_on(info.first) if prev not in body or back)
    return sum(c for prev, _, _, c in tr.events_on(info.first) if prev not in body)


def m_body_entries_or_completions(info, tr):
    if info.one_line:
        return None  # `if c: x`: a body on the header's line cannot be told from the trace
    return m_body_entries(info, tr)


def m_iterations(info, tr):
    if info.one_line:
        # Each iteration ends with a backward jump to the line (exact unless the body left
        # the loop by break/return/raise).
        return sum(c for prev, _, back, c in tr.events_on(info.span) if back)
    return sum(c for prev, _, _, c in tr.events_on(info.body) if prev in info.span)


def m_while_evaluations(info, tr):
    if info.one_line:
        # `while c: x`: 1 + (iterations - 1) events for 1 + iterations evaluations, and 1 for
        # none: one iteration cannot be told from none.
        return None
    if _constant_true(info):
        return m_while_iterations(info, tr)
    return m_starts(info, tr)


def m_while_iterations(info, tr):
    """Iterations: the body's first statement reached from the header (a `while` fires its
    header line before each iteration, even for `while True:`, whose test is compiled away)."""
    if info.one_line:
        return None
    return sum(c for prev, _, _, c in tr.events_on(info.first) if prev in info.span)


def _constant_true(info):
    node = info.node
    return (
        node is not None
        and isinstance(node.test, ast.Constant)
        and bool(node.test.value)
    )


def m_with_starts(info, tr):
    whole = info.stmt_span or info.span
    return sum(c for prev, _, back, c in tr.events_on(info.span) if prev not in whole)


def m_definitions(info, tr):
    # Events of the enclosing frame on the definition's header, counted once per definition
    # (a decorated definition fires its lines twice). The class body's own event on its
    # first line is recorded as `classhead`, which is not a statement frame.
    return sum(c for prev, _, back, c in tr.events_on(info.span) if prev not in info.span)


def m_calls(info, tr):
    return tr.calls.get((info.code_line, info.name), 0)


def m_started_calls(info, tr):
    """Calls whose body started running: the first line event of a fresh frame (prev 0) on a
    line of the function's own code. A generator counts when it first runs, not when it is
    created; one closed or thrown into before it started does not count."""
    return sum(c for line in info.own for prev, _, c in tr.by_line.get(line, ()) if prev == 0)


def m_definitions_plus_calls(info, tr):
    return m_definitions(info, tr) + m_started_calls(info, tr)


def m_class_definitions_plus_bodies(info, tr):
    d = m_definitions(info, tr)
    # Twice when the body has a block-start probe; once when it starts with a def and has no
    # free line (documented in instrument.rs). Both are accepted.
    return (2 * d, d)


def m_class_bodies(info, tr):
    return m_calls(info, tr)


def m_first_decorator_definitions(info, tr):
    if info.line == info.code_line:
        return m_definitions(info, tr)
    return 0


MEASURES = {
    name[2:]: fn for name, fn in globals().items() if name.startswith("m_") and callable(fn)
}


def expected(ruleset, info, tr):
    """Expected hits of a line: an int, a tuple of accepted ints, or None (not comparable)."""
    rule = RULESETS[ruleset][info.construct]
    return MEASURES[rule](info, tr)


def agrees(exp, hits):
    if exp is None:
        return None
    if isinstance(exp, tuple):
        return hits in exp
    return hits == exp
