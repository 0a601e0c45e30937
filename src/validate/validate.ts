/**
 * Raw resources → validated, defaulted model (reference §1, §4, §9 load phase).
 *
 * One pass over every resource collects every problem. The model keeps what could be read
 * (a resource may lack its bad parts), but the caller never applies a config with any error
 * (all or nothing, DESIGN.md §5), so a partial model is only ever used for reporting. Defaults are applied as Calico's API server does before validation: policy
 * `types` and `tier`, Tier order 1,000,000, the implicit `default` tier and the built-in
 * `projectcalico-default-allow` profile.
 */
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import type { RawResource } from "../config/resource.ts";
import { type Cidr } from "../model/cidr.ts";
import { parseAddress } from "../model/cidr-parse.ts";
import { Checker, didYouMean, type Obj } from "./check.ts";
import { DEFAULT_FELIX, readFelixSpec } from "./felix.ts";
import { readLabels, readMeta } from "./meta.ts";
import { isDnsSubdomain, isInterfaceName, isPortName, nameProblem, placeholderHint } from "../model/names.ts";
import { valuesOf } from "../config/list-splice.ts";
import { readNetsOnce } from "./nets-read.ts";
import { readPolicy, readStagedPolicy } from "./policy.ts";
import { checkReferences } from "./references.ts";
import { readRules } from "./rules.ts";
import { API_VERSION, ENDPOINT_PORT_FIELDS, ENDPOINT_PORT_PROTOCOLS, HOST_ENDPOINT_FIELDS, KIND_TABLE, KINDS, keys, NETWORK_SET_FIELDS, PROFILE_FIELDS, TIER_DEFAULT_ACTIONS, TIER_FIELDS, TOP_FIELDS } from "./fields.ts";
import type { EndpointPort, FelixSettings, GlobalNetworkSet, HostEndpoint, Meta, Model, Profile, Tier } from "../model/types.ts";

/** Where each profile name stood in the YAML list (non-string entries are skipped in the model). */
const profileIndexes = new WeakMap<string[], number[]>();
const STAGED = new Set(KINDS.filter((k) => KIND_TABLE[k]!.staged));
const DEFAULT_TIER_ORDER = 1_000_000;

export interface ValidateOptions {
  /** This node's name: selects the `node.<name>` FelixConfiguration. */
  node: string;
  /** Files or directories that could not be read: references to what they define are not reported one by one (references.ts). */
  refused?: readonly string[];
}

