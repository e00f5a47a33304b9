#!/usr/bin/env python3
"""Outside-truth fidelity harness for `heaplens run` (issue #12, "Faithful runs").

For every script of a corpus (by default MicroPython's tests/basics, tests/micropython,
tests/misc and tests/float, taken from a checkout of the public MicroPython repository; and/or
the project's own tests/fixtures/fidelity), run from the script's own folder:

1. the plain run, the truth for output: `micropython -X heapsize=194300 SCRIPT` (twice: the
   two outputs tell whether the script's output varies from run to run by itself);
2. `heaplens run --board sim --json --timeout T SCRIPT` (twice, for the time; the report of
   the first run is compared);
3. CPython: `python3 SCRIPT`; when it prints what the plain run printed and exits the same
   way, `settrace_lines.py SCRIPT`, the outside truth for per-line hit counts.

Then classify: is heaplens's output (printed text, uncaught exception and its traceback lines)
identical to the plain run's; for the scripts CPython runs identically, does each line's hit
count agree with what `rules.py` derives from the settrace events (rule set `--rules`, default
`target`; the `current` rule set is evaluated alongside to tell design choices from bugs);
and how much longer the heaplens run takes (per script, in total, and the fixed cost measured on
an empty script).

Outputs (in `--out`, default /tmp/heaplens-fidelity): `raw/*.json` (everything collected for a
script; `--reuse` re-analyses them without running anything again), `results.json` (the
machine-readable result) and `summary.md` (the tables).

Normalisation: none, except for a script whose two plain runs print different text (object
addresses, `id()` values and hashes of heap objects differ from run to run on the unix port):
then hexadecimal numbers and integers of 9 digits or more are replaced by placeholders on both
sides before comparing. A script whose normalised plain runs still differ is reported as
"plain run varies".

Standard library only. Example:

    python3 scripts/fidelity/corpus.py --corpus /tmp/mpcorpus/tests --heaplens target/debug/heaplens
    python3 scripts/fidelity/corpus.py --corpus tests/fixtures/fidelity --only 'if_*'
"""

import argparse
import concurrent.futures
import datetime
import fnmatch
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import rules  # noqa: E402

DEFAULT_DIRS = ["basics", "micropython", "misc", "float"]
HEAPSIZE = 194300
RAW_VERSION = 1

# --------------------------------------------------------------------------------------------
# Collecting


def find_scripts(corpora, dirs, only):
    found = []
    for corpus in corpora:
        corpus = os.path.abspath(corpus)
        roots = []
        for d in dirs:
            for base in (corpus, os.path.join(corpus, "tests")):
                if os.path.isdir(os.path.join(base, d)):
                    roots.append((d, os.path.join(base, d)))
                    break
        if not roots:
            roots = [(os.path.basename(corpus.rstrip("/")), corpus)]
        for group, folder in roots:
            for name in sorted(os.listdir(folder)):
                if not name.endswith(".py"):
                    continue
                rel = group + "/" + name
                if only and not any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in only):
                    continue
                found.append((group, os.path.join(folder, name)))
    return found


def run(cmd, cwd, timeout, env=None):
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
        elapsed = time.perf_counter() - t0
        return {
            "rc": p.returncode,
            "out": p.stdout.decode("utf-8", "replace"),
            "err": p.stderr.decode("utf-8", "replace"),
            "time": elapsed,
            "timed_out": False,
        }
    except subprocess.TimeoutExpired as e:
        elapsed = time.perf_counter() - t0
        return {
            "rc": None,
            "out": (e.stdout or b"").decode("utf-8", "replace"),
            "err": (e.stderr or b"").decode("utf-8", "replace"),
            "time": elapsed,
            "timed_out": True,
        }


HL_KEYS = [
    "output",
    "exception",
    "traceback",
    "instrumented",
    "not_instrumented",
    "timed_out",
    "interrupted",
    "elapsed_ms",
    "sample",
    "sampled_automatically",
    "exact",
]


def heaplens_cmd(opts, base, extra=()):
    project = ["--project", opts.lone_project] if opts.lone_project else []
    return [opts.heaplens, "run", "--board", "sim", "--json", "--timeout", str(opts.timeout), *project, *extra, base]


def variant_args(variant):
    return [a for a in variant.split() if a]


