/**
 * Seeded random policy sets and probes for test/kernel/differential.test.ts, plus the oracle
 * that turns the reference evaluator's per-packet verdicts into "is this probe answered".
 * Pure: no I/O, so the generator and the oracle can be checked without the kernel.
 *
 * A policy set is one HostEndpoint of the lab host (eth0, or "*"), maybe one for eth1 (towards
 * the backend) and a "*" one, network sets that do or do not contain the client, attacker and
 * backend, maybe a HostEndpoint of another node (feeds rule selectors and named ports), maybe a profile, tiers, FelixConfiguration failsafes and deny
 * action, and 1-6 GlobalNetworkPolicies of every kind (normal, applyOnForward, preDNAT,
 * doNotTrack) with random rules over the fields the lab can tell apart: protocol (names and
 * numbers, negated), ICMP type/code (negated), ipVersion, nets/notNets, selector/notSelector
 * with namespaceSelector, numeric/range/named ports (negated) on either side, every action.
 * Invalid combinations are redrawn (the validator decides), so every set is a config hostwall
 * accepts by construction; that the validator and the loader got it right is checked on its
 * own: each scenario keeps the generated documents and the rejected draws with their codes, and
 * differential-gen.test.ts pins how many first draws the validator accepts and compares the
 * loaded model, selector members and policy lists with what the documents say
 * (differential-check.ts, which shares no code with the loader, selectors or CIDRs).
 *
 * Port assumption: a probe's client-side port is ephemeral (Linux 32768-60999). Every port
 * and range the generator writes stays below 32768, so any ephemeral port gets the same
 * verdict as the representative {@link EPHEMERAL}.
 */
import { formatDiagnostic } from "../../src/diagnostics/diagnostic.ts";
import { loadConfig } from "../../src/validate/load.ts";
import { Evaluator } from "../../src/explain/evaluate.ts";
import type { Explanation, Packet } from "../../src/explain/explanation.ts";
import type { Model } from "../../src/model/types.ts";

export const NODE = "jasper";
export const EPHEMERAL = 45000;

/** Lab addresses (test/kernel/lab.ts defaults, with the backend). */
export const ADDR = {
  host: { v4: "192.0.2.10", v6: "2001:db8:2::10" },
  client: { v4: "192.0.2.20", v6: "2001:db8:2::20" },
  attacker: { v4: "192.0.2.66", v6: "2001:db8:2::66" },
  hostBackend: { v4: "198.51.100.10", v6: "2001:db8:51::10" },
  backend: { v4: "198.51.100.20", v6: "2001:db8:51::20" },
} as const;
/** Machines that send and answer probes. */
export type Machine = "host" | "client" | "attacker" | "backend";

/** Echo servers per machine. */
export const SERVERS: Record<Machine, { tcp: number[]; udp: number[] }> = {
  host: { tcp: [22, 80, 179, 8080, 9000], udp: [5353, 6000] },
  client: { tcp: [80, 179, 8080], udp: [53, 5353] },
  attacker: { tcp: [80, 8080], udp: [5353] },
  backend: { tcp: [80, 8080], udp: [5353] },
};

/** The host interface a machine is reached through. */
export const IFACE_OF: Record<Exclude<Machine, "host">, "eth0" | "eth1"> = { client: "eth0", attacker: "eth0", backend: "eth1" };

/** The address a probe to `to` is sent to, when it comes from `from`. */
export function addressOf(to: Machine, from: Machine, family: 4 | 6): string {
  const pair = to === "host" ? (from === "backend" ? ADDR.hostBackend : ADDR.host) : ADDR[to];
  return family === 4 ? pair.v4 : pair.v6;
}

/**
 * One probe: from → to, kind, family, port. One of from/to is the host (local traffic), or a
 * LAN machine talks to the backend through the host (forwarded traffic).
 */
export interface ProbeDef {
  from: Machine;
  to: Machine;
  kind: "tcp" | "udp" | "ping";
  family: 4 | 6;
  port?: number;
}

