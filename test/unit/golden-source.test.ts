/**
 * The golden cases' source reader (test/support/golden-source.ts), shared by test/golden and
 * test/golden-plan: the case dir's YAML or what source.txt names, more YAML with `also`, the
 * node and interface addresses, comments; anything else in source.txt is an error.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatCidr } from "../../src/model/cidr.ts";
import { goldenSource } from "../support/golden-source.ts";

const REPO = join(import.meta.dir, "../..");
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function caseDir(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), "hw-golden-"));
  dirs.push(d);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
  return d;
}

describe("goldenSource", () => {
  test("without source.txt: the case dir's .yaml/.yml files, sorted, by absolute path or by name", () => {
    const d = caseDir({ "b.yml": "b", "a.yaml": "a", "expected.json": "{}", "notes.txt": "x" });
    expect(goldenSource(d, { node: "jasper" })).toEqual({ files: [{ path: join(d, "a.yaml"), text: "a" }, { path: join(d, "b.yml"), text: "b" }], node: "jasper" });
    expect(goldenSource(d, { node: "n", paths: "names" }).files.map((f) => f.path)).toEqual(["a.yaml", "b.yml"]);
  });

  test("source.txt: a repo dir, also the case dir, node and addresses; comments skipped", () => {
    const d = caseDir({ "source.txt": "# what this pins\nrules/\n  also: .\nnode: node1\naddresses: eth2=192.0.2.20,2001:db8::20 lo=127.0.0.1\n", "hep.yaml": "h" });
    const s = goldenSource(d, { node: "jasper" });
    const rules = readdirSync(join(REPO, "rules")).filter((f) => f.endsWith(".yaml")).sort();
    expect(s.files.map((f) => f.path)).toEqual([...rules.map((f) => join(REPO, "rules", f)), join(d, "hep.yaml")]);
    expect(s.node).toBe("node1");
    expect([...s.addresses!].map(([k, v]) => [k, v.map(formatCidr)])).toEqual([["eth2", ["192.0.2.20", "2001:db8::20"]], ["lo", ["127.0.0.1"]]]);
  });

  test("an unknown setting or a bad address is an error naming source.txt", () => {
    expect(() => goldenSource(caseDir({ "source.txt": ".\nnodes: x\n" }), { node: "jasper" })).toThrow(/source\.txt: unknown setting "nodes: x"$/);
    expect(() => goldenSource(caseDir({ "source.txt": ".\naddresses: eth0=192.0.2.300\n" }), { node: "jasper" })).toThrow(/source\.txt: bad address 192\.0\.2\.300$/);
  });
});