export function validateResources(raws: readonly RawResource[], opts: ValidateOptions): { model: Model; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const model: Model = { hostEndpoints: [], networkSets: [], policies: [], profiles: [], tiers: [], felix: { ...DEFAULT_FELIX }, counts: {} };
  const seen = new Map<string, Meta>();
  const checkers = new Map<object, Checker>();
  const felixDefault: Partial<FelixSettings>[] = [];
  const felixNode: Partial<FelixSettings>[] = [];

  for (const raw of raws) {
    const ck = new Checker(raw, diagnostics);
    const before = diagnostics.length;
    if (notAResource(ck, raw.value)) continue;
    const doc = ck.object(raw.value, [], TOP_FIELDS);
    if (!doc) continue;
    const kind = ck.string(doc.kind, ["kind"], { required: true });
    if (kind === undefined) continue;
    if (!KINDS.includes(kind)) {
      ck.error("UNKNOWN_KIND", ["kind"], `unknown kind "${kind}"${didYouMean(kind, KINDS) || `; hostwall reads ${KINDS.slice(0, 8).join(", ")}`}`);
      continue;
    }
    if (doc.apiVersion !== API_VERSION) ck.error("INVALID_API_VERSION", ["apiVersion"], `apiVersion must be ${API_VERSION}, got ${JSON.stringify(doc.apiVersion ?? null)}${apiVersionHint(doc.apiVersion)}`);
    const meta = readMeta(ck, kind, doc.metadata);
    if (!meta) continue;
    ck.resource = `${kind}/${meta.namespace ? `${meta.namespace}/` : ""}${meta.name}`;
    const id = `${kind}/${meta.namespace ?? ""}/${meta.name}`;
    const first = meta.name === "" ? undefined : seen.get(id);
    if (first) {
      ck.error("DUPLICATE_RESOURCE", ["metadata", "name"], `${ck.resource} is defined twice; the first is at ${first.origin.file}:${first.origin.line}:${first.origin.column}`);
      continue;
    }
    seen.set(id, meta);
    const spec = doc.spec ?? {};
    if (STAGED.has(kind)) {
      const counted = kind === "StagedGlobalNetworkPolicy" ? "; its rules only count what they would match (sgnp/… counters in /status and /metrics)" : "; hostwall validates it and ignores it";
      ck.warn("STAGED_IGNORED", ["kind"], `${kind} is never enforced${counted}`);
      if (kind === "StagedGlobalNetworkPolicy" || kind === "StagedNetworkPolicy") push((model.staged ??= []), readStagedPolicy(ck, kind, meta, spec));
      continue;
    }
    const track = <T extends object>(r: T | undefined): T | undefined => (r && checkers.set(r, ck), r);
    if (kind === "HostEndpoint") push(model.hostEndpoints, track(readHostEndpoint(ck, meta, spec)));
    else if (kind === "GlobalNetworkSet" || kind === "NetworkSet") push(model.networkSets, readNetworkSet(ck, kind, meta, spec));
    else if (kind === "GlobalNetworkPolicy" || kind === "NetworkPolicy") push(model.policies, track(readPolicy(ck, kind, meta, spec)));
    else if (kind === "Profile") push(model.profiles, readProfile(ck, meta, spec));
    else if (kind === "Tier") push(model.tiers, readTier(ck, meta, spec));
    else if (kind === "FelixConfiguration") {
      const o = ck.object(spec, ["spec"], Object.keys(spec as Obj));
      const partial = o ? readFelixSpec(ck, o, ["spec"]) : {};
      if (meta.name === "default") felixDefault.push(partial);
      else if (meta.name === `node.${opts.node}`) felixNode.push(partial);
    }
    if (!diagnostics.slice(before).some((d) => d.severity === "error")) model.counts[kind] = (model.counts[kind] ?? 0) + 1;
  }
  model.felix = Object.assign({ ...DEFAULT_FELIX }, ...felixDefault, ...felixNode);
  addImplicitTier(model);
  checkReferences(model, { checkers, profileIndexes, refused: opts.refused ?? [] }, diagnostics);
  return { model, diagnostics };
}

