/**
 * Issue #13 goal "peak RSS of agent + children while loading 1M; idle RSS afterwards": the
 * agent (dist/hostwall run, a namespace of its own) starts on the example rules plus a
 * GlobalNetworkSet of N single addresses on the deny list. Every 20 ms the bench adds up the
 * resident memory (VmRSS) of the agent and every process below it (nft while it applies), and
 * keeps the highest sum; the agent's own high-water mark (VmHWM) is read too. Ready is
 * GET /readyz on a unix-socket listener; idle is the agent's RSS `--idle` seconds later, and
 * again after one more edit of a small file (the parse cache keeps the big file's parse), and
 * after `--edits` one-address edits of the big file (renamed in, the address added and removed
 * in turn: what an edit leaves held).
 * Usage: bun bench/memory.bench.ts [--count=1000000] [--idle=10] [--edits=6] [--bin=PATH] [--json] [--log]   (root; build first)
 *   --bin: the hostwall binary to measure (default dist/hostwall)
 */
import { $ } from "bun";
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memory, tree } from "./engine-lab.ts";

const REPO = join(import.meta.dir, "..");
const flag = (name: string, dflt: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
const BIN = process.argv.find((a) => a.startsWith("--bin="))?.slice(6) ?? join(REPO, "dist/hostwall");
const count = flag("count", 1_000_000);
const idleS = flag("idle", 10);
const edits = flag("edits", 6);
const json = process.argv.includes("--json");
const MB = 1024;

const ns = `hw-h6m-${process.pid.toString(36)}`;
const dir = mkdtempSync(join(tmpdir(), "hw-mem-"));
chmodSync(dir, 0o755);
const sock = join(dir, ".api.sock");
let agent: ReturnType<typeof Bun.spawn> | undefined;
try {
  await $`ip netns add ${ns}`.quiet();
  await $`ip -n ${ns} link add eth0 type veth peer name eth1`.quiet();
  for (const f of readdirSync(join(REPO, "rules")).filter((f) => f.endsWith(".yaml"))) {
    copyFileSync(join(REPO, "rules", f), join(dir, f));
    chmodSync(join(dir, f), 0o644);
  }
  const nets: string[] = [];
  for (let i = 0; i < count; i++) {
    const a = (0x0b000000 + i * 7) >>> 0; // 11.0.0.0 onwards, distinct
    nets.push(`    - ${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}\n`);
  }
  writeFileSync(join(dir, "25-big.yaml"), `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\n  labels: {dos-deny-list: 'true'}\nspec:\n  nets:\n${nets.join("")}`, { mode: 0o644 });
  nets.length = 0;

  const t0 = performance.now();
  agent = Bun.spawn(["ip", "netns", "exec", ns, BIN, "run", "--config-dir", dir, "--node", "jasper", "--listen", `unix:${sock}`, "--state-dir", "off"], { stdout: "ignore", stderr: "pipe" });
  const pid = agent.pid;
  let log = "";
  void (async () => {
    for await (const chunk of agent!.stderr as ReadableStream<Uint8Array>) log += new TextDecoder().decode(chunk);
  })();
  let peak = 0;
  let peakChildren = 0;
  const ready = async () => {
    try {
      return (await fetch("http://localhost/readyz", { unix: sock })).status === 200;
    } catch {
      return false;
    }
  };
  const deadline = performance.now() + 180_000;
  let readyMs = 0;
  for (;;) {
    const pids = tree(pid);
    const rss = pids.map((p) => memory(p)?.rss ?? 0);
    const sum = rss.reduce((a, b) => a + b, 0);
    if (sum > peak) [peak, peakChildren] = [sum, pids.length - 1];
    if (await ready()) {
      readyMs = performance.now() - t0;
      break;
    }
    if (performance.now() > deadline) throw new Error("agent not ready within 180 s");
    await Bun.sleep(20);
  }
  const atReady = memory(pid)!;
  await Bun.sleep(idleS * 1000);
  const idle = memory(pid)!;
  // One small edit: the big file is not parsed again (parse cache), and nothing more is held.
  const f = join(dir, "40-allow-host-services.yaml");
  writeFileSync(join(dir, ".edit.tmp"), readFileSync(f, "utf8").replace("ports: [80, 443]", "ports: [80, 8443]"), { mode: 0o644 });
  const te = performance.now();
  await $`mv ${join(dir, ".edit.tmp")} ${f}`;
  const generation = async (gen: number) => {
    for (let i = 0; i < 600; i++) {
      await Bun.sleep(50);
      const st = await (await fetch("http://localhost/status", { unix: sock })).json().catch(() => ({}));
      if ((st as { generation?: number }).generation === gen) return true;
    }
    return false;
  };
  const edited = await generation(2);
  const editMs = performance.now() - te;
  await Bun.sleep(idleS * 1000);
  const afterEdit = memory(pid)!;
  // One-address edits of the big file, renamed in: the address in the middle of the list, added then removed.
  const bigPath = join(dir, "25-big.yaml");
  const big = readFileSync(bigPath, "utf8");
  const middle = big.indexOf("\n", big.length >> 1) + 1;
  const withExtra = `${big.slice(0, middle)}    - 172.31.250.9\n${big.slice(middle)}`;
  let bigEdits = 0;
  for (let k = 0; k < edits; k++) {
    writeFileSync(join(dir, ".big.tmp"), k % 2 === 0 ? withExtra : big, { mode: 0o644 });
    await $`mv ${join(dir, ".big.tmp")} ${bigPath}`;
    if (await generation(3 + k)) bigEdits++;
    await Bun.sleep(1000);
  }
  await Bun.sleep(idleS * 1000);
  const afterBig = memory(pid)!;
  const r = { count, readyMs, peakMB: peak / MB, peakProcesses: peakChildren + 1, agentHwmMB: afterBig.hwm / MB, atReadyMB: atReady.rss / MB, idleMB: idle.rss / MB, editMs: edited ? editMs : null, afterEditMB: afterEdit.rss / MB, bigEdits, afterBigEditsMB: afterBig.rss / MB };
  if (json) console.log(JSON.stringify(r));
  else {
    console.log(`memory, ${count} addresses in one GlobalNetworkSet on the deny list (start → ready ${(readyMs / 1000).toFixed(1)} s):`);
    console.log(`  peak RSS agent + children   ${r.peakMB.toFixed(0)} MB (sampled every 20 ms; up to ${r.peakProcesses} processes); agent's own VmHWM ${r.agentHwmMB.toFixed(0)} MB`);
    console.log(`  agent RSS at ready          ${r.atReadyMB.toFixed(0)} MB; idle ${idleS} s later ${r.idleMB.toFixed(0)} MB`);
    console.log(`  one small edit (renamed in) ${edited ? `${editMs.toFixed(0)} ms to generation 2` : "NOT APPLIED"}; idle ${idleS} s later ${r.afterEditMB.toFixed(0)} MB`);
    console.log(`  ${edits} one-address edits of the big file (${bigEdits} applied); idle ${idleS} s later ${r.afterBigEditsMB.toFixed(0)} MB`);
    if (process.argv.includes("--log")) console.log(log.split("\n").map((l) => `    | ${l.slice(0, 600)}`).join("\n"));
  }
} finally {
  agent?.kill();
  await agent?.exited;
  await $`ip netns del ${ns}`.quiet().nothrow();
  rmSync(dir, { recursive: true, force: true });
}
