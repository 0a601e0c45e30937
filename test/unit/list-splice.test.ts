/**
 * A big network set edited line by line (src/config/list-splice.ts, issue #13): when only item
 * lines of its `nets:` list change, the parse cache splices the list instead of parsing the
 * file, and the validator reads only the new entries. Every result must be exactly what a cold
 * load of the same text gives: the model's nets, the raw values, every diagnostic with its
 * line and column, positions of entries. Edits of anything else take the full parse.
 */
import { beforeEach, describe, expect, test } from "bun:test";
import { clearParseCache, forgetParse, parseCached, parseCacheStats } from "../../src/config/parse-cache.ts";
import { FAST_PATH_BYTES, parseLargeFile } from "../../src/config/fast-yaml.ts";
import { parseFile } from "../../src/config/parse.ts";
import { LineStarts } from "../../src/config/line-starts.ts";
import { findItemBlock, itemBlockOf, scanItemLines } from "../../src/config/list-splice.ts";
import { spliceOf } from "../../src/derive.ts";
import { formatCidr, type Cidr } from "../../src/model/cidr.ts";
import type { CidrList } from "../../src/model/cidr-column.ts";
import { loadConfig } from "../../src/validate/load.ts";
import type { SourceFile } from "../../src/source/source-file.ts";
import { mulberry32Unit as prng } from "../support/prng.ts";

const PATH = "/etc/hostwall/25-big.yaml";
const HEAD = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\n  labels: {dos-deny-list: 'true'}\nspec:\n  nets:\n";
const TAIL = "---\n";


/** One entry line: IPv4 hosts and prefixes, IPv6, some quoted, some with a comment; never host bits. */
function entry(r: () => number, i: number): string {
  const b = (n: number) => Math.floor(r() * n);
  const kind = b(10);
  let token: string;
  if (kind < 5) token = `${10 + b(100)}.${b(256)}.${b(256)}.${b(256)}`;
  else if (kind < 7) token = `${10 + b(100)}.${b(256)}.${b(256)}.0/24`;
  else if (kind < 8) token = `2001:db8:${b(65536).toString(16)}::${b(65536).toString(16)}`;
  else if (kind < 9) token = `2001:db8:${b(65536).toString(16)}::/48`;
  else token = `::ffff:${b(256)}.${b(256)}.${b(256)}.${b(256)}`;
  const q = b(20);
  if (q === 0) token = `"${token}"`;
  else if (q === 1) token = `'${token}'`;
  // Comments make the file big enough for the fast path (FAST_PATH_BYTES) with fewer entries to compare.
  const after = i % 89 === 0 ? "  " : i % 2 ? `   # seen ${b(1e9)}, ids rule ${b(1e4)}` : "";
  return `    - ${token}${after}\n`;
}

function bigText(count: number, seed: number): string[] {
  const r = prng(seed);
  return Array.from({ length: count }, (_, i) => entry(r, i));
}

const load = (text: string, path = PATH) => loadConfig([{ path, text }], { node: "jasper" });
const parse = (f: SourceFile) => parseLargeFile(f) ?? parseFile(f);

/** Everything a load gives that must not depend on the cache: raw values, nets, diagnostics, positions. */
function observe(text: string, path: string, probes: number[]) {
  const r = load(text, path);
  const raw = parseCached({ path, text }, parse).resources; // a hit: what the load above read
  const set = r.model.networkSets[0];
  return {
    values: raw.map((x) => x.value),
    nets: set?.nets.map(formatCidr),
    origin: set && { line: set.meta.origin.line, column: set.meta.origin.column },
    diagnostics: r.diagnostics.map((d) => ({ ...d, file: d.file === path ? "<file>" : d.file })),
    positions: probes.map((k) => raw[0]?.locate(["spec", "nets", k])),
    nodes: raw[0] && [raw[0].locate(["metadata", "name"]), raw[0].locate(["spec", "nets"], { key: true })],
  };
}

