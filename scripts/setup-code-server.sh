#!/usr/bin/env bash
# Installs code-server 4.100.3 (VS Code 1.100.3, the newest that runs on Node 20) into
# .tools/code-server for the real-VS-Code end-to-end test (tests/vscode/). Idempotent.
# Uses only Debian packages and the npm registry: a plain `npm install code-server` would
# refuse root, need libkrb5-dev, and download ripgrep from the internet in a postinstall, so
# install scripts are skipped and the native modules are rebuilt from source against
# Debian's Node headers instead (recipe: shared facts §5).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=4.100.3
DIR=.tools/code-server
STAMP="$DIR/.installed-$VERSION"
if [ -f "$STAMP" ]; then
    exit 0
fi

# Its Debian packages (g++, make, libkrb5-dev, ripgrep, chromium) come from scripts/setup.sh.
for tool in g++ make rg chromium; do
    command -v "$tool" >/dev/null || { echo "setup-code-server: $tool is missing: run scripts/setup.sh" >&2; exit 2; }
done

echo "setup-code-server: installing code-server $VERSION into $DIR"
mkdir -p "$DIR"
cd "$DIR"
[ -f package.json ] || echo '{"name":"heaplens-code-server","private":true}' > package.json
npm install --no-audit --no-fund --ignore-scripts "code-server@$VERSION" >/dev/null
export npm_config_nodedir=/usr   # Debian's node headers: native builds from source, no download
npm rebuild argon2 >/dev/null
cd node_modules/code-server/lib/vscode
npm install --no-audit --no-fund --omit=dev --ignore-scripts >/dev/null
npm rebuild kerberos @vscode/deviceid @vscode/spdlog native-watchdog >/dev/null 2>&1 || true
npm rebuild node-pty >/dev/null 2>&1 || test -f node_modules/node-pty/build/Release/pty.node
mkdir -p node_modules/@vscode/ripgrep/bin
cp "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
ln -sfn node_modules node_modules.asar
(cd bin/remote-cli && ln -sfn code-linux.sh code-server)
(cd bin/helpers && ln -sfn browser-linux.sh browser.sh)
(cd extensions && npm install --no-audit --no-fund --omit=dev --ignore-scripts >/dev/null)
cd - >/dev/null
touch .installed-$VERSION
echo "setup-code-server: done"
