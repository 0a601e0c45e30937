/**
 * The differential test's generator, checked on its own (no kernel). The generator redraws a
 * config until the validator accepts it, so "every seed gives a valid config" holds by
 * construction and says nothing; and the evaluator and the compiler it compares share the
 * loader, the selector engine and the CIDR code, so a bug there is invisible to it. Here:
 *  - validity is not assumed: for every draw of the fixed seeds (kept and redrawn), the error
 *    codes the generator predicts are the validator's, and the share of first draws that are
 *    valid is pinned (51 of 60; every redraw was an ipVersion/ICMP clash);
 *  - the loaded model, every rule selector's members, every named port's tuples, and the
 *    policies of every endpoint per stage are compared with what the documents say, worked
 *    out in differential-check.ts without the loader, selector or CIDR code.
 */
import { describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/validate/load.ts";
import { resolvePlan } from "../../src/resolve/resolve.ts";
import { actualEndpoints, actualModel, expectedEndpoints, expectedModel, predictedErrors, rangeOfCidr, rangeOfText, SELECTORS, setMismatches } from "./differential-check";
import { NODE, scenario, toYaml, type Scenario, type Yaml } from "./differential-gen";

/** The differential test's fixed seed list (differential.test.ts DEFAULT_SEEDS). */
const SEEDS = Array.from({ length: 60 }, (_, i) => 1 + i);
const scenarios: Scenario[] = SEEDS.map((seed) => scenario(seed));
const codesOf = (docs: Yaml[]) => [...new Set(loadConfig([{ path: "d.yaml", text: docs.map((d) => toYaml(d)).join("\n---\n") + "\n" }], { node: NODE }).diagnostics.filter((d) => d.severity === "error").map((d) => d.code))].sort();

describe("differential generator: validity is checked, not assumed", () => {
  test("51 of the 60 fixed seeds' first draws are valid; the 10 redraws were all ipVersion/ICMP clashes", () => {
    const firstValid = scenarios.filter((s) => s.redraws === 0).length;
    const rejected = scenarios.flatMap((s) => s.rejected.map((r) => `${s.seed}:${r.codes.join("+")}`));
    console.error(`differential generator: ${firstValid}/${SEEDS.length} first draws valid, ${rejected.length} redraws (${rejected.join(", ")})`);
    expect(firstValid).toBe(51);
    expect(rejected).toHaveLength(10);
    expect(new Set(scenarios.flatMap((s) => s.rejected.flatMap((r) => r.codes)))).toEqual(new Set(["INVALID_IP_VERSION"]));
  });

  test("for every draw, kept or redrawn, the validator's error codes are the ones the generator predicts", () => {
    const draws = scenarios.flatMap((s) => [...s.rejected.map((r) => ({ seed: s.seed, docs: r.docs })), { seed: s.seed, docs: s.docs }]);
    expect(draws.length).toBe(70);
    for (const { seed, docs } of draws) expect({ seed, codes: codesOf(docs) }).toEqual({ seed, codes: predictedErrors(docs) });
  });
});

describe("differential generator: the shared loader, selectors and CIDRs against the documents", () => {
  test("the hand-written address ranges and selector table are right where they can be checked by hand", () => {
    expect(rangeOfText("192.0.2.64/26")).toEqual({ family: 4, lo: 0xc0000240n, hi: 0xc000027fn });
    expect(rangeOfText("203.0.113.7")).toEqual({ family: 4, lo: 0xcb007107n, hi: 0xcb007107n });
    expect(rangeOfText("2001:db8:2::/120")).toEqual({ family: 6, lo: 0x20010db8000200000000000000000000n, hi: 0x20010db80002000000000000000000ffn });
    expect(rangeOfCidr({ family: 6, prefix: 112, a0: 0x20010db8, a1: 0x00510000, a2: 0, a3: 0 })).toEqual(rangeOfText("2001:db8:51::/112"));
    expect(SELECTORS["has(list) && kind != 'x'"]!({ list: "a" })).toBe(true);
    expect(SELECTORS["has(list) && kind != 'x'"]!({ list: "a", kind: "x" })).toBe(false);
  });

  const total = { sets: 0, inside: 0, outside: 0, namedPorts: 0, tuples: 0, endpoints: 0, policyEntries: 0 };
  for (const s of scenarios) {
    test(`seed ${s.seed}: model, selector sets, named ports and endpoint policies are what the documents say`, () => {
      expect(actualModel(s.model) as unknown).toEqual(expectedModel(s.docs));
      const { plan } = resolvePlan(s.model, NODE);
      const { mismatches, checked } = setMismatches(s.docs, s.model, plan);
      expect(mismatches).toEqual([]);
      const endpoints = expectedEndpoints(s.docs);
      expect(actualEndpoints(plan)).toEqual(endpoints);
      for (const [k, v] of Object.entries(checked)) total[k as keyof typeof checked] += v;
      total.endpoints += endpoints.length;
      total.policyEntries += endpoints.flatMap((e) => [...Object.values(e.policies.ingress), ...Object.values(e.policies.egress)]).flat().length;
    });
  }

  test("the comparisons above were not vacuous", () => {
    console.error(`differential generator: compared ${JSON.stringify(total)}`);
    expect(total.sets).toBeGreaterThan(100);
    expect(total.inside).toBeGreaterThan(500);
    expect(total.outside).toBeGreaterThan(500);
    expect(total.namedPorts).toBeGreaterThan(10);
    expect(total.tuples).toBeGreaterThan(5);
    expect(total.endpoints).toBeGreaterThan(60);
    expect(total.policyEntries).toBeGreaterThan(100);
  });
});
