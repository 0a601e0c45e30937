/**
 * Issue #13: a one-line edit of a million-entry network set, loaded (parse + validate) through
 * the parse cache: the edit is read as a splice of the `nets:` list (src/config/list-splice.ts)
 * and the CIDRs as a splice of the previous read, against a cold load of the same file. Each
 * edited text is a fresh flat string, as a file read gives. Also: the cost of checking the list's
 * layout at the full parse (findItemBlock), and of loading the unchanged file again.
 * The floor is the arrays a splice must build (the raw list, the CIDRs: two 1M-entry arrays) and
 * the collector scanning them, so the run also times plain copies of a 1M-entry array as the
 * machine's yardstick. `--gc` collects before each edit (the agent idles between edits).
 * `--read`: each version is written to a temp dir and read by the agent's reader (read-dir.ts:
 * a big file's bytes, decoded only if something asks), timed apart ("read"), as the agent does.
 * Between edits the spare arrays are prepared as the agent prepares them (src/spares.ts);
 * `--no-spares` leaves them out (every patch copies into fresh memory, as before 2026-12-07).
 * Usage: bun bench/splice.bench.ts [--count=1000000] [--edits=21] [--gc] [--read] [--no-spares]
 */
import { loadConfig } from "../src/validate/load.ts";
import { clearParseCache, parseCacheStats } from "../src/config/parse-cache.ts";
import { findPath } from "../src/config/key-scan.ts";
import { findItemBlock } from "../src/config/list-splice.ts";
import { readConfigDir } from "../src/source/read-dir.ts";
import { refillSpare, spareStats } from "../src/spares.ts";
import type { SourceFile } from "../src/source/source-file.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const arg = (name: string, d: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? d);
const count = arg("count", 1_000_000);
const edits = arg("edits", 21);
const path = "/etc/hostwall/25-big.yaml";
const HEAD = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\n  labels: {dos-deny-list: 'true'}\nspec:\n  nets:\n";

const addr = (i: number) => {
  const a = (0x0b000000 + i * 7) >>> 0;
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
};
const lines = Array.from({ length: count }, (_, i) => `    - ${addr(i)}\n`);
const fresh = (s: string) => Buffer.from(s).toString(); // flat, not a rope: what reading the file gives
let text = fresh(HEAD + lines.join(""));
const viaRead = process.argv.includes("--read");
const dir = viaRead ? mkdtempSync(join(tmpdir(), "hw-splice-bench-")) : "";
process.on("exit", () => dir && rmSync(dir, { recursive: true, force: true }));
const reads: number[] = [];
/** The file as the agent gets it: read from disk (--read, timed into `reads`), or the text itself. */
let next: SourceFile[] = [];
const prepare = async (t: string) => {
  if (!viaRead) return void (next = [{ path, text: t }]);
  writeFileSync(join(dir, "25-big.yaml"), t);
  const t0 = performance.now();
  const r = await readConfigDir(dir, { checkPermissions: false });
  reads.push(performance.now() - t0);
  next = r.files;
};
const load = (_t: string) => loadConfig(next, { node: "jasper" });
const spares = !process.argv.includes("--no-spares");
/** What the agent does between edits (agent.ts refillSpares). */
const refill = async () => {
  while (spares && refillSpare()) await Bun.sleep(0);
};
/** Wall time; CPU time (this process, GC threads included) summed into `cpu` to tell a busy machine from real work. */
const cpu: number[] = [];
const ms = (f: () => void) => {
  const t = performance.now();
  const c = process.cpuUsage();
  f();
  const used = process.cpuUsage(c);
  cpu.push((used.user + used.system) / 1000);
  return performance.now() - t;
};

clearParseCache();
await prepare(text);
let coldModel: ReturnType<typeof load> | undefined;
const cold = ms(() => (coldModel = load(text)));
const items = coldModel!.model.networkSets[0]!.nets;
const rawNets = (Bun.YAML.parse(text) as { spec: { nets: string[] } }).spec.nets;
const first = findPath(text, 0, ["spec", "nets", 0])!;
const verify = [0, 1, 2].map(() => ms(() => findItemBlock(text, first, rawNets)));
const heapMB = () => (Bun.gc(true), process.memoryUsage().heapUsed / 1048576);
const heapAfterCold = heapMB();
let heapAfterTen = 0;
const same = fresh(text);
await refill();
await prepare(same);
const hit = ms(() => load(same));

const rnd = (() => {
  let a = 13;
  return () => ((a = (Math.imul(a, 1103515245) + 12345) >>> 0) / 4294967296);
})();
const kinds = ["insert", "delete", "replace", "append"] as const;
const times: Record<string, number[]> = { insert: [], delete: [], replace: [], append: [] };
const all: number[] = [];
for (let e = 0; e < edits; e++) {
  const kind = kinds[e % kinds.length]!;
  const at = Math.floor(rnd() * lines.length);
  const line = `    - 203.0.113.${e % 256}/32\n`;
  if (kind === "insert") lines.splice(at, 0, line);
  else if (kind === "delete") lines.splice(at, 1);
  else if (kind === "replace") lines[at] = line;
  else lines.push(line);
  text = fresh(HEAD + lines.join(""));
  await prepare(text);
  await refill();
  await Bun.sleep(1); // each load its own job, as in the agent: the previous generation's arrays can go
  if (process.argv.includes("--gc")) Bun.gc(true);
  const t = ms(() => load(text));
  times[kind]!.push(t);
  all.push(t);
  if (e === 9) heapAfterTen = heapMB();
}
await Bun.sleep(1);
const heapAfterEdits = heapMB();
const copies = [0, 1, 2, 3, 4].map(() => ms(() => items.slice()));
const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const f = (x: number) => `${x.toFixed(1)} ms`;
console.log(`${count} entries, ${(text.length / 1048576).toFixed(1)} MiB; ${items.length} nets after the cold load`);
console.log(`  cold load (parse + validate)            ${f(cold)}`);
console.log(`  of which the list layout check           ${verify.map(f).join(", ")} (findItemBlock, 3 runs)`);
console.log(`  unchanged file loaded again (a hit)     ${f(hit)}`);
console.log(`  one-line edit, loaded (p50 of ${edits})      ${f(p50(all))}  (min ${f(Math.min(...all))}, max ${f(Math.max(...all))}; CPU p50 ${f(p50(cpu.slice(-edits)))})`);
for (const k of kinds) console.log(`    ${k.padEnd(8)} ${times[k]!.map(f).join(", ")}`);
if (viaRead) console.log(`  read (read-dir.ts, p50 of the edits)      ${f(p50(reads.slice(-edits)))}  (min ${f(Math.min(...reads.slice(-edits)))}, max ${f(Math.max(...reads.slice(-edits)))})`);
console.log(`  yardstick: one native copy of a ${count}-entry array (slice) ${copies.map(f).join(", ")}`);
console.log(`  heap after the cold load ${heapAfterCold.toFixed(0)} MB, after 10 edits ${heapAfterTen.toFixed(0)} MB, after ${edits} ${heapAfterEdits.toFixed(0)} MB (the bench keeps the cold model; derive.ts one earlier generation)`);
console.log(`  parse cache: ${JSON.stringify(parseCacheStats())}`);
console.log(`  spare arrays: ${spares ? JSON.stringify(spareStats()) : "off (--no-spares)"}`);
