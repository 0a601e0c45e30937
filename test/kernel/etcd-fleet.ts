/**
 * A fleet lab for the etcd tests: one namespace running a real etcd, and N agent namespaces,
 * each a host with its own HostEndpoint on eth0, all on one bridge in the etcd namespace.
 *
 *                 ${tag}-etcd: br0 198.51.100.1/24, etcd on 0.0.0.0:2379
 *          ┌───────────────┼────────────────┐
 *   ${tag}-a0 eth0      ${tag}-a1 eth0     ${tag}-a2 eth0 ...
 *   198.51.100.10       198.51.100.11      198.51.100.12
 *
 * With `peers`, namespaces ${tag}-p0, ${tag}-p1 ... (198.51.100.5, .6, ...) join the bridge too:
 * other sources of traffic (a flood from a denied address).
 * The etcd namespace is also where probes come from (it is every host's only peer) and
 * where the CLI runs (`hostwall apply` against http://127.0.0.1:2379 there). The agents reach
 * etcd through their HostEndpoint: Felix's failsafe outbound ports (tcp 2379) keep that open.
 */
import { createNs, deleteNs, listNs, runOk, type Ns } from "./lab";
import { startEtcd, type Etcd } from "../support/etcd.ts";
import { BINARY, startAgent, type AgentHandle } from "./agent-harness";

export const ETCD_ADDR = "198.51.100.1";

/** One HostEndpoint per agent (`hep-<i>` on `node-<i>`, eth0, label role=fleet), as YAML documents. */
export function fleetHostEndpoints(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata:
  name: hep-${i}
  labels:
    role: fleet
spec:
  node: node-${i}
  interfaceName: eth0
`);
}
/** A GlobalNetworkPolicy `name` for every fleet endpoint: TCP to `ports` allowed in, everything out. */
export function fleetWebPolicy(name: string, ports: readonly number[]): string {
  return `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: ${name}
spec:
  selector: role == 'fleet'
  ingress:
    - action: Allow
      protocol: TCP
      destination:
        ports: [${ports.join(", ")}]
  egress:
    - action: Allow
`;
}
export const agentAddr = (i: number) => `198.51.100.${10 + i}`;
export const peerAddr = (j: number) => `198.51.100.${5 + j}`;

export interface FleetAgent {
  ns: Ns;
  node: string;
  addr: string;
  agent?: AgentHandle;
}

export interface Fleet {
  etcdNs: Ns;
  etcd: Etcd;
  /** The URL agents use. */
  endpoint: string;
  hosts: FleetAgent[];
  /** The `peers` namespaces (peerAddr(j) on eth0), no agent in them. */
  peers: Ns[];
  /** Runs the hostwall CLI in the etcd namespace with ETCD_ENDPOINTS set; stdin optional. */
  cli(args: string[], opts?: { stdin?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<{ code: number; out: string; err: string }>;
  /** Starts the agent of host i with --datastore etcdv3 (and more arguments). */
  startAgent(i: number, extraArgs?: string[]): AgentHandle;
  destroy(): Promise<void>;
}

export async function createFleet(opts: { tag: string; hosts: number; peers?: number; tls?: { cert: string; key: string; ca: string; clientCertAuth?: boolean }; maxRequestBytes?: number }): Promise<Fleet> {
  const existing = new Set(await listNs());
  const peerNames = Array.from({ length: opts.peers ?? 0 }, (_, j) => `${opts.tag}-p${j}`);
  const names = [`${opts.tag}-etcd`, ...Array.from({ length: opts.hosts }, (_, i) => `${opts.tag}-a${i}`), ...peerNames];
  if (names.some((n) => existing.has(n))) throw new Error(`fleet ${opts.tag} exists already`);
  const created: Ns[] = [];
  let etcd: Etcd | undefined;
  const destroy = async () => {
    await etcd?.destroy().catch(() => undefined);
    await Promise.all(created.map((ns) => ns.close()));
    await Promise.all(created.map((ns) => deleteNs(ns.name)));
  };
  try {
    for (const n of names) created.push(await createNs(n));
    const [etcdNs, ...rest] = created as [Ns, ...Ns[]];
    const hostNs = rest.slice(0, opts.hosts);
    const peerNs = rest.slice(opts.hosts);
    await runOk(["ip", "-n", etcdNs.name, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0"]);
    await runOk(["ip", "-n", etcdNs.name, "addr", "add", `${ETCD_ADDR}/24`, "dev", "br0"]);
    await runOk(["ip", "-n", etcdNs.name, "link", "set", "br0", "up"]);
    for (const [i, ns] of hostNs.entries()) {
      await runOk(["ip", "-n", ns.name, "link", "add", "eth0", "index", "10", "type", "veth", "peer", "name", `a${i}`, "index", String(20 + i), "netns", etcdNs.name]);
      await runOk(["ip", "-n", etcdNs.name, "link", "set", `a${i}`, "master", "br0", "up"]);
      await runOk(["ip", "-n", ns.name, "addr", "add", `${agentAddr(i)}/24`, "dev", "eth0"]);
      await runOk(["ip", "-n", ns.name, "link", "set", "eth0", "up"]);
    }
    for (const [j, ns] of peerNs.entries()) {
      await runOk(["ip", "-n", ns.name, "link", "add", "eth0", "index", "10", "type", "veth", "peer", "name", `p${j}`, "index", String(200 + j), "netns", etcdNs.name]);
      await runOk(["ip", "-n", etcdNs.name, "link", "set", `p${j}`, "master", "br0", "up"]);
      await runOk(["ip", "-n", ns.name, "addr", "add", `${peerAddr(j)}/24`, "dev", "eth0"]);
      await runOk(["ip", "-n", ns.name, "link", "set", "eth0", "up"]);
    }
    for (const [i] of hostNs.entries()) {
      const deadline = Date.now() + 5000;
      while ((await etcdNs.exec(["ping", "-n", "-q", "-c", "1", "-W", "0.3", agentAddr(i)])).code !== 0) {
        if (Date.now() > deadline) throw new Error(`host ${i} unreachable from the etcd namespace`);
      }
    }
    etcd = await startEtcd({ netns: etcdNs.name, host: "0.0.0.0", advertise: ETCD_ADDR, port: 2379, tls: opts.tls, maxRequestBytes: opts.maxRequestBytes });
    const endpoint = etcd.endpoint;
    const hosts: FleetAgent[] = hostNs.map((ns, i) => ({ ns, node: `node-${i}`, addr: agentAddr(i) }));
    const fleet: Fleet = {
      etcdNs,
      etcd,
      endpoint,
      hosts,
      peers: peerNs,
      cli: async (args, o = {}) => {
        const env = Object.entries({ ETCD_ENDPOINTS: endpoint, ...o.env }).map(([k, v]) => `${k}=${v}`);
        const r = await etcdNs.exec(["env", ...env, BINARY, ...args], { stdin: o.stdin, timeoutMs: o.timeoutMs ?? 20_000 });
        return { code: r.code, out: r.stdout, err: r.timedOut ? `${r.stderr}(killed after ${o.timeoutMs ?? 20_000} ms)` : r.stderr };
      },
      startAgent: (i, extraArgs = []) => {
        const h = hosts[i]!;
        h.agent = startAgent(h.ns, { configDir: "/nonexistent-hostwall-config", node: h.node, extraArgs: ["--datastore", "etcdv3", "--etcd-endpoints", endpoint, ...extraArgs] });
        return h.agent;
      },
      destroy,
    };
    return fleet;
  } catch (e) {
    await destroy().catch(() => undefined);
    throw e;
  }
}
