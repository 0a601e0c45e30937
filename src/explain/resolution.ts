/**
 * Which HostEndpoint governs an interface and which policies run for it, stage by stage and
 * direction by direction, in tier and policy order (reference §1.2, §1.7, §2.1, §2.2, §3.4).
 * Part of the evaluator (evaluate.ts), which redoes this resolution on purpose instead of
 * sharing src/resolve, so that it can judge the compiled ruleset independently.
 */
import { cidrContains } from "../model/cidr.ts";
import { parseAddress } from "../model/cidr-parse.ts";
import { matchesSelector } from "../model/selector.ts";
import type { Direction, GlobalNetworkPolicy, HostEndpoint, Model, Profile, Tier } from "../model/types.ts";
import type { Stage } from "./explanation.ts";
import { NAMESPACE_LABEL, type Member } from "./matching.ts";

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

/** Byte order, like Go's string comparison. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The endpoints of one node and the policies that run for them, resolved once per interface. */
export class Resolution {
  /** Everything a rule selector can match (§4.6): every HostEndpoint (any node) and every network set. */
  readonly members: Member[];
  private readonly profiles: Map<string, Profile>;
  private readonly orderedPolicies: GlobalNetworkPolicy[];
  private readonly tierOf: (name: string) => Tier;
  private readonly endpointCache = new Map<string, Endpoint | undefined>();

  constructor(
    private readonly model: Model,
    private readonly node: string,
    private readonly interfaceAddresses?: Record<string, readonly string[]>,
  ) {
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
    const owned = this.interfaceAddresses?.[iface]?.map((a) => parseAddress(a)).flatMap((r) => (r.ok ? [r.cidr] : [])) ?? [];
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

  /** The endpoint whose chains run for an interface in a stage. */
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
