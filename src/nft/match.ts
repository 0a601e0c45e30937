/**
 * One Calico rule → nft rules (reference §4, §6.5).
 *
 * Strategy: a rule is rendered once per IP family it can match in (ipVersion, ICMP/ICMPv6 by
 * name, the family of its CIDRs, and whether its selector sets have members of that family;
 * reference §4.1, §4.5). Lists become anonymous sets (`ip saddr { a, b }`), which gives
 * Calico's OR-within-a-field and AND-across-fields semantics without Felix's scratch mark
 * bits. A selector's members are split into a hash set of single addresses and an interval
 * set of prefixes (DESIGN.md §4); a positive match on such a pair becomes one nft rule per
 * non-empty half (the halves are disjoint, so at most one fires and a Log rule logs once),
 * a negated match requires "in neither half". A big set (perLength.threshold members or more
 * in a family) is split by prefix length instead (docs/nft-layout.md "Big selector sets"):
 * one hash set per length, looked up with the address masked to that length, longest first,
 * plus one interval set for the lengths with few members; the same one-rule-per-set and
 * "in none of them" rules apply, and cheap port matches come before the lookups.
 */
import { compareCidr, formatCidr, type Cidr } from "../model/cidr.ts";
import type { CidrList } from "../model/cidr-column.ts";
import { canonicalSelector } from "../model/selector-canonical.ts";
import type { Action, EntityRule, FelixSettings, Port, Protocol, Rule } from "../model/types.ts";
import { namedPortKey, namedPortProtocol, sideSelectors, type AddressSet, type NamedPortSet, type PortTuple } from "../resolve/resolve.ts";
import type { Elements, Field, NftRule, RuleOrigin, Statement, Value } from "./ir.ts";
import { groupedByLength, prefilterElements } from "./length-groups.ts";
import { MARK_ACCEPT, MARK_PASS, namedPortSet, PREFILTER, selectorLengthSet, selectorSet, type PerLengthLayout } from "./names.ts";
import { MAX_LOG_PREFIX_BYTES } from "./render.ts";
import { addr, concat, counter, limit, log, markOr, match, meta, namedSet, num, oneOrSet, payload, prefixOf, range, set, sym, value, values, verdict } from "./statements.ts";

/** What a rule compiler needs from its surroundings. */
export interface MatchContext {
  /** Felix settings (log prefix, rate limit, deny action, IPv6). */
  felix: FelixSettings;
  /** Address sets by canonical selector. */
  sets: ReadonlyMap<string, AddressSet>;
  /** Called for every set a rule references, so the table declares it. */
  useSet(name: string, family: 4 | 6, hosts: boolean, set: AddressSet): void;
  /** Which selector sets are split by prefix length, and where rare lengths go. */
  perLength: PerLengthLayout;
  /** Called for every per-length set a rule references; `elements` gives its nft elements (called once per table). */
  useLengthSet(name: string, family: 4 | 6, length: number | "rare" | "prefilter", elements: () => Elements, selectorKey: string): void;
  /** Named-port sets by {@link namedPortKey}. */
  namedPorts: ReadonlyMap<string, NamedPortSet>;
  /** Called for every named-port set a rule references. */
  useNamedPortSet(name: string, family: 4 | 6, tuples: PortTuple[]): void;
  /** `drop` or `reject` for Deny in this stage. */
  deny: "drop" | "reject";
  /** The table the rule goes into (how a rule is pinned to one family differs). */
  table: "netdev" | "inet";
}

/** Identity of the resource a rule belongs to, for comments and log prefixes. */
export interface RuleOwner {
  /** `gnp` or `pro`: Calico's %k; `sgnp` for a staged policy's count-only rules. */
  kindShort: "gnp" | "pro" | "sgnp";
  /** Policy or profile name: %n and %p. */
  name: string;
  /** Tier: %t (profiles have none). */
  tier: string;
  /** ingress or egress. */
  direction: "ingress" | "egress";
}

