/**
 * docs/openapi.json and docs/api.md, built from the API's index (guard.ts: every route with its
 * methods and who may call it) and the typed schemas of openapi.ts. A route the index lists
 * without a description of its answers here makes the build throw, so a new route cannot
 * reach the docs undescribed.
 */
import { endpointIndex } from "./guard.ts";
import { SCHEMAS } from "./openapi.ts";

type Json = { [key: string]: unknown };

const ref = (name: keyof typeof SCHEMAS) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown, description: string) => ({ description, content: { "application/json": { schema } } });
const text = (description: string, type = "text/plain") => ({ description, content: { [type]: { schema: { type: "string" } } } });
const error = (description: string) => json(ref("ErrorAnswer"), description);

/** The answers of each route, by status code. */
const RESPONSES: Record<string, Record<string, Json>> = {
  "/": {
    "200": json(
      {
        type: "object",
        required: ["listener", "endpoints"],
        properties: {
          listener: { type: "string", enum: ["control", "read-only"], description: "this listener: the control socket, or a read-only TCP listener" },
          controlSocket: { type: "string", description: "the control socket's path" },
          endpoints: {
            type: "array",
            items: {
              type: "object",
              required: ["path", "methods", "description", "allowed"],
              properties: { path: { type: "string" }, methods: { type: "array", items: { type: "string" } }, description: { type: "string" }, allowed: { type: "boolean", description: "this listener serves it" } },
            },
          },
        },
      },
      "this index",
    ),
  },
  "/healthz": { "200": json({ type: "object", required: ["status"], properties: { status: { const: "ok" } } }, "the agent loop is alive") },
  "/readyz": {
    "200": json({ type: "object", required: ["status", "generation", "source"], properties: { status: { const: "ready" }, generation: { type: "integer" }, source: { type: "string", description: "config, last-good, failsafe, or kernel (found in force at start)" } } }, "a hostwall ruleset is in force"),
    "503": json({ type: "object", required: ["status", "reason"], properties: { status: { const: "not ready" }, reason: { type: "string" } } }, "no hostwall ruleset is in force"),
  },
  "/status": { "200": json(ref("StatusDocument"), "what is in force and how it got there") },
  "/metrics": { "200": text("Prometheus text format 0.0.4: the hostwall_* families (docs/operations.md lists them)") },
  "/drops": {
    "200": json({ type: "object", required: ["enabled", "rules", "logs"], additionalProperties: true, description: "enabled (false when the agent runs with --drop-summaries=off), windowSeconds, rules[] per Deny rule {origin, packets, bytes, sources, top[] {address, packets, bytes, expires}}, logs[] the same per Log rule (the addresses whose packets it logged)" }, "what each Deny rule dropped, and from where"),
    "400": error("a bad top"),
    "503": error("the sets could not be listed"),
  },
  "/ruleset": { "200": text("the nft script in force, or a note when the tables in force were found at start"), "404": text("no hostwall ruleset is in force") },
  "/trace": {
    "200": text("one JSON object per traced packet, as hostwall trace --json prints it, streamed; a blank first line once the trace table is in; a last line {error} when the trace failed", "application/x-ndjson"),
    "400": error("a bad filter"),
    "403": error("a cross-origin request, or a listener on a non-loopback address"),
    "409": error("another trace runs (its holder is named)"),
  },
  "/reload": {
    "200": json(ref("ReloadAnswer"), "applied, or nothing to change"),
    "400": error("a bad request body"),
    "409": error("a confirm window asked for with nothing of this agent's in force"),
    "422": json(ref("ReloadAnswer"), "rejected: the config is invalid, the kernel refused it, or it would cut a live session; the ruleset in force stays"),
    "503": error("the agent is shutting down"),
  },
  "/confirm": {
    "200": json({ type: "object", required: ["ok", "generation"], properties: { ok: { const: true }, generation: { type: "integer" } } }, "the provisional ruleset is kept"),
    "409": error("nothing is pending"),
  },
  "/diff": {
    "200": json({ type: "object", additionalProperties: true, description: "the document hostwall diff --json prints, with generation and diagnostics" }, "what applying the config dir now would change"),
    "422": error("the config is rejected (diagnostics)"),
  },
};

