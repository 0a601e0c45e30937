/**
 * What the differential generator's documents say, worked out without hostwall's loader,
 * selector engine or CIDR code, to compare with what those produced. The differential test
 * compares the evaluator with the kernel, but both sit on the same loader, selectors and CIDR
 * code: a bug there moves both sides together and stays invisible. Here the expectations come
 * from the generator's own data: selectors are a hand-written table of predicates for the
 * fixed selector texts the generator uses, addresses are BigInt ranges parsed here, and
 * Calico's rules (defaulted types, tier and policy order, stages, the `*` endpoint) are
 * restated. Only lookup keys (canonical selector text, named-port key) come from hostwall.
 */
import type { DiagnosticCode } from "../../src/diagnostics/codes.ts";
import type { Cidr } from "../../src/model/cidr.ts";
import { canonicalSelector } from "../../src/model/selector-canonical.ts";
import type { EntityRule, Model, Rule } from "../../src/model/types.ts";
import { endpointNames, namedPortKey, sideSelectors, type Plan } from "../../src/resolve/resolve.ts";
import { NODE, type Yaml } from "./differential-gen";

type Labels = Record<string, string>;
type Doc = Record<string, any>;

/** Every selector text the generator writes, as a predicate over labels (Calico: `!=` is true when the label is absent). */
export const SELECTORS: Record<string, (l: Labels) => boolean> = {
  "all()": () => true,
  "list == 'a'": (l) => l.list === "a",
  "list == 'b'": (l) => l.list === "b",
  "has(list)": (l) => "list" in l,
  "!has(list)": (l) => !("list" in l),
  "list in {'a', 'c'}": (l) => l.list === "a" || l.list === "c",
  "kind == 'x'": (l) => l.kind === "x",
  "has(list) && kind != 'x'": (l) => "list" in l && l.kind !== "x",
  "role == 'peer'": (l) => l.role === "peer",
  "role == 'host'": (l) => l.role === "host",
  "role == 'back'": (l) => l.role === "back",
  "role == 'any'": (l) => l.role === "any",
  "role in {'host', 'back'}": (l) => l.role === "host" || l.role === "back",
  "zone == 'a'": (l) => l.zone === "a",
  "has(zone)": (l) => "zone" in l,
};

function predicate(text: string): (l: Labels) => boolean {
  const p = SELECTORS[text];
  if (!p) throw new Error(`no predicate for selector ${JSON.stringify(text)}: add it to SELECTORS`);
  return p;
}

// ---------------------------------------------------------------------------------------
// Addresses as BigInt ranges.

interface Range {
  family: 4 | 6;
  lo: bigint;
  hi: bigint;
}

function parseIp(text: string): { family: 4 | 6; value: bigint } {
  if (text.includes(".")) {
    const parts = text.split(".").map(Number);
    if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) throw new Error(`bad IPv4 ${text}`);
    return { family: 4, value: parts.reduce((v, p) => (v << 8n) | BigInt(p), 0n) };
  }
  const [head = "", tail] = text.split("::");
  const groups = (s: string) => (s ? s.split(":").map((g) => BigInt(parseInt(g, 16))) : []);
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = [...h, ...Array(8 - h.length - t.length).fill(0n), ...t];
  if (all.length !== 8) throw new Error(`bad IPv6 ${text}`);
  return { family: 6, value: all.reduce((v, g) => (v << 16n) | g, 0n) };
}

/** "192.0.2.0/25", "203.0.113.7" → its address range (host bits of the text are ignored). */
export function rangeOfText(net: string): Range {
  const [addr = "", len] = net.split("/");
  const { family, value } = parseIp(addr);
  const bits = family === 4 ? 32 : 128;
  const prefix = len === undefined ? bits : Number(len);
  const size = 1n << BigInt(bits - prefix);
  const lo = (value / size) * size;
  return { family, lo, hi: lo + size - 1n };
}

/** A hostwall Cidr → its range, from the raw words (no hostwall formatting or parsing). */
export function rangeOfCidr(c: Cidr): Range {
  const value = c.family === 4 ? BigInt(c.a0 >>> 0) : [c.a0, c.a1, c.a2, c.a3].reduce((v, w) => (v << 32n) | BigInt(w >>> 0), 0n);
  const size = 1n << BigInt((c.family === 4 ? 32 : 128) - c.prefix);
  return { family: c.family, lo: value, hi: value + size - 1n };
}

