/**
 * The fast path (fast-yaml.ts, Bun's parser + key scan) must be indistinguishable from the
 * positioned parser (parse.ts): a config a small file rejects must be rejected the same way in
 * a big one, with the same code, message, line and column. Each tricky file is read both ways,
 * directly (parseFast against parseFile, every field's position and "quote it" source too) and
 * through loadConfig just below and just above FAST_PATH_BYTES (a trailing comment pads it).
 */
import { beforeEach, describe, expect, test } from "bun:test";
import { CUT_MIN_ITEMS, cutStats, FAST_PATH_BYTES, parseFast } from "../../src/config/fast-yaml.ts";
import { parseFile } from "../../src/config/parse.ts";
import { hollowOut, isHollow, valuesOf } from "../../src/config/list-splice.ts";
import { clearParseCache } from "../../src/config/parse-cache.ts";
import type { FieldPath, RawResource } from "../../src/config/resource.ts";
import { loadConfig } from "../../src/validate/load.ts";

const H = "apiVersion: projectcalico.org/v3\n";

const TRICKY: [string, string][] = [
  ["an unknown tag", `${H}kind: Tier\nmetadata: !secret\n  name: t\nspec:\n  defaultAction: Allow\n`],
  ["an unknown tag in a flow mapping", `${H}kind: Tier\nmetadata: {name: !x t}\nspec: {order: 1}\n`],
  ["a known tag on a leading-zero value", `${H}kind: HostEndpoint\nmetadata:\n  name: h\n  labels:\n    rack: !!str 010\n    row: !!int "7"\nspec:\n  node: node1\n  interfaceName: eth0\n`],
  ["a leading-zero label value", `${H}kind: HostEndpoint\nmetadata:\n  name: h\n  labels:\n    rack: 010\nspec:\n  node: node1\n  interfaceName: eth0\n`],
  ["numbers and booleans where strings belong", `${H}kind: HostEndpoint\nmetadata:\n  name: 0x1F\n  labels: {a: 1e3, b: true, c: 0o17, d: .inf}\nspec:\n  node: -12 # a comment\n  interfaceName: [eth0]\n  expectedIPs: [010, 7]\n`],
  ["yes, on, Off as values and keys", `${H}kind: GlobalNetworkPolicy\nmetadata:\n  name: p\n  labels:\n    on: yes\n    x: Off\nspec:\n  applyOnForward: yes\n  selector: all()\n`],
  ["a sexagesimal port and a leading-zero order", `${H}kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  order: 010\n  ingress:\n    - action: Allow\n      protocol: TCP\n      destination:\n        ports: [22:30, 053]\n`],
  ["duplicate keys at the root (the key on is also a YAML 1.1 note)", `${H}kind: Tier\nmetadata: {name: t}\nspec: {order: 1}\non: 1\non: 2\n`],
  ["duplicate nested keys, block and flow", `${H}kind: GlobalNetworkPolicy\nmetadata:\n  name: p\n  name: q\nspec:\n  selector: all()\n  ingress:\n    - {action: Allow, action: Deny, protocol: TCP}\n  selector: bad ==\n`],
  ["a duplicated mapping whose second copy has other keys", `${H}kind: GlobalNetworkSet\nmetadata:\n  name: s\nspec:\n  nets: [10.0.0.0/8]\nspec:\n  nets: [300.1.1.1, 7]\n`],
  ["anchors and aliases", `${H}kind: GlobalNetworkSet\nmetadata:\n  name: &n s\n  labels: {a: *n, b: &z 010}\nspec:\n  nets: [*z, 10.0.0.1/8]\n`],
  ["anchors on sequence entries and nested nodes", `${H}kind: GlobalNetworkSet\nmetadata:\n  name: s\n  labels: &l\n    a: 1\nspec:\n  nets:\n    - &r\n      x: 1\n    - [&s 8, 9.9.9.9/40, *s]\n    - 7\n`],
  ["multi-docs: a note in the first, duplicates and notes in the second", `${H}kind: Tier\nmetadata: {name: t1}\nspec:\n  order: 010\n---\n${H}kind: Tier\nmetadata:\n  name: t2\n  name: t3\n  labels: {k: on}\nspec: {order: 2, order: 3}\n---\n`],
  ["a top-level sequence", `- ${H}  kind: Tier\n  metadata: {name: a}\n  spec: {order: yes}\n- ${H}  kind: Tier\n  metadata: {name: b, name: c}\n`],
  ["kind: List with mixed kinds", `${H}kind: List\nitems:\n  - ${H}    kind: Tier\n    metadata: {name: t}\n    spec: {order: 08}\n  - ${H}    kind: GlobalNetworkSet\n    metadata: {name: s}\n    spec:\n      nets:\n        - 10.0.0.1/8\n        - on\n        - 7\n`],
  ["a typed list", `${H}kind: GlobalNetworkSetList\nitems:\n  - metadata: {name: s, labels: {x: 1_000}}\n    apiVersion: projectcalico.org/v3\n    kind: GlobalNetworkSet\n    spec: {nets: [1.2.3.4/33]}\n`],
  ["a multi-line plain value and a bad selector", `${H}kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  selector: role ==\n    'web' &&\n  order: 1\n`],
];

