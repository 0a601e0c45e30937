/**
 * Issue #13 item 7, where the memory goes: the pure pipeline run in this process on the example
 * rules plus N single addresses on the deny list, every stage's result kept (as the agent keeps
 * the model, the plan, the IR and the script in force), the heap measured after a full GC
 * behind each stage. Tells which structures to make compact; no kernel, no root.
 * Usage: bun bench/heap.bench.ts [--count=1000000]
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../src/validate/load.ts";
import { resolvePlan } from "../src/resolve/resolve.ts";
import { compileRuleset } from "../src/nft/compile.ts";
import { renderScript } from "../src/nft/render.ts";
import { clearParseCache } from "../src/config/parse-cache.ts";

const REPO = join(import.meta.dir, "..");
const count = Number(process.argv.find((a) => a.startsWith("--count="))?.split("=")[1] ?? 1_000_000);

const heapMB = () => {
  Bun.gc(true);
  return process.memoryUsage().heapUsed / 1048576;
};
const rssMB = () => process.memoryUsage().rss / 1048576;
const rows: [string, number, number, number][] = [];
let last = heapMB();
let lastRss = rssMB();
const step = <T>(label: string, f: () => T): T => {
  const t = performance.now();
  const r = f();
  const ms = performance.now() - t;
  const now = heapMB();
  rows.push([label, now - last, rssMB() - lastRss, ms]);
  last = now;
  lastRss = rssMB();
  return r;
};

const files = readdirSync(join(REPO, "rules"))
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => ({ path: join(REPO, "rules", f), text: readFileSync(join(REPO, "rules", f), "utf8") }));
const big = step("config text (the file as read)", () => {
  const nets: string[] = [];
  for (let i = 0; i < count; i++) {
    const a = (0x0b000000 + i * 7) >>> 0;
    nets.push(`    - ${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}\n`);
  }
  return { path: "/etc/hostwall/25-big.yaml", text: `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\n  labels: {dos-deny-list: 'true'}\nspec:\n  nets:\n${nets.join("")}` };
});
const all = [...files, big];
const loaded = step("parse + validate (model; parse cache entry)", () => loadConfig(all, { node: "jasper" }));
const plan = step("resolve (plan: normalised member sets)", () => resolvePlan(loaded.model, "jasper", {}).plan);
const ir = step("compile (nft IR)", () => compileRuleset(plan, {}));
const script = step("render (the nft script)", () => renderScript(ir));
step("parse cache dropped", () => clearParseCache());

console.log(`heap by stage, ${count} addresses (Bun.gc(true) after each; every result kept), script ${(script.text.length / 1048576).toFixed(1)} MB`);
const sign = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(0)}`.padStart(6);
for (const [label, mb, rss, ms] of rows) console.log(`  ${label.padEnd(44)} heap ${sign(mb)} MB  RSS ${sign(rss)} MB  ${(ms / 1000).toFixed(2)} s`);
console.log(`  heap now ${last.toFixed(0)} MB, RSS ${rssMB().toFixed(0)} MB (${loaded.model.networkSets.reduce((n, s) => n + s.nets.length, 0)} nets held)`);
