/**
 * Model → plan for this node (reference §1.2, §2, §4.6, §9 compile steps 1-4).
 *
 * Decides which HostEndpoints are enforced here and, for each, which policies apply per
 * direction and stage in evaluation order, and which profiles follow. It also computes the
 * member addresses of every rule selector (the future nft sets), deduplicated by the
 * selector's canonical form. Nothing here knows about nftables.
 */
import { normalizeCidrs, type Cidr } from "../model/cidr.ts";
import { canonicalSelector, matchesSelector, type Selector } from "../model/selector.ts";
import type { Direction, EntityRule, FelixSettings, GlobalNetworkPolicy, HostEndpoint, Model, Profile, Rule, Tier } from "../model/types.ts";
import type { Diagnostic } from "../config/diagnostics.ts";
import { DEFAULT_ALLOW_PROFILE } from "../model/validate.ts";

export type Stage = "untracked" | "preDNAT" | "normal" | "forward";

/** Policies of one tier that apply to an endpoint in one direction and stage, in order. */
export interface TierPlan {
  /** The tier. */
  tier: Tier;
  /** Applicable policies in evaluation order. */
  policies: GlobalNetworkPolicy[];
}

/** A profile reference resolved: a defined profile, the built-in allow, or a missing one (deny-all). */
export type ProfileRef = { kind: "profile"; profile: Profile } | { kind: "default-allow" } | { kind: "missing"; name: string };

/** Stage → direction → ordered tiers. */
export interface StagePlans {
  untracked: Record<Direction, TierPlan[]>;
  preDNAT: Record<Direction, TierPlan[]>;
  normal: Record<Direction, TierPlan[]>;
  forward: Record<Direction, TierPlan[]>;
}

/** A HostEndpoint enforced on this node. */
export interface EndpointPlan {
  /** The endpoint. */
  hep: HostEndpoint;
  /** Interface it governs. */
  interfaceName: string;
  /** Own labels plus labels inherited from profiles. */
  labels: Record<string, string>;
  /** Policies per stage and direction. */
  stages: StagePlans;
  /** Profiles in order (normal stage only). */
  profiles: ProfileRef[];
}

/** The members of one rule selector, per family, normalised. */
export interface AddressSet {
  /** Canonical selector text (identity of the set). */
  key: string;
  /** IPv4 members. */
  v4: Cidr[];
  /** IPv6 members. */
  v6: Cidr[];
}

export interface Plan {
  /** This node. */
  node: string;
  /** Endpoints enforced here, sorted by interface name. */
  endpoints: EndpointPlan[];
  /** Felix settings in force. */
  felix: FelixSettings;
  /** Address sets referenced by rules, keyed by canonical selector. */
  sets: Map<string, AddressSet>;
}

const NAMESPACE_LABEL = "projectcalico.org/namespace";

export function resolvePlan(model: Model, node: string): { plan: Plan; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const profiles = new Map(model.profiles.map((p) => [p.meta.name, p]));
  const tiers = [...model.tiers].sort((a, b) => a.order - b.order || compareStrings(a.meta.name, b.meta.name));
  const policies = [...model.policies].filter((p) => p.kind === "GlobalNetworkPolicy" && !p.namespaced).sort(comparePolicies);

  const byInterface = new Map<string, HostEndpoint>();
  for (const hep of [...model.hostEndpoints].sort((a, b) => compareStrings(a.meta.name, b.meta.name))) {
    if (hep.node !== node || hep.interfaceName === undefined || hep.interfaceName === "*") continue;
    const winner = byInterface.get(hep.interfaceName);
    if (winner) {
      const o = hep.meta.origin;
      diagnostics.push({ code: "INTERFACE_CONFLICT", severity: "warning", message: `interface ${hep.interfaceName} is already governed by HostEndpoint/${winner.meta.name} (first by name wins); this endpoint is inactive`, file: o.file, line: o.line, column: o.column, resource: `HostEndpoint/${hep.meta.name}`, path: "spec.interfaceName" });
      continue;
    }
    byInterface.set(hep.interfaceName, hep);
  }

  const endpoints: EndpointPlan[] = [...byInterface.entries()]
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([interfaceName, hep]) => {
      const refs = hep.profiles.map((name): ProfileRef => {
        if (name === DEFAULT_ALLOW_PROFILE) return { kind: "default-allow" };
        const profile = profiles.get(name);
        return profile ? { kind: "profile", profile } : { kind: "missing", name };
      });
      const labels = effectiveLabels(hep, refs);
      return { hep, interfaceName, labels, profiles: refs, stages: stagesFor(labels, policies, tiers) };
    });

  diagnostics.push(...unsupported(model));
  return { plan: { node, endpoints, felix: model.felix, sets: computeSets(model, profiles) }, diagnostics };
}

