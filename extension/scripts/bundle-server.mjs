// Copies the heaplens server binary into extension/server/ so vsce packages it.
// Source: $HEAPLENS_SERVER_BINARY, else ../target/release/heaplens, else ../target/debug/heaplens
// (heaplens.exe on Windows builds). Keeps the execute bit (vsce preserves it in the .vsix).
import { chmodSync, copyFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const extension = join(dirname(fileURLToPath(import.meta.url)), "..");
const exe = process.platform === "win32" ? "heaplens.exe" : "heaplens";
const candidates = [
  process.env.HEAPLENS_SERVER_BINARY,
  join(extension, "..", "target", "release", exe),
  join(extension, "..", "target", "debug", exe),
].filter((path) => path !== undefined && path !== "");

const source = candidates.find((path) => existsSync(path));
if (source === undefined) {
  console.error(`bundle-server: no server binary found; tried:\n  ${candidates.join("\n  ")}`);
  console.error("Build it first: cargo build --release --bins");
  process.exit(1);
}
mkdirSync(join(extension, "server"), { recursive: true });
const target = join(extension, "server", exe);
copyFileSync(source, target);
chmodSync(target, 0o755);
console.log(`bundle-server: ${source} -> ${target}`);
