/**
 * A big file read as bytes (source-file.ts BytesFile, read-dir.ts) and its edits read from
 * the bytes (list-splice.ts editBytes, parse-cache.ts): only the changed lines are decoded,
 * and the text is assembled from the earlier one if anything asks. Every result must be
 * exactly what a full decode and a cold load give: the text (invalid UTF-8 included), the
 * parse, the model, every diagnostic; and no buffer is ever held by two owners (a spare that
 * the next read overwrites must not be the bytes the cache compares with, nor a file's text).
 */
import { beforeEach, describe, expect, test } from "bun:test";
import { clearParseCache, forgetParse, forgetTexts, keptBytes, parseCacheStats } from "../../src/config/parse-cache.ts";
import { FAST_PATH_BYTES } from "../../src/config/fast-yaml.ts";
import { commonPrefixBytes, commonSuffixBytes } from "../../src/config/list-splice.ts";
import { formatCidr } from "../../src/model/cidr.ts";
import { loadConfig } from "../../src/validate/load.ts";
import { configDigest } from "../../src/agent/config-digest.ts";
import { BytesFile, decode, spareBuffers, takeBuffer, type SourceFile } from "../../src/source/source-file.ts";
import { mulberry32Unit as prng } from "../support/prng.ts";

const PATH = "/etc/hostwall/25-big.yaml";
const HEAD = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\n  labels: {dos-deny-list: 'true'}\nspec:\n  nets:\n";


/** One entry line (hosts, prefixes, IPv6, quoted, commented); never host bits. */
function entry(r: () => number, i: number): string {
  const b = (n: number) => Math.floor(r() * n);
  const kind = b(4);
  let token = kind < 2 ? `${10 + b(100)}.${b(256)}.${b(256)}.${b(256)}` : kind < 3 ? `${10 + b(100)}.${b(256)}.${b(256)}.0/24` : `2001:db8:${b(65536).toString(16)}::/48`;
  if (b(20) === 0) token = `"${token}"`;
  return `    - ${token}${i % 2 ? `   # seen ${b(1e9)}, ids rule ${b(1e4)}` : ""}\n`;
}
const lines = (count: number, seed: number) => {
  const r = prng(seed);
  return Array.from({ length: count }, (_, i) => entry(r, i));
};

/** A file as read-dir.ts makes it: the bytes in a buffer from the pool, owned by the file. */
function readAs(path: string, bytes: Uint8Array): BytesFile {
  const buf = takeBuffer(bytes.length);
  buf.set(bytes);
  return new BytesFile(path, buf.subarray(0, bytes.length));
}

/** Whether the last observe's load decoded (or assembled) its file's text. */
let decodedByLoad: boolean | undefined;

/** What must not depend on how the file was read: the nets, raw values, diagnostics, positions. */
function observe(file: SourceFile, _probes: number[] = []) {
  const r = loadConfig([file], { node: "jasper" });
  // Before anything below asks for a position the file's text gives (the resource's origin).
  if (file instanceof BytesFile) decodedByLoad = file.decoded;
  const set = r.model.networkSets[0];
  return {
    nets: set?.nets.map(formatCidr),
    origin: set && { line: set.meta.origin.line, column: set.meta.origin.column },
    diagnostics: r.diagnostics.map((d) => ({ ...d, file: "<file>" })),
  };
}

/** The same bytes decoded in full and loaded cold, under another path. */
function cold(bytes: Uint8Array, probes: number[]) {
  const path = "/etc/hostwall/cold/25-big.yaml";
  forgetParse(path);
  const o = observe({ path, text: decode(bytes) }, probes);
  forgetParse(path);
  return o;
}

/** No buffer held twice: the cache's kept bytes and the spares are distinct memory. */
function expectNoAliases(live: readonly BytesFile[] = []): void {
  const held = [...keptBytes(), ...spareBuffers(), ...live.flatMap((f) => (f.bytes ? [f.bytes] : []))].map((b) => b.buffer);
  expect(new Set(held).size).toBe(held.length);
}

const digestOf = (file: SourceFile) => configDigest({ build: "b", node: "n", dropSummaries: false, absent: true, interfaces: new Set(), addresses: undefined, files: [file], diagnostics: [] });

/** Writes over every spare buffer, as the next read would. */
const scribble = () => spareBuffers().forEach((b) => b.fill(0x41));

beforeEach(() => clearParseCache());

