/**
 * Issue #13 goal "1M addresses: one address added or removed, rename → enforced ≤ 100 ms", as
 * the agent sees it: the agent (dist/hostwall run, a namespace of its own, a state dir of its
 * own so the last-good record is written as in production) starts on the example rules plus a
 * GlobalNetworkSet of N single addresses on the deny list. Then, `--runs` times, the big file
 * is saved by rename with one address added (odd runs) or that address removed again (even
 * runs), and the bench waits for the agent's "applied generation" line, which carries the
 * attempt's time and its per-stage split (agent.ts); the time from the rename to that line and
 * to the kernel's commit of the element (`nft monitor elements` in the namespace) is printed
 * beside it.
 * With --mixed the list is N random IPv4 prefixes (/22-/32 weighted as scale.bench.ts, most with
 * host bits set: the goal table's mixed set) and the entry edited is 198.51.100.0/24 ("1M mixed
 * prefixes: one prefix added or removed → enforced ≤ 100 ms").
 * Usage: bun bench/attempt.bench.ts [--count=1000000] [--runs=4] [--pause=1500] [--mixed] [--bin=PATH] [--json] [--log] [--src] (root; build first)
 *   --pause  ms between edits (the last good record of the edit before is written meanwhile)
 *   --src  runs `bun --cpu-prof-md src/main.ts run` instead of the binary; the profile is
 *          written to --prof-dir (default /tmp) when the agent exits.
 */
import { $ } from "bun";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lines as streamLines } from "./engine-lab.ts";
import { prng } from "./sets-lab.ts";