def collect(group, path, opts):
    """Runs everything for one script (or loads it from raw/ with --reuse)."""
    name = os.path.basename(path)
    cache = os.path.join(opts.out, "raw", group + "__" + name + ".json")
    if opts.reuse and os.path.exists(cache):
        with open(cache) as f:
            raw = json.load(f)
        if raw.get("version") == RAW_VERSION:
            if opts.retrace:
                collect_trace(raw, opts)
                with open(cache, "w") as f:
                    json.dump(raw, f)
            return raw
    cwd = os.path.dirname(path)
    raw = {"version": RAW_VERSION, "group": group, "script": group + "/" + name, "path": path}
    with open(path, "rb") as f:
        raw["source"] = f.read().decode("utf-8", "replace")
    plain, hl = [], []
    variants = {v: [] for v in opts.variant}
    for i in range(opts.repeat):
        plain.append(run([opts.micropython, "-X", f"heapsize={HEAPSIZE}", name], cwd, opts.timeout))
        hl.append(run(heaplens_cmd(opts, name), cwd, opts.timeout + 60))
        for v in opts.variant:
            r = run(heaplens_cmd(opts, name, variant_args(v)), cwd, opts.timeout + 60)
            same = None
            try:
                same = json.loads(r["out"]).get("output") == (json.loads(hl[0]["out"]).get("output"))
            except ValueError:
                pass
            variants[v].append({"rc": r["rc"], "time": r["time"], "timed_out": r["timed_out"], "same_output": same})
    raw["plain"] = plain
    raw["variants"] = variants
    raw["heaplens_runs"] = []
    for i, r in enumerate(hl):
        entry = {"rc": r["rc"], "time": r["time"], "timed_out": r["timed_out"]}
        report = None
        if r["out"].strip():
            try:
                report = json.loads(r["out"])
            except ValueError:
                entry["bad_json"] = r["out"][:2000]
        if report is not None:
            entry["report"] = {k: report.get(k) for k in HL_KEYS}
            if i == 0:
                entry["report"]["lines"] = [
                    [l["line"], l["hits"], l.get("allocated_bytes")] for l in report.get("lines", [])
                ]
        if r["rc"] != 0 or report is None:
            entry["stderr_tail"] = r["err"][-4000:]
        raw["heaplens_runs"].append(entry)
    if opts.no_cpython:
        raw["cpython"] = {"rc": None, "out": None, "err": "", "time": 0, "timed_out": False, "skipped": True}
        raw["trace"] = None
    else:
        raw["cpython"] = run([opts.python, name], cwd, opts.timeout)
        collect_trace(raw, opts)
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache, "w") as f:
        json.dump(raw, f)
    return raw


def collect_trace(raw, opts):
    """The settrace run, for a script CPython runs like MicroPython."""
    path = raw["path"]
    name, cwd = os.path.basename(path), os.path.dirname(path)
    raw["trace"] = None
    raw.pop("trace_run", None)
    cp, p0 = raw["cpython"], raw["plain"][0]
    if cp["timed_out"] or cp["out"] != p0["out"] or cp["rc"] != p0["rc"]:
        return
    fd, tmp = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        t = run([opts.python, os.path.join(HERE, "settrace_lines.py"), name, "--out", tmp], cwd, opts.timeout * 4)
        raw["trace_run"] = {k: t[k] for k in ("rc", "time", "timed_out")}
        raw["trace_run"]["same_output"] = t["out"] == cp["out"]
        if os.path.getsize(tmp):
            with open(tmp) as f:
                raw["trace"] = json.load(f)
    finally:
        os.unlink(tmp)


# --------------------------------------------------------------------------------------------
# Output comparison

TB_FRAME = re.compile(r'^\s*File "([^"]*)", line (\d+)(?:, in (.*))?')
ADDR = re.compile(r"0x[0-9a-fA-F]+|\b\d{9,}\b")


def normalise(text):
    return ADDR.sub("<N>", text)


TB_START = "Traceback (most recent call last):\n"


def split_traceback(p):
    """(printed output, traceback) of a plain run. The unix port prints an uncaught exception's
    traceback on stdout, after the script's own output (exit status 1)."""
    out = p["out"]
    if p["rc"] == 1:
        i = out.rfind(TB_START)
        if i == 0 or (i > 0 and out[i - 1] == "\n"):
            return out[:i], out[i:]
        if TB_START in p["err"]:
            return out, p["err"][p["err"].rfind(TB_START):]
    return out, None


def plain_status(p):
    if p["timed_out"]:
        return "timeout"
    if p["rc"] == 0:
        return "ok"
    if split_traceback(p)[1] is not None:
        return "exception"
    return "exit %s" % p["rc"]


def last_line(text):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-1].strip() if lines else ""


def tb_frames(text, script_names):
    frames = []
    for line in text.splitlines():
        m = TB_FRAME.match(line)
        if m:
            f = "<script>" if m.group(1) in script_names else m.group(1)
            frames.append((f, int(m.group(2)), m.group(3)))
    return frames


def heaplens_error(entry):
    tail = entry.get("stderr_tail", "")
    i = tail.find("heaplens: error:")
    if i >= 0:
        return tail[i + len("heaplens: error:"):].strip()
    if entry.get("timed_out"):
        return "process did not end"
    return "rc %s: %s" % (entry.get("rc"), last_line(tail)[:200])


def error_key(msg):
    """A short, stable category key for a heaplens error message."""
    if "Traceback" in msg:
        msg = msg.split("Traceback")[0].strip(' "') + " " + last_line(msg.replace("\\n", "\n")).strip('"')
    msg = re.sub(r"line \d+", "line N", msg)
    msg = re.sub(r"/dev/pts/\d+", "/dev/pts/N", msg)
    return msg.strip()[:140]


# Likely causes of a differing output, tried in order (a guess from the script's text and the
# symptom; each was confirmed by a minimal reproduction, see docs/fidelity.md).
CAUSES = [
    ("__file__ is '<stdin>' under heaplens (the script then skips itself with SystemExit)",
     lambda src, res: "__file__" in src),
    ("raise SystemExit / sys.exit() aborts the heaplens run (probe readout: NameError _hl_o)",
     lambda src, res: "_hl_o" in (res.get("heaplens_error") or "")),
    ("script replaces builtins (__import__): heaplens's own capture code breaks",
     lambda src, res: "while capturing mem_info" in (res.get("heaplens_error") or "") and "builtins" in src),
    ("CRLF line endings: a multi-line string literal gains a newline",
     lambda src, res: "\r\n" in src),
    ("CR line endings", lambda src, res: "\r" in src),
    ("probes allocate under micropython.heap_lock() (`for ... in range()` first in a block)",
     lambda src, res: "heap_lock" in src and "heap is locked" in json.dumps(res)),
    ("sys.atexit callbacks are not run", lambda src, res: "atexit" in src),
    ("tracebacks the script prints itself carry instrumented line numbers",
     lambda src, res: "print_exception" in src),
    ("micropython.schedule callbacks run at other points (probes are extra pending checks)",
     lambda src, res: "schedule(" in src),
    ("sys.argv is [] under heaplens", lambda src, res: "sys.argv" in src),
    ("the board runs in a scratch folder: relative paths do not resolve",
     lambda src, res: "open(" in src and "ENOENT" in (res.get("exception_heaplens") or "")),
]


