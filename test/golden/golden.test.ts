/**
 * Golden tests of the compiler: every directory under test/golden/ holds YAML files and the
 * expected nft script (`expected.nft`, node "jasper", netdev chains for every endpoint).
 * `UPDATE_GOLDEN=1 bun test test/golden` rewrites the expectations; reviewers read real nft.
 * The example-rules case reads rules/ itself, so the shipped examples are pinned byte for byte.
 * Each case is also compiled with its documents shuffled across files: the script must not change.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SourceFile } from "../../src/config/parse.ts";
import { formatDiagnostic } from "../../src/config/diagnostics.ts";
import { buildRuleset } from "../../src/pipeline.ts";
import { redistribute } from "../support/shuffle.ts";

const ROOT = import.meta.dir;
const REPO = join(ROOT, "../..");

function caseFiles(dir: string): SourceFile[] {
  const source = readFileSync(join(dir, "source.txt"), "utf8").trim();
  const from = source === "rules/" ? join(REPO, "rules") : dir;
  return readdirSync(from)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => ({ path: join(from, f), text: readFileSync(join(from, f), "utf8") }));
}

function compile(files: SourceFile[]): string {
  const result = buildRuleset({ files, node: "jasper" });
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
      const actual = compile(caseFiles(dir));
      const expectedPath = join(dir, "expected.nft");
      if (process.env.UPDATE_GOLDEN === "1") writeFileSync(expectedPath, actual);
      expect(actual).toBe(readFileSync(expectedPath, "utf8"));
    });
    test(`${name}: same script when documents and files are shuffled`, () => {
      const files = caseFiles(dir);
      const reference = compile(files);
      for (const seed of [1, 2, 3, 4, 5]) expect(compile(redistribute(files, seed))).toBe(reference);
    });
  }
});