export function probeName(p: ProbeDef): string {
  return `${p.from}→${p.to} ${p.kind}${p.port ? `/${p.port}` : ""} IPv${p.family}`;
}

/** Every probe the lab can send: to and from the host on both interfaces, and forwarded between the LAN and the backend. */
export function allProbes(): ProbeDef[] {
  const out: ProbeDef[] = [];
  const to = (from: Machine, dest: Machine, family: 4 | 6) => {
    for (const port of SERVERS[dest].tcp) out.push({ from, to: dest, kind: "tcp", family, port });
    for (const port of SERVERS[dest].udp) out.push({ from, to: dest, kind: "udp", family, port });
    out.push({ from, to: dest, kind: "ping", family });
  };
  for (const family of [4, 6] as const) {
    for (const peer of ["client", "attacker", "backend"] as const) {
      to(peer, "host", family);
      to("host", peer, family);
    }
    for (const peer of ["client", "attacker"] as const) {
      to(peer, "backend", family);
      to("backend", peer, family);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Randomness.

export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  /** mulberry32 */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  some<T>(items: readonly T[], min: number, max: number): T[] {
    const pool = [...items];
    const n = Math.min(this.int(min, max), pool.length);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(pool.splice(Math.floor(this.next() * pool.length), 1)[0]!);
    return out;
  }
  weighted<T>(items: ReadonlyArray<readonly [T, number]>): T {
    const total = items.reduce((s, [, w]) => s + w, 0);
    let x = this.next() * total;
    for (const [v, w] of items) if ((x -= w) < 0) return v;
    return items[items.length - 1]![0];
  }
}

// ---------------------------------------------------------------------------------------
// YAML (a small block-style writer: readable failure reports, valid YAML 1.2).

export type Yaml = string | number | boolean | undefined | Yaml[] | { [k: string]: Yaml };

function scalar(v: string | number | boolean): string {
  if (typeof v !== "string") return String(v);
  return /^[A-Za-z][A-Za-z0-9._/-]*$/.test(v) && !/^(true|false|null|yes|no|on|off|y|n)$/i.test(v) ? v : JSON.stringify(v);
}

function isFlat(v: Yaml): boolean {
  return Array.isArray(v) ? v.every((x) => typeof x !== "object") : typeof v !== "object" || Object.values(v).every((x) => typeof x !== "object");
}

function flow(v: Yaml): string {
  if (Array.isArray(v)) return `[${v.map((x) => flow(x)).join(", ")}]`;
  if (typeof v === "object") return `{${Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => `${scalar(k)}: ${flow(x)}`).join(", ")}}`;
  return scalar(v as string);
}

export function toYaml(v: Yaml, indent = ""): string {
  if (Array.isArray(v)) {
    return v.map((x) => (typeof x === "object" && !isFlat(x) ? `${indent}- ${toYaml(x, `${indent}  `).trimStart()}` : `${indent}- ${flow(x)}`)).join("\n");
  }
  if (typeof v === "object") {
    return Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]) => {
        if (typeof x !== "object" || isFlat(x)) return `${indent}${scalar(k)}: ${flow(x)}`;
        return `${indent}${scalar(k)}:\n${toYaml(x, Array.isArray(x) ? indent : `${indent}  `)}`;
      })
      .join("\n");
  }
  return `${indent}${scalar(v as string)}`;
}

// ---------------------------------------------------------------------------------------
// The generator.

