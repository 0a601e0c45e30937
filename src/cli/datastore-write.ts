/**
 * Writing to the etcd datastore as calicoctl does (reference/etcd.md). Nothing is written
 * unless every resource given is valid: the files are validated by the validator the agent
 * uses, together with what the datastore holds (a policy may name a tier that lives there),
 * and only the diagnostics of the files given count (with their file:line:col). Then one etcd
 * transaction writes them all, each guarded by a condition on its key's mod revision:
 *
 *   create                      the key must not exist
 *   apply, resourceVersion R    the key's mod revision must still be R (stale: conflict)
 *   apply, no resourceVersion   the key must be as listed a moment ago (or still absent)
 *
 * so a concurrent writer makes the whole apply fail, never half of it. The first write
 * initialises what calicoctl would (resources.ts). Delete is one transaction too.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { formatDiagnostic, type Diagnostic } from "../diagnostics/diagnostic.ts";
import type { EtcdClient, KeyValue, TxnCompare, TxnOp } from "../datastore/client.ts";
import { keysAsFiles } from "../datastore/files.ts";
import { RESOURCE_PREFIX, resourceKey, kindInfo, type KindInfo } from "../datastore/keys.ts";
import { initialResources, keyOf } from "../datastore/resources.ts";
import { storedObject, tierOf, TIERED_KINDS } from "../datastore/values.ts";
import { parseFile } from "../config/parse.ts";
import type { SourceFile } from "../source/source-file.ts";
import { loadConfig } from "../validate/load.ts";
import { nameOf, readKind } from "./datastore-read.ts";
import type { Io } from "./io.ts";

type Obj = Record<string, unknown>;
interface Read {
  files: SourceFile[];
  diagnostics: Diagnostic[];
}

/** One resource to write or delete, where it was written. */
interface Item {
  key: string;
  info: KindInfo;
  name: string;
  namespace?: string;
  value: Obj;
  file: string;
}

function label(i: Pick<Item, "info" | "name" | "namespace">): string {
  return `${i.info.kind}(${i.namespace ? `${i.namespace}/` : ""}${i.name})`;
}

function fail(io: Io, message: string): number {
  io.err(`hostwall: ${message}\n`);
  return 1;
}

/** The resources of the files given, with their keys; diagnostics for what has none. */
function itemsOf(read: Read): { items: Item[]; diagnostics: Diagnostic[] } {
  const items: Item[] = [];
  const diagnostics: Diagnostic[] = [...read.diagnostics];
  for (const file of read.files) {
    const parsed = parseFile(file);
    diagnostics.push(...parsed.diagnostics);
    for (const raw of parsed.resources) {
      const k = keyOf(raw.value);
      if ("error" in k) continue; // the validator reports it, with its position
      items.push({ key: k.key, info: k.info, name: k.name, namespace: k.namespace, value: raw.value as Obj, file: file.path });
    }
  }
  return { items, diagnostics };
}

/** Diagnostics of the files given, validated beside what the datastore holds. */
function validate(read: Read, items: Item[], listed: KeyValue[]): Diagnostic[] {
  const replaced = new Set(items.map((i) => i.key));
  const stored = keysAsFiles(listed.filter((kv) => !replaced.has(kv.key)));
  const ours = new Set(read.files.map((f) => f.path));
  const { diagnostics } = loadConfig([...read.files, ...stored], { node: "" });
  return [...read.diagnostics, ...diagnostics.filter((d) => d.file === undefined || ours.has(d.file))];
}

/** Creates what calicoctl initialises, each only if missing (its own transaction per key). */
async function ensureInitialized(client: EtcdClient, listed: Map<string, KeyValue>): Promise<void> {
  const guid = randomBytes(16).toString("hex");
  for (const r of initialResources({ now: new Date(), uid: randomUUID, clusterGuid: guid })) {
    if (listed.has(r.key)) continue;
    await client.txn([{ key: r.key, modRevision: 0 }], [{ put: r }]);
  }
}

