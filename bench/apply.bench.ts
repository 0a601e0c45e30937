/**
 * Apply cost of the example rules, as ratios to baselines measured in the same run:
 *   - `hostwall run --once` (start, read, validate, compile, nft -c, nft -f) vs a bare
 *     `nft -f` of the same script;
 *   - `hostwall compile` (start + pipeline, no nft) vs `hostwall version` (start only).
 * Runs inside a scratch network namespace it creates and deletes (needs root and nft).
 * Usage: bun bench/apply.bench.ts [runs]   (build dist/hostwall first: npm run build)
 */
import { $ } from "bun";
import { join } from "node:path";

const REPO = join(import.meta.dir, "..");
const BIN = join(REPO, "dist/hostwall");
const RULES = join(REPO, "rules");
const runs = Number(process.argv[2] ?? 20);
const ns = `hw-bench-${process.pid.toString(36)}`;

async function timeIt(cmd: string[], stdin?: string): Promise<number> {
  const t = performance.now();
  const p = Bun.spawn(cmd, { stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin), stdout: "ignore", stderr: "pipe" });
  const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  if (code !== 0) throw new Error(`${cmd.join(" ")} failed: ${err}`);
  return performance.now() - t;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

await $`ip netns add ${ns}`;
try {
  await $`ip -n ${ns} link add eth0 type veth peer name eth1`;
  const script = await $`${BIN} compile --config-dir ${RULES} --node jasper --all-interfaces`.text();
  const inNs = (cmd: string[]) => ["ip", "netns", "exec", ns, ...cmd];
  const series: Record<string, number[]> = { once: [], nft: [], compile: [], version: [] };
  for (let i = 0; i < runs; i++) {
    series.once!.push(await timeIt(inNs([BIN, "run", "--once", "--config-dir", RULES, "--node", "jasper"])));
    series.nft!.push(await timeIt(inNs(["nft", "-f", "-"]), script));
    series.compile!.push(await timeIt([BIN, "compile", "--config-dir", RULES, "--node", "jasper"]));
    series.version!.push(await timeIt([BIN, "version"]));
  }
  const m = Object.fromEntries(Object.entries(series).map(([k, v]) => [k, median(v)])) as Record<string, number>;
  console.log(`example rules, ${script.length} bytes of nft, ${runs} runs, medians (each includes ip netns exec where applied):`);
  console.log(`  hostwall run --once   ${m.once!.toFixed(1)} ms   = ${(m.once! / m.nft!).toFixed(2)} x bare nft -f (${m.nft!.toFixed(1)} ms)`);
  console.log(`  hostwall compile      ${m.compile!.toFixed(1)} ms   = ${(m.compile! / m.version!).toFixed(2)} x hostwall version (${m.version!.toFixed(1)} ms, process start)`);
} finally {
  await $`ip netns del ${ns}`.nothrow();
}
