/**
 * The JSON Schema generated from the validator's field table (src/validate/fields.ts,
 * json-schema.ts) against hostwall's own verdicts, checked with ajv in strict mode:
 *
 * - it never rejects what hostwall accepts: every row of the validation table
 *   (fixtures/validate/) without an error, every file of rules/, the guides' files and the
 *   golden inputs that load without an error;
 * - it rejects every input that has an error of a code the table expresses (SCHEMA_CODES: a
 *   kind, a field, a type, a closed set of values, a range, a limit, a name), and each such code is
 *   met in the table, so the list says something;
 * - the example rules name it in their yaml-language-server line.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { DiagnosticCode } from "../../src/diagnostics/codes.ts";
import { loadConfig } from "../../src/validate/load.ts";
import { KIND_TABLE, KINDS } from "../../src/validate/fields.ts";
import { jsonSchema } from "../../src/validate/json-schema.ts";
import type { Case } from "./fixtures/validate/case.ts";
import { constraintCases } from "./fixtures/validate/constraints.ts";
import { endpointCases } from "./fixtures/validate/endpoints.ts";
import { envelopeCases } from "./fixtures/validate/envelope.ts";
import { felixCases } from "./fixtures/validate/felix.ts";
import { fileCases } from "./fixtures/validate/files.ts";
import { hintCases } from "./fixtures/validate/hints.ts";
import { nameCases } from "./fixtures/validate/names.ts";
import { policyCases } from "./fixtures/validate/policies.ts";
import { portCases } from "./fixtures/validate/ports.ts";
import { ruleCases } from "./fixtures/validate/rules.ts";
import { suggestionCases } from "./fixtures/validate/suggestions.ts";
import { tierCases } from "./fixtures/validate/tiers.ts";
import { validCases } from "./fixtures/validate/valid.ts";
import { ajv, schemaErrors, yamlDocuments } from "./schema-support.ts";

const REPO = join(import.meta.dir, "../..");
const TABLE: Case[] = [...envelopeCases, ...nameCases, ...endpointCases, ...policyCases, ...tierCases, ...ruleCases, ...portCases, ...felixCases, ...fileCases, ...hintCases, ...constraintCases, ...suggestionCases, ...validCases];

/** Codes whose every diagnostic the schema catches: the file is rejected whenever one is reported. */
const SCHEMA_CODES: readonly DiagnosticCode[] = [
  "INVALID_API_VERSION",
  "UNKNOWN_KIND",
  "UNKNOWN_FIELD",
  "WRONG_TYPE",
  "NOT_SUPPORTED",
  "INVALID_ACTION",
  "INVALID_PROTOCOL",
  "INVALID_TYPES",
  "INVALID_ICMP",
  "SELECTOR_TOO_LONG",
  "TOO_MANY_RULES",
  "TOO_MANY_NETS",
  "TOO_MANY_PORTS",
  "INVALID_LOG_PREFIX",
  "INVALID_RATE_LIMIT",
  "INVALID_NAME",
  "INVALID_LABEL_KEY",
  "INVALID_LABEL_VALUE",
  "INVALID_INTERFACE",
  "INVALID_PORT_NAME",
];

interface Verdict {
  /** hostwall's error codes. */
  codes: DiagnosticCode[];
  /** The schema's complaints, per file. */
  schema: string[];
  /** A file is not YAML the schema can see (hostwall reports YAML_SYNTAX). */
  unparsed: boolean;
}

const verdicts = new Map<Case, Verdict>();
const caseVerdict = (c: Case): Verdict => verdicts.get(c) ?? verdicts.set(c, verdict(typeof c.yaml === "string" ? [{ path: "t.yaml", text: c.yaml }] : c.yaml, c.node, c.refused)).get(c)!;

function verdict(files: { path: string; text: string }[], node = "node1", refused?: string[]): Verdict {
  const { diagnostics } = loadConfig(files, { node, refused });
  const yamlFiles = files.filter((f) => /\.ya?ml$/.test(f.path));
  return {
    codes: diagnostics.filter((d) => d.severity === "error").map((d) => d.code),
    schema: yamlFiles.flatMap((f) => schemaErrors(f.text).map((e) => `${f.path}: ${e}`)),
    unparsed: yamlFiles.some((f) => yamlDocuments(f.text) === undefined),
  };
}

/** What the schema must say: accept what hostwall accepts, reject a SCHEMA_CODES error. */
function expectAgreement(v: Verdict): void {
  if (v.unparsed) return;
  if (v.codes.length === 0) expect(v.schema).toEqual([]);
  else if (v.codes.some((c) => SCHEMA_CODES.includes(c))) expect({ codes: v.codes, rejected: v.schema.length > 0 }).toEqual({ codes: v.codes, rejected: true });
}