const NETS4 = [`${ADDR.client.v4}/32`, `${ADDR.attacker.v4}/32`, "192.0.2.0/24", "192.0.2.64/27", "203.0.113.0/24", `${ADDR.host.v4}/32`, `${ADDR.backend.v4}/32`, "198.51.100.0/24"];
const NETS6 = [`${ADDR.client.v6}/128`, `${ADDR.attacker.v6}/128`, "2001:db8:2::/64", "2001:db8:2::40/122", "2001:db8:99::/48", `${ADDR.host.v6}/128`, `${ADDR.backend.v6}/128`, "2001:db8:51::/64"];
const SET_NETS = [`${ADDR.client.v4}/32`, `${ADDR.attacker.v4}/32`, `${ADDR.client.v6}/128`, `${ADDR.attacker.v6}/128`, "192.0.2.0/25", "192.0.2.64/26", "2001:db8:2::/120", "198.51.100.0/24", "203.0.113.7", `${ADDR.backend.v4}/32`, "2001:db8:51::/112"];
const RULE_SELECTORS = ["list == 'a'", "list == 'b'", "has(list)", "list in {'a', 'c'}", "!has(list)", "role == 'peer'", "role == 'host'", "all()", "kind == 'x'", "has(list) && kind != 'x'", "role == 'back'"];
const POLICY_SELECTORS: ReadonlyArray<readonly [string, number]> = [["role == 'host'", 10], ["all()", 2], ["zone == 'a'", 2], ["has(zone)", 1], ["role == 'peer'", 1], ["role == 'back'", 3], ["role == 'any'", 2], ["role in {'host', 'back'}", 2]];
const TCP_PORTS: Yaml[] = [22, 80, 179, 8080, 9000, "8000:8100", "1:1024", "5000:9999", 53];
const UDP_PORTS: Yaml[] = [53, 5353, 6000, "5000:7000", "1:1024"];
const NAMED = ["web", "dns", "alt"];
const POLICY_NAMES = ["base", "base-x", "base.x", "allow-web", "deny", "edge", "zed", "audit"];

type Proto = string | number | undefined;
const protoNumber = (p: Proto): number | undefined => (p === undefined ? undefined : typeof p === "number" ? p : /^\d+$/.test(p) ? Number(p) : ({ TCP: 6, UDP: 17, ICMP: 1, ICMPv6: 58 } as Record<string, number>)[p]);

function genRule(r: Rng, dir: "ingress" | "egress", untracked: boolean): Record<string, Yaml> {
  const rule: Record<string, Yaml> = {};
  rule.action = r.weighted([["Allow", 34], ["Deny", 28], ["Pass", 14], ["Log", 10]] as const);
  const protocol = r.weighted<Proto>([[undefined, 8], ["TCP", 8], ["UDP", 6], ["ICMP", 3], ["ICMPv6", 3], [6, 2], [17, 2], [1, 1], [58, 1], ["17", 1]]);
  if (protocol !== undefined) rule.protocol = protocol;
  const num = protoNumber(protocol);
  if (r.chance(0.08)) rule.notProtocol = r.pick<Yaml>(["TCP", "UDP", "ICMP", "ICMPv6", 6, 17, 1, 58]);
  if (r.chance(0.1)) rule.ipVersion = r.pick([4, 6]);
  // The family any nets of this rule use.
  const fam: 4 | 6 = (rule.ipVersion as 4 | 6 | undefined) ?? (protocol === "ICMP" ? 4 : protocol === "ICMPv6" ? 6 : r.pick([4, 6] as const));
  if ((num === 1 || num === 58) && r.chance(0.5)) {
    const v6 = num === 58;
    const icmp: Record<string, Yaml> = { type: r.pick(v6 ? [128, 129, 1, 8] : [8, 0, 3, 128]) };
    if (r.chance(0.3)) icmp.code = r.pick([0, 1]);
    rule.icmp = icmp;
  }
  if (r.chance(0.07)) {
    const n: Record<string, Yaml> = { type: r.pick([8, 0, 128, 129]) };
    if (r.chance(0.3)) n.code = r.pick([0, 1]);
    rule.notICMP = n;
  }
  const portProto = num === 6 || num === 17;
  const pool = num === 17 ? UDP_PORTS : TCP_PORTS;
  for (const sideName of ["source", "destination"] as const) {
    const side: Record<string, Yaml> = {};
    // For untracked egress, replies leave from the server port: give source ports a chance.
    const portBias = (sideName === "destination") === (dir === "ingress") || untracked ? 0.4 : 0.12;
    if (r.chance(0.2)) side.nets = r.some(fam === 4 ? NETS4 : NETS6, 1, 2);
    if (r.chance(0.1)) side.notNets = r.some(fam === 4 ? NETS4 : NETS6, 1, 2);
    if (r.chance(0.22)) {
      side.selector = r.pick(RULE_SELECTORS);
      if (r.chance(0.25)) side.namespaceSelector = r.weighted([["global()", 5], ["all()", 1]] as const);
    }
    if (r.chance(0.1)) side.notSelector = r.pick(RULE_SELECTORS);
    if (portProto) {
      if (r.chance(portBias)) side.ports = [...r.some(pool, 1, 2), ...(r.chance(0.2) ? [r.pick(NAMED)] : [])];
      if (r.chance(portBias / 3)) side.notPorts = r.some([...pool, ...NAMED], 1, 2);
    } else if (protocol === undefined && r.chance(portBias / 2)) {
      side.ports = [r.pick(NAMED)];
    }
    if (Object.keys(side).length > 0) rule[sideName] = side;
  }
  return rule;
}

