/**
 * A reference evaluator of the Calico host-endpoint policy model: the verdict one packet
 * should get on this node, and the stage / tier / policy / rule (or failsafe, profile, end of
 * tier, default) that decided it. Pure: no I/O, no nftables.
 *
 * It is written from reference/calico-semantics.md (§2 evaluation, §3 stages, §4 rule fields,
 * §10 hostwall's decisions), deliberately *not* from src/nft or src/resolve, so that it can
 * serve as an independent oracle for the compiled ruleset (test/kernel/differential.test.ts)
 * and as the core of `hostwall explain`. It therefore redoes the resolution itself: which
 * HostEndpoint governs an interface, effective labels, applicable policies per stage and
 * direction in tier/policy order, and rule-selector membership. Only the validated model
 * (src/model/*) and its helpers (CIDR containment, selector evaluation) are shared.
 *
 * Packet path (reference §3.3, §6.3), tracked stages short-circuit on conntrack state:
 *
 *   ingress  (to a host process via X):  untracked(X in) → preDNAT(X) → normal(X in)
 *   egress   (from a host process via Y): untracked(Y out) → normal(Y out)
 *   forward  (in X, out Y):              untracked(X in) → preDNAT(X) → forward(X in) → forward(Y out)
 *
 * Stage outcomes: Deny ends everything. An Allow by an untracked or pre-DNAT policy sets the
 * accept mark: later stages of the same side are skipped (for forward traffic only X's
 * forward-ingress side; Y's forward-egress side still runs). A failsafe accept, or an
 * established flow, in the untracked / pre-DNAT stage is a plain accept of that hook only,
 * so the next stage still runs (and, for local traffic, accepts it by its own failsafe or
 * conntrack check).
 *
 * Where Calico's code and the reference text disagree and the code was checked, the code
 * wins (the reference's own rule) and the place is marked CALICO-CODE below.
 */
import { cidrContains, formatCidr, parseAddress, type Cidr } from "../model/cidr.ts";
import { canonicalSelector, matchesSelector, type Selector } from "../model/selector.ts";
import type { Direction, EntityRule, FailsafePort, GlobalNetworkPolicy, HostEndpoint, IcmpMatch, Model, Port, Profile, Rule, Tier } from "../model/types.ts";
import type { ConntrackState, Explanation, LogHit, Packet, Reason, Stage, Step } from "./explanation.ts";

export interface EvaluatorOptions {
  /**
   * Named ports in a rule without `protocol`: Calico's code (felix/calc/rule_scanner.go,
   * `namedPortProto` defaults to TCP; labelindex LookupNamedPorts filters by it) matches
   * only the endpoints' TCP ports ("tcp", the default). The reference text (§4.3) says "any
   * protocol the endpoint declared" ("any").
   */
  namedPortsWithoutProtocol?: "tcp" | "any";
  /**
   * Interface → its addresses, to bind HostEndpoints that have no interfaceName by their
   * expectedIPs (reference §1.2). Without it such endpoints protect nothing here (they still
   * feed rule selectors).
   */
  interfaceAddresses?: Record<string, readonly string[]>;
}

// ---------------------------------------------------------------------------------------
// Resolution (own implementation of reference §1.2, §1.7, §2.1, §2.2, §3.4).

const NAMESPACE_LABEL = "projectcalico.org/namespace";
const DEFAULT_ALLOW = "projectcalico-default-allow";
const LOOPBACK = "lo";
const WILDCARD = "*";

/** Policies of one tier for one stage and direction, in order. */
export interface TierRun {
  tier: Tier;
  policies: GlobalNetworkPolicy[];
}

export type StageTiers = Record<Stage, Record<Direction, TierRun[]>>;

export type ProfileRef = { kind: "profile"; profile: Profile } | { kind: "default-allow" } | { kind: "missing"; name: string };

/** A HostEndpoint as the evaluator resolved it for one interface. */
export interface Endpoint {
  hep: HostEndpoint;
  /** Own labels plus profile labels. */
  labels: Record<string, string>;
  /** Applicable policies per stage and direction, grouped by tier, in evaluation order. */
  stages: StageTiers;
  profiles: ProfileRef[];
  /** The `interfaceName: "*"` endpoint. */
  wildcard: boolean;
}

