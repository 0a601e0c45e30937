/**
 * Issue #13's Goals table, every figure beside its baseline, measured in one run (root; build
 * dist/hostwall first). Namespaces of its own (hw-eb-<pid>-a|s|b, bench/engine-lab.ts):
 *
 * - small config, one-line edit renamed in → enforced: bench/react.bench.ts run as a child
 *   (nft monitor sees the rule) against a bare `nft -f` of the agent's own script;
 * - N single addresses (11.0.0.0 upwards, every 7th: set content only, never sent to) in a
 *   GlobalNetworkSet on the example rules' deny list: start → ready (GET /readyz on the unix
 *   listener) against a bare `nft -f` of `hostwall compile`'s script in a second namespace;
 *   peak RSS of the agent and its children (sampled every 20 ms) and idle RSS 10 s after;
 *   restart with the same files and state dir (SIGTERM by pid) → ready;
 * - one address added then removed by renaming an edited copy of the big file in: the sender
 *   (198.51.100.50) sends a datagram every 2 ms to UDP 5353 in the agent's namespace; enforced
 *   = the send time of the first datagram after which none (add) / all (remove) arrive, from
 *   the rename; baseline: `nft add|delete element` into the bare namespace's copy of the set;
 * - 10k removed + 10k added (the sender among them) in one edit: rename → generation moved
 *   (GET /status) and → enforced (the sender's datagrams stop), then the edit undone;
 * - N mixed IPv4 prefixes (/22-/32, as bench/scale.bench.ts): start → ready against a bare
 *   `nft -f` of one auto-merge interval set of the same entries; one prefix (198.51.100.0/24)
 *   added and removed, enforced as above;
 * - per-packet drop cost: cited from bench/sets.bench.ts `plen pre` (minutes to run), not measured.
 *
 * Usage: bun bench/engine.bench.ts [--count=1000000] [--rounds=3] [--gap=1000] [--smoke] [--json] [--bin=PATH]
 *   --gap: ms between one edit enforced and the next written (see gapMs)
 *   --bin: the hostwall binary to measure (default dist/hostwall; react.bench.ts uses dist/hostwall)
 *   --smoke: 6,000 entries (still the per-length layout), 1 round, 1 s idle: checks it runs (CI)
 */
import { $ } from "bun";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { api, makeLab, memory, nowMs, SENDER, Traffic, tree, type Lab } from "./engine-lab.ts";
import { prng } from "./sets-lab.ts";

const REPO = join(import.meta.dir, "..");
const flag = (name: string, dflt: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
const smoke = process.argv.includes("--smoke");
const json = process.argv.includes("--json");
const count = flag("count", smoke ? 6000 : 1_000_000);
const rounds = flag("rounds", smoke ? 1 : 3);
const idleS = smoke ? 1 : 10;
/**
 * Milliseconds between one edit enforced and the next written: an operator's edits, not a
 * loop's. Between edits the agent prepares the spare arrays the next one's patches take
 * (src/spares.ts, ~0.15 s at 1M); an edit within that time pays fresh memory instead (~+60 ms
 * at 1M). `--gap=0` measures that back-to-back case.
 */
const gapMs = flag("gap", smoke ? 0 : 1000);
const bulk = Math.min(10_000, Math.floor(count / 10));
const BIG = "25-big.yaml";
const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]! : NaN);
const say = (s: string) => (json ? console.error(s) : console.log(s));

const header = `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\n  labels: {dos-deny-list: 'true'}\nspec:\n  nets:\n`;
const ip4 = (a: number) => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
const item = (s: string) => `    - ${s}\n`;
const fileText = (items: readonly string[]) => header + items.join("");

