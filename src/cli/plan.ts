/**
 * The document `hostwall plan --json` prints (DESIGN.md §3, §6):
 *
 *   { "node": "…",
 *     "endpoints": [ { name, interface, active?, policies: {ingress: {untracked, preDNAT, normal, forward},
 *                                                          egress: {untracked, normal, forward}}, profiles } ],
 *     "notApplied": [ { resource: "Kind/name", reason } ] }
 *
 * `endpoints` has the shape of /status endpoints; `active` (the interface exists now) is present
 * when the caller says which interfaces exist, since a plan holds for the config, not the moment.
 * `notApplied` lists, sorted, every resource that takes no part on this node and why: endpoints
 * of other nodes or not bound here, policies that can never or do not select an endpoint here,
 * profiles no endpoint lists, profiles listed but not defined (they deny, as in Calico), tiers
 * without an applicable policy, and network sets no rule selector of an applied policy or
 * profile matches (a label typo between a set and its rule shows up here).
 */
import { matchesSelector, type Selector } from "../model/selector.ts";
import type { GlobalNetworkPolicy, Model, Profile, Rule } from "../model/types.ts";
import { compareStrings, endpointNames, profileName, sideSelectors, WILDCARD, type EndpointPlan, type EndpointPolicies, type Plan } from "../resolve/resolve.ts";

/** One endpoint, as /status shows it, plus its profiles. */
export interface PlanEndpoint {
  /** HostEndpoint name. */
  name: string;
  /** Interface it governs, or `*`. */
  interface: string;
  /** Whether the interface exists now; only when the caller passed the interfaces. `*` is always active. */
  active?: boolean;
  /** GlobalNetworkPolicy names per direction and stage, in evaluation order (tier order, policy order, name). */
  policies: EndpointPolicies;
  /** Profile names in evaluation order; a missing one is listed too (it denies). */
  profiles: string[];
}

/** A resource that takes no part on this node. */
export interface NotApplied {
  /** `Kind/name` or `Kind/namespace/name`. */
  resource: string;
  /** Why, in words. */
  reason: string;
}

export interface PlanDocument {
  /** This node. */
  node: string;
  /** HostEndpoints enforced on this node, sorted by interface (`*` last). */
  endpoints: PlanEndpoint[];
  /** Resources that take no part on this node, sorted by resource. */
  notApplied: NotApplied[];
}

export interface PlanOptions {
  /** Interfaces that exist now; with it, each endpoint says whether it is active. */
  interfaces?: ReadonlySet<string>;
}

export function planDocument(plan: Plan, model: Model, opts: PlanOptions = {}): PlanDocument {
  const endpoints = plan.endpoints.map((ep) => endpointView(ep, opts.interfaces));
  const notApplied = [
    ...hostEndpointsNotApplied(plan, model),
    ...policiesNotApplied(plan, model),
    ...profilesNotApplied(plan, model),
    ...tiersNotApplied(plan, model),
    ...networkSetsNotApplied(plan, model),
  ].sort((a, b) => compareStrings(a.resource, b.resource) || compareStrings(a.reason, b.reason));
  return { node: plan.node, endpoints, notApplied };
}

function endpointView(ep: EndpointPlan, interfaces: ReadonlySet<string> | undefined): PlanEndpoint {
  const { policies, profiles } = endpointNames(ep);
  return {
    name: ep.hep.meta.name,
    interface: ep.interfaceName,
    ...(interfaces ? { active: ep.interfaceName === WILDCARD || interfaces.has(ep.interfaceName) } : {}),
    policies,
    profiles,
  };
}

function resourceName(kind: string, meta: { name: string; namespace?: string }): string {
  return `${kind}/${meta.namespace ? `${meta.namespace}/` : ""}${meta.name}`;
}

