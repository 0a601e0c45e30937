/** Reading resources of one kind back from etcd in API form (`get`, `delete KIND NAME`). */
import type { EtcdClient, KeyValue } from "../datastore/client.ts";
import { kindPrefix, parseKey, type KindInfo } from "../datastore/keys.ts";
import { apiObject } from "../datastore/values.ts";

/** The stored resources of a kind (one namespace, or all) in API form, by key. */
export async function readKind(client: EtcdClient, info: KindInfo, namespace?: string): Promise<{ items: Array<{ kv: KeyValue; obj: Record<string, unknown> }>; revision: number }> {
  const { kvs, revision } = await client.rangePrefix(kindPrefix(info, namespace));
  const items = kvs.flatMap((kv) => {
    if (parseKey(kv.key)?.info !== info) return [];
    const obj = apiObject(kv.value, kv.modRevision);
    return obj ? [{ kv, obj }] : [];
  });
  return { items, revision };
}

/** The API name (and namespace) of a resource read back. */
export function nameOf(obj: Record<string, unknown>): { name: string; namespace?: string } {
  const meta = (obj.metadata ?? {}) as Record<string, unknown>;
  return { name: String(meta.name ?? ""), ...(typeof meta.namespace === "string" ? { namespace: meta.namespace } : {}) };
}