const rangeKey = (r: Range) => `${r.family}:${r.lo}-${r.hi}`;
const inAny = (family: 4 | 6, v: bigint, ranges: readonly Range[]) => ranges.some((r) => r.family === family && r.lo <= v && v <= r.hi);

// ---------------------------------------------------------------------------------------
// The documents, normalised; and the model, normalised the same way.

const PROTO: Record<string, number> = { TCP: 6, UDP: 17, ICMP: 1, ICMPv6: 58 };
const protoOf = (p: Yaml | undefined) => (p === undefined ? undefined : typeof p === "number" ? p : /^\d+$/.test(String(p)) ? Number(p) : PROTO[String(p)]);
const portText = (p: Yaml) => (typeof p === "number" ? `${p}-${p}` : /^\d+:\d+$/.test(String(p)) ? String(p).replace(":", "-") : `name:${p}`);
const modelPortText = (p: EntityRule["ports"][number]) => (p.kind === "named" ? `name:${p.name}` : `${p.min}-${p.max}`);
const sorted = (xs: string[]) => [...xs].sort();

function docSide(side: Doc | undefined) {
  const s = side ?? {};
  return {
    nets: sorted((s.nets ?? []).map((n: string) => rangeKey(rangeOfText(n)))),
    notNets: sorted((s.notNets ?? []).map((n: string) => rangeKey(rangeOfText(n)))),
    ports: sorted((s.ports ?? []).map(portText)),
    notPorts: sorted((s.notPorts ?? []).map(portText)),
    selector: s.selector !== undefined,
    notSelector: s.notSelector !== undefined,
    namespaceSelector: s.namespaceSelector !== undefined,
  };
}

function modelSide(s: EntityRule) {
  return {
    nets: sorted(s.nets.map((c) => rangeKey(rangeOfCidr(c)))),
    notNets: sorted(s.notNets.map((c) => rangeKey(rangeOfCidr(c)))),
    ports: sorted(s.ports.map(modelPortText)),
    notPorts: sorted(s.notPorts.map(modelPortText)),
    selector: s.selector !== undefined,
    notSelector: s.notSelector !== undefined,
    namespaceSelector: s.namespaceSelector !== undefined,
  };
}

const icmpOf = (m: { type: number; code?: number } | undefined) => (m ? `${m.type}/${m.code ?? "any"}` : undefined);

function docRule(r: Doc) {
  return {
    action: r.action,
    protocol: protoOf(r.protocol),
    notProtocol: protoOf(r.notProtocol),
    ipVersion: r.ipVersion,
    icmp: icmpOf(r.icmp),
    notICMP: icmpOf(r.notICMP),
    source: docSide(r.source),
    destination: docSide(r.destination),
  };
}

function modelRule(r: Rule) {
  return {
    action: r.action,
    protocol: r.protocol?.number,
    notProtocol: r.notProtocol?.number,
    ipVersion: r.ipVersion,
    icmp: icmpOf(r.icmp),
    notICMP: icmpOf(r.notICMP),
    source: modelSide(r.source),
    destination: modelSide(r.destination),
  };
}

