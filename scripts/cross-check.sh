#!/usr/bin/env bash
# Checks (clippy, -D warnings) that the server compiles for every system a .vsix is made for,
# from this Linux machine, without their SDKs. Not part of CI (scripts/test.sh checks Windows
# with MinGW; .github/workflows/release.yml builds each natively); run it after touching
# cfg-gated code: `bash scripts/cross-check.sh [TARGET…]`. About 1-2.5 min per target on 2 cores.
#
# `cargo check` builds the C parts (tree-sitter) but links nothing, so the host gcc and ar
# stand in for each system's compiler and archiver (scripts/cross-check/cc drops the flags
# only Apple's clang knows, scripts/cross-check/ar takes lib.exe's arguments).
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$PWD/scripts/cross-check"
targets=("$@")
if ((${#targets[@]} == 0)); then
    targets=(aarch64-unknown-linux-gnu aarch64-apple-darwin x86_64-pc-windows-msvc)
fi
for target in "${targets[@]}"; do
    echo "== cross-check: $target"
    rustup target add "$target" >/dev/null 2>&1
    env_target=${target//-/_}
    env "CC_${env_target}=$tools/cc" "AR_${env_target}=$tools/ar" PKG_CONFIG_ALLOW_CROSS=1 \
        cargo clippy -q --locked --target "$target" -p heaplens -- -D warnings
done
echo "cross-check: ${targets[*]}: ok"
