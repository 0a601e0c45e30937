/**
 * The large-file fast path must read exactly what the positioned parser reads, and still
 * report diagnostics at the right line and column.
 */
import { describe, expect, spyOn, test } from "bun:test";
import * as parseModule from "../../src/config/parse.ts";
import { FAST_PATH_BYTES, parseLargeFile } from "../../src/config/fast-yaml.ts";
import { loadConfig } from "../../src/validate/load.ts";
import { parseFile } from "../../src/config/parse.ts";
import { validateResources } from "../../src/validate/validate.ts";

function bigNetworkSet(name: string, n: number, bad?: number): string {
  const nets = Array.from({ length: n }, (_, i) => (i === bad ? "    - 198.51.100.300/32" : `    - 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`));
  return `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: ${name}\n  labels: {deny: 'true'}\nspec:\n  nets:\n${nets.join("\n")}\n`;
}

const MIXED = [
  bigNetworkSet("one", 60_000),
  "---\n- apiVersion: projectcalico.org/v3\n  kind: Tier\n  metadata: {name: t1}\n  spec: {order: 10}\n",
  "---\napiVersion: projectcalico.org/v3\nkind: TierList\nitems:\n  - apiVersion: projectcalico.org/v3\n    kind: Tier\n    metadata: {name: t2}\n",
  "---\n",
].join("");

describe("large-file fast path", () => {
  test("small files do not take it", () => {
    expect(parseLargeFile({ path: "a.yaml", text: "kind: Tier\n" })).toBeUndefined();
    // The threshold, 64 KiB: a network set of ~3,000 entries and up takes it.
    expect(FAST_PATH_BYTES).toBe(65536);
    const padded = (n: number) => `kind: Tier\n#${"x".repeat(n - 13)}\n`;
    expect(padded(FAST_PATH_BYTES - 1).length).toBe(FAST_PATH_BYTES - 1);
    expect(parseLargeFile({ path: "a.yaml", text: padded(FAST_PATH_BYTES - 1) })).toBeUndefined();
    expect(parseLargeFile({ path: "a.yaml", text: padded(FAST_PATH_BYTES) })?.resources.map((r) => r.value)).toEqual([{ kind: "Tier" }]);
  });

  test("reads the same resources as the positioned parser, in the same order", () => {
    expect(MIXED.length).toBeGreaterThan(FAST_PATH_BYTES);
    const fast = parseLargeFile({ path: "big.yaml", text: MIXED })!;
    const slow = parseFile({ path: "big.yaml", text: MIXED });
    expect(fast.diagnostics).toEqual([]);
    expect(fast.resources.map((r) => r.value)).toEqual(slow.resources.map((r) => r.value));
    expect(fast.resources.length).toBe(3);
  });

  test("a bad entry deep in a big file is reported at its line and column", () => {
    const text = bigNetworkSet("two", 60_000, 54_321);
    const fast = parseLargeFile({ path: "big.yaml", text })!;
    const { diagnostics } = validateResources(fast.resources, { node: "n" });
    expect(diagnostics.map((d) => [d.code, d.line, d.column, d.path])).toEqual([["INVALID_CIDR", 8 + 54_321, 7, `spec.nets[54321]`]]);
  });

  test("a duplicate key in a 200k-line file is reported at its line, naming the key and its first place (issue #11)", () => {
    const tier = "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: t\nspec:\n  order: 10\n  defaultAction: Pass\n  order: 20\n";
    const text = `${bigNetworkSet("dup", 200_000)}---\n${tier}`;
    expect(text.split("\n").length).toBeGreaterThan(200_000);
    const line = 8 + 200_000 + 8; // the set's 7 header lines and 200,000 entries, ---, then the tier's 8th line
    const { diagnostics, model } = loadConfig([{ path: "big.yaml", text }], { node: "n" });
    expect(diagnostics.map((d) => [d.code, d.line, d.column])).toEqual([["DUPLICATE_KEY", line, 3]]);
    expect(diagnostics[0]!.message).toContain(`"order" is already defined at line ${line - 2}, column 3 of this mapping (under spec)`);
    // Read as the positioned parser reads it: the last value, the rest of the file still checked.
    expect(model.tiers.find((t) => t.meta.name === "t")?.order).toBe(20);
    expect(model.networkSets[0]!.nets.length).toBe(200_000);
  });

  test("the fast path reports what the positioned parser reports: duplicates and YAML 1.1 notes", () => {
    const text = bigNetworkSet("notes", 60_000).replace("labels: {deny: 'true'}", "labels: {deny: on, deny: 'true'}").replace("    - 10.0.0.7/32", "    - 10.0.0.7/32\n    - 0o17\n    - 010");
    const fast = parseLargeFile({ path: "big.yaml", text })!;
    const slow = parseFile({ path: "big.yaml", text });
    const shape = (ds: { code: string; line?: number; column?: number; message: string }[]) => ds.map((d) => [d.code, d.line, d.column, d.message]);
    expect(shape(fast.diagnostics).map((d) => d.slice(0, 3))).toEqual([["DUPLICATE_KEY", 5, 22], ["AMBIGUOUS_SCALAR", 5, 18], ["AMBIGUOUS_SCALAR", 17, 7]]);
    expect(shape(fast.diagnostics).sort()).toEqual(shape(slow.diagnostics).sort());
  });

  test("warnings on a big set's entries are placed by one scan, without the positioned parser (issue #11 item 7)", () => {
    const text = bigNetworkSet("hostbits", 60_000).replace("    - 10.0.200.7/32", "    - 10.0.200.7/24");
    const spy = spyOn(parseModule, "parseFile");
    try {
      const fast = parseLargeFile({ path: "big.yaml", text })!;
      const { diagnostics, model } = validateResources(fast.resources, { node: "n" });
      expect(diagnostics.map((d) => [d.code, d.line, d.column, d.path])).toEqual([["NET_HOST_BITS", 8 + 200 * 256 + 7, 7, "spec.nets[51207]"]]);
      expect(model.networkSets[0]!.meta.origin.line).toBe(1);
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });

  test("a construct the key scanner does not model falls back to the positioned parser", () => {
    const text = bigNetworkSet("four", 60_000).replace("metadata:\n  name: four", "metadata:\n  &m name: four");
    expect(parseLargeFile({ path: "big.yaml", text })).toBeUndefined();
    expect(loadConfig([{ path: "big.yaml", text }], { node: "n" }).diagnostics).toEqual([]);
  });

  test("a syntax error falls back to the positioned parser", () => {
    const text = bigNetworkSet("three", 60_000) + "  nets: [unclosed\n";
    expect(parseLargeFile({ path: "big.yaml", text })).toBeUndefined();
  });
});
