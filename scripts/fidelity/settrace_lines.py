#!/usr/bin/env python3
"""Run a Python script under CPython with a `sys.settrace` line counter.

    python3 settrace_lines.py SCRIPT [--out FILE]

The script runs as `__main__` (like `python3 SCRIPT`: same `sys.argv`, `sys.path[0]`,
`__file__`); run it from the folder the script expects. Its stdout and stderr pass through
unchanged, and the exit status is the script's (1 after an uncaught exception, whose traceback
is printed like CPython's, or the `SystemExit` code).

The counts are written as JSON to FILE, or, without `--out`, to stdout after the script's own
output, on one line that starts with `#settrace `. The JSON:

* `lines`: {line: number of 'line' events} over every frame whose code comes from SCRIPT —
  the plain settrace line counter.
* `events`: [[kind, prev, line, back, count]]: the same events, split by the kind of frame
  (`module`, `function`, `class`, `comprehension` for list/set/dict comprehensions and
  generator expressions, `lambda`, `classhead` for the event a class body fires on its own
  first line) and by the previous line event of the same frame activation (`prev`, 0 for the
  first event after a call; a resumed generator keeps its previous line), with `back` = 1
  when the event follows a backward jump (the same line fires again, or the frame's bytecode
  offset did not grow). These
  let `corpus.py` correct the known settrace artefacts.
* `exceptions`: [[kind, line, exception type, count]]: 'exception' events (an exception raised
  in, or propagating into, a frame at that line).
* `calls`: [[first line of the code, name, count]]: fresh calls (not generator resumptions).
* `suspended`: [[line, count]]: generators left suspended at a line when the script ended.
* `status`: "ok", "exception" or "exit".

Standard library only; CPython 3.11 (the bytecode checks use 3.11's RESUME/YIELD_VALUE).
"""

import dis
import json
import os
import sys
import traceback
import types

RESUME = dis.opmap.get("RESUME")
YIELD_VALUE = dis.opmap.get("YIELD_VALUE")
COMPREHENSIONS = {"<listcomp>", "<setcomp>", "<dictcomp>", "<genexpr>"}
GENERATOR_FLAGS = 0x20 | 0x80 | 0x200  # CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR


def frame_kind(code):
    if code.co_name in COMPREHENSIONS:
        return "comprehension"
    if code.co_name == "<lambda>":
        return "lambda"
    if code.co_name == "<module>":
        return "module"
    # Class bodies are the only other code objects run without CO_NEWLOCALS (0x02).
    if not code.co_flags & 0x02:
        return "class"
    return "function"


class Counter:
    def __init__(self, path):
        self.path = path
        self.lines = {}
        self.events = {}
        self.exceptions = {}
        self.calls = {}
        # id(frame) -> [prev line, prev offset]: one entry per live (or suspended) activation.
        self.state = {}

    def trace(self, frame, event, arg):
        code = frame.f_code
        if code.co_filename != self.path:
            return None
        key = id(frame)
        if event == "line":
            line = frame.f_lineno
            self.lines[line] = self.lines.get(line, 0) + 1
            kind = frame_kind(code)
            st = self.state.get(key)
            if st is None:
                st = self.state[key] = [0, -1, False]
            if kind == "class" and st[0] == 0 and line == code.co_firstlineno:
                kind = "classhead"
            # CPython 3.11 fires a second event on the same line only after a backward jump;
            # on another line, a smaller offset than the previous event's is one too.
            back = 1 if st[1] >= 0 and (line == st[0] or frame.f_lasti <= st[1]) else 0
            k = (kind, st[0], line, back)
            self.events[k] = self.events.get(k, 0) + 1
            st[0] = line
            st[1] = frame.f_lasti
            st[2] = False
        elif event == "call":
            # A suspended generator keeps its entry (see 'return'); its frame is alive, so its
            # id cannot have been reused.
            resumed = code.co_flags & GENERATOR_FLAGS and key in self.state
            if not resumed:
                self.state[key] = [0, -1, False]
                k = (code.co_firstlineno, code.co_name)
                self.calls[k] = self.calls.get(k, 0) + 1
        elif event == "return":
            raw = code.co_code
            lasti = frame.f_lasti
            st = self.state.get(key)
            suspended = (
                code.co_flags & GENERATOR_FLAGS
                and 0 <= lasti < len(raw)
                and raw[lasti] == YIELD_VALUE
                # An exception not caught since it was raised: the frame is ending, not
                # yielding (a throw() lands on the YIELD_VALUE too).
                and not (st is not None and st[2])
            )
            if not suspended:
                self.state.pop(key, None)
        elif event == "exception":
            st = self.state.get(key)
            if st is not None:
                st[2] = True
            k = (frame_kind(code), frame.f_lineno, arg[0].__name__)
            self.exceptions[k] = self.exceptions.get(k, 0) + 1
        return self.trace

    def suspended(self):
        """{line: n} of generator frames still suspended at the end (never resumed nor
        closed); MicroPython never closes an abandoned generator either."""
        out = {}
        for prev_line, _, _ in self.state.values():
            if prev_line:
                out[prev_line] = out.get(prev_line, 0) + 1
        return out

    def result(self, status):
        return {
            "script": self.path,
            "python": sys.version.split()[0],
            "status": status,
            "lines": {str(k): v for k, v in sorted(self.lines.items())},
            "events": [list(k) + [v] for k, v in sorted(self.events.items())],
            "exceptions": [list(k) + [v] for k, v in sorted(self.exceptions.items())],
            "calls": [list(k) + [v] for k, v in sorted(self.calls.items())],
            "suspended": [[k, v] for k, v in sorted(self.suspended().items())],
        }


def main(argv):
    out = None
    args = list(argv[1:])
    if "--out" in args:
        i = args.index("--out")
        out = args[i + 1]
        del args[i : i + 2]
    if len(args) != 1:
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    path = args[0]
    with open(path, "rb") as f:
        source = f.read()
    code = compile(source, path, "exec", dont_inherit=True)

    main_mod = types.ModuleType("__main__")
    main_mod.__file__ = path
    main_mod.__builtins__ = __builtins__
    sys.modules["__main__"] = main_mod
    sys.argv = [path]
    sys.path[0] = os.path.dirname(os.path.abspath(path))

    counter = Counter(path)
    status = "ok"
    code_out = 0
    sys.settrace(counter.trace)
    try:
        exec(code, main_mod.__dict__)
    except SystemExit as e:
        sys.settrace(None)
        status = "exit"
        if e.code is None:
            code_out = 0
        elif isinstance(e.code, int):
            code_out = e.code
        else:
            sys.stderr.write(str(e.code) + "\n")
            code_out = 1
    except BaseException:
        sys.settrace(None)
        status = "exception"
        etype, value, tb = sys.exc_info()
        # Drop this file's own frame, as CPython's top level would not show it.
        traceback.print_exception(etype, value, tb.tb_next)
        code_out = 1
    finally:
        sys.settrace(None)
    sys.stdout.flush()
    text = json.dumps(counter.result(status), separators=(",", ":"))
    if out:
        with open(out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write("#settrace " + text + "\n")
        sys.stdout.flush()
    return code_out


if __name__ == "__main__":
    sys.exit(main(sys.argv))
