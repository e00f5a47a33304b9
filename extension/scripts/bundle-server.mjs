// Puts the heaplens server binary into extension/server/ so vsce packages it.
// Source: $HEAPLENS_SERVER_BINARY (the release workflow's cross-built binary), else the
// distribution build `../target/dist/heaplens`, which this script builds first
// (`cargo build --locked --profile dist --bins`: stripped, thin LTO; see Cargo.toml and
// BENCHMARKS.md "Package"). A debug build is never bundled (it is ~86 MB).
// Keeps the execute bit (vsce preserves it in the .vsix).
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const extension = join(dirname(fileURLToPath(import.meta.url)), "..");
const exe = process.platform === "win32" ? "heaplens.exe" : "heaplens";
let source = process.env.HEAPLENS_SERVER_BINARY;
if (source === undefined || source === "") {
  const build = spawnSync("cargo", ["build", "--locked", "--profile", "dist", "--bins"], {
    cwd: join(extension, ".."),
    stdio: "inherit",
  });
  if (build.status !== 0) {
    console.error("bundle-server: `cargo build --profile dist` failed");
    process.exit(1);
  }
  source = join(extension, "..", "target", "dist", exe);
}
if (!existsSync(source)) {
  console.error(`bundle-server: no server binary at ${source}`);
  process.exit(1);
}
mkdirSync(join(extension, "server"), { recursive: true });
const target = join(extension, "server", exe);
copyFileSync(source, target);
chmodSync(target, 0o755);
const megabytes = (statSync(target).size / 1e6).toFixed(1);
console.log(`bundle-server: ${source} -> ${target} (${megabytes} MB)`);