/** The same text loaded cold: another path, no cache entry before or after. */
function cold(text: string, probes: number[]) {
  const path = "/etc/hostwall/cold/25-big.yaml";
  forgetParse(path);
  const o = observe(text, path, probes);
  forgetParse(path);
  return o;
}

/**
 * `toEqual` of the whole observation, the long lists compared first item by item (toEqual of
 * two 30k-entry lists 200 times costs a minute; a failure names the first differing entry).
 */
function expectSame(warm: ReturnType<typeof observe>, expected: ReturnType<typeof observe>, step: number): void {
  const netsOf = (o: ReturnType<typeof observe>) => (o.values[0] as { spec?: { nets?: unknown[] } } | undefined)?.spec?.nets ?? [];
  const lists: [string, unknown[], unknown[]][] = [["nets", warm.nets ?? [], expected.nets ?? []], ["raw nets", netsOf(warm), netsOf(expected)]];
  for (const [what, a, b] of lists) {
    let i = 0;
    while (i < a.length && i < b.length && (a[i] === b[i] || Bun.deepEquals(a[i], b[i], true))) i++;
    expect({ step, what, at: i, length: a.length, item: a[i] }).toEqual({ step, what, at: b.length, length: b.length, item: undefined });
  }
  const rest = (o: ReturnType<typeof observe>) => ({ ...o, nets: undefined, values: o.values.map((v) => ({ ...(v as object), spec: { ...(v as { spec?: object }).spec, nets: undefined } })) });
  expect({ step, ...rest(warm) }).toEqual({ step, ...rest(expected) });
}

beforeEach(() => clearParseCache());

