/**
 * Shared fixture of the semantics-*.test.ts kernel tests: one lab with a backend (host
 * forwards between eth0 and eth1), echo servers on every machine, pinned neighbour entries,
 * and the real hostwall binary as the agent, reconfigured per scenario.
 *
 *   client 192.0.2.20 / 2001:db8:2::20 ─┐
 *   attacker 192.0.2.66 / 2001:db8:2::66 ┼─ LAN ── eth0 host eth1 ── backend 198.51.100.20 / 2001:db8:51::20
 *                        host eth0 192.0.2.10 / 2001:db8:2::10,  eth1 198.51.100.10 / 2001:db8:51::10
 *
 * Why neighbours are pinned: a HostEndpoint with default deny drops IPv6 neighbour
 * discovery like any other ICMPv6 (Calico exempts nothing for host endpoints), so once a
 * lab's neighbour entries went stale every IPv6 probe would fail for a reason unrelated
 * to the rule under test. Permanent entries in every lab namespace remove that coupling;
 * they touch only namespaces the lab created.
 *
 * A scenario is a complete config: {@link SemLab.apply} writes it as the only file of the
 * agent's config dir and forces a reload (`POST /reload`), failing the test unless the
 * agent applied it. Probes are then checked all at once against exact expectations
 * (probe.ts probeReport; a dropped probe costs PROBE_TIMEOUT_MS, a passing one milliseconds).
 *
 * A test file calls {@link useSemLab} once in its describe block (the lab's beforeAll and
 * afterAll hooks, netns logging on request) and writes its expectations as {@link Row}s,
 * mostly in IPv4/IPv6 pairs from {@link both} and {@link tcp}. Scenarios stay YAML text,
 * built with the envelope helpers at the end of this file.
 */
import { rmSync } from "node:fs";
import { afterAll, beforeAll, expect } from "bun:test";
import { createLab, enableNetnsLogging, loadNft, nftCounter, PROBE_TIMEOUT_MS, probeReport, startServers, sweepStaleLabs, type Lab, type Ns, type ProbeResult, type ProbeSpec } from "./lab";
import { makeConfigDir, startAgent, waitFor, writeConfig, type AgentHandle } from "./agent-harness";
import { reloadOrThrow } from "../support/agent-api";

/** Where probes come from. */
export type From = "client" | "attacker" | "backend" | "host";
/** Where probes go: `host` is host eth0 (LAN side), `hostBackend` host eth1. */
export type To = "host" | "hostBackend" | "client" | "attacker" | "backend";
/** One expected probe outcome: from, kind, IP family, to, port (tcp/udp), answered? */
export type Row = [From, ProbeSpec["kind"], 4 | 6, To, number | undefined, boolean];
/** A probe without its expectation. */
export type Probe = [From, ProbeSpec["kind"], 4 | 6, To, number | undefined];

/** Ports the echo servers listen on, per machine. */
export const SERVER_PORTS: Record<"host" | "client" | "attacker" | "backend", { tcp: number[]; udp: number[] }> = {
  host: { tcp: [22, 80, 179, 8080, 8081, 8443, 9000], udp: [5353, 6000] },
  client: { tcp: [80, 179, 8080, 8081], udp: [5353] },
  attacker: { tcp: [80, 8080], udp: [5353] },
  backend: { tcp: [80, 8080, 8081], udp: [5353] },
};

export const NODE = "jasper";

export interface SemLab {
  tag: string;
  lab: Lab;
  agent: AgentHandle;
  configDir: string;
  /** Replace the whole config with `yaml` and make the agent apply it; returns the attempt. */
  apply(yaml: string): Promise<any>;
  /** Probe specs for rows (without expectations). */
  spec(row: Probe | Row, timeoutMs?: number): ProbeSpec;
  /** Run the rows concurrently; "" when all match, else a readable report of the mismatches. */
  reach(rows: Row[], timeoutMs?: number): Promise<string>;
  /** Same as reach, and asserts. */
  expectReach(rows: Row[], timeoutMs?: number): Promise<ProbeResult[]>;
  /** Packets counted by rules with this comment (inet table unless `family` says netdev). */
  packets(comment: string, where?: { family?: "inet" | "netdev"; chain?: string }): Promise<number>;
  destroy(): Promise<void>;
}