/** Single addresses from 11.0.0.0, every 7th: distinct, none a prefix of another. */
const hostItems = (n: number) => Array.from({ length: n }, (_, i) => item(ip4((0x0b000000 + i * 7) >>> 0)));
/** Random IPv4 prefixes weighted as bench/scale.bench.ts (/22-/32), none in the lab's 192.0/16, 198.51/16, 203.0/16. */
function mixedItems(n: number): string[] {
  const rnd = prng(1);
  const weights = [22, 22, 24, 24, 24, 24, 24, 26, 26, 28, 28, 28, 30, 30, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32];
  const out: string[] = [];
  while (out.length < n) {
    const a = rnd();
    if ([0xc000, 0xc633, 0xcb00].includes(a >>> 16)) continue;
    out.push(item(`${ip4(a)}/${weights[rnd() % weights.length]}`));
  }
  return out;
}

async function timed(cmd: string[], stdout: "ignore" | ReturnType<typeof Bun.file> = "ignore"): Promise<{ ms: number; rssMB: number }> {
  const t = nowMs();
  const p = Bun.spawn(cmd, { stdout, stderr: "pipe" });
  const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  if (code !== 0) throw new Error(`${cmd.join(" ")} failed (${code}): ${err.slice(0, 1500)}`);
  return { ms: nowMs() - t, rssMB: (p.resourceUsage()?.maxRSS ?? 0) / 1048576 };
}

/** The agent in the lab's namespace, its API on a unix socket. */
class Agent {
  log = "";
  readonly sock: string;
  readonly proc: ReturnType<typeof Bun.spawn>;
  constructor(lab: Lab, dir: string, state: string) {
    this.sock = join(dir, ".api.sock");
    const proc = Bun.spawn(["ip", "netns", "exec", lab.agentNs, BIN, "run", "--config-dir", dir, "--node", "jasper", "--listen", `unix:${this.sock}`, "--state-dir", state], { stdout: "ignore", stderr: "pipe" });
    this.proc = proc;
    void (async () => {
      for await (const c of proc.stderr) this.log += new TextDecoder().decode(c);
    })();
  }
  /** Start → ready (/readyz 200), the peak RSS of the agent and its children sampled every 20 ms. */
  async ready(t0: number, timeoutMs: number): Promise<{ ms: number; peakMB: number }> {
    let peak = 0;
    for (;;) {
      peak = Math.max(peak, tree(this.proc.pid).reduce((s, p) => s + (memory(p)?.rss ?? 0), 0));
      if (await api(this.sock, "/readyz")) return { ms: nowMs() - t0, peakMB: peak / 1024 };
      if (this.proc.exitCode !== null) throw new Error(`the agent exited (${this.proc.exitCode}):\n${this.log.slice(-3000)}`);
      if (nowMs() - t0 > timeoutMs) throw new Error(`the agent was not ready within ${timeoutMs} ms:\n${this.log.slice(-3000)}`);
      await Bun.sleep(20);
    }
  }
  status(): Promise<any> {
    return api(this.sock, "/status");
  }
  /** The agent's log line of its last apply or adoption, shortened. */
  applyLine(): string {
    return (this.log.split("\n").findLast((l) => /applied generation|adopting/.test(l)) ?? "").slice(0, 600);
  }
  rssMB(): number {
    return tree(this.proc.pid).reduce((s, p) => s + (memory(p)?.rss ?? 0), 0) / 1024;
  }
  /** The agent's own high-water mark so far (VmHWM): after ready it includes the spares it makes. */
  hwmMB(): number {
    return (memory(this.proc.pid)?.hwm ?? 0) / 1024;
  }
  async stop(): Promise<void> {
    this.proc.kill("SIGTERM");
    if ((await Promise.race([this.proc.exited, Bun.sleep(20_000).then(() => "late")])) === "late") {
      this.proc.kill("SIGKILL");
      await this.proc.exited;
    }
  }
}

