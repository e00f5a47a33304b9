#!/usr/bin/env python3
"""What the simulated Pico's boot costs: an interpreter start with the old warm-up (`pass`)
against one that imports the Pico modules as the supervisor does (compiled `.mpy`, and from
`.py` source for comparison), alternated in one process; then `heaplens exec pass` end to end
(supervisor, sandbox, boot, raw REPL). Prints medians and ratios to the plain start.

    python3 scripts/bench-sim-boot.py [ROUNDS] [BASELINE_HEAPLENS]

(after cargo build; default 20 rounds). BASELINE_HEAPLENS, e.g. a build of the commit before
the simulated Pico booted its modules, adds its `heaplens exec pass` as a row.
"""

import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODULES = ROOT / "server" / "src" / "board" / "pico_modules"
INTERPRETER = ROOT / ".venv" / "bin" / "micropython"
HEAPLENS = ROOT / "target" / "debug" / "heaplens"
HEAP = "heapsize=235750"
IMPORT = "[__import__(m) for m in ('machine','rp2','neopixel','network')].clear();__import__('gc').collect()"


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    with tempfile.TemporaryDirectory() as mpy_dir, tempfile.TemporaryDirectory() as py_dir:
        for source in (MODULES / "mpy").glob("*.mpy"):
            shutil.copy(source, mpy_dir)
        for source in MODULES.glob("*.py"):
            shutil.copy(source, py_dir)
        cases = {
            "start + pass (old warm-up)": [str(INTERPRETER), "-X", HEAP, "-c", "pass"],
            "start + Pico modules (.mpy)": [
                str(INTERPRETER), "-X", HEAP, "-c", f"import sys;sys.path[:]=[{mpy_dir!r}];{IMPORT}",
            ],
            "start + Pico modules (.py)": [
                str(INTERPRETER), "-X", HEAP, "-c", f"import sys;sys.path[:]=[{py_dir!r}];{IMPORT}",
            ],
            "heaplens exec pass (end to end)": [str(HEAPLENS), "exec", "--board", "sim", "pass"],
        }
        if len(sys.argv) > 2:
            cases["baseline heaplens exec pass"] = [sys.argv[2], "exec", "--board", "sim", "pass"]
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(rounds):
            for name, command in cases.items():
                times[name].append(timed(command))
    # The fastest round is the least disturbed by other load on the machine; the median too.
    base_min = min(times["start + pass (old warm-up)"])
    base_median = statistics.median(times["start + pass (old warm-up)"])
    print(f"{rounds} rounds: fastest and median, and their ratio to the plain start")
    for name, values in times.items():
        fastest, median = min(values), statistics.median(values)
        print(
            f"  {name:34} {fastest * 1000:7.1f} ms ×{fastest / base_min:.2f}"
            f"   {median * 1000:7.1f} ms ×{median / base_median:.2f}"
        )


if __name__ == "__main__":
    main()
