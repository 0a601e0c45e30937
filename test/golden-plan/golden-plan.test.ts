/**
 * Golden tests of `hostwall plan --json`: every directory under test/golden-plan/ holds YAML
 * files (or a source.txt naming rules/) and the expected document, `expected.json`, for node
 * "jasper" with interfaces eth0 and lo present. Compared as text, so a reviewer reads the JSON a
 * user gets; `UPDATE_GOLDEN=1 bun test test/golden-plan` rewrites the expectations. Each case
 * is also planned with its documents shuffled across files: the document must not change.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatDiagnostic } from "../../src/diagnostics/diagnostic.ts";
import { loadConfig } from "../../src/validate/load.ts";
import type { SourceFile } from "../../src/source/source-file.ts";
import { planDocument } from "../../src/cli/plan.ts";
import { resolvePlan } from "../../src/resolve/resolve.ts";
import { goldenSource } from "../support/golden-source.ts";
import { redistribute } from "../support/shuffle.ts";
import { refuseUpdateGoldenInCi } from "../support/update-golden.ts";

refuseUpdateGoldenInCi();

const ROOT = import.meta.dir;
const NODE = "jasper";
const INTERFACES = new Set(["eth0", "lo"]);

/** The case's YAML (test/support/golden-source.ts), named as the documents were pinned: by file name. */
const caseFiles = (dir: string): SourceFile[] => goldenSource(dir, { node: NODE, paths: "names" }).files;

function planJson(files: SourceFile[]): string {
  const { model, diagnostics } = loadConfig(files, { node: NODE });
  const resolved = resolvePlan(model, NODE);
  const errors = [...diagnostics, ...resolved.diagnostics].filter((d) => d.severity === "error");
  if (errors.length > 0) throw new Error(errors.map(formatDiagnostic).join("\n"));
  return JSON.stringify(planDocument(resolved.plan, model, { interfaces: INTERFACES }), null, 2) + "\n";
}



const cases = readdirSync(ROOT, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

describe("golden plan --json", () => {
  test("there are golden cases", () => expect(cases.length).toBeGreaterThanOrEqual(3));
  for (const name of cases) {
    const dir = join(ROOT, name);
    test(name, () => {
      const actual = planJson(caseFiles(dir));
      const expectedPath = join(dir, "expected.json");
      if (process.env.UPDATE_GOLDEN === "1") writeFileSync(expectedPath, actual);
      expect(actual).toBe(readFileSync(expectedPath, "utf8"));
    });
    test(`${name}: same document when documents and files are shuffled`, () => {
      const files = caseFiles(dir);
      const reference = planJson(files);
      for (const seed of [1, 2, 3, 4, 5]) expect(planJson(redistribute(files, seed))).toBe(reference);
    });
  }
});