def guess_cause(raw, res):
    for label, pred in CAUSES:
        try:
            if pred(raw["source"], res):
                return label
        except Exception:  # noqa: BLE001
            pass
    return res.get("reason")


def first_difference(a, b):
    al, bl = a.splitlines(), b.splitlines()
    for i in range(max(len(al), len(bl))):
        x = al[i] if i < len(al) else "<end>"
        y = bl[i] if i < len(bl) else "<end>"
        if x != y:
            return {"line": i + 1, "plain": x[:200], "heaplens": y[:200]}
    return None


def compare_output(raw):
    plain = raw["plain"]
    p0 = plain[0]
    name = os.path.basename(raw["script"])
    res = {"plain_status": plain_status(p0)}
    varies = any(p["out"] != p0["out"] for p in plain[1:])
    res["plain_varies"] = varies
    if varies and any(normalise(p["out"]) != normalise(p0["out"]) for p in plain[1:]):
        res["outcome"] = "plain run varies"
        res["reason"] = "plain run varies"
        return res
    if res["plain_status"] == "timeout":
        res["outcome"] = "plain run times out"
        res["reason"] = "plain run times out"
        return res
    h = raw["heaplens_runs"][0]
    rep = h.get("report")
    if rep is None:
        res["outcome"] = "differs"
        res["heaplens_error"] = heaplens_error(h)
        res["reason"] = "heaplens error: " + error_key(res["heaplens_error"])
        return res
    res["instrumented"] = rep.get("instrumented")
    res["not_instrumented"] = rep.get("not_instrumented")
    if rep.get("timed_out"):
        res["outcome"] = "differs"
        res["reason"] = "heaplens run timed out (--timeout %s)" % raw.get("timeout", "")
        return res
    out_p, tb_p = split_traceback(p0)
    out_h = rep.get("output") or ""
    if varies:
        out_h, out_p = normalise(out_h), normalise(out_p)
    same_out = out_h == out_p
    # Uncaught exception: type and message, and the traceback's (file, line, function).
    exc_p = last_line(tb_p) if tb_p is not None else None
    exc_h = rep.get("exception")
    if exc_h is not None and rep.get("traceback"):
        # The traceback's last line, as the board printed it (`exception` drops a trailing ": ").
        exc_h = last_line(rep["traceback"])
    same_exc = True
    if exc_p is not None or exc_h is not None:
        if exc_p is None or exc_h is None:
            same_exc = False
        else:
            same_exc = (normalise(exc_p) == normalise(exc_h.strip())) if varies else exc_p == exc_h.strip()
            fp = tb_frames(tb_p, {name})
            fh = tb_frames(rep.get("traceback") or "", {name, "<stdin>"})
            res["traceback_same"] = fp == fh
            if fp != fh:
                same_exc = False
                res["traceback_plain"] = fp
                res["traceback_heaplens"] = fh
    if res["plain_status"].startswith("exit"):
        same_exc = False
    res["exception_plain"] = exc_p
    res["exception_heaplens"] = exc_h
    if same_out and same_exc:
        res["outcome"] = "identical (normalised)" if varies else "identical"
        res["reason"] = None
        return res
    if not same_out and same_exc and p0["err"].strip():
        # The unix port writes warnings to stderr; the simulated board, like a real board's
        # console, has one stream. Same output once the plain run's stderr lines are removed?
        err_lines = p0["err"].splitlines()
        kept = []
        for line in out_h.splitlines(keepends=True):
            if line.rstrip("\n") in err_lines:
                err_lines.remove(line.rstrip("\n"))
            else:
                kept.append(line)
        if "".join(kept) == out_p and not err_lines:
            res["outcome"] = "identical (stderr merged)"
            res["reason"] = None
            return res
    res["outcome"] = "differs"
    if not same_out:
        res["first_difference"] = first_difference(out_p, out_h)
        res["reason"] = "output differs"
    else:
        res["reason"] = "exception differs"
    return res


# --------------------------------------------------------------------------------------------
# Hit comparison

ANNOTATION = re.compile(r"#\s*hits:\s*(\d+)")


def comparable_for_hits(raw, out_cmp):
    """Why the script's hits are not compared, or None."""
    cp, p0 = raw["cpython"], raw["plain"][0]
    if cp.get("skipped"):
        return "CPython not run (--no-cpython)"
    if cp["timed_out"] or cp["out"] != p0["out"] or cp["rc"] != p0["rc"]:
        return "CPython output differs"
    if raw.get("trace") is None:
        return "settrace run failed"
    if not raw.get("trace_run", {}).get("same_output", False):
        return "settrace run prints differently"
    if not out_cmp["outcome"].startswith("identical"):
        return "heaplens output differs"
    if not out_cmp.get("instrumented"):
        return "not instrumented"
    if raw["script"] in KNOWN_DIVERGENT:
        return "execution path differs (known)"
    return None