describe("a big file read as bytes, edited item by item", () => {
  test("120 random edits (the file grows and shrinks): each a splice read from bytes, each text and load equal to a full decode and a cold load; no buffer aliased", () => {
    const r = prng(5);
    const b = (n: number) => Math.floor(r() * n);
    let list = lines(30_000, 9);
    let text = HEAD + list.join("");
    expect(text.length).toBeGreaterThan(FAST_PATH_BYTES);
    const files: { file: BytesFile; text: string }[] = [];
    const first = readAs(PATH, Buffer.from(text));
    observe(first, []);
    files.push({ file: first, text });
    let n = 2_000_000;
    for (let step = 0; step < 120; step++) {
      const at = b(list.length);
      // Mostly small edits; now and then thousands of lines (the file outgrows its buffer) or a cut.
      const big = step % 17 === 0;
      const fresh = () => Array.from({ length: big ? 3000 + b(3000) : 1 + b(20) }, () => entry(r, n++));
      const op = b(3);
      if (op === 0) list.splice(at, 0, ...fresh());
      else if (op === 1) list.splice(at, big ? 3000 : 1 + b(20));
      else list.splice(at, 1 + b(5), ...fresh());
      text = HEAD + list.join("");
      const bytes = Buffer.from(text);
      const file = readAs(PATH, bytes);
      const before = parseCacheStats();
      scribble(); // nothing the cache compares with or a file's text comes from is a spare
      const warm = observe(file, []);
      const got = parseCacheStats();
      // A splice, unless the edit is too big to be worth reading from bytes (then a full parse).
      expect({ step, spliced: got.spliced - before.spliced + got.misses - before.misses }).toEqual({ step, spliced: 1 });
      if (!big) expect({ step, spliced: got.spliced - before.spliced }).toEqual({ step, spliced: 1 });
      expect(file.bytes).toBeUndefined(); // handed over to the cache
      expect({ step, decoded: decodedByLoad }).toEqual({ step, decoded: big && got.misses > before.misses });
      expectNoAliases();
      scribble();
      expect(warm).toEqual(cold(bytes, []));
      // The record's digest hashes the pieces unjoined: the same digest as the text's.
      if (step % 10 === 0) expect({ step, digest: digestOf(file) }).toEqual({ step, digest: digestOf({ path: PATH, text }) });
      files.push({ file, text });
    }
    // Every version's text, assembled on demand after all the later reads, is its own.
    scribble();
    for (const [k, f] of files.entries()) expect({ k, same: f.file.text === f.text }).toEqual({ k, same: true });
  }, 120_000);

  test("non-ASCII text elsewhere, invalid UTF-8 in the file, an edit that brings either: the text a full decode gives, the load a cold load gives", () => {
    const list = lines(30_000, 4);
    const utf8 = (s: string) => Buffer.from(s);
    const cat = (...parts: Uint8Array[]) => Buffer.concat(parts);
    const body = (l: string[]) => utf8(l.join(""));
    const at = 700;
    const edited = [...list.slice(0, at), "    - 203.0.113.9/32\n", ...list.slice(at)];
    const bad = Uint8Array.from([0xff, 0xe2, 0x82, 0xc3]); // invalid and truncated sequences
    const cases: [string, Uint8Array, Uint8Array, boolean][] = [
      ["a comment in German above the list", cat(utf8("# Liste für Angriffe 🚫\n" + HEAD), body(list)), cat(utf8("# Liste für Angriffe 🚫\n" + HEAD), body(edited)), false],
      ["invalid UTF-8 in a comment above the list", cat(utf8("# "), bad, utf8("\n" + HEAD), body(list)), cat(utf8("# "), bad, utf8("\n" + HEAD), body(edited)), false],
      ["invalid UTF-8 in an item's comment right before the edit", cat(utf8(HEAD), body(list.slice(0, at - 1)), utf8("    - 10.0.0.1 # "), bad, utf8("\n"), body(list.slice(at))), cat(utf8(HEAD), body(list.slice(0, at - 1)), utf8("    - 10.0.0.1 # "), bad, utf8("\n"), body(edited.slice(at))), false],
      ["an edit adding invalid UTF-8 to an item's comment", cat(utf8(HEAD), body(list)), cat(utf8(HEAD), body(list.slice(0, at)), utf8("    - 10.0.0.1 # "), bad, utf8("\n"), body(list.slice(at))), false],
      ["an edit adding a non-ASCII comment", cat(utf8(HEAD), body(list)), cat(utf8(HEAD), body(list.slice(0, at)), utf8("    - 10.0.0.1 # café\n"), body(list.slice(at))), false],
      ["an ASCII file, an ASCII edit", cat(utf8(HEAD), body(list)), cat(utf8(HEAD), body(edited)), true],
      ["an ASCII edit with host bits (a warning at its line)", cat(utf8(HEAD), body(list)), cat(utf8(HEAD), body([...list.slice(0, at), "    - 203.0.113.9/24\n", ...list.slice(at)])), true],
    ];
    for (const [name, a, b, fromBytes] of cases) {
      clearParseCache();
      const fa = readAs(PATH, a);
      expect({ name, a: observe(fa, []) }).toEqual({ name, a: cold(a, []) });
      const fb = readAs(PATH, b);
      const s0 = parseCacheStats();
      const warm = observe(fb, []);
      scribble();
      expect({ name, b: warm }).toEqual({ name, b: cold(b, []) });
      if (name.includes("host bits")) expect(warm.diagnostics.map((d) => [d.code, d.line, d.column])).toEqual([["NET_HOST_BITS", 8 + at, 7]]);
      // A splice either way; read from bytes (the kept text then is bytes) only when all is ASCII.
      expect({ name, spliced: parseCacheStats().spliced - s0.spliced, bytes: keptBytes().length > 0, decoded: decodedByLoad }).toEqual({ name, spliced: 1, bytes: fromBytes, decoded: !fromBytes });
      expect({ name, text: fb.text === decode(b), old: fa.text === decode(a) }).toEqual({ name, text: true, old: true });
      expectNoAliases([fa, fb]);
    }
  }, 60_000);

  test("two files, read and edited in turn: each compared with its own kept bytes", () => {
    const A = "/etc/hostwall/a.yaml";
    const B = "/etc/hostwall/b.yaml";
    const la = lines(30_000, 1);
    const lb = lines(31_000, 2);
    const r = prng(3);
    for (let step = 0; step < 12; step++) {
      la.splice(Math.floor(r() * la.length), 1, "    - 198.51.100.7/32\n");
      lb.splice(Math.floor(r() * lb.length), 0, `    - 203.0.113.${step}\n`);
      const ta = HEAD + la.join("");
      const tb = HEAD.replace("name: big", "name: other") + lb.join("");
      const fa = readAs(A, Buffer.from(ta));
      const fb = readAs(B, Buffer.from(tb));
      const s0 = parseCacheStats();
      const warm = loadConfig([fa, fb], { node: "jasper" });
      scribble();
      const coldLoad = loadConfig([{ path: "/x/a.yaml", text: ta }, { path: "/x/b.yaml", text: tb }], { node: "jasper" });
      forgetParse("/x/a.yaml");
      forgetParse("/x/b.yaml");
      expect({ step, spliced: parseCacheStats().spliced - s0.spliced }).toEqual({ step, spliced: step === 0 ? 0 : 2 });
      expect(warm.model.networkSets.map((s) => [s.meta.name, s.nets.map(formatCidr)])).toEqual(coldLoad.model.networkSets.map((s) => [s.meta.name, s.nets.map(formatCidr)]));
      expect({ step, same: [fa.text === ta, fb.text === tb] }).toEqual({ step, same: [true, true] });
      expectNoAliases();
    }
  }, 60_000);

  test("forgetTexts: a loaded file's decoded text goes (its bytes are its text), asked again it is made from them, and no later read or edit changes it", () => {
    const list = lines(30_000, 8);
    const text = HEAD + list.join("");
    const first = readAs(PATH, Buffer.from(text));
    observe(first, []);
    expect(first.decoded).toBe(true); // the cold parse decoded it
    forgetTexts();
    expect(first.decoded).toBe(false);
    expectNoAliases();
    for (let step = 0; step < 5; step++) {
      list.splice(100 + step, 1, `    - 203.0.113.${step}\n`);
      const next = readAs(PATH, Buffer.from(HEAD + list.join("")));
      observe(next, []);
      forgetTexts();
      scribble();
      expect({ step, decoded: next.decoded, same: next.text === HEAD + list.join("") }).toEqual({ step, decoded: false, same: true });
      next.forgetText();
    }
    scribble();
    expect(first.text === text).toBe(true);
  });

  test("the same bytes again: a hit, the new file's text is the kept version's and its buffer goes back", () => {
    const text = HEAD + lines(30_000, 6).join("");
    observe(readAs(PATH, Buffer.from(text)), []);
    const again = readAs(PATH, Buffer.from(text));
    const s0 = parseCacheStats();
    observe(again, []);
    expect(parseCacheStats().hits - s0.hits).toBe(1);
    expect(again.bytes).toBeUndefined();
    scribble();
    expect(again.text === text).toBe(true);
    expectNoAliases();
  }, 30_000);
});

