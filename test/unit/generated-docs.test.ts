/**
 * The files generated from the program's own tables (scripts/generated.ts: the config files'
 * JSON Schema, the man page, the API description) are committed; each must equal what the
 * generator writes now, so a change to a field table, a usage text or the API's documents that
 * was not followed by `npm run generate` fails here, naming the file.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { GENERATED } from "../../scripts/generated.ts";

const REPO = join(import.meta.dir, "../..");

describe("generated files are current (npm run generate rewrites them)", () => {
  for (const [path, render] of Object.entries(GENERATED)) {
    test(path, () => {
      const committed = readFileSync(join(REPO, path), "utf8");
      const now = render();
      if (committed !== now) throw new Error(`${path} is stale: run \`npm run generate\` and commit it`);
      expect(committed).toBe(now);
    });
  }
});
