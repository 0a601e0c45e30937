/**
 * The lockout check (issue #14 item 3): before a new config is applied, would it cut a live
 * management session? The sessions are the established TCP connections to this host's local
 * ports (a local port something listens on: the connection came in), read from
 * /proc/self/net/tcp and tcp6 of the agent's own network namespace, plus the peer of the SSH
 * session that runs `hostwall` (SSH_CONNECTION), which the CLI passes along.
 *
 * Each session is asked of the reference evaluator (explain/evaluate.ts) with the new model,
 * three times: its next packet in (conntrack established), the host's reply out (established),
 * and the same connection opened anew (conntrack new: what a reconnect meets). A deny of either
 * established packet cuts the session at once (an untracked deny, typically); a deny of the new
 * one locks the operator out at the next reconnect. Sessions a failsafe port lets in are not
 * management sessions to worry about: the failsafe keeps them whatever the policy says.
 *
 * Hostile input: /proc is the kernel's, but a namespace may hold any number of sockets, so the
 * read is bounded (bytes and lines) and every line is parsed strictly; a line that does not
 * parse is skipped. When the table cannot be read the check says so (LOCKOUT_UNCHECKED) and
 * never blocks silently.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { endianness } from "node:os";
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import { Evaluator } from "../explain/evaluate.ts";
import type { Explanation, Packet, Reason } from "../explain/explanation.ts";
import { formatCidr, type Cidr } from "../model/cidr.ts";
import { parseAddress } from "../model/cidr-parse.ts";
import type { Direction, Model } from "../model/types.ts";

/** One live TCP session to a local port. */
export interface Session {
  family: 4 | 6;
  /** This host's address and port. */
  local: string;
  localPort: number;
  /** The other end. */
  peer: string;
  peerPort: number;
  /** socket: from /proc/net/tcp{,6}; ssh: SSH_CONNECTION of the command that asked. */
  source: "socket" | "ssh";
}

/** The sessions read, or why they could not be. */
export type SessionTable = { ok: true; sessions: Session[]; truncated: boolean } | { ok: false; error: string };

/** At most this much of each /proc table is read (about 100,000 sockets). */
const MAX_TABLE_BYTES = 16 * 1024 * 1024;
/** At most this many distinct sessions (peer, local address and port) are evaluated. */
export const MAX_SESSIONS = 4096;

const ESTABLISHED = "01";
const LISTEN = "0A";

/**
 * Parses one /proc/net/tcp or tcp6 table: the established connections whose local port has a
 * listener (on that address or the wildcard). `littleEndian`: how the kernel wrote the
 * addresses (host byte order, per 32-bit word).
 */
export function parseTcpTable(text: string, family: 4 | 6, littleEndian = endianness() === "LE"): { established: Session[]; listening: Set<string> } {
  const established: Session[] = [];
  const listening = new Set<string>();
  const hexLen = family === 4 ? 8 : 32;
  const line = new RegExp(`^\\s*\\d+: ([0-9A-Fa-f]{${hexLen}}):([0-9A-Fa-f]{4}) ([0-9A-Fa-f]{${hexLen}}):([0-9A-Fa-f]{4}) ([0-9A-Fa-f]{2}) `);
  for (const l of text.split("\n")) {
    const m = line.exec(l);
    if (!m) continue;
    const state = m[5]!.toUpperCase();
    const local = decodeAddress(m[1]!, littleEndian);
    const localPort = parseInt(m[2]!, 16);
    if (state === LISTEN) listening.add(`${local.address}|${localPort}`);
    else if (state === ESTABLISHED) {
      const peer = decodeAddress(m[3]!, littleEndian);
      established.push({ family: local.family, local: local.address, localPort, peer: peer.address, peerPort: parseInt(m[4]!, 16), source: "socket" });
    }
  }
  return { established, listening };
}

