/**
 * Model → plan for this node (reference §1.2, §2, §4.6, §9 compile steps 1-4).
 *
 * Decides which HostEndpoints are enforced here and, for each, which policies apply per
 * direction and stage in evaluation order, and which profiles follow. The member addresses of
 * every rule selector (the future nft sets) come from sets.ts. Nothing here knows about
 * nftables.
 */
import { formatCidr, type Cidr } from "../model/cidr.ts";
import { matchesSelector } from "../model/selector.ts";
import type { Direction, FelixSettings, GlobalNetworkPolicy, HostEndpoint, Model, Profile, Tier } from "../model/types.ts";
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import { DEFAULT_ALLOW_PROFILE } from "../validate/references.ts";
import { isInterfaceName } from "../model/names.ts";
import { computeSets, effectiveLabels, profileRefs, type AddressSet, type NamedPortSet, type ProfileRef } from "./sets.ts";
import { countedStaged, stagedFor, type Stage, type StagedPlans } from "./staged.ts";

export type { Stage, StagedPlacement, StagedPlans } from "./staged.ts";
export { labelledEndpoints, namedPortKey, namedPortProtocol, sideSelectors, type AddressSet, type NamedPortSet, type PortTuple } from "./sets.ts";

/** Policies of one tier that apply to an endpoint in one direction and stage, in order. */
export interface TierPlan {
  /** The tier. */
  tier: Tier;
  /** Applicable policies in evaluation order. */
  policies: GlobalNetworkPolicy[];
}

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
  /** Staged policies counted for this endpoint (staged.ts); never enforced. */
  staged?: StagedPlans;
}

/** The interface name of the `*` endpoint in plans. */
export const WILDCARD = "*";

export interface Plan {
  /** This node. */
  node: string;
  /** Endpoints enforced here, sorted by interface name. */
  endpoints: EndpointPlan[];
  /** Felix settings in force. */
  felix: FelixSettings;
  /** Address sets referenced by rules, keyed by canonical selector. */
  sets: Map<string, AddressSet>;
  /** Named-port sets referenced by rules, keyed by {@link namedPortKey}. */
  namedPorts: Map<string, NamedPortSet>;
}

export interface ResolveOptions {
  /** Addresses of the interfaces that exist now: binds endpoints that have expectedIPs but no interfaceName. */
  addresses?: ReadonlyMap<string, readonly Cidr[]>;
}

export function resolvePlan(model: Model, node: string, opts: ResolveOptions = {}): { plan: Plan; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const profiles = new Map(model.profiles.map((p) => [p.meta.name, p]));
  const tiers = [...model.tiers].sort((a, b) => a.order - b.order || compareStrings(a.meta.name, b.meta.name));
  const policies = [...model.policies].filter((p) => p.kind === "GlobalNetworkPolicy" && !p.namespaced).sort(comparePolicies);
  const byInterface = bindInterfaces(model, node, opts.addresses, diagnostics);
  const endpoints: EndpointPlan[] = [...byInterface.entries()]
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([interfaceName, hep]) => endpointPlan(hep, interfaceName, profiles, policies, tiers));

  const wildcard = wildcardEndpoint(model, node, profiles, policies, tiers, diagnostics);
  if (wildcard) endpoints.push(wildcard);
  const staged = countedStaged(model);
  if (staged.length > 0) {
    for (const ep of endpoints) ep.staged = stagedFor({ labels: ep.labels, stages: ep.stages, staged, tiers, compare: comparePolicies });
  }
  const { sets, namedPorts } = computeSets(model, profiles);
  return { plan: { node, endpoints, felix: model.felix, sets, namedPorts }, diagnostics };
}

function endpointPlan(hep: HostEndpoint, interfaceName: string, profiles: Map<string, Profile>, policies: GlobalNetworkPolicy[], tiers: Tier[]): EndpointPlan {
  const refs = profileRefs(hep, profiles);
  const labels = effectiveLabels(hep, refs);
  return { hep, interfaceName, labels, profiles: refs, stages: stagesFor(labels, policies, tiers) };
}

/**
 * Which endpoint governs each interface (reference §1.2, Felix's resolveHostEndpoints): an
 * endpoint claims an interface by name, or, without interfaceName, every interface that owns
 * one of its expectedIPs. Exactly one endpoint governs an interface: the first by name; the
 * others get a warning. Loopback is never bound by address (§10.2).
 */
