/**
 * The published API description (docs/openapi.json, generated from src/api/openapi.ts) against
 * real answers of the API on the fake kernel, validated with ajv (draft 2020-12, OpenAPI 3.1's
 * dialect, strict): /status in every state the fakes reach (nothing applied, applied, rejected,
 * boot fallback, drift, link monitor, datastore), POST /reload applied and rejected, refusals,
 * the index, /healthz and /readyz. Together they must touch every field the StatusDocument
 * schema names, so no part of the schema goes unchecked against a real document. The
 * compile-time half (schema ≡ TypeScript type) is in src/api/openapi.ts.
 */
import { describe, expect, test } from "bun:test";
import Ajv2020 from "ajv/dist/2020";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createApi } from "../../src/api/app.ts";
import { endpointIndex } from "../../src/api/guard.ts";
import type { ServiceState } from "../../src/api/status.ts";
import type { SourceFile } from "../../src/source/source-file.ts";
import { fakeAgent, fakeKernel, memoryState, MORE_DENY } from "./api-fakes.ts";

const REPO = join(import.meta.dir, "../..");
const openapi = JSON.parse(readFileSync(join(REPO, "docs/openapi.json"), "utf8")) as {
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: unknown }> }; responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
  components: { schemas: Record<string, unknown> };
};

/** The published schemas as one draft 2020-12 document: components under $defs, and each route's JSON answers. */
const ajv = new Ajv2020({ strict: true, allErrors: true });
const defs: Record<string, unknown> = { ...openapi.components.schemas };
for (const [path, ops] of Object.entries(openapi.paths)) {
  for (const [method, op] of Object.entries(ops)) {
    for (const [code, r] of Object.entries(op.responses)) if (r.content?.["application/json"]) defs[`${method} ${path} ${code}`] = r.content["application/json"].schema;
    if (op.requestBody) defs[`${method} ${path} body`] = op.requestBody.content["application/json"]!.schema;
  }
}
ajv.addSchema(JSON.parse(JSON.stringify({ $id: "openapi", $defs: defs }).replaceAll("#/components/schemas/", "#/$defs/")));

function expectValid(def: string, value: unknown): void {
  const validate = ajv.getSchema(`openapi#/$defs/${def.replaceAll("~", "~0").replaceAll("/", "~1")}`)!;
  expect(validate).toBeDefined();
  const ok = validate(value);
  expect({ def, errors: ok ? [] : validate.errors }).toEqual({ def, errors: [] });
}

const SERVICE: ServiceState = {
  stopping: false,
  interfaceChanges: 1,
  linkMonitor: { state: "running", events: 3, addressEvents: 1, restarts: 0 },
  datastore: { type: "etcdv3", endpoints: ["http://127.0.0.1:2379"], connected: true, revision: 7, lastError: null, since: "2026-01-01T00:00:00.000Z", lists: 1, events: 2, reconnects: 0 },
};
const BAD: SourceFile = { path: "/etc/hostwall/90-bad.yaml", text: "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: bad}\nspec:\n  ingress:\n    - action: Accept\n" };

async function getJson(app: ReturnType<typeof createApi>, path: string, init?: RequestInit): Promise<{ status: number; body: unknown }> {
  const res = await app.request(path, init);
  return { status: res.status, body: await res.json() };
}

/** Every dotted property path a value has (array elements as []). */
function pathsOf(value: unknown, prefix = "", out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) pathsOf(v, `${prefix}[]`, out);
  else if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      out.add(`${prefix}${prefix ? "." : ""}${k}`);
      if (prefix.endsWith("resources") || k === "resources") continue; // a map: its keys are data
      pathsOf(v, `${prefix}${prefix ? "." : ""}${k}`, out);
    }
  }
  return out;
}

/** Every property path a schema names ($refs followed, maps not entered). */
function schemaPaths(schema: unknown, prefix = "", out = new Set<string>()): Set<string> {
  const s = schema as { $ref?: string; anyOf?: unknown[]; items?: unknown; properties?: Record<string, unknown> };
  if (s.$ref) return schemaPaths(openapi.components.schemas[s.$ref.split("/").pop()!], prefix, out);
  for (const branch of s.anyOf ?? []) schemaPaths(branch, prefix, out);
  if (s.items) schemaPaths(s.items, `${prefix}[]`, out);
  for (const [k, v] of Object.entries(s.properties ?? {})) {
    const path = `${prefix}${prefix ? "." : ""}${k}`;
    out.add(path);
    schemaPaths(v, path, out);
  }
  return out;
}