export interface Scenario {
  seed: number;
  yaml: string;
  model: Model;
  probes: ProbeDef[];
  /** How many draws were rejected by the validator before this one. */
  redraws: number;
  /** The generated documents (what the YAML says), for checks independent of the loader. */
  docs: Yaml[];
  /** Each draw the validator rejected before this one (avoided draws excluded), with its error codes. */
  rejected: Array<{ docs: Yaml[]; codes: string[] }>;
}

function genDocs(r: Rng): Yaml[] {
  const H = { apiVersion: "projectcalico.org/v3" };
  const docs: Yaml[] = [];
  const hostLabels: Record<string, Yaml> = { role: "host" };
  if (r.chance(0.3)) hostLabels.zone = "a";
  const profiles = r.weighted<string[]>([[[], 5], [["projectcalico-default-allow"], 3], [["gen"], 2], [["gen", "projectcalico-default-allow"], 2], [["ghost"], 1]]);
  docs.push({
    ...H,
    kind: "HostEndpoint",
    metadata: { name: "host", labels: hostLabels },
    spec: {
      node: NODE,
      interfaceName: r.chance(0.1) ? "*" : "eth0",
      expectedIPs: [ADDR.host.v4, ADDR.host.v6],
      profiles: profiles.length ? profiles : undefined,
      ports: r.chance(0.7)
        ? [
            { name: "web", protocol: "TCP", port: 8080 },
            { name: "dns", protocol: "UDP", port: 5353 },
            { name: "alt", protocol: "TCP", port: 9000 },
            { name: "alt", protocol: "UDP", port: 6000 },
          ]
        : undefined,
    },
  });
  // The backend side (eth1), and a "*" endpoint for every other interface.
  if (r.chance(0.5)) {
    docs.push({ ...H, kind: "HostEndpoint", metadata: { name: "back", labels: { role: "back" } }, spec: { node: NODE, interfaceName: "eth1", expectedIPs: [ADDR.hostBackend.v4, ADDR.hostBackend.v6], profiles: r.chance(0.4) ? ["projectcalico-default-allow"] : undefined } });
  }
  if (r.chance(0.15)) {
    docs.push({ ...H, kind: "HostEndpoint", metadata: { name: "any", labels: { role: "any" } }, spec: { node: NODE, interfaceName: "*", profiles: r.chance(0.5) ? ["projectcalico-default-allow"] : undefined } });
  }
  if (r.chance(0.4)) {
    const who = r.pick(["client", "attacker", "backend"] as const);
    const labels: Record<string, Yaml> = { role: "peer" };
    if (r.chance(0.4)) labels.list = r.pick(["a", "b"]);
    docs.push({
      ...H,
      kind: "HostEndpoint",
      metadata: { name: "peer", labels },
      spec: { node: "elsewhere", interfaceName: "eth0", expectedIPs: [ADDR[who].v4, ADDR[who].v6], ports: r.chance(0.5) ? [{ name: "web", protocol: "TCP", port: 80 }] : undefined },
    });
  }
  if (profiles.includes("gen")) {
    const spec: Record<string, Yaml> = { labelsToApply: r.chance(0.5) ? { zone: r.pick(["a", "b"]) } : undefined };
    const ing = Array.from({ length: r.int(0, 2) }, () => genRule(r, "ingress", false));
    const eg = Array.from({ length: r.int(0, 2) }, () => genRule(r, "egress", false));
    if (ing.length) spec.ingress = ing;
    if (eg.length) spec.egress = eg;
    docs.push({ ...H, kind: "Profile", metadata: { name: "gen" }, spec });
  }
  const setCount = r.int(1, 3);
  for (let i = 0; i < setCount; i++) {
    const labels: Record<string, Yaml> = { list: r.pick(["a", "b", "c"]) };
    if (r.chance(0.3)) labels.kind = "x";
    docs.push({ ...H, kind: "GlobalNetworkSet", metadata: { name: `set-${i}`, labels }, spec: { nets: r.some(SET_NETS, 1, 3) } });
  }
  const tiers = ["default"];
  for (const name of r.some(["t-one", "t-two"], 0, 2)) {
    tiers.push(name);
    docs.push({ ...H, kind: "Tier", metadata: { name }, spec: { order: r.pick([1, 50, 1_000_000, 2_000_000]), defaultAction: r.pick(["Deny", "Pass"]) } });
  }
  if (r.chance(0.3)) {
    const spec: Record<string, Yaml> = {};
    if (r.chance(0.6)) {
      spec.failsafeInboundHostPorts = r.some<Yaml>([{ protocol: "TCP", port: 22 }, { protocol: "TCP", port: 80, net: `${ADDR.client.v4}/32` }, { protocol: "UDP", port: 5353 }, { protocol: "TCP", port: 8080, net: "2001:db8:2::/64" }], 0, 2);
    }
    if (r.chance(0.6)) spec.failsafeOutboundHostPorts = r.some<Yaml>([{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 80, net: `${ADDR.attacker.v4}/32` }, { protocol: "UDP", port: 5353 }], 0, 2);
    if (r.chance(0.3)) spec.nftablesFilterDenyAction = "Reject";
    docs.push({ ...H, kind: "FelixConfiguration", metadata: { name: "default" }, spec });
  }
  for (const name of r.some(POLICY_NAMES, 1, 6)) {
    const kind = r.weighted([["normal", 6], ["untracked", 2], ["preDNAT", 2]] as const);
    const spec: Record<string, Yaml> = { tier: tiers.length > 1 ? r.pick(tiers) : undefined, order: r.pick<Yaml>([undefined, 1, 1, 2, 10, 0.5, -1, 100]), selector: r.weighted(POLICY_SELECTORS) };
    let types: string[] | undefined;
    if (kind === "preDNAT") {
      spec.preDNAT = true;
      spec.applyOnForward = true;
      types = r.chance(0.5) ? ["Ingress"] : undefined;
    } else {
      if (kind === "untracked") {
        spec.doNotTrack = true;
        spec.applyOnForward = true;
      } else if (r.chance(0.3)) spec.applyOnForward = true;
      types = r.pick([undefined, ["Ingress"], ["Egress"], ["Ingress", "Egress"], ["Ingress", "Egress"]]);
    }
    if (types) spec.types = types;
    const wantIn = !types || types.includes("Ingress") || r.chance(0.1);
    const wantEg = kind !== "preDNAT" && (!types ? r.chance(0.5) : types.includes("Egress") || r.chance(0.1));
    if (wantIn) {
      const n = r.int(0, 4);
      if (n) spec.ingress = Array.from({ length: n }, () => genRule(r, "ingress", kind === "untracked"));
    }
    if (wantEg) {
      const n = r.int(0, 4);
      if (n) spec.egress = Array.from({ length: n }, () => genRule(r, "egress", kind === "untracked"));
    }
    docs.push({ ...H, kind: "GlobalNetworkPolicy", metadata: { name }, spec });
  }
  return docs;
}