interface EditResult {
  enforcedMs: number | undefined;
  genMs: number;
  kind: string;
  /** The agent's own log line of the apply (its time by stage). */
  line: string;
}
/** Renames `text` in as the big file; rename → generation moved, and → enforced per the sender's datagrams. */
async function edit(dir: string, agent: Agent, traffic: Traffic, text: string, arriving: boolean): Promise<EditResult> {
  await Bun.sleep(gapMs);
  if (!(await traffic.settle(!arriving, 30_000))) throw new Error(`before the edit, the sender's datagrams are not all ${arriving ? "dropped" : "arriving"}`);
  const before = await agent.status();
  const from = agent.log.length;
  const tmp = join(dir, `.${BIG}.tmp`);
  writeFileSync(tmp, text, { mode: 0o644 });
  const t0 = nowMs();
  renameSync(tmp, join(dir, BIG));
  let after: any;
  for (;;) {
    after = await agent.status();
    if (after?.generation > before.generation) break;
    if (after?.lastAttempt?.ok === false && JSON.stringify(after.lastAttempt) !== JSON.stringify(before.lastAttempt)) throw new Error(`the edit was rejected: ${JSON.stringify(after.lastAttempt).slice(0, 1500)}`);
    if (nowMs() - t0 > 300_000) throw new Error(`the edit was not applied within 300 s:\n${agent.log.slice(-3000)}`);
    await Bun.sleep(10);
  }
  const genMs = nowMs() - t0;
  await traffic.settle(arriving, 5000);
  const kind = after.nft.deltas > before.nft.deltas ? "delta" : after.nft.fullApplies > before.nft.fullApplies ? "full" : "?";
  let line = "";
  for (let i = 0; i < 100 && !line; i++) {
    line = agent.log.slice(from).split("\n").find((l) => l.includes("applied generation")) ?? "";
    if (!line) await Bun.sleep(20); // stderr may come after /status moved
  }
  return { enforcedMs: traffic.enforcedAfter(t0, nowMs() - 50, arriving), genMs, kind, line };
}