/** A /proc address: 8 hex digits (IPv4) or 32 (IPv6, four words), each word in host byte order. IPv4-mapped IPv6 addresses become IPv4. */
function decodeAddress(hex: string, littleEndian: boolean): { family: 4 | 6; address: string } {
  const bytes: number[] = [];
  for (let w = 0; w < hex.length; w += 8) {
    const word = [0, 2, 4, 6].map((i) => parseInt(hex.slice(w + i, w + i + 2), 16));
    bytes.push(...(littleEndian ? word.reverse() : word));
  }
  if (bytes.length === 4) return { family: 4, address: bytes.join(".") };
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (mapped) return { family: 4, address: bytes.slice(12).join(".") };
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return canonical(groups.join(":"))!;
}

/** The inbound sessions of both tables: established, to a port with a listener. */
export function inboundSessions(tables: { text: string; family: 4 | 6 }[], littleEndian?: boolean): Session[] {
  const parsed = tables.map((t) => parseTcpTable(t.text, t.family, littleEndian));
  const listening = new Set(parsed.flatMap((p) => [...p.listening]));
  const listens = (s: Session) => listening.has(`${s.local}|${s.localPort}`) || listening.has(`0.0.0.0|${s.localPort}`) || listening.has(`::|${s.localPort}`);
  return parsed.flatMap((p) => p.established).filter(listens);
}

/** Reads at most `max` bytes of a /proc file (its size is 0 in stat: read until the end). */
function readBounded(path: string, max: number): { text: string; truncated: boolean } {
  const fd = openSync(path, "r");
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) return { text: Buffer.concat(chunks).toString("latin1"), truncated: false };
      chunks.push(Buffer.from(buf.subarray(0, n)));
      total += n;
      if (total >= max) return { text: Buffer.concat(chunks).toString("latin1"), truncated: true };
    }
  } finally {
    closeSync(fd);
  }
}

/** The live inbound sessions of this process's network namespace. */
export function readSessions(proc = "/proc/self/net"): SessionTable {
  try {
    const v4 = readBounded(`${proc}/tcp`, MAX_TABLE_BYTES);
    // A kernel without IPv6 has no tcp6 table: that is no error.
    let v6 = { text: "", truncated: false };
    try {
      v6 = readBounded(`${proc}/tcp6`, MAX_TABLE_BYTES);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    return { ok: true, sessions: inboundSessions([{ text: v4.text, family: 4 }, { text: v6.text, family: 6 }]), truncated: v4.truncated || v6.truncated };
  } catch (e) {
    return { ok: false, error: `cannot read the socket table ${proc}/tcp: ${(e as Error).message}` };
  }
}

/**
 * SSH_CONNECTION (`client_ip client_port server_ip server_port`) as a session, or undefined
 * when it is absent or malformed (it is the caller's environment: nothing in it is trusted).
 */
export function sshSession(value: string | undefined): Session | undefined {
  if (value === undefined || value.length > 200) return undefined;
  const m = /^([0-9a-fA-F:.]{2,45}) (\d{1,5}) ([0-9a-fA-F:.]{2,45}) (\d{1,5})$/.exec(value.trim());
  if (!m) return undefined;
  const peer = canonical(m[1]!);
  const local = canonical(m[3]!);
  const [peerPort, localPort] = [Number(m[2]), Number(m[4])];
  if (!peer || !local || peer.family !== local.family || peerPort < 1 || peerPort > 65535 || localPort < 1 || localPort > 65535) return undefined;
  return { family: local.family, local: local.address, localPort, peer: peer.address, peerPort, source: "ssh" };
}

/** An address in canonical text (formatCidr's; IPv4-mapped IPv6 as IPv4), or undefined. */
function canonical(text: string): { family: 4 | 6; address: string } | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(text);
  const p = parseAddress(mapped ? mapped[1]! : text);
  return p.ok ? { family: p.cidr.family, address: formatCidr(p.cidr) } : undefined;
}

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
