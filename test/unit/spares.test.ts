/**
 * Spare arrays (src/spares.ts): the big lists an edit patches are written into arrays faulted in
 * while the agent is idle. What must hold: a list is exactly what its writer put in it (no item
 * of the spare's earlier life shows), small lists never touch the pool, the pool prepares what
 * the last attempt asked for and drops what it no longer asks for, and it stays bounded.
 * The differential tests (incremental-pipeline, incremental-sets) run their chains of patched
 * builds with the pool on too, against cold builds.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { applySplice, markSplice, spliceOf } from "../../src/derive.ts";
import { applyPositions } from "../../src/model/sorted-patch.ts";
import { clearSpares, expectArray, newArray, newTyped, refillSpare, spareStats, SPARE_MIN_ITEMS } from "../../src/spares.ts";
import type { SourceFile } from "../../src/source/source-file.ts";
import { exampleFiles, fakeAgent } from "./api-fakes.ts";

const refillAll = () => {
  let turns = 0;
  while (refillSpare()) if (++turns > 100) throw new Error("refill does not end");
};

afterEach(() => clearSpares());

describe("spare arrays", () => {
  test("small lists are plain new arrays and leave no demand", () => {
    clearSpares();
    const a = newArray<number>(SPARE_MIN_ITEMS - 1);
    expect(a.length).toBe(SPARE_MIN_ITEMS - 1);
    refillAll();
    expect(spareStats()).toEqual({ held: 0, items: 0, taken: 0, missed: 0, made: 0, collected: 0 });
  });

  test("a refill after a build from nothing collects the garbage first when it makes a million items or more; after an edit (spares taken) or a small build it does not", () => {
    clearSpares();
    expectArray(1_000_000);
    refillAll();
    expect(spareStats()).toMatchObject({ made: 1, collected: 1 });
    const edit = newArray<number>(1_000_000);
    edit.fill(0);
    refillAll();
    expect(spareStats()).toMatchObject({ taken: 1, made: 2, collected: 1 });
    clearSpares();
    expectArray(900_000);
    refillAll();
    expect(spareStats()).toMatchObject({ made: 1, collected: 0 });
    clearSpares();
  });

  test("a cold build's announced list gets a spare; the patch takes it and sees nothing of its past", () => {
    clearSpares(1000);
    const from = Array.from({ length: 5000 }, (_, i) => `x${i}`);
    expectArray(from.length);
    refillAll();
    expect(spareStats()).toMatchObject({ held: 1, made: 1 });
    expect(spareStats().items).toBeGreaterThan(5000);
    const out = applySplice(from, 10, 3, ["a", "b"]);
    expect(spareStats()).toMatchObject({ held: 0, taken: 1, missed: 0 });
    expect(out).toEqual([...from.slice(0, 10), "a", "b", ...from.slice(13)]);
    expect(out.length).toBe(4999);
    expect(out[4999]).toBeUndefined();
    expect(Object.keys(out).length).toBe(4999);
  });

  test("a spare once used and made again holds nothing of the list written into the first one", () => {
    clearSpares(1000);
    const long = Array.from({ length: 6000 }, (_, i) => i);
    expectArray(6000);
    refillAll();
    const first = applySplice(long, 0, 0, [-1]); // 6001 items, into the spare
    expect(first.length).toBe(6001);
    refillAll(); // the patch asked for 6001: a new spare for that size
    const short = Array.from({ length: 5990 }, (_, i) => 100 + i);
    const second = applyPositions(short, { removedAt: [0], addedAt: [] }, []);
    expect(second).toEqual(short.slice(1));
    expect(second.length).toBe(5989);
    expect(second.every((x) => typeof x === "number" && x >= 101)).toBe(true);
  });

  test("a miss is learnt: the next refill prepares that size, and the next patch of it takes the spare", () => {
    clearSpares(1000);
    const from = Array.from({ length: 3000 }, (_, i) => i);
    applySplice(from, 0, 1, []);
    expect(spareStats()).toMatchObject({ missed: 1, taken: 0 });
    refillAll();
    expect(spareStats()).toMatchObject({ held: 1, made: 1 });
    applySplice(from, 5, 1, []);
    expect(spareStats()).toMatchObject({ held: 0, taken: 1 });
  });

  test("typed arrays: announced by kind, taken by kind, never for a plain list", () => {
    clearSpares(1000);
    expectArray(4000, Float64Array);
    refillAll();
    expect(newArray<number>(3000).length).toBe(3000); // no plain spare: a miss
    expect(spareStats()).toMatchObject({ held: 1, missed: 1 });
    const u = newTyped(Uint32Array, 3000); // wrong kind: a miss too
    expect(u).toBeInstanceOf(Uint32Array);
    const f = newTyped(Float64Array, 4000);
    expect(f).toBeInstanceOf(Float64Array);
    expect(f.length).toBeGreaterThanOrEqual(4000);
    expect(spareStats()).toMatchObject({ held: 0, taken: 1, missed: 2 });
  });

  test("what the last attempt no longer asks for is dropped; the pool stays bounded", () => {
    clearSpares(1000);
    for (let i = 0; i < 10; i++) expectArray(2000 + i * 100);
    refillAll();
    expect(spareStats().held).toBeLessThanOrEqual(6);
    expect(spareStats().made).toBe(6);
    // The next attempt used one list of a size none of them fits well: only that one is kept ready.
    newArray<number>(20_000);
    refillAll();
    expect(spareStats().held).toBe(1);
    expect(spareStats().items).toBeGreaterThanOrEqual(20_000);
    // An attempt that asks for nothing leaves the pool as it is.
    refillAll();
    expect(spareStats().held).toBe(1);
  });
});

describe("the agent prepares spares between attempts", () => {
  const big = (n: number, extra: string[]): SourceFile => ({
    path: "/etc/hostwall/25-big.yaml",
    text: `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\n  labels: {dos-deny-list: 'true'}\nspec:\n  nets:\n${[...Array.from({ length: n }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.${i % 7}`), ...extra].map((a) => `    - ${a}\n`).join("")}`,
  });
  // Until the agent has made every spare it will (one per event-loop turn): none made for 50 ms.
  const settled = async () => {
    let made = -1;
    for (let i = 0, quiet = 0; i < 400 && quiet < 10; i++, await Bun.sleep(5)) {
      quiet = spareStats().made === made && made > 0 ? quiet + 1 : 0;
      made = spareStats().made;
    }
  };

  test("after the first apply of a big set the spares are made while idle, and the next edit's patches take them", async () => {
    clearSpares(1000);
    const f = fakeAgent({ files: [...exampleFiles(), big(6000, [])] });
    expect((await f.agent.reload("startup")).ok).toBe(true);
    await settled();
    const ready = spareStats();
    expect(ready.made).toBeGreaterThanOrEqual(4); // the CIDRs, the cover, the index, the elements (the raw list: dropped once validated, spliced without a copy)
    f.state.files = [...exampleFiles(), big(6000, ["172.31.250.9"])];
    const edit = await f.agent.reload("config changed");
    expect([edit.ok, edit.unchanged]).toEqual([true, undefined]);
    const after = spareStats();
    // The CIDRs, the cover, the elements; the index's buffer too unless it still has room.
    expect(after.taken - ready.taken).toBeGreaterThanOrEqual(3);
    expect(after.missed - ready.missed).toBe(0);
    expect(f.kernel.applied.at(-1)).toContain("172.31.250.9"); // the delta carried the new address
    await f.agent.idle();
  });

  test("once edits pause for a second, the garbage of an edit that took spares is collected, once; an attempt that took none collects nothing", async () => {
    clearSpares(1000);
    const f = fakeAgent({ files: [...exampleFiles(), big(6000, [])] });
    expect((await f.agent.reload("startup")).ok).toBe(true);
    await settled();
    const start = spareStats().collected;
    f.state.files = [...exampleFiles(), big(6000, ["172.31.250.9"])];
    expect((await f.agent.reload("config changed")).ok).toBe(true);
    await settled();
    expect(spareStats().collected).toBe(start); // not while edits may follow
    await Bun.sleep(1400);
    expect(spareStats().collected).toBe(start + 1);
    expect((await f.agent.reload("SIGHUP")).unchanged).toBe(true);
    await Bun.sleep(1400);
    expect(spareStats().collected).toBe(start + 1);
    await f.agent.idle();
  });
});

describe("the agent forgets what its lists were made from once an attempt has applied (derive.ts)", () => {
  const marked = () => {
    const from = [1, 2, 3];
    const next = applySplice(from, 1, 1, [4]);
    markSplice(next, { from, index: 1, removed: 1, inserted: [4] });
    return next;
  };

  test("after an attempt that applied, no record is left (the earlier generation can be collected); after one that failed, they stay for the next", async () => {
    const f = fakeAgent({ files: exampleFiles() });
    const a = marked();
    expect((await f.agent.reload("startup")).ok).toBe(true);
    expect(spliceOf(a)).toBeUndefined();
    const b = marked();
    f.state.files = [...exampleFiles(), { path: "/etc/hostwall/90-bad.yaml", text: "kind: [\n" }];
    expect((await f.agent.reload("config changed")).ok).toBe(false);
    expect(spliceOf(b)?.inserted).toEqual([4]);
    await f.agent.idle();
  });
});
