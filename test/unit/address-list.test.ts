/**
 * nft/address-list.ts: a big set's elements as words must read exactly as the text elements
 * they replace (formatCidr of each host prefix), patch to exactly what a rebuild gives, and
 * hash, diff and encode the same as the text would.
 */
import { describe, expect, test } from "bun:test";
import { compareCidr, formatCidr, makeCidr, type Cidr, type Family } from "../../src/model/cidr.ts";
import { positionsAt } from "../../src/model/sorted-patch.ts";
import { AddressList, elementsEqualAt, elementTexts, joinedElements, sameElementOrder } from "../../src/nft/address-list.ts";
import { pieceText, renderScript, scriptChunks } from "../../src/nft/render.ts";
import { jsonEscaped, recordPieces } from "../../src/agent/state.ts";
import { findSetDrift } from "../../src/agent/set-drift.ts";
import { diffElements } from "../../src/nft/delta.ts";
import { encodeElements } from "../../src/nft/netlink.ts";
import { elementsDigest } from "../../src/nft/ruleset-hash.ts";
import { mulberry32 } from "../support/prng.ts";

/** A host prefix of `family` from random words; IPv6 ones often with zero runs or the IPv4-mapped head, to reach every text form. */
function randomHost(next: () => number, family: Family): Cidr {
  if (family === 4) return makeCidr(4, 32, next());
  const w = [next(), next(), next(), next()];
  const shape = next() % 4;
  if (shape === 1) w[1] = w[2] = 0;
  if (shape === 2) [w[0], w[1], w[2]] = [0, 0, 0xffff];
  if (shape === 3) w[0] = 0x20010db8;
  if (next() % 3 === 0) w[3] = w[3]! & 0xffff;
  return makeCidr(6, 128, w[0]!, w[1]!, w[2]!, w[3]!);
}

/** `n` distinct hosts of `family`, sorted as a normalised member list is. */
function hosts(next: () => number, family: Family, n: number): Cidr[] {
  const seen = new Map<string, Cidr>();
  while (seen.size < n) {
    const c = randomHost(next, family);
    seen.set(formatCidr(c), c);
  }
  return [...seen.values()].sort(compareCidr);
}

const texts = (members: readonly Cidr[]) => members.map(formatCidr);