# Scripts whose execution path differs between MicroPython and CPython although they print the
# same (found by reading them): their hit counts are not compared.
KNOWN_DIVERGENT = {
    "basics/list_sort.py": "MicroPython's sort calls __lt__ a different number of times",
    "float/float_format_accuracy.py": "a rejection loop over random numbers runs a different number of times",
    "basics/io_stringio1.py": "operations on a closed StringIO raise on CPython only (caught, same output)",
}


def _flat(exp):
    return exp if not isinstance(exp, list) else exp[-1]


def mark_path_differences(rows, per_line, tr, hl):
    """Flags lines in a block that ran on one side only: the block's clause (`if`, `else:`,
    `except`, `for`, ...) was entered under heaplens and not under CPython (or the reverse),
    every statement directly in it ran on one side only, heaplens has a row for each, and
    heaplens's documented rules (`current`) do not explain it (as they do a statement that
    raises). Typically `try: import micropython` / `except ImportError:` or
    `if sys.implementation.name == ...` branches. Such lines are reported apart."""
    children = {}
    for r in rows:
        info = per_line.get(r["line"], (None, None))[0]
        if info is None or r.get("expected") is None or not info.blocks:
            continue
        children.setdefault(info.blocks[-1], []).append(r)
    divergent = set()
    for owner, rs in children.items():
        oinfo = per_line.get(owner, (None, None))[0]
        if oinfo is None or oinfo.one_line or oinfo.construct in (
            "def", "class", "decorated-def", "decorated-class", "decorator"
        ):
            continue
        entered_t = rules.MEASURES["body_entries"](oinfo, tr)
        if entered_t is None or hl.get(owner) is None or (hl[owner] > 0) == (entered_t > 0):
            continue
        if any(r["hits"] is None for r in rs):
            continue
        ran_h = [r["hits"] > 0 for r in rs]
        ran_t = [_flat(r["expected"]) > 0 for r in rs]
        if (
            all(h != t for h, t in zip(ran_h, ran_t))
            and (all(ran_h) or not any(ran_h))
            and not any(r.get("agree_current") for r in rs)
        ):
            divergent.add(owner)
    if not divergent:
        return
    for r in rows:
        info = per_line.get(r["line"], (None, None))[0]
        if info is None or r.get("agree") is not False:
            continue
        if any(b in divergent for b in info.blocks) or r["line"] in divergent:
            r["path_differs"] = True


def compare_hits(raw, ruleset):
    source = raw["source"]
    try:
        infos = rules.classify(source)
    except SyntaxError as e:
        return {"error": "CPython cannot parse: %s" % e}
    tr = rules.Trace(raw["trace"])
    rep = raw["heaplens_runs"][0]["report"]
    hl = {l: h for l, h, _ in rep["lines"]}
    text = source.splitlines()
    other = "current" if ruleset != "current" else "target"
    lines = set(hl)
    per_line = {}
    for line, info in infos.items():
        exp = rules.expected(ruleset, info, tr)
        per_line[line] = (info, exp)
        if exp not in (None, 0) and exp != (0, 0):
            lines.add(line)
    rows = []
    for line in sorted(lines):
        info, exp = per_line.get(line, (None, None))
        hits = hl.get(line)
        src = text[line - 1].strip() if 0 < line <= len(text) else ""
        if info is None:
            # heaplens reports a line where CPython sees no statement (blank, comment, ...).
            construct, exp, exp_other = "none", 0, 0
            category = "other"
        else:
            construct, category = info.construct, info.category
            exp_other = rules.expected(other, info, tr)
        if exp is None:
            rows.append({"line": line, "construct": construct, "category": category, "hits": hits,
                         "expected": None, "agree": None, "one_line": bool(info and info.one_line)})
            continue
        agree = rules.agrees(exp, hits if hits is not None else 0)
        if hits is None and agree:
            continue  # no row and nothing expected: not shown to the user
        row = {
            "line": line,
            "construct": construct,
            "category": category,
            "hits": hits,
            "expected": list(exp) if isinstance(exp, tuple) else exp,
            "agree": agree,
            "one_line": bool(info and info.one_line),
            "settrace": tr.raw_lines.get(line, 0),
            "source": src[:120],
        }
        row["expected_" + other] = list(exp_other) if isinstance(exp_other, tuple) else exp_other
        row["agree_" + other] = rules.agrees(exp_other, hits if hits is not None else 0)
        m = ANNOTATION.search(text[line - 1]) if 0 < line <= len(text) else None
        if m:
            row["annotated"] = int(m.group(1))
        rows.append(row)
    mark_path_differences(rows, per_line, tr, hl)
    # Annotated lines the comparison did not show (no row, nothing expected).
    annotations = {}
    for i, t in enumerate(text, 1):
        m = ANNOTATION.search(t)
        if m:
            info, exp = per_line.get(i, (None, None))
            annotations[i] = {"annotated": int(m.group(1)), "truth": exp if not isinstance(exp, tuple) else list(exp),
                              "hits": hl.get(i)}
    return {"rows": rows, "annotations": annotations}


# --------------------------------------------------------------------------------------------
# Time


