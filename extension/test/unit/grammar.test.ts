import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { dump, extensionRoot } from "../fixtures/dumps";

interface Rule {
  match?: string;
  begin?: string;
  name?: string;
  patterns?: Rule[];
}
const grammar = JSON.parse(readFileSync(join(extensionRoot(), "..", "syntaxes", "mpheap.tmLanguage.json"), "utf8")) as {
  repository: Record<string, Rule>;
};

/** The grammar's top-level rules as JS regexes (the patterns use the common subset). */
function rule(name: string): RegExp {
  const entry = grammar.repository[name];
  const source = entry?.match ?? entry?.begin;
  assert.ok(source !== undefined, `rule ${name}`);
  return new RegExp(source);
}

test("every line kind of real dumps is matched by its rule", () => {
  assert.match("mem: total=104042, current=100452, peak=100467", rule("mem"));
  assert.match("stack: 532 out of 7936", rule("stack"));
  assert.match("GC: total: 192064, used: 4896, free: 187168, max new split: 134217728", rule("gc"));
  assert.match(" No. of 1-blocks: 52, 2-blocks: 13, max blk sz: 64, max free sz: 11650", rule("blocks-summary"));
  assert.match("GC memory layout; from 200084a0:", rule("layout-header"));
  assert.match("GC memory layout; from 0x7f680d1b0900:", rule("layout-header"));
  assert.match("       (181 lines all free)", rule("all-free"));
  assert.match("00000: h=MhhhBDhhBTTBDhTBDBBBh===DBDh====B=BBBBBBTB=BTB=BBBTB=TBTB=Bh==", rule("map-line"));
  assert.match("00001800: ================", rule("map-line"));
  assert.match("MemoryError: memory allocation failed, allocating 98305 bytes", rule("memory-error"));
});

test("every letter of the real dumps has a block rule", () => {
  const letters = (grammar.repository["map-line"]?.patterns ?? []).map((entry) => entry.match ?? "");
  const text = dump("pico-seed-192064.txt") + dump("unix-1.29pre-192k-after-parrot.txt");
  const used = new Set(
    text
      .split("\n")
      .filter((line) => /^[0-9a-f]+: /.test(line))
      .flatMap((line) => [...line.slice(line.indexOf(": ") + 2).trim()]),
  );
  for (const letter of used) {
    const scoped = letters.slice(0, -1).some((pattern) => new RegExp(`^${pattern}$`).test(letter));
    assert.ok(scoped, `letter ${letter} has its own scope`);
  }
});