/** Valid Calico that hostwall cannot enforce yet: an error, never a silently wider rule. */
function unsupported(model: Model): Diagnostic[] {
  const out: Diagnostic[] = [];
  const owners: { resource: string; rules: [string, Rule[]][] }[] = [
    ...model.policies.filter((p) => !p.namespaced).map((p) => ({ resource: `${p.kind}/${p.meta.name}`, rules: [["ingress", p.ingress], ["egress", p.egress]] as [string, Rule[]][] })),
    ...model.profiles.map((p) => ({ resource: `Profile/${p.meta.name}`, rules: [["ingress", p.ingress], ["egress", p.egress]] as [string, Rule[]][] })),
  ];
  for (const { resource, rules } of owners) {
    for (const [dir, list] of rules) {
      list.forEach((rule, i) => {
        for (const side of ["source", "destination"] as const) {
          if ([...rule[side].ports, ...rule[side].notPorts].some((p) => p.kind === "named")) {
            out.push({ code: "NOT_IMPLEMENTED", severity: "error", message: "named ports are not enforced by this version of hostwall yet; use port numbers", file: rule.origin.file, line: rule.origin.line, column: rule.origin.column, resource, path: `spec.${dir}[${i}].${side}` });
          }
        }
      });
    }
  }
  return out;
}

/** Calico's string order (byte order, not locale order). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Policy order within a tier: order ascending, missing order last, then Calico's name key. */
function comparePolicies(a: GlobalNetworkPolicy, b: GlobalNetworkPolicy): number {
  const oa = a.order ?? Infinity;
  const ob = b.order ?? Infinity;
  if (oa !== ob) return oa < ob ? -1 : 1;
  return compareStrings(`${a.meta.name}/${a.meta.namespace ?? ""}/${a.kind}`, `${b.meta.name}/${b.meta.namespace ?? ""}/${b.kind}`);
}

function effectiveLabels(hep: HostEndpoint, refs: ProfileRef[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const ref of [...refs].reverse()) if (ref.kind === "profile") Object.assign(labels, ref.profile.labelsToApply);
  return Object.assign(labels, hep.meta.labels);
}

function stagesFor(labels: Record<string, string>, policies: GlobalNetworkPolicy[], tiers: Tier[]): StagePlans {
  const empty = (): Record<Direction, TierPlan[]> => ({ ingress: [], egress: [] });
  const stages: StagePlans = { untracked: empty(), preDNAT: empty(), normal: empty(), forward: empty() };
  const applicable = policies.filter((p) => matchesSelector(p.selector, labels));
  for (const tier of tiers) {
    const inTier = applicable.filter((p) => p.tier === tier.meta.name);
    for (const direction of ["ingress", "egress"] as const) {
      const governing = inTier.filter((p) => p.types.includes(direction));
      const add = (stage: Stage, list: GlobalNetworkPolicy[]) => {
        if (list.length > 0) stages[stage][direction].push({ tier, policies: list });
      };
      add("untracked", governing.filter((p) => p.doNotTrack));
      if (direction === "ingress") add("preDNAT", governing.filter((p) => p.preDNAT));
      const normal = governing.filter((p) => !p.doNotTrack && !p.preDNAT);
      add("normal", normal);
      add("forward", normal.filter((p) => p.applyOnForward));
    }
  }
  return stages;
}

/**
 * The effective selector of a rule side: `namespaceSelector: global()` restricts it to things
 * without a namespace (HEPs, GlobalNetworkSets); a positive and a negated selector on one side
 * are folded into one set `(sel) && !(notSel)` as Felix does (reference §4.6).
 */
export function sideSelectors(side: EntityRule): { positive?: Selector; negative?: Selector } {
  const scope: Selector | undefined = side.namespaceSelector?.kind === "global" ? { kind: "not", operand: { kind: "has", label: NAMESPACE_LABEL } } : undefined;
  let positive = side.selector;
  if (positive && scope) positive = { kind: "and", operands: [positive, scope] };
  if (!positive && scope) positive = scope;
  if (positive && side.notSelector) return { positive: { kind: "and", operands: [positive, { kind: "not", operand: side.notSelector }] } };
  return { positive, negative: side.notSelector };
}

/** Every rule selector used by any enforced policy or profile → its members. */
function computeSets(model: Model, profiles: Map<string, Profile>): Map<string, AddressSet> {
  const sets = new Map<string, AddressSet>();
  const rules: Rule[] = [
    ...model.policies.filter((p) => !p.namespaced).flatMap((p) => [...p.ingress, ...p.egress]),
    ...[...profiles.values()].flatMap((p) => [...p.ingress, ...p.egress]),
  ];
  const members = [
    ...model.hostEndpoints.map((h) => ({ labels: effectiveLabels(h, h.profiles.map((n): ProfileRef => (profiles.has(n) ? { kind: "profile", profile: profiles.get(n)! } : { kind: "missing", name: n }))), nets: h.expectedIPs })),
    ...model.networkSets.map((s) => ({ labels: s.meta.labels, nets: s.nets })),
  ];
  for (const rule of rules) {
    for (const side of [rule.source, rule.destination]) {
      const { positive, negative } = sideSelectors(side);
      for (const sel of [positive, negative]) {
        if (!sel) continue;
        const key = canonicalSelector(sel);
        if (sets.has(key)) continue;
        const all = members.filter((m) => matchesSelector(sel, m.labels)).flatMap((m) => m.nets);
        sets.set(key, { key, v4: normalizeCidrs(all.filter((c) => c.family === 4)), v6: normalizeCidrs(all.filter((c) => c.family === 6)) });
      }
    }
  }
  return sets;
}