export function addrOf(lab: Lab, to: To, family: 4 | 6): string {
  const pair = to === "host" ? lab.addr.host : to === "hostBackend" ? lab.addr.hostBackend : lab.addr[to];
  return family === 4 ? pair.v4 : pair.v6;
}

async function macOf(ns: Ns, dev: string): Promise<string> {
  const r = await ns.exec(["ip", "-j", "link", "show", "dev", dev]);
  if (r.code !== 0) throw new Error(`ip link show ${dev} in ${ns.name}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as Array<{ address: string }>)[0]!.address;
}

/** Permanent IPv4 and IPv6 neighbour entries for every peer on both lab segments. */
export async function pinNeighbours(lab: Lab): Promise<void> {
  type Port = { ns: Ns; dev: string; v4: string; v6: string };
  const lan: Port[] = [
    { ns: lab.host, dev: "eth0", ...lab.addr.host },
    { ns: lab.client, dev: "eth0", ...lab.addr.client },
    { ns: lab.attacker, dev: "eth0", ...lab.addr.attacker },
  ];
  const back: Port[] = lab.backend
    ? [
        { ns: lab.host, dev: "eth1", ...lab.addr.hostBackend },
        { ns: lab.backend, dev: "eth0", ...lab.addr.backend },
      ]
    : [];
  const lines = new Map<Ns, string[]>();
  for (const segment of [lan, back]) {
    const macs = await Promise.all(segment.map((p) => macOf(p.ns, p.dev)));
    segment.forEach((me) => {
      segment.forEach((peer, j) => {
        if (peer === me) return;
        const l = lines.get(me.ns) ?? [];
        l.push(`neigh replace ${peer.v4} lladdr ${macs[j]} dev ${me.dev} nud permanent`);
        l.push(`neigh replace ${peer.v6} lladdr ${macs[j]} dev ${me.dev} nud permanent`);
        lines.set(me.ns, l);
      });
    });
  }
  for (const [ns, l] of lines) {
    const r = await ns.exec(["ip", "-batch", "-"], { stdin: `${l.join("\n")}\n` });
    if (r.code !== 0) throw new Error(`pinning neighbours in ${ns.name}: ${r.stderr}`);
  }
}

/** Create the lab, servers and agent. `topic` names the tag: `hw-s<topic>-<pid36>`. */
export async function setupSemLab(topic: string): Promise<SemLab> {
  const prefix = `hw-s${topic}-`;
  const tag = `${prefix}${process.pid.toString(36)}`;
  await sweepStaleLabs(prefix);
  const lab = await createLab({ tag, withBackend: true });
  let configDir: string | undefined;
  try {
    await pinNeighbours(lab);
    await Promise.all([
      startServers(lab.host, SERVER_PORTS.host),
      startServers(lab.client, SERVER_PORTS.client),
      startServers(lab.attacker, SERVER_PORTS.attacker),
      startServers(lab.backend!, SERVER_PORTS.backend),
    ]);
    configDir = makeConfigDir();
    const dir = configDir;
    const agent = startAgent(lab.host, { configDir: dir, node: NODE });
    await waitFor("the agent's first apply (/readyz 200)", async () => (await agent.get("/readyz"))?.status === 200, 15_000);

    const nodeOf = (f: From): Ns => (f === "backend" ? lab.backend! : lab[f]);
    const spec = (row: Probe | Row, timeoutMs = PROBE_TIMEOUT_MS): ProbeSpec => {
      const [from, kind, family, to, port] = row;
      return { from: nodeOf(from), kind, addr: addrOf(lab, to, family), port, timeoutMs };
    };
    const reachRows = (rows: Row[], timeoutMs?: number) => probeReport(rows.map((r) => [spec(r, timeoutMs), r[5]]));
    const sem: SemLab = {
      tag,
      lab,
      agent,
      configDir: dir,
      spec,
      async apply(yaml: string) {
        writeConfig(dir, "hostwall.yaml", yaml);
        try {
          return await reloadOrThrow(lab.host, agent.socket, agent.log);
        } catch (e) {
          throw new Error(`${(e as Error).message}\n--- config ---\n${yaml}`);
        }
      },
      async reach(rows, timeoutMs) {
        return (await reachRows(rows, timeoutMs)).report;
      },
      async expectReach(rows, timeoutMs) {
        const { report, results } = await reachRows(rows, timeoutMs);
        expect(report).toBe("");
        return results;
      },
      async packets(comment, where = {}) {
        return (await nftCounter(lab.host, { family: where.family ?? "inet", table: "hostwall", comment, chain: where.chain })).packets;
      },
      async destroy() {
        await lab.destroy();
        rmSync(dir, { recursive: true, force: true });
      },
    };
    return sem;
  } catch (e) {
    await lab.destroy().catch(() => {});
    if (configDir) rmSync(configDir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * The lab of one test file: registers, in the enclosing describe block, a beforeAll that
 * sets it up (after enabling netfilter logging from lab namespaces when `logging` is set)
 * and an afterAll that destroys it (and releases the logging). Returns a stand-in that
 * forwards to the lab once it is set up, so tests and later hooks write `s.apply(...)`;
 * touching it before (at describe time, or after a failed setup) throws.
 */
export function useSemLab(topic: string, o: { logging?: boolean } = {}): SemLab {
  let sem: SemLab | undefined;
  let release: (() => void) | undefined;
  beforeAll(async () => {
    if (o.logging) release = enableNetnsLogging();
    sem = await setupSemLab(topic);
  }, 60_000);
  afterAll(async () => {
    await sem?.destroy();
    release?.();
  }, 30_000);
  return new Proxy({} as SemLab, {
    get(_, key) {
      if (!sem) throw new Error(`the ${topic} lab is not set up (used outside a test, or its setup failed)`);
      return Reflect.get(sem, key);
    },
  });
}

// ---------------------------------------------------------------------------------------
// Expectations. A probe is usually checked in both IP families at once.

/**
 * The same probe over IPv4 and IPv6, expecting `ok4` and `ok6` (by default the same). The
 * outcome is a boolean for a {@link Row}, or any other label a test compares (e.g. "refused").
 */
export function both<O extends boolean | string = boolean>(from: From, kind: ProbeSpec["kind"], to: To, port: number | undefined, ok4: O, ok6: O = ok4): Array<[...Probe, O]> {
  return [
    [from, kind, 4, to, port, ok4],
    [from, kind, 6, to, port, ok6],
  ];
}

/** A TCP connection to `port` over IPv4 and IPv6: {@link both} for the most common probe. */
export function tcp(from: From, to: To, port: number, ok4: boolean, ok6 = ok4): Row[] {
  return both(from, "tcp", to, port, ok4, ok6);
}

/** Every probe kind from `from` to `to` in both families, all expected `ok`, for the given ports. */
export function allKinds(from: From, to: To, ok: boolean, tcp: number, udp: number): Row[] {
  return ([4, 6] as const).flatMap((f): Row[] => [
    [from, "tcp", f, to, tcp, ok],
    [from, "udp", f, to, udp, ok],
    [from, "ping", f, to, undefined, ok],
  ]);
}

// ---------------------------------------------------------------------------------------
// YAML builders. Scenarios are written as YAML text so a failing test shows the exact
// resources; these only cut the repetition of the envelopes.

/** A `---` stream of documents. */
export const docs = (...parts: string[]) => parts.map((p) => p.trim()).join("\n---\n") + "\n";

export interface HepOpts {
  name?: string;
  labels?: Record<string, string>;
  profiles?: string[];
  expectedIPs?: string[];
  node?: string;
  /** Omit for an expectedIPs-only endpoint. */
  interfaceName?: string;
}

const yamlMap = (m: Record<string, string>) => `{ ${Object.entries(m).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(", ")} }`;
const yamlList = (l: string[]) => `[${l.map((x) => JSON.stringify(x)).join(", ")}]`;

/** A HostEndpoint; labels default to `host: "true"` so policies select it with `host == 'true'`. */
export function hep(iface: string | undefined, o: HepOpts = {}): string {
  const name = o.name ?? `hep-${iface ?? "ips"}`;
  const labels = o.labels ?? { host: "true" };
  const lines = [
    "apiVersion: projectcalico.org/v3",
    "kind: HostEndpoint",
    "metadata:",
    `  name: ${name}`,
    `  labels: ${yamlMap(labels)}`,
    "spec:",
    `  node: ${o.node ?? NODE}`,
  ];
  if (iface !== undefined) lines.push(`  interfaceName: ${JSON.stringify(iface)}`);
  if (o.expectedIPs) lines.push(`  expectedIPs: ${yamlList(o.expectedIPs)}`);
  if (o.profiles) lines.push(`  profiles: ${yamlList(o.profiles)}`);
  return lines.join("\n");
}

/** A FelixConfiguration named `default`; `specLines` are `key: value` lines of its spec. */
export function felix(specLines: string[]): string {
  return ["apiVersion: projectcalico.org/v3", "kind: FelixConfiguration", "metadata:", "  name: default", "spec:", ...specLines.map((l) => `  ${l}`)].join("\n");
}

/** A Tier. */
export function tier(name: string, order?: number, defaultAction?: "Deny" | "Pass"): string {
  const spec = [order !== undefined ? `  order: ${order}` : "", defaultAction ? `  defaultAction: ${defaultAction}` : ""].filter(Boolean);
  return ["apiVersion: projectcalico.org/v3", "kind: Tier", "metadata:", `  name: ${name}`, spec.length ? "spec:" : "spec: {}", ...spec].join("\n");
}

/** A GlobalNetworkSet. */
export function gns(name: string, labels: Record<string, string>, nets: string[]): string {
  return ["apiVersion: projectcalico.org/v3", "kind: GlobalNetworkSet", "metadata:", `  name: ${name}`, `  labels: ${yamlMap(labels)}`, "spec:", `  nets: ${yamlList(nets)}`].join("\n");
}

/**
 * A GlobalNetworkPolicy: `body` is the YAML of its spec below `selector` (indented two
 * spaces, e.g. "  types: [Ingress]\n  ingress:\n  - action: Allow").
 */
export function gnp(name: string, body: string, selector = "host == 'true'"): string {
  return ["apiVersion: projectcalico.org/v3", "kind: GlobalNetworkPolicy", "metadata:", `  name: ${name}`, "spec:", `  selector: ${JSON.stringify(selector)}`, body.replace(/\n+$/, "")].join("\n");
}

/** Ingress rules used by several scenarios: Deny TCP 8081, then Allow TCP 8080. */
export const DENY_8081_ALLOW_8080 = `  ingress:
  - action: Deny
    protocol: TCP
    destination:
      ports: [8081]
  - action: Allow
    protocol: TCP
    destination:
      ports: [8080]`;

/**
 * kube-proxy's part in the node-port scenarios: DNAT of TCP node ports on the host's eth0
 * addresses to the backend (`{ 30080: 8080 }`: host:30080 → backend:8080, IPv4 and IPv6), in
 * a table of the lab's own next to hostwall's. Returns the function that removes it.
 */
export async function loadNodePorts(lab: Lab, ports: Record<number, number>): Promise<() => Promise<void>> {
  const { host, backend } = lab.addr;
  const rules = Object.entries(ports).flatMap(([node, to]) => [
    `ip daddr ${host.v4} tcp dport ${node} dnat ip to ${backend.v4}:${to}`,
    `ip6 daddr ${host.v6} tcp dport ${node} dnat ip6 to [${backend.v6}]:${to}`,
  ]);
  await loadNft(lab.host, `table inet labnat {\n  chain prerouting {\n    type nat hook prerouting priority -100; policy accept;\n${rules.map((r) => `    ${r}\n`).join("")}  }\n}\n`);
  return async () => {
    await lab.host.exec(["nft", "delete", "table", "inet", "labnat"]);
  };
}