/** Request bodies (Content-Type: application/json), by route. */
const REQUEST_BODIES: Record<string, Json> = {
  "/reload": {
    required: false,
    description: "optional: {} or no body reloads; read strictly (api/requests.ts): any other field is a 400",
    content: {
      "application/json": {
        schema: {
          type: "object",
          additionalProperties: false,
          properties: {
            confirm: { anyOf: [{ type: "string" }, { type: "number" }], description: "make the apply provisional: a window of N seconds, Ns, Nm or Nms; reverted unless POST /confirm arrives in time" },
            allowLockout: { type: "boolean", description: "apply even when the lockout check finds a live session the new rules would cut" },
            ssh: { type: "string", description: "the SSH_CONNECTION of the command that asks (client_ip client_port server_ip server_port), checked like a live session" },
          },
        },
      },
    },
  },
};

/** Answers every route may give, from the guard (guard.ts). */
const GUARD_RESPONSES: Record<string, Json> = {
  "403": error("a POST on a read-only listener, or a route this listener does not serve"),
  "413": error("a request body over 64 KiB"),
  "415": error("a POST that is not application/json"),
  "421": error("a Host header that does not name this machine (DNS rebinding)"),
};

export function openapiDocument(): Json {
  const paths: Json = {};
  for (const route of endpointIndex({ access: "control" }).endpoints) {
    const responses = RESPONSES[route.path];
    if (!responses) throw new Error(`the API serves ${route.path}, which src/api/openapi-doc.ts does not describe`);
    const operations: Json = {};
    for (const method of route.methods.filter((m) => m !== "HEAD")) {
      const all = { ...GUARD_RESPONSES, ...responses };
      const body = method === "POST" ? REQUEST_BODIES[route.path] : undefined;
      operations[method.toLowerCase()] = { summary: route.description, ...(body ? { requestBody: body } : {}), responses: Object.fromEntries(Object.keys(all).sort().map((code) => [code, all[code]])) };
    }
    paths[route.path] = operations;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "hostwall status API",
      version: "1",
      description: "The local API of hostwall run: the control socket (unix:/run/hostwall/api.sock, root only) serves every route; a TCP listener (default 127.0.0.1:9099) serves the read-only ones. Generated from src/api/openapi.ts; see docs/api.md.",
    },
    servers: [{ url: "http://127.0.0.1:9099", description: "the default read-only TCP listener" }],
    paths,
    components: { schemas: Object.fromEntries(Object.entries(SCHEMAS).map(([name, schema]) => [name, hoist(schema, schema)])) },
  };
}

/** A schema with every other named schema inside it replaced by a $ref to it. */
function hoist(value: unknown, self: unknown): unknown {
  if (value !== self) for (const [name, named] of Object.entries(SCHEMAS)) if (value === named) return ref(name as keyof typeof SCHEMAS);
  if (Array.isArray(value)) return value.map((v) => hoist(v, self));
  if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, hoist(v, self)]));
  return value;
}