describe("a big network set edited item by item", () => {
  test("200 random splices in a row: each read as a splice, each equal to a cold load", () => {
    const r = prng(13);
    const b = (n: number) => Math.floor(r() * n);
    let lines = bigText(30_000, 7);
    let text = HEAD + lines.join("") + TAIL;
    expect(text.length).toBeGreaterThan(FAST_PATH_BYTES);
    load(text);
    let nextEntry = 1_000_000;
    const kinds = { insert: 0, delete: 0, replace: 0, append: 0, first: 0, last: 0 };
    for (let step = 0; step < 200; step++) {
      const op = b(4);
      const span = 1 + b(50);
      let at = b(4) === 0 ? (b(2) ? 0 : Math.max(0, lines.length - span)) : b(lines.length);
      const fresh = () => Array.from({ length: 1 + b(50) }, () => entry(r, nextEntry++));
      if (op === 0) lines.splice(at, 0, ...fresh()), kinds.insert++;
      else if (op === 1) lines.splice(at, Math.max(1, Math.min(span, lines.length - at))), kinds.delete++;
      else if (op === 2) lines.splice(at, span, ...fresh()), kinds.replace++;
      else (at = lines.length), lines.push(...fresh()), kinds.append++;
      if (at === 0) kinds.first++;
      if (at + span >= lines.length) kinds.last++;
      // The first half with another document after the list; then the list ends the file, now
      // and then without its last newline (the switch itself is not a splice: "---" went).
      text = HEAD + lines.join("") + (step < 100 ? TAIL : "");
      if (step >= 100 && step % 3 === 0) text = text.slice(0, -1);
      const probes = [0, Math.min(at, lines.length - 1), Math.min(at + 1, lines.length - 1), lines.length - 1];
      const before = parseCacheStats();
      const warm = observe(text, PATH, probes);
      const taken = step === 100 ? { spliced: 0, misses: 1 } : { spliced: 1, misses: 0 };
      expect({ step, spliced: parseCacheStats().spliced - before.spliced, misses: parseCacheStats().misses - before.misses }).toEqual({ step, ...taken });
      expectSame(warm, cold(text, probes), step);
      // Entry k is on line 8 + k (7 header lines), its node after "    - ".
      expect(warm.positions).toEqual(probes.map((k) => ({ line: 8 + k, column: 7 })));
    }
    expect(Object.values(kinds).every((n) => n > 5)).toBe(true);
  }, 120_000);

  test("a splice is recorded for the next stage: the nets are the previous nets with the new entry", () => {
    const lines = bigText(30_000, 3);
    const first = load(HEAD + lines.join("")).model.networkSets[0]!.nets;
    lines.splice(1234, 1, "    - 203.0.113.7/32\n", "    - 2001:db8::7\n");
    const second = load(HEAD + lines.join("")).model.networkSets[0]!.nets;
    expect(parseCacheStats()).toMatchObject({ misses: 1, spliced: 1 });
    const s = spliceOf<Cidr, CidrList>(second)!;
    expect(s.from).toBe(first);
    expect({ index: s.index, removed: s.removed, inserted: s.inserted.map(formatCidr) }).toEqual({ index: 1234, removed: 1, inserted: ["203.0.113.7", "2001:db8::7"] });
    expect(second.at(1233)).toEqual(first.at(1233)!);
    expect(second.at(1236)).toEqual(first.at(1235)!);
    expect(second.at(1234)).not.toEqual(first.at(1234)!);
  });

  test("a namespaced NetworkSet, one inside a GlobalNetworkSetList, and a repeated line removed: splices, equal to cold, entries placed by line", () => {
    const list = bigText(30_000, 17);
    const variants = [
      HEAD.replace("kind: GlobalNetworkSet", "kind: NetworkSet").replace("  name: big\n", "  name: big\n  namespace: prod\n"),
      `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSetList\nitems:\n- ${HEAD.trimEnd().replaceAll("\n", "\n  ")}\n`,
    ];
    for (const [v, head] of variants.entries()) {
      const indent = v === 0 ? "" : "  ";
      const lines = list.map((l) => indent + l);
      lines.splice(100, 0, lines[99]!, lines[99]!); // three equal lines: which one goes is ambiguous, the result is not
      clearParseCache();
      load(head + lines.join(""));
      lines.splice(100, 1);
      const text = head + lines.join("");
      const warm = observe(text, PATH, [0, 99, 100, 30_000]);
      expect({ v, stats: parseCacheStats() }).toMatchObject({ v, stats: { misses: 1, spliced: 1 } });
      expectSame(warm, cold(text, [0, 99, 100, 30_000]), v);
      const line0 = head.split("\n").length;
      expect(warm.positions).toEqual([0, 99, 100, 30_000].map((k) => ({ line: line0 + k, column: 7 + indent.length })));
      expect(warm.nets!.length).toBe(30_001);
    }
  });

  test("the entries a splice reads do not keep their version of the file alive: ten edits of a 4 MB file hold no ten texts", async () => {
    const lines = Array.from({ length: 200_000 }, (_, i) => `    - 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}\n`);
    const heap = async () => {
      await Bun.sleep(1); // a new job: what the last load made may go
      Bun.gc(true);
      return process.memoryUsage().heapUsed / 1048576;
    };
    const text = () => Buffer.from(HEAD + lines.join("")).toString(); // flat, as a file read gives
    load(text());
    const before = await heap();
    for (let e = 0; e < 10; e++) {
      lines.splice(1000 + e * 7000, 0, `    - 203.0.113.${e}/32\n`);
      load(text());
      await Bun.sleep(1);
    }
    expect(parseCacheStats()).toMatchObject({ misses: 1, spliced: 10 });
    // Each text is 3.8 MB: ten retained would be +38 MB; one earlier generation of the lists is kept by design (derive.ts).
    expect((await heap()) - before).toBeLessThan(20); // measured: ~6 MB; with the entries read as substrings, ~32 MB
  });
});

