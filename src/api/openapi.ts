/**
 * The status API's documents as JSON Schema (OpenAPI 3.1 dialect), written once as typed
 * constants, and the OpenAPI description built from them (docs/openapi.json, docs/api.md; npm
 * run generate). Drift cannot pass unnoticed in either direction:
 *
 * - at compile time, the TypeScript type each schema describes (FromSchema below) must be the
 *   very type the API builds and the CLI reads (status.ts): a field added, removed, renamed,
 *   made optional or given another type on one side and not the other fails `tsc` on the
 *   `…Matches` lines at the end of this file;
 * - in the unit tests (test/unit/openapi.test.ts), real documents from the API on the fake
 *   kernel are validated against the published docs/openapi.json with ajv, every path the
 *   API's index lists must be described, and the committed files must be current.
 */
import { DIAGNOSTIC_CODES, type DiagnosticCode } from "../diagnostics/codes.ts";
import type { ErrorAnswer, ReloadAnswer, StatusDocument } from "./status.ts";

// ---- builders: each keeps its literal type, so FromSchema can read the schema back as a type ----

const str = <const D extends string>(description: D) => ({ type: "string", description }) as const;
const num = <const D extends string>(description: D) => ({ type: "number", description }) as const;
const int = <const D extends string>(description: D) => ({ type: "integer", minimum: 0, description }) as const;
const bool = <const D extends string>(description: D) => ({ type: "boolean", description }) as const;
const oneOf = <const E extends readonly string[]>(description: string, values: E) => ({ type: "string", enum: values, description }) as const;
const list = <const I>(description: string, items: I) => ({ type: "array", items, description }) as const;
const map = <const V>(description: string, values: V) => ({ type: "object", additionalProperties: values, description }) as const;
const orNull = <const S>(schema: S) => ({ anyOf: [schema, { type: "null" }] }) as const;

/** A closed object: every property not named in `optional` is required. */
function obj<const P extends Record<string, unknown>, const O extends readonly (keyof P & string)[] = []>(description: string, properties: P, optional?: O) {
  const required = Object.keys(properties).filter((k) => !(optional as readonly string[] | undefined ?? []).includes(k)) as Exclude<keyof P & string, O[number]>[];
  return { type: "object", description, additionalProperties: false, required, properties } as const;
}

// ---- the documents ----

const CODES = Object.keys(DIAGNOSTIC_CODES) as DiagnosticCode[];

export const DiagnosticSchema = obj(
  "One problem found in the config: hostwall check --json prints the same objects",
  {
    code: { type: "string", enum: CODES, description: "stable code (see hostwall's diagnostic table); match on this, not on the message" },
    severity: oneOf("error blocks the apply; warning is reported and the config still applies", ["error", "warning"]),
    message: str("what is wrong, with a hint where one helps"),
    file: str("the file the problem is in"),
    line: int("1-based line"),
    column: int("1-based column"),
    resource: str("Kind/name of the resource, when known"),
    path: str("the field inside the resource, e.g. spec.ingress[0].destination.ports[1]"),
  },
  ["file", "line", "column", "resource", "path"],
);

export const AttemptSchema = obj(
  "One attempt to read, build and apply the config",
  {
    at: str("when it ended (ISO 8601)"),
    ok: bool("true: applied, or nothing to change; false: rejected, the ruleset in force stays"),
    reason: str("what started it: startup, config changed, SIGHUP, POST /reload, ..."),
    unchanged: bool("true when the ruleset equalled the one in force, so nothing was sent to the kernel"),
    diagnostics: list("every problem found (errors make ok false)", DiagnosticSchema),
  },
  ["unchanged"],
);

const names = (what: string) => list(what, { type: "string" } as const);

export const LinkMonitorSchema = obj("The link monitor (ip monitor link address)", {
  state: str("running, restarting or unavailable"),
  events: int("link notifications seen"),
  addressEvents: int("address notifications seen"),
  restarts: int("restarts of ip monitor after it exited"),
});