/** The Kubernetes CRD group (`crd.projectcalico.org/v1`) or another version of the API. */
function apiVersionHint(value: unknown): string {
  if (typeof value !== "string") return "";
  if (/^crd\.projectcalico\.org\//.test(value)) return `; ${value} is the Kubernetes CRD form, which calicoctl and hostwall do not read: write ${API_VERSION}`;
  return didYouMean(value, [API_VERSION]);
}

/**
 * A document without apiVersion and kind is not a resource. Listing its keys as unknown fields
 * would bury the point; a flat mapping of scalars is usually a labels snippet copied from a guide.
 */
function notAResource(ck: Checker, value: unknown): boolean {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const o = value as Obj;
  if ("kind" in o || "apiVersion" in o) return false;
  const flat = Object.keys(o).length > 0 && Object.values(o).every((v) => v === null || typeof v !== "object");
  const hint = flat ? "; it looks like labels: put them under metadata.labels of a resource such as a HostEndpoint, with values quoted ('true')" : "";
  ck.error("MISSING_FIELD", ["kind"], `this document has no apiVersion and kind, so it is not a Calico resource${hint}`);
  return true;
}

function push<T>(list: T[], item: T | undefined): void {
  if (item !== undefined) list.push(item);
}

function readHostEndpoint(ck: Checker, meta: Meta, value: unknown): HostEndpoint | undefined {
  const spec = ck.object(value, ["spec"], keys(HOST_ENDPOINT_FIELDS));
  if (!spec) return undefined;
  const node = ck.string(spec.node, ["spec", "node"], { required: true });
  if (node !== undefined && !isDnsSubdomain(node)) ck.error("INVALID_NAME", ["spec", "node"], `node "${node}" ${nameProblem(node)}${placeholderHint(node)}`);
  const interfaceName = ck.string(spec.interfaceName, ["spec", "interfaceName"]) || undefined;
  if (interfaceName !== undefined && interfaceName !== "*" && !isInterfaceName(interfaceName)) {
    ck.error("INVALID_INTERFACE", ["spec", "interfaceName"], `interfaceName "${interfaceName}" must be "*" or 1-15 characters of letters, digits, '_', '.' and '-'${placeholderHint(interfaceName)}`);
  }
  const expectedIPs: Cidr[] = [];
  ck.stringList(spec.expectedIPs, ["spec", "expectedIPs"]).forEach(({ value: text, index: i }) => {
    const parsed = parseAddress(text);
    if (parsed.ok) expectedIPs.push(parsed.cidr);
    else ck.error("INVALID_ADDRESS", ["spec", "expectedIPs", i], `expectedIPs entries are plain addresses: ${parsed.message}${placeholderHint(text)}`);
  });
  if (interfaceName === undefined && expectedIPs.length === 0 && !(Array.isArray(spec.expectedIPs) && spec.expectedIPs.length > 0)) {
    ck.error("MISSING_FIELD", ["spec"], "a HostEndpoint needs interfaceName or expectedIPs");
  }
  const profileEntries = ck.stringList(spec.profiles, ["spec", "profiles"]);
  profileEntries.forEach(({ value: p, index: i }) => {
    if (!isDnsSubdomain(p)) ck.error("INVALID_NAME", ["spec", "profiles", i], `profile "${p}" ${nameProblem(p)}${placeholderHint(p)}`);
  });
  const profiles = profileEntries.map((e) => e.value);
  profileIndexes.set(profiles, profileEntries.map((e) => e.index));
  const ports = readEndpointPorts(ck, spec.ports);
  if (node === undefined) return undefined;
  return { kind: "HostEndpoint", meta, node, interfaceName, expectedIPs, profiles, ports };
}

function readEndpointPorts(ck: Checker, value: unknown): EndpointPort[] {
  const out: EndpointPort[] = [];
  (ck.list(value, ["spec", "ports"]) ?? []).forEach((item, i) => {
    const at = ["spec", "ports", i];
    const o = ck.object(item, at, keys(ENDPOINT_PORT_FIELDS));
    if (!o) return;
    const name = ck.string(o.name, [...at, "name"], { required: true });
    if (name !== undefined && !isPortName(name)) ck.error("INVALID_PORT_NAME", [...at, "name"], `port name "${name}" must be 1-15 lower-case letters, digits and '-', with a letter`);
    // numorstring.Protocol reads a digit string as the number.
    const proto = typeof o.protocol === "string" && /^[0-9]+$/.test(o.protocol) ? Number(o.protocol) : o.protocol;
    const protocol = endpointPortProtocol(proto);
    if (!protocol) ck.error("INVALID_PROTOCOL", [...at, "protocol"], `named ports need protocol TCP, UDP or SCTP, got ${JSON.stringify(proto ?? null)}${didYouMean(proto, Object.keys(ENDPOINT_PORT_PROTOCOLS))}`);
    const port = ck.number(o.port, [...at, "port"]);
    if (o.port === undefined || o.port === null) ck.error("MISSING_FIELD", [...at, "port"], "a named port needs a port number");
    else if (port === undefined) return;
    else if (!Number.isInteger(port) || port < 1 || port > 65535) ck.error("INVALID_PORT", [...at, "port"], `port ${port} is out of range 1-65535`);
    else if (name !== undefined && protocol) out.push({ name, protocol, port });
  });
  return out;
}

/** A named port's protocol: a name of the table or its number (a digit string is read as the number, as numorstring.Protocol does). */
function endpointPortProtocol(proto: unknown): { number: number; name: string } | undefined {
  for (const [name, number] of Object.entries(ENDPOINT_PORT_PROTOCOLS)) if (proto === name || proto === number) return { number, name };
  return undefined;
}

function readNetworkSet(ck: Checker, kind: "GlobalNetworkSet" | "NetworkSet", meta: Meta, value: unknown): GlobalNetworkSet | undefined {
  const spec = ck.object(value, ["spec"], keys(NETWORK_SET_FIELDS));
  if (!spec) return undefined;
  if (spec.allowedEgressDomains !== undefined) ck.error("NOT_SUPPORTED", ["spec", "allowedEgressDomains"], "domain-based network sets are a Calico Enterprise feature");
  const items = ck.list(spec.nets, ["spec", "nets"]) ?? [];
  // The parse cache hands back the same list for an unchanged file: its million CIDRs are not parsed again.
  const read = readNetsOnce(items);
  const values = read.problems.some((p) => p.notString) ? valuesOf(items) : items;
  for (const p of read.problems) {
    if (p.notString) ck.string(values[p.path[2] as number], p.path); // its message looks at the YAML source
    else ck.report(p.severity, p.code, p.path, p.message);
  }
  return { kind, meta, nets: read.nets };
}

function readProfile(ck: Checker, meta: Meta, value: unknown): Profile | undefined {
  const spec = ck.object(value, ["spec"], keys(PROFILE_FIELDS));
  if (!spec) return undefined;
  const labelsToApply = readLabels(ck, spec.labelsToApply, ["spec", "labelsToApply"]);
  return { kind: "Profile", meta, labelsToApply, ingress: readRules(ck, spec.ingress, ["spec", "ingress"]), egress: readRules(ck, spec.egress, ["spec", "egress"]) };
}

/** Tiers Calico creates itself; CEL rules pin their order and default action. */
const WELL_KNOWN_TIERS: Record<string, { order: number; defaultAction: "Deny" | "Pass" }> = {
  default: { order: DEFAULT_TIER_ORDER, defaultAction: "Deny" },
  "kube-admin": { order: 1_000, defaultAction: "Pass" },
  "kube-baseline": { order: 10_000_000, defaultAction: "Pass" },
};

function readTier(ck: Checker, meta: Meta, value: unknown): Tier | undefined {
  const spec = ck.object(value, ["spec"], keys(TIER_FIELDS));
  if (!spec) return undefined;
  const pinned = WELL_KNOWN_TIERS[meta.name];
  const order = ck.number(spec.order, ["spec", "order"]) ?? pinned?.order ?? DEFAULT_TIER_ORDER;
  const action = ck.string(spec.defaultAction, ["spec", "defaultAction"]) ?? pinned?.defaultAction ?? "Deny";
  if (action !== "Deny" && action !== "Pass") {
    ck.error("INVALID_VALUE", ["spec", "defaultAction"], `defaultAction must be Deny or Pass, got "${action}"${didYouMean(action, TIER_DEFAULT_ACTIONS)}`);
    return undefined;
  }
  if (pinned && order !== pinned.order) ck.error("INVALID_VALUE", ["spec", "order"], `the ${meta.name} tier must have order ${pinned.order}`);
  if (pinned && action !== pinned.defaultAction) ck.error("INVALID_VALUE", ["spec", "defaultAction"], `the ${meta.name} tier must have defaultAction ${pinned.defaultAction}`);
  return { kind: "Tier", meta, order, defaultAction: action };
}

function addImplicitTier(model: Model): void {
  if (!model.tiers.some((t) => t.meta.name === "default")) {
    model.tiers.push({ kind: "Tier", meta: { name: "default", labels: {}, origin: { file: "(built-in)", line: 1, column: 1 } }, order: DEFAULT_TIER_ORDER, defaultAction: "Deny" });
  }
}