const byKind = (docs: readonly Yaml[], kind: string) => (docs as Doc[]).filter((d) => d.kind === kind);
const byName = <T extends { name: string }>(xs: T[]) => [...xs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

/** Calico's defaulting of `types`: as written; else Egress with egress rules only, both with both, Ingress otherwise. */
function docTypes(spec: Doc): string[] {
  if (spec.types) return (spec.types as string[]).map((t) => t.toLowerCase());
  if (!spec.egress?.length) return ["ingress"];
  return spec.ingress?.length ? ["ingress", "egress"] : ["egress"];
}

/** The documents as the loader should read them. */
export function expectedModel(docs: readonly Yaml[]) {
  return {
    hostEndpoints: byName(byKind(docs, "HostEndpoint").map((d) => ({ name: d.metadata.name, labels: d.metadata.labels ?? {}, node: d.spec.node, interfaceName: d.spec.interfaceName, expectedIPs: sorted(d.spec.expectedIPs?.map((a: string) => rangeKey(rangeOfText(a))) ?? []), profiles: d.spec.profiles ?? [], ports: sorted((d.spec.ports ?? []).map((p: Doc) => `${p.name}/${PROTO[p.protocol]}/${p.port}`)) }))),
    networkSets: byName(byKind(docs, "GlobalNetworkSet").map((d) => ({ name: d.metadata.name, labels: d.metadata.labels ?? {}, nets: sorted(d.spec.nets.map((n: string) => rangeKey(rangeOfText(n)))) }))),
    tiers: byName([{ name: "default", order: 1_000_000, defaultAction: "Deny" }, ...byKind(docs, "Tier").map((d) => ({ name: d.metadata.name, order: d.spec.order, defaultAction: d.spec.defaultAction }))]),
    profiles: byName(byKind(docs, "Profile").map((d) => ({ name: d.metadata.name, labelsToApply: d.spec.labelsToApply ?? {}, ingress: (d.spec.ingress ?? []).map(docRule), egress: (d.spec.egress ?? []).map(docRule) }))),
    policies: byName(byKind(docs, "GlobalNetworkPolicy").map((d) => ({ name: d.metadata.name, tier: d.spec.tier ?? "default", order: d.spec.order, types: docTypes(d.spec), doNotTrack: !!d.spec.doNotTrack, preDNAT: !!d.spec.preDNAT, applyOnForward: !!d.spec.applyOnForward, ingress: (d.spec.ingress ?? []).map(docRule), egress: (d.spec.egress ?? []).map(docRule) }))),
  };
}

/** The loaded model in the shape of {@link expectedModel}. */
export function actualModel(model: Model) {
  return {
    hostEndpoints: byName(model.hostEndpoints.map((h) => ({ name: h.meta.name, labels: h.meta.labels, node: h.node, interfaceName: h.interfaceName, expectedIPs: sorted(h.expectedIPs.map((c) => rangeKey(rangeOfCidr(c)))), profiles: h.profiles, ports: sorted(h.ports.map((p) => `${p.name}/${p.protocol.number}/${p.port}`)) }))),
    networkSets: byName(model.networkSets.map((s) => ({ name: s.meta.name, labels: s.meta.labels, nets: sorted(s.nets.map((c) => rangeKey(rangeOfCidr(c)))) }))),
    tiers: byName(model.tiers.map((t) => ({ name: t.meta.name, order: t.order, defaultAction: t.defaultAction }))),
    profiles: byName(model.profiles.map((p) => ({ name: p.meta.name, labelsToApply: p.labelsToApply, ingress: p.ingress.map(modelRule), egress: p.egress.map(modelRule) }))),
    policies: byName(model.policies.map((p) => ({ name: p.meta.name, tier: p.tier, order: p.order, types: p.types, doNotTrack: p.doNotTrack, preDNAT: p.preDNAT, applyOnForward: p.applyOnForward, ingress: p.ingress.map(modelRule), egress: p.egress.map(modelRule) }))),
  };
}

/** Error codes the validator must give a draw: ICMP with ipVersion 6 or ICMPv6 with ipVersion 4, in protocol or notProtocol. */
export function predictedErrors(docs: readonly Yaml[]): DiagnosticCode[] {
  const rules = (docs as Doc[]).flatMap((d) => [...(d.spec?.ingress ?? []), ...(d.spec?.egress ?? [])]) as Doc[];
  const clash = rules.some((r) => [protoOf(r.protocol), protoOf(r.notProtocol)].some((p) => (p === 1 && r.ipVersion === 6) || (p === 58 && r.ipVersion === 4)));
  return clash ? ["INVALID_IP_VERSION"] : [];
}

// ---------------------------------------------------------------------------------------
// Selector members, named ports, and which policies govern which endpoint.

interface Entity {
  labels: Labels;
  nets: Range[];
  ports: Array<{ name: string; protocol: number; port: number }>;
  namespaced: false;
}

/** Labels an endpoint matches with: its profiles' labelsToApply (the first profile listing a label wins), its own over those. */
function effectiveLabels(hep: Doc, docs: readonly Yaml[]): Labels {
  const profiles = new Map(byKind(docs, "Profile").map((p) => [p.metadata.name, p.spec.labelsToApply ?? {}]));
  const out: Labels = {};
  for (const name of hep.spec.profiles ?? []) for (const [k, v] of Object.entries(profiles.get(name) ?? {})) if (!(k in out)) out[k] = v as string;
  return { ...out, ...(hep.metadata.labels ?? {}) };
}

function entities(docs: readonly Yaml[]): Entity[] {
  return [
    ...byKind(docs, "HostEndpoint").map((h): Entity => ({ labels: effectiveLabels(h, docs), nets: (h.spec.expectedIPs ?? []).map(rangeOfText), ports: (h.spec.ports ?? []).map((p: Doc) => ({ name: p.name, protocol: PROTO[p.protocol]!, port: p.port })), namespaced: false })),
    ...byKind(docs, "GlobalNetworkSet").map((s): Entity => ({ labels: s.metadata.labels ?? {}, nets: s.spec.nets.map(rangeOfText), ports: [], namespaced: false })),
  ];
}

/** The positive and negative predicate of a rule side (reference §4.6: namespaceSelector global() = non-namespaced things; any other matches namespaced things only; selector and notSelector fold into one). */
function sidePredicates(side: Doc | undefined): { positive?: (e: Entity) => boolean; negative?: (e: Entity) => boolean } {
  const s = side ?? {};
  const sel = s.selector !== undefined ? predicate(s.selector) : undefined;
  const notSel = s.notSelector !== undefined ? predicate(s.notSelector) : undefined;
  const scope = s.namespaceSelector === undefined ? undefined : s.namespaceSelector === "global()" ? (e: Entity) => !e.namespaced : () => false;
  if (!sel && !scope) return { negative: notSel && ((e) => notSel(e.labels)) };
  return { positive: (e) => (!sel || sel(e.labels)) && (!scope || scope(e)) && (!notSel || !notSel(e.labels)) };
}

/** Addresses worth asking about: every boundary of every range in the documents, and one step outside it. */
function samplePoints(docs: readonly Yaml[]): Array<{ family: 4 | 6; v: bigint }> {
  const texts = new Set<string>();
  const walk = (x: unknown): void => {
    if (typeof x === "string" && /^[0-9a-f:.]+(\/\d+)?$/i.test(x) && /[.:]/.test(x) && /\d/.test(x)) texts.add(x);
    else if (Array.isArray(x)) x.forEach(walk);
    else if (x && typeof x === "object") Object.values(x).forEach(walk);
  };
  walk(docs);
  const out = new Map<string, { family: 4 | 6; v: bigint }>();
  for (const t of texts) {
    let r: Range;
    try {
      r = rangeOfText(t);
    } catch {
      continue; // a port range like "8000:8100"
    }
    for (const v of [r.lo - 1n, r.lo, r.hi, r.hi + 1n]) if (v >= 0n) out.set(`${r.family}:${v}`, { family: r.family, v });
  }
  return [...out.values()];
}

/** Every rule with its document, paired by owner name and position. */
function pairedRules(docs: readonly Yaml[], model: Model): Array<{ where: string; doc: Doc; rule: Rule }> {
  const out: Array<{ where: string; doc: Doc; rule: Rule }> = [];
  for (const owner of [...model.policies, ...model.profiles]) {
    const d = (docs as Doc[]).find((x) => x.kind === (owner.kind === "Profile" ? "Profile" : "GlobalNetworkPolicy") && x.metadata.name === owner.meta.name);
    if (!d) throw new Error(`${owner.kind}/${owner.meta.name} is in the model but not in the documents`);
    for (const dir of ["ingress", "egress"] as const) owner[dir].forEach((rule, i) => out.push({ where: `${owner.meta.name} ${dir}[${i}]`, doc: d.spec[dir][i], rule }));
  }
  return out;
}

/**
 * Disagreements between the plan's rule-selector sets and named-port sets and what the
 * documents say: for every rule side, membership of every sample address, and the exact
 * (address, protocol, port) tuples of every named port.
 */
export function setMismatches(docs: readonly Yaml[], model: Model, plan: Plan): { mismatches: string[]; checked: { sets: number; inside: number; outside: number; namedPorts: number; tuples: number } } {
  const all = entities(docs);
  const points = samplePoints(docs);
  const bad: string[] = [];
  // How much was compared, so a test can tell a real check from a vacuous one.
  const checked = { sets: 0, inside: 0, outside: 0, namedPorts: 0, tuples: 0 };
  for (const { where, doc, rule } of pairedRules(docs, model)) {
    for (const sideName of ["source", "destination"] as const) {
      const want = sidePredicates(doc[sideName]);
      const got = sideSelectors(rule[sideName]);
      for (const which of ["positive", "negative"] as const) {
        if (!want[which] !== !got[which]) {
          bad.push(`${where} ${sideName}: ${which} selector ${want[which] ? "expected" : "not expected"}`);
          continue;
        }
        if (!want[which]) continue;
        const members = all.filter(want[which]!).flatMap((e) => e.nets);
        const set = plan.sets.get(canonicalSelector(got[which]!));
        if (!set) {
          bad.push(`${where} ${sideName}: no set for its ${which} selector`);
          continue;
        }
        const actual = [...set.v4, ...set.v6].map(rangeOfCidr);
        checked.sets++;
        for (const p of points) if (inAny(p.family, p.v, members)) checked.inside++;
        else checked.outside++;
        for (const p of points) if (inAny(p.family, p.v, members) !== inAny(p.family, p.v, actual)) bad.push(`${where} ${sideName} ${which}: IPv${p.family} ${p.v} expected ${inAny(p.family, p.v, members) ? "in" : "not in"} the set`);
      }
      const positive = want.positive;
      const proto = rule.protocol?.number ?? 6;
      for (const port of [...(doc[sideName]?.ports ?? []), ...(doc[sideName]?.notPorts ?? [])]) {
        if (typeof port !== "string" || /^\d+:\d+$/.test(port)) continue;
        const expected = all.filter((e) => !positive || positive(e)).flatMap((e) => e.ports.filter((p) => p.name === port && p.protocol === proto).flatMap((p) => e.nets.map((n) => `${rangeKey(n)}|${p.protocol}|${p.port}`)));
        const got2 = plan.namedPorts.get(namedPortKey(got.positive && canonicalSelector(got.positive), port, proto));
        const actual = got2 ? [...got2.v4, ...got2.v6].map((t) => `${rangeKey(rangeOfCidr(t.address))}|${t.protocol}|${t.port}`) : ["(no named-port set)"];
        checked.namedPorts++;
        checked.tuples += expected.length;
        if (JSON.stringify(sorted(actual)) !== JSON.stringify(sorted(expected))) bad.push(`${where} ${sideName} port ${port}: expected ${JSON.stringify(sorted(expected))}, got ${JSON.stringify(sorted(actual))}`);
      }
    }
  }
  return { mismatches: bad, checked };
}

const policyKey = (d: Doc) => `${d.metadata.name}//GlobalNetworkPolicy`;
const cmp = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);