/**
 * Rule shapes a hunt can steer around (redrawn, so the random stream of other seeds does not
 * change): for looking past a known disagreement to the next one. Empty in the strict run.
 */
export const AVOIDABLE: Record<string, (rule: Record<string, Yaml>) => boolean> = {
  // (rule-level shapes; DOC_AVOIDABLE below looks at whole sets)
  /** a rule with ipVersion */
  ipversion: (rule) => rule.ipVersion !== undefined,
  /** notICMP together with a TCP/UDP protocol */
  "noticmp-proto": (rule) => rule.notICMP !== undefined && [6, 17].includes(protoNumber(rule.protocol as Proto) ?? 0),
  /** a named port in a rule without protocol */
  "named-noproto": (rule) =>
    rule.protocol === undefined &&
    [rule.source, rule.destination].some((side) => side !== undefined && [...(((side as any).ports ?? []) as Yaml[]), ...(((side as any).notPorts ?? []) as Yaml[])].some((p) => typeof p === "string" && NAMED.includes(p))),
  /** a namespaceSelector other than global() */
  "nsselector": (rule) => [rule.source, rule.destination].some((side) => side !== undefined && (side as any).namespaceSelector !== undefined && (side as any).namespaceSelector !== "global()"),
};

/** Whole-set shapes a hunt can steer around. */
export const DOC_AVOIDABLE: Record<string, (docs: Yaml[]) => boolean> = {
  /** a "*" endpoint next to a named one, with applyOnForward policies (forward dispatch) */
  "star-aof": (docs) => {
    const d = docs as Array<Record<string, any>>;
    const heps = d.filter((x) => x.kind === "HostEndpoint" && x.spec.node === NODE);
    return heps.some((h) => h.spec.interfaceName === "*") && heps.some((h) => h.spec.interfaceName !== "*") && d.some((x) => x.kind === "GlobalNetworkPolicy" && x.spec.applyOnForward && !x.spec.doNotTrack && !x.spec.preDNAT);
  },
};

