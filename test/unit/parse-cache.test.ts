/**
 * The per-file parse cache (src/config/parse-cache.ts, issue #13 item 6): loading the same
 * files again parses nothing and reads no network set's CIDRs again, and gives exactly what a
 * fresh load gives, diagnostics included (the loader edits diagnostics in place when it folds
 * YAML 1.1 notes, so a shared diagnostic would grow on every load). An edited file, or the same
 * text under another path, is parsed again; one entry per path.
 */
import { beforeEach, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { clearParseCache, parseCacheStats } from "../../src/config/parse-cache.ts";
import { loadConfig } from "../../src/validate/load.ts";
import type { SourceFile } from "../../src/source/source-file.ts";

const REPO = join(import.meta.dir, "../..");
const load = (files: SourceFile[]) => loadConfig(files, { node: "jasper" });

beforeEach(() => clearParseCache());

/** Every YAML file of rules/ and the golden dirs, as config sets. */
function configSets(): { name: string; files: SourceFile[] }[] {
  const dirs = [join(REPO, "rules"), ...readdirSync(join(REPO, "test/golden"), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(REPO, "test/golden", d.name))];
  return dirs
    .map((dir) => ({ name: dir.slice(REPO.length + 1), files: readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => ({ path: join(dir, f), text: readFileSync(join(dir, f), "utf8") })) }))
    .filter((s) => s.files.length > 0);
}

describe("a second load of the same files", () => {
  test("every golden config: parsed once, the same model and diagnostics as a fresh load", () => {
    const sets = configSets();
    expect(sets.length).toBeGreaterThan(5);
    for (const { name, files } of sets) {
      clearParseCache();
      const fresh = load(files);
      const again = load(files);
      expect({ name, stats: parseCacheStats() }).toEqual({ name, stats: { hits: files.length, misses: files.length, spliced: 0, files: files.length, bytes: files.reduce((n, f) => n + f.text.length, 0) } });
      // As JSON: positions are getters (JSON reads them), and each load makes new locate closures.
      expect({ name, again: JSON.stringify(again) }).toEqual({ name, again: JSON.stringify(fresh) });
      expect(again.diagnostics).toEqual(fresh.diagnostics);
    }
  });

  test("a folded YAML 1.1 note does not grow with each load; warnings and errors come back the same", () => {
    const files = [
      { path: "/c/p.yaml", text: "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  applyOnForward: yes\n  selector: all()\n" },
      { path: "/c/s.yaml", text: "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: s}\nspec:\n  nets: [10.0.0.1/8, 300.1.1.1, 7, on]\n" },
      // The parser's DUPLICATE_KEY and its note on the key `on` fold into one diagnostic.
      { path: "/c/t.yaml", text: "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\nspec: {order: 1}\non: 1\non: 2\n" },
    ];
    const first = load(files).diagnostics;
    expect(first.map((d) => d.code).sort()).toEqual(["AMBIGUOUS_SCALAR", "DUPLICATE_KEY", "INVALID_CIDR", "INVALID_CIDR", "NET_HOST_BITS", "UNKNOWN_FIELD", "WRONG_TYPE", "WRONG_TYPE"]);
    expect(first.find((d) => d.code === "DUPLICATE_KEY")!.message.match(/YAML 1\.1/g)).toHaveLength(1);
    expect(first.find((d) => d.path === "spec.applyOnForward")!.message).toContain("YAML 1.1");
    const snapshot = JSON.stringify(first);
    for (let i = 0; i < 3; i++) expect(JSON.stringify(load(files).diagnostics)).toBe(snapshot);
    expect(parseCacheStats().hits).toBe(9);
  });

  test("a million-entry-class network set: its CIDRs are not read again (the same nets array), its file not parsed again", () => {
    const nets = Array.from({ length: 100_000 }, (_, i) => `    - 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32\n`).join("");
    const files = [{ path: "/c/big.yaml", text: `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\nspec:\n  nets:\n${nets}` }];
    const first = load(files).model.networkSets[0]!.nets;
    expect(first.length).toBe(100_000);
    const t = performance.now();
    const second = load(files).model.networkSets[0]!.nets;
    const ms = performance.now() - t;
    expect(second).toBe(first);
    expect(parseCacheStats()).toMatchObject({ hits: 1, misses: 1 });
    expect(ms).toBeLessThan(500); // parsing and reading it takes ~1 s; a hit is the SHA-256 of 2.9 MB
  });
});

describe("what is parsed again", () => {
  const text = (port: number) => `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  selector: all()\n  ingress: [{action: Allow, protocol: TCP, destination: {ports: [${port}]}}]\n`;

  test("an edited file: parsed again, the new content in the model, still one entry for its path", () => {
    load([{ path: "/c/p.yaml", text: text(22) }]);
    const r = load([{ path: "/c/p.yaml", text: text(443) }]);
    expect(r.model.policies[0]!.ingress[0]!.destination.ports).toMatchObject([{ min: 443, max: 443 }]);
    expect(parseCacheStats()).toMatchObject({ hits: 0, misses: 2, files: 1 });
  });

  test("the same text under another path: parsed again, its diagnostics name that path", () => {
    const bad = "kind: [\n";
    const a = load([{ path: "/c/a.yaml", text: bad }]).diagnostics;
    const b = load([{ path: "/c/b.yaml", text: bad }]).diagnostics;
    expect(a.map((d) => d.file)).toEqual(["/c/a.yaml"]);
    expect(b.map((d) => d.file)).toEqual(["/c/b.yaml"]);
    expect(parseCacheStats()).toMatchObject({ hits: 0, misses: 2, files: 2 });
  });
});
