/**
 * Calico's etcd v3 key layout (reference/etcd.md): one key per resource,
 * `/calico/resources/v3/projectcalico.org/<plural>/<name>`, namespaced kinds with
 * `/<namespace>/<name>`. The plurals are Calico's (all lower case); the kinds listed are the
 * ones hostwall reads or writes. Calico matches keys with the same two regular expressions.
 */

/** Every Calico v3 resource key starts with this. */
export const RESOURCE_PREFIX = "/calico/resources/v3/projectcalico.org/";

/** A resource kind hostwall knows in the datastore. */
export interface KindInfo {
  /** The kind as written in `kind:`. */
  kind: string;
  /** Calico's plural, the key's path segment. */
  plural: string;
  /** Namespaced kinds have `/<namespace>/<name>` keys. */
  namespaced: boolean;
  /** The agent reads (and validates) this kind; others are only written by `apply` (ClusterInformation). */
  enforced: boolean;
  /** Other names `hostwall get` accepts, calicoctl's short forms among them. */
  aliases: string[];
}

export const KINDS: readonly KindInfo[] = [
  { kind: "HostEndpoint", plural: "hostendpoints", namespaced: false, enforced: true, aliases: ["hep", "heps"] },
  { kind: "GlobalNetworkPolicy", plural: "globalnetworkpolicies", namespaced: false, enforced: true, aliases: ["gnp", "gnps"] },
  { kind: "StagedGlobalNetworkPolicy", plural: "stagedglobalnetworkpolicies", namespaced: false, enforced: true, aliases: ["sgnp"] },
  { kind: "NetworkPolicy", plural: "networkpolicies", namespaced: true, enforced: true, aliases: ["np", "policy", "policies"] },
  { kind: "StagedNetworkPolicy", plural: "stagednetworkpolicies", namespaced: true, enforced: true, aliases: ["snp"] },
  { kind: "StagedKubernetesNetworkPolicy", plural: "stagedkubernetesnetworkpolicies", namespaced: true, enforced: true, aliases: ["sknp"] },
  { kind: "GlobalNetworkSet", plural: "globalnetworksets", namespaced: false, enforced: true, aliases: ["gns"] },
  { kind: "NetworkSet", plural: "networksets", namespaced: true, enforced: true, aliases: ["netset", "netsets"] },
  { kind: "Profile", plural: "profiles", namespaced: false, enforced: true, aliases: ["pro", "pros"] },
  { kind: "Tier", plural: "tiers", namespaced: false, enforced: true, aliases: [] },
  { kind: "FelixConfiguration", plural: "felixconfigurations", namespaced: false, enforced: true, aliases: ["felixconfig", "felixconfigs"] },
  { kind: "ClusterInformation", plural: "clusterinformations", namespaced: false, enforced: false, aliases: ["clusterinfo", "clusterinfos"] },
];

/** The kind of a `kind:` value, or undefined. */
export function kindInfo(kind: string): KindInfo | undefined {
  return KINDS.find((k) => k.kind === kind);
}

/** The kind named on the command line: the kind, its plural or an alias, any case. */
export function kindByName(name: string): KindInfo | undefined {
  const n = name.toLowerCase();
  return KINDS.find((k) => k.kind.toLowerCase() === n || k.plural === n || k.aliases.includes(n));
}

/** The key of a resource. The name and namespace must already be valid (no '/'). */
export function resourceKey(info: KindInfo, name: string, namespace?: string): string {
  return info.namespaced ? `${RESOURCE_PREFIX}${info.plural}/${namespace ?? "default"}/${name}` : `${RESOURCE_PREFIX}${info.plural}/${name}`;
}

/** The prefix of every key of a kind (of one namespace, when given). */
export function kindPrefix(info: KindInfo, namespace?: string): string {
  return `${RESOURCE_PREFIX}${info.plural}/${info.namespaced && namespace ? `${namespace}/` : ""}`;
}

/** What a key names, or undefined for a key outside the layout (Calico ignores those too). */
export function parseKey(key: string): { info: KindInfo; namespace?: string; name: string } | undefined {
  if (!key.startsWith(RESOURCE_PREFIX)) return undefined;
  const parts = key.slice(RESOURCE_PREFIX.length).split("/");
  const info = KINDS.find((k) => k.plural === parts[0]);
  if (!info || parts.some((p) => p === "")) return undefined;
  if (info.namespaced && parts.length === 3) return { info, namespace: parts[1], name: parts[2]! };
  if (!info.namespaced && parts.length === 2) return { info, name: parts[1]! };
  return undefined;
}