/** Something a rule selector can match: a HostEndpoint or a network set. */
interface Member {
  labels: Record<string, string>;
  nets: readonly Cidr[];
  ports: HostEndpoint["ports"];
}

/** Byte order, like Go's string comparison. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class Evaluator {
  readonly node: string;
  private readonly model: Model;
  private readonly opts: Required<Pick<EvaluatorOptions, "namedPortsWithoutProtocol">> & EvaluatorOptions;
  private readonly profiles: Map<string, Profile>;
  private readonly orderedPolicies: GlobalNetworkPolicy[];
  private readonly tierOf: (name: string) => Tier;
  private readonly members: Member[];
  private readonly endpointCache = new Map<string, Endpoint | undefined>();
  private readonly selectorCache = new Map<string, Cidr[]>();

  constructor(model: Model, node: string, options: EvaluatorOptions = {}) {
    this.model = model;
    this.node = node;
    this.opts = { namedPortsWithoutProtocol: "tcp", ...options };
    this.profiles = new Map(model.profiles.map((p) => [p.meta.name, p]));

    // §2.2: tiers by order then name; a tier named by a policy but not defined sorts after
    // all defined tiers and behaves as defaultAction Deny.
    const tiers = [...model.tiers].sort((a, b) => a.order - b.order || cmp(a.meta.name, b.meta.name));
    const tierRank = new Map(tiers.map((t, i) => [t.meta.name, i]));
    const phantom = new Map<string, Tier>();
    this.tierOf = (name) =>
      tiers[tierRank.get(name) ?? -1] ??
      phantom.get(name) ??
      (phantom.set(name, { kind: "Tier", meta: { name, labels: {}, origin: { file: "(undefined tier)", line: 0, column: 0 } }, order: Infinity, defaultAction: "Deny" }), phantom.get(name)!);
    const rank = (p: GlobalNetworkPolicy) => tierRank.get(p.tier) ?? tiers.length;
    // §2.1: NetworkPolicy and GNPs with namespace/service-account selectors never apply to a HEP.
    this.orderedPolicies = model.policies
      .filter((p) => p.kind === "GlobalNetworkPolicy" && !p.namespaced)
      .sort((a, b) => rank(a) - rank(b) || cmp(a.tier, b.tier) || comparePolicyOrder(a, b));

    // §4.6: rule selectors see every HostEndpoint (any node) and every network set.
    this.members = [
      ...model.hostEndpoints.map((h) => ({ labels: this.effectiveLabels(h), nets: h.expectedIPs, ports: h.ports })),
      ...model.networkSets.map((s) => ({ labels: networkSetLabels(s), nets: s.nets, ports: [] })),
    ];
  }

  /** Own labels plus profile labels: own labels win; among profiles the first listed wins (§1.7). */
  private effectiveLabels(hep: HostEndpoint): Record<string, string> {
    const labels: Record<string, string> = {};
    for (const name of hep.profiles) {
      const p = this.profiles.get(name);
      if (!p) continue;
      for (const [k, v] of Object.entries(p.labelsToApply)) if (!Object.hasOwn(labels, k)) labels[k] = v;
    }
    return Object.assign(labels, hep.meta.labels);
  }

  private buildEndpoint(hep: HostEndpoint, wildcard: boolean): Endpoint {
    const labels = this.effectiveLabels(hep);
    const empty = (): Record<Direction, TierRun[]> => ({ ingress: [], egress: [] });
    const stages: StageTiers = { untracked: empty(), preDNAT: empty(), normal: empty(), forward: empty() };
    const applicable = this.orderedPolicies.filter((p) => matchesSelector(p.selector, labels));
    const add = (stage: Stage, dir: Direction, p: GlobalNetworkPolicy) => {
      const list = stages[stage][dir];
      const last = list[list.length - 1];
      if (last && last.tier.meta.name === p.tier) last.policies.push(p);
      else list.push({ tier: this.tierOf(p.tier), policies: [p] });
    };
    for (const p of applicable) {
      for (const dir of p.types) {
        // §2.1 per stage; §3.4 / §1.2: untracked policy is ignored for a `*` endpoint.
        if (p.doNotTrack) {
          if (!wildcard) add("untracked", dir, p);
        } else if (p.preDNAT) {
          if (dir === "ingress") add("preDNAT", dir, p);
        } else {
          add("normal", dir, p);
          if (p.applyOnForward) add("forward", dir, p);
        }
      }
    }
    const profiles = hep.profiles.map((name): ProfileRef => {
      if (name === DEFAULT_ALLOW) return { kind: "default-allow" };
      const profile = this.profiles.get(name);
      return profile ? { kind: "profile", profile } : { kind: "missing", name };
    });
    return { hep, labels, stages, profiles, wildcard };
  }

  /**
   * The endpoint governing `iface` (§1.2): among this node's endpoints naming the interface,
   * or bound to it by expectedIPs, the first by name; else the `*` endpoint (first by name),
   * except for loopback (§10.2).
   */
  endpointFor(iface: string): Endpoint | undefined {
    if (this.endpointCache.has(iface)) return this.endpointCache.get(iface);
    const mine = this.model.hostEndpoints.filter((h) => h.node === this.node).sort((a, b) => cmp(a.meta.name, b.meta.name));
    const owned = this.opts.interfaceAddresses?.[iface]?.map((a) => parseAddress(a)).flatMap((r) => (r.ok ? [r.cidr] : [])) ?? [];
    const specific = mine.find(
      (h) =>
        (h.interfaceName !== undefined && h.interfaceName !== "" && h.interfaceName !== WILDCARD && h.interfaceName === iface) ||
        ((h.interfaceName === undefined || h.interfaceName === "") && h.expectedIPs.some((ip) => owned.some((o) => cidrContains(ip, o)))),
    );
    let ep: Endpoint | undefined;
    if (specific) ep = this.buildEndpoint(specific, false);
    else if (iface !== LOOPBACK) {
      const star = mine.find((h) => h.interfaceName === WILDCARD);
      if (star) ep = this.buildEndpoint(star, true);
    }
    this.endpointCache.set(iface, ep);
    return ep;
  }

  /**
   * The endpoint whose pre-DNAT chain runs for `iface`: Felix's mangle dispatch lists only
   * interfaces that have pre-DNAT policy, and falls through to the `*` endpoint's chain
   * otherwise (§3.4, code reading).
   */
  private preDnatEndpointFor(iface: string): Endpoint | undefined {
    const ep = this.endpointFor(iface);
    if (ep && ep.stages.preDNAT.ingress.length > 0) return ep;
    if (iface === LOOPBACK) return undefined;
    if (ep?.wildcard) return ep;
    const star = this.model.hostEndpoints.filter((h) => h.node === this.node && h.interfaceName === WILDCARD).sort((a, b) => cmp(a.meta.name, b.meta.name))[0];
    return star ? this.buildEndpoint(star, true) : ep;
  }

  /** Addresses of everything a rule selector matches (§4.6), cached by canonical selector. */
  private selectorMembers(sel: Selector): Cidr[] {
    const key = canonicalSelector(sel);
    let nets = this.selectorCache.get(key);
    if (!nets) {
      nets = this.members.filter((m) => matchesSelector(sel, m.labels)).flatMap((m) => [...m.nets]);
      this.selectorCache.set(key, nets);
    }
    return nets;
  }

  // -------------------------------------------------------------------------------------
  // Evaluation.

  /** Evaluates one packet. */
  evaluate(packet: Packet): Explanation {
    const run = new Run(this, packet);
    return run.result();
  }

  /** The FelixConfiguration settings in force. */
  get felix() {
    return this.model.felix;
  }

  /** @internal Whether a rule matches the packet as one stage sees it. */
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
    if (positive && !this.selectorMembers(positive).some((n) => cidrContains(n, addr))) return false;
    if (negative && this.selectorMembers(negative).some((n) => cidrContains(n, addr))) return false;
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
      const proto = rule.protocol?.number ?? (this.opts.namedPortsWithoutProtocol === "tcp" ? 6 : undefined);
      const want = proto === 17 ? 17 : proto === 132 ? 132 : proto === undefined ? undefined : 6;
      for (const m of this.members) {
        if (m.ports.length === 0) continue;
        if (positive && !matchesSelector(positive, m.labels)) continue;
        for (const ep of m.ports) {
          if (ep.name !== p.name || ep.port !== port || ep.protocol.number !== v.protocol) continue;
          if (want !== undefined && ep.protocol.number !== want) continue;
          if (m.nets.some((n) => cidrContains(n, addr))) return true;
        }
      }
    }
    return false;
  }

  /** @internal The endpoint whose chains run for an interface in a stage. */
  lookup(iface: string, stage: Stage): Endpoint | undefined {
    return stage === "preDNAT" ? this.preDnatEndpointFor(iface) : this.endpointFor(iface);
  }
}

