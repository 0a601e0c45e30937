/**
 * Throughput of src/model/cidr*.ts (parse, format, normalise) at GlobalNetworkSet scale (issue #4).
 *
 *   node_modules/.bin/bun bench/cidr.bench.ts [--v4=1000000] [--v6=200000] [--seed=1] [--baseline=0]
 *
 * --baseline=0 skips ip-num, so that the process RSS is ours alone.
 *
 * Inputs come from a seeded PRNG, so every run parses the same text. IPv4 prefixes are
 * /22:/24:/26:/28:/30:/32 weighted 2:10:4:6:4:30, as in reference/nftables.md M1. There is
 * also a list of single /32 hosts. IPv6 uses random addresses with /32–/128 prefixes. The
 * baseline is ip-num's fromCidr on a 100k subset (20k for IPv6) measured in the same run and
 * scaled linearly, so the printed ratio does not depend on the machine. Nothing here asserts
 * a time: it only reports.
 */
import { IPv4CidrRange, IPv6CidrRange } from "ip-num";
import { formatCidr, type Cidr } from "../src/model/cidr.ts";
import { normalizeCidrs } from "../src/model/cidr-normalize.ts";
import { parseCidr } from "../src/model/cidr-parse.ts";

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=") as [string, string]));
const N4 = Number(args.get("v4") ?? 1_000_000);
const N6 = Number(args.get("v6") ?? 200_000);
const BASELINE = args.get("baseline") !== "0";
let seed = Number(args.get("seed") ?? 1) >>> 0;

/** mulberry32: small, fast, and the same sequence on every run. */
function random32(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}

function pickWeighted(values: number[], weights: number[]): number {
  const total = weights.reduce((a, b) => a + b, 0);
  let r = random32() % total;
  for (let i = 0; i < values.length; i++) {
    r -= weights[i]!;
    if (r < 0) return values[i]!;
  }
  return values[values.length - 1]!;
}

function v4Text(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

function genV4(n: number, hostsOnly: boolean): string[] {
  const out: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const p = hostsOnly ? 32 : pickWeighted([22, 24, 26, 28, 30, 32], [2, 10, 4, 6, 4, 30]);
    const a = p === 32 ? random32() : (random32() & ~(2 ** (32 - p) - 1)) >>> 0;
    out[i] = p === 32 ? v4Text(a) : `${v4Text(a)}/${p}`;
  }
  return out;
}

function genV6(n: number): string[] {
  const out: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const p = pickWeighted([32, 48, 56, 64, 96, 112, 128], [1, 4, 4, 8, 2, 2, 10]);
    const g: string[] = [];
    for (let k = 0; k < 8; k++) g.push(k * 16 < p ? (random32() & 0xffff).toString(16) : "0");
    // Mask the last partial group so strict parsing would accept it too.
    const partial = Math.floor(p / 16);
    if (p % 16 !== 0) g[partial] = (parseInt(g[partial]!, 16) & (0xffff << (16 - (p % 16))) & 0xffff).toString(16);
    out[i] = p === 128 ? g.join(":") : `${g.join(":")}/${p}`;
  }
  return out;
}

function heapMB(): number {
  Bun.gc(true);
  return process.memoryUsage().heapUsed / 1e6;
}

function time<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const r = fn();
  return [r, performance.now() - t0];
}

function parseAll(texts: string[]): Cidr[] {
  const out: Cidr[] = new Array(texts.length);
  for (let i = 0; i < texts.length; i++) {
    const r = parseCidr(texts[i]!, "lax");
    if (!r.ok) throw new Error(`${texts[i]}: ${r.message}`);
    out[i] = r.cidr;
  }
  return out;
}

function baseline(texts: string[], sample: number, make: (t: string) => unknown): number {
  const subset = texts.slice(0, sample);
  for (const t of subset.slice(0, 2000)) make(t.includes("/") ? t : `${t}/${t.includes(":") ? 128 : 32}`); // JIT warm-up
  const [, ms] = time(() => {
    for (const t of subset) make(t.includes("/") ? t : `${t}/${t.includes(":") ? 128 : 32}`);
  });
  return (ms * texts.length) / subset.length;
}

function run(label: string, generated: string[], sample: number, make: (t: string) => unknown): void {
  // Flat strings, as a file read and split would give, so the heap delta below is only ours.
  const texts = generated.join("\n").split("\n");
  const heap0 = heapMB();
  const [cidrs, parseMs] = time(() => parseAll(texts));
  const heapParsed = heapMB() - heap0;
  const [norm, normMs] = time(() => normalizeCidrs(cidrs));
  const [lines, fmtMs] = time(() => norm.map(formatCidr));
  // nft gets one script, so include the join that flattens the rope strings.
  const [script, joinMs] = time(() => lines.join(",\n"));
  const baseMs = BASELINE ? baseline(texts, sample, make) : NaN;
  const n = texts.length;
  const rate = (ms: number, count: number) => `${((count / ms) * 1000 / 1e6).toFixed(2)} M/s`;
  console.log(`\n${label}: ${n} inputs -> ${norm.length} normalised CIDRs (${(script.length / 1e6).toFixed(1)} MB of text)`);
  console.log(`  parse (lax)      ${parseMs.toFixed(0).padStart(6)} ms  ${rate(parseMs, n)}  heap +${heapParsed.toFixed(0)} MB (${((heapParsed * 1e6) / n).toFixed(0)} B/entry)`);
  console.log(`  normalise        ${normMs.toFixed(0).padStart(6)} ms  ${rate(normMs, n)}`);
  console.log(`  format           ${fmtMs.toFixed(0).padStart(6)} ms  ${rate(fmtMs, norm.length)}`);
  console.log(`  join             ${joinMs.toFixed(0).padStart(6)} ms`);
  console.log(`  parse+normalise  ${(parseMs + normMs).toFixed(0).padStart(6)} ms`);
  if (!BASELINE) return;
  console.log(`  ip-num fromCidr  ${baseMs.toFixed(0).padStart(6)} ms  (${sample} measured, scaled x${(n / sample).toFixed(0)})`);
  console.log(`  ratio            ${(baseMs / parseMs).toFixed(1)}x faster parse than ip-num; parse+normalise ${(baseMs / (parseMs + normMs)).toFixed(1)}x`);
}

console.log(`bun ${Bun.version}, seed ${args.get("seed") ?? 1}`);
run("IPv4 /22-/32 mix", genV4(N4, false), Math.min(N4, 100_000), (t) => IPv4CidrRange.fromCidr(t));
run("IPv4 single hosts", genV4(N4, true), Math.min(N4, 100_000), (t) => IPv4CidrRange.fromCidr(t));
run("IPv6 /32-/128 mix", genV6(N6), Math.min(N6, 20_000), (t) => IPv6CidrRange.fromCidr(t));
console.log(`\nRSS at exit ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB`);
