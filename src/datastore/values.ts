/**
 * The values Calico stores under its keys, and the API form they are read back as
 * (reference/etcd.md, "Values"). Stored: `json.Marshal` of the whole v3 object, kind and
 * apiVersion set, metadata.resourceVersion and selfLink cleared, creationTimestamp (RFC 3339,
 * seconds) and uid set on create. Field order follows Go's struct order (TypeMeta, ObjectMeta,
 * spec), so a value we write reads like one calicoctl wrote; the spec keeps the order it was
 * written in (the reference fixes field names, not the order inside a spec).
 *
 * Policies (GlobalNetworkPolicy, NetworkPolicy and their Staged kinds) are stored under their
 * tiered name, `<tier>.<name>` (what Calico ≤ 3.28 required and 3.30 still keys on), with the
 * name given on the API in the annotation `projectcalico.org/metadata` as `{"name":"<name>"}`.
 * Reading removes that annotation and uses its name; without it (an object written by
 * ≤ 3.28) a default-tier policy's `default.` prefix is trimmed. Reads add the label
 * `projectcalico.org/tier` and set resourceVersion to the key's mod revision.
 */

export const API_VERSION = "projectcalico.org/v3";
/** Where Calico ≥ 3.30 keeps a policy's API name. */
export const METADATA_ANNOTATION = "projectcalico.org/metadata";
/** The label reads add to a policy: its tier. */
export const TIER_LABEL = "projectcalico.org/tier";
/** Kinds whose stored name carries the tier. */
export const TIERED_KINDS = new Set(["GlobalNetworkPolicy", "NetworkPolicy", "StagedGlobalNetworkPolicy", "StagedNetworkPolicy"]);
/** ObjectMeta's JSON fields in Go's struct order. */
const META_ORDER = ["name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers", "managedFields"];

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A policy's tier: spec.tier, `default` when missing or empty. */
export function tierOf(obj: Obj): string {
  const spec = isObj(obj.spec) ? obj.spec : {};
  return typeof spec.tier === "string" && spec.tier !== "" ? spec.tier : "default";
}

/** The name a resource is stored (and keyed) under. */
export function storedName(kind: string, name: string, tier: string): string {
  if (!TIERED_KINDS.has(kind)) return name;
  return name.startsWith(`${tier}.`) ? name : `${tier}.${name}`;
}

/** The API name of a stored policy name without the annotation (≤ 3.28 objects). */
export function apiNameWithoutAnnotation(kind: string, stored: string, tier: string): string {
  return TIERED_KINDS.has(kind) && tier === "default" && stored.startsWith("default.") ? stored.slice("default.".length) : stored;
}

function orderedMeta(meta: Obj): Obj {
  const out: Obj = {};
  for (const k of META_ORDER) if (meta[k] !== undefined) out[k] = meta[k];
  for (const k of Object.keys(meta)) if (!(k in out) && meta[k] !== undefined) out[k] = meta[k];
  return out;
}

/** RFC 3339 in UTC with whole seconds, as metav1.Time marshals. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export interface StoreOptions {
  /** The stored object this one replaces, if any: its uid and creationTimestamp are kept. */
  existing?: Obj;
  now: Date;
  uid(): string;
}

/**
 * The object as Calico stores it, from a validated resource as written (API form). Its
 * metadata.name becomes the stored name; the key is built from the result.
 */
export function storedObject(obj: Obj, opts: StoreOptions): Obj {
  const kind = String(obj.kind);
  const meta: Obj = { ...(isObj(obj.metadata) ? obj.metadata : {}) };
  delete meta.resourceVersion;
  delete meta.selfLink;
  const existingMeta = isObj(opts.existing?.metadata) ? opts.existing.metadata : {};
  if (meta.uid === undefined || meta.uid === "") meta.uid = typeof existingMeta.uid === "string" ? existingMeta.uid : opts.uid();
  if (meta.creationTimestamp === undefined || meta.creationTimestamp === null || meta.creationTimestamp === "") {
    meta.creationTimestamp = typeof existingMeta.creationTimestamp === "string" ? existingMeta.creationTimestamp : rfc3339(opts.now);
  }
  if (TIERED_KINDS.has(kind)) {
    const name = String(meta.name);
    const tier = tierOf(obj);
    meta.name = storedName(kind, name, tier);
    meta.annotations = { ...(isObj(meta.annotations) ? meta.annotations : {}), [METADATA_ANNOTATION]: JSON.stringify({ name }) };
    // The tier label is added on read; a copy from a `get` is not stored back.
    if (isObj(meta.labels)) {
      const { [TIER_LABEL]: _tier, ...labels } = meta.labels;
      if (Object.keys(labels).length) meta.labels = labels;
      else delete meta.labels;
    }
  }
  const out: Obj = { kind, apiVersion: API_VERSION, metadata: orderedMeta(meta) };
  for (const [k, v] of Object.entries(obj)) if (!(k in out)) out[k] = v;
  return out;
}

/**
 * A stored value read back in API form, with resourceVersion = the key's mod revision; or
 * undefined when the value is not a JSON object (the agent then hands the raw text to the
 * parser, which reports where it breaks).
 */
export function apiObject(value: string, modRevision: number): Obj | undefined {
  let obj: unknown;
  try {
    obj = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (!isObj(obj)) return undefined;
  const meta: Obj = { ...(isObj(obj.metadata) ? obj.metadata : {}) };
  meta.resourceVersion = String(modRevision);
  const kind = String(obj.kind);
  if (TIERED_KINDS.has(kind)) {
    const tier = tierOf(obj);
    const annotations: Obj = isObj(meta.annotations) ? { ...meta.annotations } : {};
    const saved = annotations[METADATA_ANNOTATION];
    let apiName: string | undefined;
    if (typeof saved === "string") {
      try {
        const parsed = JSON.parse(saved) as unknown;
        if (isObj(parsed) && typeof parsed.name === "string") apiName = parsed.name;
      } catch {
        // A broken annotation: the stored name stands, and the validator judges it.
      }
      delete annotations[METADATA_ANNOTATION];
      if (Object.keys(annotations).length) meta.annotations = annotations;
      else delete meta.annotations;
    }
    if (typeof meta.name === "string") meta.name = apiName ?? apiNameWithoutAnnotation(kind, meta.name, tier);
    meta.labels = { ...(isObj(meta.labels) ? meta.labels : {}), [TIER_LABEL]: tier };
  }
  return { ...obj, metadata: orderedMeta(meta) };
}
