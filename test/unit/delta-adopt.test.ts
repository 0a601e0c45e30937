/**
 * nft/delta-adopt.ts: what a restarted agent may believe its tables hold (record + terse
 * listing), and so what its first apply sends. The kernel side is test/kernel/engine*.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { adoptionRecord, believedRuleset, checkedAdoptionRecord, elementsHash, heldAsRecorded } from "../../src/nft/delta-adopt.ts";
import { computeDelta, sameElements } from "../../src/nft/delta.ts";
import type { NftRule, NftRuleset } from "../../src/nft/ir.ts";

const rule = (comment: string): NftRule => ({ statements: [{ kind: "verdict", verdict: "drop" }], comment });
const ir = (elements: string[], rules: NftRule[]): NftRuleset => ({
  tables: [{ family: "netdev", name: "hostwall", sets: [{ name: "deny-4h", type: "ipv4_addr", interval: false, elements, comment: "sel" }], chains: [{ name: "ingress-eth0", base: { hook: "ingress", priority: -500, device: "eth0" }, rules }] }],
});
const STAMP = { generation: 4, hash: "0123456789abcdef" };
/** The listing right after the apply: handles and rule digests. */
const listed = (digests: string[], handle = 7) => [{ family: "netdev", name: "hostwall", handle, sets: ["deny-4h"], chains: [{ name: "ingress-eth0", rules: digests.map((digest) => ({ digest })) }] }];

const APPLIED = ir(["192.0.2.1", "192.0.2.2"], [rule("a"), rule("b")]);
const RECORD = adoptionRecord(APPLIED, STAMP, listed(["d1", "d2"]));

describe("believedRuleset", () => {
  test("everything as recorded: the same config sends nothing", () => {
    const b = believedRuleset(RECORD, STAMP, listed(["d1", "d2"]), structuredClone(APPLIED));
    if ("why" in b) throw new Error(b.why);
    expect([b.unknown.refill.size, b.unknown.rewrite.size]).toEqual([0, 0]);
    expect(computeDelta(b.from, structuredClone(APPLIED), b.unknown)).toEqual({ kind: "none" });
  });

  test("a rule replaced in place (other listed digest): its chain is rewritten; new elements: the set is refilled", () => {
    const next = ir(["192.0.2.1", "192.0.2.2", "192.0.2.3"], [rule("a"), rule("b")]);
    const b = believedRuleset(RECORD, STAMP, listed(["d1", "dX"]), next);
    if ("why" in b) throw new Error(b.why);
    expect([...b.unknown.refill, ...b.unknown.rewrite]).toEqual(["netdev hostwall/deny-4h", "netdev hostwall/ingress-eth0"]);
    const plan = computeDelta(b.from, next, b.unknown);
    expect(plan.kind === "delta" && plan.script.text.split("\n").filter((l) => /^(flush|add rule|add element)/.test(l))).toEqual([
      "flush chain netdev hostwall ingress-eth0",
      "flush set netdev hostwall deny-4h",
      "add element netdev hostwall deny-4h {",
      'add rule netdev hostwall ingress-eth0 drop comment "a"',
      'add rule netdev hostwall ingress-eth0 drop comment "b"',
    ]);
  });

  test("no adoption: another stamp, a re-created table, other sets or chains, a rule added by hand", () => {
    const next = structuredClone(APPLIED);
    expect(believedRuleset(RECORD, { ...STAMP, generation: 5 }, listed(["d1", "d2"]), next)).toEqual({ why: "the tables' stamp is not the one recorded" });
    expect(believedRuleset(RECORD, undefined, listed(["d1", "d2"]), next)).toEqual({ why: "the tables' stamp is not the one recorded" });
    expect(believedRuleset(RECORD, STAMP, listed(["d1", "d2"], 8), next)).toEqual({ why: "table netdev hostwall is not the one recorded (handle)" });
    expect(believedRuleset(RECORD, STAMP, [{ ...listed(["d1", "d2"])[0]!, sets: [] }], next)).toEqual({ why: "the sets of table netdev hostwall are not the ones recorded" });
    expect(believedRuleset(RECORD, STAMP, [], next)).toEqual({ why: "table netdev hostwall is missing" });
    // A rule added by hand: one digest more than recorded, so the chain is rewritten.
    const b = believedRuleset(RECORD, STAMP, listed(["d1", "d2", "d3"]), next);
    expect("why" in b ? b.why : [...b.unknown.rewrite]).toEqual(["netdev hostwall/ingress-eth0"]);
  });

  test("a record read from disk is checked for its shape", () => {
    expect(checkedAdoptionRecord(JSON.parse(JSON.stringify(RECORD)))).toEqual(RECORD);
    expect(checkedAdoptionRecord({ ...RECORD, tables: [{ ...RECORD.tables[0], family: "ip" }] })).toBeUndefined();
    expect(checkedAdoptionRecord({ stamp: STAMP })).toBeUndefined();
  });
});