const REPO = join(import.meta.dir, "..");
const flag = (name: string, dflt: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt;
const BIN = flag("bin", join(REPO, "dist/hostwall"));
const mixed = process.argv.includes("--mixed");
const count = Number(flag("count", "1000000"));
const runs = Number(flag("runs", "4"));
const json = process.argv.includes("--json");
const fromSource = process.argv.includes("--src");
const profDir = flag("prof-dir", "/tmp");
const pauseMs = Number(flag("pause", "1500"));

const ns = `hw-h3-${process.pid.toString(36)}`;
const dir = mkdtempSync(join(tmpdir(), "hw-attempt-"));
chmodSync(dir, 0o755);
const stateDir = mkdtempSync(join(tmpdir(), "hw-attempt-state-"));
chmodSync(stateDir, 0o700);
const sock = join(stateDir, "api.sock");
const ip4 = (a: number) => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
const lines: string[] = [];
// The added entry, in the middle of the file: outside the others (single addresses 7 apart), or
// a /24 of a test range the random prefixes leave out.
let extra: string;
if (mixed) {
  const rnd = prng(1);
  const weights = [22, 22, 24, 24, 24, 24, 24, 26, 26, 28, 28, 28, 30, 30, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32];
  while (lines.length < count) {
    const a = rnd();
    if ([0xc000, 0xc633, 0xcb00].includes(a >>> 16)) continue;
    lines.push(`    - ${ip4(a)}/${weights[rnd() % weights.length]}\n`);
  }
  extra = "198.51.100.0/24";
} else {
  for (let i = 0; i < count; i++) lines.push(`    - ${ip4((0x0b000000 + i * 7) >>> 0)}\n`); // 11.0.0.0 onwards, distinct
  extra = ip4((0x0b000000 + Math.floor(count / 2) * 7 + 3) >>> 0);
}
// As the kernel's per-length set holds it (a /24 as its network address).
const element = extra.replace(/\/\d+$/, "");
const head = `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\n  labels: {dos-deny-list: 'true'}\nspec:\n  nets:\n`;
const half = Math.floor(count / 2);
const without = head + lines.join("");
const withExtra = head + lines.slice(0, half).join("") + `    - ${extra}\n` + lines.slice(half).join("");
lines.length = 0;

let agent: ReturnType<typeof Bun.spawn> | undefined;
let monitorProc: { kill(): void } | undefined;
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
    ? [process.execPath, "--cpu-prof-md", `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=hw-attempt-${process.pid}.md`, join(REPO, "src/main.ts")]
    : [BIN];
  // The kernel's own account: `nft monitor` prints each element added or deleted as the
  // transaction commits (`nft get element` would download the million-element set first). Started
  // before the agent: started after, it would read the million elements before printing anything.
  const monitor = Bun.spawn(["ip", "netns", "exec", ns, "nft", "monitor", "elements"], { stdout: "pipe", stderr: "ignore" });
  monitorProc = monitor;
  const seen: { at: number; line: string }[] = [];
  let monitorAt = 0;
  streamLines(monitor.stdout, (line) => {
    const at = performance.now();
    monitorAt = at;
    // Only the lines of the address edited: the first apply prints a million others.
    if (line.includes(` ${element} `)) seen.push({ at, line });
  });
  const kernelSaw = async (verb: "add" | "delete", since: number) => {
    const deadline = performance.now() + 5000;
    for (;;) {
      const hit = seen.find((s) => s.at >= since && s.line.startsWith(`${verb} element`) && s.line.includes(` ${element} `));
      if (hit) return hit.at - since;
      if (performance.now() > deadline) return undefined;
      await Bun.sleep(2);
    }
  };
  const t0 = performance.now();
  agent = Bun.spawn(["ip", "netns", "exec", ns, ...cmd, "run", "--config-dir", dir, "--node", "jasper", "--listen", `unix:${sock}`, "--state-dir", state], { stdout: "ignore", stderr: "pipe" });
  streamLines(agent.stderr as ReadableStream<Uint8Array>, (line) => log.push({ at: performance.now(), line }));
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
  const startMs = first.at - t0;
  const results: { change: string; attemptMs: number; logMs: number; kernelMs?: number; line: string }[] = [];
  // Until the monitor has printed the first apply's elements (quiet for 2 s; at most 120 s).
  for (let i = 0; i < 600 && performance.now() - Math.max(monitorAt, first.at) < 2000; i++) await Bun.sleep(200);
  for (let i = 0; i < runs; i++) {
    const adding = i % 2 === 0;
    writeFileSync(join(dir, ".25-big.yaml.tmp"), adding ? withExtra : without, { mode: 0o644 });
    const t = performance.now();
    renameSync(join(dir, ".25-big.yaml.tmp"), big);
    const hit = await waitLog(new RegExp(`applied generation ${i + 2} `), t, 120_000);
    const attemptMs = Number(/, ([\d.]+) ms/.exec(hit.line)?.[1] ?? NaN);
    const kernelMs = await kernelSaw(adding ? "add" : "delete", t);
    results.push({ change: adding ? `+${extra}` : `-${extra}`, attemptMs, logMs: hit.at - t, kernelMs, line: hit.line.replace(/^<\d>/, "") });
    await Bun.sleep(pauseMs);
  }
  if (json) console.log(JSON.stringify({ count, startMs, results }));
  else {
    console.log(`${mixed ? `one prefix in/out of a ${count}-prefix` : `one address in/out of a ${count}-address`} deny list, file renamed in (start → generation 1: ${(startMs / 1000).toFixed(1)} s):`);
    for (const r of results) console.log(`  ${r.change.padEnd(16)} attempt ${r.attemptMs.toFixed(1)} ms; rename → log line ${r.logMs.toFixed(0)} ms; → seen in the kernel ${r.kernelMs === undefined ? "NOT SEEN" : `${r.kernelMs.toFixed(0)} ms`}\n    | ${r.line.slice(r.line.indexOf("):") + 3)}`);
  }
  if (process.argv.includes("--log")) console.log(log.map((l) => `    | ${l.line.slice(0, 400)}`).join("\n"));
} finally {
  monitorProc?.kill();
  agent?.kill();
  await agent?.exited;
  await $`ip netns del ${ns}`.quiet().nothrow();
  rmSync(dir, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
}
