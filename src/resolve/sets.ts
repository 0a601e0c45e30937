/**
 * The member sets of a plan (reference §4.3, §4.6): every rule selector used by a policy or a
 * profile → the addresses of the endpoints and network sets it matches, and every named port →
 * the (address, protocol, port) tuples of the endpoints that declare it. Also the effective
 * labels of an endpoint (its own over its profiles' labelsToApply), which both selectors and
 * the lints of src/lint/ match against.
 */
import { countedStaged } from "./staged.ts";
import { type Cidr } from "../model/cidr.ts";
import { cidrArray, type CidrList } from "../model/cidr-column.ts";
import { normalizeCidrs } from "../model/cidr-normalize.ts";
import { DEFAULT_ALLOW_PROFILE } from "../validate/references.ts";
import { MEMO_MIN_MEMBERS, SetMemoBuild } from "./set-memo.ts";
import { matchesSelector, type Selector } from "../model/selector.ts";
import { canonicalSelector } from "../model/selector-canonical.ts";
import type { EntityRule, HostEndpoint, Model, Profile, Rule } from "../model/types.ts";

export { clearSetMemo, setMemoStats } from "./set-memo.ts";

const NAMESPACE_LABEL = "projectcalico.org/namespace";

/** The members of one rule selector, per family, normalised. */
export interface AddressSet {
  /** Canonical selector text (identity of the set). */
  key: string;
  /** IPv4 members (a column for a big set: set-memo.ts). */
  v4: CidrList;
  /** IPv6 members. */
  v6: CidrList;
}

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

/** A profile reference resolved: a defined profile, the built-in allow, or a missing one (deny-all). */
export type ProfileRef = { kind: "profile"; profile: Profile } | { kind: "default-allow" } | { kind: "missing"; name: string };

/** An endpoint's profile names resolved: defined, the built-in allow, or missing (deny-all). */
export function profileRefs(hep: HostEndpoint, profiles: Map<string, Profile>): ProfileRef[] {
  return hep.profiles.map((name): ProfileRef => {
    if (name === DEFAULT_ALLOW_PROFILE) return { kind: "default-allow" };
    const profile = profiles.get(name);
    return profile ? { kind: "profile", profile } : { kind: "missing", name };
  });
}

/** An endpoint's labels: its own over its profiles' labelsToApply (the first profile wins among them). */
export function effectiveLabels(hep: HostEndpoint, refs: ProfileRef[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const ref of [...refs].reverse()) if (ref.kind === "profile") Object.assign(labels, ref.profile.labelsToApply);
  return Object.assign(labels, hep.meta.labels);
}

/** Every HostEndpoint (of any node) with its effective labels. */
export function labelledEndpoints(model: Model): { hep: HostEndpoint; labels: Record<string, string> }[] {
  const profiles = new Map(model.profiles.map((p) => [p.meta.name, p]));
  return model.hostEndpoints.map((hep) => ({ hep, labels: effectiveLabels(hep, profileRefs(hep, profiles)) }));
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
export function computeSets(model: Model, profiles: Map<string, Profile>): { sets: Map<string, AddressSet>; namedPorts: Map<string, NamedPortSet> } {
  const sets = new Map<string, AddressSet>();
  const namedPorts = new Map<string, NamedPortSet>();
  const rules: Rule[] = [
    ...model.policies.filter((p) => !p.namespaced).flatMap((p) => [...p.ingress, ...p.egress]),
    ...countedStaged(model).flatMap((s) => (s.policy ? [...s.policy.ingress, ...s.policy.egress] : [])),
    ...[...profiles.values()].flatMap((p) => [...p.ingress, ...p.egress]),
  ];
  const heps = model.hostEndpoints.map((h) => ({ labels: effectiveLabels(h, profileRefs(h, profiles)), nets: h.expectedIPs, ports: h.ports }));
  const members = [...heps, ...model.networkSets.map((s) => ({ labels: s.meta.labels, nets: s.nets, ports: [] }))];
  const memo = new SetMemoBuild();
  for (const rule of rules) {
    for (const side of [rule.source, rule.destination]) {
      const { positive, negative } = sideSelectors(side);
      for (const sel of [positive, negative]) {
        if (!sel) continue;
        const key = canonicalSelector(sel);
        if (sets.has(key)) continue;
        const lists = members.filter((m) => matchesSelector(sel, m.labels)).map((m) => m.nets);
        let count = 0;
        for (const list of lists) count += list.length;
        // A big set is patched from the last build's when its lists were only edited (set-memo.ts).
        if (count >= MEMO_MIN_MEMBERS) sets.set(key, { key, ...memo.members(key, lists) });
        else {
          const all = lists.flatMap(cidrArray);
          sets.set(key, { key, v4: normalizeCidrs(all.filter((c) => c.family === 4)), v6: normalizeCidrs(all.filter((c) => c.family === 6)) });
        }
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
  memo.finish();
  return { sets, namedPorts };
}