describe("the schema agrees with the validation table", () => {
  for (const c of TABLE) {
    test(c.name, () => expectAgreement(caseVerdict(c)));
  }

  test("every SCHEMA_CODES code is met by a row the schema rejects, and valid rows are many", () => {
    const seen = new Set<string>();
    let valid = 0;
    for (const c of TABLE) {
      const v = caseVerdict(c);
      if (v.codes.length === 0) valid++;
      if (v.schema.length > 0) for (const code of v.codes) seen.add(code);
    }
    expect(SCHEMA_CODES.filter((c) => !seen.has(c))).toEqual([]);
    expect(valid).toBeGreaterThan(50);
  });
});

/** Every *.yaml/*.yml below a repo directory. */
function yamlBelow(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(REPO, dir)).sort()) {
    const path = join(dir, name);
    if (statSync(join(REPO, path)).isDirectory()) out.push(...yamlBelow(path));
    else if (/\.ya?ml$/.test(name)) out.push(path);
  }
  return out;
}

describe("the schema agrees with hostwall on the repo's YAML files", () => {
  const files = ["rules", "test/fixtures", "test/golden", "test/golden-plan"].flatMap(yamlBelow);

  test("there are files to check", () => expect(files.length).toBeGreaterThan(30));

  for (const path of files) {
    test(path, () => {
      const v = verdict([{ path, text: readFileSync(join(REPO, path), "utf8") }], "jasper");
      if (path.startsWith("rules/")) expect(v).toEqual({ codes: [], schema: [], unparsed: false });
      // Files are loaded one by one: a policy's tier may be in another file (UNKNOWN_TIER), which the schema cannot know either.
      expectAgreement({ ...v, codes: v.codes.filter((c) => c !== "UNKNOWN_TIER") });
    });
  }

  test("the as-printed guide files with a wrong type are rejected", () => {
    const rejected = files.filter((p) => p.includes("as-printed") && verdict([{ path: p, text: readFileSync(join(REPO, p), "utf8") }]).codes.includes("WRONG_TYPE"));
    expect(rejected.length).toBeGreaterThan(0);
    for (const p of rejected) expect(schemaErrors(readFileSync(join(REPO, p), "utf8"))).not.toEqual([]);
  });
});

describe("null where hostwall reads null as absent", () => {
  const NULLS = `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: h, labels: {role: }, annotations: }
spec: {node: n, interfaceName: eth0, expectedIPs: [~], profiles: , ports: }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: p, namespace: }
spec:
  tier:
  order:
  selector:
  types:
  doNotTrack:
  performanceHints: [~]
  ingress:
    - action: Allow
      protocol:
      notProtocol:
      icmp:
      source: {nets: [~], selector: , ports: }
      destination:
      metadata:
  egress:
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: t}
spec: {order: , defaultAction: }
---
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata: {name: default}
spec: {failsafeInboundHostPorts: [{protocol: , port: 22, net: }], logPrefix: , ipv6Support: }
---
apiVersion: projectcalico.org/v3
kind: StagedGlobalNetworkPolicy
metadata: {name: s}
spec: {stagedAction: }
`;

  test("hostwall accepts the file, and so does the schema", () => {
    const v = verdict([{ path: "nulls.yaml", text: NULLS }], "n");
    expect(v).toEqual({ codes: [], schema: [], unparsed: false });
  });
});

describe("schema shape", () => {
  test("one resource of each kind: --kind narrows to it", () => {
    for (const kind of KINDS) {
      const validate = ajv.compile(jsonSchema({ kind }));
      const other = kind === "Tier" ? "Profile" : "Tier";
      const doc = (k: string) => ({ apiVersion: "projectcalico.org/v3", kind: k, metadata: { name: "x", ...(KIND_TABLE[k]!.namespaced ? { namespace: "ns" } : {}) }, ...(k === "HostEndpoint" ? { spec: { node: "n", interfaceName: "eth0" } } : {}) });
      expect([kind, validate(doc(kind))]).toEqual([kind, true]);
      expect([kind, validate(doc(other))]).toEqual([kind, false]);
    }
  });

  test("lists and sequences of resources are read as hostwall reads them", () => {
    const tier = { apiVersion: "projectcalico.org/v3", kind: "Tier", metadata: { name: "t" } };
    const bad = { ...tier, spec: { defaultAction: "Allow" } };
    expect(schemaErrors(JSON.stringify({ apiVersion: "v1", kind: "List", items: [tier, [tier]] }))).toEqual([]);
    expect(schemaErrors(JSON.stringify({ kind: "TierList", items: [tier, bad] }))).not.toEqual([]);
    expect(schemaErrors(JSON.stringify([tier, [bad]]))).not.toEqual([]);
  });

  test("the example rules name the schema in their yaml-language-server line", () => {
    for (const name of readdirSync(join(REPO, "rules")).filter((n) => n.endsWith(".yaml"))) {
      const first = readFileSync(join(REPO, "rules", name), "utf8").split("\n")[0]!;
      const m = /^# yaml-language-server: \$schema=(\S+)$/.exec(first);
      expect([name, m?.[1]]).toEqual([name, "../schema/hostwall.schema.json"]);
      expect(existsSync(resolve(dirname(join(REPO, "rules", name)), m![1]!))).toBe(true);
    }
  });
});