/** docs/api.md: the routes, then each named document as a table of its fields. */
export function apiMarkdown(): string {
  const doc = openapiDocument();
  const out = [
    "# The status API",
    "",
    "<!-- Generated from src/api/openapi.ts and src/api/openapi-doc.ts by `npm run generate`; do not edit by hand. -->",
    "",
    "`hostwall run` serves a local HTTP API: the control socket (`unix:/run/hostwall/api.sock`, mode",
    "0600, root only) serves every route; a TCP listener (`--listen`, default `127.0.0.1:9099`) serves",
    "the read-only ones (docs/operations.md says who may ask what, and why). Every answer is JSON unless",
    "said otherwise; a refusal is an `ErrorAnswer`. The machine-readable description is",
    "[openapi.json](openapi.json) (OpenAPI 3.1). The schemas are checked against the TypeScript types",
    "the agent builds and `hostwall status` reads, at compile time, and against real documents in the",
    "unit tests, so this page cannot describe fields that are not there.",
    "",
    "## Routes",
    "",
    "| method | path | what | answers |",
    "| --- | --- | --- | --- |",
  ];
  for (const [path, operations] of Object.entries(doc.paths as Record<string, Record<string, { summary: string; responses: Record<string, { description: string }> }>>)) {
    for (const [method, op] of Object.entries(operations)) {
      const answers = Object.entries(RESPONSES[path]!).map(([code, r]) => `${code}: ${String(r.description)}`).join("; ");
      out.push(`| ${method.toUpperCase()} | \`${path}\` | ${cell(op.summary)} | ${cell(answers)} |`);
    }
  }
  out.push("", `Every route may also answer ${Object.entries(GUARD_RESPONSES).map(([code, r]) => `${code} (${String(r.description)})`).join(", ")}; an unknown path 404, another method 405 with \`Allow\`.`, "");
  out.push("## Documents", "");
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    out.push(`### ${name}`, "", `${(schema as { description: string }).description}.`, "", "| field | type | description |", "| --- | --- | --- |");
    for (const row of fields(schema, "")) out.push(`| \`${row.name}\`${row.optional ? " (optional)" : ""} | ${cell(row.type)} | ${cell(row.description)} |`);
    out.push("");
  }
  return out.join("\n");
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

interface Row {
  name: string;
  type: string;
  description: string;
  optional: boolean;
}

/** The rows of an object schema: nested objects flattened to dotted names, named schemas linked. */
function fields(schema: unknown, prefix: string): Row[] {
  const s = schema as { properties?: Record<string, unknown>; required?: string[] };
  const rows: Row[] = [];
  for (const [key, value] of Object.entries(s.properties ?? {})) {
    const name = `${prefix}${key}`;
    const inner = unwrap(value);
    rows.push({ name, type: typeName(value), description: (value as { description?: string }).description ?? (inner as { description?: string }).description ?? "", optional: !(s.required ?? []).includes(key) });
    const element = (inner as { type?: string; items?: unknown }).type === "array" ? unwrap((inner as { items: unknown }).items) : inner;
    if (!isNamed(element) && (element as { properties?: unknown }).properties) rows.push(...fields(element, `${name}${element === inner ? "" : "[]"}.`));
  }
  return rows;
}

/** The non-null branch of `X or null`. */
function unwrap(value: unknown): unknown {
  const any = (value as { anyOf?: unknown[] }).anyOf;
  return any ? any.find((b) => (b as { type?: string }).type !== "null") : value;
}

const isNamed = (value: unknown) => Object.values(SCHEMAS).includes(value as never);
const nameOf = (value: unknown) => Object.entries(SCHEMAS).find(([, s]) => s === value)?.[0];

function typeName(value: unknown): string {
  const named = nameOf(value);
  if (named) return `[${named}](#${named.toLowerCase()})`;
  const v = value as { anyOf?: unknown[]; type?: string; enum?: unknown[]; items?: unknown; additionalProperties?: unknown };
  if (v.anyOf) return v.anyOf.map(typeName).join(" or ");
  if (v.enum) return v.enum.length > 8 ? `string (one of ${v.enum.length} codes)` : v.enum.map((e) => `\`${String(e)}\``).join(", ");
  if (v.type === "array") return `list of ${typeName(v.items)}`;
  if (v.type === "object" && v.additionalProperties && typeof v.additionalProperties === "object") return `map of ${typeName(v.additionalProperties)}`;
  return v.type ?? "any";
}
