/**
 * Drift test: the custom messages must agree between the server's serde types
 * (server/src/lsp/ext.rs, field names camelCased where `rename_all = "camelCase"`), the
 * TypeScript mirror (src/protocol.ts, read with the TypeScript compiler API) and the contract
 * (server/PROTOCOL.md). Compared: method names, every field name of each method's params and
 * result (nested shapes too), optional vs nullable fields, the board states, the server
 * commands, the Stats keys and the settings keys. Each check names what drifted and where.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import ts from "typescript";
import { extensionRoot } from "../fixtures/dumps";

const root = join(extensionRoot(), "..");
const read = (...parts: string[]): string => readFileSync(join(root, ...parts), "utf8");

// ---- Shapes: field name → how it is sent ---------------------------------------------------

interface Field {
  /** May be absent from the JSON (`skip_serializing_if` / `name?:`). */
  optional: boolean;
  /** May be `null` (`Option<T>` serialized always / `T | null`). */
  nullable: boolean;
  /** Nested object fields (arrays unwrapped), "opaque" for free-form JSON, null for scalars. */
  shape: Shape | "opaque" | null;
}
type Shape = Map<string, Field>;

/** Lists every difference between two shapes, with dotted paths. */
function compareShapes(left: Shape, right: Shape, names: [string, string], path: string): string[] {
  const out: string[] = [];
  for (const [name, field] of left) {
    const other = right.get(name);
    const at = `${path}.${name}`;
    if (other === undefined) {
      out.push(`${at}: in ${names[0]}, missing in ${names[1]}`);
      continue;
    }
    if (field.optional !== other.optional) {
      out.push(`${at}: optional in ${field.optional ? names[0] : names[1]} only`);
    }
    if (field.nullable !== other.nullable) {
      out.push(`${at}: nullable in ${field.nullable ? names[0] : names[1]} only`);
    }
    if (field.shape === "opaque" || other.shape === "opaque") continue;
    if ((field.shape === null) !== (other.shape === null)) {
      out.push(`${at}: an object in ${field.shape === null ? names[1] : names[0]} only`);
    } else if (field.shape !== null && other.shape !== null) {
      out.push(...compareShapes(field.shape, other.shape, names, at));
    }
  }
  for (const name of right.keys()) {
    if (!left.has(name)) out.push(`${path}.${name}: in ${names[1]}, missing in ${names[0]}`);
  }
  return out;
}

/** Every field name in a shape, nested ones included (opaque parts not expanded). */
function flatNames(shape: Shape, into = new Set<string>()): Set<string> {
  for (const [name, field] of shape) {
    into.add(name);
    if (field.shape !== null && field.shape !== "opaque") flatNames(field.shape, into);
  }
  return into;
}

// ---- Rust: server/src/lsp/ext.rs ------------------------------------------------------------

const camel = (snake: string): string => snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

interface RustStruct {
  camelCase: boolean;
  fields: { name: string; type: string; attributes: string }[];
}

/** `pub struct` definitions of a Rust file: serde attributes and fields. */
function rustStructs(source: string): Map<string, RustStruct> {
  const structs = new Map<string, RustStruct>();
  const pattern = /((?:#\[[^\]]*\]\s*)*)pub struct (\w+)\s*\{([^}]*)\}/g;
  for (const match of source.matchAll(pattern)) {
    const [, attributes = "", name = "", body = ""] = match;
    const fields: RustStruct["fields"] = [];
    let pending = "";
    for (const raw of body.split("\n")) {
      const line = raw.trim();
      if (line.startsWith("#[")) pending += line;
      const field = /^pub (\w+):\s*(.+?),?$/.exec(line);
      if (field !== null) {
        fields.push({ name: field[1] ?? "", type: field[2] ?? "", attributes: pending });
        pending = "";
      }
    }
    structs.set(name, { camelCase: /rename_all\s*=\s*"camelCase"/.test(attributes), fields });
  }
  return structs;
}

function rustShape(structs: Map<string, RustStruct>, name: string): Shape {
  const struct = structs.get(name);
  if (struct === undefined) throw new Error(`no struct ${name} in ext.rs`);
  const shape: Shape = new Map();
  for (const field of struct.fields) {
    const rename = /rename\s*=\s*"([^"]+)"/.exec(field.attributes);
    const wire = rename?.[1] ?? (struct.camelCase ? camel(field.name) : field.name);
    const skipped = /skip_serializing_if/.test(field.attributes);
    let type = field.type.replace(/\s+/g, "");
    let nullable = false;
    const option = /^Option<(.+)>$/.exec(type);
    if (option !== null) {
      type = option[1] ?? type;
      nullable = !skipped; // a skipped None is absent, never null
    }
    type = /^Vec<(.+)>$/.exec(type)?.[1] ?? type;
    const nested = /^(?:serde_json::)?Value$/.test(type) ? "opaque" : structs.has(type) ? rustShape(structs, type) : null;
    shape.set(wire, { optional: skipped, nullable, shape: nested });
  }
  return shape;
}

