#!/usr/bin/env bash
# Board-link benchmark (BENCHMARKS.md, "Board link"): a heap capture with `heaplens capture`
# against `mpremote ... exec "micropython.mem_info(1)"`, both as fresh processes on the same
# `heaplens sim`, interleaved, median of N runs; once without soft reset (mpremote `resume`),
# once with a soft reset on both sides. Then captures on an already-open link vs the time the
# board itself spends in mem_info(1).
#
# Usage: bash scripts/bench-capture.sh [RUNS]     (HEAPLENS_BIN overrides the binary)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-15}"
bin="${HEAPLENS_BIN:-target/release/heaplens}"
[ -x "$bin" ] || cargo build --release --bin heaplens
mpremote=.venv/bin/mpremote
code="import micropython; micropython.mem_info(1)"

out=$(mktemp); "$bin" sim >"$out" 2>/dev/null & sim_pid=$!
trap 'kill $sim_pid 2>/dev/null; wait $sim_pid 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 50); do [ -s "$out" ] && break; sleep 0.05; done
pty=$(head -n1 "$out")

# Milliseconds taken by a command (output discarded; failure aborts).
ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000 )) ; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1000}'; }

pair() { # label, heaplens args..., --, mpremote args...
    local label=$1; shift
    local hl=() mp=()
    while [ "$1" != "--" ]; do hl+=("$1"); shift; done; shift
    mp=("$@")
    local a=() b=()
    for _ in $(seq "$runs"); do
        a+=("$(ms "$bin" capture --board "$pty" "${hl[@]}")")
        b+=("$(ms "$mpremote" connect "$pty" "${mp[@]}")")
    done
    local ma mb
    ma=$(printf '%s\n' "${a[@]}" | median); mb=$(printf '%s\n' "${b[@]}" | median)
    printf '%-22s heaplens %6s ms   mpremote %6s ms   ratio %sx\n' "$label" "$ma" "$mb" \
        "$(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.1f", b/a}')"
}

echo "board: heaplens sim on $pty; $runs runs each, interleaved, medians"
pair "no soft reset" -- resume exec "$code"
pair "with soft reset" --reset -- exec "$code"

repeat=200
per=$(HEAPLENS_CAPTURE_REPEAT=$repeat "$bin" capture --board "$pty" 2>&1 >/dev/null | sed -n 's/.*captures, \(.*\) per capture.*/\1/p')
# The board's own time for one mem_info(1) in the same heap state (right after the captures
# above), measured on the board with ticks_us; it includes writing the dump to its tty.
own=()
for _ in $(seq 7); do
    own+=("$("$bin" exec --board "$pty" "import time, micropython
t = time.ticks_us(); micropython.mem_info(1); d = time.ticks_diff(time.ticks_us(), t)
print(d)" | tail -n1)")
done
board_us=$(printf '%s\n' "${own[@]}" | sort -n | sed -n 4p)
echo "open link: $per per capture ($repeat captures); the board's own mem_info(1) in that state: ${board_us} us (median of 7)"
