/**
 * The validated, defaulted Calico model. Every value here has passed validation: names are
 * DNS-1123, CIDRs are parsed, selectors are parsed ASTs, defaults (types, tier, order) are
 * filled in. Later stages never see raw user text except through these types.
 */
import type { FieldPath, LocateOptions } from "../config/resource.ts";
import type { Cidr } from "./cidr.ts";
import type { CidrList } from "./cidr-column.ts";
import type { Selector } from "./selector.ts";

/** Where a resource or rule came from, for diagnostics, nft comments and counters. */
export interface Origin {
  /** File path. */
  file: string;
  /** 1-based line of the resource or rule. */
  line: number;
  /** 1-based column. */
  column: number;
  /** A resource's origin: the position of a field path below the resource (for warnings about the valid model). */
  locate?(path: FieldPath, opts?: LocateOptions): { line: number; column: number };
}

/** metadata of any resource. */
export interface Meta {
  /** metadata.name. */
  name: string;
  /** metadata.namespace, for namespaced kinds. */
  namespace?: string;
  /** metadata.labels. */
  labels: Record<string, string>;
  /** Where the resource starts. */
  origin: Origin;
}

export type Direction = "ingress" | "egress";
export type Action = "Allow" | "Deny" | "Log" | "Pass";

/** A protocol as Calico names it: a number, plus the name the user wrote when it had one. */
export interface Protocol {
  /** IANA protocol number 1-255. */
  number: number;
  /** The Calico name (TCP, ICMPv6, …) when the user wrote one. */
  name?: string;
  /** ICMP and ICMPv6 given by name restrict a rule to IPv4 or IPv6; numbers 1 and 58 do not (reference §4.1). */
  inferFamily?: 4 | 6;
}

/** A port match: an inclusive numeric range (single ports have min = max) or a named port. */
export type Port = { kind: "range"; min: number; max: number } | { kind: "named"; name: string };

/** ICMP type/code match. */
export interface IcmpMatch {
  /** ICMP type 0-254. */
  type: number;
  /** ICMP code 0-255, only with a type. */
  code?: number;
}

/** source or destination of a rule. */
export interface EntityRule {
  /** Addresses the packet must be in (OR). */
  nets: Cidr[];
  /** Addresses the packet must not be in. */
  notNets: Cidr[];
  /** Endpoints and network sets the address must belong to. */
  selector?: Selector;
  /** Endpoints and network sets the address must not belong to. */
  notSelector?: Selector;
  /** namespaceSelector; `global()` restricts `selector` to non-namespaced things. */
  namespaceSelector?: Selector;
  /** Ports (OR); numeric need a port protocol. */
  ports: Port[];
  /** Ports the packet must not use. */
  notPorts: Port[];
}

/** One policy or profile rule. */
export interface Rule {
  /** What a match does. */
  action: Action;
  /** protocol match. */
  protocol?: Protocol;
  /** negated protocol match. */
  notProtocol?: Protocol;
  /** ICMP type/code match. */
  icmp?: IcmpMatch;
  /** negated ICMP match: not (type T and code C). */
  notICMP?: IcmpMatch;
  /** Restricts the rule to one IP family. */
  ipVersion?: 4 | 6;
  /** Source side. */
  source: EntityRule;
  /** Destination side. */
  destination: EntityRule;
  /** Where the rule is. */
  origin: Origin;
}

/** A named port on a HostEndpoint. */
export interface EndpointPort {
  /** IANA service name. */
  name: string;
  /** Protocol with ports. */
  protocol: Protocol;
  /** Port number. */
  port: number;
}

export interface HostEndpoint {
  kind: "HostEndpoint";
  meta: Meta;
  /** Node the endpoint belongs to; enforced only where it equals --node. */
  node: string;
  /** Interface name, `*`, or undefined when bound by expectedIPs. */
  interfaceName?: string;
  /** Addresses of the endpoint; they feed rule selectors. */
  expectedIPs: Cidr[];
  /** Profiles applied after policies, in order. */
  profiles: string[];
  /** Named ports. */
  ports: EndpointPort[];
}

