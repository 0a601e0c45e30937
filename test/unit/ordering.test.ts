/**
 * Evaluation order of resolvePlan (reference §2.2, §2.1, §1.7): tiers by order then name,
 * policies by order with an omitted order last, Calico's name tie-break on
 * "<name>/<namespace>/<kind>" (so `a.b` sorts before `a`), the split into stages and
 * directions, and labels inherited from profiles. Every case is YAML through loadConfig, so
 * the defaults the loader applies (tier order 1,000,000, types) take part as they do for users.
 */
import { describe, expect, test } from "bun:test";
import { formatDiagnostic } from "../../src/diagnostics/diagnostic.ts";
import { loadConfig } from "../../src/validate/load.ts";
import { resolvePlan, type EndpointPlan, type Plan, type Stage } from "../../src/resolve/resolve.ts";
import type { Direction } from "../../src/model/types.ts";
import { shuffled } from "../support/shuffle.ts";

const NODE = "jasper";
const HEP = (labels = "{app: web}", profiles = "[]") =>
  `apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata:\n  name: web\n  labels: ${labels}\nspec:\n  node: ${NODE}\n  interfaceName: eth0\n  profiles: ${profiles}\n`;
const tier = (name: string, order?: number) => `apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: ${name}\nspec: {${order === undefined ? "" : `order: ${order}`}}\n`;
/** A policy that selects every endpoint unless the spec says otherwise. */
const gnp = (name: string, spec: string) =>
  `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: ${name}\nspec: {${/(^|, )selector:/.test(spec) ? "" : "selector: all(), "}${spec}}\n`;

function plan(docs: string[]): Plan {
  const { model, diagnostics } = loadConfig([{ path: "t.yaml", text: docs.join("---\n") }], { node: NODE });
  const errors = diagnostics.filter((d) => d.severity === "error");
  expect(errors.map(formatDiagnostic)).toEqual([]);
  return resolvePlan(model, NODE).plan;
}

function only(p: Plan): EndpointPlan {
  expect(p.endpoints).toHaveLength(1);
  return p.endpoints[0]!;
}

/** Tier name → policy names, in evaluation order. */
function tiers(ep: EndpointPlan, stage: Stage, dir: Direction): [string, string[]][] {
  return ep.stages[stage][dir].map((t) => [t.tier.meta.name, t.policies.map((p) => p.meta.name)]);
}


describe("tier order", () => {
  const docs = [
    HEP(),
    tier("zulu", 10),
    tier("alpha", 10),
    tier("mike", 5),
    tier("negative", -1.5),
    // No order: Calico's client stores 1,000,000, the default tier's order; the name breaks the tie.
    tier("nil"),
    tier("after-default", 1_000_001),
    ...["zulu", "alpha", "mike", "negative", "nil", "after-default", "default"].map((t) => gnp(`in-${t}`, `tier: ${t}`)),
  ];

  test("ascending order, ties by name, an omitted order ties with default at 1,000,000", () => {
    expect(tiers(only(plan(docs)), "normal", "ingress").map(([t]) => t)).toEqual(["negative", "mike", "alpha", "zulu", "default", "nil", "after-default"]);
  });

  test("the same order whatever order the documents come in", () => {
    const reference = tiers(only(plan(docs)), "normal", "ingress");
    for (const seed of [1, 2, 3, 4, 5]) expect(tiers(only(plan(shuffled(docs, seed))), "normal", "ingress")).toEqual(reference);
  });

  test("a tier takes part only in the directions and stages where it has an applicable policy", () => {
    const ep = only(plan([HEP(), tier("t", 1), gnp("eg", "tier: t, types: [Egress]"), gnp("in", "types: [Ingress]"), gnp("other", "tier: t, selector: app == 'db'")]));
    expect(tiers(ep, "normal", "ingress")).toEqual([["default", ["in"]]]);
    expect(tiers(ep, "normal", "egress")).toEqual([["t", ["eg"]]]);
    expect(tiers(ep, "forward", "ingress")).toEqual([]);
  });
});