/** Every path into a value: the value's leaves and collections, for locate and plainSource. */
function paths(value: unknown, prefix: FieldPath = []): FieldPath[] {
  const out: FieldPath[] = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (typeof value === "object" && value !== null) for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

/** What a resource says about itself: its value and, for every path, its value's place, its key's place and its plain source. */
function describeResource(r: RawResource): unknown {
  return { value: r.value, at: paths(r.value).map((p) => [p.join("."), r.locate(p), r.locate(p, { key: true }), r.plainSource?.(p)]) };
}

const pad = (text: string, size: number) => `${text}#${"x".repeat(Math.max(0, size - text.length - 2))}\n`;

describe("the fast path reads a file exactly as the positioned parser does", () => {
  beforeEach(() => clearParseCache());

  for (const [name, text] of TRICKY) {
    test(`${name}: the same diagnostics, resources, positions and plain sources`, () => {
      const file = { path: "t.yaml", text };
      const slow = parseFile(file);
      const fast = parseFast(file) ?? parseFile(file); // undefined: the fast path hands the file over
      expect(fast.diagnostics).toEqual(slow.diagnostics);
      expect(fast.resources.map(describeResource)).toEqual(slow.resources.map(describeResource));
    });

    test(`${name}: loadConfig below and above FAST_PATH_BYTES reports the same`, () => {
      const below = pad(text, FAST_PATH_BYTES - 1);
      const above = pad(text, FAST_PATH_BYTES + 1);
      expect(below.length).toBeLessThan(FAST_PATH_BYTES);
      expect(above.length).toBeGreaterThanOrEqual(FAST_PATH_BYTES);
      const a = loadConfig([{ path: "/c/t.yaml", text: below }], { node: "node1" });
      const b = loadConfig([{ path: "/c/t.yaml", text: above }], { node: "node1" });
      expect(b.diagnostics).toEqual(a.diagnostics);
      expect(JSON.stringify(b.model)).toBe(JSON.stringify(a.model));
    });
  }

  test("the files are tricky: every one has diagnostics; only the tagged ones are handed to the positioned parser", () => {
    for (const [name, text] of TRICKY) {
      const d = loadConfig([{ path: "/c/t.yaml", text }], { node: "node1" }).diagnostics;
      if (d.length === 0) throw new Error(`${name}: no diagnostics`);
      expect([name, parseFast({ path: "t.yaml", text }) === undefined]).toEqual([name, /![!a-z]/.test(text)]);
    }
  });
});

describe("a big nets: list cut out of the parse (fast-yaml.ts cutList) reads exactly as the positioned parser reads it", () => {
  const v4 = (i: number) => `${10 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.${(i * 7) & 255}`;
  /** CUT_MIN_ITEMS + 76 item lines: hosts, prefixes, IPv6, quoted, commented, and two that a YAML 1.1 reader reads as numbers. */
  const items = (indent: string) =>
    Array.from({ length: CUT_MIN_ITEMS + 76 }, (_, i) =>
      i === 300 ? `${indent}- 1:20\n` : i === 301 ? `${indent}- 0:30:10 # base 60 in YAML 1.1\n` : i % 97 === 0 ? `${indent}- '${v4(i)}/24'\n` : i % 89 === 0 ? `${indent}- "2001:db8::${i.toString(16)}"\n` : i % 83 === 0 ? `${indent}- 2001:db8:${i.toString(16)}::/64   # a comment\n` : `${indent}- ${v4(i)}\n`,
    ).join("");
  const set = (meta: string, list: string, after = "") => `${H}kind: GlobalNetworkSet\nmetadata:\n${meta}spec:\n  nets:\n${list}${after}`;
  const CASES: [string, string, boolean][] = [
    ["plain, quoted and commented items, two YAML 1.1 numbers among them", set("  name: big\n  labels: {x: on}\n", items("    ")), true],
    ["a duplicate key before the list and one after it", set("  name: big\n  name: again\n", items("    "), "  extra: 1\n  extra: 2\n"), true],
    ["a repeated nets: key, and a second document", set("  name: big\n", items("    "), `  nets: [10.0.0.0/8]\n---\n${H}kind: Tier\nmetadata: {name: t, labels: {k: 010}}\nspec: {order: 1}\n`), false],
    ["items as deep as their key (an indentless sequence)", set("  name: big\n", items("  ")), true],
    ["the stub's text in the file", set("  name: big\n  labels: {note: hostwall-cut-list-0d3b7e}\n", items("    ")), false],
    ["the list goes on past the item lines (a mapping item)", set("  name: big\n", items("    "), "    - {cidr: 10.9.9.9/32}\n    - 7\n"), false],
    ["nets: of a policy rule, not of a network set", `${H}kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  selector: all()\n  ingress:\n    - action: Deny\n      source:\n        nets:\n${items("          ")}`, false],
  ];
  for (const [name, text, cuts] of CASES) {
    test(`${name}: the same diagnostics, resources and positions${cuts ? " (cut)" : " (read uncut)"}`, () => {
      const file = { path: "t.yaml", text };
      const slow = parseFile(file);
      const before = cutStats();
      const fast = parseFast(file);
      const after = cutStats();
      expect(fast).toBeDefined();
      expect({ cut: after.cut - before.cut }).toEqual({ cut: cuts ? 1 : 0 });
      expect(fast!.diagnostics).toEqual(slow.diagnostics);
      // Values whole; positions of the fields around the list and of a few items (every item's would take minutes).
      expect(fast!.resources.map((r) => r.value)).toEqual(slow.resources.map((r) => r.value));
      const probes: FieldPath[] = [["metadata", "name"], ["spec"], ["spec", "nets"], ["spec", "nets", 0], ["spec", "nets", 300], ["spec", "nets", 301], ["spec", "nets", CUT_MIN_ITEMS + 75], ["spec", "ingress", 0, "source", "nets", 301]];
      const at = (r: RawResource) => probes.map((p) => [p.join("."), r.locate(p), r.locate(p, { key: true }), r.plainSource?.(p)]);
      expect(fast!.resources.map(at)).toEqual(slow.resources.map(at));
    }, 60_000);
  }

  test("a big list's values dropped (list-splice.ts hollowOut) read again from the file (valuesOf) exactly as parsed: cut, and uncut (fewer than CUT_MIN_ITEMS lines, padded over the fast-path size)", () => {
    // (A file with a note or a duplicate key is never spliced, so holds no block: these have none.)
    const lines = (n: number) => Array.from({ length: n }, (_, i) => (i % 97 === 0 ? `    - '${v4(i)}/24'\n` : i % 83 === 0 ? `    - "2001:db8::${i.toString(16)}"   # a comment\n` : `    - ${v4(i)}\n`)).join("");
    for (const [text, cuts] of [[set("  name: big\n", lines(CUT_MIN_ITEMS + 76)), true], [pad(set("  name: small\n", lines(900)), FAST_PATH_BYTES + 10), false]] as const) {
      clearParseCache();
      const before = cutStats();
      const parsed = parseFast({ path: "t.yaml", text })!;
      expect({ cut: cutStats().cut - before.cut }).toEqual({ cut: cuts ? 1 : 0 });
      const nets = (parsed.resources[0]!.value as { spec: { nets: unknown[] } }).spec.nets;
      const values = [...nets];
      expect(isHollow(nets)).toBe(false);
      expect(valuesOf(nets)).toBe(nets);
      expect(hollowOut(nets)).toBe(true);
      expect([isHollow(nets), nets.length, nets.every((v) => v === undefined)]).toEqual([true, values.length, true]);
      expect(valuesOf(nets)).toEqual(values);
      expect(hollowOut(nets)).toBe(false); // once
    }
    // A list the parser read but no block holds (a mapping item among them) is never emptied.
    const mixed = parseFast({ path: "t.yaml", text: CASES[5]![1] })!;
    expect(hollowOut((mixed.resources[0]!.value as { spec: { nets: unknown[] } }).spec.nets)).toBe(false);
  });

  test("every case has the YAML 1.1 notes of its two base-60 items, at their places", () => {
    const notes = parseFast({ path: "t.yaml", text: CASES[0]![1] })!.diagnostics.filter((d) => d.code === "AMBIGUOUS_SCALAR");
    expect(notes.map((d) => d.message.split(" ")[1])).toEqual(["on", "1:20", "0:30:10"]);
    expect(notes[1]!.line).toBe(8 + 300);
  });
});
