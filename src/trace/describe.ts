/**
 * One traced packet (its nft trace events) → what hostwall did to it, in the words of the
 * policy: each deciding rule's stage, endpoint side, tier, policy or profile, rule index and
 * file:line:col, the final verdict and where it was taken, and the reference evaluator's
 * prediction for the same packet. Pure: the events and the model are the input.
 *
 * Names are read back from what the compiler writes (src/nft/names.ts for chains, the rule
 * comments of match.ts and sequences.ts): `gnp/<policy>/<dir>/<i>`, `pro/<profile>/<dir>/<i>`,
 * `tier <t>: no policy decided`, `hep/<ep>/<dir>: no policy or profile allowed`, `failsafe ...`.
 */
import { Evaluator } from "../explain/evaluate.ts";
import type { Explanation, Packet } from "../explain/explanation.ts";
import type { Model, Origin } from "../model/types.ts";
import { TABLE } from "../nft/names.ts";
import { parsePacketFields, type PacketFields, type TraceEvent } from "./events.ts";

export type TraceStage = "untracked" | "preDNAT" | "normal" | "forward";

/** One rule or chain policy that did something to the packet (a verdict, or a Log hit). */
export interface TraceStep {
  stage?: TraceStage;
  /** The interface of the endpoint chain, when one ran. */
  interface?: string;
  table: string;
  chain: string;
  /** accept, drop, log (a Log rule, no verdict). */
  action: string;
  /** What the rule is, in policy words: `gnp dos-mitigation rule 0 (tier default)`, `failsafe inbound`, ... */
  what: string;
  /** The rule's comment as listed. */
  comment?: string;
  /** Where the rule is written. */
  at?: string;
}

export interface TraceResult {
  id: string;
  packet: PacketFields;
  /** One line: `tcp 192.0.2.66:40000 -> 192.0.2.10:22 in eth0`. */
  summary: string;
  /** accept or drop: what the kernel did in the traced hooks. */
  verdict: "accept" | "drop";
  /** The step that took the verdict (undefined: no rule did; the chains' policy accept). */
  decidedBy?: TraceStep;
  steps: TraceStep[];
  /** No hostwall endpoint chain ran: the interface is not governed. */
  governed: boolean;
  /** The evaluator's answer, when the packet could be described to it. */
  predicted?: { verdict: "allow" | "deny" | "none"; what: string };
  /** Prediction and kernel disagree. */
  mismatch: boolean;
}

/**
 * Whether a packet's trace is over: the kernel reuses trace ids (they are derived from the
 * socket buffer's address), so the next packet can arrive under the same id, and events of one
 * id must be cut into packets. It is over at a drop anywhere, and at an accept in hostwall's
 * filter hooks (input, output, forward: its last hooks, where the tracked stages run).
 */
export function traceComplete(events: readonly TraceEvent[]): boolean {
  const e = events[events.length - 1];
  if (!e) return false;
  if (e.verdict === "drop") return true;
  if (e.family !== "inet" || e.table !== TABLE || !(e.verdict === "accept" || e.verdict?.startsWith("accept "))) return false;
  // The stage is that of the last base or endpoint chain: policy and failsafe chains are
  // shared (failsafe-in runs in the pre-DNAT stage as well, where an accept is not the end).
  for (let i = events.length - 1; i >= 0; i--) {
    const c = events[i]!;
    if (c.family !== "inet" || c.table !== TABLE) continue;
    const stage = BASE_STAGE[c.chain] ?? STAGE_OF[ENDPOINT_CHAIN.exec(c.chain)?.[1] ?? ""];
    if (stage) return stage === "normal" || stage === "forward";
  }
  return false;
}

/** A new packet under a reused id starts with its packet line in the first trace chain. */
export function tracePacketStart(e: TraceEvent): boolean {
  return e.kind === "packet" && e.table === `${TABLE}-trace` && e.family === "netdev";
}

const BASE_STAGE: Record<string, TraceStage> = {
  "raw-prerouting": "untracked", "raw-output": "untracked", "mangle-prerouting": "preDNAT",
  "filter-input": "normal", "filter-output": "normal", "filter-forward": "forward",
};
const ENDPOINT_CHAIN = /^(untracked|prednat|normal|forward)-(in|out)-(.+)$/;
const STAGE_OF: Record<string, TraceStage> = { untracked: "untracked", prednat: "preDNAT", normal: "normal", forward: "forward" };