test("an unchanged set's element hash carries over a delta (not recomputed for a million elements)", () => {
  const old = ir(["192.0.2.1", "192.0.2.2"], [rule("a")]);
  const next = ir(["192.0.2.1", "192.0.2.2"], [rule("a"), rule("b")]);
  elementsHash(old.tables[0]!.sets[0]!);
  computeDelta(old, next);
  expect(sameElements.get(next.tables[0]!.sets[0]!.elements)).toBe(old.tables[0]!.sets[0]!.elements);
  expect(elementsHash(next.tables[0]!.sets[0]!)).toBe(elementsHash(old.tables[0]!.sets[0]!));
  // Same elements in another order: not carried (the hash follows the order).
  const reordered = ir(["192.0.2.2", "192.0.2.1"], [rule("a")]);
  computeDelta(old, reordered);
  expect(sameElements.get(reordered.tables[0]!.sets[0]!.elements)).toBeUndefined();
});

describe("heldAsRecorded (a restart with the config the record was compiled from)", () => {
  test("held: the same stamp, handle, names and listed rule digests", () => {
    expect(heldAsRecorded(RECORD, STAMP, listed(["d1", "d2"]))).toBeUndefined();
  });

  test("not held: another stamp, a re-created table, other sets, a rule replaced in place, added or removed, a rule digest never listed", () => {
    expect(heldAsRecorded(RECORD, { ...STAMP, hash: "fedcba9876543210" }, listed(["d1", "d2"]))).toBe("the tables' stamp is not the one recorded");
    expect(heldAsRecorded(RECORD, undefined, listed(["d1", "d2"]))).toBe("the tables' stamp is not the one recorded");
    expect(heldAsRecorded(RECORD, STAMP, listed(["d1", "d2"], 8))).toBe("table netdev hostwall is not the one recorded (handle)");
    expect(heldAsRecorded(RECORD, STAMP, [])).toBe("table netdev hostwall is missing");
    expect(heldAsRecorded(RECORD, STAMP, [{ ...listed(["d1", "d2"])[0]!, sets: ["deny-4h", "extra"] }])).toBe("the sets of table netdev hostwall are not the ones recorded");
    expect(heldAsRecorded(RECORD, STAMP, [{ ...listed(["d1", "d2"])[0]!, chains: [] }])).toBe("the chains of table netdev hostwall are not the ones recorded");
    for (const digests of [["d1", "dX"], ["d1", "d2", "d3"], ["d1"]]) expect(heldAsRecorded(RECORD, STAMP, listed(digests))).toBe("the rules of chain netdev hostwall/ingress-eth0 are not the ones recorded");
    const unlisted = adoptionRecord(APPLIED, STAMP, listed(["d1", ""]));
    expect(heldAsRecorded(unlisted, STAMP, listed(["d1", ""]))).toBe("the rules of chain netdev hostwall/ingress-eth0 are not the ones recorded");
  });
});
