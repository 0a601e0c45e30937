/**
 * Text for an Explanation: what `hostwall explain` prints and what the differential test
 * shows when the kernel and the evaluator disagree. The verdict comes first with the thing
 * that decided it, then every stage the packet went through, then the Log rules it hit:
 *
 *   packet: IPv4 tcp 192.0.2.66 → 192.0.2.10 port 80, in eth0 to a host process, conntrack new
 *   verdict: deny (drop)
 *   decided by: tier default, policy dos-mitigation, ingress rule 0 (Deny)
 *     in the untracked stage, ingress of eth0 (HostEndpoint production-host)
 *     at rules/30-dos-mitigation.yaml:14:7 (nft comment gnp/dos-mitigation/ingress/0)
 *   steps:
 *     1. untracked ingress eth0 [HostEndpoint production-host]: deny — tier default, policy dos-mitigation, ingress rule 0 (Deny)
 *
 * Where a rule is defined is the caller's to say (`locate`): the evaluator knows names and
 * indexes, not files.
 */
import type { Direction } from "../model/types.ts";
import type { Explanation, LogHit, Packet, Reason, Step } from "./explanation.ts";

export interface FormatOptions {
  /** The packet explained, printed first as the evaluator took it. */
  packet?: Packet;
  /** Where the policy rule, profile rule, tier or endpoint of a reason is defined, printed under it. */
  locate?: (reason: Reason, side: Direction, endpoint?: string) => string | undefined;
}

/** One line for a reason; with `side`, policy and profile rules say which rule list they are in. */
function describeReason(r: Reason, side?: Direction): string {
  const list = side ? `${side} ` : "";
  switch (r.kind) {
    case "no-endpoint": return `no HostEndpoint governs ${r.interface}: untouched`;
    case "ipv6-disabled": return "ipv6Support is false: IPv6 is untouched";
    case "conntrack": return `conntrack state ${r.state}`;
    case "accept-mark": return `already accepted by the ${r.from} stage (accept mark)`;
    case "failsafe": return `failsafe ${r.list} ${r.protocol}:${r.port}${r.net ? ` net ${r.net}` : ""}${r.reverse ? " (reverse direction, by source port)" : ""}`;
    case "rule": return `tier ${r.tier}, policy ${r.policy}, ${list}rule ${r.ruleIndex} (${r.action})`;
    case "end-of-tier": return `end of tier ${r.tier} (defaultAction Deny)`;
    case "fall-through": return r.tiers === 0 ? "no policy in this stage" : `no policy decided (${r.tiers} tier${r.tiers === 1 ? "" : "s"})`;
    case "profile-rule": return `profile ${r.profile}, ${list}rule ${r.ruleIndex} (${r.action})`;
    case "default-allow-profile": return "profile projectcalico-default-allow";
    case "missing-profile": return `profile ${r.profile} is not defined: deny-all`;
    case "no-profile-matched": return "no policy or profile allowed it: default deny";
    case "forward-default-allow": return "no applyOnForward policy in this direction: forwarded traffic allowed";
  }
}

const VERDICT: Record<Explanation["verdict"], string> = {
  allow: "allow",
  deny: "deny",
  none: "none: hostwall lets the packet pass, the rest of the ruleset decides",
};

const OUTCOME: Record<Step["outcome"], string> = {
  allow: "allow",
  deny: "deny",
  accept: "accept in this hook only, the next stage still runs",
  none: "no verdict",
};

/** A readable multi-line account of an explanation (no trailing newline). */
export function formatExplanation(e: Explanation, opts: FormatOptions = {}): string {
  const lines: string[] = [];
  if (opts.packet) lines.push(`packet: ${describePacket(opts.packet)}`);
  const d = e.decidedBy;
  const how = [e.denyAction, e.notrack ? "notrack: allowed untracked, not conntracked" : undefined].filter(Boolean).join(", ");
  lines.push(`verdict: ${VERDICT[e.verdict]}${how ? ` (${how})` : ""}`);
  lines.push(`decided by: ${describeReason(d.reason, d.side)}`);
  if (d.stage !== "dispatch") lines.push(`  in the ${d.stage} stage, ${d.side} of ${d.interface}${d.endpoint ? ` (HostEndpoint ${d.endpoint})` : ""}`);
  const decidedAt = opts.locate?.(d.reason, d.side, d.endpoint);
  if (decidedAt) lines.push(`  ${decidedAt}`);
  lines.push("steps:");
  e.steps.forEach((s, i) => {
    // A dispatch step precedes the endpoint's chains: it has no side of its own.
    lines.push(`  ${i + 1}. ${s.stage}${s.stage === "dispatch" ? "" : ` ${s.side}`} ${s.interface}${s.endpoint ? ` [HostEndpoint ${s.endpoint}]` : ""}: ${OUTCOME[s.outcome]} — ${describeReason(s.reason, s.side)}`);
  });
  if (e.logs.length > 0) lines.push("logs:");
  for (const l of e.logs) {
    lines.push(`  "${l.prefix}: " from ${describeReason(logReason(l), l.side)}, ${l.stage} stage`);
    const where = opts.locate?.(logReason(l), l.side);
    if (where) lines.push(`    ${where}`);
  }
  return lines.join("\n");
}

/** A Log hit as the reason it would be if the rule had decided. */
function logReason(l: LogHit): Reason {
  return l.kind === "gnp" ? { kind: "rule", tier: l.tier, policy: l.owner, ruleIndex: l.ruleIndex, action: "Log" } : { kind: "profile-rule", profile: l.owner, ruleIndex: l.ruleIndex, action: "Log" };
}

const PROTOCOL_NAMES: Readonly<Record<number, string>> = { 1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp", 136: "udplite" };

/** `IPv4 tcp 192.0.2.20 port 40000 → 192.0.2.10 port 80, in eth0 to a host process, conntrack new`. */
function describePacket(p: Packet): string {
  const endpoint = (addr: string, port: number | undefined) => (port === undefined ? addr : `${addr} port ${port}`);
  const proto = PROTOCOL_NAMES[p.protocol] ?? `protocol ${p.protocol}`;
  const icmp = p.icmpType === undefined ? "" : ` type ${p.icmpType}${p.icmpCode === undefined ? "" : ` code ${p.icmpCode}`}`;
  const dnat = p.dnat ? ` (DNAT to ${endpoint(p.dnat.dst, p.dnat.dstPort ?? p.dstPort)})` : "";
  const path =
    p.direction === "ingress" ? `in ${p.inInterface} to a host process` :
    p.direction === "egress" ? `from a host process out ${p.outInterface}` :
    `forwarded in ${p.inInterface}, out ${p.outInterface}`;
  return `IPv${p.family} ${proto}${icmp} ${endpoint(p.src, p.srcPort)} → ${endpoint(p.dst, p.dstPort)}${dnat}, ${path}, conntrack ${p.conntrack ?? "new"}`;
}