/** Method name → Rust params/result type names, from the `impl Notification/Request` blocks. */
function rustMethods(source: string): Map<string, { params: string; result?: string }> {
  const methods = new Map<string, { params: string; result?: string }>();
  for (const match of source.matchAll(/impl (?:Notification|Request) for \w+\s*\{([^}]*)\}/g)) {
    const body = match[1] ?? "";
    const method = /const METHOD: &'static str = "([^"]+)"/.exec(body)?.[1];
    const params = /type Params = (\w+);/.exec(body)?.[1];
    const result = /type Result = (\w+);/.exec(body)?.[1];
    if (method === undefined || params === undefined) throw new Error(`unreadable impl block: ${body}`);
    methods.set(method, result === undefined ? { params } : { params, result });
  }
  return methods;
}

// ---- TypeScript: extension/src/protocol.ts -------------------------------------------------

const tsFile = ts.createSourceFile("protocol.ts", read("extension", "src", "protocol.ts"), ts.ScriptTarget.ES2022, true);
const tsInterfaces = new Map<string, ts.InterfaceDeclaration>();
const tsAliases = new Map<string, ts.TypeAliasDeclaration>();
const tsConsts = new Map<string, ts.ObjectLiteralExpression>();
for (const statement of tsFile.statements) {
  if (ts.isInterfaceDeclaration(statement)) tsInterfaces.set(statement.name.text, statement);
  if (ts.isTypeAliasDeclaration(statement)) tsAliases.set(statement.name.text, statement);
  if (ts.isVariableStatement(statement)) {
    for (const declaration of statement.declarationList.declarations) {
      let init = declaration.initializer;
      if (init !== undefined && ts.isAsExpression(init)) init = init.expression;
      if (init !== undefined && ts.isObjectLiteralExpression(init) && ts.isIdentifier(declaration.name)) {
        tsConsts.set(declaration.name.text, init);
      }
    }
  }
}

const memberName = (name: ts.PropertyName): string =>
  ts.isIdentifier(name) || ts.isStringLiteral(name) ? name.text : name.getText(tsFile);

function tsMembers(members: ts.NodeArray<ts.TypeElement>): Shape {
  const shape: Shape = new Map();
  for (const member of members) {
    if (!ts.isPropertySignature(member) || member.type === undefined) continue;
    const { nullable, shape: nested } = tsType(member.type);
    shape.set(memberName(member.name), { optional: member.questionToken !== undefined, nullable, shape: nested });
  }
  return shape;
}

function tsType(node: ts.TypeNode): { nullable: boolean; shape: Field["shape"] } {
  if (ts.isUnionTypeNode(node)) {
    const isNull = (t: ts.TypeNode): boolean => ts.isLiteralTypeNode(t) && t.literal.kind === ts.SyntaxKind.NullKeyword;
    const rest = node.types.filter((t) => !isNull(t));
    const nullable = rest.length !== node.types.length;
    if (rest.length === 1 && rest[0] !== undefined) return { nullable, shape: tsType(rest[0]).shape };
    return { nullable, shape: null }; // a union of literals: a scalar
  }
  if (ts.isArrayTypeNode(node)) return tsType(node.elementType);
  if (ts.isTypeLiteralNode(node)) return { nullable: false, shape: tsMembers(node.members) };
  if (ts.isTypeReferenceNode(node) && ts.isIdentifier(node.typeName)) {
    const name = node.typeName.text;
    const declaration = tsInterfaces.get(name);
    if (declaration !== undefined) return { nullable: false, shape: tsMembers(declaration.members) };
    if (name === "Record" || name === "Partial") return { nullable: false, shape: "opaque" };
    const alias = tsAliases.get(name);
    if (alias !== undefined) return tsType(alias.type);
  }
  return { nullable: false, shape: null };
}

