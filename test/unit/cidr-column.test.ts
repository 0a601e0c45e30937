/**
 * model/cidr-column.ts: a column must read exactly as the array of Cidr objects it replaces
 * (every family mix, every layout the writer can end in), splice and patch to exactly what the
 * same change of the array gives, and answer containment as cidrContains does.
 */
import { describe, expect, test } from "bun:test";
import { cidrContains, compareCidr, formatCidr, makeCidr, type Cidr, type Family } from "../../src/model/cidr.ts";
import { anyContains, cidrArray, cidrAt, CidrColumn, CidrColumnWriter, columnOf, countFamily, type CidrList } from "../../src/model/cidr-column.ts";
import { applySplice } from "../../src/derive.ts";
import { patchSorted } from "../../src/model/sorted-patch.ts";
import { AddressList } from "../../src/nft/address-list.ts";
import { mulberry32 } from "../support/prng.ts";

/** Whether two lists hold equal CIDRs in the same order. */
function sameCidrs(a: CidrList, b: CidrList): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (compareCidr(cidrAt(a, i)!, cidrAt(b, i)!) !== 0) return false;
  return true;
}

/** A random CIDR of `family` (host bits cleared), prefixes spread over every length. */
function randomCidr(next: () => number, family: Family): Cidr {
  const p = next() % (family === 4 ? 33 : 129);
  return makeCidr(family, p, next(), next(), next(), next());
}

type Mix = "v4" | "v6" | "mixed" | "v4 then v6" | "v6 then v4";

function listOf(next: () => number, mix: Mix, n: number): Cidr[] {
  const out: Cidr[] = [];
  for (let i = 0; i < n; i++) {
    const family: Family = mix === "v4" ? 4 : mix === "v6" ? 6 : mix === "mixed" ? (next() % 2 ? 4 : 6) : (i < n / 2) === (mix === "v4 then v6") ? 4 : 6;
    out.push(randomCidr(next, family));
  }
  return out;
}

const MIXES: Mix[] = ["v4", "v6", "mixed", "v4 then v6", "v6 then v4"];

describe("CidrColumn reads as the array it replaces", () => {
  for (const mix of MIXES) {
    test(`${mix}: at, iteration, slice, map, filter, some, toJSON, compareAt, countFamily`, () => {
      const next = mulberry32(MIXES.indexOf(mix) + 7);
      const list = listOf(next, mix, 2000);
      const col = columnOf(list, list.length);
      expect(col.length).toBe(list.length);
      expect(col.family).toBe(mix === "v4" ? 4 : mix === "v6" ? 6 : 0);
      expect([...col]).toEqual(list);
      expect(JSON.parse(JSON.stringify(col))).toEqual(list);
      for (const i of [0, 1, 999, 1999, -1, -2000]) expect(col.at(i)).toEqual(list.at(i));
      expect(col.at(2000)).toBeUndefined();
      expect(col.at(-2001)).toBeUndefined();
      for (const [a, b] of [[0, 5], [10, 3], [-4, undefined], [1990, 4000], [undefined, undefined]] as const) expect(col.slice(a, b)).toEqual(list.slice(a, b));
      expect(col.map(formatCidr)).toEqual(list.map(formatCidr));
      expect(col.filter((c) => c.prefix > 20)).toEqual(list.filter((c) => c.prefix > 20));
      expect(col.some((c) => c.prefix === list[1234]!.prefix && c.a0 === list[1234]!.a0)).toBe(true);
      expect(col.some(() => false)).toBe(false);
      for (let i = 0; i < list.length; i++) {
        const probe = list[(i * 7) % list.length]!;
        expect(Math.sign(col.compareAt(i, probe))).toBe(Math.sign(compareCidr(list[i]!, probe)));
      }
      for (const f of [4, 6] as const) expect(countFamily(col, f)).toBe(list.filter((c) => c.family === f).length);
      expect(cidrArray(col)).toEqual(list);
      expect(cidrAt(col, 17)).toEqual(list[17]);
      expect(sameCidrs(col, list)).toBe(true);
      expect(sameCidrs(col, list.slice(1))).toBe(false);
    });
  }

  test("an IPv4-only column holds one word and one byte per entry; IPv6 four words", () => {
    const v4 = columnOf([makeCidr(4, 24, 0xc0000200), makeCidr(4, 32, 0xcb007101)], 2);
    expect(v4.width).toBe(1);
    expect([...v4.words.subarray(0, 2)]).toEqual([0xc0000200, 0xcb007101]);
    expect([...v4.prefixes.subarray(0, 2)]).toEqual([24, 32]);
    const v6 = columnOf([makeCidr(6, 48, 0x20010db8, 0x00010000)], 1);
    expect(v6.width).toBe(4);
    expect([...v6.words.subarray(0, 4)]).toEqual([0x20010db8, 0x00010000, 0, 0]);
    expect(columnOf([], 0).length).toBe(0);
  });

  test("the writer refuses to write past its capacity", () => {
    const w = new CidrColumnWriter(1, 6);
    w.push(makeCidr(6, 128, 1, 2, 3, 4));
    expect(() => {
      w.push(makeCidr(6, 128, 5, 6, 7, 8));
      w.finish();
    }).toThrow();
  });
});

