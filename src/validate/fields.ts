/**
 * The fields of every resource kind hostwall reads, as one declarative table: which keys each
 * mapping takes (in the order `did you mean` searches them), which are required, the closed
 * sets of values and the limits. The validator (validate.ts, meta.ts, policy.ts, rules.ts,
 * felix.ts) reads its allowed keys and enums from here, and json-schema.ts turns the same table
 * into the JSON Schema editors use (`hostwall schema`), so the two cannot drift apart.
 *
 * Shapes say what the validator accepts, never more narrowly: a schema that rejected a file
 * hostwall accepts would mislead an editor. Checks the table cannot express (CIDRs, selector
 * syntax, cross-field rules) stay in code; `hostwall check` is the authority.
 */

/** What a value may be. */
export type Shape =
  | { t: "string"; enum?: readonly string[]; pattern?: string; maxLength?: number }
  | { t: "integer"; min?: number; max?: number; enum?: readonly number[] }
  | { t: "number" }
  | { t: "boolean" }
  | { t: "list"; items: Shape; max?: number; unique?: boolean }
  /** A mapping of strings to strings (labels, annotations); `key:` with no value is "". */
  | { t: "map"; keys?: { pattern: string }; values?: { pattern: string } }
  /** A mapping with these keys only (`open`: other keys are warnings, not errors). */
  | { t: "object"; fields: Fields; open?: boolean; dependencies?: Readonly<Record<string, readonly string[]>> }
  /** A shared definition of DEFINITIONS. */
  | { t: "ref"; to: DefinitionName }
  | { t: "anyOf"; of: readonly Shape[] }
  | { t: "any" }
  /** A key the validator knows and refuses with a reason of its own (not "unknown field"). */
  | { t: "refused"; why: string };

export interface Field {
  shape: Shape;
  /** One line for an editor's hover. */
  doc: string;
  /** Absent (or null) is an error. */
  required?: boolean;
  /** Null is read as absent; the default for fields that are not required. */
  nullable?: boolean;
}

export type Fields = Readonly<Record<string, Field>>;

/** Keys of a mapping in table order: the list Checker.object allows. */
export const keys = (fields: Fields): readonly string[] => Object.keys(fields);

const f = (shape: Shape, doc: string, extra: Partial<Field> = {}): Field => ({ shape, doc, ...extra });
const str = (extra: Omit<Extract<Shape, { t: "string" }>, "t"> = {}): Shape => ({ t: "string", ...extra });
const ref = (to: DefinitionName): Shape => ({ t: "ref", to });
const list = (items: Shape, extra: { max?: number; unique?: boolean } = {}): Shape => ({ t: "list", items, ...extra });
const obj = (fields: Fields, extra: { open?: boolean; dependencies?: Record<string, string[]> } = {}): Shape => ({ t: "object", fields, ...extra });

export const API_VERSION = "projectcalico.org/v3";
export const RULE_ACTIONS = ["Allow", "Deny", "Log", "Pass"] as const;
/** Protocol names a rule takes, with their numbers (numorstring.Protocol). */
export const PROTOCOL_NUMBERS = { TCP: 6, UDP: 17, ICMP: 1, ICMPv6: 58, SCTP: 132, UDPLite: 136 } as const;
/** Protocols a HostEndpoint's named port takes. */
export const ENDPOINT_PORT_PROTOCOLS = { TCP: 6, UDP: 17, SCTP: 132 } as const;
export const POLICY_TYPES = ["Ingress", "Egress"] as const;
export const STAGED_ACTIONS = ["Set", "Delete", "Learn", "Ignore"] as const;
export const PERFORMANCE_HINTS = ["AssumeNeededOnEveryNode"] as const;
export const TIER_DEFAULT_ACTIONS = ["Deny", "Pass"] as const;
export const DENY_ACTIONS = ["Drop", "Reject"] as const;
/** FelixConfiguration.logPrefix: what Felix lets through to a log prefix. */
export const LOG_PREFIX_PATTERN = "^[a-zA-Z0-9%: /_-]*$";
/** FelixConfiguration.logActionRateLimit. */
export const RATE_LIMIT_PATTERN = "^([1-9][0-9]{0,3})/(second|minute|hour|day)$";
export const MAX_RULES = 1024;
export const MAX_RULE_NETS = 256;
export const MAX_RULE_PORTS = 50;
export const MAX_SELECTOR = 1024;