const NFT_PROTOCOL: Record<number, string> = { 1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp", 136: "udplite" };

export function compileRule(rule: Rule, index: number, owner: RuleOwner, ctx: MatchContext): NftRule[] {
  const origin: RuleOrigin = { id: `${owner.kindShort}/${owner.name}/${owner.direction}/${index}`, file: rule.origin.file, line: rule.origin.line, column: rule.origin.column };
  // Render per family, then merge: a match list with nothing family-specific that comes out
  // the same for IPv4 and IPv6 is emitted once; one that exists for a single family only
  // (ipVersion, or the other family's selector set is empty) is pinned to that family, or it
  // would match both in an inet table.
  const rendered = new Map<string, { matches: Statement[]; families: (4 | 6)[] }>();
  for (const family of familiesOf(rule, ctx.felix)) {
    const src = sideMatches(rule.source, "saddr", "sport", family, namedPortProtocol(rule), ctx);
    const dst = sideMatches(rule.destination, "daddr", "dport", family, namedPortProtocol(rule), ctx);
    if (!src || !dst) continue; // a positive selector with no members in this family never matches
    // ICMP fields match only ICMP packets of this family (reference §6.10): with another
    // protocol, or with this family's ICMP excluded, the rule can never match here.
    const icmpNumber = family === 4 ? 1 : 58;
    if ((rule.icmp || rule.notICMP) && ((rule.protocol && rule.protocol.number !== icmpNumber) || rule.notProtocol?.number === icmpNumber)) continue;
    const common = [...protocolMatches(rule), ...icmpMatches(rule, family)];
    for (const s of src) {
      for (const d of dst) {
        const matches = cheapFirst([...common, ...s, ...d]);
        const key = JSON.stringify(matches);
        const entry = rendered.get(key);
        if (entry) entry.families.push(family);
        else rendered.set(key, { matches, families: [family] });
      }
    }
  }
  const out: NftRule[] = [];
  for (const { matches, families } of rendered.values()) {
    const pin = families.length === 1 && !matches.some(familySpecific) ? [familyMatch(families[0]!, ctx.table)] : [];
    out.push({ statements: [...pin, ...matches, ...actionStatements(rule.action, owner, ctx)], comment: origin.id, origin });
  }
  return out;
}

/**
 * Matches that only match one IP family by themselves: nft adds the family check to
 * `ip`/`ip6` payload matches. Not to `icmp`/`icmpv6` ones here: nft adds a dependency only
 * when no transport protocol is known yet, and `meta l4proto icmp` comes first, so without a
 * pin an IPv6 packet with next header 1 would match an ICMP rule (checked with
 * `nft --debug=netlink`).
 */
function familySpecific(st: Statement): boolean {
  return st.kind === "match" && hasIpPayload(st.left);
}

function hasIpPayload(f: Field): boolean {
  if (f.kind === "payload") return f.protocol === "ip" || f.protocol === "ip6";
  if (f.kind === "and" || f.kind === "prefix") return hasIpPayload(f.field);
  return f.kind === "concat" && f.fields.some(hasIpPayload);
}

/** Restricts a rule to one family: `meta nfproto` in inet tables, `meta protocol` in netdev. */
function familyMatch(family: 4 | 6, table: "netdev" | "inet"): Statement {
  return table === "inet" ? match(meta("nfproto"), "==", value(sym(family === 4 ? "ipv4" : "ipv6"))) : match(meta("protocol"), "==", value(sym(family === 4 ? "ip" : "ip6")));
}

/** The IP families a rule can match in. */
function familiesOf(rule: Rule, felix: FelixSettings): (4 | 6)[] {
  let families: (4 | 6)[] = felix.ipv6Support ? [4, 6] : [4];
  const keep = (f: 4 | 6) => (families = families.filter((x) => x === f));
  if (rule.ipVersion) keep(rule.ipVersion);
  if (rule.protocol?.inferFamily) keep(rule.protocol.inferFamily);
  const nets = [rule.source, rule.destination].flatMap((e) => [...e.nets, ...e.notNets]);
  if (nets.length > 0) keep(nets[0]!.family);
  const icmpProto = rule.protocol?.number;
  if ((rule.icmp || rule.notICMP) && icmpProto === 1) keep(4);
  if ((rule.icmp || rule.notICMP) && icmpProto === 58) keep(6);
  return families;
}

function protocolMatches(rule: Rule): Statement[] {
  const out: Statement[] = [];
  if (rule.protocol) out.push(match(meta("l4proto"), "==", value(protocolValue(rule.protocol))));
  if (rule.notProtocol) out.push(match(meta("l4proto"), "!=", value(protocolValue(rule.notProtocol))));
  return out;
}

function protocolValue(p: Protocol): Value {
  const name = NFT_PROTOCOL[p.number];
  return name ? sym(name) : num(p.number);
}

function icmpMatches(rule: Rule, family: 4 | 6): Statement[] {
  const icmp = family === 4 ? "icmp" : "icmpv6";
  const out: Statement[] = [];
  if (rule.icmp) {
    out.push(match(payload(icmp, "type"), "==", value(num(rule.icmp.type))));
    if (rule.icmp.code !== undefined) out.push(match(payload(icmp, "code"), "==", value(num(rule.icmp.code))));
  }
  if (rule.notICMP) {
    // "not (type T and code C)" (reference §10.3), as one concatenated lookup.
    if (rule.notICMP.code === undefined) out.push(match(payload(icmp, "type"), "!=", value(num(rule.notICMP.type))));
    else out.push(match(concat(payload(icmp, "type"), payload(icmp, "code")), "!=", set([values(num(rule.notICMP.type), num(rule.notICMP.code))])));
  }
  return out;
}

/**
 * Matches for one side in one family: a list of alternatives (each a statement list), or
 * undefined when the side can never match in this family.
 */
function sideMatches(side: EntityRule, addrField: "saddr" | "daddr", port: "sport" | "dport", family: 4 | 6, namedPortProto: number, ctx: MatchContext): Statement[][] | undefined {
  const address = payload(family === 4 ? "ip" : "ip6", addrField);
  const thPort = payload("th", port);
  const fixed: Statement[] = [];
  const nets = side.nets.filter((c) => c.family === family);
  const notNets = side.notNets.filter((c) => c.family === family);
  if (side.nets.length > 0 && nets.length === 0) return undefined;
  if (nets.length > 0) fixed.push(match(address, "==", oneOrSet(nets.map((c) => addr(formatCidr(c))))));
  if (notNets.length > 0) fixed.push(match(address, "!=", oneOrSet(notNets.map((c) => addr(formatCidr(c))))));
  const { positive, negative } = sideSelectors(side);
  const positiveKey = positive && canonicalSelector(positive);
  const tuple = concat(address, meta("l4proto"), thPort);
  const notPorts = numericPorts(side.notPorts);
  if (notPorts.length > 0) fixed.push(match(thPort, "!=", oneOrSet(notPorts)));
  for (const p of side.notPorts) {
    if (p.kind !== "named") continue;
    const name = namedPortSetName(namedPortKey(positiveKey, p.name, namedPortProto), family, ctx);
    if (name) fixed.push(match(tuple, "!=", namedSet(name)));
  }
  if (negative) {
    for (const l of setLookups(canonicalSelector(negative), family, address, ctx)) fixed.push(lookupMatch(l, "!="));
  }

  // Positive matches that are ORs of alternatives: the sets of a selector, and numeric
  // ports vs each named port. Each combination becomes its own nft rule.
  let alternatives: Statement[][] = [fixed];
  const cross = (options: Statement[][]) => (alternatives = alternatives.flatMap((a) => options.map((o) => [...a, ...o])));
  if (positiveKey) {
    const lookups = setLookups(positiveKey, family, address, ctx);
    if (lookups.length === 0) return undefined;
    cross(lookups.map((l) => [lookupMatch(l, "==")]));
  }
  if (side.ports.length > 0) {
    const options: Statement[][] = [];
    const ports = numericPorts(side.ports);
    if (ports.length > 0) options.push([match(thPort, "==", oneOrSet(ports))]);
    for (const p of side.ports) {
      if (p.kind !== "named") continue;
      const name = namedPortSetName(namedPortKey(positiveKey, p.name, namedPortProto), family, ctx);
      if (name) options.push([match(tuple, "==", namedSet(name))]);
    }
    if (options.length === 0) return undefined; // only named ports, and no endpoint declares them
    cross(options);
  }
  return alternatives;
}

function numericPorts(ports: Port[]): Value[] {
  return ports.filter((p) => p.kind === "range").map((p) => (p.min === p.max ? num(p.min) : range(p.min, p.max)));
}

/** The named-port set of one family, declared on use; undefined when it has no members. */
function namedPortSetName(key: string, family: 4 | 6, ctx: MatchContext): string | undefined {
  const set = ctx.namedPorts.get(key);
  if (!set) throw new Error(`internal error: no named-port set for ${key}`);
  const tuples = family === 4 ? set.v4 : set.v6;
  if (tuples.length === 0) return undefined;
  const name = namedPortSet(key, family);
  ctx.useNamedPortSet(name, family, tuples);
  return name;
}

/** One named-set lookup of a selector: the (possibly masked) address field and the set. */
interface Lookup {
  field: Field;
  name: string;
  /** One of a big set's per-length sets. */
  perLength: boolean;
  /** The coarse lookup a Deny or Allow rule may put in front of this one (table-builder.ts prefiltered). */
  prefilter?: Prefilter;
}

/**
 * The coarse lookup in front of a big IPv6 set's per-length lookups (docs/nft-layout.md "Big
 * selector sets"): the set of the /PREFILTER.length networks its members of that length or
 * longer fall in. An address outside all of them is in none of those per-length sets, so one
 * lookup answers a miss that took one per length.
 */
export interface Prefilter {
  name: string;
  /** The address masked to PREFILTER.length. */
  field: Field;
  /** Declares the set in the rule's table; called by the rule that uses it. */
  declare(): void;
}

/** The match statements of per-length lookups, which cheapFirst moves behind the other matches of a rule. */
const perLengthLookups = new WeakSet<Statement>();
/** The per-length lookups a prefilter may stand in front of, with it. */
const prefilters = new WeakMap<Statement, Prefilter>();

/** The prefilter that may stand in front of this (positive, per-length) lookup. */
export const prefilterOf = (st: Statement): Prefilter | undefined => prefilters.get(st);

function lookupMatch(l: Lookup, op: "==" | "!="): Statement {
  const st = match(l.field, op, namedSet(l.name));
  if (l.perLength) perLengthLookups.add(st);
  if (l.prefilter && op === "==") prefilters.set(st, l.prefilter);
  return st;
}

/**
 * A rule's matches with its per-length lookups last (stable otherwise): a protocol or port
 * compare that fails skips up to one hash lookup per prefix length. Without per-length
 * lookups the order is unchanged.
 */
function cheapFirst(matches: Statement[]): Statement[] {
  if (!matches.some((st) => perLengthLookups.has(st))) return matches;
  return [...matches.filter((st) => !perLengthLookups.has(st)), ...matches.filter((st) => perLengthLookups.has(st))];
}

/**
 * The lookups of a selector's set in one family, each set declared on use: the non-empty
 * halves (hosts, prefixes), or for a set of perLength.threshold members or more one hash set
 * per prefix length, longest first, then one interval set of the lengths with fewer than
 * perLength.rare members. Members are normalised (none covers another), so an address is in at
 * most one of them.
 */
function setLookups(key: string, family: 4 | 6, address: Field, ctx: MatchContext): Lookup[] {
  const set = ctx.sets.get(key);
  if (!set) throw new Error(`internal error: no address set for selector ${key}`);
  const members: CidrList = family === 4 ? set.v4 : set.v6;
  const hostBits = family === 4 ? 32 : 128;
  const lookups: Lookup[] = [];
  if (members.length < ctx.perLength.threshold) {
    for (const hosts of [true, false]) {
      if (!members.some((c) => (c.prefix === hostBits) === hosts)) continue;
      const name = selectorSet(key, family, hosts);
      ctx.useSet(name, family, hosts, set);
      lookups.push({ field: address, name, perLength: false });
    }
    return lookups;
  }
  // Groups and their elements are kept per member list and patched with it (length-groups.ts).
  const groups = groupedByLength(members);
  const rare: Cidr[] = [];
  const behindPrefilter: Lookup[] = [];
  for (const length of [...groups.counts.keys()].sort((a, b) => b - a)) {
    if (groups.counts.get(length)! < ctx.perLength.rare) {
      rare.push(...groups.members(length));
      continue;
    }
    const name = selectorLengthSet(key, family, length);
    ctx.useLengthSet(name, family, length, () => groups.elements(length), key);
    const lookup: Lookup = { field: length === hostBits ? address : prefixOf(address, length), name, perLength: true };
    lookups.push(lookup);
    if (family === 6 && length >= PREFILTER.length) behindPrefilter.push(lookup);
  }
  if (behindPrefilter.length >= PREFILTER.minLookups) {
    const name = selectorLengthSet(key, family, "prefilter");
    const prefilter: Prefilter = {
      name,
      field: prefixOf(address, PREFILTER.length),
      declare: () => ctx.useLengthSet(name, family, "prefilter", () => prefilterElements(members, PREFILTER.length), key),
    };
    for (const l of behindPrefilter) l.prefilter = prefilter;
  }
  if (rare.length > 0) {
    const name = selectorLengthSet(key, family, "rare");
    ctx.useLengthSet(name, family, "rare", () => rare.sort(compareCidr).map(formatCidr), key);
    lookups.push({ field: address, name, perLength: true });
  }
  return lookups;
}

function actionStatements(action: Action, owner: RuleOwner, ctx: MatchContext): Statement[] {
  switch (action) {
    case "Allow":
      return [counter(), markOr(MARK_ACCEPT), verdict("return")];
    case "Pass":
      return [counter(), markOr(MARK_PASS), verdict("return")];
    case "Deny":
      return [counter(), verdict(ctx.deny)];
    case "Log":
      return logStatements(owner, ctx);
  }
}

/** A Log rule's statements after its matches (rate limit, counter, log). */
export function logStatements(owner: RuleOwner, ctx: MatchContext): Statement[] {
  return [...rateLimit(ctx.felix), counter(), log(logPrefix(owner, ctx.felix))];
}

function rateLimit(felix: FelixSettings): Statement[] {
  if (!felix.logRateLimit) return [];
  return [limit(felix.logRateLimit.rate, felix.logRateLimit.unit, felix.logRateLimitBurst)];
}

/** Calico's prefix with %t %k %n %p substituted, then ": ", kept within nft's byte limit. */
export function logPrefix(owner: RuleOwner, felix: FelixSettings): string {
  const text = felix.logPrefix.replace(/%([tknp])/g, (_, c: string) => ({ t: owner.tier, k: owner.kindShort, n: owner.name, p: owner.name })[c] ?? "");
  return `${text.replace(/[^A-Za-z0-9%: /_.-]/g, "_").slice(0, MAX_LOG_PREFIX_BYTES - 2)}: `;
}
