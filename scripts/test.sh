#!/usr/bin/env bash
# Runs every check and test. This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== rust: fmt, clippy"
cargo fmt --all --check
cargo clippy --all-targets --locked -- -D warnings

echo "== rust: tests (unit, snapshot, end-to-end against the simulated board)"
cargo build --locked --bins
cargo test --locked --all-targets
