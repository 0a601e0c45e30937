/**
 * Which key a resource is written under, and what a first write initialises (what calicoctl's
 * client does in EnsureInitialized, reference/etcd.md): ClusterInformation `default`, and the
 * tiers `default` (Deny, order 1,000,000), `kube-admin` (Pass, 1,000) and `kube-baseline`
 * (Pass, 10,000,000), each only if missing.
 */
import { kindInfo, resourceKey, type KindInfo } from "./keys.ts";
import { API_VERSION, rfc3339, storedName, tierOf } from "./values.ts";

type Obj = Record<string, unknown>;

/** The key of a resource as written (API form), or why it has none. */
export function keyOf(obj: unknown): { key: string; info: KindInfo; name: string; namespace?: string } | { error: string } {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return { error: "not a resource (a mapping with kind, metadata and spec)" };
  const o = obj as Obj;
  const info = typeof o.kind === "string" ? kindInfo(o.kind) : undefined;
  if (!info) return { error: `kind ${JSON.stringify(o.kind)} is not one hostwall writes to the datastore` };
  const meta = (typeof o.metadata === "object" && o.metadata !== null ? o.metadata : {}) as Obj;
  if (typeof meta.name !== "string" || meta.name === "" || meta.name.includes("/")) return { error: "metadata.name is missing or not a name" };
  const namespace = info.namespaced ? (typeof meta.namespace === "string" && meta.namespace !== "" ? meta.namespace : "default") : undefined;
  if (namespace?.includes("/")) return { error: "metadata.namespace is not a name" };
  return { key: resourceKey(info, storedName(info.kind, meta.name, tierOf(o)), namespace), info, name: meta.name, ...(namespace ? { namespace } : {}) };
}

/** The key and stored value of everything a first write creates when missing. */
export function initialResources(opts: { now: Date; uid(): string; clusterGuid: string }): Array<{ key: string; value: string }> {
  const meta = (name: string) => ({ name, uid: opts.uid(), creationTimestamp: rfc3339(opts.now) });
  const tier = (name: string, order: number, defaultAction: string) => ({ kind: "Tier", apiVersion: API_VERSION, metadata: meta(name), spec: { order, defaultAction } });
  const objects = [
    { kind: "ClusterInformation", apiVersion: API_VERSION, metadata: meta("default"), spec: { clusterGUID: opts.clusterGuid, clusterType: "hostwall", datastoreReady: true } },
    tier("default", 1_000_000, "Deny"),
    tier("kube-admin", 1_000, "Pass"),
    tier("kube-baseline", 10_000_000, "Pass"),
  ];
  return objects.map((o) => ({ key: resourceKey(kindInfo(o.kind)!, o.metadata.name), value: JSON.stringify(o) }));
}
