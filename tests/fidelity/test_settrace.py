"""Hit counts against an outside truth: CPython's `sys.settrace` line events.

Runs `scripts/fidelity/corpus.py` on our own CPython-compatible corpus
(`tests/fixtures/fidelity/`, one script per construct) and checks that every script prints
under `heaplens run` exactly what its plain run prints, and that every line's hit count is
the settrace-derived count (`target` rules of `scripts/fidelity/rules.py`, which correct
settrace's known artefacts) and the `# hits: N` annotation on the line.

The only lines allowed to differ are those heaplens cannot probe without inserting a line
(README, "How HeapLens counts"): they must be missing from the report, never a wrong number.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# (script, line): a definition with no free line above it, no simple statement before it and
# no definition before it in its block (none in our corpus today).
NOT_PROBED: set = set()


def run_corpus(tmp_path):
    out = tmp_path / "fidelity"
    heaplens = os.environ.get("HEAPLENS_BIN", os.path.join(ROOT, "target", "debug", "heaplens"))
    subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "fidelity", "corpus.py"),
         "--heaplens", heaplens, "--repeat", "1", "--fixed-runs", "0", "--out", str(out)],
        check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
    )
    with open(out / "results.json") as f:
        return json.load(f)["scripts"]


def test_runs_print_what_plain_runs_print_and_hits_match_settrace(tmp_path):
    scripts = run_corpus(tmp_path)
    assert len(scripts) >= 13, [s["script"] for s in scripts]
    problems = []
    for s in scripts:
        if s["outcome"] != "identical":
            problems.append(f"{s['script']}: output {s['outcome']} ({s['reason']})")
        if not s["hits_compared"]:
            problems.append(f"{s['script']}: hits not compared ({s['hits_not_compared']})")
            continue
        for row in s["hits"]["rows"]:
            where = (s["script"], row["line"])
            if row.get("annotated") is not None and row["annotated"] != row["expected"]:
                problems.append(f"{where}: settrace truth {row['expected']} but annotated {row['annotated']}")
            if row["agree"]:
                assert where not in NOT_PROBED, f"{where} is probed now: take it off NOT_PROBED"
                continue
            if where in NOT_PROBED and row["hits"] is None:
                continue
            problems.append(f"{where} `{row['source']}`: heaplens {row['hits']}, settrace {row['expected']}")
    assert not problems, "\n".join(problems)
