/**
 * Cost of the duplicate-key and YAML 1.1 scan on the large-file fast path (issue #11 item 6).
 *
 *   node_modules/.bin/bun bench/key-scan.bench.ts [--n=1000000] [--runs=7]
 *
 * For three shapes of a GlobalNetworkSet of n entries (a block list of plain CIDRs, a flow
 * list of quoted CIDRs over many lines, the same as JSON), it times in the same run and on
 * the same text: Bun.YAML.parse alone (what the fast path did before the scan), scanKeys
 * alone, and parseLargeFile (parse + scan + diagnostics, what the loader now runs). The
 * printed ratio is parseLargeFile / Bun.YAML.parse, medians of --runs runs, interleaved in a
 * rotating order so that machine noise hits each alike, each after a full garbage collection. Nothing here asserts a time: it only reports.
 */
import { parseLargeFile } from "../src/config/fast-yaml.ts";
import { scanKeys } from "../src/config/key-scan.ts";

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=") as [string, string]));
const N = Number(args.get("n") ?? 1_000_000);
const RUNS = Number(args.get("runs") ?? 7);

const cidr = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`;
const header = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\n  labels: {deny: 'true'}\nspec:\n";
const nets = Array.from({ length: N }, (_, i) => cidr(i));

const SHAPES: [string, string][] = [
  ["block list, plain", `${header}  nets:\n${nets.map((c) => `    - ${c}`).join("\n")}\n`],
  ["flow list, quoted", `${header}  nets: [\n${nets.map((c) => `    "${c}"`).join(",\n")}\n  ]\n`],
  ["JSON", JSON.stringify({ apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkSet", metadata: { name: "big", labels: { deny: "true" } }, spec: { nets } }, null, 1)],
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const time = (f: () => unknown) => {
  Bun.gc(true); // no step pays for the garbage of the one before
  const t = performance.now();
  f();
  return performance.now() - t;
};

console.log(`bun ${Bun.version}, ${N} entries, medians of ${RUNS} runs`);
for (const [name, text] of SHAPES) {
  const scan = scanKeys(text);
  if (!scan.ok || scan.duplicates.length > 0) throw new Error(`${name}: the scanner should read this cleanly: ${JSON.stringify(scan)}`);
  const bun: number[] = [];
  const scanOnly: number[] = [];
  const fast: number[] = [];
  const steps = [() => bun.push(time(() => Bun.YAML.parse(text))), () => scanOnly.push(time(() => scanKeys(text))), () => fast.push(time(() => parseLargeFile({ path: "big.yaml", text })))];
  for (let r = 0; r < RUNS; r++) {
    for (let k = 0; k < steps.length; k++) steps[(r + k) % steps.length]!();
  }
  const [b, s, f] = [median(bun), median(scanOnly), median(fast)];
  console.log(`\n${name}: ${(text.length / 1e6).toFixed(1)} MB`);
  console.log(`  Bun.YAML.parse (fast path before)   ${b.toFixed(0).padStart(6)} ms`);
  console.log(`  scanKeys                            ${s.toFixed(0).padStart(6)} ms`);
  console.log(`  parseLargeFile (fast path now)      ${f.toFixed(0).padStart(6)} ms`);
  console.log(`  ratio                               ${(f / b).toFixed(2)} x the fast path before`);
}