export interface GlobalNetworkSet {
  kind: "GlobalNetworkSet" | "NetworkSet";
  meta: Meta;
  /** Member prefixes (host bits already cleared): a column when there are many (cidr-column.ts). */
  nets: CidrList;
}

export interface GlobalNetworkPolicy {
  kind: "GlobalNetworkPolicy" | "NetworkPolicy";
  meta: Meta;
  /** Tier name, default `default`. */
  tier: string;
  /** Order within the tier; undefined sorts last. */
  order?: number;
  /** Which endpoints the policy applies to. */
  selector: Selector;
  /** True when namespaceSelector/serviceAccountSelector is set: never applies to a host endpoint. */
  namespaced: boolean;
  /** Directions the policy governs, after defaulting. */
  types: Direction[];
  /** Ingress rules. */
  ingress: Rule[];
  /** Egress rules. */
  egress: Rule[];
  /** Untracked stage. */
  doNotTrack: boolean;
  /** Pre-DNAT stage. */
  preDNAT: boolean;
  /** Also governs forwarded traffic. */
  applyOnForward: boolean;
}

export interface Profile {
  kind: "Profile";
  meta: Meta;
  /** Labels inherited by endpoints that list the profile. */
  labelsToApply: Record<string, string>;
  /** Ingress rules. */
  ingress: Rule[];
  /** Egress rules. */
  egress: Rule[];
}

export interface Tier {
  kind: "Tier";
  meta: Meta;
  /** Order among tiers; 1,000,000 when omitted (what Calico's client stores). */
  order: number;
  /** What happens when no policy in the tier decides. */
  defaultAction: "Deny" | "Pass";
}

/** A failsafe port: accepted before any policy. */
export interface FailsafePort {
  /** tcp or udp. */
  protocol: "tcp" | "udp";
  /** Port number. */
  port: number;
  /** Optional remote network (source for inbound, destination for outbound). */
  net?: Cidr;
}

/** The FelixConfiguration values hostwall implements, merged (node.<name> over default over built-in). */
export interface FelixSettings {
  /** Inbound failsafe ports. */
  failsafeInbound: FailsafePort[];
  /** Outbound failsafe ports. */
  failsafeOutbound: FailsafePort[];
  /** Log prefix pattern (with %t %k %n %p placeholders). */
  logPrefix: string;
  /** Rate limit for Log rules, e.g. { rate: 10, unit: "second" }. */
  logRateLimit?: { rate: number; unit: "second" | "minute" | "hour" | "day" };
  /** Burst for the rate limit. */
  logRateLimitBurst: number;
  /** What Deny does in filter stages. */
  filterDenyAction: "Drop" | "Reject";
  /** Whether IPv6 rules are rendered. */
  ipv6Support: boolean;
  /** Whether ct state invalid packets are dropped. */
  conntrackInvalidCheck: boolean;
}

/** Everything loaded from the config dir, validated. */
/** A StagedGlobalNetworkPolicy or StagedNetworkPolicy: its rules are counted, never enforced. */
export interface StagedPolicy {
  kind: "StagedGlobalNetworkPolicy" | "StagedNetworkPolicy";
  meta: Meta;
  /** Set (the default), Delete, Learn or Ignore; only Set and Delete are counted. */
  action: "Set" | "Delete" | "Learn" | "Ignore";
  /** The policy it stages (Set, Learn, Ignore); undefined for Delete, which stages removing the enforced policy of its name. */
  policy?: GlobalNetworkPolicy;
}

export interface Model {
  hostEndpoints: HostEndpoint[];
  networkSets: GlobalNetworkSet[];
  policies: GlobalNetworkPolicy[];
  /** Staged policies (counted, never enforced); absent in models built before they were read. */
  staged?: StagedPolicy[];
  profiles: Profile[];
  tiers: Tier[];
  felix: FelixSettings;
  /** Count of resources per kind, for status. */
  counts: Record<string, number>;
}