/** The endpoints the plan should enforce here, with labels, profiles and policy names per stage and direction in evaluation order. */
export function expectedEndpoints(docs: readonly Yaml[]) {
  const heps = byKind(docs, "HostEndpoint").filter((h) => h.spec.node === NODE).sort((a, b) => cmp(a.metadata.name, b.metadata.name));
  const tiers = [{ name: "default", order: 1_000_000 }, ...byKind(docs, "Tier").map((t) => ({ name: t.metadata.name as string, order: t.spec.order as number }))].sort((a, b) => a.order - b.order || cmp(a.name, b.name));
  const policies = byKind(docs, "GlobalNetworkPolicy").sort((a, b) => (a.spec.order ?? Infinity) - (b.spec.order ?? Infinity) || cmp(policyKey(a), policyKey(b)));
  const governs: Array<[string, Doc]> = [];
  for (const iface of [...new Set(heps.map((h) => h.spec.interfaceName).filter((i) => i !== "*"))].sort()) governs.push([iface, heps.find((h) => h.spec.interfaceName === iface)!]);
  const star = heps.find((h) => h.spec.interfaceName === "*");
  if (star) governs.push(["*", star]);
  return governs.map(([iface, hep]) => {
    const labels = effectiveLabels(hep, docs);
    const untracked = (s: Doc) => !!s.doNotTrack;
    const normal = (s: Doc) => !s.doNotTrack && !s.preDNAT;
    // The "*" endpoint ignores untracked policy, as Felix does (reference §3.4).
    const names = (dir: "ingress" | "egress", stage: (s: Doc) => boolean) =>
      iface === "*" && stage === untracked ? [] : tiers.flatMap((t) => policies.filter((p) => (p.spec.tier ?? "default") === t.name && predicate(p.spec.selector)(labels) && docTypes(p.spec).includes(dir) && stage(p.spec)).map((p) => p.metadata.name as string));
    return {
      interfaceName: iface,
      hep: hep.metadata.name as string,
      labels,
      profiles: (hep.spec.profiles ?? []) as string[],
      policies: {
        ingress: { untracked: names("ingress", untracked), preDNAT: names("ingress", (s) => !!s.preDNAT), normal: names("ingress", normal), forward: names("ingress", (s) => normal(s) && !!s.applyOnForward) },
        egress: { untracked: names("egress", untracked), normal: names("egress", normal), forward: names("egress", (s) => normal(s) && !!s.applyOnForward) },
      },
    };
  });
}

/** The plan's endpoints in the shape of {@link expectedEndpoints}. */
export function actualEndpoints(plan: Plan) {
  return plan.endpoints.map((ep) => {
    const { policies, profiles } = endpointNames(ep);
    return { interfaceName: ep.interfaceName, hep: ep.hep.meta.name, labels: ep.labels, profiles, policies };
  });
}