describe("edits around the list: a splice only when item lines alone changed, always what a cold load gives", () => {
  const lines = bigText(30_000, 11);
  const base = HEAD + lines.join("") + TAIL;
  const at = HEAD.length + lines.slice(0, 500).join("").length; // the start of item 500's line
  const cases: [string, string, boolean][] = [
    ["the name", base.replace("name: big", "name: bigger"), false],
    ["a label", base.replace("'true'", "'yes'"), false],
    ["a comment line in the list", base.slice(0, at) + "    # attackers of 1 May\n" + base.slice(at), false],
    ["a blank line in the list", base.slice(0, at) + "\n" + base.slice(at), false],
    ["an entry indented differently", base.slice(0, at) + "      - 203.0.113.9\n" + base.slice(at), false],
    ["a flow sequence as an entry", base.slice(0, at) + "    - [203.0.113.9]\n" + base.slice(at), false],
    ["a number-like entry (a float to YAML)", base.slice(0, at) + "    - 10.5\n" + base.slice(at), false],
    ["an entry ending in a colon (a mapping)", base.slice(0, at) + "    - fe80::\n" + base.slice(at), false],
    ["a YAML 1.1 ambiguity (base 60)", base.slice(0, at) + "    - 12:30\n" + base.slice(at), false],
    ["a CRLF line", base.slice(0, at) + "    - 203.0.113.9\r\n" + base.slice(at), false],
    ["a tab before a comment", base.slice(0, at) + "    - 203.0.113.9\t# x\n" + base.slice(at), false],
    ["an escape in a quoted entry", base.slice(0, at) + '    - "203.0.113.\\x39"\n' + base.slice(at), false],
    ["a bad CIDR (an error at its line)", base.slice(0, at) + "    - 203.0.113.300/32\n" + base.slice(at), true],
    ["an entry with host bits (a warning)", base.slice(0, at) + "    - 203.0.113.9/24\n" + base.slice(at), true],
    ["the end of the file changed (---)", base.slice(0, -1), false],
  ];
  const noTail = HEAD + lines.join("");
  const appended: [string, string, boolean, string][] = [
    ["the newline at the end removed", noTail.slice(0, -1), true, noTail],
    ["an entry appended without a newline", `${noTail}    - 203.0.113.9`, true, noTail],
    ["an entry appended after the last one, which had no newline", `${noTail}    - 203.0.113.9`, true, noTail.slice(0, -1)],
  ];
  for (const [name, text, spliced, start] of [...cases.map(([n, t, s]): [string, string, boolean, string] => [n, t, s, base]), ...appended]) {
    test(`${name}: ${spliced ? "a splice" : "the full parse"}, what a cold load gives`, () => {
      load(start);
      const warm = observe(text, PATH, [0, 499, 500, 501]);
      expect(parseCacheStats()).toMatchObject(spliced ? { misses: 1, spliced: 1 } : { misses: 2, spliced: 0 });
      expectSame(warm, cold(text, [0, 499, 500, 501]), 0);
    }, 30_000); // a YAML error in a 1 MiB file is located by the positioned parser: seconds
  }

  test("a bad CIDR and host bits added by a splice are reported at their line and column, and a later splice is read again in full", () => {
    load(base);
    const bad = base.slice(0, at) + "    - 203.0.113.300/32\n    - '198.51.100.7/24'\n" + base.slice(at);
    const line = HEAD.split("\n").length + 500;
    const d = load(bad).diagnostics;
    expect(d.map((x) => [x.code, x.line, x.column])).toEqual([["INVALID_CIDR", line, 7], ["NET_HOST_BITS", line + 1, 7]]);
    // Fixed by the next edit: a splice again, from a read that had problems: read in full.
    const fixed = base.slice(0, at) + "    - 203.0.113.30/32\n" + base.slice(at);
    const r = load(fixed);
    expect(r.diagnostics).toEqual([]);
    expect(r.model.networkSets[0]!.nets.at(500)).toMatchObject({ prefix: 32 });
    expect(parseCacheStats()).toMatchObject({ misses: 1, spliced: 2 });
  });

  test("an edit that empties the list (then `nets:` is null) is not a splice", () => {
    const head = HEAD.replace("  name: big\n", `  name: big\n  annotations: {note: '${"x".repeat(FAST_PATH_BYTES)}'}\n`);
    load(head + bigText(10, 5).join(""));
    const text = head;
    const warm = observe(text, PATH, []);
    expect(parseCacheStats()).toMatchObject({ misses: 2, spliced: 0 });
    expect(warm).toEqual(cold(text, []));
    expect((warm.values[0] as { spec: { nets: unknown } }).spec.nets).toBeNull();
  });

  test("a small file is never spliced (the positioned parser reads it)", () => {
    const small = HEAD + bigText(100, 5).join("");
    load(small);
    load(small.replace("    - ", "    - 203.0.113.1\n    - "));
    expect(parseCacheStats()).toMatchObject({ misses: 2, spliced: 0 });
  });
});

