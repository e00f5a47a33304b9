// Generates src/generated/protocol.ts from src/generated/protocol.schema.json, which the Rust
// server writes from its own types (`UPDATE_GENERATED=1 cargo test --lib generated`). The
// server owns every wire type and setting; this file only changes their language.
//   node scripts/gen-protocol.mjs          write protocol.ts
//   node scripts/gen-protocol.mjs --check  exit 1 when protocol.ts is stale
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { compile } from "json-schema-to-typescript";

const here = dirname(fileURLToPath(import.meta.url));
const schemaPath = join(here, "..", "src", "generated", "protocol.schema.json");
const outPath = join(here, "..", "src", "generated", "protocol.ts");

/** The TypeScript text for the schema. */
export async function generate() {
  const schema = JSON.parse(readFileSync(schemaPath, "utf8"));
  const methods = schema["x-methods"];
  const commands = schema["x-commands"];
  const constants = schema["x-constants"];
  delete schema["x-methods"];
  delete schema["x-commands"];
  delete schema["x-constants"];
  const types = await compile(schema, "HeapLensProtocol", {
    bannerComment:
      "/* Generated from server/src/lsp/ext.rs and settings.rs (via protocol.schema.json) by\n" +
      " * `npm run generate`. Do not edit: change the Rust types, then run\n" +
      " * `UPDATE_GENERATED=1 cargo test --lib generated` and `npm run generate`. */",
    unreachableDefinitions: true,
    additionalProperties: false,
    style: { printWidth: 120, semi: true, singleQuote: false, trailingComma: "all" },
  });
  const lines = [types.trimEnd(), ""];
  lines.push("/** Method names of the custom messages. */");
  lines.push("export const Method = {");
  for (const m of methods) lines.push(`  ${JSON.stringify(m.name.split("/")[1])}: ${JSON.stringify(m.name)},`);
  lines.push("} as const;", "");
  lines.push("/** Params (and, for requests, result) type of every custom method. */");
  lines.push("export interface MethodTypes {");
  for (const m of methods) {
    const result = m.result === null ? "" : `; result: ${m.result}`;
    lines.push(`  ${JSON.stringify(m.name)}: { params: ${m.params}${result} };`);
  }
  lines.push("}", "");
  lines.push("/** Server commands run through `workspace/executeCommand`. */");
  lines.push("export const ServerCommand = {");
  for (const c of commands) lines.push(`  ${JSON.stringify(c.name.split(".")[1])}: ${JSON.stringify(c.name)},`);
  lines.push("} as const;", "");
  lines.push("/** Arguments and result type of every server command. */");
  lines.push("export interface CommandTypes {");
  for (const c of commands) lines.push(`  ${JSON.stringify(c.name)}: { arguments: ${c.arguments}; result: ${c.result} };`);
  lines.push("}", "");
  for (const [name, values] of Object.entries(constants)) {
    lines.push(`export const ${name} = {`);
    for (const [key, value] of Object.entries(values)) lines.push(`  ${key}: ${JSON.stringify(value)},`);
    lines.push("} as const;", `export type ${name} = (typeof ${name})[keyof typeof ${name}];`, "");
  }
  return lines.join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = await generate();
  if (process.argv.includes("--check")) {
    const current = readFileSync(outPath, "utf8");
    if (current !== text) {
      console.error("src/generated/protocol.ts is stale: run `npm run generate` in extension/ and commit it");
      process.exit(1);
    }
  } else {
    writeFileSync(outPath, text);
  }
}
