#!/usr/bin/env bash
# Runs every check and test (what CI runs after scripts/setup.sh). Installs nothing: run
# `bash scripts/setup.sh` first (the README's second command does both).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/micropython ] || [ ! -d extension/node_modules ] || [ ! -d .tools/code-server ]; then
    echo "test: the set-up is missing: run \`bash scripts/setup.sh\` first" >&2
    exit 2
fi

echo "== rust: fmt, clippy"
cargo fmt --all --check
cargo clippy --all-targets --locked -- -D warnings

echo "== rust: the server still builds off Linux (Windows: no simulated Pico, COM ports)"
# ~1-2 min on 2 cores. macOS shares the non-Linux cfg; the release workflow builds it natively.
cargo clippy --locked --target x86_64-pc-windows-gnu -p heaplens -- -D warnings

echo "== rust: tests (unit, snapshot, end-to-end against the simulated board)"
cargo build --locked --bins
cargo test --locked --all-targets

echo "== language server: end-to-end with a real LSP client (pytest-lsp) and the simulated Pico"
(cd tests/lsp && HEAPLENS_BIN="$PWD/../../target/debug/heaplens" ../../.venv/bin/python -m pytest -q)

echo "== fidelity: runs print what plain runs print; hit counts against CPython's sys.settrace"
HEAPLENS_BIN="$PWD/target/debug/heaplens" .venv/bin/python -m pytest -q tests/fidelity

echo "== a second editor: headless Neovim with editors/neovim/heaplens.lua"
(cd tests/neovim && HEAPLENS_BIN="$PWD/../../target/debug/heaplens" ../../.venv/bin/python -m pytest -q)

echo "== extension: lint, typecheck, unit tests, build"
(cd extension && npm run lint && npm run typecheck && npm test && npm run build)

echo "== extension: heap map webview in headless Chromium"
(cd extension && npm run test:webview)

echo "== extension: package the .vsix (bundles the server built above)"
(cd extension && npm run package)

echo "== VS Code end-to-end: code-server + the packaged .vsix + the real server + the simulated Pico"
node tests/vscode/run.mjs