def times(raw):
    p = [r["time"] for r in raw["plain"] if not r["timed_out"]]
    h = [r["time"] for r in raw["heaplens_runs"] if not r.get("timed_out") and r.get("report")]
    if not p or not h or len(p) != len(raw["plain"]) or len(h) != len(raw["heaplens_runs"]):
        return None
    res = {"plain": min(p), "heaplens": min(h), "ratio": min(h) / min(p)}
    for v, runs in (raw.get("variants") or {}).items():
        vt = [r["time"] for r in runs if not r["timed_out"] and r["rc"] in (0, 1)]
        if vt and len(vt) == len(runs):
            res["variant " + v] = min(vt)
    return res


def fixed_cost(opts, n):
    d = tempfile.mkdtemp(prefix="hl-empty-")
    try:
        open(os.path.join(d, "empty.py"), "w").close()
        plain, hl, elapsed = [], [], []
        variants = {v: [] for v in opts.variant}
        for _ in range(n):
            plain.append(run([opts.micropython, "-X", f"heapsize={HEAPSIZE}", "empty.py"], d, 60)["time"])
            r = run(heaplens_cmd(opts, "empty.py"), d, 120)
            hl.append(r["time"])
            try:
                elapsed.append(json.loads(r["out"])["elapsed_ms"])
            except (ValueError, KeyError):
                pass
            for v in opts.variant:
                variants[v].append(run(heaplens_cmd(opts, "empty.py", variant_args(v)), d, 120)["time"])
        return {
            "variants": {
                v: {
                    "heaplens_median_ms": 1000 * statistics.median(ts),
                    "fixed_cost_median_ms": 1000 * (statistics.median(ts) - statistics.median(plain)),
                    "fixed_cost_min_ms": 1000 * (min(ts) - min(plain)),
                }
                for v, ts in variants.items()
            },
            "runs": n,
            "plain_median_ms": 1000 * statistics.median(plain),
            "plain_min_ms": 1000 * min(plain),
            "heaplens_median_ms": 1000 * statistics.median(hl),
            "heaplens_min_ms": 1000 * min(hl),
            "fixed_cost_median_ms": 1000 * (statistics.median(hl) - statistics.median(plain)),
            "fixed_cost_min_ms": 1000 * (min(hl) - min(plain)),
            "heaplens_elapsed_ms_median": statistics.median(elapsed) if elapsed else None,
        }
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Report


def analyse(raws, opts):
    scripts = []
    for raw in raws:
        out_cmp = compare_output(raw)
        if out_cmp["outcome"] == "differs":
            out_cmp["cause"] = guess_cause(raw, out_cmp)
        entry = {"script": raw["script"], "group": raw["group"], **out_cmp}
        entry["time"] = times(raw)
        why = comparable_for_hits(raw, out_cmp)
        entry["hits_compared"] = why is None
        entry["hits_not_compared"] = why
        if why is None:
            entry["hits"] = compare_hits(raw, opts.rules)
        scripts.append(entry)
    return scripts


def pct(a, b):
    return "%.1f%%" % (100.0 * a / b) if b else "-"


def summarise(scripts, opts, fixed, meta):
    groups = []
    for s in scripts:
        if s["group"] not in groups:
            groups.append(s["group"])
    summary = {"meta": meta, "rules": opts.rules, "groups": {}, "fixed_cost": fixed}

    def stats_for(sel):
        n = len(sel)
        ident = sum(1 for s in sel if s["outcome"] == "identical")
        identn = sum(1 for s in sel if s["outcome"] == "identical (normalised)")
        idents = sum(1 for s in sel if s["outcome"] == "identical (stderr merged)")
        varies = sum(1 for s in sel if s["outcome"] in ("plain run varies", "plain run times out"))
        differs = [s for s in sel if s["outcome"] == "differs"]
        not_instr = sum(1 for s in sel if s["outcome"].startswith("identical") and not s.get("instrumented"))
        reasons = {}
        for s in differs:
            reasons.setdefault(s.get("cause") or s["reason"], []).append(s["script"])
        hit_scripts = [s for s in sel if s["hits_compared"] and "rows" in s.get("hits", {})]
        cats = {}
        for s in hit_scripts:
            for r in s["hits"]["rows"]:
                c = cats.setdefault(r["category"], {"lines": 0, "agree": 0, "disagree": 0, "by_design": 0,
                                                    "not_comparable": 0, "executed": 0, "executed_agree": 0,
                                                    "path_differs": 0})
                if r["agree"] is None:
                    c["not_comparable"] += 1
                    continue
                if r.get("path_differs"):
                    c["path_differs"] += 1
                    continue
                c["lines"] += 1
                executed = (r["hits"] or 0) > 0 or (r["expected"] not in (0, [0, 0]))
                if executed:
                    c["executed"] += 1
                if r["agree"]:
                    c["agree"] += 1
                    if executed:
                        c["executed_agree"] += 1
                else:
                    c["disagree"] += 1
                    other = [k for k in r if k.startswith("agree_")]
                    if other and r[other[0]]:
                        c["by_design"] += 1
        scripts_all_agree = sum(
            1 for s in hit_scripts
            if all(r["agree"] is not False or r.get("path_differs") for r in s["hits"]["rows"])
        )
        tm = [s["time"] for s in sel if s["time"]]
        timing = None
        if tm:
            tp = sum(t["plain"] for t in tm)
            th = sum(t["heaplens"] for t in tm)
            ratios = sorted(t["ratio"] for t in tm)
            timing = {
                "scripts": len(tm),
                "plain_total_s": tp,
                "heaplens_total_s": th,
                "ratio_total": th / tp if tp else None,
                "ratio_median": statistics.median(ratios),
                "over_5x": sum(1 for r in ratios if r > 5),
                "max_ratio": max(ratios),
                "added_median_ms": 1000 * statistics.median(t["heaplens"] - t["plain"] for t in tm),
            }
            for key in sorted({k for t in tm for k in t if k.startswith("variant ")}):
                both = [t for t in tm if key in t]
                vp = sum(t["plain"] for t in both)
                vh = sum(t[key] for t in both)
                vr = [t[key] / t["plain"] for t in both]
                timing[key] = {
                    "scripts": len(both),
                    "total_s": vh,
                    "ratio_total": vh / vp if vp else None,
                    "ratio_median": statistics.median(vr),
                    "over_5x": sum(1 for r in vr if r > 5),
                    "max_ratio": max(vr),
                    "added_median_ms": 1000 * statistics.median(t[key] - t["plain"] for t in both),
                }
        return {
            "scripts": n,
            "identical": ident,
            "identical_normalised": identn,
            "identical_stderr_merged": idents,
            "plain_varies": varies,
            "differs": len(differs),
            "identical_not_instrumented": not_instr,
            "differ_reasons": reasons,
            "hit_scripts": len(hit_scripts),
            "hit_scripts_all_agree": scripts_all_agree,
            "hits_not_compared": _count(s["hits_not_compared"] for s in sel if s["hits_not_compared"]),
            "categories": cats,
            "time": timing,
        }

    for g in groups:
        summary["groups"][g] = stats_for([s for s in scripts if s["group"] == g])
    summary["all"] = stats_for(scripts)
    return summary


