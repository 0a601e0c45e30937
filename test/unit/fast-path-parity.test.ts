/**
 * The fast path (fast-yaml.ts, Bun's parser + key scan) must be indistinguishable from the
 * positioned parser (parse.ts): a config a small file rejects must be rejected the same way in
 * a big one, with the same code, message, line and column. Each tricky file is read both ways,
 * directly (parseFast against parseFile, every field's position and "quote it" source too) and
 * through loadConfig just below and just above FAST_PATH_BYTES (a trailing comment pads it).
 */
import { beforeEach, describe, expect, test } from "bun:test";
import { FAST_PATH_BYTES, parseFast } from "../../src/config/fast-yaml.ts";
import { parseFile } from "../../src/config/parse.ts";
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