function rulesOf(docs: Yaml[]): Record<string, Yaml>[] {
  const out: Record<string, Yaml>[] = [];
  for (const d of docs as Array<Record<string, any>>) {
    for (const dir of ["ingress", "egress"]) if (Array.isArray(d.spec?.[dir])) out.push(...d.spec[dir]);
  }
  return out;
}

/** The scenario of one seed: a valid config and a random subset of probes. */
export function scenario(seed: number, probeCount = 16, avoid: readonly string[] = []): Scenario {
  const r = new Rng(seed);
  const rejected: Scenario["rejected"] = [];
  for (let redraws = 0; redraws < 200; redraws++) {
    const docs = genDocs(r);
    if (avoid.some((a) => DOC_AVOIDABLE[a]?.(docs))) continue;
    if (avoid.length > 0 && rulesOf(docs).some((rule) => avoid.some((a) => AVOIDABLE[a]?.(rule)))) continue;
    const yaml = docs.map((d) => toYaml(d)).join("\n---\n") + "\n";
    const { model, diagnostics } = loadConfig([{ path: "differential.yaml", text: yaml }], { node: NODE });
    const errors = diagnostics.filter((d) => d.severity === "error");
    if (errors.length > 0) {
      rejected.push({ docs, codes: [...new Set(errors.map((d) => d.code))].sort() });
      continue;
    }
    return { seed, yaml, model, probes: r.some(allProbes(), probeCount, probeCount), redraws, docs, rejected };
  }
  throw new Error(`seed ${seed}: no valid config in 200 draws${avoid.length ? ` avoiding ${avoid.join(", ")}` : ""}`);
}

