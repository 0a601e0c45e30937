/**
 * etcd dies during a flood (#15's fail-static goal), as a scenario the kernel test
 * (etcd-flood.test.ts, ~10 s down) and the bench (bench/fleet-flood.bench.ts, 30 s) share:
 *
 *   peer ns 198.51.100.5 ──UDP 9000 + TCP 8081 flood──▶ every host (denied: only the etcd
 *   namespace, 198.51.100.1, may send there)            a sink counts what arrives, by source
 *   kill -9 etcd ── downMs ── etcd back ── `hostwall apply` (a change) ── all resynced, applied
 *
 * What it measures: the flood's datagrams and connects that reached a sink (must be 0), when
 * each agent said connected: false, whether any said true while etcd was down, how long after
 * etcd was ready each agent was connected again, and when the change written after the
 * restart was in force everywhere.
 */
import { join } from "node:path";
import type { Ns, Proc } from "./lab";
import { ETCD_ADDR, fleetHostEndpoints, peerAddr, type Fleet } from "./etcd-fleet";

const BUN = process.execPath;
const FLOOD = join(import.meta.dir, "../support/flood.ts");
export const SINK_TCP = 8081;
export const SINK_UDP = 9000;

/** HostEndpoints and the policy: the sink's ports open to the etcd namespace only (`extraTcp` too). */
export function floodResources(hosts: number, extraTcp: number[] = []): string {
  const heps = fleetHostEndpoints(hosts);
  const policy = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: from-etcd-ns
spec:
  selector: role == 'fleet'
  ingress:
    - action: Allow
      protocol: TCP
      source:
        nets: [${ETCD_ADDR}/32]
      destination:
        ports: [${[SINK_TCP, ...extraTcp].join(", ")}]
    - action: Allow
      protocol: UDP
      source:
        nets: [${ETCD_ADDR}/32]
      destination:
        ports: [${SINK_UDP}]
  egress:
    - action: Allow
`;
  return [...heps, policy].join("---\n");
}

type SinkCounts = { tcp: Record<string, number>; udp: Record<string, number> };

/** A process printing JSON lines; `last()` is the latest one parsed. */
function jsonLines<T>(proc: Proc, initial: T): { last(): T } {
  let last = initial;
  void (async () => {
    const stream = proc.sub.stdout as ReadableStream<Uint8Array> | undefined;
    if (!stream) return;
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of stream) {
      buf += decoder.decode(chunk);
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const l of lines) if (l.trim()) last = JSON.parse(l) as T;
    }
  })();
  return { last: () => last };
}

export interface Sinks {
  /** What reached host i's sink from `addr`. */
  from(i: number, addr: string): { tcp: number; udp: number };
  stop(): Promise<void>;
}

export async function startSinks(fleet: Fleet): Promise<Sinks> {
  const sinks = fleet.hosts.map((h) => {
    const proc = h.ns.spawn([BUN, FLOOD, "sink", String(SINK_TCP), String(SINK_UDP)]);
    return { proc, counts: jsonLines<SinkCounts>(proc, { tcp: {}, udp: {} }) };
  });
  await Bun.sleep(300);
  return {
    from: (i, addr) => {
      const c = sinks[i]!.counts.last();
      return { tcp: c.tcp[addr] ?? 0, udp: c.udp[addr] ?? 0 };
    },
    stop: async () => {
      await Promise.all(sinks.map((s) => s.proc.stop(1000)));
    },
  };
}

/** Starts a flood from `ns` at every host; stop() ends it and says what was sent. */
export function startFlood(ns: Ns, fleet: Fleet, pps: number): { sent(): { udp: number; tcp: number }; stop(): Promise<{ udp: number; tcp: number }> } {
  const proc = ns.spawn([BUN, FLOOD, "flood", String(SINK_TCP), String(SINK_UDP), String(pps), ...fleet.hosts.map((h) => h.addr)]);
  const sent = jsonLines(proc, { udp: 0, tcp: 0 });
  return {
    sent: () => sent.last(),
    stop: async () => {
      if (proc.sub.exitCode !== null || proc.sub.signalCode !== null) return sent.last();
      await Bun.sleep(600);
      const last = sent.last();
      await proc.stop(1000);
      return last;
    },
  };
}

export interface OutageResult {
  downMs: number;
  sent: { udp: number; tcp: number };
  /** Per host: the flood's connects and datagrams that reached its sink. */
  leaked: Array<{ tcp: number; udp: number }>;
  /** Per agent: kill → connected: false, ms. */
  disconnectedMs: number[];
  /** Agents that said connected: true while etcd was down. */
  flapped: number[];
  /** Per agent: etcd ready → connected: true, ms. */
  resyncMs: number[];
  /** etcd ready → the change written after the restart applied on every agent, ms. */
  changeMs: number;
  /** `hostwall apply` of that change: how long the CLI took, ms. */
  applyCliMs: number;
}

/**
 * The outage. The fleet's agents run and are connected, `floodResources(hosts)` is applied
 * and `sinks` run. `change` is what `hostwall apply` writes once etcd is back.
 */
export async function etcdOutageDuringFlood(fleet: Fleet, sinks: Sinks, opts: { downMs: number; pps: number; change: string }): Promise<OutageResult> {
  const n = fleet.hosts.length;
  const status = (i: number) => fleet.hosts[i]!.agent!.status().catch(() => undefined);
  const all = () => Promise.all(fleet.hosts.map((_, i) => status(i)));
  const flooder = peerAddr(0);
  const flood = startFlood(fleet.peers[0]!, fleet, opts.pps);
  try {
    // The flood runs before, during and after the outage.
    await Bun.sleep(1000);
    const killedAt = performance.now();
    await fleet.etcd.kill();
    const disconnectedMs: number[] = Array(n).fill(-1);
    const flapped = new Set<number>();
    const downUntil = killedAt + opts.downMs;
    while (performance.now() < downUntil) {
      const st = await all();
      const t = performance.now() - killedAt;
      st.forEach((s, i) => {
        if (s?.datastore?.connected === false && disconnectedMs[i]! < 0) disconnectedMs[i] = Math.round(t);
        if (s?.datastore?.connected === true && disconnectedMs[i]! >= 0) flapped.add(i);
      });
      await Bun.sleep(Math.min(100, Math.max(0, downUntil - performance.now())));
    }
    const generations = (await all()).map((s) => (s?.generation as number) ?? 0);
    await fleet.etcd.start();
    const readyAt = performance.now();
    const applyStart = performance.now();
    const applied = await fleet.cli(["apply", "-f", "-"], { stdin: opts.change });
    const applyCliMs = Math.round(performance.now() - applyStart);
    if (applied.code !== 0) throw new Error(`hostwall apply after etcd's return: ${applied.err}`);
    const resyncMs: number[] = Array(n).fill(-1);
    let changeMs = -1;
    const deadline = readyAt + 30_000;
    while (performance.now() < deadline) {
      const st = await all();
      const t = Math.round(performance.now() - readyAt);
      st.forEach((s, i) => {
        if (s?.datastore?.connected === true && resyncMs[i]! < 0) resyncMs[i] = t;
      });
      if (st.every((s, i) => (s?.generation ?? 0) > generations[i]!)) {
        changeMs = t;
        break;
      }
      await Bun.sleep(50);
    }
    const sent = await flood.stop();
    await Bun.sleep(300);
    const leaked = fleet.hosts.map((_, i) => sinks.from(i, flooder));
    return { downMs: opts.downMs, sent, leaked, disconnectedMs, flapped: [...flapped], resyncMs, changeMs, applyCliMs };
  } finally {
    await flood.stop().catch(() => undefined);
  }
}