describe("AddressList reads as the text it replaces", () => {
  for (const family of [4, 6] as const) {
    test(`IPv${family}: every element's text is formatCidr of its host prefix; slice and iteration as an array's`, () => {
      const members = hosts(mulberry32(family * 101), family, 3000);
      const list = AddressList.of(family, members);
      const want = texts(members);
      expect(list.length).toBe(want.length);
      expect([...list]).toEqual(want);
      expect(JSON.parse(JSON.stringify(list))).toEqual(want);
      expect(elementTexts(list)).toEqual(want);
      for (const [a, b] of [[0, 5], [10, 3], [-4, undefined], [2990, 4000], [-5000, 2], [undefined, undefined], [7, -2990]] as const) {
        expect(list.slice(a, b)).toEqual(want.slice(a, b));
      }
    });
  }

  test("network addresses of a length's members: the prefix is dropped from the text, as a per-length hash set holds them", () => {
    const members = [makeCidr(4, 24, 0xc0000200), makeCidr(4, 24, 0xc6336400)];
    expect([...AddressList.of(4, members)]).toEqual(["192.0.2.0", "198.51.100.0"]);
    expect([...AddressList.of(6, [makeCidr(6, 48, 0x20010db8, 0x00010000)])]).toEqual(["2001:db8:1::"]);
  });

  test("script text: element lines joined from bytes read as the text's, and a script renders the same from either", () => {
    for (const family of [4, 6] as const) {
      // The widest texts among them: 255.255.255.255, eight full groups, an IPv4-mapped 255.255.255.255.
      const widest = family === 4 ? [makeCidr(4, 32, 0xffffffff)] : [makeCidr(6, 128, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff), makeCidr(6, 128, 0, 0, 0xffff, 0xffffffff)];
      const members = [...hosts(mulberry32(family + 40), family, 1000), ...widest].sort(compareCidr);
      const list = AddressList.of(family, members);
      const want = texts(members);
      for (const [a, b] of [[0, 16], [984, 1000], [990, 1006], [5, 6], [1000, 1016]] as const) expect(joinedElements(list, a, b)).toBe(want.slice(a, b).join(", "));
      const ruleset = (elements: readonly string[] | AddressList) => ({ tables: [{ family: "netdev" as const, name: "hostwall", chains: [], sets: [{ name: `s-${family}l`, type: family === 4 ? ("ipv4_addr" as const) : ("ipv6_addr" as const), interval: false, elements }] }] });
      expect(renderScript(ruleset(list)).text).toBe(renderScript(ruleset(want)).text);
      const pieces = [...scriptChunks(ruleset(list))];
      expect(pieces.map(pieceText).join("")).toBe(renderScript(ruleset(want)).text);
      // The state record's pieces: an IPv4 list's lines stay bytes (no string per element), and the record reads back as the text.
      expect(pieces.some((p) => p instanceof Uint8Array)).toBe(true);
      const record = { format: 1 as const, node: "n", generation: 1, hash: "0123456789abcdef", at: "2026-01-01T00:00:00.000Z", expected: [], resources: {}, interfaces: [] };
      expect(JSON.parse([...recordPieces(record, scriptChunks(ruleset(list)))].map(pieceText).join(""))).toEqual({ ...record, script: renderScript(ruleset(want)).text });
    }
  });

  test("a 40,000-element IPv4 list in pieces of bytes: the pieces end on line ends and make the same text", () => {
    const members = hosts(mulberry32(44), 4, 40_000);
    const r = { tables: [{ family: "netdev" as const, name: "hostwall", chains: [], sets: [{ name: "a", type: "ipv4_addr" as const, interval: false, elements: AddressList.of(4, members) }, { name: "b", type: "ipv4_addr" as const, interval: false, elements: ["192.0.2.1"] }] }] };
    const pieces = [...scriptChunks(r)];
    const bytes = pieces.filter((p) => p instanceof Uint8Array);
    expect(bytes.length).toBe(3); // 2,500 lines in pieces of 1,024
    for (const p of bytes) expect(p.at(-1)).toBe(10);
    expect(pieces.map(pieceText).join("")).toBe(renderScript({ tables: [{ ...r.tables[0]!, sets: [{ ...r.tables[0]!.sets[0]!, elements: texts(members) }, r.tables[0]!.sets[1]!] }] }).text);
  });

  test("jsonEscaped writes what JSON.stringify writes, for every ASCII byte", () => {
    const all = Uint8Array.from({ length: 128 }, (_, i) => i);
    expect(pieceText(jsonEscaped(all))).toBe(JSON.stringify(pieceText(all)).slice(1, -1));
    const plain = new TextEncoder().encode("192.0.2.1, 10.0.0.1");
    expect(jsonEscaped(plain)).toBe(plain);
    expect(() => jsonEscaped(Uint8Array.of(0x80))).toThrow("not ASCII");
  });

  test("a member of the other family is an internal error, not a wrong element", () => {
    expect(() => AddressList.of(4, [makeCidr(6, 128, 1)])).toThrow("internal error");
  });
});

describe("AddressList patches to exactly what a rebuild gives", () => {
  for (const family of [4, 6] as const) {
    test(`IPv${family}: 300 random edits (removals, additions, both, at the ends), each equal to the rebuilt list`, () => {
      const next = mulberry32(family * 7 + 1);
      const pool = hosts(next, family, 1200);
      let members = pool.filter(() => next() % 2 === 0);
      let list = AddressList.of(family, members);
      for (let round = 0; round < 300; round++) {
        const inList = new Set(members.map(formatCidr));
        const removed = members.filter(() => next() % 40 === 0);
        if (round % 50 === 0) removed.push(...members.slice(0, 2), ...members.slice(-2)); // the ends
        const removedSet = new Set(removed.map(formatCidr));
        const added = pool.filter((c) => !inList.has(formatCidr(c)) && next() % 40 === 0);
        const rem = [...new Map(removed.map((c) => [formatCidr(c), c])).values()].sort(compareCidr);
        const at = positionsAt(list.length, rem, added, (j, c: Cidr) => list.compare(j, c));
        expect(at).toBeDefined();
        const patched = list.patched(at!, added);
        members = [...members.filter((c) => !removedSet.has(formatCidr(c))), ...added].sort(compareCidr);
        const rebuilt = AddressList.of(family, members);
        expect(patched.equals(rebuilt)).toBe(true);
        expect([...patched]).toEqual(texts(members));
        list = patched;
      }
    });
  }

  test("a change that does not fit (a removed element absent, an added one present) gives no positions", () => {
    const members = hosts(mulberry32(5), 4, 50);
    const list = AddressList.of(4, members);
    const absent = makeCidr(4, 32, 1);
    expect(members.some((c) => c.a0 === 1)).toBe(false);
    expect(positionsAt(list.length, [absent], [], (j, c: Cidr) => list.compare(j, c))).toBeUndefined();
    expect(positionsAt(list.length, [], [members[3]!], (j, c: Cidr) => list.compare(j, c))).toBeUndefined();
  });
});

