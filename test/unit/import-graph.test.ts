/**
 * The import graph of src/ (scripts/import-graph.ts): the real tree follows the folder map of
 * src/README.md, and the check finds a cycle, an upstream arrow, a module outside the map and a
 * map row without modules in a tree built to have them.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { checkImportGraph, importSpecifiers, parseStages } from "../../scripts/import-graph.ts";

const SRC = join(import.meta.dir, "../../src");

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "hw-imports-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const MAP = "| stage | entry | job |\n| --- | --- | --- |\n| 0 | `leaf.ts` | shared |\n| 0 | `leaf2.ts` | shared too |\n| 1 | `a/` | first |\n| 2 | `b/` | second |\n| 3 | `empty/` | nothing |\n";

describe("import graph", () => {
  test("src/ has no cycle and no upstream arrow, and every module is on the map", () => {
    expect(checkImportGraph(SRC)).toEqual([]);
  });

  test("the map is read from src/README.md, in stage order", () => {
    expect(parseStages(MAP)).toEqual([
      { rank: 0, entry: "leaf.ts" },
      { rank: 0, entry: "leaf2.ts" },
      { rank: 1, entry: "a/" },
      { rank: 2, entry: "b/" },
      { rank: 3, entry: "empty/" },
    ]);
  });

  test("type-only, multi-line, re-exported and dynamic imports count; commented ones do not", () => {
    const text = [
      'import type { T } from "./t.ts";',
      "import {\n  x,\n  y,\n} from './xy.ts';",
      'export { z } from "./z.ts";',
      'import "./side.ts";',
      'const m = await import("./dyn.ts");',
      '// import { no } from "./line-comment.ts";',
      '/* import { no } from "./block-comment.ts"; */',
      ' * import { no } from "./doc.ts";',
      'import { parse } from "yaml";',
      'const url = "http://x/"; import { w } from "./after-string.ts";',
    ].join("\n");
    expect(importSpecifiers(text)).toEqual(["./t.ts", "./xy.ts", "./z.ts", "./side.ts", "./dyn.ts"]);
  });

  test("a cycle, an upstream arrow, a same-rank leaf import, an unmapped module and an empty row are reported", () => {
    const dir = tree({
      "README.md": MAP,
      "leaf.ts": "export const L = 1;\n",
      "leaf2.ts": 'import { L } from "./leaf.ts";\nexport const L2 = L;\n',
      "a/one.ts": 'import { two } from "./two.ts";\nexport const one = 1;\n',
      "a/two.ts": 'import { one } from "./one.ts";\nexport const two = 2;\n',
      "a/three.ts": 'import { b } from "../b/b.ts";\nexport const three = b;\n',
      "b/b.ts": 'import { one } from "../a/one.ts";\nimport { L } from "../leaf.ts";\nexport const b = 3;\n',
      "stray.ts": "export const s = 4;\n",
    });
    try {
      expect(checkImportGraph(dir)).toEqual([
        "src/README.md: empty/ holds no module",
        "src/a/three.ts: imports src/b/b.ts: a/ (stage 1) may not import b/ (stage 2)",
        "src/leaf2.ts: imports src/leaf.ts: leaf2.ts (stage 0) may not import leaf.ts (stage 0)",
        "src/stray.ts: in no row of the folder map (src/README.md)",
        "cycle among src/a/one.ts, src/a/two.ts",
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
