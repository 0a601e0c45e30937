/**
 * Issue #13 goal "1M mixed prefixes: one prefix added or removed → enforced ≤ 100 ms", as the
 * agent sees it (bench/attempt.bench.ts for the mixed set of bench/engine.bench.ts): the agent
 * (own namespace, own state dir) on the example rules plus N random IPv4 prefixes (/22-/32
 * weighted as scale.bench.ts) on the deny list; then `--runs` times the big file is renamed in
 * with 198.51.100.0/24 added (odd runs) or removed again (even runs), and the agent's "applied
 * generation" line (the attempt's time and its per-stage split) is printed with the time from
 * the rename to it.
 * Usage: bun bench/attempt-mixed.bench.ts [--count=1000000] [--runs=4] [--pause=1500] [--bin=PATH] [--src] (root; build first)
 *   --src  runs `bun --cpu-prof-md src/main.ts run`; the profile goes to --prof-dir (default /tmp).
 */
import { $ } from "bun";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prng } from "./sets-lab.ts";

const REPO = join(import.meta.dir, "..");
const flag = (name: string, dflt: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt;
const count = Number(flag("count", "1000000"));
const runs = Number(flag("runs", "4"));
const fromSource = process.argv.includes("--src");
const profDir = flag("prof-dir", "/tmp");
const pauseMs = Number(flag("pause", "1500"));
const BIN = flag("bin", join(REPO, "dist/hostwall"));

const ns = `hw-h2b-${process.pid.toString(36)}`;
const dir = mkdtempSync(join(tmpdir(), "hw-attempt-mixed-"));
chmodSync(dir, 0o755);
const stateDir = mkdtempSync(join(tmpdir(), "hw-attempt-mixed-state-"));
chmodSync(stateDir, 0o700);
const sock = join(stateDir, "api.sock");
const ip4 = (a: number) => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
const rnd = prng(1);
const weights = [22, 22, 24, 24, 24, 24, 24, 26, 26, 28, 28, 28, 30, 30, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32];
const lines: string[] = [];
while (lines.length < count) {
  const a = rnd();
  if ([0xc000, 0xc633, 0xcb00].includes(a >>> 16)) continue;
  lines.push(`    - ${ip4(a)}/${weights[rnd() % weights.length]}\n`);
}
const extra = "198.51.100.0/24";
const head = `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\n  labels: {dos-deny-list: 'true'}\nspec:\n  nets:\n`;
const half = Math.floor(count / 2);
const without = head + lines.join("");
const withExtra = head + lines.slice(0, half).join("") + `    - ${extra}\n` + lines.slice(half).join("");
lines.length = 0;

let agent: ReturnType<typeof Bun.spawn> | undefined;
const log: { at: number; line: string }[] = [];
try {
  await $`ip netns add ${ns}`.quiet();
  await $`ip -n ${ns} link add eth0 type veth peer name eth1`.quiet();
  await $`ip -n ${ns} link set lo up`.quiet();
  for (const f of readdirSync(join(REPO, "rules")).filter((f) => f.endsWith(".yaml"))) {
    copyFileSync(join(REPO, "rules", f), join(dir, f));
    chmodSync(join(dir, f), 0o644);
  }
  const big = join(dir, "25-big.yaml");
  writeFileSync(big, without, { mode: 0o644 });
  const state = join(stateDir, "state");
  mkdirSync(state, { mode: 0o700 });
  const cmd = fromSource
    ? [process.execPath, "--cpu-prof-md", `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=hw-attempt-mixed-${process.pid}.md`, join(REPO, "src/main.ts")]
    : [BIN];
  const t0 = performance.now();
  agent = Bun.spawn(["ip", "netns", "exec", ns, ...cmd, "run", "--config-dir", dir, "--node", "jasper", "--listen", `unix:${sock}`, "--state-dir", state], { stdout: "ignore", stderr: "pipe" });
  void (async () => {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of agent!.stderr as ReadableStream<Uint8Array>) {
      const at = performance.now();
      buf += dec.decode(chunk);
      const parts = buf.split("\n");
      buf = parts.pop()!;
      for (const line of parts) log.push({ at, line });
    }
  })();
  const waitLog = async (pattern: RegExp, since: number, ms: number) => {
    const deadline = performance.now() + ms;
    for (;;) {
      const hit = log.find((l) => l.at >= since && pattern.test(l.line));
      if (hit) return hit;
      if (performance.now() > deadline) throw new Error(`no log line ${pattern} within ${ms} ms:\n${log.map((l) => l.line).join("\n")}`);
      await Bun.sleep(2);
    }
  };
  const first = await waitLog(/applied generation 1 /, 0, 600_000);
  console.log(`start → generation 1: ${((first.at - t0) / 1000).toFixed(1)} s\n    | ${first.line.slice(0, 600)}`);
  await Bun.sleep(3000);
  for (let i = 0; i < runs; i++) {
    const adding = i % 2 === 0;
    writeFileSync(join(dir, ".25-big.yaml.tmp"), adding ? withExtra : without, { mode: 0o644 });
    const t = performance.now();
    renameSync(join(dir, ".25-big.yaml.tmp"), big);
    const hit = await waitLog(new RegExp(`applied generation ${i + 2} `), t, 120_000);
    const line = hit.line.replace(/^<\d>/, "");
    console.log(`  ${adding ? "+" : "-"}${extra} rename → log line ${(hit.at - t).toFixed(0)} ms\n    | ${line.slice(line.indexOf("):") + 3)}`);
    await Bun.sleep(pauseMs);
  }
  if (process.argv.includes("--log")) console.log(log.map((l) => `    | ${l.line.slice(0, 400)}`).join("\n"));
} finally {
  agent?.kill();
  await agent?.exited;
  await $`ip netns del ${ns}`.quiet().nothrow();
  rmSync(dir, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
}
