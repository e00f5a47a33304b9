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

echo "== language server: end-to-end with a real LSP client (pytest-lsp) and the simulated Pico"
(cd tests/lsp && HEAPLENS_BIN="$PWD/../../target/debug/heaplens" ../../.venv/bin/python -m pytest -q)

echo "== extension: lint, typecheck, unit tests, build"
(cd extension && npm ci --no-audit --no-fund && npm run lint && npm run typecheck && npm test && npm run build)

echo "== extension: heap map webview in headless Chromium"
(cd extension && npm run test:webview)

echo "== extension: package the .vsix (bundles the server built above)"
(cd extension && npm run package)

echo "== VS Code end-to-end: code-server + the packaged .vsix + the real server + the simulated Pico"
bash scripts/setup-code-server.sh
node tests/vscode/run.mjs