function bindInterfaces(model: Model, node: string, addresses: ReadonlyMap<string, readonly Cidr[]> | undefined, diagnostics: Diagnostic[]): Map<string, HostEndpoint> {
  const heps = model.hostEndpoints.filter((h) => h.node === node && h.interfaceName !== "*").sort((a, b) => compareStrings(a.meta.name, b.meta.name));
  const owned = new Map<string, Set<string>>();
  for (const [iface, list] of addresses ?? []) {
    if (iface === "lo") continue;
    const ips = new Set(list.map(formatCidr));
    // Linux allows names (`*`, quotes, braces) that Calico's pattern and nft text do not: such an
    // interface is never bound, whichever endpoint expects its address (the `*` endpoint, if
    // any, governs it), and never mistaken for the `*` endpoint.
    if (!isInterfaceName(iface)) {
      for (const hep of heps.filter((h) => h.interfaceName === undefined && h.expectedIPs.some((ip) => ips.has(formatCidr(ip))))) {
        const o = hep.meta.origin;
        diagnostics.push({ code: "UNSUPPORTED_INTERFACE_NAME", severity: "warning", message: `interface ${JSON.stringify(iface)} holds an expectedIP of this endpoint, but its name is not 1-15 letters, digits, '_', '.' or '-' (Calico's pattern), so hostwall cannot bind the endpoint to it; rename the interface`, file: o.file, line: o.line, column: o.column, resource: `HostEndpoint/${hep.meta.name}`, path: "spec.expectedIPs" });
      }
      continue;
    }
    owned.set(iface, ips);
  }
  const claims = (hep: HostEndpoint, iface: string) =>
    hep.interfaceName !== undefined ? hep.interfaceName === iface : hep.expectedIPs.some((ip) => owned.get(iface)?.has(formatCidr(ip)));
  const interfaces = new Set([...heps.flatMap((h) => (h.interfaceName ? [h.interfaceName] : [])), ...owned.keys()]);
  const byInterface = new Map<string, HostEndpoint>();
  for (const iface of [...interfaces].sort(compareStrings)) {
    const [winner, ...losers] = heps.filter((h) => claims(h, iface));
    if (!winner) continue;
    byInterface.set(iface, winner);
    for (const hep of losers) {
      const o = hep.meta.origin;
      diagnostics.push({ code: "INTERFACE_CONFLICT", severity: "warning", message: `interface ${iface} is already governed by HostEndpoint/${winner.meta.name} (first by name wins); this endpoint is inactive there`, file: o.file, line: o.line, column: o.column, resource: `HostEndpoint/${hep.meta.name}`, path: hep.interfaceName ? "spec.interfaceName" : "spec.expectedIPs" });
    }
  }
  return byInterface;
}

/**
 * The `interfaceName: "*"` endpoint of this node (the first by name; reference §1.2): the
 * default for every interface no named endpoint claims, loopback excepted (§10.2). Untracked
 * policy is ignored for it, as Felix does (§3.4), with a warning.
 */
function wildcardEndpoint(model: Model, node: string, profiles: Map<string, Profile>, policies: GlobalNetworkPolicy[], tiers: Tier[], diagnostics: Diagnostic[]): EndpointPlan | undefined {
  const candidates = model.hostEndpoints.filter((h) => h.node === node && h.interfaceName === "*").sort((a, b) => compareStrings(a.meta.name, b.meta.name));
  const [winner, ...others] = candidates;
  for (const hep of others) {
    const o = hep.meta.origin;
    diagnostics.push({ code: "INTERFACE_CONFLICT", severity: "warning", message: `only one interfaceName "*" endpoint is active per node; HostEndpoint/${winner!.meta.name} wins (first by name)`, file: o.file, line: o.line, column: o.column, resource: `HostEndpoint/${hep.meta.name}`, path: "spec.interfaceName" });
  }
  if (!winner) return undefined;
  const ep = endpointPlan(winner, WILDCARD, profiles, policies, tiers);
  const untracked = [...ep.stages.untracked.ingress, ...ep.stages.untracked.egress].flatMap((t) => t.policies.map((p) => p.meta.name));
  if (untracked.length > 0) {
    const o = winner.meta.origin;
    diagnostics.push({ code: "UNTRACKED_IGNORED", severity: "warning", message: `doNotTrack policies are ignored for an interfaceName "*" endpoint, as in Calico: ${[...new Set(untracked)].join(", ")}`, file: o.file, line: o.line, column: o.column, resource: `HostEndpoint/${winner.meta.name}` });
    ep.stages.untracked = { ingress: [], egress: [] };
  }
  return ep;
}

/** GlobalNetworkPolicy names of an endpoint per direction and stage, in evaluation order. */
export interface EndpointPolicies {
  ingress: { untracked: string[]; preDNAT: string[]; normal: string[]; forward: string[] };
  egress: { untracked: string[]; normal: string[]; forward: string[] };
}

/** The names /status and `plan` show for an endpoint: its policies and its profiles. */
export function endpointNames(ep: EndpointPlan): { policies: EndpointPolicies; profiles: string[] } {
  const names = (stage: Stage, dir: Direction) => ep.stages[stage][dir].flatMap((t) => t.policies.map((p) => p.meta.name));
  return {
    policies: {
      ingress: { untracked: names("untracked", "ingress"), preDNAT: names("preDNAT", "ingress"), normal: names("normal", "ingress"), forward: names("forward", "ingress") },
      egress: { untracked: names("untracked", "egress"), normal: names("normal", "egress"), forward: names("forward", "egress") },
    },
    profiles: ep.profiles.map(profileName),
  };
}

/** The name a profile reference was written with. */
export function profileName(ref: ProfileRef): string {
  return ref.kind === "profile" ? ref.profile.meta.name : ref.kind === "missing" ? ref.name : DEFAULT_ALLOW_PROFILE;
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
