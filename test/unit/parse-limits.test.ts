/**
 * Files that would make the YAML parsers block the agent (issue 18, finding 8): nesting deeper
 * than any resource needs is refused before parsing, at its place; a syntax error in a file too
 * large to locate cheaply is reported without the positioned parse.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { MAX_DEPTH, tooDeep } from "../../src/config/depth.ts";
import { POSITIONED_FALLBACK_BYTES } from "../../src/config/fast-yaml.ts";
import { loadConfig } from "../../src/validate/load.ts";

const REPO = join(import.meta.dir, "../..");

describe("nesting depth", () => {
  test.each([
    ["flow sequences", `a: ${"[".repeat(MAX_DEPTH + 5)}1${"]".repeat(MAX_DEPTH + 5)}\n`, 3 + MAX_DEPTH - 1],
    ["flow mappings", `a: ${"{b: ".repeat(MAX_DEPTH + 5)}1${"}".repeat(MAX_DEPTH + 5)}\n`, 3 + (MAX_DEPTH - 1) * 4],
    ["block mappings", Array.from({ length: MAX_DEPTH + 5 }, (_, i) => `${" ".repeat(i)}k${i}:`).join("\n") + " 1\n", undefined],
    ["block sequences on one line", `a:\n  ${"- ".repeat(MAX_DEPTH + 5)}1\n`, undefined],
  ])("%s deeper than the limit are refused", (_name, text, offset) => {
    const at = tooDeep(text);
    expect(at).toBeDefined();
    if (offset !== undefined) expect(at).toBe(offset);
  });

  test("brackets inside quotes and comments do not count; the limit itself is fine", () => {
    expect(tooDeep(`a: "${"[".repeat(500)}"\nb: '${"{".repeat(500)}'\n# ${"[".repeat(500)}\n`)).toBeUndefined();
    expect(tooDeep(`a: ${"[".repeat(MAX_DEPTH - 1)}1${"]".repeat(MAX_DEPTH - 1)}\n`)).toBeUndefined();
  });

  test("every shipped example, guide fixture and golden input is far below the limit", () => {
    const dirs = [join(REPO, "rules"), ...["test/golden", "test/golden-plan"].flatMap((d) => readdirSync(join(REPO, d), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(REPO, d, e.name)))];
    let checked = 0;
    for (const dir of dirs) {
      for (const f of readdirSync(dir).filter((n) => /\.ya?ml$/.test(n))) {
        expect({ f, deep: tooDeep(readFileSync(join(dir, f), "utf8"), 16) }).toEqual({ f, deep: undefined });
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(20);
  });

  test("a deep file is one positioned YAML_TOO_DEEP error, found in well under a second", () => {
    const text = `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: x}\nspec:\n  nets: ${"[".repeat(5000)}${'"1", '.repeat(400_000)}"1"${"]".repeat(5000)}\n`;
    const started = performance.now();
    const { diagnostics } = loadConfig([{ path: "deep.yaml", text }], { node: "jasper" });
    expect(diagnostics.map((d) => [d.code, d.line, d.column])).toEqual([["YAML_TOO_DEEP", 5, 9 + MAX_DEPTH - 2]]);
    // Generous: the old path took minutes; this guards against a return to it, not a benchmark.
    expect(performance.now() - started).toBeLessThan(5000);
  });
});

describe("syntax errors in very large files", () => {
  test("above the positioned-fallback size: reported at once with Bun's message and why there is no position", () => {
    const nets = Array.from({ length: 600_000 }, (_, i) => `100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`).join(", ");
    const text = `{apiVersion: projectcalico.org/v3, kind: GlobalNetworkSet, metadata: {name: big}, spec: {nets: [${nets}]}}}\n`;
    expect(text.length).toBeGreaterThan(POSITIONED_FALLBACK_BYTES);
    const { diagnostics } = loadConfig([{ path: "big.yaml", text }], { node: "jasper" });
    expect(diagnostics.map((d) => [d.code, d.line, d.column])).toEqual([["YAML_SYNTAX", 1, 1]]);
    expect(diagnostics[0]!.message).toContain("too large to locate the error");
  });
});
