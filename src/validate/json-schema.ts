/**
 * The JSON Schema (draft-07, what yaml-language-server and most editors read) of hostwall's
 * config files, generated from the validator's own field table (fields.ts): `hostwall schema`
 * prints it, schema/hostwall.schema.json is its committed copy (a unit test keeps it current).
 *
 * A file is one resource, a `<Kind>List` / `kind: List` with items, or a YAML sequence of
 * those, as config/parse.ts unwraps them. The schema accepts everything the validator accepts
 * (null where the validator reads null as absent) and rejects what the table can say is wrong:
 * unknown kinds and fields, wrong types, values outside a closed set or a range, missing
 * required fields, names (NAME_PATTERNS). Addresses, selectors and cross-field rules are checked
 * by `hostwall check` only.
 */
import { API_VERSION, DEFINITIONS, KIND_TABLE, KINDS, METADATA_FIELDS, NAME_PATTERNS, type Field, type Fields, type KindEntry, type Shape } from "./fields.ts";

export type JsonSchema = { [key: string]: unknown };

const DRAFT = "http://json-schema.org/draft-07/schema#";
const def = (name: string) => `#/definitions/${name}`;

/** The whole schema, or with `kind` one resource of that kind (the same definitions). */
export function jsonSchema(opts: { kind?: string } = {}): JsonSchema {
  const definitions: Record<string, JsonSchema> = {};
  for (const [name, shape] of Object.entries(DEFINITIONS)) definitions[name] = schemaOf(shape);
  definitions.metadata = metadata(false);
  definitions.namespacedMetadata = metadata(true);
  for (const kind of KINDS) definitions[kind] = kindSchema(kind, KIND_TABLE[kind]!);
  definitions.resource = resource();
  definitions.list = {
    description: "a <Kind>List or kind: List: its items are read as if each were a document of its own",
    type: "object",
    required: ["kind", "items"],
    properties: { kind: { type: "string", pattern: "List$" }, items: { type: "array", items: { $ref: "#" } } },
  };
  const head = { $schema: DRAFT, title: "hostwall config file", description: `Calico ${API_VERSION} resources as hostwall reads them (generated from its validator; hostwall check is the authority)` };
  if (opts.kind !== undefined) {
    if (!KINDS.includes(opts.kind)) throw new Error(`unknown kind "${opts.kind}"; hostwall reads ${KINDS.join(", ")}`);
    return { ...head, title: `hostwall ${opts.kind}`, allOf: [{ $ref: def(opts.kind) }], definitions };
  }
  return {
    ...head,
    // A sequence of documents, a List, or one resource (config/parse.ts unwrap); an empty document is skipped.
    if: { type: "array" },
    then: { type: "array", items: { $ref: "#" } },
    else: {
      if: { type: "object", required: ["kind", "items"], properties: { kind: { type: "string", pattern: "List$" }, items: { type: "array" } } },
      then: { $ref: def("list") },
      else: { if: { type: "null" }, else: { $ref: def("resource") } },
    },
    definitions,
  };
}

/** Any resource: the kind picks the definition that checks the rest. */
function resource(): JsonSchema {
  return {
    type: "object",
    required: ["apiVersion", "kind", "metadata"],
    additionalProperties: false,
    properties: {
      apiVersion: { const: API_VERSION, description: "always projectcalico.org/v3" },
      kind: { type: "string", enum: [...KINDS], description: "the resource kind" },
      metadata: { type: "object" },
      spec: {},
    },
    allOf: KINDS.map((kind) => ({ if: { properties: { kind: { const: kind } }, required: ["kind"] }, then: { $ref: def(kind) } })),
  };
}

function kindSchema(kind: string, entry: KindEntry): JsonSchema {
  return {
    type: "object",
    description: entry.doc,
    required: ["apiVersion", "kind", "metadata", ...(entry.specRequired ? ["spec"] : [])],
    additionalProperties: false,
    properties: {
      apiVersion: { const: API_VERSION },
      kind: { const: kind },
      metadata: { allOf: [{ $ref: def(entry.namespaced ? "namespacedMetadata" : "metadata") }, { type: "object", properties: { name: { type: "string", ...NAME_PATTERNS[entry.name] } } }] },
      spec: field({ shape: entry.spec, doc: `the ${kind}'s spec`, required: entry.specRequired }),
    },
  };
}

/** metadata: a namespaced kind needs a namespace, a cluster-wide one takes none (null is read as none). */
function metadata(namespaced: boolean): JsonSchema {
  const fields: Fields = { ...METADATA_FIELDS, namespace: { ...METADATA_FIELDS.namespace!, required: namespaced } };
  const schema = object(fields, false);
  if (!namespaced) (schema.properties as Record<string, JsonSchema>).namespace = { type: "null", description: "cluster-wide kinds take no namespace" };
  return schema;
}

function field(f: Field): JsonSchema {
  const nullable = f.nullable ?? !f.required;
  const s = nullable ? orNull(schemaOf(f.shape)) : schemaOf(f.shape);
  // draft-07 ignores a $ref's siblings: the description goes beside an allOf holding it.
  return s.$ref !== undefined ? { description: f.doc, allOf: [s] } : { description: f.doc, ...s };
}

/** The schema plus null, written where editors show it best (in `type` or `enum` when there is one). */
function orNull(s: JsonSchema): JsonSchema {
  if (Object.keys(s).length === 0) return s;
  if (s.not !== undefined) return s;
  const out = { ...s };
  if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
  if (typeof out.type === "string") return { ...out, type: [out.type, "null"] };
  return { anyOf: [out, { type: "null" }] };
}

function object(fields: Fields, open: boolean, dependencies?: Readonly<Record<string, readonly string[]>>): JsonSchema {
  const required = Object.entries(fields).filter(([, f]) => f.required).map(([k]) => k);
  return {
    type: "object",
    ...(required.length > 0 ? { required } : {}),
    additionalProperties: open,
    properties: Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, field(f)])),
    ...(dependencies ? { dependencies } : {}),
  };
}

function schemaOf(shape: Shape): JsonSchema {
  switch (shape.t) {
    case "string":
      return { type: "string", ...(shape.enum ? { enum: [...shape.enum] } : {}), ...(shape.pattern ? { pattern: shape.pattern } : {}), ...(shape.maxLength !== undefined ? { maxLength: shape.maxLength } : {}) };
    case "integer":
      return { type: "integer", ...(shape.enum ? { enum: [...shape.enum] } : {}), ...(shape.min !== undefined ? { minimum: shape.min } : {}), ...(shape.max !== undefined ? { maximum: shape.max } : {}) };
    case "number":
      return { type: "number" };
    case "boolean":
      return { type: "boolean" };
    case "list": {
      // A null entry of a list of strings is skipped by the validator (Checker.stringList).
      const items = shape.items.t === "string" ? orNull(schemaOf(shape.items)) : schemaOf(shape.items);
      return { type: "array", items, ...(shape.max !== undefined ? { maxItems: shape.max } : {}), ...(shape.unique ? { uniqueItems: true } : {}) };
    }
    case "map":
      return { type: "object", ...(shape.keys ? { propertyNames: { ...shape.keys } } : {}), additionalProperties: { type: ["string", "null"], ...(shape.values ?? {}) } };
    case "object":
      return object(shape.fields, shape.open ?? false, shape.dependencies);
    case "ref":
      return { $ref: def(shape.to) };
    case "anyOf":
      return { anyOf: shape.of.map(schemaOf) };
    case "any":
      return {};
    case "refused":
      return { not: {}, description: `not supported: ${shape.why}` };
  }
}
