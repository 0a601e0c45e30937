/**
 * Issue #13: resolve + compile of a big selector set, built from nothing and then after each
 * one-entry edit of the network set (the new nets array marked as a splice of the old one, as
 * the parse stage does), in this process: no kernel, no root. Prints each edit's time and the
 * minor page faults it took: on this machine class fresh memory costs ~10-25 us per 4 KiB page,
 * and an edit of a 1M set must make at least two new 1M-entry arrays (the plan's normalised
 * members and the IR's element list, 8 MB each).
 * Usage: bun bench/incremental-sets.bench.ts [--count=1000000] [--mixed | --random] [--rounds=10] [--batch=10000]
 *   --batch=N: each edit replaces N entries in the middle with N new addresses (each 3 above a
 *   removed one, so never touching a neighbour: the goal table's 10k + 10k edit), alternating with
 *   putting the old ones back
 *   --gc: a full collection before each measurement (what is left is the edit's own work)
 *   --random: random IPv4 prefixes /22-/32 (most with host bits; bench/engine.bench.ts's mixed
 *   set), the edit 198.51.100.0/24 added in the middle and removed again (the goal table's edit)
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../src/validate/load.ts";
import { resolvePlan } from "../src/resolve/resolve.ts";
import { clearSetMemo, setMemoStats } from "../src/resolve/sets.ts";
import { compileRuleset } from "../src/nft/compile.ts";
import { applySplice, markSplice } from "../src/derive.ts";
import { makeCidr, type Cidr } from "../src/model/cidr.ts";
import type { Model } from "../src/model/types.ts";
import { prng } from "./sets-lab.ts";

const REPO = join(import.meta.dir, "..");
const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const count = Number(arg("count") ?? 1_000_000);
const rounds = Number(arg("rounds") ?? 10);
const mixed = process.argv.includes("--mixed");
const random = process.argv.includes("--random");
const batch = Number(arg("batch") ?? 0);

const files = readdirSync(join(REPO, "rules"))
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => ({ path: join(REPO, "rules", f), text: readFileSync(join(REPO, "rules", f), "utf8") }));
const big = { path: "/etc/hostwall/25-big.yaml", text: "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\n  labels: {dos-deny-list: 'true'}\nspec:\n  nets: ['198.51.100.1/32']\n" };
const loaded = loadConfig([...files, big], { node: "jasper" });
// The big list is made here, not parsed: parsing is not what this bench measures. Mixed: every
// third entry a /30, every seventh a /28 (some overlap their neighbours and merge).
const entry = (i: number): Cidr => makeCidr(4, !mixed ? 32 : i % 7 === 0 ? 28 : i % 3 === 0 ? 30 : 32, (0x0b000000 + i * 7) >>> 0);
const WEIGHTS = [22, 22, 24, 24, 24, 24, 24, 26, 26, 28, 28, 28, 30, 30, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32];
function randomNets(): Cidr[] {
  const rnd = prng(1);
  const out: Cidr[] = [];
  while (out.length < count) {
    const a = rnd();
    if ([0xc000, 0xc633, 0xcb00].includes(a >>> 16)) continue;
    const prefix = WEIGHTS[rnd() % WEIGHTS.length]!;
    out.push(makeCidr(4, prefix, prefix === 32 ? a : (a & (-1 << (32 - prefix))) >>> 0));
  }
  return out;
}
let nets: Cidr[] = random ? randomNets() : Array.from({ length: count }, (_, i) => entry(i));
const withNets = (n: Cidr[]): Model => ({ ...loaded.model, networkSets: loaded.model.networkSets.map((s) => (s.meta.name === "big" ? { ...s, nets: n } : s)) });
const faults = () => Number(readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ")[7]);

/** CPU time of this process (all its threads, the collector's too), ms: less at the mercy of other processes' load than wall time. */
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function measure(model: Model): { resolve: number; compile: number; faults: number; cpu: number } {
  if (process.argv.includes("--gc")) Bun.gc(true);
  const f0 = faults();
  const c0 = cpu();
  let t = performance.now();
  const plan = resolvePlan(model, "jasper", {}).plan;
  const resolve = performance.now() - t;
  t = performance.now();
  compileRuleset(plan, {});
  return { resolve, compile: performance.now() - t, faults: faults() - f0, cpu: cpu() - c0 };
}

clearSetMemo();
const cold = measure(withNets(nets));
console.log(`${count} ${random ? "random prefixes" : mixed ? "mixed prefixes" : "addresses"}: cold resolve ${cold.resolve.toFixed(0)} ms + compile ${cold.compile.toFixed(0)} ms (${cold.faults} page faults)`);
const rows: number[] = [];
const cpus: number[] = [];
for (let r = 0; r < rounds; r++) {
  // Alternately one address added between two members, and one member removed.
  const index = random || batch ? count >> 1 : Math.floor(Math.random() * count);
  const inserted = batch
    ? Array.from({ length: batch }, (_, j) => (r % 2 === 0 ? makeCidr(4, 32, (0x0b000000 + (index + j) * 7 + 3) >>> 0) : entry(index + j)))
    : r % 2 === 0 ? [random ? makeCidr(4, 24, 0xc6336400) : makeCidr(4, 32, (0x0b000000 + index * 7 + 5) >>> 0)] : [];
  const removedCount = batch ? batch : inserted.length ? 0 : 1;
  const next = applySplice(nets, index, removedCount, inserted);
  markSplice(next, { from: nets, index, removed: removedCount, inserted });
  nets = next;
  const m = measure(withNets(nets));
  rows.push(m.resolve + m.compile);
  cpus.push(m.cpu);
  console.log(`  ${batch ? `-${removedCount} +${inserted.length}` : inserted.length ? "added  " : "removed"} resolve ${m.resolve.toFixed(1)} ms + compile ${m.compile.toFixed(1)} ms = ${(m.resolve + m.compile).toFixed(1)} ms (${m.faults} page faults, ${m.cpu.toFixed(0)} ms CPU)`);
}
cpus.sort((a, b) => a - b);
rows.sort((a, b) => a - b);
console.log(`${batch ? `${batch} + ${batch}` : "one-entry"} edit, resolve + compile: min ${rows[0]!.toFixed(1)} ms, median ${rows[rows.length >> 1]!.toFixed(1)} ms, max ${rows[rows.length - 1]!.toFixed(1)} ms (CPU median ${cpus[cpus.length >> 1]!.toFixed(0)} ms); sets ${JSON.stringify(setMemoStats())}`);