describe("policy order within a tier", () => {
  test("ascending, negative and fractional orders, an omitted order after every ordered policy", () => {
    const docs = [HEP(), gnp("ten", "order: 10"), gnp("b-none", ""), gnp("minus", "order: -5"), gnp("frac", "order: 2.5"), gnp("a-none", ""), gnp("huge", "order: 1e300")];
    expect(tiers(only(plan(docs)), "normal", "ingress")).toEqual([["default", ["minus", "frac", "ten", "huge", "a-none", "b-none"]]]);
  });

  test("equal orders: Calico compares <name>/<namespace>/<kind>, so a.b and a-b sort before a, and a before a0", () => {
    const names = ["b", "a0", "a", "a.b", "a-b", "a.a"];
    const docs = [HEP(), ...names.map((n) => gnp(n, "order: 1"))];
    // '-' (0x2d) < '.' (0x2e) < '/' (0x2f) < '0' (0x30): the '/' after a bare name decides.
    expect(tiers(only(plan(docs)), "normal", "ingress")).toEqual([["default", ["a-b", "a.a", "a.b", "a", "a0", "b"]]]);
  });

  test("the tie-break applies to omitted orders too", () => {
    const docs = [HEP(), gnp("x", ""), gnp("x.y", "")];
    expect(tiers(only(plan(docs)), "normal", "ingress")).toEqual([["default", ["x.y", "x"]]]);
  });

  test("the same order whatever order the documents come in", () => {
    const docs = [HEP(), ...["b", "a0", "a", "a.b", "n1", "n2"].map((n, i) => gnp(n, i % 2 ? "order: 3" : ""))];
    const reference = tiers(only(plan(docs)), "normal", "ingress");
    for (const seed of [7, 8, 9]) expect(tiers(only(plan(shuffled(docs, seed))), "normal", "ingress")).toEqual(reference);
  });
});

describe("stages and directions", () => {
  const docs = [
    HEP(),
    gnp("untracked", "doNotTrack: true, applyOnForward: true, types: [Ingress, Egress], order: 1"),
    gnp("pre-dnat", "preDNAT: true, applyOnForward: true, order: 2"),
    gnp("normal", "types: [Ingress, Egress], order: 3"),
    gnp("forward", "applyOnForward: true, types: [Ingress, Egress], order: 4"),
    gnp("egress-only", "egress: [{action: Allow}], order: 5"),
    gnp("namespaced", "namespaceSelector: all(), types: [Ingress, Egress]"),
    `apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  name: np\n  namespace: prod\nspec: {selector: all()}\n`,
  ];

  test("each policy lands in its stage; applyOnForward policies govern both local and forwarded traffic", () => {
    const ep = only(plan(docs));
    const names = (stage: Stage, dir: Direction) => tiers(ep, stage, dir).flatMap(([, ps]) => ps);
    expect({
      ingress: { untracked: names("untracked", "ingress"), preDNAT: names("preDNAT", "ingress"), normal: names("normal", "ingress"), forward: names("forward", "ingress") },
      egress: { untracked: names("untracked", "egress"), preDNAT: names("preDNAT", "egress"), normal: names("normal", "egress"), forward: names("forward", "egress") },
    }).toEqual({
      ingress: { untracked: ["untracked"], preDNAT: ["pre-dnat"], normal: ["normal", "forward"], forward: ["forward"] },
      egress: { untracked: ["untracked"], preDNAT: [], normal: ["normal", "forward", "egress-only"], forward: ["forward"] },
    });
  });
});

describe("profile label inheritance", () => {
  const profile = (name: string, labels: string) => `apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata:\n  name: ${name}\nspec:\n  labelsToApply: ${labels}\n`;
  const docs = [
    HEP("{role: own}", "[first, second, missing, projectcalico-default-allow]"),
    profile("first", "{role: first, zone: first, rack: first}"),
    profile("second", "{zone: second, extra: second}"),
    gnp("own-role", "selector: role == 'own'"),
    gnp("first-role", "selector: role == 'first'"),
    gnp("first-zone", "selector: zone == 'first'"),
    gnp("second-zone", "selector: zone == 'second'"),
    gnp("second-extra", "selector: extra == 'second'"),
  ];

  test("the endpoint's own labels win; among profiles the first with the key wins", () => {
    expect(only(plan(docs)).labels).toEqual({ role: "own", zone: "first", rack: "first", extra: "second" });
  });

  test("inherited labels decide which policies apply", () => {
    expect(tiers(only(plan(docs)), "normal", "ingress")).toEqual([["default", ["first-zone", "own-role", "second-extra"]]]);
  });

  test("profiles stay in the endpoint's order; a missing one is kept as a deny-all reference", () => {
    expect(only(plan(docs)).profiles.map((p) => (p.kind === "profile" ? p.profile.meta.name : p.kind === "missing" ? `missing:${p.name}` : p.kind))).toEqual([
      "first",
      "second",
      "missing:missing",
      "default-allow",
    ]);
  });

  test("inherited labels also count for rule selectors' address sets", () => {
    const hep = HEP("{}", "[first]").replace("  profiles:", "  expectedIPs: [192.0.2.10]\n  profiles:");
    const p = plan([hep, profile("first", "{zone: first}"), gnp("deny", "ingress: [{action: Deny, source: {selector: zone == 'first'}}]")]);
    expect(p.sets.get(`zone == "first"`)?.v4.length).toBe(1);
  });
});
