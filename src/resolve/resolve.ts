/**
 * Model → plan for this node (reference §1.2, §2, §4.6, §9 compile steps 1-4).
 *
 * Decides which HostEndpoints are enforced here and, for each, which policies apply per
 * direction and stage in evaluation order, and which profiles follow. It also computes the
 * member addresses of every rule selector (the future nft sets), deduplicated by the
 * selector's canonical form. Nothing here knows about nftables.
 */
import { formatCidr, normalizeCidrs, type Cidr } from "../model/cidr.ts";
import { canonicalSelector, matchesSelector, type Selector } from "../model/selector.ts";
import type { Direction, EntityRule, FelixSettings, GlobalNetworkPolicy, HostEndpoint, Model, Profile, Rule, Tier } from "../model/types.ts";
import type { Diagnostic } from "../config/diagnostics.ts";
import { DEFAULT_ALLOW_PROFILE } from "../model/validate.ts";
import { isInterfaceName } from "../model/names.ts";

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

/** The interface name of the `*` endpoint in plans. */
export const WILDCARD = "*";

/** (address, protocol, port) members of one named-port match, per family. */
export interface NamedPortSet {
  /** Identity: side selector, port name, protocol restriction. */
  key: string;
  /** IPv4 tuples. */
  v4: PortTuple[];
  /** IPv6 tuples. */
  v6: PortTuple[];
}

/** One endpoint address with one of its named ports. */
export interface PortTuple {
  /** The endpoint address (a /32 or /128). */
  address: Cidr;
  /** Protocol number. */
  protocol: number;
  /** Port number. */
  port: number;
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
  /** Named-port sets referenced by rules, keyed by {@link namedPortKey}. */
  namedPorts: Map<string, NamedPortSet>;
}

/**
 * The protocol a rule's named ports match: the rule's, or TCP when it has none (Felix's
 * rule_scanner.go: `namedPortProto := ProtocolTCP` unless the rule says UDP or SCTP).
 */
export function namedPortProtocol(rule: Rule): number {
  return rule.protocol?.number ?? 6;
}

/** Identity of a named-port match: the side's positive selector (or all endpoints), the name, the rule's protocol. */
export function namedPortKey(selectorKey: string | undefined, name: string, protocol: number | undefined): string {
  return `${selectorKey ?? "*"}|${name}|${protocol ?? "any"}`;
}

const NAMESPACE_LABEL = "projectcalico.org/namespace";

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
  const { sets, namedPorts } = computeSets(model, profiles);
  return { plan: { node, endpoints, felix: model.felix, sets, namedPorts }, diagnostics };
}

function profileRefs(hep: HostEndpoint, profiles: Map<string, Profile>): ProfileRef[] {
  return hep.profiles.map((name): ProfileRef => {
    if (name === DEFAULT_ALLOW_PROFILE) return { kind: "default-allow" };
    const profile = profiles.get(name);
    return profile ? { kind: "profile", profile } : { kind: "missing", name };
  });
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
  const scope = namespaceScope(side.namespaceSelector);
  let positive = side.selector;
  if (positive && scope) positive = { kind: "and", operands: [positive, scope] };
  if (!positive && scope) positive = scope;
  if (positive && side.notSelector) return { positive: { kind: "and", operands: [positive, { kind: "not", operand: side.notSelector }] } };
  return { positive, negative: side.notSelector };
}

/**
 * What a rule's namespaceSelector restricts its selector to (reference §4.6): `global()` means
 * things without a namespace (HostEndpoints, GlobalNetworkSets); any other selector matches
 * namespaced things only, with namespace labels looked up under the `pcns.` prefix and `all()`
 * meaning "has a namespace". hostwall has no Namespace resources, so namespace labels never
 * exist: such a selector reaches namespaced NetworkSets at most, never a HostEndpoint.
 */
function namespaceScope(ns: Selector | undefined): Selector | undefined {
  if (!ns) return undefined;
  if (ns.kind === "global") return { kind: "not", operand: { kind: "has", label: NAMESPACE_LABEL } };
  return { kind: "and", operands: [{ kind: "has", label: NAMESPACE_LABEL }, prefixLabels(ns, "pcns.")] };
}

function prefixLabels(sel: Selector, prefix: string): Selector {
  switch (sel.kind) {
    case "all":
    case "global":
      return sel;
    case "not":
      return { kind: "not", operand: prefixLabels(sel.operand, prefix) };
    case "and":
    case "or":
      return { kind: sel.kind, operands: sel.operands.map((o) => prefixLabels(o, prefix)) };
    default:
      return { ...sel, label: prefix + sel.label };
  }
}

/**
 * Every rule selector used by any enforced policy or profile → its members; every named port
 * → the (address, protocol, port) tuples of the endpoints the same side's selector matches
 * (reference §4.3). Network sets have no ports, so only HostEndpoints feed named ports.
 */
function computeSets(model: Model, profiles: Map<string, Profile>): { sets: Map<string, AddressSet>; namedPorts: Map<string, NamedPortSet> } {
  const sets = new Map<string, AddressSet>();
  const namedPorts = new Map<string, NamedPortSet>();
  const rules: Rule[] = [
    ...model.policies.filter((p) => !p.namespaced).flatMap((p) => [...p.ingress, ...p.egress]),
    ...[...profiles.values()].flatMap((p) => [...p.ingress, ...p.egress]),
  ];
  const heps = model.hostEndpoints.map((h) => ({ labels: effectiveLabels(h, profileRefs(h, profiles)), nets: h.expectedIPs, ports: h.ports }));
  const members = [...heps, ...model.networkSets.map((s) => ({ labels: s.meta.labels, nets: s.nets, ports: [] }))];
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
      for (const port of [...side.ports, ...side.notPorts]) {
        if (port.kind !== "named") continue;
        const key = namedPortKey(positive && canonicalSelector(positive), port.name, namedPortProtocol(rule));
        if (namedPorts.has(key)) continue;
        const tuples: PortTuple[] = [];
        for (const hep of heps) {
          if (positive && !matchesSelector(positive, hep.labels)) continue;
          for (const p of hep.ports) {
            if (p.name !== port.name || namedPortProtocol(rule) !== p.protocol.number) continue;
            for (const address of hep.nets) tuples.push({ address, protocol: p.protocol.number, port: p.port });
          }
        }
        namedPorts.set(key, { key, v4: tuples.filter((t) => t.address.family === 4), v6: tuples.filter((t) => t.address.family === 6) });
      }
    }
  }
  return { sets, namedPorts };
}