export function describeTrace(id: string, events: readonly TraceEvent[], model: Model, evaluator: Evaluator | undefined): TraceResult {
  const packet: PacketFields = {};
  // The first packet line has the addresses as they arrived; a later one (after DNAT in the nat
  // hook) may carry a new destination, which the evaluator's later stages must see.
  let after: PacketFields | undefined;
  for (const e of events) {
    if (e.kind !== "packet") continue;
    const f = parsePacketFields(e.text);
    for (const [k, v] of Object.entries(f)) if (v !== undefined && !(k in packet)) (packet as Record<string, unknown>)[k] = v;
    if (f.dst !== undefined) after = f;
  }
  const dnat = after && (after.dst !== packet.dst || after.dport !== packet.dport) ? { dst: after.dst!, ...(after.dport !== undefined ? { dstPort: after.dport } : {}) } : undefined;
  const steps: TraceStep[] = [];
  let stage: TraceStage | undefined;
  let iface: string | undefined;
  let governed = false;
  let dropped: TraceStep | undefined;
  let lastAccept: TraceStep | undefined;
  let lastAllow: TraceStep | undefined;
  let established = false;
  for (const e of events) {
    if (e.table !== TABLE) {
      // Another table dropped it (not hostwall's word, but the answer to "why dropped").
      if (e.verdict === "drop" && !e.table.startsWith(`${TABLE}-trace`)) {
        dropped ??= { table: `${e.family} ${e.table}`, chain: e.chain, action: "drop", what: `table ${e.family} ${e.table} chain ${e.chain} (not hostwall's)`, ...(e.comment ? { comment: e.comment } : {}) };
        steps.push(dropped);
      }
      continue;
    }
    if (e.family === "netdev" && e.chain.startsWith("ingress-")) {
      stage = "untracked";
      iface = e.chain.slice("ingress-".length);
      governed = true;
    } else if (BASE_STAGE[e.chain]) {
      stage = BASE_STAGE[e.chain];
      iface = undefined;
    } else {
      const m = ENDPOINT_CHAIN.exec(e.chain);
      if (m) {
        stage = STAGE_OF[m[1]!];
        iface = m[3] === "any" ? "*" : m[3];
        governed = true;
      }
    }
    // A base chain's policy accept hands the packet to the next hook: not a decision.
    if (e.kind === "policy" && e.verdict === "accept") continue;
    const verdict = e.kind === "policy" ? e.verdict : e.verdict?.split(" ")[0];
    const isLog = e.kind === "rule" && / log prefix /.test(` ${e.text} `);
    // A policy's Allow or Pass sets its mark bit and returns; the endpoint chain accepts on the mark.
    const marks = verdict === "return" && /^(gnp|pro)\//.test(e.comment ?? "") ? (/\| 0x00010000\b/.test(e.text) ? "allow" : /\| 0x00020000\b/.test(e.text) ? "pass" : undefined) : undefined;
    if (verdict !== "accept" && verdict !== "drop" && !isLog && !marks) continue;
    const step: TraceStep = {
      ...(stage ? { stage } : {}), ...(iface ? { interface: iface } : {}), table: `${e.family} ${e.table}`, chain: e.chain,
      action: marks ?? (isLog && verdict !== "drop" && verdict !== "accept" ? "log" : verdict!),
      ...(e.comment !== undefined ? { comment: e.comment } : {}),
      ...nameRule(e, model),
    };
    if (/\bct state established/.test(e.text) && verdict === "accept") established = true;
    steps.push(step);
    if (step.action === "drop") dropped ??= step;
    if (step.action === "allow") lastAllow = step;
    // An accept on the mark (or the untracked fast path) is the Allow that set it.
    if (step.action === "accept") lastAccept = lastAllow && !e.comment?.startsWith("failsafe") && !/\bct state established/.test(e.text) ? lastAllow : step;
    if (dropped) break;
  }
  const verdict = dropped ? "drop" : "accept";
  const result: TraceResult = { id, packet, summary: summarize(packet), verdict, ...(dropped ? { decidedBy: dropped } : lastAccept ? { decidedBy: lastAccept } : {}), steps, governed, mismatch: false };
  const p = evaluator ? toPacket(packet, established, dnat) : undefined;
  if (evaluator && p) {
    const ex = evaluator.evaluate(p);
    result.predicted = { verdict: ex.verdict, what: predictedWhat(ex) };
    result.mismatch = (ex.verdict === "deny") !== (verdict === "drop");
  }
  return result;
}