export async function writeResources(opts: { mode: "apply" | "create"; client: EtcdClient; io: Io; read: Read }): Promise<number> {
  const { client, io, mode } = opts;
  const { items } = itemsOf(opts.read);
  let listed: KeyValue[];
  try {
    listed = (await client.rangePrefix(RESOURCE_PREFIX)).kvs;
  } catch (e) {
    return fail(io, (e as Error).message);
  }
  // Parsed again by the validator: its diagnostics are the parser's too, once each.
  const unique = [...new Map(validate(opts.read, items, listed).map((d) => [formatDiagnostic(d), d])).values()];
  for (const d of unique) io.err(formatDiagnostic(d) + "\n");
  const errors = unique.filter((d) => d.severity === "error").length;
  if (errors > 0) return fail(io, `${errors} error${errors === 1 ? "" : "s"}; nothing was written`);
  if (items.length === 0) return fail(io, "no resources given");

  const byKey = new Map(listed.map((kv) => [kv.key, kv]));
  try {
    await ensureInitialized(client, byKey);
  } catch (e) {
    return fail(io, `cannot initialise the datastore: ${(e as Error).message}`);
  }
  // A policy's tier must exist, in the datastore or in this very write (Calico refuses it otherwise).
  const tiers = new Set([...listed.map((kv) => kv.key), ...items.map((i) => i.key)]);
  for (const i of items) {
    if (!TIERED_KINDS.has(i.info.kind)) continue;
    const tier = tierOf(i.value);
    if (tier !== "default" && !tiers.has(resourceKey(kindInfo("Tier")!, tier))) return fail(io, `${label(i)} (${i.file}): tier "${tier}" does not exist; nothing was written`);
  }

  const compare: TxnCompare[] = [];
  const ops: TxnOp[] = [];
  const now = new Date();
  for (const i of items) {
    const existing = byKey.get(i.key);
    const rv = (i.value.metadata as Obj | undefined)?.resourceVersion;
    if (mode === "create" && existing) return fail(io, `${label(i)} (${i.file}): resource already exists; nothing was written`);
    const expected = mode === "create" ? 0 : rv !== undefined && rv !== "" ? Number(rv) : (existing?.modRevision ?? 0);
    if (!Number.isSafeInteger(expected) || expected < 0) return fail(io, `${label(i)} (${i.file}): metadata.resourceVersion "${String(rv)}" is not a revision`);
    const prev = existing ? (JSON.parse(existing.value) as Obj) : undefined;
    const value = storedObject(i.value, { existing: prev, now, uid: randomUUID });
    compare.push({ key: i.key, modRevision: expected });
    ops.push({ put: { key: i.key, value: JSON.stringify(value) } });
  }
  let result;
  try {
    result = await client.txn(compare, ops);
  } catch (e) {
    return fail(io, `${(e as Error).message}; nothing was written`);
  }
  if (!result.succeeded) return fail(io, `${await conflicts(client, items, compare)}; nothing was written`);
  io.out(`Successfully ${mode === "apply" ? "applied" : "created"} ${counts(items)}\n`);
  return 0;
}

/** Why a transaction's conditions failed, key by key, in calicoctl's words. */
async function conflicts(client: EtcdClient, items: Array<Pick<Item, "key" | "info" | "name" | "namespace">>, compare: TxnCompare[]): Promise<string> {
  const out: string[] = [];
  for (const [n, c] of compare.entries()) {
    const now = (await client.get(c.key)).kv;
    const i = items[n]!;
    if (c.modRevision === 0 && now) out.push(`${label(i)}: resource already exists`);
    else if (c.modRevision !== 0 && !now) out.push(`${label(i)}: resource does not exist`);
    else if (now && now.modRevision !== c.modRevision) out.push(`${label(i)}: update conflict: resourceVersion ${c.modRevision} is stale (the resource is at ${now.modRevision})`);
  }
  return out.length ? out.join("; ") : "the datastore changed during the write";
}

function counts(items: Array<Pick<Item, "info">>): string {
  const by = new Map<string, number>();
  for (const i of items) by.set(i.info.kind, (by.get(i.info.kind) ?? 0) + 1);
  return [...by].map(([kind, n]) => `${n} '${kind}' resource(s)`).join(", ");
}

/** `delete -f FILE` or `delete KIND NAME`: every resource must exist; one transaction. */
export async function deleteResources(opts: { client: EtcdClient; io: Io; files?: Read; named?: { info: KindInfo; name: string; namespace?: string } }): Promise<number> {
  const { client, io } = opts;
  const targets: Array<{ key: string; info: KindInfo; name: string; namespace?: string; rv?: number }> = [];
  if (opts.named) {
    const { info, name } = opts.named;
    const namespace = info.namespaced ? (opts.named.namespace ?? "default") : undefined;
    let found;
    try {
      found = (await readKind(client, info, namespace)).items.find((i) => nameOf(i.obj).name === name);
    } catch (e) {
      return fail(io, (e as Error).message);
    }
    if (!found) return fail(io, `resource does not exist: ${label({ info, name, namespace })}`);
    targets.push({ key: found.kv.key, info, name, namespace, rv: found.kv.modRevision });
  } else {
    const { items, diagnostics } = itemsOf(opts.files!);
    for (const d of diagnostics) io.err(formatDiagnostic(d) + "\n");
    if (diagnostics.some((d) => d.severity === "error")) return fail(io, "nothing was deleted");
    for (const i of items) {
      const rv = (i.value.metadata as Obj | undefined)?.resourceVersion;
      targets.push({ key: i.key, info: i.info, name: i.name, namespace: i.namespace, ...(rv !== undefined && rv !== "" ? { rv: Number(rv) } : {}) });
    }
  }
  if (targets.length === 0) return fail(io, "no resources given");
  const compare: TxnCompare[] = [];
  for (const t of targets) {
    if (t.info.kind === "Tier" && t.name === "default") return fail(io, "the default tier cannot be deleted (calicoctl refuses it too)");
    let rev = t.rv;
    if (rev === undefined) {
      const now = (await client.get(t.key).catch((e: Error) => ({ error: e })));
      if ("error" in now) return fail(io, now.error.message);
      if (!now.kv) return fail(io, `resource does not exist: ${label(t)}; nothing was deleted`);
      rev = now.kv.modRevision;
    }
    compare.push({ key: t.key, modRevision: rev });
  }
  let result;
  try {
    result = await client.txn(compare, targets.map((t) => ({ delete: { key: t.key } })));
  } catch (e) {
    return fail(io, (e as Error).message);
  }
  if (!result.succeeded) return fail(io, `${await conflicts(client, targets, compare)}; nothing was deleted`);
  io.out(`Successfully deleted ${counts(targets)}\n`);
  return 0;
}