def _count(it):
    d = {}
    for x in it:
        d[x] = d.get(x, 0) + 1
    return d


def markdown(summary, scripts, opts):
    L = []
    meta = summary["meta"]
    L.append("# heaplens fidelity run")
    L.append("")
    L.append("- date: %s" % meta["date"])
    L.append("- heaplens: `%s`; interpreter: `%s` (%s); CPython %s" % (
        meta["heaplens"], meta["micropython"], meta["micropython_version"], meta["python_version"]))
    L.append("- corpus: %s" % ", ".join(meta["corpus"]))
    L.append("- hit rules: `%s` (scripts/fidelity/rules.py); per-script timeout %ss; runs per side: %s"
             % (opts.rules, opts.timeout, opts.repeat))
    L.append("")
    L.append("## Outputs (heaplens run vs plain run)")
    L.append("")
    L.append("| group | scripts | identical | identical after address normalisation | identical but for stderr lines merged | plain run varies | differ | identical but not instrumented |")
    L.append("|---|---|---|---|---|---|---|---|")
    rows = list(summary["groups"].items()) + [("**all**", summary["all"])]
    for g, s in rows:
        L.append("| %s | %d | %d | %d | %d | %d | %d | %d |" % (
            g, s["scripts"], s["identical"], s["identical_normalised"], s["identical_stderr_merged"],
            s["plain_varies"], s["differs"], s["identical_not_instrumented"]))
    L.append("")
    L.append("### Why outputs differ")
    L.append("")
    L.append("| likely cause (`CAUSES` in corpus.py) | scripts | examples |")
    L.append("|---|---|---|")
    for reason, names in sorted(summary["all"]["differ_reasons"].items(), key=lambda kv: -len(kv[1])):
        L.append("| %s | %d | %s |" % (reason.replace("|", "\\|"), len(names), ", ".join(names[:4])))
    L.append("")
    details = [s for s in scripts if s["outcome"] == "differs"]
    if details:
        L.append("<details><summary>Each differing script</summary>")
        L.append("")
        for s in details:
            extra = ""
            if s.get("first_difference"):
                fd = s["first_difference"]
                extra = " — output line %d: plain `%s`, heaplens `%s`" % (fd["line"], fd["plain"][:80], fd["heaplens"][:80])
            elif s.get("heaplens_error"):
                extra = " — " + s["heaplens_error"][:160].replace("\n", " ")
            elif s["reason"] == "exception differs":
                extra = " — plain `%s` %s, heaplens `%s` %s" % (
                    s.get("exception_plain"), s.get("traceback_plain", ""), s.get("exception_heaplens"),
                    s.get("traceback_heaplens", ""))
            L.append("- `%s`: %s (%s)%s" % (s["script"], s["reason"], s.get("cause"), extra.replace("|", "\\|")))
        L.append("")
        L.append("</details>")
        L.append("")
    a = summary["all"]
    L.append("## Hit counts (heaplens vs CPython settrace, rule set `%s`)" % opts.rules)
    L.append("")
    L.append("Compared: %d scripts (CPython prints what MicroPython prints, heaplens output identical, "
             "instrumented); %d of them agree on every line. Not compared: %s." % (
                 a["hit_scripts"], a["hit_scripts_all_agree"],
                 ", ".join("%s %d" % kv for kv in sorted(a["hits_not_compared"].items(), key=lambda kv: -kv[1]))))
    L.append("")
    L.append("| category | lines compared | agree | disagree | of which the `%s` rules predict | executed lines agree | not comparable | path differs |" % ("current" if opts.rules != "current" else "target"))
    L.append("|---|---|---|---|---|---|---|---|")
    keys = ["lines", "agree", "disagree", "by_design", "executed", "executed_agree", "not_comparable", "path_differs"]
    tot = dict.fromkeys(keys, 0)
    for cat in rules.CATEGORY_ORDER:
        c = a["categories"].get(cat)
        if not c:
            continue
        for k in keys:
            tot[k] += c[k]
        L.append("| %s | %d | %d | %d | %d | %s | %d | %d |" % (
            cat, c["lines"], c["agree"], c["disagree"], c["by_design"],
            "%d/%d" % (c["executed_agree"], c["executed"]), c["not_comparable"], c["path_differs"]))
    L.append("| **all** | %d | %d | %d | %d | %d/%d | %d | %d |" % (
        tot["lines"], tot["agree"], tot["disagree"], tot["by_design"], tot["executed_agree"], tot["executed"],
        tot["not_comparable"], tot["path_differs"]))
    L.append("")
    # Examples per construct.
    by_construct = {}
    for s in scripts:
        for r in s.get("hits", {}).get("rows", []) if s["hits_compared"] else []:
            if r["agree"] is False and not r.get("path_differs"):
                by_construct.setdefault((r["category"], r["construct"]), []).append((s["script"], r))
    if by_construct:
        L.append("### Disagreements by construct (up to 4 examples each)")
        L.append("")
        L.append("| category | construct | lines | example: script:line `source` heaplens / expected (settrace raw) |")
        L.append("|---|---|---|---|")
        order = {c: i for i, c in enumerate(rules.CATEGORY_ORDER)}
        for (cat, construct), items in sorted(by_construct.items(), key=lambda kv: (order.get(kv[0][0], 99), -len(kv[1]))):
            ex = "; ".join(
                "%s:%d `%s` %s / %s (%s)" % (
                    sc, r["line"], r["source"][:50].replace("|", "\\|").replace("`", "'"),
                    "-" if r["hits"] is None else r["hits"], r["expected"], r["settrace"])
                for sc, r in items[:4])
            L.append("| %s | %s | %d | %s |" % (cat, construct, len(items), ex))
        L.append("")
    ann = [(s["script"], l, v) for s in scripts if s["hits_compared"]
           for l, v in s.get("hits", {}).get("annotations", {}).items()]
    if ann:
        ok_truth = sum(1 for _, _, v in ann if v["truth"] == v["annotated"] or (v["truth"] is None))
        ok_hl = sum(1 for _, _, v in ann if (v["hits"] or 0) == v["annotated"])
        L.append("### Annotated lines (`# hits: N`)")
        L.append("")
        L.append("%d annotated lines: the settrace-derived `%s` truth equals the annotation on %d "
                 "(not comparable: %d); heaplens equals it on %d." % (
                     len(ann), opts.rules, ok_truth - sum(1 for _, _, v in ann if v["truth"] is None),
                     sum(1 for _, _, v in ann if v["truth"] is None), ok_hl))
        bad = [(sc, l, v) for sc, l, v in ann if v["truth"] is not None and v["truth"] != v["annotated"]]
        for sc, l, v in bad[:20]:
            L.append("- rule self-check failed: %s:%s annotated %s, truth %s" % (sc, l, v["annotated"], v["truth"]))
        L.append("")
    L.append("## Time (wall time of a fresh process, best of %d per side)" % opts.repeat)
    L.append("")
    L.append("| group | heaplens arguments | scripts timed | plain total | heaplens total | ratio of totals | median ratio | max ratio | scripts > 5x | median added time |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for g, s in rows:
        t = s["time"]
        if t:
            L.append("| %s | (default) | %d | %.2f s | %.2f s | %.2fx | %.2fx | %.1fx | %d | %.0f ms |" % (
                g, t["scripts"], t["plain_total_s"], t["heaplens_total_s"], t["ratio_total"], t["ratio_median"],
                t["max_ratio"], t["over_5x"], t["added_median_ms"]))
            for key in sorted(k for k in t if k.startswith("variant ")):
                v = t[key]
                L.append("| %s | `%s` | %d | | %.2f s | %.2fx | %.2fx | %.1fx | %d | %.0f ms |" % (
                    g, key[len("variant "):], v["scripts"], v["total_s"], v["ratio_total"], v["ratio_median"],
                    v["max_ratio"], v["over_5x"], v["added_median_ms"]))
    L.append("")
    timed = sorted((s for s in scripts if s["time"]), key=lambda s: -s["time"]["ratio"])
    L.append("Worst 10 ratios:")
    L.append("")
    L.append("| script | plain | heaplens | ratio |")
    L.append("|---|---|---|---|")
    for s in timed[:10]:
        t = s["time"]
        L.append("| %s | %.1f ms | %.1f ms | %.1fx |" % (s["script"], 1000 * t["plain"], 1000 * t["heaplens"], t["ratio"]))
    L.append("")
    L.append("Slowest 10 by added time:")
    L.append("")
    L.append("| script | plain | heaplens | added |")
    L.append("|---|---|---|---|")
    for s in sorted((s for s in scripts if s["time"]), key=lambda s: -(s["time"]["heaplens"] - s["time"]["plain"]))[:10]:
        t = s["time"]
        L.append("| %s | %.1f ms | %.1f ms | %.1f ms |" % (
            s["script"], 1000 * t["plain"], 1000 * t["heaplens"], 1000 * (t["heaplens"] - t["plain"])))
    L.append("")
    f = summary.get("fixed_cost")
    if f:
        L.append("Fixed cost (empty script, %d alternating runs): plain median %.1f ms (min %.1f), heaplens "
                 "median %.1f ms (min %.1f): **%.1f ms** per run (min-to-min %.1f ms); heaplens's own "
                 "`elapsed_ms` median %s ms." % (
                     f["runs"], f["plain_median_ms"], f["plain_min_ms"], f["heaplens_median_ms"],
                     f["heaplens_min_ms"], f["fixed_cost_median_ms"], f["fixed_cost_min_ms"],
                     f["heaplens_elapsed_ms_median"]))
        for v, fv in (f.get("variants") or {}).items():
            L.append("With `%s`: heaplens median %.1f ms: **%.1f ms** per run (min-to-min %.1f ms)." % (
                v, fv["heaplens_median_ms"], fv["fixed_cost_median_ms"], fv["fixed_cost_min_ms"]))
        L.append("")
    return "\n".join(L) + "\n"


def version_of(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=20)
        return (p.stdout or p.stderr).decode("utf-8", "replace").strip().splitlines()[0]
    except Exception as e:  # noqa: BLE001
        return "? (%s)" % e


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", action="append", help="a MicroPython tests/ folder (or a checkout), or a folder of scripts; repeatable")
    ap.add_argument("--dirs", default=",".join(DEFAULT_DIRS), help="sub-folders of a tests/ corpus (default %(default)s)")
    ap.add_argument("--heaplens", default=os.path.join(ROOT, "target", "debug", "heaplens"))
    ap.add_argument("--micropython", default=os.path.join(ROOT, ".venv", "bin", "micropython"))
    ap.add_argument("--python", default=shutil.which("python3") or sys.executable, help="CPython for the outside truth")
    ap.add_argument("--jobs", type=int, default=1, help="scripts run in parallel (1 keeps the times honest)")
    ap.add_argument("--only", action="append", help="glob on 'group/name.py' or 'name.py'; repeatable")
    ap.add_argument("--timeout", type=int, default=60, help="seconds per run (default %(default)s)")
    ap.add_argument("--repeat", type=int, default=2, help="runs per side for the time (default %(default)s)")
    ap.add_argument("--rules", default="target", choices=sorted(rules.RULESETS))
    ap.add_argument("--out", default="/tmp/heaplens-fidelity")
    ap.add_argument("--reuse", action="store_true", help="re-analyse the scripts already in OUT/raw/ instead of running them again (others are run)")
    ap.add_argument("--variant", action="append", default=[],
                    help="extra heaplens arguments (e.g. '--no-reset'): also time `heaplens run` with them, per script, interleaved; repeatable")
    ap.add_argument("--lone", action="store_true",
                    help="run each script as a project of its own (`--project` an empty folder): nothing else of its "
                         "folder is copied to the board first, as with `mpremote run` (a tests/ folder holds hundreds "
                         "of scripts, and each run starts a fresh simulated Pico with an empty flash)")
    ap.add_argument("--no-cpython", action="store_true", help="skip CPython and settrace (outputs and times only)")
    ap.add_argument("--retrace", action="store_true", help="with --reuse: run the settrace side again (after a change to settrace_lines.py)")
    ap.add_argument("--fixed-runs", type=int, default=15, help="empty-script runs for the fixed cost (0 = skip)")
    ap.add_argument("--label", action="append", default=[], help="text for the corpus line of the summary (e.g. its commit)")
    opts = ap.parse_args()
    opts.corpus = opts.corpus or [os.path.join(ROOT, "tests", "fixtures", "fidelity")]
    opts.heaplens = os.path.abspath(opts.heaplens)
    opts.micropython = os.path.abspath(opts.micropython)
    os.makedirs(opts.out, exist_ok=True)
    opts.lone_project = None
    if opts.lone:
        opts.lone_project = os.path.join(opts.out, "lone-project")
        os.makedirs(opts.lone_project, exist_ok=True)
    scripts = find_scripts(opts.corpus, opts.dirs.split(","), opts.only)
    if not scripts:
        sys.exit("no scripts found")
    lock = threading.Lock()
    done = [0]
    raws = [None] * len(scripts)

    def job(i):
        group, path = scripts[i]
        raws[i] = collect(group, path, opts)
        with lock:
            done[0] += 1
            if not opts.reuse and (done[0] % 25 == 0 or done[0] == len(scripts)):
                print("%d/%d %s" % (done[0], len(scripts), raws[i]["script"]), file=sys.stderr, flush=True)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as ex:
        list(ex.map(job, range(len(scripts))))
    fixed = None
    fixed_path = os.path.join(opts.out, "fixed_cost.json")
    if opts.fixed_runs:
        if opts.reuse and os.path.exists(fixed_path):
            with open(fixed_path) as f:
                fixed = json.load(f)
        else:
            fixed = fixed_cost(opts, opts.fixed_runs)
            with open(fixed_path, "w") as f:
                json.dump(fixed, f)
    meta = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "heaplens": opts.heaplens,
        "micropython": opts.micropython,
        "micropython_version": version_of([opts.micropython, "-c", "import sys; print(sys.version)"]),
        "python_version": version_of([opts.python, "--version"]),
        "corpus": [os.path.abspath(c) for c in opts.corpus] + opts.label,
    }
    analysed = analyse(raws, opts)
    summary = summarise(analysed, opts, fixed, meta)
    with open(os.path.join(opts.out, "results.json"), "w") as f:
        json.dump({"summary": summary, "scripts": analysed}, f, indent=1)
    md = markdown(summary, analysed, opts)
    with open(os.path.join(opts.out, "summary.md"), "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