interface Row {
  figure: string;
  hostwall: string;
  baseline: string;
  ratio: string;
  goal: string;
  met: string;
}
const rows: Row[] = [];
const ms = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "NOT ENFORCED" : x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${x.toFixed(x < 100 ? 1 : 0)} ms`);
const row = (figure: string, hostwall: string, baseline: string, ratio: number | undefined, goal: string, met: boolean | undefined) =>
  rows.push({ figure, hostwall, baseline, ratio: ratio === undefined || Number.isNaN(ratio) ? "-" : `${ratio.toFixed(2)} x`, goal, met: met === undefined ? "-" : met ? "yes" : "NO" });
const editsRow = (figure: string, xs: EditResult[], goalMs: number, base?: number) => {
  const e = xs.map((x) => x.enforcedMs);
  const p50 = e.includes(undefined) ? undefined : median(e as number[]);
  const kinds = [...new Set(xs.map((x) => x.kind))].join("/");
  row(`${figure} (p50 of ${xs.length}; ${kinds})`, ms(p50), base === undefined ? "-" : `${ms(base)} nft element cmd`, p50 === undefined || base === undefined ? undefined : p50 / base, `≤ ${goalMs} ms`, p50 !== undefined && p50 <= goalMs);
};

/** Runs one part of the bench; its failure becomes an ERROR row (exit 1), and the bench goes on. */
async function phase(name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    rows.push({ figure: `ERROR in ${name}`, hostwall: String((e as Error).message ?? e).slice(0, 300).replaceAll("\n", " "), baseline: "-", ratio: "-", goal: "-", met: "NO" });
    process.exitCode = 1;
  }
}

const tag = `hw-eb-${process.pid.toString(36)}`;
const work = mkdtempSync(join(tmpdir(), "hw-engine-bench-"));
chmodSync(work, 0o755);
// A copy of the binary: other people's test runs rebuild dist/hostwall, and every agent of one
// run must be the same build.
const BIN = join(work, "hostwall");
copyFileSync(process.argv.find((a) => a.startsWith("--bin="))?.slice(6) ?? join(REPO, "dist/hostwall"), BIN);
chmodSync(BIN, 0o755);
const dir = join(work, "config");
mkdirSync(dir, { mode: 0o755 });
for (const f of readdirSync(join(REPO, "rules")).filter((f) => f.endsWith(".yaml"))) {
  copyFileSync(join(REPO, "rules", f), join(dir, f));
  chmodSync(join(dir, f), 0o644);
}
let lab: Lab | undefined;
let agent: Agent | undefined;
let traffic: Traffic | undefined;
const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
say(`engine bench: ${count} entries, ${rounds} round(s), ${gapMs} ms between edits, load ${load()}, ${new Date().toISOString()}, ${(await $`${BIN} version`.text()).split("\n")[0]}`);
try {
  // The small config: react.bench.ts in namespaces of its own.
  const react = JSON.parse(await $`${process.execPath} ${join(import.meta.dir, "react.bench.ts")} --runs=${smoke ? 2 : 8} --json`.text()) as { renameP50: number; bareP50: number; runs: number };
  row(`small config, one-line edit, rename → enforced (p50 of ${react.runs})`, ms(react.renameP50), `${ms(react.bareP50)} bare nft -f`, react.renameP50 / react.bareP50, "≤ 1.5 x (stretch 0.5 x)", react.renameP50 / react.bareP50 <= 1.5);
  say(`  small config: ${ms(react.renameP50)} vs bare ${ms(react.bareP50)}`);
  lab = await makeLab(tag);
  const { agentNs, bareNs } = lab;

  // N addresses: the bare baseline first (the agent's own script, in the second namespace).
  const hosts = hostItems(count);
  const original = fileText(hosts);
  writeFileSync(join(dir, BIG), original, { mode: 0o644 });
  const script = join(work, "agent.nft");
  await timed(["ip", "netns", "exec", bareNs, BIN, "compile", "--config-dir", dir, "--node", "jasper"], Bun.file(script));
  const bare = await timed(["ip", "netns", "exec", bareNs, "nft", "-f", script]);
  const hostSet = readFileSync(script, "utf8").match(/set (sel-[a-z2-7]+-4l32) /)?.[1];
  if (!hostSet) throw new Error("the agent's script has no per-length /32 set (sel-…-4l32): is the layout still per-length at this size?");
  const nftEl = (op: "add" | "delete") => timed(["ip", "netns", "exec", bareNs, "nft", op, "element", "netdev", "hostwall", hostSet, `{ ${SENDER} }`]);
  const [bareAdd, bareDel] = [[] as number[], [] as number[]];
  for (let i = 0; i < Math.max(3, rounds); i++) {
    bareAdd.push((await nftEl("add")).ms);
    bareDel.push((await nftEl("delete")).ms);
  }
  await $`ip netns exec ${bareNs} nft flush ruleset`.quiet();
  say(`  bare nft -f of the agent's script: ${ms(bare.ms)} (nft peak ${bare.rssMB.toFixed(0)} MB); nft add/delete element ${ms(median(bareAdd))}/${ms(median(bareDel))}`);

  const state = join(work, "state");
  let t0 = nowMs();
  agent = new Agent(lab, dir, state);
  const start = await agent.ready(t0, 600_000);
  await Bun.sleep(idleS * 1000);
  const idleMB = agent.rssMB();
  say(`  start → ready ${ms(start.ms)}, peak ${start.peakMB.toFixed(0)} MB (the agent's VmHWM by idle: ${agent.hwmMB().toFixed(0)} MB), idle ${idleMB.toFixed(0)} MB`);
  say(`    agent: ${agent.applyLine()}`);
  await agent.stop();
  t0 = nowMs();
  agent = new Agent(lab, dir, state);
  const restart = await agent.ready(t0, 600_000);
  const adopted = (await agent.status())?.nft?.fullApplies === 0;
  say(`  restart → ready ${ms(restart.ms)} (${adopted ? "adopted" : "NOT adopted: a full replace"})`);
  say(`    agent: ${agent.applyLine()}`);
  row(`${count} addresses: start → ready`, ms(start.ms), `${ms(bare.ms)} bare nft -f`, start.ms / bare.ms, "≤ 1.0 x", start.ms <= bare.ms);
  row(`${count} addresses: restart, same files → ready (${adopted ? "adopted" : "NOT adopted"})`, ms(restart.ms), `${ms(bare.ms)} bare nft -f`, restart.ms / bare.ms, "≤ 0.1 x, adopted", adopted && restart.ms <= 0.1 * bare.ms);
  row(`peak RSS, agent + children, loading ${count}`, `${start.peakMB.toFixed(0)} MB`, `${bare.rssMB.toFixed(0)} MB nft -f`, start.peakMB / bare.rssMB, "≤ 300 MB", start.peakMB <= 300);
  row(`idle RSS ${idleS} s after ready`, `${idleMB.toFixed(0)} MB`, "-", undefined, "≤ 150 MB", idleMB <= 150);

  // The edits: a failure is a row of the table (and exit 1), and the mixed phase still runs.
  const running = agent;
  await phase("edits of the addresses", async () => {
    traffic = await Traffic.start(lab!);
    const adds: EditResult[] = [];
    const dels: EditResult[] = [];
    const withSender = original + item(SENDER);
    for (let i = 0; i < rounds; i++) {
      adds.push(await edit(dir, running, traffic, withSender, false));
      dels.push(await edit(dir, running, traffic, original, true));
      say(`  one address added ${ms(adds.at(-1)!.enforcedMs)} (${adds.at(-1)!.kind}), removed ${ms(dels.at(-1)!.enforcedMs)} (${dels.at(-1)!.kind})`);
      if (i === 0) say(`    agent: ${adds[0]!.line.slice(0, 600)}`);
    }
    editsRow(`${count} addresses: one address added, rename → enforced`, adds, 100, median(bareAdd));
    editsRow(`${count} addresses: one address removed, rename → enforced`, dels, 100, median(bareDel));

    // 10k out + 10k in (the sender among the new ones) in one block of the file, then undone.
    const at = Math.floor(count / 2);
    // Every 7th address, as the list: consecutive ones would merge into a few prefixes.
    const fresh = Array.from({ length: bulk }, (_, i) => item(i === bulk >> 1 ? SENDER : ip4((0x0c000000 + i * 7) >>> 0)));
    const bulkText = fileText([...hosts.slice(0, at), ...fresh, ...hosts.slice(at + bulk)]);
    const bulks: EditResult[] = [];
    for (let i = 0; i < Math.max(1, Math.ceil(rounds / 2)); i++) {
      bulks.push(await edit(dir, running, traffic, bulkText, false));
      bulks.push(await edit(dir, running, traffic, original, true));
      say(`  ${bulk} out + ${bulk} in: generation ${ms(bulks.at(-2)!.genMs)}, enforced ${ms(bulks.at(-2)!.enforcedMs)}; undone ${ms(bulks.at(-1)!.genMs)} / ${ms(bulks.at(-1)!.enforcedMs)}`);
      if (i === 0) say(`    agent: ${bulks[0]!.line.slice(0, 600)}`);
    }
    const bulkGen = median(bulks.map((b) => b.genMs));
    const bulkEnf = bulks.some((b) => b.enforcedMs === undefined) ? undefined : median(bulks.map((b) => b.enforcedMs!));
    row(`${bulk} added + ${bulk} removed, one edit: rename → generation (p50 of ${bulks.length}; ${[...new Set(bulks.map((b) => b.kind))].join("/")})`, ms(bulkGen), "-", undefined, "≤ 500 ms", bulkGen <= 500);
    row(`${bulk} added + ${bulk} removed, one edit: rename → enforced (probe)`, ms(bulkEnf), "-", undefined, "≤ 500 ms", bulkEnf !== undefined && bulkEnf <= 500);
  });
  traffic?.stop();
  await agent.stop();
  await $`ip netns exec ${agentNs} nft flush ruleset`.quiet();
  hosts.length = 0;

  // N mixed prefixes: the auto-merge baseline, then the agent from nothing (a state dir of its own).
  const mixed = mixedItems(count);
  const am = join(work, "am.nft");
  writeFileSync(am, `table netdev am {\nset a4 { type ipv4_addr; flags interval; auto-merge;\nelements = {\n${mixed.map((m) => m.slice(6, -1)).join(",\n")}\n}\n}\nchain c { type filter hook ingress device "eth0" priority -500; policy accept;\nip saddr @a4 drop\n}\n}\n`);
  const amLoad = await timed(["ip", "netns", "exec", bareNs, "nft", "-f", am]);
  await $`ip netns exec ${bareNs} nft flush ruleset`.quiet();
  rmSync(am);
  const mixedText = fileText(mixed);
  writeFileSync(join(dir, BIG), mixedText, { mode: 0o644 });
  t0 = nowMs();
  agent = new Agent(lab, dir, join(work, "state-mixed"));
  const mstart = await agent.ready(t0, 900_000);
  say(`  mixed: start → ready ${ms(mstart.ms)} (peak ${mstart.peakMB.toFixed(0)} MB) vs auto-merge nft -f ${ms(amLoad.ms)}`);
  say(`    agent: ${agent.applyLine()}`);
  row(`${count} mixed prefixes: start → ready`, ms(mstart.ms), `${ms(amLoad.ms)} auto-merge nft -f`, mstart.ms / amLoad.ms, "≤ 0.3 x", mstart.ms <= 0.3 * amLoad.ms);
  traffic = await Traffic.start(lab);
  const [padds, pdels] = [[] as EditResult[], [] as EditResult[]];
  const withPrefix = mixedText + item("198.51.100.0/24");
  for (let i = 0; i < rounds; i++) {
    padds.push(await edit(dir, agent, traffic, withPrefix, false));
    pdels.push(await edit(dir, agent, traffic, mixedText, true));
    say(`  one prefix added ${ms(padds.at(-1)!.enforcedMs)} (${padds.at(-1)!.kind}), removed ${ms(pdels.at(-1)!.enforcedMs)} (${pdels.at(-1)!.kind})`);
    if (i === 0) say(`    agent: ${padds[0]!.line.slice(0, 600)}`);
  }
  editsRow(`${count} mixed prefixes: one prefix added, → enforced`, padds, 100);
  editsRow(`${count} mixed prefixes: one prefix removed, → enforced`, pdels, 100);
  row("per-packet drop cost, netdev, 1M vs a 1-entry set", "1.00-1.17 x", "1-entry hash set", undefined, "≤ 1.2 x", undefined);
  rows.at(-1)!.ratio = "cited: RESULTS.md sets.bench plen pre (the agent's layout), session 10, two quiet runs";
} catch (e) {
  rows.push({ figure: "ERROR", hostwall: String((e as Error).message ?? e).slice(0, 300).replaceAll("\n", " "), baseline: "-", ratio: "-", goal: "-", met: "NO" });
  process.exitCode = 1;
} finally {
  traffic?.stop();
  await agent?.stop().catch(() => undefined);
  await lab?.destroy();
  rmSync(work, { recursive: true, force: true });
}

if (json) console.log(JSON.stringify({ count, rounds, load: load(), rows }));
else {
  const cols = ["figure", "hostwall", "baseline", "ratio", "goal", "met"] as const;
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => r[c].length)));
  const fmt = (r: Record<string, string>) => cols.map((c, i) => r[c]!.padEnd(width[i]!)).join(" | ");
  console.log(`\n${fmt({ figure: "figure", hostwall: "hostwall", baseline: "baseline", ratio: "ratio", goal: "goal", met: "met?" })}`);
  console.log(width.map((w) => "-".repeat(w)).join("-|-"));
  for (const r of rows) console.log(fmt(r as unknown as Record<string, string>));
  console.log(`load after: ${load()}`);
}