/**
 * Names as the validator checks them (model/names.ts), as patterns an editor can run. The
 * validator keeps its own functions (their messages say what is wrong); a unit test holds each
 * pattern to the function it mirrors over a corpus of names (test/unit/json-schema-names.test.ts).
 */
const LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
export const NAME_PATTERNS = {
  /** DNS-1123 subdomain, at most 253 (isDnsSubdomain). */
  subdomain: { pattern: `^${LABEL}(\\.${LABEL})*$`, maxLength: 253 },
  /** DNS-1123 label, at most 63 (isDnsLabel, non-empty). */
  label: { pattern: `^${LABEL}$`, maxLength: 63 },
  /** A GlobalNetworkPolicy name: a label, optionally after one `label.` (isPolicyName). */
  policy: { pattern: `^${LABEL}(\\.${LABEL})?$`, maxLength: 253 },
  /** A NetworkPolicy name: a policy name, or a subdomain behind knp.default. / ossg.default. (isNetworkPolicyName). */
  networkPolicy: { pattern: `^(${LABEL}(\\.${LABEL})?|(knp|ossg)\\.default\\.${LABEL}(\\.${LABEL})*)$`, maxLength: 253 },
  /** HostEndpoint.interfaceName: "*", or 1-15 of letters, digits, '_', '.', '-' (isInterfaceName); "" is read as absent. */
  interface: { pattern: "^(\\*|[a-zA-Z0-9_.-]{0,15})$" },
  /** A named port: 1-15 lower-case letters, digits and '-', with a letter, no '--' (isPortName). */
  port: { pattern: "^(?=.*[a-z])(?!.*--)[a-z0-9]([a-z0-9-]*[a-z0-9])?$", maxLength: 15 },
  /** A label key: an optional DNS-subdomain prefix and '/', then 1-63 alphanumerics and '-_.' (labelKeyProblem). */
  labelKey: { pattern: `^(${LABEL}(\\.${LABEL})*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$` },
  /** A label value: empty, or 1-63 alphanumerics and '-_.' starting and ending alphanumeric (labelValueProblem). */
  labelValue: { pattern: "^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$" },
} as const;

const digits = "[0-9]+";
/** A rule port as text: a number, `min:max` or a port name (ranges and name rules are checked in code). */
const PORT_TEXT = `^(${digits}(:${digits})?|[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?)$`;
const protocol = (names: readonly string[], numbers: Shape, digitsPattern: string): Shape => ({ t: "anyOf", of: [str({ enum: names }), numbers, str({ pattern: digitsPattern })] });
const selector = (doc: string): Field => f(str({ maxLength: MAX_SELECTOR }), doc);
const rules = (doc: string): Field => f(list(ref("rule"), { max: MAX_RULES }), doc);
const portList = (doc: string): Field => f(list({ t: "anyOf", of: [{ t: "integer", min: 1, max: 65535 }, str({ pattern: PORT_TEXT })] }, { max: MAX_RULE_PORTS }), doc);
const nets = (doc: string): Field => f(list(str(), { max: MAX_RULE_NETS }), doc);
const icmp = (doc: string): Field =>
  f(obj({ type: f({ t: "integer", min: 0, max: 254 }, "ICMP type, 0-254"), code: f({ t: "integer", min: 0, max: 255 }, "ICMP code, 0-255 (needs type)") }, { dependencies: { code: ["type"] } }), doc);

const LABELS: Shape = { t: "map", keys: NAME_PATTERNS.labelKey, values: NAME_PATTERNS.labelValue };

