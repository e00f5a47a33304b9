// Builds the extension host bundle (dist/extension.js), the webview bundle (dist/webview.js,
// plus dist/webview.css) and, with --tests, every test file into out/test/ for node:test.
// Also copies the repository's grammar into the extension so vsce packages it.
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const watch = process.argv.includes("--watch");
const tests = process.argv.includes("--tests");

/** Lists `*.test.ts` files under a folder (non-recursive). */
function testFiles(folder) {
  return readdirSync(join(here, folder))
    .filter((name) => name.endsWith(".test.ts"))
    .map((name) => join(folder, name));
}

const builds = tests
  ? [
      {
        entryPoints: [...testFiles("test/unit"), ...testFiles("test/webview"), "bench/webview.bench.ts", "test/fakeServer/fakeServer.ts"],
        outdir: "out",
        outbase: ".",
        bundle: true,
        platform: "node",
        format: "cjs",
        target: "node20",
        sourcemap: "inline",
        external: ["vscode", "playwright-core", "typescript"],
      },
    ]
  : [
      {
        entryPoints: ["src/extension.ts"],
        outfile: "dist/extension.js",
        bundle: true,
        platform: "node",
        format: "cjs",
        target: "node20",
        external: ["vscode"],
        sourcemap: false,
        minify: !watch,
      },
      {
        entryPoints: ["src/webview/main.ts"],
        outfile: "dist/webview.js",
        bundle: true,
        platform: "browser",
        format: "iife",
        target: "chrome120",
        sourcemap: false,
        minify: !watch,
      },
    ];

if (!tests) {
  mkdirSync(join(here, "syntaxes"), { recursive: true });
  copyFileSync(
    join(here, "..", "syntaxes", "mpheap.tmLanguage.json"),
    join(here, "syntaxes", "mpheap.tmLanguage.json"),
  );
  mkdirSync(join(here, "dist"), { recursive: true });
  copyFileSync(join(here, "src", "webview", "webview.css"), join(here, "dist", "webview.css"));
}

for (const options of builds) {
  const settings = { ...options, absWorkingDir: here, logLevel: "warning" };
  if (watch) {
    const context = await esbuild.context(settings);
    await context.watch();
  } else {
    await esbuild.build(settings);
  }
}
