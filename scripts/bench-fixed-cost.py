#!/usr/bin/env python3
"""The fixed cost of a run: `heaplens run --json` of an empty script against the plain
interpreter running it, each command a fresh process, interleaved run by run so that a
change in the machine's speed hits every side alike. Give more than one heaplens binary
(for example one built from an older commit) to compare them in the same process.

    python3 scripts/bench-fixed-cost.py target/dist/heaplens [OLD_HEAPLENS ...] [--runs 40]

Prints, per command, the median and minimum wall time and the median over the plain run.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HEAPSIZE = 194300  # the plain runs' heap, as scripts/fidelity/corpus.py gives them


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("heaplens", nargs="+", help="heaplens binaries to time")
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument(
        "--micropython",
        default=os.environ.get("HEAPLENS_MICROPYTHON")
        or os.path.join(os.path.dirname(__file__), "..", ".venv", "bin", "micropython"),
    )
    opts = ap.parse_args()
    micropython = os.path.abspath(opts.micropython)
    env = dict(os.environ, HEAPLENS_MICROPYTHON=micropython)
    with tempfile.TemporaryDirectory(prefix="hl-fixed-") as folder:
        open(os.path.join(folder, "empty.py"), "w").close()
        commands = [[micropython, "-X", f"heapsize={HEAPSIZE}", "empty.py"]] + [
            [os.path.abspath(h), "run", "--board", "sim", "--json", "empty.py"] for h in opts.heaplens
        ]
        times = [[] for _ in commands]
        for _ in range(opts.runs):
            for i, command in enumerate(commands):
                start = time.perf_counter()
                done = subprocess.run(command, cwd=folder, env=env, capture_output=True)
                times[i].append(time.perf_counter() - start)
                if done.returncode != 0:
                    sys.exit(f"{' '.join(command)} failed:\n{done.stderr.decode(errors='replace')}")
    plain = statistics.median(times[0])
    for command, ts in zip(commands, times):
        median = statistics.median(ts)
        print(
            f"{1000 * median:7.1f} ms median  {1000 * min(ts):6.1f} ms min  "
            f"+{1000 * (median - plain):5.1f} ms over plain  {command[0]}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