describe("LineStarts (the item offsets carried across edits)", () => {
  test("600 random splices: every offset and every lower bound as a plain array gives, older versions unchanged", () => {
    const r = prng(5);
    const b = (n: number) => Math.floor(r() * n);
    let plain = Array.from({ length: 3000 }, (_, i) => 100 + i * 20);
    let starts = LineStarts.of(Int32Array.from(plain));
    const first = { starts, plain: [...plain] };
    for (let step = 0; step < 600; step++) {
      const index = b(plain.length + 1);
      const removed = Math.min(b(30), plain.length - index);
      const lo = index === 0 ? 0 : plain[index - 1]!;
      const hi = index + removed < plain.length ? plain[index + removed]! : lo + 1000;
      const n = b(30);
      const inserted = Array.from({ length: n }, (_, k) => lo + 1 + k * 2);
      const delta = (n > 0 ? inserted[n - 1]! + 5 : lo + 1) - hi;
      plain = [...plain.slice(0, index), ...inserted, ...plain.slice(index + removed).map((x) => x + delta)];
      starts = starts.splice(index, removed, Int32Array.from(inserted), delta);
      expect({ step, length: starts.length }).toEqual({ step, length: plain.length });
      const got = Array.from({ length: starts.length }, (_, k) => starts.at(k));
      expect({ step, same: got.every((x, k) => x === plain[k]) }).toEqual({ step, same: true });
      for (let q = 0; q < 5; q++) {
        const x = b((plain[plain.length - 1] ?? 0) + 50);
        const want = plain.findIndex((v) => v >= x);
        expect({ step, x, at: starts.lowerBound(x) }).toEqual({ step, x, at: want < 0 ? plain.length : want });
      }
    }
    expect(Array.from({ length: first.starts.length }, (_, k) => first.starts.at(k))).toEqual(first.plain);
  });
});

describe("a list read by the line scan (fast-yaml.ts cutList) has the block findItemBlock reads from the same lines", () => {
  const list = (n: number) => Array.from({ length: n }, (_, i) => (i % 5 === 0 ? `    - '10.0.${i >> 8}.${i & 255}'  # q\n` : `    - 10.0.${i >> 8}.${i & 255}\n`)).join("");
  const block = (b: ReturnType<typeof findItemBlock>) => b && { starts: Array.from({ length: b.starts.length }, (_, k) => b.starts.at(k)), end: b.end, indent: b.indent, firstLine: b.firstLine };
  for (const [name, text] of [
    ["a plain set", `${HEAD}${list(3000)}`],
    ["a key after the list", `${HEAD}${list(3000)}  other: 1\n`],
    ["an anchor before the list (no block: the list could be shared)", `${HEAD.replace("name: big", "name: &n big")}${list(3000)}`],
    ["an alias after the list", `${HEAD}${list(3000)}  other: *x\n`],
  ] as const) {
    test(name, () => {
      const at = text.indexOf("\n", text.indexOf("nets:")) + 1;
      const scanned = scanItemLines(text, at, 1000)!;
      expect(scanned.items.length).toBe(3000);
      const first = at + scanned.indent + 2; // where findPath puts the first item (a quoted one: at its quote)
      const expected = block(findItemBlock(text, first, scanned.items));
      expect(block(itemBlockOf(text, scanned))).toEqual(expected);
      expect(expected === undefined).toBe(name.includes("no block") || name.includes("alias"));
    });
  }
});
