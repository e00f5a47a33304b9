import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Method } from "../../src/protocol";
import { extensionRoot } from "../fixtures/dumps";
import { escapeAttribute, makeNonce, webviewHtml } from "../../src/webviewHtml";

const root = extensionRoot();
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  contributes: {
    commands: { command: string }[];
    configuration: { properties: Record<string, unknown> };
    grammars: { path: string }[];
  };
  capabilities: { untrustedWorkspaces: { supported: string } };
};

test("every contributed command is registered by the extension", () => {
  const source = readFileSync(join(root, "src", "extension.ts"), "utf8");
  for (const { command } of manifest.contributes.commands) {
    assert.ok(source.includes(`run("${command}"`), `${command} is not registered`);
  }
});

/** Every leaf setting of a JSON Schema object, as dotted names (`thresholds.lineBytes`). */
function settingNames(schema: { properties?: Record<string, unknown> }, prefix: string): string[] {
  return Object.entries(schema.properties ?? {}).flatMap(([key, value]) => {
    const inner = value as { properties?: Record<string, unknown>; $ref?: string; allOf?: { $ref?: string }[] };
    const ref = inner.$ref ?? inner.allOf?.[0]?.$ref;
    const resolved = ref === undefined ? inner : definition(ref.split("/").pop() ?? "");
    return resolved.properties === undefined ? [`${prefix}${key}`] : settingNames(resolved, `${prefix}${key}.`);
  });
}

const protocolSchema = JSON.parse(readFileSync(join(root, "src", "generated", "protocol.schema.json"), "utf8")) as {
  definitions: Record<string, { properties?: Record<string, unknown> }>;
};
function definition(name: string): { properties?: Record<string, unknown> } {
  return protocolSchema.definitions[name] ?? {};
}

test("contributed settings are exactly the server's Settings (both generated from Rust)", () => {
  assert.deepEqual(
    Object.keys(manifest.contributes.configuration.properties).sort(),
    settingNames(definition("Settings"), "heaplens.").sort(),
  );
  assert.equal(manifest.capabilities.untrustedWorkspaces.supported, "limited");
});

test("protocol.ts is generated from the current protocol.schema.json", async () => {
  const { generate } = (await import(join(root, "scripts", "gen-protocol.mjs"))) as { generate: () => Promise<string> };
  const current = readFileSync(join(root, "src", "generated", "protocol.ts"), "utf8");
  assert.equal(current, await generate(), "run `npm run generate` in extension/ and commit src/generated/protocol.ts");
});

test("every custom method in PROTOCOL.md is mirrored in protocol.ts", () => {
  const protocol = readFileSync(join(root, "..", "server", "PROTOCOL.md"), "utf8");
  const documented = new Set(protocol.match(/heaplens\/[A-Za-z]+/g));
  assert.deepEqual([...documented].sort(), Object.values(Method).sort());
});

test("the grammar is valid JSON with the mpheap scope", () => {
  const grammar = JSON.parse(readFileSync(join(root, "..", "syntaxes", "mpheap.tmLanguage.json"), "utf8")) as {
    scopeName: string;
  };
  assert.equal(grammar.scopeName, "source.mpheap");
  assert.equal(manifest.contributes.grammars[0]?.path, "./syntaxes/mpheap.tmLanguage.json");
});

test("the webview page has a strict CSP with a nonce and escapes its URIs", () => {
  const nonce = makeNonce(() => 0.5);
  assert.match(nonce, /^[A-Za-z0-9]{32}$/);
  const html = webviewHtml({ cspSource: "vscode-resource:", nonce, scriptUri: 'a"b.js', styleUri: "s.css" });
  assert.match(html, /default-src 'none'/);
  assert.match(html, new RegExp(`script-src 'nonce-${nonce}'`));
  assert.doesNotMatch(html, /unsafe-inline|unsafe-eval|https?:/);
  assert.match(html, /src="a&quot;b.js"/);
  assert.equal(escapeAttribute("<&>"), "&lt;&amp;&gt;");
});