export const ConfirmStatusSchema = obj("Confirm or revert (hostwall reload --confirm, run --confirm-changes)", {
  state: oneOf("none: nothing was ever provisional; pending: waiting for hostwall confirm; otherwise how the last window ended", ["none", "pending", "confirmed", "reverted", "revert-failed"]),
  pending: orNull(
    obj("The provisional apply waiting for hostwall confirm", {
      generation: int("the provisional generation"),
      baselineGeneration: int("the generation it reverts to"),
      since: str("when the window opened (ISO 8601)"),
      deadline: str("when the agent reverts unless confirmed (ISO 8601)"),
      windowMs: int("the window's length in ms"),
      remainingMs: int("ms left"),
      reason: str("what applied it"),
    }),
  ),
  last: orNull(
    obj("How the last window ended", {
      outcome: oneOf("confirmed, reverted or revert-failed", ["confirmed", "reverted", "revert-failed"]),
      at: str("when (ISO 8601)"),
      generation: int("the generation it concerned"),
      detail: str("the same in words, as logged"),
    }),
  ),
  changesWindowMs: orNull(int("run --confirm-changes: the window of every watched change, in ms")),
});

export const DatastoreStatusSchema = obj("The etcd datastore (--datastore etcdv3)", {
  type: oneOf("the datastore type", ["etcdv3"]),
  endpoints: names("the etcd endpoints"),
  connected: bool("a watch is established (or being set up after a successful list)"),
  revision: int("the store revision the copy is at (0: never listed)"),
  lastError: orNull(str("the last failure")),
  since: str("when connected last changed (ISO 8601)"),
  lists: int("full lists read"),
  events: int("watch events received"),
  reconnects: int("watches set up again after a failure"),
});

export const StatusDocumentSchema = obj(
  "GET /status: what this agent has in force and how it got there",
  {
    version: str("the agent's version"),
    node: str("the node it enforces for"),
    configDir: str("the config dir it reads (absent when it reads a datastore: see datastore)"),
    generation: int("generation of the ruleset in force (+1 per successful apply)"),
    applied: orNull(
      obj("The ruleset this agent put in force", {
        source: oneOf("config: compiled from the config dir; kernel: found in force at start; last-good: restored from the state dir; failsafe: --boot-policy failsafe", ["config", "kernel", "last-good", "failsafe"]),
        at: str("when (ISO 8601)"),
        hash: str("hash of the applied script"),
        durationMs: num("read, build, check and apply, in ms"),
        resources: map("resources in force by kind", { type: "number" } as const),
      }),
    ),
    inKernel: orNull(
      obj("hostwall's tables found in the kernel at start", {
        tables: names("the tables"),
        generation: orNull(int("the generation stamped on them")),
        hash: orNull(str("the hash stamped on them")),
      }),
    ),
    boot: obj("What the start did when the first config was rejected", {
      action: oneOf("kept-kernel, last-good, failsafe, open (nothing enforced) or failed", ["kept-kernel", "last-good", "failsafe", "open", "failed"]),
      detail: str("the same in words, as logged"),
    }),
    lastAttempt: orNull(AttemptSchema),
    enforcedEndpoints: int("HostEndpoints of this node enforced now (0: nothing is protected)"),
    endpoints: list(
      "This node's endpoints",
      obj("One HostEndpoint of this node", {
        name: str("the HostEndpoint's name"),
        interface: str("its interface"),
        active: bool("the interface exists, so the endpoint is enforced"),
        policies: obj("Policy names per direction and stage, in evaluation order", {
          ingress: obj("Ingress stages", { untracked: names("doNotTrack policies"), preDNAT: names("preDNAT policies"), normal: names("normal policies"), forward: names("applyOnForward policies") }),
          egress: obj("Egress stages", { untracked: names("doNotTrack policies"), normal: names("normal policies"), forward: names("applyOnForward policies") }),
        }),
      }),
    ),
    kernel: obj("What the running kernel does", { netdevAttachesLater: bool("netdev chains attach to interfaces that appear later (Linux 6.16+)") }),
    nft: obj(
      "How scripts reach the kernel and how applies went",
      {
        backend: str("libnftables (in-process) or spawn"),
        note: str("why this backend"),
        deltas: int("applies sent as a delta"),
        fullApplies: int("applies that replaced the tables"),
        deltasRejected: int("deltas the kernel refused (then replaced in full)"),
      },
      ["note"],
    ),
    drift: obj("Drift checks: the live tables compared with what was applied", {
      checks: int("checks that listed and compared the tables"),
      count: int("times the tables differed"),
      repairs: int("drifts repaired"),
      last: orNull(
        obj("The last drift found", {
          at: str("when (ISO 8601)"),
          differences: names("what differed"),
          repaired: bool("whether it was repaired"),
        }),
      ),
    }),
    linkMonitor: LinkMonitorSchema,
    confirm: ConfirmStatusSchema,
    datastore: DatastoreStatusSchema,
    staged: obj(
      "Staged policies: per staged rule, its action and the packets it counted where it would be evaluated (it never decides)",
      {
        counted: bool("the kernel's counters were read (false: see error; the rules then show zero counts)"),
        error: str("why the counters could not be read"),
        rules: list(
          "Every rule of every counted staged policy (StagedGlobalNetworkPolicy, stagedAction Set or Delete)",
          obj("One staged rule", {
            policy: str("the staged resource's name"),
            stagedAction: oneOf("Set: the staged policy's rule; Delete: the enforced rule that would go away", ["Set", "Delete"]),
            direction: oneOf("ingress or egress", ["ingress", "egress"]),
            rule: int("index of the rule in its direction"),
            action: str("Allow, Deny, Pass or Log: what it would have done with the packets it counted"),
            packets: int("packets it counted"),
            bytes: int("bytes it counted"),
          }),
        ),
      },
      ["error"],
    ),
  },
  ["configDir", "boot", "linkMonitor", "datastore"],
);