/** Calico's policy order within a tier: order ascending, none last, then "<name>/<namespace>/<kind>" (§2.2). */
function comparePolicyOrder(a: GlobalNetworkPolicy, b: GlobalNetworkPolicy): number {
  const oa = a.order ?? Infinity;
  const ob = b.order ?? Infinity;
  if (oa !== ob) return oa < ob ? -1 : 1;
  return cmp(`${a.meta.name}/${a.meta.namespace ?? ""}/${a.kind}`, `${b.meta.name}/${b.meta.namespace ?? ""}/${b.kind}`);
}

/** Network sets: own labels, plus the namespace label on namespaced ones (§1.6, §4.7). */
function networkSetLabels(s: Model["networkSets"][number]): Record<string, string> {
  if (s.kind === "NetworkSet" && s.meta.namespace !== undefined) return { ...s.meta.labels, [NAMESPACE_LABEL]: s.meta.namespace };
  return s.meta.labels;
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

function parse(addr: string, family: 4 | 6, what: string): Cidr {
  const r = parseAddress(addr);
  if (!r.ok) throw new Error(`packet ${what} ${JSON.stringify(addr)}: ${r.message}`);
  if (r.cidr.family !== family) throw new Error(`packet ${what} ${addr} is not IPv${family}`);
  return r.cidr;
}

const PORT_PROTOCOLS = new Set([6, 17, 132, 136]);

/** One packet's evaluation. */
class Run {
  readonly steps: Step[] = [];
  readonly logs: LogHit[] = [];
  private readonly pre: View;
  private readonly post: View;
  private readonly ct: ConntrackState;

  constructor(private readonly ev: Evaluator, private readonly pkt: Packet) {
    const hasPorts = PORT_PROTOCOLS.has(pkt.protocol);
    const base = {
      family: pkt.family,
      src: parse(pkt.src, pkt.family, "src"),
      protocol: pkt.protocol,
      srcPort: hasPorts ? pkt.srcPort : undefined,
      icmpType: pkt.icmpType,
      icmpCode: pkt.icmpCode,
    };
    this.pre = { ...base, dst: parse(pkt.dst, pkt.family, "dst"), dstPort: hasPorts ? pkt.dstPort : undefined };
    this.post = pkt.dnat
      ? { ...base, dst: parse(pkt.dnat.dst, pkt.family, "dnat.dst"), dstPort: hasPorts ? (pkt.dnat.dstPort ?? pkt.dstPort) : undefined }
      : this.pre;
    this.ct = pkt.conntrack ?? "new";
  }

  result(): Explanation {
    const pkt = this.pkt;
    const need = (iface: string | undefined, what: string): string => {
      if (!iface) throw new Error(`a ${pkt.direction} packet needs ${what}`);
      return iface;
    };
    if (pkt.family === 6 && !this.ev.felix.ipv6Support) {
      const side = pkt.direction === "egress" ? "egress" : "ingress";
      return this.finish("none", this.push({ stage: "dispatch", side, interface: (side === "egress" ? pkt.outInterface : pkt.inInterface) ?? "", outcome: "none", reason: { kind: "ipv6-disabled" } }));
    }
    if (pkt.direction === "ingress") return this.local("ingress", need(pkt.inInterface, "inInterface"));
    if (pkt.direction === "egress") return this.local("egress", need(pkt.outInterface, "outInterface"));
    return this.forward(need(pkt.inInterface, "inInterface"), need(pkt.outInterface, "outInterface"));
  }

  private push(step: Step): Step {
    this.steps.push(step);
    return step;
  }

  private finish(verdict: Explanation["verdict"], decidedBy: Step, notrack = false): Explanation {
    const denyAction = verdict !== "deny" ? undefined : this.ev.felix.filterDenyAction === "Reject" && (decidedBy.stage === "normal" || decidedBy.stage === "forward") ? "reject" : "drop";
    return { verdict, denyAction, decidedBy, steps: this.steps, logs: this.logs, notrack };
  }

  /** Traffic to (ingress) or from (egress) a host process. */
  private local(side: Direction, iface: string): Explanation {
    const ep = this.ev.endpointFor(iface);
    const untracked = this.untrackedStage(side, iface);
    if (untracked.outcome === "deny") return this.finish("deny", untracked);
    if (untracked.outcome === "allow") return this.finish("allow", untracked, true);
    if (side === "ingress") {
      const pre = this.preDnatStage(iface);
      if (pre?.outcome === "deny") return this.finish("deny", pre);
      if (pre?.outcome === "allow") return this.finish("allow", pre);
    }
    if (!ep) return this.finish("none", this.push({ stage: "dispatch", side, interface: iface, outcome: "none", reason: { kind: "no-endpoint", interface: iface } }));
    const normal = this.trackedStage("normal", side, iface, ep);
    return this.finish(normal.outcome === "deny" ? "deny" : normal.outcome === "none" ? "none" : "allow", normal);
  }

  /** Forwarded traffic, in X and out Y (§2.4 step 4, §3.2, §3.3). */
  private forward(inIface: string, outIface: string): Explanation {
    const untracked = this.untrackedStage("ingress", inIface);
    if (untracked.outcome === "deny") return this.finish("deny", untracked);
    let accepted: Step | undefined = untracked.outcome === "allow" ? untracked : undefined;
    if (!accepted) {
      const pre = this.preDnatStage(inIface);
      if (pre?.outcome === "deny") return this.finish("deny", pre);
      if (pre?.outcome === "allow") accepted = pre;
    }
    let last: Step | undefined = accepted;
    let verdict: "allow" | "none" = accepted ? "allow" : "none";
    const epIn = this.ev.endpointFor(inIface);
    if (epIn) {
      if (accepted) this.push({ stage: "forward", side: "ingress", interface: inIface, endpoint: epIn.hep.meta.name, outcome: "allow", reason: { kind: "accept-mark", from: accepted.stage as Stage } });
      else {
        const s = this.trackedStage("forward", "ingress", inIface, epIn);
        if (s.outcome === "deny") return this.finish("deny", s);
        last = s;
        verdict = s.outcome === "none" ? "none" : "allow";
        // An established flow is accepted outright in the ingress chain (allow action Accept).
        if (s.reason.kind === "conntrack") return this.finish("allow", s, untracked.outcome === "allow");
      }
    }
    const epOut = this.ev.endpointFor(outIface);
    if (epOut) {
      const s = this.trackedStage("forward", "egress", outIface, epOut);
      if (s.outcome === "deny") return this.finish("deny", s);
      last = s;
      verdict = s.outcome === "none" ? "none" : "allow";
    }
    if (!last) {
      return this.finish("none", this.push({ stage: "dispatch", side: "ingress", interface: inIface, outcome: "none", reason: { kind: "no-endpoint", interface: `${inIface}, ${outIface}` } }), false);
    }
    return this.finish(verdict, last, untracked.outcome === "allow");
  }

  /** Untracked stage (raw): failsafes incl. reverse ones, then policies; no conntrack shortcut. */
  private untrackedStage(side: Direction, iface: string): Step {
    const ep = this.ev.lookup(iface, "untracked");
    const base = { stage: "untracked" as const, side, interface: iface, endpoint: ep?.hep.meta.name };
    const tiers = ep?.stages.untracked[side] ?? [];
    // Felix's raw dispatch lists only interfaces with untracked policy; without it nothing runs.
    if (!ep || (ep.stages.untracked.ingress.length === 0 && ep.stages.untracked.egress.length === 0)) {
      return { ...base, outcome: "none", reason: { kind: "fall-through", tiers: 0 } };
    }
    const fs = this.failsafe(side, true, this.pre);
    if (fs) return this.push({ ...base, outcome: "accept", reason: fs });
    const r = this.tiers("untracked", side, tiers, this.pre);
    return this.push({ ...base, ...r });
  }

  /** Pre-DNAT stage (mangle prerouting, ingress only). */
  private preDnatStage(iface: string): Step | undefined {
    const ep = this.ev.lookup(iface, "preDNAT");
    if (!ep || ep.stages.preDNAT.ingress.length === 0) return undefined;
    const base = { stage: "preDNAT" as const, side: "ingress" as const, interface: iface, endpoint: ep.hep.meta.name };
    const ct = this.conntrack();
    if (ct) return this.push({ ...base, outcome: ct.outcome === "allow" ? "accept" : ct.outcome, reason: ct.reason });
    const fs = this.failsafe("ingress", false, this.pre);
    if (fs) return this.push({ ...base, outcome: "accept", reason: fs });
    return this.push({ ...base, ...this.tiers("preDNAT", "ingress", ep.stages.preDNAT.ingress, this.pre) });
  }

  /** Normal or forward stage (filter), one side. */
  private trackedStage(stage: "normal" | "forward", side: Direction, iface: string, ep: Endpoint): Step {
    const base = { stage, side, interface: iface, endpoint: ep.hep.meta.name };
    const ct = this.conntrack();
    if (ct) return this.push({ ...base, ...ct });
    if (stage === "normal") {
      const fs = this.failsafe(side, false, this.post);
      if (fs) return this.push({ ...base, outcome: "allow", reason: fs });
    }
    const tiers = ep.stages[stage][side];
    const r = this.tiers(stage, side, tiers, this.post);
    if (r.outcome !== "none") return this.push({ ...base, ...r });
    if (stage === "forward") {
      // §2.4 step 4: no applyOnForward policy in this direction → allow; all passed → no verdict.
      return this.push({ ...base, ...(tiers.length === 0 ? { outcome: "allow", reason: { kind: "forward-default-allow" } } : r) });
    }
    return this.push({ ...base, ...this.profilesStage(side, ep) });
  }

  /** ct state shortcut of tracked chains (§2.7): established/related accept, invalid deny. */
  private conntrack(): { outcome: "allow" | "deny"; reason: Reason } | undefined {
    if (this.ct === "established" || this.ct === "related") return { outcome: "allow", reason: { kind: "conntrack", state: this.ct } };
    if (this.ct === "invalid" && this.ev.felix.conntrackInvalidCheck) return { outcome: "deny", reason: { kind: "conntrack", state: "invalid" } };
    return undefined;
  }

  /**
   * Failsafe accepts (§3.5; felix rules/static.go failsafeInChain/failsafeOutChain): inbound
   * entries by destination port (+ source net), outbound by destination port (+ destination
   * net); in the raw variant also the reverse direction by source port.
   */
  private failsafe(side: Direction, raw: boolean, v: View): Reason | undefined {
    const felix = this.ev.felix;
    const proto = v.protocol === 6 ? "tcp" : v.protocol === 17 ? "udp" : undefined;
    if (!proto) return undefined;
    const check = (list: readonly FailsafePort[], name: "inbound" | "outbound", reverse: boolean, port: number | undefined, remote: Cidr): Reason | undefined => {
      for (const f of list) {
        if (f.protocol !== proto || f.port !== port) continue;
        if (f.net && !(f.net.family === v.family && cidrContains(f.net, remote))) continue;
        return { kind: "failsafe", list: name, reverse, protocol: f.protocol, port: f.port, net: f.net && formatCidr(f.net) };
      }
      return undefined;
    };
    if (side === "ingress") {
      return check(felix.failsafeInbound, "inbound", false, v.dstPort, v.src) ?? (raw ? check(felix.failsafeOutbound, "outbound", true, v.srcPort, v.src) : undefined);
    }
    return check(felix.failsafeOutbound, "outbound", false, v.dstPort, v.dst) ?? (raw ? check(felix.failsafeInbound, "inbound", true, v.srcPort, v.dst) : undefined);
  }

  /**
   * Tiers in order (§2.3, §2.4): first matching Allow/Deny/Pass rule of each policy decides;
   * Log continues; Pass leaves the tier; a tier with no verdict ends in its defaultAction in
   * the normal and forward stages (untracked and pre-DNAT tiers always behave as Pass).
   */
  private tiers(stage: Stage, side: Direction, tiers: readonly TierRun[], v: View): { outcome: "allow" | "deny" | "none"; reason: Reason } {
    for (const { tier, policies } of tiers) {
      let passed = false;
      policies: for (const policy of policies) {
        const rules = side === "ingress" ? policy.ingress : policy.egress;
        for (let i = 0; i < rules.length; i++) {
          const rule = rules[i]!;
          if (!this.ev.ruleMatches(rule, v)) continue;
          const reason: Reason = { kind: "rule", tier: tier.meta.name, policy: policy.meta.name, ruleIndex: i, action: rule.action };
          if (rule.action === "Log") {
            this.log(stage, side, policy.meta.name, "gnp", tier.meta.name, i);
            continue;
          }
          if (rule.action === "Allow") return { outcome: "allow", reason };
          if (rule.action === "Deny") return { outcome: "deny", reason };
          passed = true;
          break policies;
        }
      }
      if (passed) continue;
      if ((stage === "normal" || stage === "forward") && tier.defaultAction === "Deny") return { outcome: "deny", reason: { kind: "end-of-tier", tier: tier.meta.name } };
    }
    return { outcome: "none", reason: { kind: "fall-through", tiers: tiers.length } };
  }

  /** Profiles after the tiers, normal stage only (§2.4 steps 2-3, §1.7). */
  private profilesStage(side: Direction, ep: Endpoint): { outcome: "allow" | "deny"; reason: Reason } {
    for (const ref of ep.profiles) {
      if (ref.kind === "default-allow") return { outcome: "allow", reason: { kind: "default-allow-profile" } };
      if (ref.kind === "missing") return { outcome: "deny", reason: { kind: "missing-profile", profile: ref.name } };
      const rules = side === "ingress" ? ref.profile.ingress : ref.profile.egress;
      for (let i = 0; i < rules.length; i++) {
        const rule = rules[i]!;
        if (!this.ev.ruleMatches(rule, this.post)) continue;
        if (rule.action === "Log") {
          this.log("normal", side, ref.profile.meta.name, "pro", "", i);
          continue;
        }
        // A Pass in a profile acts like no match: on to the next profile (§2.3).
        if (rule.action === "Pass") break;
        return { outcome: rule.action === "Allow" ? "allow" : "deny", reason: { kind: "profile-rule", profile: ref.profile.meta.name, ruleIndex: i, action: rule.action } };
      }
    }
    return { outcome: "deny", reason: { kind: "no-profile-matched" } };
  }

  private log(stage: Stage, side: Direction, owner: string, kind: "gnp" | "pro", tier: string, ruleIndex: number): void {
    const pattern = this.ev.felix.logPrefix;
    const prefix = pattern.replace(/%[tknp]/g, (s) => (s === "%t" ? tier : s === "%k" ? kind : owner));
    this.logs.push({ stage, side, owner, kind, tier, ruleIndex, prefix });
  }
}

/** Convenience: evaluate one packet against a model for a node. */
export function evaluatePacket(model: Model, node: string, packet: Packet, options?: EvaluatorOptions): Explanation {
  return new Evaluator(model, node, options).evaluate(packet);
}

