/**
 * Whether a rule matches a packet as one stage sees it (reference §4): family, protocol, ICMP,
 * nets, selectors (by the addresses of what they match, §4.6) and ports, numeric and named
 * (§4.3). Part of the evaluator (evaluate.ts), written from the reference, not from src/nft.
 */
import { cidrContains, type Cidr } from "../model/cidr.ts";
import { anyContains, type CidrList } from "../model/cidr-column.ts";
import { matchesSelector, type Selector } from "../model/selector.ts";
import { canonicalSelector } from "../model/selector-canonical.ts";
import type { EntityRule, HostEndpoint, IcmpMatch, Port, Rule } from "../model/types.ts";

/** The label Calico gives namespaced things; namespace selectors are written in terms of it. */
export const NAMESPACE_LABEL = "projectcalico.org/namespace";

/** Something a rule selector can match: a HostEndpoint or a network set. */
export interface Member {
  labels: Record<string, string>;
  nets: CidrList;
  ports: HostEndpoint["ports"];
}

/** The packet as one stage sees it (parsed addresses; DNAT applied after pre-DNAT). */
export interface View {
  family: 4 | 6;
  src: Cidr;
  dst: Cidr;
  protocol: number;
  srcPort?: number;
  dstPort?: number;
  icmpType?: number;
  icmpCode?: number;
}

/** Rule matching for one evaluator: what rule selectors can match, and how named ports without a protocol are read. */
export class RuleMatcher {
  private readonly selectorCache = new Map<string, CidrList[]>();

  constructor(
    private readonly members: readonly Member[],
    private readonly namedPortsWithoutProtocol: "tcp" | "any",
  ) {}

  /** The address lists of everything a rule selector matches (§4.6), cached by canonical selector. */
  private selectorMembers(sel: Selector): CidrList[] {
    const key = canonicalSelector(sel);
    let lists = this.selectorCache.get(key);
    if (!lists) {
      lists = this.members.filter((m) => matchesSelector(sel, m.labels)).map((m) => m.nets);
      this.selectorCache.set(key, lists);
    }
    return lists;
  }

  /** Whether a rule matches the packet as one stage sees it. */
  ruleMatches(rule: Rule, v: View): boolean {
    // Family (§4.1, §4.5; felix FilterRuleToIPVersion, ipVersionToProtoIPVersion): ipVersion,
    // or a protocol *named* ICMP/ICMPv6 (never notProtocol, never numbers), and every CIDR list
    // that is non-empty must hold an entry of the packet's family.
    if (rule.ipVersion !== undefined && rule.ipVersion !== v.family) return false;
    if (rule.ipVersion === undefined && rule.protocol?.inferFamily !== undefined && rule.protocol.inferFamily !== v.family) return false;
    for (const list of [rule.source.nets, rule.source.notNets, rule.destination.nets, rule.destination.notNets]) {
      if (list.length > 0 && !list.some((c) => c.family === v.family)) return false;
    }
    if (rule.protocol && rule.protocol.number !== v.protocol) return false;
    if (rule.notProtocol && rule.notProtocol.number === v.protocol) return false;
    // ICMP (§4.4, §6.10, §10.3): type/code are read from the ICMP header of the packet's own
    // family (icmp in IPv4, icmpv6 in IPv6), so both icmp and notICMP need such a packet;
    // notICMP {T, C} means not (type T and code C).
    const icmpOfFamily = v.protocol === (v.family === 4 ? 1 : 58);
    if (rule.icmp && !(icmpOfFamily && icmpMatches(rule.icmp, v))) return false;
    if (rule.notICMP && !(icmpOfFamily && !icmpMatches(rule.notICMP, v))) return false;
    return this.sideMatches(rule, rule.source, v.src, v.srcPort, v) && this.sideMatches(rule, rule.destination, v.dst, v.dstPort, v);
  }