function tsInterfaceShape(name: string): Shape {
  const declaration = tsInterfaces.get(name);
  if (declaration === undefined) throw new Error(`no interface ${name} in protocol.ts`);
  return tsMembers(declaration.members);
}

/** `MethodTypes` of protocol.ts: method → its params/result type nodes. */
function tsMethods(): Map<string, { params: ts.TypeNode; result?: ts.TypeNode }> {
  const methods = new Map<string, { params: ts.TypeNode; result?: ts.TypeNode }>();
  for (const member of tsInterfaces.get("MethodTypes")?.members ?? []) {
    if (!ts.isPropertySignature(member) || member.type === undefined || !ts.isTypeLiteralNode(member.type)) continue;
    const parts = new Map<string, ts.TypeNode>();
    for (const part of member.type.members) {
      if (ts.isPropertySignature(part) && part.type !== undefined) parts.set(memberName(part.name), part.type);
    }
    const params = parts.get("params");
    if (params === undefined) throw new Error(`MethodTypes: ${memberName(member.name)} has no params`);
    const result = parts.get("result");
    methods.set(memberName(member.name), result === undefined ? { params } : { params, result });
  }
  return methods;
}

/** String values of an `export const X = { … } as const` object. */
function tsConstValues(name: string): string[] {
  const object = tsConsts.get(name);
  if (object === undefined) throw new Error(`no const ${name} in protocol.ts`);
  return object.properties.flatMap((property) =>
    ts.isPropertyAssignment(property) && ts.isStringLiteral(property.initializer) ? [property.initializer.text] : [],
  );
}

/** String literals of a union type alias. */
function tsLiterals(name: string): string[] {
  const alias = tsAliases.get(name);
  if (alias === undefined || !ts.isUnionTypeNode(alias.type)) throw new Error(`no union type ${name} in protocol.ts`);
  return alias.type.types.flatMap((t) => (ts.isLiteralTypeNode(t) && ts.isStringLiteral(t.literal) ? [t.literal.text] : []));
}

// ---- PROTOCOL.md ----------------------------------------------------------------------------

const doc = read("server", "PROTOCOL.md");

/** The text of a `## heading` section, up to the next `## `. */
function docSection(heading: string): string {
  const start = doc.indexOf(`## ${heading}`);
  if (start < 0) throw new Error(`PROTOCOL.md has no "## ${heading}" section`);
  const end = doc.indexOf("\n## ", start + 3);
  return doc.slice(start, end < 0 ? undefined : end);
}

/** Inline code spans of a text (backticks paired in order). */
const codeSpans = (text: string): string[] => [...text.matchAll(/`([^`]*)`/g)].map((m) => m[1] ?? "");

/** Object keys written in code spans: identifiers right after `{` or `,` and before `:`, `,` or `}`. */
function docKeys(spans: string[]): Set<string> {
  const keys = new Set<string>();
  for (const span of spans) {
    for (const match of span.matchAll(/(?:^|[{,])\s*([A-Za-z_]\w*)\??\s*(?=[:,}])/g)) keys.add(match[1] ?? "");
  }
  return keys;
}

/** `Name`: `{…}` definitions of the shared shapes section. */
function docSharedShapes(): Map<string, Set<string>> {
  const shapes = new Map<string, Set<string>>();
  for (const match of docSection("Shared shapes").matchAll(/`(\w+)`:\s*`([^`]*)`/g)) {
    shapes.set(match[1] ?? "", docKeys([match[2] ?? ""]));
  }
  return shapes;
}