/** The rule's meaning and position, from its comment (or its text when it has none). */
function nameRule(e: TraceEvent, model: Model): { what: string; at?: string } {
  const c = e.comment ?? "";
  const where = (o: Origin | undefined) => (o ? { at: `${o.file}:${o.line}:${o.column}` } : {});
  let m = /^gnp\/([^/]+)\/(ingress|egress)\/(\d+)$/.exec(c);
  if (m) {
    const policy = model.policies.find((p) => p.kind === "GlobalNetworkPolicy" && p.meta.name === m![1]);
    const rule = policy?.[m[2] as "ingress" | "egress"][Number(m[3])];
    return { what: `policy ${m[1]} ${m[2]} rule ${m[3]}${policy ? ` (tier ${policy.tier})` : ""}`, ...where(rule?.origin) };
  }
  m = /^pro\/([^/]+)\/(ingress|egress)\/(\d+)$/.exec(c);
  if (m) {
    const rule = model.profiles.find((p) => p.meta.name === m![1])?.[m[2] as "ingress" | "egress"][Number(m[3])];
    return { what: `profile ${m[1]} ${m[2]} rule ${m[3]}`, ...where(rule?.origin) };
  }
  m = /^tier (\S+): no policy decided$/.exec(c);
  if (m) return { what: `end of tier ${m[1]} (no policy decided)`, ...where(model.tiers.find((t) => t.meta.name === m![1] && t.meta.origin.file !== "(built-in)")?.meta.origin) };
  m = /^hep\/([^/]+)\/(ingress|egress): /.exec(c);
  if (m) return { what: `default deny of HostEndpoint ${m[1]} ${m[2]} (no policy or profile allowed)`, ...where(model.hostEndpoints.find((h) => h.meta.name === m![1])?.meta.origin) };
  if (c.startsWith("failsafe")) return { what: c };
  if (c === "allowed by the untracked stage") return { what: "untracked fast path (allowed by an untracked policy, notrack)" };
  if (c) return { what: c };
  if (e.kind === "policy") return { what: `chain policy ${e.verdict}` };
  if (/\bct state established/.test(e.text)) return { what: "conntrack shortcut (established or related flow)" };
  if (/meta mark & 0x00010000 == 0x00010000/.test(e.text)) return { what: "accept mark (allowed by an earlier stage)" };
  if (/ log prefix /.test(` ${e.text} `)) return { what: `log ${/log prefix "([^"]*)"/.exec(e.text)?.[1] ?? ""}`.trim() };
  return { what: `rule ${e.text}` };
}

const PROTO: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, "ipv6-icmp": 58, icmpv6: 58, sctp: 132, udplite: 136 };
const ICMP: Record<string, number> = { "echo-reply": 0, "destination-unreachable": 3, "echo-request": 8, "time-exceeded": 11 };
const ICMP6: Record<string, number> = {
  "destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "parameter-problem": 4, "echo-request": 128, "echo-reply": 129,
  "nd-router-solicit": 133, "nd-router-advert": 134, "nd-neighbor-solicit": 135, "nd-neighbor-advert": 136,
};

/** The evaluator's Packet for the traced one; undefined when a field it needs is missing. */
export function toPacket(f: PacketFields, established: boolean, dnat?: Packet["dnat"]): Packet | undefined {
  if (!f.family || !f.src || !f.dst || !f.protocol || (!f.iif && !f.oif)) return undefined;
  const protocol = PROTO[f.protocol] ?? (/^\d+$/.test(f.protocol) ? Number(f.protocol) : undefined);
  if (protocol === undefined) return undefined;
  const direction = f.iif && f.oif ? "forward" : f.iif ? "ingress" : "egress";
  const p: Packet = { direction, family: f.family, src: f.src, dst: f.dst, protocol, conntrack: established ? "established" : "new" };
  if (f.iif) p.inInterface = f.iif;
  if (f.oif) p.outInterface = f.oif;
  if (f.sport !== undefined) p.srcPort = f.sport;
  if (f.dport !== undefined) p.dstPort = f.dport;
  if (dnat) p.dnat = dnat;
  const types = f.family === 4 ? ICMP : ICMP6;
  if (f.icmpType !== undefined) {
    const t = types[f.icmpType] ?? (/^\d+$/.test(f.icmpType) ? Number(f.icmpType) : undefined);
    if (t !== undefined) p.icmpType = t;
  }
  return p;
}

export function summarize(f: PacketFields): string {
  const ep = (a?: string, port?: number) => (a === undefined ? "?" : port === undefined ? a : f.family === 6 ? `[${a}]:${port}` : `${a}:${port}`);
  const icmp = f.icmpType ? ` ${f.icmpType}` : "";
  const where = [f.iif ? `in ${f.iif}` : "", f.oif ? `out ${f.oif}` : ""].filter(Boolean).join(" ");
  return `${f.protocol ?? "?"}${icmp} ${ep(f.src, f.sport)} -> ${ep(f.dst, f.dport)}${where ? ` ${where}` : ""}`;
}

function predictedWhat(ex: Explanation): string {
  const r = ex.decidedBy.reason;
  const stage = `${ex.decidedBy.stage} ${ex.decidedBy.side}`;
  switch (r.kind) {
    case "rule": return `${stage}: policy ${r.policy} ${ex.decidedBy.side} rule ${r.ruleIndex} (tier ${r.tier}, ${r.action})`;
    case "profile-rule": return `${stage}: profile ${r.profile} rule ${r.ruleIndex} (${r.action})`;
    case "end-of-tier": return `${stage}: end of tier ${r.tier}`;
    case "failsafe": return `${stage}: failsafe ${r.list} ${r.protocol}/${r.port}`;
    default: return `${stage}: ${r.kind}`;
  }
}
