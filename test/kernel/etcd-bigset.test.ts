/**
 * A one-address edit to a big GlobalNetworkSet stored in etcd (#15): HOSTWALL_ETCD_SET_SIZE
 * addresses (default 200,000; 1M in bench/fleet-bigset.bench.ts) in one key, three agents.
 * The edit reaches every agent as a delta (each agent's /status delta counter rises by one, its
 * full-replace counter does not), is enforced (the address added is the prober's), and the
 * agents' logs name the one element added and the one removed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { kernelTestGate, startServers, sweepStaleLabs } from "./lab";
import { waitFor } from "./agent-harness";
import { createFleet, type Fleet } from "./etcd-fleet";
import { bigSetNets, bigSetResources, oneAddressEdit, requestBytesFor } from "./etcd-bigset";
import { ETCD } from "../support/etcd.ts";

const TAG = `hw-ebs-${process.pid.toString(36)}`;
const enabled = (await kernelTestGate()) && existsSync(ETCD);
const N = 3;
const COUNT = Number(process.env.HOSTWALL_ETCD_SET_SIZE ?? 200_000);

describe.skipIf(!enabled)("a big GlobalNetworkSet in etcd", () => {
  let fleet: Fleet;
  const nets = bigSetNets(COUNT);

  beforeAll(async () => {
    await sweepStaleLabs("hw-ebs-");
    fleet = await createFleet({ tag: TAG, hosts: N, maxRequestBytes: requestBytesFor(COUNT) });
    for (const h of fleet.hosts) await startServers(h.ns, { tcp: [8080], udp: [] });
    const r = await fleet.cli(["apply", "-f", "-"], { stdin: bigSetResources(N, nets), timeoutMs: 120_000 });
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    for (let i = 0; i < N; i++) fleet.startAgent(i);
    await waitFor("every agent enforcing the set", async () => {
      const st = await Promise.all(fleet.hosts.map((h) => h.agent!.status().catch(() => undefined)));
      return st.every((s) => s?.datastore?.connected && s.lastAttempt?.ok && s.applied?.resources?.GlobalNetworkSet === 1 && s.enforcedEndpoints === 1);
    }, 120_000);
  }, 180_000);

  afterAll(async () => {
    await fleet?.destroy();
  });

  test(`one address of ${COUNT.toLocaleString("en")} edited with hostwall apply reaches every agent as a delta`, async () => {
    const r = await oneAddressEdit(fleet, nets);
    console.log(`one-address edit of a ${COUNT}-address set: ${JSON.stringify(r)}`);
    for (const [i, a] of r.after.entries()) {
      expect(a.deltas).toBe(r.before[i]!.deltas + 1);
      expect(a.fullApplies).toBe(r.before[i]!.fullApplies);
      expect(a.deltasRejected).toBe(r.before[i]!.deltasRejected);
    }
    // Only the set's key was read as a changed "file", and the kernel got one element out, one in.
    for (const h of fleet.hosts) expect(h.agent!.log()).toMatch(/applied generation 2 \(datastore changed; files ~\/calico\/resources\/v3\/projectcalico\.org\/globalnetworksets\/big\): set entries \+1 -1; delta \(\+1\/-1 set elements\)/);
  }, 120_000);
});
