/**
 * The lockout check (issue #14 item 3): before a new config is applied, would it cut a live
 * management session (sessions.ts: the established inbound TCP connections of the agent's
 * namespace, and the SSH session of the command that asked)?
 *
 * Each session is asked of the reference evaluator (explain/evaluate.ts) with the new model,
 * three times: its next packet in (conntrack established), the host's reply out (established),
 * and the same connection opened anew (conntrack new: what a reconnect meets). A deny of either
 * established packet cuts the session at once (an untracked deny, typically); a deny of the new
 * one locks the operator out at the next reconnect. Sessions a failsafe port lets in are not
 * management sessions to worry about: the failsafe keeps them whatever the policy says. A
 * session the model in force denies too is not the change's doing. The evaluator scans member
 * sets linearly, so the check has a time budget; what it does not reach is said
 * (LOCKOUT_UNCHECKED), and so is a socket table that cannot be read: it never blocks silently.
 */
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import { Evaluator } from "../explain/evaluate.ts";
import type { Explanation, Packet, Reason } from "../explain/explanation.ts";
import { formatCidr, type Cidr } from "../model/cidr.ts";
import type { Direction, Model } from "../model/types.ts";
import type { Session, SessionTable } from "./sessions.ts";

/** At most this many distinct sessions (peer, local address and port) are evaluated. */
export const MAX_SESSIONS = 4096;

/** What the new config does to one session. */
export interface LockoutFinding {
  session: Session;
  /** cut: its own packets are denied now; reconnect: a new connection like it would be denied. */
  effect: "cut" | "reconnect";
  /** The interface the session uses (the one holding its local address). */
  interface: string;
  /** The denying explanation. */
  explanation: Explanation;
}

export interface LockoutResult {
  /** Sessions the new config would deny. */
  findings: LockoutFinding[];
  /** Distinct sessions evaluated. */
  checked: number;
  /** Sessions a failsafe covers (not evaluated further). */
  failsafe: number;
  /** Sessions not evaluated: loopback, an address on no interface, over MAX_SESSIONS or the time budget. */
  skipped: number;
  /** Sessions left unchecked because the time budget ran out (the evaluator scans sets linearly: huge deny lists are slow). */
  outOfTime: number;
  /** Sessions the new config denies, but so does the ruleset in force (`before`): not the change's doing. */
  alreadyDenied: number;
}

/** How long the check may take before an apply, at most (ms); the sessions it did not reach are reported. */
export const CHECK_BUDGET_MS = 1000;