export const METADATA_FIELDS: Fields = {
  name: f(str(), "the resource's name (per kind: a DNS subdomain, a policy name or a DNS label)", { required: true }),
  namespace: f(str(NAME_PATTERNS.label), "the namespace of a namespaced kind (NetworkPolicy, NetworkSet)"),
  labels: f(LABELS, "labels that selectors match; values are strings (quote 'true')"),
  annotations: f({ t: "map" }, "free-form annotations, at most 256 KiB"),
  resourceVersion: f({ t: "any" }, "ignored"),
  uid: f({ t: "any" }, "ignored"),
  creationTimestamp: f({ t: "any" }, "ignored"),
  generation: f({ t: "any" }, "ignored"),
  finalizers: f({ t: "any" }, "ignored"),
};

export const ENTITY_FIELDS: Fields = {
  nets: nets("the packet's address is in one of these CIDRs"),
  notNets: nets("the packet's address is in none of these CIDRs"),
  selector: selector("endpoints and network sets whose labels match"),
  notSelector: selector("not endpoints or network sets whose labels match"),
  namespaceSelector: selector("namespaces (NetworkSets) to select from; global() for cluster-wide ones"),
  ports: portList("ports: numbers, \"min:max\" ranges or named ports"),
  notPorts: portList("ports the packet must not have"),
  serviceAccounts: f({ t: "refused", why: "service accounts match Kubernetes pods, never a host endpoint" }, "not supported"),
  services: f({ t: "refused", why: "services match Kubernetes services, never a host endpoint" }, "not supported"),
};

export const RULE_FIELDS: Fields = {
  action: f(str({ enum: RULE_ACTIONS }), "what the rule does with a matching packet", { required: true }),
  protocol: f(protocol(Object.keys(PROTOCOL_NUMBERS), { t: "integer", min: 1, max: 255 }, `^${digits}$`), "TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number 1-255"),
  notProtocol: f(protocol(Object.keys(PROTOCOL_NUMBERS), { t: "integer", min: 1, max: 255 }, `^${digits}$`), "a protocol the packet must not have"),
  icmp: icmp("ICMP type and code (protocol ICMP or ICMPv6)"),
  notICMP: icmp("ICMP type and code the packet must not have"),
  ipVersion: f({ t: "integer", enum: [4, 6] }, "4 or 6: only packets of this IP version", { nullable: false }),
  source: f(ref("entityRule"), "what the packet's source must match"),
  destination: f(ref("entityRule"), "what the packet's destination must match"),
  http: f({ t: "refused", why: "http matches need an application-layer proxy" }, "not supported"),
  metadata: f(obj({ annotations: f({ t: "map" }, "free-form annotations of the rule") }), "the rule's annotations"),
};

export const HOST_ENDPOINT_FIELDS: Fields = {
  node: f(str(NAME_PATTERNS.subdomain), "enforced only where hostwall's --node (default: the hostname) equals this", { required: true }),
  interfaceName: f(str(NAME_PATTERNS.interface), "the interface to protect, or \"*\" for every other interface"),
  expectedIPs: f(list(str()), "this host's addresses on the endpoint (plain addresses): rule selectors match them"),
  profiles: f(list(str(NAME_PATTERNS.subdomain)), "profiles whose rules apply after the policies"),
  ports: f(list(ref("endpointPort")), "named ports that rules can refer to"),
};

export const ENDPOINT_PORT_FIELDS: Fields = {
  name: f(str(NAME_PATTERNS.port), "the port's name (lower-case letters, digits and '-')", { required: true }),
  protocol: f(protocol(Object.keys(ENDPOINT_PORT_PROTOCOLS), { t: "integer", enum: Object.values(ENDPOINT_PORT_PROTOCOLS) }, `^0*(${Object.values(ENDPOINT_PORT_PROTOCOLS).join("|")})$`), "TCP, UDP or SCTP", { required: true }),
  port: f({ t: "integer", min: 1, max: 65535 }, "the port number", { required: true }),
};

export const NETWORK_SET_FIELDS: Fields = {
  nets: f(list(str()), "addresses and CIDRs of the set"),
  allowedEgressDomains: f({ t: "refused", why: "domain-based network sets are a Calico Enterprise feature" }, "not supported"),
};