/** The bullet describing a method: from "- `method`" to the next bullet or heading. */
function docMethodText(method: string): string | undefined {
  const start = doc.indexOf(`- \`${method}\``);
  if (start < 0) return undefined;
  const rest = doc.slice(start + 2);
  const end = rest.search(/\n(?:- |#)/);
  return end < 0 ? rest : rest.slice(0, end);
}

/** Field names the contract gives a method, with shared shapes and referenced payloads expanded. */
function docMethodKeys(method: string, seen = new Set<string>()): Set<string> {
  const text = docMethodText(method);
  if (text === undefined) throw new Error(`PROTOCOL.md does not describe ${method}`);
  seen.add(method);
  const spans = codeSpans(text);
  const keys = docKeys(spans);
  const shared = docSharedShapes();
  for (const span of spans) {
    for (const [name, shapeKeys] of shared) {
      if (new RegExp(`\\b${name}\\b`).test(span)) for (const key of shapeKeys) keys.add(key);
    }
    // "→ the `heaplens/snapshot` payload"
    if (/^heaplens\/\w+$/.test(span) && !seen.has(span)) for (const key of docMethodKeys(span, seen)) keys.add(key);
  }
  return keys;
}

const sorted = (values: Iterable<string>): string[] => [...values].sort();

// ---- The checks -----------------------------------------------------------------------------

const extRs = read("server", "src", "lsp", "ext.rs");
const structs = rustStructs(extRs);
const rust = rustMethods(extRs);
const typescript = tsMethods();

test("the method names agree: ext.rs, protocol.ts (Method and MethodTypes), PROTOCOL.md", () => {
  const rustNames = sorted(rust.keys());
  assert.ok(rustNames.length >= 7, `only ${rustNames.length} methods read from ext.rs`);
  const listed = /pub const METHODS: &\[&str\] = &\[([^\]]*)\]/.exec(extRs)?.[1] ?? "";
  assert.equal((listed.match(/::METHOD/g) ?? []).length, rustNames.length, "ext.rs METHODS does not list every impl");
  assert.deepEqual(sorted(tsConstValues("Method")), rustNames, "protocol.ts Method vs ext.rs");
  assert.deepEqual(sorted(typescript.keys()), rustNames, "protocol.ts MethodTypes vs ext.rs");
  assert.deepEqual(sorted(new Set(doc.match(/heaplens\/[A-Za-z]+/g))), rustNames, "PROTOCOL.md vs ext.rs");
});

test("every method's params and result have the same fields in ext.rs and protocol.ts", () => {
  const problems: string[] = [];
  for (const [method, types] of rust) {
    const mirror = typescript.get(method);
    if (mirror === undefined) continue; // reported by the method-name test
    for (const part of ["params", "result"] as const) {
      const rustType = types[part];
      const tsNode = mirror[part];
      if ((rustType === undefined) !== (tsNode === undefined)) {
        problems.push(`${method} ${part}: declared on one side only`);
        continue;
      }
      if (rustType === undefined || tsNode === undefined) continue;
      const tsShape = tsType(tsNode).shape;
      if (tsShape === null || tsShape === "opaque") {
        problems.push(`${method} ${part}: protocol.ts type is not an object`);
        continue;
      }
      problems.push(...compareShapes(rustShape(structs, rustType), tsShape, ["ext.rs", "protocol.ts"], `${method} ${part}`));
    }
  }
  assert.deepEqual(problems, []);
});

test("PROTOCOL.md names exactly the fields of every method", () => {
  const problems: string[] = [];
  for (const [method, types] of rust) {
    const code = new Set<string>();
    for (const rustType of [types.params, types.result]) {
      if (rustType !== undefined) flatNames(rustShape(structs, rustType), code);
    }
    const documented = docMethodKeys(method);
    for (const key of code) if (!documented.has(key)) problems.push(`${method}: field ${key} is not in PROTOCOL.md`);
    for (const key of documented) if (!code.has(key)) problems.push(`${method}: PROTOCOL.md documents ${key}, the code has no such field`);
  }
  assert.deepEqual(problems, []);
});

test("board states agree: ext.rs BoardState, protocol.ts BoardState, PROTOCOL.md", () => {
  const body = /pub enum BoardState\s*\{([^}]*)\}/.exec(extRs)?.[1] ?? "";
  const rustStates = sorted([...body.matchAll(/(\w+),/g)].map((m) => (m[1] ?? "").replace(/^./, (c) => c.toLowerCase())));
  assert.ok(rustStates.length > 0, "no BoardState variants read from ext.rs");
  assert.match(/((?:#\[[^\]]*\]\s*)*)pub enum BoardState/.exec(extRs)?.[1] ?? "", /rename_all = "camelCase"/);
  assert.deepEqual(sorted(tsLiterals("BoardState")), rustStates);
  const documented = /state: ((?:"\w+"\|?)+)/.exec(docMethodText("heaplens/boardStatus") ?? "")?.[1] ?? "";
  assert.deepEqual(sorted(documented.split("|").map((s) => s.replace(/"/g, ""))), rustStates);
});

test("server commands agree: ext.rs COMMANDS, protocol.ts ServerCommand, PROTOCOL.md", () => {
  const listed = /pub const COMMANDS: &\[&str\] = &\[([^\]]*)\]/.exec(extRs)?.[1] ?? "";
  const rustCommands = sorted([...listed.matchAll(/"([^"]+)"/g)].map((m) => m[1] ?? ""));
  assert.ok(rustCommands.length > 0, "no COMMANDS read from ext.rs");
  assert.deepEqual(sorted(tsConstValues("ServerCommand")), rustCommands);
  const documented = new Set(codeSpans(docSection("Commands")).flatMap((span) => span.match(/heaplens\.\w+/g) ?? []));
  assert.deepEqual(sorted(documented), rustCommands);
});

test("Stats keys agree: heap/stats.rs (protocol part), protocol.ts Stats, PROTOCOL.md", () => {
  const statsRs = read("server", "src", "heap", "stats.rs");
  const statsStructs = rustStructs(statsRs);
  // stats.rs marks where the keys beyond the protocol start.
  const statsBody = /pub struct Stats\s*\{([^}]*)\}/.exec(statsRs)?.[1] ?? "";
  const protocolPart = statsBody.split("// Beyond the protocol's keys")[0] ?? "";
  const rustKeys = sorted([...protocolPart.matchAll(/pub (\w+):/g)].map((m) => m[1] ?? ""));
  assert.ok(rustKeys.length > 10, "Stats fields not read from stats.rs");
  assert.deepEqual(sorted(tsInterfaceShape("Stats").keys()), rustKeys, "protocol.ts Stats vs stats.rs");
  const sharedText = docSection("Shared shapes");
  // The first plain comma-separated list of names after "`Stats`".
  const afterStats = sharedText.slice(sharedText.indexOf("`Stats`"));
  const statsList = codeSpans(afterStats).find((span) => /^\s*\w+(?:\s*,\s*\w+)+\s*$/.test(span)) ?? "";
  assert.deepEqual(sorted(statsList.split(",").map((s) => s.trim())), rustKeys, "PROTOCOL.md Stats vs stats.rs");
  const bucketRust = sorted((statsStructs.get("FreeRunBucket")?.fields ?? []).map((f) => f.name));
  assert.deepEqual(sorted(tsInterfaceShape("FreeRunBucket").keys()), bucketRust, "FreeRunBucket");
  const bucketDoc = /`free_runs` is a list of `([^`]*)`/.exec(sharedText)?.[1] ?? "";
  assert.deepEqual(sorted(docKeys([bucketDoc])), bucketRust, "PROTOCOL.md free_runs buckets");
});

test("settings keys: PROTOCOL.md lists exactly what the server reads and the extension sends", () => {
  const configRs = read("server", "src", "lsp", "config.rs");
  const applyBody = configRs.slice(configRs.indexOf("pub fn apply("), configRs.indexOf("fn bool_setting"));
  const serverKeys = new Set([...applyBody.matchAll(/^\s*"(\w+)" =>/gm)].map((m) => m[1] ?? ""));
  assert.ok(serverKeys.has("board") && serverKeys.has("lineBytes"), "settings keys not read from config.rs");
  const clientKeys = flatNames(tsInterfaceShape("HeapLensSettings"));
  const settingsSpan = codeSpans(docSection("Settings")).find((span) => span.includes("heaplens:")) ?? "";
  const documented = docKeys([settingsSpan]);
  documented.delete("heaplens");
  assert.deepEqual(sorted(documented), sorted(new Set([...serverKeys, ...clientKeys])));
});

// The parsers above must see drift, not just agree with themselves.
test("the comparison reports a renamed, a missing and a re-typed field", () => {
  const base = rustShape(structs, "SnapshotParams");
  const drifted: Shape = new Map(base);
  const runId = drifted.get("runId");
  assert.ok(runId !== undefined);
  drifted.delete("runId");
  drifted.set("runID", runId);
  drifted.delete("time");
  drifted.set("file", { optional: true, nullable: false, shape: null });
  assert.deepEqual(compareShapes(base, drifted, ["a", "b"], "s").sort(), [
    "s.file: nullable in a only",
    "s.file: optional in b only",
    "s.runID: in b, missing in a",
    "s.runId: in a, missing in b",
    "s.time: in a, missing in b",
  ]);
  assert.ok(flatNames(base).has("kinds"), "nested SnapshotArea fields are read");
  assert.ok(docMethodKeys("heaplens/getSnapshot").has("blockBytes"), "a referenced payload is expanded");
  assert.ok(!docKeys(["{ codes: base64 one byte per block: 0 free in both, 1 same }"]).has("block"));
});
