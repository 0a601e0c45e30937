/**
 * Fail static under fire (#15): etcd killed (SIGKILL) for HOSTWALL_ETCD_DOWN_MS (default 10 s;
 * the 30 s version is bench/fleet-flood.bench.ts) while a denied namespace floods three agents
 * with UDP and TCP. Counted where it would arrive (a listening socket per host, by source): not
 * one datagram or connection of the flood gets through; every agent says connected: false for
 * the whole outage; each is connected again within 2 s of etcd's return, and a change written
 * with `hostwall apply` right after the restart is in force everywhere.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { expectProbes, kernelTestGate, startServers, sweepStaleLabs } from "./lab";
import { waitFor } from "./agent-harness";
import { createFleet, ETCD_ADDR, type Fleet } from "./etcd-fleet";
import { etcdOutageDuringFlood, floodResources, SINK_TCP, startSinks, type Sinks } from "./etcd-flood";
import { ETCD } from "../support/etcd.ts";

const TAG = `hw-efl-${process.pid.toString(36)}`;
const enabled = (await kernelTestGate()) && existsSync(ETCD);
const N = 3;
const DOWN_MS = Number(process.env.HOSTWALL_ETCD_DOWN_MS ?? 10_000);

describe.skipIf(!enabled)("etcd down during a flood", () => {
  let fleet: Fleet;
  let sinks: Sinks;
  const allStatus = () => Promise.all(fleet.hosts.map((h) => h.agent!.status()));

  beforeAll(async () => {
    await sweepStaleLabs("hw-efl-");
    fleet = await createFleet({ tag: TAG, hosts: N, peers: 1 });
    for (const h of fleet.hosts) await startServers(h.ns, { tcp: [8082], udp: [] });
    sinks = await startSinks(fleet);
    for (let i = 0; i < N; i++) fleet.startAgent(i);
    await waitFor("every agent connected to etcd", async () => {
      const st = await allStatus().catch(() => []);
      return st.length === N && st.every((s) => s.datastore?.connected === true);
    }, 20_000);
    expect((await fleet.cli(["apply", "-f", "-"], { stdin: floodResources(N) })).code).toBe(0);
    await waitFor("the policy on every agent", async () => (await allStatus().catch(() => [])).every((s) => s.lastAttempt?.ok && s.enforcedEndpoints === 1 && s.applied?.resources?.GlobalNetworkPolicy === 1), 15_000);
  }, 60_000);

  afterAll(async () => {
    await sinks?.stop();
    await fleet?.destroy();
  });

  test(`etcd killed for ${DOWN_MS / 1000} s during a flood: 0 leaks, connected: false throughout, resync within 2 s, the change written after the restart applied`, async () => {
    // The sinks count what is allowed: the etcd namespace reaches both ports.
    const probe = fleet.etcdNs.spawn([process.execPath, `${import.meta.dir}/../support/flood.ts`, "flood", String(SINK_TCP), "9000", "50", ...fleet.hosts.map((h) => h.addr)]);
    await waitFor("the allowed source counted by every sink", async () => fleet.hosts.every((_, i) => sinks.from(i, ETCD_ADDR).tcp > 0 && sinks.from(i, ETCD_ADDR).udp > 0), 10_000);
    await probe.stop(1000);

    const r = await etcdOutageDuringFlood(fleet, sinks, { downMs: DOWN_MS, pps: 2000, change: floodResources(N, [8082]) });
    console.log(`etcd down ${DOWN_MS} ms during a flood: ${JSON.stringify(r)}`);
    // The flood ran the whole time (at least half its nominal rate on a busy machine):
    // thousands of datagrams and hundreds of connects at each host.
    expect(r.sent.udp).toBeGreaterThan((N * 2000 * DOWN_MS) / 1000 / 2);
    expect(r.sent.tcp).toBeGreaterThan((N * 200 * DOWN_MS) / 1000 / 2);
    expect(r.leaked).toEqual(fleet.hosts.map(() => ({ tcp: 0, udp: 0 })));
    for (const ms of r.disconnectedMs) {
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThan(2000);
    }
    expect(r.flapped).toEqual([]);
    for (const ms of r.resyncMs) {
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThanOrEqual(2000);
    }
    expect(r.changeMs).toBeGreaterThanOrEqual(0);
    for (const s of await allStatus()) {
      expect(s.datastore.connected).toBe(true);
      expect(s.lastAttempt.ok).toBe(true);
    }
    await expectProbes(fleet.hosts.map((h) => [{ from: fleet.etcdNs, kind: "tcp", addr: h.addr, port: 8082 }, true]));
    await expectProbes(fleet.hosts.map((h) => [{ from: fleet.peers[0]!, kind: "tcp", addr: h.addr, port: 8082 }, false]));
  }, 120_000);
});