describe("CidrColumn changes as the array does", () => {
  for (const mix of MIXES) {
    test(`${mix}: 300 random splices (inserted entries of either family) equal applySplice of the array`, () => {
      const next = mulberry32(MIXES.indexOf(mix) + 41);
      let list = listOf(next, mix, 500);
      let col: CidrColumn = columnOf(list, list.length);
      for (let step = 0; step < 300; step++) {
        const index = next() % (list.length + 1);
        const removed = next() % Math.min(4, list.length - index + 1);
        const family: Family = mix === "v4" || (mix !== "v6" && next() % 3 === 0) ? 4 : 6;
        const inserted = Array.from({ length: next() % 4 }, () => randomCidr(next, step % 50 === 49 ? (family === 4 ? 6 : 4) : family));
        list = applySplice(list, index, removed, inserted);
        col = col.spliced(index, removed, inserted);
        expect({ step, same: sameCidrs(col, list) }).toEqual({ step, same: true });
        const families = new Set(list.map((c) => c.family));
        expect({ step, family: col.family }).toEqual({ step, family: families.size === 2 ? 0 : families.size === 1 ? [...families][0]! : col.family });
      }
    });
  }

  for (const family of [4, 6] as const) {
    test(`IPv${family}: 300 random sorted patches equal patchSorted of the array; a change that does not fit is refused`, () => {
      const next = mulberry32(family * 13);
      const seen = new Map<string, Cidr>();
      for (const c of listOf(next, family === 4 ? "v4" : "v6", 800)) seen.set(formatCidr(c), c);
      let list = [...seen.values()].sort(compareCidr);
      let col = columnOf(list, list.length, family);
      for (let step = 0; step < 300; step++) {
        const removed = list.filter(() => next() % 200 === 0);
        const have = new Set(list.map(formatCidr));
        const added = new Map<string, Cidr>();
        for (let k = next() % 5; k > 0; k--) {
          const c = randomCidr(next, family);
          if (!have.has(formatCidr(c))) added.set(formatCidr(c), c);
        }
        const add = [...added.values()].sort(compareCidr);
        const patched = col.patched(removed, add);
        list = patchSorted(list, removed, add, compareCidr)!;
        expect({ step, same: patched !== undefined && sameCidrs(patched, list) }).toEqual({ step, same: true });
        col = patched!;
      }
      expect(col.patched([randomCidr(next, family)].filter((c) => !list.some((x) => compareCidr(x, c) === 0)), [])).toBeUndefined();
      expect(col.patched([], [list[3]!])).toBeUndefined();
    });
  }
});

describe("containment and element lists from a column", () => {
  for (const mix of MIXES) {
    test(`${mix}: anyContains equals some(cidrContains) for members, hosts inside them and strangers`, () => {
      const next = mulberry32(MIXES.indexOf(mix) + 99);
      const list = listOf(next, mix, 300);
      const col = columnOf(list, list.length);
      const probes = [...list.map((c) => makeCidr(c.family, c.family === 4 ? 32 : 128, c.a0 | 1, c.a1, c.a2, c.a3 | 1)), ...listOf(next, "mixed", 300)];
      for (const p of probes) expect(anyContains(col, p)).toBe(list.some((c) => cidrContains(c, p)));
    });
  }

  test("AddressList.of a column: its words lent when every entry is taken, one length's copied otherwise, as of the objects", () => {
    const next = mulberry32(5);
    const seen = new Map<string, Cidr>();
    for (let i = 0; i < 3000; i++) {
      const c = makeCidr(4, next() % 2 ? 32 : 24, next());
      seen.set(formatCidr(c), c);
    }
    const members = [...seen.values()].sort(compareCidr);
    const col = columnOf(members, members.length, 4);
    for (const p of [24, 32]) expect([...AddressList.of(4, col, p)]).toEqual([...AddressList.of(4, members, p)]);
    const hosts = members.filter((c) => c.prefix === 32);
    const hostCol = columnOf(hosts, hosts.length, 4);
    const lent = AddressList.of(4, hostCol, 32);
    expect([...lent]).toEqual([...AddressList.of(4, hosts)]);
    expect(lent.word(5)).toBe(hostCol.words[5]!);
    expect(() => AddressList.of(6, col)).toThrow("internal error");
  });
});
