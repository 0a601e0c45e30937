/**
 * Golden tests of `hostwall diff` (#14 item 1): every directory under test/golden-diff/ holds
 * the config in force (`before.yaml`; absent: nothing is in force) and the config to apply
 * (`after.yaml`), for node jasper with netdev chains for every endpoint, and the expected
 * text (`expected.txt`) and JSON document (`expected.json`), one case per kind of change.
 * `UPDATE_GOLDEN=1 bun test test/golden-diff` rewrites the expectations; reviewers read what an
 * operator reads. Each case is also diffed the other way round, and against itself (no change).
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { diffRulesets } from "../../src/diff/diff.ts";
import { formatDiff } from "../../src/diff/format.ts";
import { kernelView, normalisedView } from "../../src/diff/kernel.ts";
import { goldenSource } from "../support/golden-source.ts";
import { rulesetView, type RulesetView } from "../../src/diff/view.ts";
import { formatDiagnostic } from "../../src/diagnostics/diagnostic.ts";
import { buildRuleset } from "../../src/pipeline.ts";
import { refuseUpdateGoldenInCi } from "../support/update-golden.ts";

refuseUpdateGoldenInCi();

const ROOT = import.meta.dir;
const AGAINST = "the ruleset in force";

function view(path: string): RulesetView {
  const built = buildRuleset({ files: [{ path: path.slice(ROOT.length + 1), text: readFileSync(path, "utf8") }], node: "jasper" });
  const errors = built.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !built.ruleset) throw new Error(errors.map(formatDiagnostic).join("\n"));
  return rulesetView(built.ruleset);
}

function compare(expectedPath: string, actual: string): void {
  if (process.env.UPDATE_GOLDEN === "1") writeFileSync(expectedPath, actual);
  expect(actual).toBe(readFileSync(expectedPath, "utf8"));
}

const cases = readdirSync(ROOT, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

describe("golden diff", () => {
  test("a case for each kind of change", () =>
    expect(cases).toEqual(["endpoints", "failsafes", "no-change", "nothing-in-force", "policies-reordered", "policy-added", "policy-removed", "rules-added-removed", "rules-reordered", "set-elements"]));
  for (const name of cases) {
    const dir = join(ROOT, name);
    const before = existsSync(join(dir, "before.yaml")) ? view(join(dir, "before.yaml")) : undefined;
    const after = view(join(dir, "after.yaml"));
    test(name, () => {
      const doc = diffRulesets(before, after, AGAINST);
      expect(doc.changed).toBe(name !== "no-change");
      compare(join(dir, "expected.txt"), formatDiff(doc));
      compare(join(dir, "expected.json"), JSON.stringify(doc, null, 2) + "\n");
    });
    test(`${name}: the way back is the mirror image, and a ruleset against itself is no change`, () => {
      const forth = diffRulesets(before, after, AGAINST);
      const back = diffRulesets(after, before ?? { endpoints: new Map(), policies: new Map(), failsafes: [], sets: new Map() }, AGAINST);
      const count = (d: typeof forth) => ({ policies: d.policies.length, sets: d.sets.length, endpoints: d.endpoints.length });
      expect(count(back)).toEqual(count(forth));
      expect(back.failsafes).toEqual({ added: forth.failsafes.removed, removed: forth.failsafes.added });
      expect(back.sets.map((s) => [s.name, s.added, s.removed])).toEqual(forth.sets.map((s) => [s.name, s.removed, s.added]));
      expect(diffRulesets(after, after, AGAINST).changed).toBe(false);
    });
  }
});

describe("diff against the kernel's listing (no agent, or an agent that restored its ruleset at start)", () => {
  const FIXTURES = join(ROOT, "..", "unit", "fixtures", "listing");
  const compiled = (name: string) => {
    const s = goldenSource(join(ROOT, "..", "golden", name), { node: "jasper" });
    const built = buildRuleset({ files: s.files, node: s.node, addresses: s.addresses });
    if (!built.ruleset) throw new Error(`${name} does not compile`);
    return normalisedView(built.ruleset);
  };
  const listed = (name: string) => {
    const k = kernelView(readFileSync(join(FIXTURES, `${name}.json`), "utf8"));
    if (!k.ok || !k.view) throw new Error(`${name}: ${k.ok ? "no hostwall table" : k.error}`);
    return k.view;
  };
  for (const name of ["protocols-icmp", "ports", "deny-reject", "stages"]) {
    test(`${name}: nft 1.0.6's listing of the compiled script is no change`, () => expect(diffRulesets(listed(name), compiled(name), AGAINST)).toMatchObject({ changed: false, endpoints: [], policies: [], sets: [], failsafes: { added: [], removed: [] } }));
  }
  test("another config against a listing is a change; a listing without hostwall's tables is nothing in force; garbage is an error", () => {
    expect(diffRulesets(listed("ports"), compiled("stages"), AGAINST).changed).toBe(true);
    expect(kernelView('{"nftables":[{"metainfo":{"version":"1.0.6"}}]}')).toEqual({ ok: true, view: undefined });
    expect(kernelView("{").ok).toBe(false);
  });
});