  private sideMatches(rule: Rule, side: EntityRule, addr: Cidr, port: number | undefined, v: View): boolean {
    if (side.nets.length > 0 && !side.nets.some((n) => cidrContains(n, addr))) return false;
    if (side.notNets.some((n) => cidrContains(n, addr))) return false;
    const { positive, negative } = sideSelectors(side);
    if (positive && !this.selectorMembers(positive).some((l) => anyContains(l, addr))) return false;
    if (negative && this.selectorMembers(negative).some((l) => anyContains(l, addr))) return false;
    if (side.ports.length > 0 && !this.portsMatch(rule, side.ports, positive, addr, port, v)) return false;
    if (side.notPorts.length > 0 && this.portsMatch(rule, side.notPorts, positive, addr, port, v)) return false;
    return true;
  }

  /** True if the packet's (address, protocol, port) is in the port list (numeric or named, ORed; §4.3). */
  private portsMatch(rule: Rule, ports: readonly Port[], positive: Selector | undefined, addr: Cidr, port: number | undefined, v: View): boolean {
    if (port === undefined) return false;
    for (const p of ports) {
      if (p.kind === "range") {
        if (port >= p.min && port <= p.max) return true;
        continue;
      }
      // Named port: tuples of the endpoints the side's positive selector matches (all
      // endpoints without one), restricted by the rule's protocol (CALICO-CODE: TCP when the
      // rule has none, unless the option says otherwise). Network sets have no ports.
      const proto = rule.protocol?.number ?? (this.namedPortsWithoutProtocol === "tcp" ? 6 : undefined);
      const want = proto === 17 ? 17 : proto === 132 ? 132 : proto === undefined ? undefined : 6;
      for (const m of this.members) {
        if (m.ports.length === 0) continue;
        if (positive && !matchesSelector(positive, m.labels)) continue;
        for (const ep of m.ports) {
          if (ep.name !== p.name || ep.port !== port || ep.protocol.number !== v.protocol) continue;
          if (want !== undefined && ep.protocol.number !== want) continue;
          if (anyContains(m.nets, addr)) return true;
        }
      }
    }
    return false;
  }
}

function icmpMatches(m: IcmpMatch, v: View): boolean {
  return v.icmpType === m.type && (m.code === undefined || v.icmpCode === m.code);
}

/**
 * The selectors one side of a rule matches addresses against (§4.6; libcalico-go
 * updateprocessors/rules.go getEndpointSelector, felix calc/rule_scanner.go
 * combineMatchesIfPossible):
 *
 * - namespaceSelector `global()` scopes the selector to `!has(projectcalico.org/namespace)`;
 *   any other namespaceSelector is matched against namespace labels (prefix `pcns.`, none
 *   exist outside Kubernetes) with `all()` meaning `has(projectcalico.org/namespace)`, so it
 *   selects namespaced things only; the scope is ANDed with `selector` (or replaces it).
 * - A positive selector and a notSelector fold into one set `(sel) && !(notSel)`: the packet
 *   must belong to something that matches sel and not notSel (not: "in set(sel) and not in
 *   set(notSel)"; the two differ when one address belongs to several endpoints or sets).
 * - A notSelector alone (never namespace-scoped) matches every address not in its set.
 */
export function sideSelectors(side: EntityRule): { positive?: Selector; negative?: Selector } {
  let positive = side.selector;
  if (side.namespaceSelector) {
    const scope = namespaceScope(side.namespaceSelector);
    positive = positive ? { kind: "and", operands: [scope, positive] } : scope;
  }
  if (positive && side.notSelector) return { positive: { kind: "and", operands: [positive, { kind: "not", operand: side.notSelector }] } };
  return { positive, negative: side.notSelector };
}

function namespaceScope(ns: Selector): Selector {
  switch (ns.kind) {
    case "all": return { kind: "has", label: NAMESPACE_LABEL };
    case "global": return { kind: "not", operand: { kind: "has", label: NAMESPACE_LABEL } };
    case "has": return { kind: "has", label: `pcns.${ns.label}` };
    case "eq": case "ne": case "contains": case "startsWith": case "endsWith": return { ...ns, label: `pcns.${ns.label}` };
    case "in": case "notIn": return { ...ns, label: `pcns.${ns.label}` };
    case "not": return { kind: "not", operand: namespaceScope(ns.operand) };
    case "and": case "or": return { kind: ns.kind, operands: ns.operands.map(namespaceScope) };
  }
}
