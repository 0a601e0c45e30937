/**
 * Golden tests of the compiler: every directory under test/golden/ holds a `source.txt` and the
 * expected nft script (`expected.nft`, netdev chains for every endpoint).
 * `UPDATE_GOLDEN=1 bun test test/golden` rewrites the expectations; reviewers read real nft.
 *
 * source.txt (test/support/golden-source.ts) names the YAML (`.`, `rules/`, a guide fixture),
 * `also: DIR`, `node: NAME` (default jasper) and `addresses: IF=IP,…`.
 *
 * Each case is also compiled with its documents shuffled across files: the script must not change.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatDiagnostic } from "../../src/diagnostics/diagnostic.ts";
import { buildRuleset } from "../../src/pipeline.ts";
import { goldenSource, type GoldenSource } from "../support/golden-source.ts";
import { redistribute } from "../support/shuffle.ts";
import { refuseUpdateGoldenInCi } from "../support/update-golden.ts";

refuseUpdateGoldenInCi();

const ROOT = import.meta.dir;

type CaseSource = GoldenSource;

const caseSource = (dir: string): CaseSource => goldenSource(dir, { node: "jasper" });

function compile(source: CaseSource, files = source.files): string {
  const result = buildRuleset({ files, node: source.node, addresses: source.addresses });
  const errors = result.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !result.script) throw new Error(errors.map(formatDiagnostic).join("\n"));
  return result.script.text;
}

const cases = readdirSync(ROOT, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

describe("golden compile", () => {
  test("there are golden cases", () => expect(cases.length).toBeGreaterThanOrEqual(2));
  for (const name of cases) {
    const dir = join(ROOT, name);
    test(name, () => {
      const actual = compile(caseSource(dir));
      const expectedPath = join(dir, "expected.nft");
      if (process.env.UPDATE_GOLDEN === "1") writeFileSync(expectedPath, actual);
      expect(actual).toBe(readFileSync(expectedPath, "utf8"));
    });
    test(`${name}: same script when documents and files are shuffled`, () => {
      const source = caseSource(dir);
      const reference = compile(source);
      for (const seed of [1, 2, 3, 4, 5]) expect(compile(source, redistribute(source.files, seed))).toBe(reference);
    });
  }
});
