/**
 * The YAML of the three Calico guides hostwall's rules/ come from, as printed (with their
 * mistakes) and corrected: test/fixtures/guides/<guide>/{as-printed,corrected}/ (each folder's
 * README names the source and commit). Every as-printed file is loaded on its own, as a user
 * would `calicoctl create -f` one code block, and must give exactly the listed diagnostics,
 * each with its code, line, column and a hint. The corrected files of a guide are loaded
 * together and must give no diagnostic at all, and must mean what the guide says.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { DiagnosticCode } from "../../src/diagnostics/codes.ts";
import { formatDiagnostic, type Diagnostic } from "../../src/diagnostics/diagnostic.ts";
import { loadConfig } from "../../src/validate/load.ts";
import { resolvePlan, type Plan } from "../../src/resolve/resolve.ts";

const ROOT = join(import.meta.dir, "../fixtures/guides");

/** One expected diagnostic: the hint is required, since each mistake must say how to fix it. */
interface Mistake {
  code: DiagnosticCode;
  line: number;
  column: number;
  /** A phrase the message must contain. */
  hint: string;
}

interface Guide {
  /** Node name for loading and planning the corrected files. */
  node: string;
  /** Every as-printed file and its mistakes ([] for a valid block). */
  asPrinted: Record<string, Mistake[]>;
  /** What the corrected files mean on that node. */
  plan: (plan: Plan) => void;
}

const policies = (plan: Plan, stage: "untracked" | "preDNAT" | "normal" | "forward", dir: "ingress" | "egress") =>
  plan.endpoints.map((ep) => [ep.hep.meta.name, ep.stages[stage][dir].flatMap((t) => t.policies.map((p) => p.meta.name))]);

const GUIDES: Record<string, Guide> = {
  "defend-dos-attack": {
    node: "jasper",
    asPrinted: {
      "1-hostendpoint.yaml": [],
      "2-globalnetworkset.yaml": [],
      "3-globalnetworkpolicy.yaml": [],
      "v3.11-1-hostendpoint.yaml": [{ code: "WRONG_TYPE", line: 6, column: 27, hint: "quote it: 'true'" }],
      "v3.11-2-globalnetworkset.yaml": [{ code: "WRONG_TYPE", line: 6, column: 5, hint: "did you mean {dos-blacklist: 'true'}?" }],
      "v3.11-3-globalnetworkpolicy.yaml": [],
    },
    plan: (plan) => {
      expect(policies(plan, "untracked", "ingress")).toEqual([["production-host", ["dos-mitigation"]]]);
      expect(plan.sets.get(`dos-deny-list == "true"`)?.v4.length).toBe(2);
    },
  },
  "external-ips-policy": {
    node: "jasper",
    asPrinted: {
      "1-networkpolicy.yaml": [],
      "2-globalnetworkset.yaml": [],
      "3-globalnetworkpolicies.yaml": [],
      "v3.11-1-networkpolicy.yaml": [],
      "v3.11-2-globalnetworkset.yaml": [{ code: "WRONG_TYPE", line: 6, column: 19, hint: "quote it: 'true'" }],
      "v3.11-3-globalnetworkpolicies.yaml": [],
    },
    // The guide defines no HostEndpoint: nothing is enforced, the deny list's set is still computed.
    plan: (plan) => {
      expect(plan.endpoints).toEqual([]);
      expect(plan.sets.get(`(ip-deny-list == "true" && !has(projectcalico.org/namespace))`)?.v4.length).toBe(2);
    },
  },
  "kubernetes-node-ports": {
    node: "node1",
    asPrinted: {
      "1-allow-cluster-internal-ingress-only.yaml": [
        { code: "CIDR_HOST_BITS", line: 12, column: 16, hint: "did you mean 1.2.0.0/16?" },
        { code: "CIDR_HOST_BITS", line: 12, column: 28, hint: "did you mean 100.100.0.0/16?" },
      ],
      "2-allow-outbound-external.yaml": [],
      "3-hostendpoint.yaml": [{ code: "INVALID_ADDRESS", line: 11, column: 7, hint: "placeholder is still in the file: replace INSERT_IP_HERE" }],
      "4-allow-nodeport.yaml": [],
      "5-nodeport-label.yaml": [{ code: "MISSING_FIELD", line: 1, column: 1, hint: "it looks like labels: put them under metadata.labels" }],
    },
    plan: (plan) => {
      // Pre-DNAT by order: allow-nodeport (10) before allow-cluster-internal-ingress-only (20).
      expect(policies(plan, "preDNAT", "ingress")).toEqual([["node1-eth0", ["allow-nodeport", "allow-cluster-internal-ingress-only"]]]);
      expect(policies(plan, "normal", "egress")).toEqual([["node1-eth0", ["allow-outbound-external"]]]);
      expect(policies(plan, "normal", "ingress")).toEqual([["node1-eth0", []]]);
    },
  },
};

function read(dir: string, name: string) {
  return { path: name, text: readFileSync(join(dir, name), "utf8") };
}

function project(d: Diagnostic, hint: string | undefined) {
  return { code: d.code, line: d.line, column: d.column, severity: d.severity, hint: hint !== undefined && d.message.includes(hint) ? hint : d.message };
}

describe("Calico guides as printed", () => {
  test("every guide folder is in the table", () => {
    expect(readdirSync(ROOT, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort()).toEqual(Object.keys(GUIDES).sort());
  });

  for (const [guide, { asPrinted, node }] of Object.entries(GUIDES)) {
    const dir = join(ROOT, guide, "as-printed");
    test(`${guide}: every as-printed file is listed`, () => {
      expect(readdirSync(dir).sort()).toEqual(Object.keys(asPrinted).sort());
    });
    for (const [file, mistakes] of Object.entries(asPrinted)) {
      test(`${guide}/${file}: ${mistakes.length === 0 ? "valid" : mistakes.map((m) => m.code).join(", ")}`, () => {
        const { diagnostics } = loadConfig([read(dir, file)], { node });
        const want = mistakes.map((m) => ({ code: m.code, line: m.line, column: m.column, severity: "error" as const, hint: m.hint }));
        const got = diagnostics.map((d, i) => project(d, mistakes[i]?.hint));
        if (!Bun.deepEquals(got, want)) console.error(diagnostics.map(formatDiagnostic).join("\n"));
        expect(got).toEqual(want);
      });
    }
  }
});

describe("Calico guides corrected", () => {
  for (const [guide, { node, plan: check }] of Object.entries(GUIDES)) {
    test(`${guide}: the corrected files load without a single diagnostic and mean what the guide says`, () => {
      const dir = join(ROOT, guide, "corrected");
      const files = readdirSync(dir).sort().map((f) => read(dir, f));
      expect(files.length).toBeGreaterThan(0);
      const { model, diagnostics } = loadConfig(files, { node });
      expect(diagnostics.map(formatDiagnostic)).toEqual([]);
      const { plan, diagnostics: planDiagnostics } = resolvePlan(model, node);
      expect(planDiagnostics.map(formatDiagnostic)).toEqual([]);
      check(plan);
    });
  }
});