/** Evaluates the sessions against a model. Pure. */
export function checkLockout(model: Model, node: string, sessions: readonly Session[], addresses: ReadonlyMap<string, readonly Cidr[]>, budget?: { now(): number; until: number }, before?: Model): LockoutResult {
  const interfaceAddresses = Object.fromEntries([...addresses].map(([name, list]) => [name, list.map(formatCidr)]));
  const owner = new Map<string, string>();
  for (const [name, list] of addresses) for (const c of list) if (!owner.has(formatCidr(c))) owner.set(formatCidr(c), name);
  const evaluator = new Evaluator(model, node, { interfaceAddresses });
  // What the ruleset in force says of the same packet: a session it denies already is not the change's doing.
  let previous: Evaluator | undefined;
  const deniedBefore = (p: Packet) => before !== undefined && (previous ??= new Evaluator(before, node, { interfaceAddresses })).evaluate(p).verdict === "deny";
  const result: LockoutResult = { findings: [], checked: 0, failsafe: 0, skipped: 0, outOfTime: 0, alreadyDenied: 0 };
  const seen = new Set<string>();
  for (const s of sessions) {
    const key = `${s.peer}|${s.local}|${s.localPort}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const iface = owner.get(s.local);
    if (!iface || iface === "lo" || result.checked >= MAX_SESSIONS) {
      result.skipped++;
      continue;
    }
    if (budget && budget.now() > budget.until) {
      result.skipped++;
      result.outOfTime++;
      continue;
    }
    result.checked++;
    const tcp = { family: s.family, protocol: 6 } as const;
    const inNew: Packet = { ...tcp, direction: "ingress", inInterface: iface, src: s.peer, dst: s.local, srcPort: s.peerPort, dstPort: s.localPort, conntrack: "new" };
    const fresh = evaluator.evaluate(inNew);
    if (fresh.decidedBy.reason.kind === "failsafe") {
      result.failsafe++;
      continue;
    }
    const inEst = evaluator.evaluate({ ...inNew, conntrack: "established" });
    const outEst = evaluator.evaluate({ ...tcp, direction: "egress", outInterface: iface, src: s.local, dst: s.peer, srcPort: s.localPort, dstPort: s.peerPort, conntrack: "established" } satisfies Packet);
    const outPacket: Packet = { ...tcp, direction: "egress", outInterface: iface, src: s.local, dst: s.peer, srcPort: s.localPort, dstPort: s.peerPort, conntrack: "established" };
    const cut = [[inEst, { ...inNew, conntrack: "established" }], [outEst, outPacket]].find(([e]) => (e as Explanation).verdict === "deny") as [Explanation, Packet] | undefined;
    if (cut && !deniedBefore(cut[1])) result.findings.push({ session: s, effect: "cut", interface: iface, explanation: cut[0] });
    else if (!cut && fresh.verdict === "deny" && !deniedBefore(inNew)) result.findings.push({ session: s, effect: "reconnect", interface: iface, explanation: fresh });
    else if (cut || fresh.verdict === "deny") result.alreadyDenied++;
  }
  return result;
}

/** `198.51.100.7:51234 → 192.0.2.10:22` (IPv6 in brackets). */
export function describeSession(s: Session): string {
  const at = (a: string, p: number) => (a.includes(":") ? `[${a}]:${p}` : `${a}:${p}`);
  return `${at(s.peer, s.peerPort)} → ${at(s.local, s.localPort)}`;
}

/** The findings as diagnostics at the rule (or endpoint, tier) that denies; errors unless `allowed`. */
export function lockoutDiagnostics(result: LockoutResult, model: Model, allowed: string | undefined): Diagnostic[] {
  return result.findings.map((f) => {
    const d = f.explanation.decidedBy;
    const where = locate(model, d.reason, d.side, d.endpoint);
    const what = f.effect === "cut" ? "would cut the live session" : "would deny a new connection like the live session";
    const by = `${describeReason(d.reason, d.side)} in the ${d.stage} stage, ${d.side} of ${d.interface}`;
    const tail = allowed ? `; applied anyway (${allowed})` : "; nothing is applied (hostwall reload --confirm DUR, or --allow-lockout, to apply it anyway)";
    return {
      code: "LOCKOUT_RISK",
      severity: allowed ? "warning" : "error",
      message: `the new config ${what} ${describeSession(f.session)} (tcp on ${f.interface}${f.session.source === "ssh" ? ", the SSH session running hostwall" : ""}): denied by ${by}${tail}`,
      ...where,
    } satisfies Diagnostic;
  });
}

/** The diagnostic for a socket table that could not be read: the apply goes on, unchecked. */
export function uncheckedDiagnostic(error: string): Diagnostic {
  return { code: "LOCKOUT_UNCHECKED", severity: "warning", message: `${error}: not checked for a lockout (the apply goes on)` };
}

function describeReason(r: Reason, side: Direction): string {
  switch (r.kind) {
    case "rule": return `tier ${r.tier}, policy ${r.policy}, ${side} rule ${r.ruleIndex} (${r.action})`;
    case "end-of-tier": return `the end of tier ${r.tier} (defaultAction Deny)`;
    case "profile-rule": return `profile ${r.profile}, ${side} rule ${r.ruleIndex} (${r.action})`;
    case "missing-profile": return `profile ${r.profile}, which is not defined (deny-all)`;
    case "no-profile-matched": return "the endpoint's default deny (no policy or profile allowed it)";
    default: return r.kind;
  }
}

/** Where the thing that denies is written: file, line, column, resource and path. */
function locate(model: Model, r: Reason, side: Direction, endpoint?: string): Partial<Diagnostic> {
  if (r.kind === "rule" || r.kind === "profile-rule") {
    const owner = r.kind === "rule" ? model.policies.find((p) => p.kind === "GlobalNetworkPolicy" && p.meta.name === r.policy) : model.profiles.find((p) => p.meta.name === r.profile);
    const rule = owner?.[side][r.ruleIndex];
    if (!owner || !rule) return {};
    return { file: rule.origin.file, line: rule.origin.line, column: rule.origin.column, resource: `${r.kind === "rule" ? "GlobalNetworkPolicy" : "Profile"}/${owner.meta.name}`, path: `spec.${side}[${r.ruleIndex}]` };
  }
  if (r.kind === "end-of-tier") {
    const tier = model.tiers.find((t) => t.meta.name === r.tier);
    return tier && tier.meta.origin.file !== "(built-in)" ? { file: tier.meta.origin.file, line: tier.meta.origin.line, column: tier.meta.origin.column, resource: `Tier/${r.tier}` } : { resource: `Tier/${r.tier}` };
  }
  const hep = model.hostEndpoints.find((h) => h.meta.name === endpoint);
  return hep ? { file: hep.meta.origin.file, line: hep.meta.origin.line, column: hep.meta.origin.column, resource: `HostEndpoint/${hep.meta.name}` } : {};
}

export interface LockoutGateOptions {
  model: Model;
  node: string;
  addresses: ReadonlyMap<string, readonly Cidr[]>;
  /** The socket table read now, or undefined when this agent reads none (tests, fakes). */
  table?: SessionTable;
  /** Sessions named by the request (the SSH session of the command that asked). */
  extra?: readonly Session[];
  /** Why a lockout is applied anyway (`--allow-lockout`, a confirm window), or undefined: refused. */
  allowed?: string;
  /** The model in force: a session it denies already is not reported (the change does not cut it). */
  before?: Model;
}

/** The check before an apply: its diagnostics (LOCKOUT_RISK errors or warnings, LOCKOUT_UNCHECKED), and whether to refuse. */
export function lockoutGate(opts: LockoutGateOptions): { diagnostics: Diagnostic[]; refuse: boolean; result?: LockoutResult } {
  const diagnostics: Diagnostic[] = [];
  if (opts.table && !opts.table.ok) diagnostics.push(uncheckedDiagnostic(opts.table.error));
  const sessions = [...(opts.extra ?? []), ...(opts.table?.ok ? opts.table.sessions : [])];
  if (opts.table?.ok && opts.table.truncated) diagnostics.push(uncheckedDiagnostic("the socket table is larger than the check reads"));
  if (sessions.length === 0) return { diagnostics, refuse: false };
  // The caller's sessions (SSH) come first, so they are checked before the budget can run out.
  const started = performance.now();
  const result = checkLockout(opts.model, opts.node, sessions, opts.addresses, { now: () => performance.now(), until: started + CHECK_BUDGET_MS }, opts.before);
  if (result.outOfTime > 0) diagnostics.push(uncheckedDiagnostic(`${result.outOfTime} of the live sessions could not be evaluated within ${CHECK_BUDGET_MS} ms`));
  const found = lockoutDiagnostics(result, opts.model, opts.allowed);
  return { diagnostics: [...found, ...diagnostics], refuse: found.length > 0 && !opts.allowed, result };
}
