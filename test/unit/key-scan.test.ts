/**
 * key-scan.ts against the positioned parser: on every input both read, the scanner finds
 * exactly the duplicate keys (key, place, first place, mapping path) that yaml-errors.ts finds
 * on the node tree, and the same YAML 1.1 notes as the lint; on inputs it does not model it
 * says so instead of guessing. Hand-written edge cases first, then generated documents mixing
 * block and flow collections, quoted, multi-line and block scalars, comments and CRLF.
 */
import { describe, expect, test } from "bun:test";
import { parseAllDocuments } from "yaml";
import { isMap, isScalar, isSeq, type Node } from "yaml";
import { findPath, scanKeys } from "../../src/config/key-scan.ts";
import { duplicateKeys } from "../../src/config/yaml-errors.ts";
import { lintYaml11, plainYaml11Note } from "../../src/config/yaml11.ts";
import { mulberry32Unit as rng } from "../support/prng.ts";

/** What the positioned parser says: duplicates and YAML 1.1 notes, or undefined when it reports a syntax error. */
function reference(text: string): { dups: string[]; notes: number[] } | undefined {
  const docs = parseAllDocuments(text, { version: "1.2", uniqueKeys: false });
  const list = Array.isArray(docs) ? docs : [];
  if (list.some((d) => d.errors.length > 0 || d.warnings.length > 0)) return undefined;
  return {
    dups: list.flatMap((d) => duplicateKeys(d.contents).map((x) => `${x.key}@${x.offset}<${x.firstOffset} ${JSON.stringify(x.path)}`)),
    notes: list.flatMap((d) => (d.contents ? lintYaml11(d, text).map((n) => n.offset) : [])),
  };
}

function scanned(text: string): { dups: string[]; notes: number[] } | string {
  const r = scanKeys(text);
  if (!r.ok) return `unsupported: ${r.why}`;
  return {
    dups: r.duplicates.map((x) => `${x.key}@${x.offset}<${x.firstOffset} ${JSON.stringify(x.path)}`),
    notes: r.plains.filter((p) => plainYaml11Note(p.source, p.offset)).map((p) => p.offset),
  };
}

function bunReads(text: string): boolean {
  try {
    Bun.YAML.parse(text);
    return true;
  } catch {
    return false;
  }
}

const AGREE: [string, string][] = [
  ["block keys", "a: 1\nb: 2\na: 3\n"],
  ["nested, after an empty value", "spec:\n  types:\n  types: [Ingress]\n"],
  ["sequence of mappings: each entry is its own mapping", "- a: 1\n  b: 2\n- a: 3\n  a: 4\n"],
  ["a sequence at the key's column", "nets:\n- a\n- b\nnets: []\n"],
  ["numbers compare by value", "010: x\n10: y\n0x0a: z\n1.0e1: w\n"],
  ["a quoted key is not a number", "1: x\n'1': y\n\"1\": z\n"],
  ["plain and quoted strings are equal", "a: 1\n'a': 2\n\"a\": 3\n"],
  ["null keys", "~: 1\nnull: 2\n"],
  [".nan is never equal", ".nan: 1\n.nan: 2\n"],
  ["flow mapping", "labels: {a: x, b: y, a: z}\n"],
  ["flow keys without values", "a: {x, y, x}\n"],
  ["flow across lines with comments", "a: {\n  x: 1, # c\n  y: [1, 2],\n  x: 3\n}\n"],
  ["flow sequence of mappings", "a: [{x: 1}, {x: 2, x: 3}]\n"],
  ["JSON", '{"apiVersion": "v3", "spec": {"nets": ["10.0.0.0/8", "192.0.2.0/24"], "nets": []}}'],
  ["block scalar content is not keys", "a: |\n  a: 1\n  a: 2\nb: >-\n    x: y\n\n    x: y\n"],
  ["block scalar content at the key's column is keys", "- key: |\n  a: b\n  a: c\n"],
  ["quoted values may hold colons and hashes", "a: 'x: y # z'\nb: \"p: q\"\na: 1\n"],
  ["multi-line quoted value", "a: \"x\n  a: 1\"\nb: 'y\n\n  b: 2'\nb: 3\n"],
  ["multi-line plain value", "a: x\n  y\n\n  z\nb: 010\n  more\nb: 1\n"],
  ["comments and blank lines", "# head\na: 1 # c\n\n  # indented\nb: 2\na: 3\n"],
  ["documents are separate", "a: 1\n---\na: 2\n...\n---\na: 3\na: 4\n"],
  ["CRLF", "a: 1\r\nb:\r\n  c: 2\r\n  c: 3\r\n"],
  ["anchors and aliases as values", "a: &x {p: 1}\nb: *x\nc: !!str 5\na: 2\n"],
  ["YAML 1.1 surprises", "a: on\nb: 010\nc: [yes, 0b101, '010', 1_000]\nd: 12:30\non: 1\n"],
  ["escapes in a quoted key", '"a\\x41": 1\naA: 2\n'],
  ["nested sequences", "- - a: 1\n    a: 2\n  - b\n- c: 3\n"],
  ["a key after a sequence inside an entry", "- a:\n  - b: 1\n  a: 2\n"],
];

