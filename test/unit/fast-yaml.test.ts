/**
 * The large-file fast path must read exactly what the positioned parser reads, and still
 * report diagnostics at the right line and column.
 */
import { describe, expect, test } from "bun:test";
import { FAST_PATH_BYTES, parseLargeFile } from "../../src/config/fast-yaml.ts";
import { parseFile } from "../../src/config/parse.ts";
import { validateResources } from "../../src/model/validate.ts";

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

  test("a syntax error falls back to the positioned parser", () => {
    const text = bigNetworkSet("three", 60_000) + "  nets: [unclosed\n";
    expect(parseLargeFile({ path: "big.yaml", text })).toBeUndefined();
  });
});