function hostEndpointsNotApplied(plan: Plan, model: Model): NotApplied[] {
  const active = new Set(plan.endpoints.map((ep) => ep.hep));
  const governs = (iface: string) => plan.endpoints.find((ep) => ep.interfaceName === iface)?.hep.meta.name;
  return model.hostEndpoints
    .filter((hep) => !active.has(hep))
    .map((hep) => {
      const winner = hep.interfaceName === undefined ? undefined : governs(hep.interfaceName);
      const reason =
        hep.node !== plan.node ? `belongs to node ${hep.node}, not ${plan.node}` :
        hep.interfaceName === undefined ? "bound by expectedIPs, and no interface here owns one of them (or an endpoint sorting first governs it); its expectedIPs still feed rule selectors" :
        hep.interfaceName === WILDCARD ? `only one interfaceName "*" endpoint is active per node, and HostEndpoint/${winner} sorts first` :
        winner ? `HostEndpoint/${winner} governs interface ${hep.interfaceName} (the first by name wins)` :
        "not enforced on this node";
      return { resource: resourceName("HostEndpoint", hep.meta), reason };
    });
}

function appliedPolicies(plan: Plan): Set<GlobalNetworkPolicy> {
  const used = new Set<GlobalNetworkPolicy>();
  for (const ep of plan.endpoints) {
    for (const stage of Object.values(ep.stages)) for (const tier of [...stage.ingress, ...stage.egress]) for (const p of tier.policies) used.add(p);
  }
  return used;
}

function policiesNotApplied(plan: Plan, model: Model): NotApplied[] {
  const used = appliedPolicies(plan);
  return model.policies
    .filter((p) => !used.has(p))
    .map((p) => ({
      resource: resourceName(p.kind, p.meta),
      reason:
        p.kind === "NetworkPolicy" ? "a NetworkPolicy never applies to a host endpoint (its selector is limited to its namespace's workloads)" :
        p.namespaced ? "namespaceSelector or serviceAccountSelector is set, so it selects workloads only and never a host endpoint" :
        plan.endpoints.length === 0 ? "no HostEndpoint is enforced on this node" :
        "its selector matches no HostEndpoint enforced on this node",
    }));
}

/** Profiles the enforced endpoints list, defined or not. */
function listedProfiles(plan: Plan): Map<string, string[]> {
  const listed = new Map<string, string[]>();
  for (const ep of plan.endpoints) {
    for (const ref of ep.profiles) {
      const name = profileName(ref);
      listed.set(name, [...(listed.get(name) ?? []), ep.hep.meta.name]);
    }
  }
  return listed;
}

function profilesNotApplied(plan: Plan, model: Model): NotApplied[] {
  const listed = listedProfiles(plan);
  const out: NotApplied[] = model.profiles
    .filter((p) => !listed.has(p.meta.name))
    .map((p) => ({ resource: resourceName("Profile", p.meta), reason: "no HostEndpoint enforced on this node lists it" }));
  for (const ep of plan.endpoints) {
    for (const ref of ep.profiles) {
      if (ref.kind !== "missing") continue;
      out.push({ resource: `Profile/${ref.name}`, reason: `not defined, but HostEndpoint/${ep.hep.meta.name} lists it: there it denies all traffic no policy allowed, and later profiles are never reached (as in Calico)` });
    }
  }
  return out;
}

function tiersNotApplied(plan: Plan, model: Model): NotApplied[] {
  const used = new Set([...appliedPolicies(plan)].map((p) => p.tier));
  return model.tiers
    .filter((t) => t.meta.origin.file !== "(built-in)" && !used.has(t.meta.name))
    .map((t) => ({ resource: resourceName("Tier", t.meta), reason: "no policy in it applies to a HostEndpoint enforced on this node" }));
}

function networkSetsNotApplied(plan: Plan, model: Model): NotApplied[] {
  const listed = listedProfiles(plan);
  const profiles: Profile[] = model.profiles.filter((p) => listed.has(p.meta.name));
  const rules: Rule[] = [...appliedPolicies(plan)].flatMap((p) => [...p.ingress, ...p.egress]).concat(profiles.flatMap((p) => [...p.ingress, ...p.egress]));
  const selectors: Selector[] = rules.flatMap((r) => [r.source, r.destination]).flatMap((side) => {
    const { positive, negative } = sideSelectors(side);
    return [positive, negative].filter((s): s is Selector => s !== undefined);
  });
  return model.networkSets
    .filter((s) => !selectors.some((sel) => matchesSelector(sel, s.meta.labels)))
    .map((s) => ({ resource: resourceName(s.kind, s.meta), reason: "no rule selector of a policy or profile applied on this node matches its labels" }));
}
