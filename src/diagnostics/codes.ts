/**
 * Every diagnostic code hostwall reports, with its meaning in one line, grouped by the stage that
 * reports it. A code is a stable name that tests, scripts and `--json` readers match on; the
 * message beside it says what exactly went wrong and may change. `Diagnostic.code` is typed by
 * this table, so a new code is added here first, with its meaning.
 */
export const DIAGNOSTIC_CODES = {
  // Reading the config dir (source/): every one is an error, and nothing is applied.
  READ_ERROR: "a config file or directory could not be read (missing, not a directory, I/O error)",
  INSECURE_PERMISSIONS: "a config file or directory is not owned by root (or the agent) or is writable by others",
  INSECURE_PATH: "a directory on the way to the config (an ancestor or a symlink's target) is writable by others",
  DIRECTORY_LOOP: "a directory was reached a second time while walking (a symlink loop or a second link)",
  TOO_MANY_FILES: "more files and directories below the config dir than the reader walks (10,000)",
  FILE_TOO_LARGE: "a config file is larger than one file may be (256 MiB)",
  CONFIG_TOO_LARGE: "the config files together are larger than the reader reads (512 MiB)",
  DATASTORE_UNREACHABLE: "the datastore (etcd, --datastore etcdv3) has not been read yet: no endpoint answered; nothing is applied",

  // YAML (config/, validate/load.ts).
  YAML_SYNTAX: "the file is not valid YAML, or uses more aliases than a policy file needs",
  YAML_TOO_DEEP: "the YAML nests deeper than any Calico resource does; the file is not parsed",
  DUPLICATE_KEY: "a mapping repeats a key (the last value is the one checked)",
  AMBIGUOUS_SCALAR: "a plain value that YAML 1.1 readers such as calicoctl read differently (on, yes, 010)",

  // Resources and their fields (validate/).
  INVALID_API_VERSION: "apiVersion is not projectcalico.org/v3",
  UNKNOWN_KIND: "kind is not one of the resource kinds hostwall reads",
  DUPLICATE_RESOURCE: "two resources have the same kind, namespace and name",
  STAGED_IGNORED: "a staged policy: validated, never enforced",
  UNKNOWN_FIELD: "a field this resource does not have (a typo, or a field of another kind)",
  MISSING_FIELD: "a required field is absent",
  WRONG_TYPE: "a field holds the wrong type of value (a list for a mapping, a string for a number)",
  INVALID_VALUE: "a field's value is not one of those allowed there",
  UNIMPLEMENTED_FIELD: "a FelixConfiguration field hostwall does not implement; it is ignored",
  INVALID_NAME: "metadata.name or metadata.namespace is not a valid Calico name",
  INVALID_LABEL_KEY: "a label key is not a valid Kubernetes label key",
  INVALID_LABEL_VALUE: "a label value is not a valid Kubernetes label value",
  RESERVED_LABEL: "a label Calico sets itself (projectcalico.org/namespace) is set by hand",
  INVALID_ANNOTATION: "an annotation key is not a valid Kubernetes annotation key",
  ANNOTATIONS_TOO_LARGE: "the annotations together exceed Kubernetes' 256 KiB",
  INVALID_INTERFACE: "interfaceName is neither \"*\" nor a valid Linux interface name",
  INVALID_ADDRESS: "an expectedIPs entry is not a plain IP address",
  INVALID_CIDR: "a net is not an IP address or CIDR",
  CIDR_HOST_BITS: "a CIDR where a network is expected has host bits set (192.0.2.1/24)",
  NET_HOST_BITS: "a network set entry has host bits set; it is read as its whole network",
  CIDR_FAMILY_MIX: "a rule mixes IPv4 and IPv6 nets, or its nets contradict its ipVersion",
  CATCH_ALL_NOT_NETS: "notNets excludes every address, so the rule can never match",
  TOO_MANY_NETS: "a rule lists more nets than Calico allows (256)",
  INVALID_PORT: "a port or port range is malformed or outside 1-65535",
  INVALID_PORT_NAME: "a port name is not 1-15 lower-case letters, digits and '-'",
  TOO_MANY_PORTS: "a rule lists more ports than Calico allows (50)",
  PORT_NEEDS_PROTOCOL: "ports in a rule whose protocol has none (or no protocol at all)",
  INVALID_PROTOCOL: "a protocol name or number Calico does not accept here",
  INVALID_IP_VERSION: "ipVersion is not 4 or 6, or contradicts the ICMP protocol named",
  INVALID_ICMP: "an ICMP type or code is out of range, or a code is given without a type",
  ICMP_NEEDS_PROTOCOL: "icmp or notICMP in a rule whose protocol is not ICMP or ICMPv6",
  INVALID_ACTION: "a rule's action is not Allow, Deny, Log or Pass",
  INVALID_SELECTOR: "a selector does not parse",
  SELECTOR_TOO_LONG: "a selector is longer than 1024 characters",
  SELECTOR_GLOBAL: "global() where Calico does not allow it",
  NOT_SUPPORTED: "a Calico feature that cannot apply to a host (http matches, service and pod matches, domain sets)",
  TOO_MANY_RULES: "a policy or profile has more rules per direction than hostwall compiles (1024)",
  INVALID_TYPES: "a policy's types holds something other than Ingress and Egress, or one twice",
  POLICY_FLAGS: "doNotTrack and preDNAT are both set",
  PREDNAT_EGRESS: "a preDNAT policy has egress rules or the Egress type",
  NEEDS_APPLY_ON_FORWARD: "a doNotTrack or preDNAT policy without applyOnForward: true",
  INVALID_LOG_PREFIX: "FelixConfiguration logPrefix holds characters nft cannot take",
  INVALID_RATE_LIMIT: "FelixConfiguration logActionRateLimit or its burst is malformed or out of range",
  UNKNOWN_TIER: "a policy names a tier that is not defined",
  MISSING_PROFILE: "a HostEndpoint names a profile that is not defined; like Calico, it denies all",
  REFERENCES_UNCHECKED: "files could not be read, so references into them are not checked one by one",

  // Resolving this node's plan (resolve/).
  INTERFACE_CONFLICT: "two HostEndpoints claim one interface (or two claim \"*\"); the first by name wins",
  UNSUPPORTED_INTERFACE_NAME: "an expectedIPs address is on an interface whose name Calico cannot match",
  UNTRACKED_IGNORED: "doNotTrack policies select an interfaceName \"*\" endpoint, which Calico ignores",

  // Lints (lint/): a valid config that enforces nothing, or less than meant.
  NO_ENDPOINT_ON_NODE: "no HostEndpoint of this node: nothing is enforced here",
  SELECTOR_MATCHES_NOTHING: "a selector matches no HostEndpoint or network set, so what it guards does nothing",
  RULES_IGNORED: "rules of a direction the policy's types leave out, so never evaluated",
  NAMED_PORT_UNDECLARED: "a named port no HostEndpoint declares, so the rule matches nothing",

  // Applying (pipeline.ts, agent/).
  NFT_REJECTED: "the kernel (nft) refused the ruleset; the last good one stays in force",
  NFT_LISTING_INVALID: "an nft -j listing is malformed or holds something hostwall's IR cannot say (nft/listing.ts)",
  INTERNAL_ERROR: "a bug in hostwall stopped the attempt; nothing is applied",
  LOCKOUT_RISK: "the new config would deny a live TCP session to this host (or the SSH session running hostwall)",
  LOCKOUT_UNCHECKED: "the socket table could not be read: live sessions were not checked for a lockout",
} as const satisfies Record<string, string>;

/** A diagnostic code: a key of DIAGNOSTIC_CODES. */
export type DiagnosticCode = keyof typeof DIAGNOSTIC_CODES;