export const POLICY_FIELDS: Fields = {
  tier: f(str(), "the tier the policy belongs to (default: default)"),
  order: f({ t: "number" }, "lower orders are evaluated first; no order is last"),
  selector: selector("the endpoints the policy applies to (default: all())"),
  namespaceSelector: selector("namespaces the policy applies to"),
  serviceAccountSelector: selector("service accounts the policy applies to"),
  types: f(list(str({ enum: POLICY_TYPES }), { unique: true }), "the directions the policy governs (default from its rules)"),
  ingress: rules("rules for packets arriving at the endpoint, in order"),
  egress: rules("rules for packets leaving the endpoint, in order"),
  doNotTrack: f({ t: "boolean" }, "untracked: evaluated in the netdev ingress hook / raw table, before conntrack"),
  preDNAT: f({ t: "boolean" }, "evaluated before DNAT (ingress only)"),
  applyOnForward: f({ t: "boolean" }, "also applies to forwarded traffic (needed by doNotTrack and preDNAT)"),
  performanceHints: f(list(str({ enum: PERFORMANCE_HINTS }), { unique: true }), "hints Calico uses; accepted and ignored"),
};

/** The fields a NetworkPolicy lacks: it is namespaced and never untracked or pre-DNAT. */
export const GLOBAL_ONLY_POLICY_FIELDS = ["namespaceSelector", "doNotTrack", "preDNAT", "applyOnForward"];
export const NETWORK_POLICY_FIELDS: Fields = Object.fromEntries(Object.entries(POLICY_FIELDS).filter(([k]) => !GLOBAL_ONLY_POLICY_FIELDS.includes(k)));

const stagedAction = f(str({ enum: [...STAGED_ACTIONS, ""] }), "Set (default): stage this policy; Delete: stage removing the policy of this name");

export const PROFILE_FIELDS: Fields = {
  labelsToApply: f(LABELS, "labels the profile gives its endpoints"),
  ingress: rules("rules for packets arriving at the endpoint, after its policies"),
  egress: rules("rules for packets leaving the endpoint, after its policies"),
};

export const TIER_FIELDS: Fields = {
  order: f({ t: "number" }, "lower orders are evaluated first (default 1,000,000)"),
  defaultAction: f(str({ enum: TIER_DEFAULT_ACTIONS }), "what a packet that no policy of the tier decides gets (default Deny)"),
};

export const FAILSAFE_FIELDS: Fields = {
  protocol: f(str({ pattern: "^[Tt][Cc][Pp]$|^[Uu][Dd][Pp]$" }), "TCP or UDP (default TCP)"),
  // A null port is skipped without a diagnostic (felix.ts), so null is allowed here.
  port: f({ t: "integer", min: 1, max: 65535 }, "the port", { required: true, nullable: true }),
  net: f(str(), "only this peer CIDR"),
};

/** The FelixConfiguration fields hostwall implements; other Calico fields are warnings. */
export const FELIX_FIELDS: Fields = {
  failsafeInboundHostPorts: f(list(ref("failsafePort")), "ports always open inbound, whatever the policies say"),
  failsafeOutboundHostPorts: f(list(ref("failsafePort")), "ports always open outbound"),
  logPrefix: f(str({ pattern: LOG_PREFIX_PATTERN }), "the prefix of Log rules' kernel log lines (default calico-packet)"),
  logActionRateLimit: f(str({ pattern: RATE_LIMIT_PATTERN }), "rate limit of Log rules, e.g. 10/second"),
  logActionRateLimitBurst: f({ t: "integer", min: 0, max: 9999 }, "burst of the Log rate limit (default 5)"),
  nftablesFilterDenyAction: f(str({ enum: DENY_ACTIONS }), "what Deny does: Drop (default) or Reject"),
  iptablesFilterDenyAction: f(str({ enum: DENY_ACTIONS }), "as nftablesFilterDenyAction"),
  ipv6Support: f({ t: "boolean" }, "false: IPv6 is not filtered by hostwall's rules"),
  disableConntrackInvalidCheck: f({ t: "boolean" }, "true: packets conntrack calls invalid are not dropped"),
};