describe("AddressList against text elements (delta, hash, netlink)", () => {
  const next = mulberry32(77);
  const members = hosts(next, 6, 400);
  const list = AddressList.of(6, members);
  const text = texts(members);

  test("equality in either representation", () => {
    expect(sameElementOrder(list, text)).toBe(true);
    expect(sameElementOrder(text, list)).toBe(true);
    expect(sameElementOrder(list, AddressList.of(6, members))).toBe(true);
    expect(sameElementOrder(list, AddressList.of(6, members.slice(1)))).toBe(false);
    expect(sameElementOrder(list, [...text.slice(0, -1), "2001:db8::ffff"])).toBe(false);
    expect(sameElementOrder(AddressList.of(4, []), AddressList.of(6, []))).toBe(true);
    const eq = elementsEqualAt(list, AddressList.of(6, members.slice(1)));
    expect(eq(1, 0)).toBe(true);
    expect(eq(0, 0)).toBe(false);
  });

  test("diffElements gives the same answer for lists as for their text", () => {
    const after = [...members.filter((_, i) => i % 37 !== 5), ...hosts(mulberry32(78), 6, 20)].sort(compareCidr);
    const unique = [...new Map(after.map((c) => [formatCidr(c), c])).values()].sort(compareCidr);
    const want = diffElements(text, texts(unique));
    expect(diffElements(list, AddressList.of(6, unique))).toEqual(want);
    expect(diffElements(list, texts(unique))).toEqual(want);
    expect(diffElements(text, AddressList.of(6, unique))).toEqual(want);
    expect(diffElements(list, AddressList.of(6, members))).toEqual({ added: [], removed: [], identical: true });
  });

  test("the digest does not depend on the representation (hashed from the bytes the list writes itself, as the text hashes)", () => {
    expect(elementsDigest(AddressList.of(6, members))).toBe(elementsDigest([...text]));
    const v4 = [...hosts(mulberry32(12), 4, 5000), makeCidr(4, 32, 0), makeCidr(4, 32, 0x0a09630b), makeCidr(4, 32, 0xffffffff)].sort(compareCidr);
    expect(elementsDigest(AddressList.of(4, v4))).toBe(elementsDigest(texts(v4)));
    expect(elementsDigest(AddressList.of(4, v4.slice(1)))).not.toBe(elementsDigest(texts(v4)));
  });

  test("drift: a listing is compared with the words (missing, unexpected, duplicates and other text counted as a text compare would)", async () => {
    const v4 = hosts(mulberry32(13), 4, 2000);
    const want = texts(v4);
    const listed = [...want.slice(5), "10.0.0.0/8", "192.0.2.300", want[9]!, "2001:db8::1", "2001:db8::1"];
    const drift = async (elements: readonly string[] | AddressList) => {
      const ir = { tables: [{ family: "netdev" as const, name: "hostwall", chains: [], sets: [{ name: "s-4l32", type: "ipv4_addr" as const, interval: false, elements }] }] };
      const runner = { listSet: async () => ({ ok: true as const, elements: listed }) } as unknown as Parameters<typeof findSetDrift>[0];
      return findSetDrift(runner, ir, 0);
    };
    const asText = await drift(want);
    expect(asText.drifted).toEqual([{ key: "netdev hostwall/s-4l32", missing: 5, extra: 3 }]);
    expect(await drift(AddressList.of(4, v4))).toEqual(asText);
  });

  test("netlink: the same bytes from the words as from the text; a list of the other family is refused", () => {
    const v4 = hosts(mulberry32(9), 4, 9000);
    const sets = (v4e: readonly string[] | AddressList, v6e: readonly string[] | AddressList) => [
      { family: "netdev" as const, table: "hostwall", set: "s4", type: "ipv4_addr" as const, elements: v4e },
      { family: "inet" as const, table: "hostwall", set: "s6", type: "ipv6_addr" as const, elements: v6e },
    ];
    const fromText = encodeElements(sets(texts(v4), text));
    const fromWords = encodeElements(sets(AddressList.of(4, v4), list));
    expect(fromWords.acks).toBe(fromText.acks);
    expect(Buffer.from(fromWords.bytes).equals(Buffer.from(fromText.bytes))).toBe(true);
    expect(() => encodeElements(sets(list, list))).toThrow("internal error: IPv6 elements for the ipv4_addr set s4");
  });
});
