/**
 * A one-address edit to a big GlobalNetworkSet stored in etcd (#15's goal: it reaches every
 * agent as a delta, not a reload), as a scenario the kernel test (etcd-bigset.test.ts, 200k
 * addresses) and the bench (bench/fleet-bigset.bench.ts, 1M) share.
 *
 * The set is one etcd key (one "file" for the agent's parse cache: the other keys are not
 * parsed again) and its value is ~18 bytes an address, so etcd runs with a larger
 * --max-request-bytes. Its policy denies the set's addresses and allows TCP 8080 to the rest;
 * the edit replaces one address with the etcd namespace's own, so a probe from there proves
 * the edit is enforced, not only counted.
 */
import { ETCD_ADDR, fleetHostEndpoints, type Fleet } from "./etcd-fleet";
import { expectProbes, type ProbeSpec } from "./lab";

/** --max-request-bytes for a set of `count` addresses: the value and the txn around it, with room. */
export const requestBytesFor = (count: number) => Math.max(8 << 20, count * 40);

/** `count` distinct random /32s in 10.0.0.0/8 (no traffic goes to them), deterministic. */
export function bigSetNets(count: number): string[] {
  let s = 42;
  const rnd = () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
  const out = new Set<string>();
  while (out.size < count) {
    const a = rnd() & 0xffffff;
    out.add(`10.${a >>> 16}.${(a >>> 8) & 255}.${a & 255}/32`);
  }
  return [...out];
}

export function bigSetYaml(nets: string[]): string {
  return `apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata:
  name: big
  labels:
    list: big
spec:
  nets:
${nets.map((n) => `    - ${n}\n`).join("")}`;
}

export function bigSetResources(hosts: number, nets: string[]): string {
  const heps = fleetHostEndpoints(hosts);
  const policy = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: deny-big
spec:
  selector: role == 'fleet'
  ingress:
    - action: Deny
      source:
        selector: list == 'big'
    - action: Allow
      protocol: TCP
      destination:
        ports: [8080]
  egress:
    - action: Allow
`;
  return [...heps, policy, bigSetYaml(nets)].join("---\n");
}

type Nft = { deltas: number; fullApplies: number; deltasRejected: number };

export interface EditResult {
  count: number;
  /** `hostwall apply` of the edited set (read, validate, one txn), ms. */
  applyCliMs: number;
  /** Per agent: apply exit → its datastore event counter moved (the watch delivered the edit), ms. */
  eventMs: number[];
  /** Per agent: apply exit → its generation moved, ms (status polled; a busy agent answers late). */
  fromWriteMs: number[];
  /** Per agent: the agent's own read → applied time of that change (applied.durationMs). */
  agentMs: number[];
  /** Per agent: /status nft counters before and after. */
  before: Nft[];
  after: Nft[];
}

/** The fleet runs `bigSetResources(hosts, nets)`, every agent applied it; edits one address. */
export async function oneAddressEdit(fleet: Fleet, nets: string[]): Promise<EditResult> {
  const all = () => Promise.all(fleet.hosts.map((h) => h.agent!.status()));
  const probe = (addr: string): ProbeSpec => ({ from: fleet.etcdNs, kind: "tcp", addr, port: 8080 });
  await expectProbes(fleet.hosts.map((h) => [probe(h.addr), true]));
  const st0 = await all();
  const before = st0.map((s) => ({ ...s.nft }) as Nft);
  const generations = st0.map((s) => s.generation as number);
  const events = st0.map((s) => s.datastore.events as number);
  const edited = [`${ETCD_ADDR}/32`, ...nets.slice(1)];
  const t0 = performance.now();
  const r = await fleet.cli(["apply", "-f", "-"], { stdin: bigSetYaml(edited), timeoutMs: 300_000 });
  const written = performance.now();
  if (r.code !== 0) throw new Error(`hostwall apply of the edited set: ${r.err}`);
  const fromWriteMs: number[] = Array(fleet.hosts.length).fill(-1);
  const eventMs: number[] = Array(fleet.hosts.length).fill(-1);
  const deadline = written + 60_000;
  while (fromWriteMs.some((t) => t < 0) && performance.now() < deadline) {
    // An agent busy applying may not answer at once: a missed poll is not a failure.
    const st = await Promise.all(fleet.hosts.map((h) => h.agent!.status().catch(() => undefined)));
    const t = Math.round(performance.now() - written);
    st.forEach((s, i) => {
      if (eventMs[i]! < 0 && s && s.datastore.events > events[i]!) eventMs[i] = t;
      if (fromWriteMs[i]! < 0 && s && s.generation > generations[i]!) fromWriteMs[i] = t;
    });
    if (fromWriteMs.some((x) => x < 0)) await Bun.sleep(50);
  }
  if (fromWriteMs.some((t) => t < 0)) throw new Error(`the edit did not reach every agent within 60 s: ${JSON.stringify(fromWriteMs)}`);
  const st1 = await all();
  // Enforced: the etcd namespace is in the set now.
  await expectProbes(fleet.hosts.map((h) => [probe(h.addr), false]));
  return {
    count: nets.length,
    applyCliMs: Math.round(written - t0),
    eventMs,
    fromWriteMs,
    agentMs: st1.map((s) => s.applied.durationMs as number),
    before,
    after: st1.map((s) => ({ ...s.nft }) as Nft),
  };
}