/** For debugging the generator: the validator's errors of one draw. */
export function validationErrors(yaml: string): string[] {
  return loadConfig([{ path: "differential.yaml", text: yaml }], { node: NODE }).diagnostics.filter((d) => d.severity === "error").map(formatDiagnostic);
}

// ---------------------------------------------------------------------------------------
// The oracle: request and reply through the evaluator.

export interface Expectation {
  answered: boolean;
  request: Packet;
  requestResult: Explanation;
  reply?: Packet;
  replyResult?: Explanation;
  /** TCP only, when it decides: the client's ACK and data after the reply (probe.ts needs the whole exchange). */
  followUp?: Packet;
  followUpResult?: Explanation;
}

/**
 * A probe is answered iff the request is not denied on its way through the host's endpoint,
 * and the reply is not denied on its way back. The reply's conntrack state follows from the
 * request: tracked requests make the reply established; a request allowed by an untracked
 * policy left no conntrack entry, so the reply is new (UDP) or invalid (a TCP SYN-ACK or an
 * ICMP echo reply cannot start a connection); the untracked stage sees the reply either way.
 * A TCP probe is a whole exchange (probe.ts), so its client's ACK and data must pass too.
 */
export function expectProbe(ev: Evaluator, p: ProbeDef): Expectation {
  const src = addressOf(p.from, p.to, p.family);
  const dst = addressOf(p.to, p.from, p.family);
  const protocol = p.kind === "tcp" ? 6 : p.kind === "udp" ? 17 : p.family === 4 ? 1 : 58;
  const base = { family: p.family, protocol } as const;
  /** How a packet from `a` to `b` passes the host. */
  const path = (a: Machine, b: Machine): Pick<Packet, "direction" | "inInterface" | "outInterface"> =>
    a === "host" ? { direction: "egress", outInterface: IFACE_OF[b as Exclude<Machine, "host">] } :
    b === "host" ? { direction: "ingress", inInterface: IFACE_OF[a] } :
    { direction: "forward", inInterface: IFACE_OF[a], outInterface: IFACE_OF[b as Exclude<Machine, "host">] };
  const request: Packet = {
    ...base,
    ...(p.kind === "ping" ? { icmpType: p.family === 4 ? 8 : 128, icmpCode: 0 } : { srcPort: EPHEMERAL, dstPort: p.port }),
    ...path(p.from, p.to),
    src,
    dst,
    conntrack: "new",
  };
  const requestResult = ev.evaluate(request);
  if (requestResult.verdict === "deny") return { answered: false, request, requestResult };
  const replyCt: Packet["conntrack"] = !requestResult.notrack ? "established" : p.kind === "udp" ? "new" : "invalid";
  const reply: Packet = {
    ...base,
    ...(p.kind === "ping" ? { icmpType: p.family === 4 ? 0 : 129, icmpCode: 0 } : { srcPort: p.port, dstPort: EPHEMERAL }),
    ...path(p.to, p.from),
    src: dst,
    dst: src,
    conntrack: replyCt,
  };
  const replyResult = ev.evaluate(reply);
  const answered = replyResult.verdict !== "deny";
  // A TCP probe also needs the client's ACK and data (probe.ts). They take the request's path
  // and get its verdict, except when the request was conntracked and the reply (allowed
  // untracked) was not: conntrack still holds the connection in SYN_SENT and takes the
  // client's ACK as invalid.
  if (!answered || p.kind !== "tcp" || requestResult.notrack || !replyResult.notrack) return { answered, request, requestResult, reply, replyResult };
  const followUp: Packet = { ...request, conntrack: "invalid" };
  const followUpResult = ev.evaluate(followUp);
  return { answered: followUpResult.verdict !== "deny", request, requestResult, reply, replyResult, followUp, followUpResult };
}

export function evaluatorFor(s: Scenario, options?: ConstructorParameters<typeof Evaluator>[2]): Evaluator {
  return new Evaluator(s.model, NODE, options);
}