export const ReloadAnswerSchema = obj(
  "POST /reload: 200 applied or unchanged, 422 rejected (the ruleset in force stays)",
  {
    ok: bool("applied (or nothing to change)"),
    generation: int("the generation in force now"),
    attempt: AttemptSchema,
    confirm: ConfirmStatusSchema.properties.pending.anyOf[0],
  },
  ["confirm"],
);

export const ErrorAnswerSchema = {
  type: "object",
  description: "Any refusal (4xx, 5xx): what went wrong, sometimes how to do it right, and details that depend on the error",
  required: ["error"],
  properties: { error: str("what went wrong"), hint: str("how to do it right") },
  additionalProperties: true,
} as const;

/** The named schemas, in the order docs/api.md describes them. */
export const SCHEMAS = { StatusDocument: StatusDocumentSchema, Attempt: AttemptSchema, Diagnostic: DiagnosticSchema, ConfirmStatus: ConfirmStatusSchema, LinkMonitor: LinkMonitorSchema, DatastoreStatus: DatastoreStatusSchema, ReloadAnswer: ReloadAnswerSchema, ErrorAnswer: ErrorAnswerSchema } as const;

// ---- type-level check: the schemas describe exactly the types the code uses ----

/** The TypeScript type of a JSON value a schema (built above) accepts. */
export type FromSchema<S> = S extends { anyOf: readonly (infer A)[] }
  ? FromSchema<A>
  : S extends { enum: readonly (infer E)[] }
    ? E
    : S extends { type: "array"; items: infer I }
      ? FromSchema<I>[]
      : S extends { type: "object"; properties: infer P; required: readonly (infer R)[] }
        ? { [K in keyof P & R]: FromSchema<P[K]> } & { [K in Exclude<keyof P, R>]?: FromSchema<P[K]> } & (S extends { additionalProperties: true } ? { [k: string]: unknown } : unknown)
        : S extends { type: "object"; additionalProperties: infer V }
          ? Record<string, FromSchema<V>>
          : S extends { type: "string" }
            ? string
            : S extends { type: "number" | "integer" }
              ? number
              : S extends { type: "boolean" }
                ? boolean
                : S extends { type: "null" }
                  ? null
                  : never;

/** Intersections and Pick/Omit flattened, so two spellings of one type compare equal. */
type Normalize<T> = T extends readonly (infer U)[] ? Normalize<U>[] : T extends object ? { [K in keyof T]: Normalize<T[K]> } : T;
/** True only when A and B are the same type (not merely assignable either way). */
type Same<A, B> = (<T>() => T extends Normalize<A> ? 1 : 2) extends <T>() => T extends Normalize<B> ? 1 : 2 ? true : false;

// A compile error on one of these lines means a document type (status.ts, agent/types.ts, ...)
// and its schema above differ: change the schema with the type, then `npm run generate`.
export const statusMatches: Same<FromSchema<typeof StatusDocumentSchema>, StatusDocument> = true;
export const reloadMatches: Same<FromSchema<typeof ReloadAnswerSchema>, ReloadAnswer> = true;
export const errorMatches: Same<FromSchema<typeof ErrorAnswerSchema>, ErrorAnswer> = true;
