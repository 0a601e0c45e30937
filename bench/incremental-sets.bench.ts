/**
 * Issue #13: resolve + compile of a big selector set, cold and after a one-entry edit of the
 * network set (the new nets array marked as a splice of the old one, as the parse stage does).
 * The pure stages only, in this process: no kernel, no root.
 * Usage: bun bench/incremental-sets.bench.ts [--count=1000000] [--v6] [--prefixes]
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../src/validate/load.ts";
import { resolvePlan } from "../src/resolve/resolve.ts";
import { clearSetMemo } from "../src/resolve/sets.ts";
import { compileRuleset } from "../src/nft/compile.ts";
import { markSplice } from "../src/derive.ts";
import { makeCidr, type Cidr } from "../src/model/cidr.ts";
import type { Model } from "../src/model/types.ts";

const REPO = join(import.meta.dir, "..");
const count = Number(process.argv.find((a) => a.startsWith("--count="))?.split("=")[1] ?? 1_000_000);
const rounds = 5;

const files = readdirSync(join(REPO, "rules"))
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => ({ path: join(REPO, "rules", f), text: readFileSync(join(REPO, "rules", f), "utf8") }));
const big = { path: "/etc/hostwall/25-big.yaml", text: "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\n  labels: {dos-deny-list: 'true'}\nspec:\n  nets: ['198.51.100.1/32']\n" };
const loaded = loadConfig([...files, big], { node: "jasper" });
// The big list is made here, not parsed: parsing is not what this bench measures.
const addr = (i: number): Cidr => makeCidr(4, 32, (0x0b000000 + i * 7) >>> 0);
let nets: Cidr[] = Array.from({ length: count }, (_, i) => addr(i));
const withNets = (m: Model, n: Cidr[]): Model => ({ ...m, networkSets: m.networkSets.map((s) => (s.meta.name === "big" ? { ...s, nets: n } : s)) });

const time = (f: () => void): number => {
  const t = performance.now();
  f();
  return performance.now() - t;
};
const build = (m: Model) => compileRuleset(resolvePlan(m, "jasper", {}).plan, {});

clearSetMemo();
const cold = time(() => build(withNets(loaded.model, nets)));
const edits: number[] = [];
for (let r = 0; r < rounds; r++) {
  // One address added at a random place (between two members: a new /32 that merges with nothing).
  const index = Math.floor(Math.random() * count);
  const next = nets.slice();
  const inserted = [makeCidr(4, 32, (addr(index).a0 + 3) >>> 0)];
  next.splice(index, 0, ...inserted);
  markSplice(next, { from: nets, index, removed: 0, inserted });
  nets = next;
  const m = withNets(loaded.model, nets);
  edits.push(time(() => build(m)));
}
console.log(`resolve + compile, ${count} addresses: cold ${cold.toFixed(0)} ms; one address added: ${edits.map((x) => x.toFixed(1)).join(", ")} ms`);
