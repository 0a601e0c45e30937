/**
 * Issue #15 goal: a one-address edit to a 1,000,000-entry GlobalNetworkSet stored in etcd
 * reaches every agent as a delta, not a reload. The scenario is the kernel test's
 * (test/kernel/etcd-bigset.ts; the test uses 200k): the set is one etcd key (etcd started with
 * a larger --max-request-bytes), its policy denies it; `hostwall apply` of the set with one
 * address replaced by the prober's. Reported: the CLI's time, when each agent's watch delivered
 * the event and when its generation moved (polled /status: a busy agent answers late), the
 * agents' own read → applied time, and each agent's delta / full-replace counters.
 * Usage: bun bench/fleet-bigset.bench.ts [--size=1000000] [--agents=3] [--json]
 *   (root; binary: dist/hostwall or HOSTWALL_TEST_BINARY)
 */
import { createFleet } from "../test/kernel/etcd-fleet.ts";
import { bigSetNets, bigSetResources, oneAddressEdit, requestBytesFor } from "../test/kernel/etcd-bigset.ts";
import { waitFor } from "../test/kernel/agent-harness.ts";
import { startServers } from "../test/kernel/lab.ts";

const flag = (name: string, dflt: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
const size = flag("size", 1_000_000);
const agents = flag("agents", 3);
const json = process.argv.includes("--json");

const nets = bigSetNets(size);
const fleet = await createFleet({ tag: `hw-fbs-${process.pid.toString(36)}`, hosts: agents, maxRequestBytes: requestBytesFor(size) });
try {
  for (const h of fleet.hosts) await startServers(h.ns, { tcp: [8080], udp: [] });
  const t0 = performance.now();
  const first = await fleet.cli(["apply", "-f", "-"], { stdin: bigSetResources(agents, nets), timeoutMs: 300_000 });
  if (first.code !== 0) throw new Error(`apply: ${first.err}`);
  const firstApplyMs = performance.now() - t0;
  for (let i = 0; i < agents; i++) fleet.startAgent(i);
  await waitFor("every agent enforcing the set", async () => {
    const st = await Promise.all(fleet.hosts.map((h) => h.agent!.status().catch(() => undefined)));
    return st.every((s) => s?.datastore?.connected && s.lastAttempt?.ok && s.applied?.resources?.GlobalNetworkSet === 1);
  }, 600_000);
  const r = await oneAddressEdit(fleet, nets);
  const asDelta = r.after.every((a, i) => a.deltas === r.before[i]!.deltas + 1 && a.fullApplies === r.before[i]!.fullApplies);
  if (json) console.log(JSON.stringify({ agents, firstApplyMs, asDelta, ...r }));
  else {
    console.log(`${agents} agents, a ${size.toLocaleString("en")}-address GlobalNetworkSet in one etcd key, load average ${(await Bun.file("/proc/loadavg").text()).split(" ")[0]}:`);
    console.log(`  first hostwall apply of the set: ${firstApplyMs.toFixed(0)} ms; one-address edit: hostwall apply ${r.applyCliMs} ms`);
    console.log(`  apply exit → watch event at each agent: ${r.eventMs.join(", ")} ms; → generation moved: ${r.fromWriteMs.join(", ")} ms`);
    console.log(`  agents' own read → applied: ${r.agentMs.map((x) => x.toFixed(0)).join(", ")} ms`);
    console.log(`  as a delta on every agent: ${asDelta} (deltas ${r.before.map((b) => b.deltas).join("/")} → ${r.after.map((a) => a.deltas).join("/")}, full replaces ${r.before.map((b) => b.fullApplies).join("/")} → ${r.after.map((a) => a.fullApplies).join("/")})`);
  }
  if (!asDelta) process.exitCode = 1;
} finally {
  await fleet.destroy();
}
