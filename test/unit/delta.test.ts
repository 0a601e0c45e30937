/**
 * nft/delta.ts: the difference between two IRs as one transaction. Which commands, in which
 * order (so every reference resolves at commit), what is left alone, and when only a full
 * replace will do. The kernel's verdict on these scripts is test/kernel/engine*.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { computeDelta, diffElements, INTERVAL_EDIT_MAX } from "../../src/nft/delta.ts";
import type { NftChain, NftRule, NftRuleset, NftSet } from "../../src/nft/ir.ts";
import { renderRule } from "../../src/nft/render.ts";

const rule = (text: string, id?: string): NftRule => ({ statements: [{ kind: "verdict", verdict: "accept" }], comment: text, ...(id ? { origin: { id, file: "/etc/hostwall/a.yaml", line: 7, column: 5 } } : {}) });
const set = (name: string, elements: string[], interval = false): NftSet => ({ name, type: "ipv4_addr", interval, elements, comment: "sel" });
const base = (name: string, rules: NftRule[], device = "eth0"): NftChain => ({ name, base: { hook: "ingress", priority: -500, device }, rules });
const chain = (name: string, rules: NftRule[]): NftChain => ({ name, rules });
const ruleset = (sets: NftSet[], chains: NftChain[]): NftRuleset => ({ tables: [{ family: "netdev", name: "hostwall", sets, chains }] });

const BASE = ruleset([set("deny-4h", ["192.0.2.1", "192.0.2.2"]), set("deny-4p", ["203.0.113.0/24"], true)], [base("ingress-eth0", [rule("a"), rule("b")]), chain("gnp-x-in", [rule("x")])]);

const lines = (r: NftRuleset, to: NftRuleset) => {
  const plan = computeDelta(r, to);
  if (plan.kind !== "delta") throw new Error(`expected a delta, got ${JSON.stringify(plan)}`);
  return plan.script.text.trimEnd().split("\n");
};

describe("computeDelta", () => {
  test("the same ruleset: nothing to send", () => {
    expect(computeDelta(BASE, structuredClone(BASE))).toEqual({ kind: "none" });
  });

  test("elements out and in: deletes before adds, nothing else touched", () => {
    const to = structuredClone(BASE);
    to.tables[0]!.sets[0]!.elements = ["192.0.2.2", "192.0.2.3"];
    expect(lines(BASE, to)).toEqual(["delete element netdev hostwall deny-4h {", "\t192.0.2.1", "}", "add element netdev hostwall deny-4h {", "\t192.0.2.3", "}"]);
  });

  test("a changed chain is flushed and refilled in the same script; unchanged chains are not touched", () => {
    const to = structuredClone(BASE);
    to.tables[0]!.chains[1]!.rules = [rule("x"), rule("y", "gnp/x/ingress/1")];
    const plan = computeDelta(BASE, to);
    expect(plan.kind === "delta" && plan.script.text.trimEnd().split("\n")).toEqual(["flush chain netdev hostwall gnp-x-in", `add rule netdev hostwall gnp-x-in ${renderRule(rule("x"))}`, `add rule netdev hostwall gnp-x-in ${renderRule(rule("y"))}`]);
    // nft's error on line 3 maps back to the YAML rule that produced it.
    expect(plan.kind === "delta" && plan.script.origins.get(3)).toEqual({ id: "gnp/x/ingress/1", file: "/etc/hostwall/a.yaml", line: 7, column: 5 });
    expect(plan.kind === "delta" && plan.summary).toMatchObject({ chainsRewritten: 1, rules: 2, chainsAdded: 0 });
  });

  test("new objects before the rules that use them; removed chains flushed before any is deleted; removed sets deleted after the flushes", () => {
    const to = ruleset([set("deny-4h", ["192.0.2.1", "192.0.2.2"]), set("new-4h", ["198.51.100.7"])], [base("ingress-eth0", [rule("a"), rule("jump new")]), base("ingress-eth1", [rule("c")], "eth1"), chain("gnp-new-in", [rule("n")])]);
    expect(lines(BASE, to)).toEqual([
      'add set netdev hostwall new-4h { type ipv4_addr; comment "sel"; }',
      "add element netdev hostwall new-4h {",
      "\t198.51.100.7",
      "}",
      'add chain netdev hostwall ingress-eth1 { type filter hook ingress device "eth1" priority -500; policy accept; }',
      "add chain netdev hostwall gnp-new-in",
      "flush chain netdev hostwall ingress-eth0",
      "flush chain netdev hostwall gnp-x-in",
      "delete chain netdev hostwall gnp-x-in",
      "delete set netdev hostwall deny-4p",
      `add rule netdev hostwall ingress-eth1 ${renderRule(rule("c"))}`,
      `add rule netdev hostwall gnp-new-in ${renderRule(rule("n"))}`,
      `add rule netdev hostwall ingress-eth0 ${renderRule(rule("a"))}`,
      `add rule netdev hostwall ingress-eth0 ${renderRule(rule("jump new"))}`,
    ]);
  });

  test("a big interval set is emptied and refilled (nft would download it whole for an element edit)", () => {
    const many = Array.from({ length: INTERVAL_EDIT_MAX + 1 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
    const from = ruleset([set("p", many, true)], []);
    const to = ruleset([set("p", [...many.slice(1), "198.51.100.0/24"], true)], []);
    const out = lines(from, to);
    expect(out[0]).toBe("flush set netdev hostwall p");
    expect(out[1]).toBe("add element netdev hostwall p {");
    expect(out.join("\n")).not.toContain("delete element");
    expect(out.join("\n")).toContain("198.51.100.0/24");
  });

  test("what only a full replace can do", () => {
    const typed = structuredClone(BASE);
    typed.tables[0]!.sets[0]!.interval = true;
    expect(computeDelta(BASE, typed)).toEqual({ kind: "full", why: "set deny-4h in table netdev hostwall changed its type, flags or comment" });
    const moved = structuredClone(BASE);
    moved.tables[0]!.chains[0]!.base!.priority = -400;
    expect(computeDelta(BASE, moved)).toEqual({ kind: "full", why: "chain ingress-eth0 in table netdev hostwall changed its hook, device or priority" });
    const tables: NftRuleset = { tables: [...BASE.tables, { family: "inet", name: "hostwall", sets: [], chains: [] }] };
    expect(computeDelta(BASE, tables)).toEqual({ kind: "full", why: "the set of tables changed" });
  });

  test("an unsafe name is refused, not sent", () => {
    const to = structuredClone(BASE);
    to.tables[0]!.sets.push(set("x; flush ruleset", ["192.0.2.9"]));
    expect(() => computeDelta(BASE, to)).toThrow("unsafe nft identifier");
  });
});

test("diffElements keeps the given order", () => {
  expect(diffElements(["a", "b", "c"], ["d", "c", "a", "e"])).toEqual({ added: ["d", "e"], removed: ["b"] });
});

test("diffElements: edits at the head, in the middle and at the tail of a long list (common head and tail skipped in place)", () => {
  const long = Array.from({ length: 1000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
  expect(diffElements(long, ["192.0.2.1", ...long.slice(1)])).toEqual({ added: ["192.0.2.1"], removed: ["10.0.0.0"] });
  expect(diffElements(long, [...long.slice(0, 500), "192.0.2.1", ...long.slice(500)])).toEqual({ added: ["192.0.2.1"], removed: [] });
  expect(diffElements(long, long.slice(0, 999))).toEqual({ added: [], removed: ["10.0.3.231"] });
  expect(diffElements(long, [...long])).toEqual({ added: [], removed: [], identical: true });
  // A moved element is neither added nor removed.
  expect(diffElements(["a", "b", "c", "d"], ["a", "c", "b", "d"])).toEqual({ added: [], removed: [] });
});

test("a delta writes the new stamp on each table's stamp counter, re-created in the same transaction", () => {
  const to = structuredClone(BASE);
  to.tables[0]!.sets[0]!.elements = ["192.0.2.1"];
  const plan = computeDelta(BASE, to, {}, { generation: 9, hash: "0123456789abcdef" });
  expect(plan.kind === "delta" && plan.script.text.trimEnd().split("\n").slice(-3)).toEqual([
    "add counter netdev hostwall hostwall-stamp",
    "delete counter netdev hostwall hostwall-stamp",
    'add counter netdev hostwall hostwall-stamp { comment "hostwall generation 9 hash 0123456789abcdef"; }',
  ]);
  // Nothing to change: nothing sent, not even a stamp.
  expect(computeDelta(BASE, structuredClone(BASE), {}, { generation: 9, hash: "0123456789abcdef" })).toEqual({ kind: "none" });
  expect(() => computeDelta(BASE, to, {}, { generation: 9, hash: 'x"; flush ruleset' })).toThrow("bad stamp");
});