describe("GET /status against the published StatusDocument", () => {
  test("every state the fakes reach is valid, and together they show every field of the schema", async () => {
    const seen = new Set<string>();
    const check = async (app: ReturnType<typeof createApi>) => {
      const { status, body } = await getJson(app, "/status");
      expect(status).toBe(200);
      expectValid("StatusDocument", body);
      pathsOf(body, "", seen);
    };
    // Nothing applied yet; then applied; then a rejected edit (diagnostics with file, line, column, resource, path); then drift.
    const f = fakeAgent();
    const app = createApi({ agent: f.agent, version: "1.2.3", node: "jasper", configDir: "/etc/hostwall", service: () => SERVICE });
    await check(app);
    await f.agent.reload("startup");
    await check(app);
    await f.agent.reload("SIGHUP"); // unchanged: nothing sent to the kernel
    await check(app);
    f.state.files.push(MORE_DENY);
    await f.agent.reload("config changed");
    await check(app);
    f.state.files.push(BAD);
    await f.agent.reload("config changed");
    await check(app);
    f.kernel.drop("netdev");
    expect((await f.agent.checkDrift()).state).toBe("drift");
    await check(app);
    // A provisional apply (reload --confirm): pending, then confirmed.
    f.state.files.splice(f.state.files.indexOf(BAD), 1, { ...MORE_DENY, path: "/etc/hostwall/60-more.yaml", text: MORE_DENY.text.replace("name: more", "name: more-2").replace("198.51.100.7", "198.51.100.8") });
    const body = JSON.stringify({ confirm: "60s" });
    expectValid("post /reload body", JSON.parse(body));
    const provisional = await getJson(app, "/reload", { method: "POST", headers: { "content-type": "application/json" }, body });
    expect(provisional.status).toBe(200);
    expectValid("post /reload 200", provisional.body);
    pathsOf(provisional.body, "reload", seen);
    await check(app);
    const confirmed = await getJson(app, "/confirm", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(confirmed.status).toBe(200);
    expectValid("post /confirm 200", confirmed.body);
    await check(app);
    // A staged policy: its rules with the kernel's counts; then the counters unreadable (staged.error).
    f.state.files.push({ path: "/etc/hostwall/70-staged.yaml", text: "apiVersion: projectcalico.org/v3\nkind: StagedGlobalNetworkPolicy\nmetadata: {name: staged-web}\nspec:\n  selector: all()\n  ingress:\n  - {action: Deny, protocol: TCP, destination: {ports: [8081]}}\n" });
    await f.agent.reload("config changed");
    f.kernel.count("sgnp/staged-web/ingress/0", 5, 300);
    await check(app);
    const counted = (await getJson(app, "/status")).body as { staged: { counted: boolean; rules: { policy: string; action: string; packets: number }[] } };
    expect([counted.staged.counted, counted.staged.rules.map((r) => `${r.policy} ${r.action}`), counted.staged.rules[0]!.packets % 5, counted.staged.rules[0]!.packets > 0]).toEqual([true, ["staged-web Deny"], 0, true]);
    f.kernel.listError = "nft: cannot list";
    await check(app);
    f.kernel.listError = undefined;
    // A restart with a rejected config: the stamped tables found in the kernel are kept (inKernel, boot).
    const kernel = fakeKernel();
    const state = memoryState();
    await fakeAgent({ kernel, state }).agent.reload("startup");
    const restarted = fakeAgent({ kernel, state, files: [BAD] });
    await restarted.agent.reload("startup");
    await check(createApi({ agent: restarted.agent, version: "1.2.3", node: "jasper", configDir: "/etc/hostwall" }));
    // A rejected config at start with --boot-policy failsafe: the boot record; no service state.
    const boot = fakeAgent({ state: memoryState(), files: [BAD], bootPolicy: "failsafe" });
    await boot.agent.reload("startup");
    await check(createApi({ agent: boot.agent, version: "1.2.3", node: "jasper", configDir: "/etc/hostwall" }));

    const named = schemaPaths({ $ref: "#/components/schemas/StatusDocument" });
    const unseen = [...named].filter((p) => !seen.has(p) && !p.startsWith("applied.resources."));
    // Fields no fake state reaches yet; each is still checked at compile time against the type.
    const UNREACHED = ["nft.note"].flatMap((p) => [...named].filter((n) => n === p || n.startsWith(`${p}.`)));
    expect(unseen.filter((p) => !UNREACHED.includes(p))).toEqual([]);
    expect(seen.size).toBeGreaterThan(50);
  });

  test("a document with a field the schema does not have, or without a required one, is refused", async () => {
    const f = fakeAgent();
    await f.agent.reload("startup");
    const { body } = await getJson(createApi({ agent: f.agent, version: "1", node: "jasper", configDir: "/etc/hostwall" }), "/status");
    const validate = ajv.getSchema("openapi#/$defs/StatusDocument")!;
    expect(validate({ ...(body as object), surprise: 1 })).toBe(false);
    const { generation: _g, ...missing } = body as Record<string, unknown>;
    expect(validate(missing)).toBe(false);
    expect(validate({ ...(body as object), generation: "2" })).toBe(false);
  });
});

describe("other answers against the published description", () => {
  test("POST /reload: applied (200) and rejected (422) are ReloadAnswers", async () => {
    const f = fakeAgent();
    const app = createApi({ agent: f.agent, version: "1", node: "jasper", configDir: "/etc/hostwall" });
    const post = { method: "POST", headers: { "content-type": "application/json" }, body: "{}" };
    const ok = await getJson(app, "/reload", post);
    expect(ok.status).toBe(200);
    expectValid("post /reload 200", ok.body);
    f.state.files.push(BAD);
    const rejected = await getJson(app, "/reload", post);
    expect(rejected.status).toBe(422);
    expectValid("post /reload 422", rejected.body);
  });

  test("the index, /healthz, /readyz (503 then 200) and refusals", async () => {
    const f = fakeAgent();
    const app = createApi({ agent: f.agent, version: "1", node: "jasper", configDir: "/etc/hostwall" });
    expectValid("get / 200", (await getJson(app, "/")).body);
    expectValid("get /healthz 200", (await getJson(app, "/healthz")).body);
    const notReady = await getJson(app, "/readyz");
    expect(notReady.status).toBe(503);
    expectValid("get /readyz 503", notReady.body);
    await f.agent.reload("startup");
    expectValid("get /readyz 200", (await getJson(app, "/readyz")).body);
    const missing = await getJson(app, "/nope");
    expect(missing.status).toBe(404);
    expectValid("ErrorAnswer", missing.body);
    const readOnly = createApi({ agent: f.agent, version: "1", node: "jasper", configDir: "/etc/hostwall" }, { access: "read-only" });
    const refused = await getJson(readOnly, "/reload", { method: "POST", headers: { "content-type": "application/json", host: "127.0.0.1:9099" }, body: "{}" });
    expect(refused.status).toBe(403);
    expectValid("post /reload 403", refused.body);
  });

  test("POST /reload's body: what the API refuses, the schema refuses", async () => {
    const f = fakeAgent();
    const app = createApi({ agent: f.agent, version: "1", node: "jasper", configDir: "/etc/hostwall" });
    await f.agent.reload("startup");
    const validate = ajv.getSchema("openapi#/$defs/post ~1reload body")!;
    for (const body of [{ confrim: "60s" }, { allowLockout: "yes" }, { ssh: 22 }]) {
      const r = await getJson(app, "/reload", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      expect([body, r.status, validate(body)]).toEqual([body, 400, false]);
    }
    expect(validate({ confirm: 90, allowLockout: true, ssh: "192.0.2.1 50000 192.0.2.10 22" })).toBe(true);
  });

  test("every route the API's index lists is described, with each of its methods", () => {
    const described = Object.entries(openapi.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    const served = endpointIndex({ access: "control" }).endpoints.flatMap((r) => r.methods.filter((m) => m !== "HEAD").map((m) => `${m} ${r.path}`));
    expect(described.sort()).toEqual(served.sort());
  });
});
