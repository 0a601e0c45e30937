/**
 * Issue #15 goal: etcd killed (SIGKILL) for 30 s during a flood: 0 denied packets leak on any
 * agent, all report connected: false, all resync within 2 s of etcd's return, and a change
 * written with `hostwall apply` right after the restart is applied. The scenario is the kernel
 * test's (test/kernel/etcd-flood.ts; the test runs it for ~10 s): a denied namespace floods
 * every host with UDP and TCP connects; a listening socket per host counts, by source, what
 * gets through. Times come from polling every agent's /status (resolution ~50-150 ms).
 * Usage: bun bench/fleet-flood.bench.ts [--agents=3] [--down=30000] [--pps=2000] [--json]
 *   (root; binary: dist/hostwall or HOSTWALL_TEST_BINARY)
 */
import { createFleet } from "../test/kernel/etcd-fleet.ts";
import { etcdOutageDuringFlood, floodResources, startSinks } from "../test/kernel/etcd-flood.ts";
import { waitFor } from "../test/kernel/agent-harness.ts";
import { startServers } from "../test/kernel/lab.ts";

const flag = (name: string, dflt: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
const agents = flag("agents", 3);
const downMs = flag("down", 30_000);
const pps = flag("pps", 2000);
const json = process.argv.includes("--json");

const fleet = await createFleet({ tag: `hw-ffb-${process.pid.toString(36)}`, hosts: agents, peers: 1 });
const sinks = await startSinks(fleet);
try {
  for (const h of fleet.hosts) await startServers(h.ns, { tcp: [8082], udp: [] });
  for (let i = 0; i < agents; i++) fleet.startAgent(i);
  const all = () => Promise.all(fleet.hosts.map((h) => h.agent!.status().catch(() => undefined)));
  await waitFor("every agent connected", async () => (await all()).every((s) => s?.datastore?.connected), 60_000);
  const first = await fleet.cli(["apply", "-f", "-"], { stdin: floodResources(agents) });
  if (first.code !== 0) throw new Error(`apply: ${first.err}`);
  await waitFor("the policy everywhere", async () => (await all()).every((s) => s?.lastAttempt?.ok && s.enforcedEndpoints === 1 && s.applied?.resources?.GlobalNetworkPolicy === 1), 60_000);
  const r = await etcdOutageDuringFlood(fleet, sinks, { downMs, pps, change: floodResources(agents, [8082]) });
  const leaks = r.leaked.reduce((n, l) => n + l.tcp + l.udp, 0);
  if (json) console.log(JSON.stringify({ agents, pps, ...r }));
  else {
    console.log(`${agents} agents, etcd killed for ${downMs / 1000} s during a flood of ${pps} UDP datagrams/s + ${pps / 10} TCP connects/s per host, load average ${(await Bun.file("/proc/loadavg").text()).split(" ")[0]}:`);
    console.log(`  flood sent: ${r.sent.udp} datagrams, ${r.sent.tcp} connects; reached a socket: ${leaks} (${JSON.stringify(r.leaked)})`);
    console.log(`  connected: false after ${Math.max(...r.disconnectedMs)} ms (all); said true while etcd was down: ${r.flapped.length ? r.flapped.join(", ") : "none"}`);
    console.log(`  etcd ready → connected again: max ${Math.max(...r.resyncMs)} ms (${r.resyncMs.join(", ")})`);
    console.log(`  etcd ready → the change written after the restart applied on all: ${r.changeMs} ms (hostwall apply itself ${r.applyCliMs} ms)`);
  }
  if (leaks > 0 || r.flapped.length > 0 || r.resyncMs.some((ms) => ms < 0 || ms > 2000) || r.changeMs < 0) process.exitCode = 1;
} finally {
  await sinks.stop();
  await fleet.destroy();
}