/** Shapes several fields share: one definition each in the schema. */
export const DEFINITIONS = {
  rule: obj(RULE_FIELDS),
  entityRule: obj(ENTITY_FIELDS),
  endpointPort: obj(ENDPOINT_PORT_FIELDS),
  failsafePort: obj(FAILSAFE_FIELDS),
  hostEndpointSpec: obj(HOST_ENDPOINT_FIELDS),
  globalNetworkPolicySpec: obj(POLICY_FIELDS),
  networkPolicySpec: obj(NETWORK_POLICY_FIELDS),
  stagedGlobalNetworkPolicySpec: obj({ stagedAction, ...POLICY_FIELDS }),
  stagedNetworkPolicySpec: obj({ stagedAction, ...NETWORK_POLICY_FIELDS }),
  networkSetSpec: obj(NETWORK_SET_FIELDS),
  profileSpec: obj(PROFILE_FIELDS),
  tierSpec: obj(TIER_FIELDS),
  felixConfigurationSpec: obj(FELIX_FIELDS, { open: true }),
} satisfies Record<string, Shape>;

export type DefinitionName = keyof typeof DEFINITIONS;

export interface KindEntry {
  /** Needs metadata.namespace (and takes one); the others refuse it. */
  namespaced: boolean;
  /** Validated, never enforced (a STAGED_IGNORED warning). */
  staged: boolean;
  /** The spec; `any` for kinds whose spec hostwall does not read. */
  spec: Shape;
  /** The spec has a required field, so the spec itself is required. */
  specRequired: boolean;
  /** What metadata.name must look like (meta.ts nameRuleProblem). */
  name: keyof typeof NAME_PATTERNS;
  doc: string;
}

const kind = (spec: Shape, doc: string, extra: Partial<KindEntry> = {}): KindEntry => ({ namespaced: false, staged: false, spec, specRequired: false, name: "subdomain", doc, ...extra });

/** Every kind hostwall reads, in the order its "unknown kind" message lists them. */
export const KIND_TABLE: Readonly<Record<string, KindEntry>> = {
  HostEndpoint: kind(ref("hostEndpointSpec"), "an interface (or the addresses) of a host to protect", { specRequired: true }),
  GlobalNetworkPolicy: kind(ref("globalNetworkPolicySpec"), "ordered rules for the endpoints its selector matches", { name: "policy" }),
  NetworkPolicy: kind(ref("networkPolicySpec"), "a namespaced policy; on a host it selects no host endpoint", { namespaced: true, name: "networkPolicy" }),
  GlobalNetworkSet: kind(ref("networkSetSpec"), "a labelled list of addresses for rule selectors"),
  NetworkSet: kind(ref("networkSetSpec"), "a namespaced labelled list of addresses", { namespaced: true }),
  Profile: kind(ref("profileSpec"), "rules and labels endpoints get by listing the profile"),
  Tier: kind(ref("tierSpec"), "an ordered group of policies with a default action", { name: "label" }),
  FelixConfiguration: kind(ref("felixConfigurationSpec"), "settings: `default` everywhere, `node.<name>` on that node"),
  StagedGlobalNetworkPolicy: kind(ref("stagedGlobalNetworkPolicySpec"), "a GlobalNetworkPolicy to try out: validated, never enforced", { staged: true, name: "policy" }),
  StagedNetworkPolicy: kind(ref("stagedNetworkPolicySpec"), "a NetworkPolicy to try out: validated, never enforced", { namespaced: true, staged: true, name: "networkPolicy" }),
  StagedKubernetesNetworkPolicy: kind({ t: "any" }, "a Kubernetes NetworkPolicy to try out: only its metadata is checked", { namespaced: true, staged: true }),
};

export const KINDS: readonly string[] = Object.keys(KIND_TABLE);
export const TOP_FIELDS = ["apiVersion", "kind", "metadata", "spec"] as const;