// ---------------------------------------------------------------------------------------
// Known deviations of hostwall, for labelling disagreements (reports and hunting).

/**
 * Deviations of hostwall from Calico that this test found, each with a way to evaluate the
 * policy set the way hostwall does, so that a disagreement can be labelled with the known
 * issue it comes from (and a hunt can look past it). The strict test does not use this to
 * excuse anything.
 */
export const KNOWN_ISSUES: Record<string, string> = {
  "notICMP+TCP/UDP": "a rule with notICMP and protocol TCP/UDP makes nft reject the whole ruleset (apply fails)",
  ipVersion: "rule ipVersion is ignored: the rule applies to both families",
  "named-port-protocol": "a named port in a rule without protocol matches every protocol the endpoint declares (Calico: TCP only)",
  namespaceSelector: "a namespaceSelector other than global() is ignored (Calico: only namespaced things match)",
  "forward-ct-invalid": "forwarded conntrack-invalid packets pass a host endpoint that has no applyOnForward policy in that direction (Calico drops them)",
  "star-forward": 'the "*" endpoint\'s applyOnForward policies also govern forwarded traffic of interfaces that named endpoints claim (Calico: only unclaimed interfaces)',
};

/** A deep copy of plain data that keeps functions (origins locate lazily) by reference: structuredClone refuses them. */
function deepCopy<T>(value: T): T {
  if (Array.isArray(value)) return value.map(deepCopy) as T;
  if (value && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, deepCopy(v)])) as T;
  }
  return value;
}

function stripModel(model: Model, edit: (rule: Model["policies"][number]["ingress"][number]) => void): Model {
  const copy = deepCopy(model);
  for (const owner of [...copy.policies, ...copy.profiles]) for (const rule of [...owner.ingress, ...owner.egress]) edit(rule);
  return copy;
}

/** Evaluators (and oracle tweaks) that reproduce each known issue. */
function variants(s: Scenario): Array<{ id: string; ev: Evaluator; forwardInvalidAsNew: boolean }> {
  const noIpVersion = stripModel(s.model, (r) => {
    r.ipVersion = undefined;
  });
  const noNsSel = (m: Model) =>
    stripModel(m, (r) => {
      for (const side of [r.source, r.destination]) if (side.namespaceSelector && side.namespaceSelector.kind !== "global") side.namespaceSelector = undefined;
    });
  const all = new Evaluator(noNsSel(noIpVersion), NODE, { namedPortsWithoutProtocol: "any" });
  return [
    { id: "ipVersion", ev: new Evaluator(noIpVersion, NODE), forwardInvalidAsNew: false },
    { id: "named-port-protocol", ev: new Evaluator(s.model, NODE, { namedPortsWithoutProtocol: "any" }), forwardInvalidAsNew: false },
    { id: "namespaceSelector", ev: new Evaluator(noNsSel(s.model), NODE), forwardInvalidAsNew: false },
    { id: "forward-ct-invalid", ev: new Evaluator(s.model, NODE), forwardInvalidAsNew: true },
    { id: "several of the above", ev: all, forwardInvalidAsNew: true },
  ];
}

function expectProbeVariant(ev: Evaluator, p: ProbeDef, forwardInvalidAsNew: boolean): boolean {
  const e = expectProbe(ev, p);
  if (!forwardInvalidAsNew || !e.reply || e.reply.direction !== "forward" || e.reply.conntrack !== "invalid") return e.answered;
  return ev.evaluate({ ...e.reply, conntrack: "new" }).verdict !== "deny";
}

/** The known issue that explains a disagreement (the kernel's answer), or undefined. */
export function classify(s: Scenario, p: ProbeDef, kernelAnswered: boolean): string | undefined {
  for (const v of variants(s)) if (expectProbeVariant(v.ev, p, v.forwardInvalidAsNew) === kernelAnswered) return v.id;
  return undefined;
}
