/**
 * The etcd v3 JSON-gateway client (src/datastore/client.ts) and the agent's copy
 * (src/datastore/sync.ts) against a real etcd 3.4 on loopback (test/support/etcd.ts): ranges,
 * transactions and their conditions, the watch with previous values, compaction, an endpoint
 * that is down, and the copy that stays while etcd is stopped.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { CompactedError, EtcdClient, EtcdError, type WatchEvent } from "../../src/datastore/client.ts";
import { DatastoreSync } from "../../src/datastore/sync.ts";
import { ETCD, freePort, startEtcd, type Etcd } from "../support/etcd.ts";

const available = existsSync(ETCD);
const P = "/calico/resources/v3/projectcalico.org/";
const gnp = (name: string, extra = "") => `{"kind":"GlobalNetworkPolicy","apiVersion":"projectcalico.org/v3","metadata":{"name":"default.${name}"},"spec":{"selector":"all()"${extra}}}`;

async function until<T>(what: string, check: () => T | undefined | false, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

describe.skipIf(!available)("etcd client over the JSON gateway", () => {
  let etcd: Etcd;
  let client: EtcdClient;
  beforeAll(async () => {
    etcd = await startEtcd();
    client = new EtcdClient({ endpoints: [etcd.endpoint] });
  });
  afterAll(async () => {
    await etcd?.destroy();
  });

  test("txn puts, ranges by prefix, and the mod revision condition refuses a stale write", async () => {
    const a = `${P}globalnetworkpolicies/default.a`;
    const created = await client.txn([{ key: a, modRevision: 0 }], [{ put: { key: a, value: gnp("a") } }]);
    expect(created.succeeded).toBe(true);
    const again = await client.txn([{ key: a, modRevision: 0 }], [{ put: { key: a, value: gnp("a") } }]);
    expect(again.succeeded).toBe(false); // create: the key must not exist
    const { kvs, revision } = await client.rangePrefix(P);
    expect(kvs.map((kv) => kv.key)).toEqual([a]);
    expect(kvs[0]!.value).toBe(gnp("a"));
    expect(kvs[0]!.modRevision).toBe(created.revision);
    expect(revision).toBe(created.revision);
    const upd = await client.txn([{ key: a, modRevision: created.revision }], [{ put: { key: a, value: gnp("a", ',"order":1') } }]);
    expect(upd.succeeded).toBe(true);
    const stale = await client.txn([{ key: a, modRevision: created.revision }], [{ delete: { key: a } }]);
    expect(stale.succeeded).toBe(false);
    expect(await etcd.ctl(["get", a, "--print-value-only"])).toBe(`${gnp("a", ',"order":1')}\n`);
  });

  test("the watch delivers puts and deletes with previous values, in order, from a revision", async () => {
    const start = (await client.rangePrefix(P)).revision + 1;
    const b = `${P}globalnetworkpolicies/default.b`;
    const seen: WatchEvent[] = [];
    const abort = new AbortController();
    let created = false;
    const watching = client.watch({ prefix: P, startRevision: start, signal: abort.signal, onCreated: () => (created = true), onEvents: (ev) => seen.push(...ev) }).catch((e: Error) => e);
    await until("the watch", () => created);
    await etcd.ctl(["put", b, gnp("b")]);
    await etcd.ctl(["del", b]);
    await until("two events", () => seen.length === 2);
    expect(seen.map((e) => [e.type, e.kv.key])).toEqual([["put", b], ["delete", b]]);
    expect(seen[1]!.prev?.value).toBe(gnp("b"));
    abort.abort();
    await watching;
  });

  test("a compacted start revision is a CompactedError", async () => {
    const k = `${P}tiers/t1`;
    await etcd.ctl(["put", k, "{}"]);
    const put = await client.txn([], [{ put: { key: k, value: "{}" } }]);
    await etcd.ctl(["compact", String(put.revision)]);
    const err = await client.watch({ prefix: P, startRevision: 2, signal: AbortSignal.timeout(5000), onEvents: () => undefined }).then(() => undefined, (e: Error) => e);
    expect(err).toBeInstanceOf(CompactedError);
    expect((err as CompactedError).compactRevision).toBe(put.revision);
  });

  test("an endpoint that is down is skipped; with none up the error names the endpoint", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const two = new EtcdClient({ endpoints: [dead, etcd.endpoint] });
    expect((await two.rangePrefix(P)).revision).toBeGreaterThan(0);
    expect(two.endpoint).toBe(etcd.endpoint);
    const none = new EtcdClient({ endpoints: [dead], requestTimeoutMs: 2000 });
    const err = await none.rangePrefix(P).then(() => undefined, (e: Error) => e);
    expect(err).toBeInstanceOf(EtcdError);
    expect((err as EtcdError).endpoint).toBe(dead);
    expect(err!.message.startsWith(`etcd ${dead}: `)).toBe(true);
  });

  test("the agent's copy: listed, kept current by the watch, kept while etcd is down, resynced after", async () => {
    const changes: string[] = [];
    const sync = new DatastoreSync({ client, onChange: (r) => changes.push(r), log: () => undefined, now: () => new Date(), backoffMs: { initial: 50, max: 200 }, healthMs: 0 });
    await sync.start();
    const names = () => sync.readConfig().files.map((f) => f.path);
    expect(sync.status().connected).toBe(true);
    expect(names()).toEqual([`${P}globalnetworkpolicies/default.a`, `${P}tiers/t1`]);
    // Read in API form: the default tier's prefix trimmed, the tier label added, resourceVersion set.
    const a = JSON.parse(sync.readConfig().files[0]!.text);
    expect(a.metadata.name).toBe("a");
    expect(a.metadata.labels).toEqual({ "projectcalico.org/tier": "default" });
    expect(Number(a.metadata.resourceVersion)).toBeGreaterThan(0);
    await etcd.ctl(["put", `${P}hostendpoints/h1`, "{}"]);
    await etcd.ctl(["put", `${P}ippools/p1`, "{}"]); // not a kind the agent reads: no reload
    await until("the new key", () => names().includes(`${P}hostendpoints/h1`));
    await etcd.stop();
    await until("connected false", () => !sync.status().connected);
    expect(sync.status().lastError).toBeTruthy();
    expect(names()).toContain(`${P}hostendpoints/h1`); // fail static: the copy stays
    await etcd.start();
    await etcd.ctl(["del", `${P}hostendpoints/h1`]);
    await until("resync", () => sync.status().connected && !names().includes(`${P}hostendpoints/h1`), 10_000);
    await until("the reload requests", () => changes.length === 2);
    await sync.stop();
    // The new HostEndpoint, its deletion seen by the resumed watch (no relist: the copy was
    // current); the first list is read by the caller's first attempt, no reload for it.
    expect(changes).toEqual(["datastore changed", "datastore changed"]);
    expect(sync.status().lists).toBe(1);
  }, 30_000);

  test("before the first list readConfig reports DATASTORE_UNREACHABLE naming the endpoint", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const sync = new DatastoreSync({ client: new EtcdClient({ endpoints: [dead], requestTimeoutMs: 1000 }), onChange: () => undefined, log: () => undefined, now: () => new Date(), backoffMs: { initial: 50, max: 100 }, healthMs: 0 });
    await sync.start();
    const read = sync.readConfig();
    expect(read.files).toEqual([]);
    expect(read.diagnostics.map((d) => d.code)).toEqual(["DATASTORE_UNREACHABLE"]);
    expect(read.diagnostics[0]!.message).toContain(dead);
    expect(sync.status().connected).toBe(false);
    await sync.stop();
  });
});