const UNSUPPORTED = ["? complex\n: v\n", "&a k: v\n", "*a : v\n", "{a: 1}: v\n", "%YAML 1.2\n---\na: 1\n", "--- a: 1\n", "a:\n\tb: 1\n"];

describe("key-scan", () => {
  for (const [name, text] of AGREE) {
    test(`agrees with the positioned parser: ${name}`, () => {
      expect(bunReads(text)).toBe(true);
      const want = reference(text);
      expect(want).toBeDefined();
      expect(scanned(text)).toEqual(want!);
    });
  }

  test("the hand-written cases find duplicates and notes (they are not vacuous)", () => {
    const withDups = AGREE.filter(([, t]) => reference(t)!.dups.length > 0).length;
    expect(withDups).toBeGreaterThanOrEqual(20);
    expect(reference(AGREE.find(([n]) => n === "YAML 1.1 surprises")![1])!.notes.length).toBe(7);
  });

  for (const text of UNSUPPORTED) {
    test(`says unsupported, never guesses: ${JSON.stringify(text)}`, () => {
      expect(scanned(text)).toStartWith("unsupported: ");
    });
  }

  test("linear in the input: a million quoted flow entries and a million block entries scan in seconds, not minutes", () => {
    const entries = Array.from({ length: 1_000_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`);
    for (const text of [`nets: [\n${entries.map((e) => `  "${e}"`).join(",\n")}\n]\n`, `nets:\n${entries.map((e) => `- ${e}`).join("\n")}\n`]) {
      const started = performance.now();
      const r = scanKeys(text);
      expect(r.ok && r.duplicates.length).toBe(0);
      expect(performance.now() - started).toBeLessThan(5_000); // ~0.1 s measured; a quadratic scan takes minutes
    }
  });

  test("generated documents: the same duplicates and notes as the positioned parser", () => {
    let compared = 0;
    let withDups = 0;
    let unsupported = 0;
    for (let seed = 1; seed <= 3000; seed++) {
      const text = generate(seed);
      const want = reference(text);
      if (!want || !bunReads(text)) continue;
      const got = scanned(text);
      if (typeof got === "string") {
        unsupported++;
        continue;
      }
      if (!Bun.deepEquals(got, want)) console.error(`seed ${seed}:\n${text}`);
      expect(got).toEqual(want);
      compared++;
      if (want.dups.length > 0) withDups++;
    }
    expect(compared).toBeGreaterThan(2000);
    expect(unsupported).toBeLessThan(compared / 10);
    expect(withDups).toBeGreaterThan(500);
  });
});

/** Every node of every document with its path (keys as written), value offset and key offset. */
function nodes(text: string): { doc: number; path: (string | number)[]; value: number; key?: number }[] {
  const out: { doc: number; path: (string | number)[]; value: number; key?: number }[] = [];
  const docs = parseAllDocuments(text, { version: "1.2", uniqueKeys: false });
  (Array.isArray(docs) ? docs : []).forEach((d, doc) => {
    const walk = (node: unknown, path: (string | number)[], key?: number) => {
      // -1: no value node (a flow key without a value); kept so that repeated keys are seen.
      out.push({ doc, path, value: (node as Node | null)?.range?.[0] ?? -1, key });
      if (isMap(node)) {
        for (const p of node.items) if (isScalar(p.key) && typeof p.key.source === "string") walk(p.value, [...path, p.key.source], p.key.range?.[0]);
      } else if (isSeq(node)) node.items.forEach((item, i) => walk(item, [...path, i]));
    };
    walk(d.contents, []);
  });
  return out;
}

describe("findPath", () => {
  test("finds what the positioned parser finds, or says it cannot (generated documents)", () => {
    let found = 0;
    let total = 0;
    for (let seed = 1; seed <= 600; seed++) {
      const text = generate(seed);
      if (!reference(text) || !bunReads(text) || !scanKeys(text).ok) continue;
      const all = nodes(text);
      // Under a repeated key the path is ambiguous (findPath answers the first; the config is rejected anyway).
      const id = (doc: number, path: (string | number)[]) => `${doc}:${JSON.stringify(path)}`;
      const count = new Map<string, number>();
      for (const n of all) count.set(id(n.doc, n.path), (count.get(id(n.doc, n.path)) ?? 0) + 1);
      const ambiguous = (n: (typeof all)[number]) => n.path.some((_, i) => (count.get(id(n.doc, n.path.slice(0, i + 1))) ?? 0) > 1);
      for (const n of all.filter((x) => !ambiguous(x))) {
        total++;
        const at = findPath(text, n.doc, n.path);
        if (at !== undefined && n.value >= 0) {
          found++;
          if (at !== n.value) console.error(`seed ${seed} ${JSON.stringify(n)} got ${at}:\n${text}`);
          expect(at).toBe(n.value);
        }
        if (n.key !== undefined) {
          const k = findPath(text, n.doc, n.path, true);
          if (k !== undefined) expect(k).toBe(n.key);
        }
      }
    }
    expect(found).toBeGreaterThan(total * 0.8);
  });

  test("a network set's entries, block or flow, and a resource's start", () => {
    const block = "a: 1\n---\napiVersion: v3\nspec:\n  nets:\n  - 10.0.0.1/32\n  -   \"10.0.0.2/32\"\n";
    expect([findPath(block, 1, ["spec", "nets", 1]), findPath(block, 1, []), findPath(block, 1, ["spec", "nets"]), findPath(block, 1, ["spec"], true)]).toEqual([block.indexOf('"10.0.0.2'), block.indexOf("apiVersion"), block.indexOf("- 10"), block.indexOf("spec")]);
    const json = '{"spec": {"nets": [\n "10.0.0.1/32",\n "10.0.0.2/32"]}}';
    expect(findPath(json, 0, ["spec", "nets", 1])).toBe(json.indexOf('"10.0.0.2'));
    expect(findPath(json, 0, ["spec", "nets", 2])).toBeUndefined();
    expect(findPath(block, 2, [])).toBeUndefined();
  });
});


const KEYS = ["a", "b", "a", "'a'", '"b"', "010", "10", "on", "x y", "1", "'1'", "~", "null", "k-8"];
const SCALARS = ["v", "010", "on", "10.0.0.1/32", "'q: #x'", '"d: \\"e\\""', "a b", "-1", "1_000", "Yes", "*x", "!!str 7", "''", "x:y"];

function generate(seed: number): string {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const flowValue = (depth: number): string => {
    const k = r();
    if (depth > 2 || k < 0.5) return pick(SCALARS.filter((s) => !s.startsWith("*") && !s.startsWith("!")));
    if (k < 0.75) return `[${Array.from({ length: Math.floor(r() * 3) }, () => flowValue(depth + 1)).join(", ")}]`;
    return `{${Array.from({ length: Math.floor(r() * 4) }, () => (r() < 0.2 ? pick(KEYS) : `${pick(KEYS)}: ${flowValue(depth + 1)}`)).join(r() < 0.3 ? ",\n  " : ", ")}}`;
  };
  const block = (indent: number, depth: number): string[] => {
    const pad = " ".repeat(indent);
    const lines: string[] = [];
    if (r() < 0.3 && depth > 0) {
      for (let i = 0, n = 1 + Math.floor(r() * 3); i < n; i++) {
        const v = r();
        if (v < 0.4) lines.push(`${pad}- ${pick(SCALARS)}`);
        else if (v < 0.8) {
          const inner = block(indent + 2, depth + 1);
          lines.push(`${pad}- ${inner[0]!.trimStart()}`, ...inner.slice(1));
        } else lines.push(`${pad}- ${flowValue(depth)}`);
      }
      return lines;
    }
    for (let i = 0, n = 1 + Math.floor(r() * 4); i < n; i++) {
      const key = pick(KEYS);
      const v = r();
      // A nested block, sometimes at the key's own column (a sequence there is the key's value).
      if (depth < 3 && v < 0.35) lines.push(`${pad}${key}:${r() < 0.2 ? " # note" : ""}`, ...block(indent + (r() < 0.2 && depth > 0 ? 0 : 2), depth + 1));
      else if (v < 0.5) lines.push(`${pad}${key}: ${flowValue(depth)}`);
      else if (v < 0.6) lines.push(`${pad}${key}: ${pick(["|", ">-", "|+"])}`, `${pad}  ${key}: inside`, "", `${pad}  - not: a key`);
      else if (v < 0.65) lines.push(`${pad}${key}: first`, `${pad}  second: line`.replace(": ", " "));
      else if (v < 0.7) lines.push(`${pad}${key}: "multi`, `${pad}  ${key}: line"`);
      else lines.push(`${pad}${key}: ${pick(SCALARS)}${r() < 0.1 ? " # c" : ""}`);
      if (r() < 0.05) lines.push(`${pad}# comment`);
    }
    return lines;
  };
  const docs = Array.from({ length: 1 + Math.floor(r() * 2) }, () => block(0, 0).join("\n"));
  const text = docs.join("\n---\n") + "\n";
  return r() < 0.1 ? text.replaceAll("\n", "\r\n") : text;
}