describe("commonPrefixBytes / commonSuffixBytes (chunks compared natively)", () => {
  test("3000 random pairs, lengths across the chunk sizes, Buffers and plain Uint8Arrays: what a byte loop gives", () => {
    const r = prng(21);
    const b = (n: number) => Math.floor(r() * n);
    for (let t = 0; t < 3000; t++) {
      const n = [b(300), b(70_000), (1 << 20) + b(3)][t % 3]!;
      const a = Buffer.alloc(n, 65);
      for (let k = 0; k < 5; k++) if (n) a[b(n)] = 66;
      const c = Buffer.from(a);
      if (n && b(5)) {
        const k = b(n);
        c[k] = c[k]! ^ 1;
      }
      const d = b(2) ? Buffer.concat([c, Buffer.from("xyz")]) : c.subarray(b(3));
      let p = 0;
      while (p < Math.min(a.length, d.length) && a[p] === d[p]) p++;
      const limit = Math.min(a.length, d.length) - p;
      let s = 0;
      while (s < limit && a[a.length - 1 - s] === d[d.length - 1 - s]) s++;
      expect({ t, p: commonPrefixBytes(a, new Uint8Array(d)), s: commonSuffixBytes(new Uint8Array(a), d, limit) }).toEqual({ t, p, s });
    }
  }, 60_000);
});
