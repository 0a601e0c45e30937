/**
 * The agent's copy of etcd keeps each key as the file it was made into when it arrived
 * (sync.ts): an attempt reads unchanged keys without turning their values into files again,
 * and a relist reuses a file only when the key's revision and value are both the same.
 * A stand-in client: what is under test is the copy, not etcd (the kernel tests use a real one).
 */
import { expect, test } from "bun:test";
import type { EtcdClient, KeyValue, WatchEvent } from "../../src/datastore/client.ts";
import { CompactedError } from "../../src/datastore/client.ts";
import { DatastoreSync } from "../../src/datastore/sync.ts";

const P = "/calico/resources/v3/projectcalico.org/";
const set = (nets: string[], modRevision: number): KeyValue => ({
  key: `${P}globalnetworksets/big`,
  value: JSON.stringify({ kind: "GlobalNetworkSet", apiVersion: "projectcalico.org/v3", metadata: { name: "big" }, spec: { nets } }),
  createRevision: 2,
  modRevision,
  version: 1,
});
const tier: KeyValue = { key: `${P}tiers/default`, value: JSON.stringify({ kind: "Tier", apiVersion: "projectcalico.org/v3", metadata: { name: "default" }, spec: { order: 1000000 } }), createRevision: 3, modRevision: 3, version: 1 };

/** Lists `store`; its watch delivers `events` pushed by the test, or fails with `fail`. */
function fakeClient(store: { kvs: KeyValue[]; revision: number }) {
  let deliver: ((e: WatchEvent[]) => void) | undefined;
  let fail: ((e: Error) => void) | undefined;
  const client = {
    config: { endpoints: ["http://etcd.invalid:2379"] },
    endpoint: "http://etcd.invalid:2379",
    rotate: () => undefined,
    rangePrefix: async () => ({ kvs: store.kvs, revision: store.revision }),
    get: async () => ({ revision: store.revision }),
    watch: (opts: { signal: AbortSignal; onCreated?(): void; onEvents(e: WatchEvent[], r: number): void }) =>
      new Promise<void>((_resolve, reject) => {
        deliver = (e) => opts.onEvents(e, store.revision);
        fail = reject;
        opts.signal.addEventListener("abort", () => reject(new Error("aborted")));
        opts.onCreated?.();
      }),
  } as unknown as EtcdClient;
  return { client, push: (e: WatchEvent[]) => deliver!(e), compact: () => fail!(new CompactedError(store.revision)) };
}

test("an unchanged key is the same file on every read; an event or a relist with another value makes a new one", async () => {
  const store = { kvs: [set(["10.0.0.1/32"], 5), tier], revision: 5 };
  const fake = fakeClient(store);
  const changes: string[] = [];
  const sync = new DatastoreSync({ client: fake.client, onChange: (r) => changes.push(r), log: () => undefined, now: () => new Date(), healthMs: 0, debounceMs: 1, backoffMs: { initial: 1, max: 1 } });
  await sync.start();
  const a = sync.readConfig().files;
  const b = sync.readConfig().files;
  expect(a.map((f) => f.path)).toEqual([`${P}globalnetworksets/big`, `${P}tiers/default`]);
  expect(b[0]).toBe(a[0]!);
  expect(b[1]).toBe(a[1]!);
  expect(JSON.parse(a[0]!.text).metadata.resourceVersion).toBe("5");

  fake.push([{ type: "put", kv: set(["10.0.0.2/32"], 6) }]);
  const c = sync.readConfig().files;
  expect(c[0]).not.toBe(a[0]!);
  expect(JSON.parse(c[0]!.text).spec.nets).toEqual(["10.0.0.2/32"]);
  expect(c[1]).toBe(a[1]!);

  // A relist (here after a compaction) where etcd holds another value at the same revision
  // (restored from another backup): the new value, not the file made before.
  store.kvs = [set(["10.0.0.3/32"], 6), tier];
  store.revision = 6;
  fake.compact();
  await new Promise((r) => setTimeout(r, 20));
  const d = sync.readConfig().files;
  expect(JSON.parse(d[0]!.text).spec.nets).toEqual(["10.0.0.3/32"]);
  expect(d[1]).toBe(a[1]!);
  expect(sync.status().lists).toBe(2);
  await new Promise((r) => setTimeout(r, 10));
  expect(changes.join(", ")).toContain("datastore relisted");
  await sync.stop();
});
