import { describe, expect, test } from "bun:test";
import { IPv4CidrRange, IPv6CidrRange } from "ip-num";
import { CIDR_ERROR_CODES, cidrContains, compareCidr, formatCidr, isCatchAll, makeCidr, splitHosts, type Cidr, type CidrErrorCode } from "../../src/model/cidr.ts";
import { normalizeCidrs } from "../../src/model/cidr-normalize.ts";
import { parseAddress, parseCidr } from "../../src/model/cidr-parse.ts";
import { mulberry32 as prng } from "../support/prng.ts";


function shuffle<T>(xs: readonly T[], rnd: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = rnd() % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

function cidr(text: string): Cidr {
  const r = parseCidr(text, "lax");
  if (!r.ok) throw new Error(`${text}: ${r.message}`);
  return r.cidr;
}

function value(c: Cidr): bigint {
  if (c.family === 4) return BigInt(c.a0);
  return (BigInt(c.a0) << 96n) | (BigInt(c.a1) << 64n) | (BigInt(c.a2) << 32n) | BigInt(c.a3);
}

const codesSeen = new Set<CidrErrorCode>();

// Each case: input, mode, and either the canonical text (family in `fam`) or an error code.
type ParseCase = [text: string, mode: "strict" | "lax", want: string | CidrErrorCode, fam?: 4 | 6];
const parseCases: ParseCase[] = [
  // IPv4, valid
  ["192.0.2.0/24", "strict", "192.0.2.0/24", 4],
  ["192.0.2.1", "strict", "192.0.2.1", 4],
  ["192.0.2.1/32", "strict", "192.0.2.1", 4],
  ["0.0.0.0/0", "strict", "0.0.0.0/0", 4],
  ["255.255.255.255", "strict", "255.255.255.255", 4],
  ["192.0.2.0/024", "strict", "192.0.2.0/24", 4], // Go's dtoi accepts leading zeros in the prefix
  ["0.0.0.0/00", "strict", "0.0.0.0/0", 4],
  // IPv4, host bits
  ["192.0.2.1/24", "strict", "CIDR_HOST_BITS"],
  ["192.0.2.1/24", "lax", "192.0.2.0/24", 4],
  ["192.0.2.1/8", "lax", "192.0.0.0/8", 4],
  ["203.0.113.255/0", "lax", "0.0.0.0/0", 4],
  ["203.0.113.255/0", "strict", "CIDR_HOST_BITS"],
  // IPv4, invalid
  ["010.0.2.1", "strict", "INVALID_CIDR"],
  ["192.0.2.01", "lax", "INVALID_CIDR"],
  ["192.0.2.300", "strict", "INVALID_CIDR"],
  ["192.0.2.256", "lax", "INVALID_CIDR"],
  ["192.0.2", "strict", "INVALID_CIDR"],
  ["192.0.2.1.5", "strict", "INVALID_CIDR"],
  ["192.0..1", "strict", "INVALID_CIDR"],
  [".192.0.2", "strict", "INVALID_CIDR"],
  ["192.0.2.", "strict", "INVALID_CIDR"],
  ["192.0.2.a", "strict", "INVALID_CIDR"],
  ["0x7f.0.0.1", "strict", "INVALID_CIDR"],
  ["3221225985", "strict", "INVALID_CIDR"],
  ["192.0.2.0/33", "strict", "INVALID_CIDR"],
  ["192.0.2.0/", "strict", "INVALID_CIDR"],
  ["192.0.2.0/-1", "strict", "INVALID_CIDR"],
  ["192.0.2.0/+8", "strict", "INVALID_CIDR"],
  ["192.0.2.0/24/24", "strict", "INVALID_CIDR"],
  ["192.0.2.0/x", "strict", "INVALID_CIDR"],
  ["/24", "strict", "INVALID_CIDR"],
  ["", "lax", "INVALID_CIDR"],
  ["example.com", "lax", "INVALID_CIDR"],
  [" 192.0.2.1", "lax", "INVALID_CIDR"],
  ["192.0.2.1 ", "lax", "INVALID_CIDR"],
  ["192.0.2.0/ 24", "lax", "INVALID_CIDR"],
  ["192.0.2.1\n", "lax", "INVALID_CIDR"],
  // IPv6, valid
  ["2001:db8::/32", "strict", "2001:db8::/32", 6],
  ["2001:DB8::/32", "strict", "2001:db8::/32", 6],
  ["2001:0db8:0000:0000:0000:0000:0000:0001", "strict", "2001:db8::1", 6],
  ["2001:db8::1/128", "strict", "2001:db8::1", 6],
  ["2001:db8::/0032", "strict", "2001:db8::/32", 6],
  ["::", "strict", "::", 6],
  ["::/0", "strict", "::/0", 6],
  ["::1", "strict", "::1", 6],
  ["2001:db8::", "strict", "2001:db8::", 6],
  ["2001:db8:1:2:3:4:5::", "strict", "2001:db8:1:2:3:4:5:0", 6], // :: for one group parses
  ["::ffff:192.0.2.1", "strict", "::ffff:192.0.2.1", 6], // IPv4-mapped stays IPv6
  ["::ffff:c000:201", "strict", "::ffff:192.0.2.1", 6],
  ["::ffff:192.0.2.0/120", "strict", "::ffff:192.0.2.0/120", 6],
  ["::192.0.2.1", "strict", "::c000:201", 6],
  ["2001:db8:1:2:3:4:192.0.2.1", "strict", "2001:db8:1:2:3:4:c000:201", 6],
  ["2001:db8::192.0.2.1", "strict", "2001:db8::c000:201", 6],
  // IPv6, host bits
  ["2001:db8::1/32", "strict", "CIDR_HOST_BITS"],
  ["2001:db8::1/32", "lax", "2001:db8::/32", 6],
  ["2001:db8:ffff::/31", "lax", "2001:db8::/31", 6],
  // IPv6, invalid
  ["2001:db8::1%eth0", "strict", "INVALID_CIDR"],
  ["fe80::1%eth0/64", "lax", "INVALID_CIDR"],
  ["[2001:db8::1]", "strict", "INVALID_CIDR"],
  ["[2001:db8::]/32", "lax", "INVALID_CIDR"],
  ["2001:db8:::1", "strict", "INVALID_CIDR"],
  ["2001::db8::1", "strict", "INVALID_CIDR"],
  [":2001:db8::1", "strict", "INVALID_CIDR"],
  ["2001:db8::1:", "strict", "INVALID_CIDR"],
  [":::", "strict", "INVALID_CIDR"],
  ["2001:db8:1:2:3:4:5:6:7", "strict", "INVALID_CIDR"],
  ["2001:db8:1:2:3:4:5", "strict", "INVALID_CIDR"],
  ["2001:db8:1:2:3:4:5::6", "strict", "INVALID_CIDR"], // :: must stand for >= 1 group
  ["2001:db8:1:2:3:4:5:6::", "strict", "INVALID_CIDR"],
  ["2001:00db8::", "strict", "INVALID_CIDR"],
  ["2001:db8::g", "strict", "INVALID_CIDR"],
  ["2001:db8::/129", "strict", "INVALID_CIDR"],
  ["2001:db8::/", "strict", "INVALID_CIDR"],
  ["::ffff:192.0.2.256", "strict", "INVALID_CIDR"],
  ["::ffff:192.0.02.1", "strict", "INVALID_CIDR"],
  ["::ffff:192.0.2", "strict", "INVALID_CIDR"],
  ["2001:db8:1:2:3:4:5:192.0.2.1", "strict", "INVALID_CIDR"], // IPv4 tail must be the last 32 bits
  ["2001:db8:1:2:3:192.0.2.1", "strict", "INVALID_CIDR"],
  ["::192.0.2.1:1", "strict", "INVALID_CIDR"],
  ["::ffff:a.0.2.1", "strict", "INVALID_CIDR"],
  [" ::1", "lax", "INVALID_CIDR"],
];

describe("parseCidr", () => {
  // A rest parameter: a 4-parameter callback would be taken for a done-callback test.
  test.each(parseCases)("%p (%s) -> %p", (...[text, mode, want, fam]: ParseCase) => {
    const r = parseCidr(text, mode);
    if (want === "INVALID_CIDR" || want === "CIDR_HOST_BITS") {
      expect(r).toMatchObject({ ok: false, code: want });
      if (!r.ok) expect(r.message.length).toBeGreaterThan(10);
      codesSeen.add(want);
      return;
    }
    if (!r.ok) throw new Error(`unexpected ${r.code}: ${r.message}`);
    expect(formatCidr(r.cidr)).toBe(want);
    expect(r.cidr.family).toBe(fam!);
  });

  // The wording is for humans; these pin the few messages the design promises.
  test.each([
    ["192.0.2.300", "octet 300 is out of range 0-255"],
    ["192.0.2.0/33", "prefix /33 is longer than 32 bits"],
    ["2001:db8::/129", "prefix /129 is longer than 128 bits"],
    ["192.0.2.1/24", "host bits set: did you mean 192.0.2.0/24?"],
    ["2001:db8::1/32", "host bits set: did you mean 2001:db8::/32?"],
    ["010.0.2.1", "octet 010 has a leading zero"],
    ["192.0.2.1 ", "whitespace is not allowed"],
    ["2001:db8::1%eth0", "zone %eth0 is not allowed"],
    ["[2001:db8::1]", "brackets are not allowed"],
  ])("message for %p", (text, message) => {
    const r = parseCidr(text, "strict");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain(message);
  });

  test("agrees with ip-num on random valid text (value, prefix, family)", () => {
    const rnd = prng(42);
    for (let i = 0; i < 400; i++) {
      const v6 = i % 2 === 1;
      const prefix = rnd() % (v6 ? 129 : 33);
      const words = [rnd(), rnd() % 4 === 0 ? 0 : rnd(), rnd() % 3 === 0 ? 0 : rnd(), rnd()];
      const c = v6 ? makeCidr(6, prefix, words[0]!, words[1], words[2], words[3]) : makeCidr(4, prefix, words[0]!);
      const text = formatCidr(c);
      const withPrefix = text.includes("/") ? text : `${text}/${prefix}`;
      const oracle = v6 ? IPv6CidrRange.fromCidr(withPrefix) : IPv4CidrRange.fromCidr(withPrefix);
      const parsed = cidr(text);
      expect([value(parsed), parsed.prefix, parsed.family]).toEqual([oracle.getFirst().getValue(), prefix, v6 ? 6 : 4]);
      expect(parsed).toEqual(c);
    }
  });
});

describe("parseAddress", () => {
  test.each([
    ["192.0.2.1", "192.0.2.1", 32],
    ["2001:db8::1", "2001:db8::1", 128],
    ["::ffff:192.0.2.1", "::ffff:192.0.2.1", 128],
  ])("%p is a host", (text, want, prefix) => {
    const r = parseAddress(text);
    if (!r.ok) throw new Error(r.message);
    expect([formatCidr(r.cidr), r.cidr.prefix]).toEqual([want, prefix]);
  });

  test.each(["192.0.2.0/24", "192.0.2.1/32", "2001:db8::1/128", "", "192.0.2", "fe80::1%eth0"])("%p is rejected", (text) => {
    expect(parseAddress(text)).toMatchObject({ ok: false, code: "INVALID_CIDR" });
  });
});

describe("formatCidr (RFC 5952)", () => {
  test.each([
    ["2001:db8:0:0:0:0:2:1", "2001:db8::2:1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // one zero group is not compressed
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // the longest run
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // the first run on ties
    ["2001:DB8::AbCd", "2001:db8::abcd"],
    ["2001:0db8::0001", "2001:db8::1"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["2001:db8:0:0:0:0:0:0", "2001:db8::"],
    ["0:db8:0:0:0:0:0:0", "0:db8::"],
    ["0:1:2:3:4:5:6:7", "0:1:2:3:4:5:6:7"],
    ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
    ["::ffff:c000:0201", "::ffff:192.0.2.1"],
    ["2001:db8::/127", "2001:db8::/127"],
    ["2001:db8::/128", "2001:db8::"],
    ["::/0", "::/0"],
    ["192.0.2.1/32", "192.0.2.1"],
    ["192.0.2.0/31", "192.0.2.0/31"],
    ["0.0.0.0/0", "0.0.0.0/0"],
  ])("%p -> %p", (text, want) => {
    expect(formatCidr(cidr(text))).toBe(want);
    expect(formatCidr(cidr(want))).toBe(want); // canonical text is a fixed point
  });
});

describe("containment, order, catch-all", () => {
  test.each([
    ["192.0.2.0/24", "192.0.2.128/25", true],
    ["192.0.2.128/25", "192.0.2.0/24", false],
    ["192.0.2.0/24", "192.0.2.0/24", true],
    ["192.0.2.0/24", "192.0.2.255", true],
    ["192.0.2.0/24", "198.51.100.0", false],
    ["192.0.2.0/25", "192.0.2.128/25", false],
    ["0.0.0.0/0", "203.0.113.7", true],
    ["::/0", "203.0.113.7", false],
    ["192.0.2.0/24", "::ffff:192.0.2.0/120", false],
    ["2001:db8::/32", "2001:db8:ffff::/48", true],
    ["2001:db8::/33", "2001:db8:8000::/33", false],
    ["2001:db8::/127", "2001:db8::1", true],
    ["2001:db8::/128", "2001:db8::1", false],
  ])("%p contains %p: %p", (outer, inner, want) => {
    expect(cidrContains(cidr(outer), cidr(inner))).toBe(want);
  });

  test("compareCidr orders by family, then address, then prefix", () => {
    const sorted = ["192.0.2.0/24", "192.0.2.0/25", "192.0.2.0", "192.0.2.1", "198.51.100.0/24", "::/0", "2001:db8::/32", "2001:db8::/48", "2001:db8::1"];
    const got = shuffle(sorted, prng(7)).map(cidr).sort(compareCidr).map(formatCidr);
    expect(got).toEqual(sorted);
    expect(compareCidr(cidr("192.0.2.0/24"), cidr("192.0.2.0/24"))).toBe(0);
  });

  test.each([
    ["0.0.0.0/0", true],
    ["::/0", true],
    ["0.0.0.0/1", false],
    ["::/1", false],
    ["0.0.0.0", false],
  ])("isCatchAll(%p) = %p", (text, want) => {
    expect(isCatchAll(cidr(text))).toBe(want);
  });
});

type NormKind = "empty" | "covered" | "duplicate" | "siblings" | "non-siblings" | "catch-all" | "edge" | "mixed";
const normCases: [kind: NormKind, input: string[], want: string[]][] = [
  ["empty", [], []],
  ["covered", ["192.0.2.0/24", "192.0.2.128/25", "192.0.2.7"], ["192.0.2.0/24"]],
  ["covered", ["2001:db8::1", "2001:db8::/64", "2001:db8::/48"], ["2001:db8::/48"]],
  ["duplicate", ["192.0.2.1", "192.0.2.1", "192.0.2.1/32"], ["192.0.2.1"]],
  ["duplicate", ["2001:db8::/32", "2001:db8::/32"], ["2001:db8::/32"]],
  ["siblings", ["192.0.2.0/25", "192.0.2.128/25"], ["192.0.2.0/24"]],
  ["siblings", ["192.0.2.0/26", "192.0.2.64/26", "192.0.2.128/25"], ["192.0.2.0/24"]],
  ["siblings", ["198.51.100.0", "198.51.100.1", "198.51.100.2", "198.51.100.3"], ["198.51.100.0/30"]],
  ["siblings", ["2001:db8::/33", "2001:db8:8000::/33"], ["2001:db8::/32"]],
  ["non-siblings", ["192.0.2.128/25", "192.0.3.0/25"], ["192.0.2.128/25", "192.0.3.0/25"]],
  ["non-siblings", ["192.0.2.1", "192.0.2.2"], ["192.0.2.1", "192.0.2.2"]],
  [
    "non-siblings",
    ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5", "192.0.2.6"],
    ["192.0.2.1", "192.0.2.2/31", "192.0.2.4/31", "192.0.2.6"],
  ],
  ["non-siblings", ["192.0.2.1", "192.0.2.2/31", "192.0.2.4/30", "192.0.2.8/29"], ["192.0.2.1", "192.0.2.2/31", "192.0.2.4/30", "192.0.2.8/29"]],
  ["non-siblings", ["2001:db8::1", "2001:db8::2"], ["2001:db8::1", "2001:db8::2"]],
  ["catch-all", ["0.0.0.0/0"], ["0.0.0.0/1", "128.0.0.0/1"]],
  ["catch-all", ["0.0.0.0/0", "192.0.2.0/24", "203.0.113.9"], ["0.0.0.0/1", "128.0.0.0/1"]],
  ["catch-all", ["0.0.0.0/1", "128.0.0.0/1"], ["0.0.0.0/1", "128.0.0.0/1"]],
  ["catch-all", ["::/0", "2001:db8::/32"], ["::/1", "8000::/1"]],
  ["edge", ["255.255.255.255", "255.255.255.254"], ["255.255.255.254/31"]],
  ["edge", ["0.0.0.0", "0.0.0.1", "255.255.255.255"], ["0.0.0.0/31", "255.255.255.255"]],
  ["edge", ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "::"], ["::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"]],
  ["edge", ["::/1", "8000::/2", "c000::/2"], ["::/1", "8000::/1"]],
  ["edge", ["2001:db8::ffff:ffff", "2001:db8::1:0:0"], ["2001:db8::ffff:ffff", "2001:db8::1:0:0"]],
  ["edge", ["2001:db8::/96", "2001:db8::1:0:0/96"], ["2001:db8::/95"]],
  ["mixed", ["2001:db8::/32", "192.0.2.0/24", "198.51.100.0/24"], ["192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32"]],
];

describe("normalizeCidrs", () => {
  test.each(normCases)("%s: %j", (_kind, input, want) => {
    const rnd = prng(input.length + 1);
    const parsed = input.map(cidr);
    expect(normalizeCidrs(parsed).map(formatCidr)).toEqual(want);
    for (let i = 0; i < 20; i++) expect(normalizeCidrs(shuffle(parsed, rnd)).map(formatCidr)).toEqual(want);
    expect(parsed.map(formatCidr)).toEqual(input.map((t) => formatCidr(cidr(t)))); // input untouched
  });

  test("every kind of normalisation case is in the table", () => {
    const kinds: NormKind[] = ["empty", "covered", "duplicate", "siblings", "non-siblings", "catch-all", "edge", "mixed"];
    expect(new Set(normCases.map((c) => c[0]))).toEqual(new Set(kinds));
  });

  /**
   * Brute force over a small space of `size` addresses: a bitmap of covered addresses, and
   * the minimal exact CIDR cover found by splitting blocks in half (a block fully inside the
   * set is one CIDR; otherwise its halves are covered separately).
   */
  function oracle(inputs: { offset: number; bits: number }[], size: number): { offset: number; bits: number }[] {
    const covered = new Uint8Array(size);
    for (const { offset, bits } of inputs) covered.fill(1, offset, offset + 2 ** bits);
    const out: { offset: number; bits: number }[] = [];
    const visit = (offset: number, bits: number): void => {
      let ones = 0;
      for (let i = offset; i < offset + 2 ** bits; i++) ones += covered[i]!;
      if (ones === 2 ** bits) out.push({ offset, bits });
      else if (ones > 0) {
        visit(offset, bits - 1);
        visit(offset + 2 ** (bits - 1), bits - 1);
      }
    };
    visit(0, Math.log2(size));
    return out;
  }

  function checkShape(out: Cidr[]): void {
    for (let i = 1; i < out.length; i++) {
      const [a, b] = [out[i - 1]!, out[i]!];
      expect(compareCidr(a, b)).toBeLessThan(0);
      expect(cidrContains(a, b) || cidrContains(b, a)).toBe(false);
      const merged = makeCidr(a.family, a.prefix - 1, a.a0, a.a1, a.a2, a.a3);
      // Two /1 halves are the one pair of siblings that stays apart (the /0 split).
      const siblings = a.prefix === b.prefix && a.prefix > 1 && compareCidr(merged, makeCidr(b.family, b.prefix - 1, b.a0, b.a1, b.a2, b.a3)) === 0;
      expect(siblings).toBe(false);
    }
  }

  const spaces: { name: string; base: string; hostBits: number; runs: number; maxInputs: number }[] = [
    { name: "192.0.2.0/24", base: "192.0.2.0", hostBits: 8, runs: 400, maxInputs: 40 },
    { name: "2001:db8::/120", base: "2001:db8::", hostBits: 8, runs: 400, maxInputs: 40 },
    { name: "2001:db8::/112", base: "2001:db8::", hostBits: 16, runs: 40, maxInputs: 400 },
  ];

  test.each(spaces)("matches a brute-force oracle inside $name", ({ base, hostBits, runs, maxInputs }) => {
    const rnd = prng(hostBits * 1000 + maxInputs);
    const b = cidr(base);
    const max = b.family === 4 ? 32 : 128;
    const at = (offset: number, bits: number): Cidr =>
      b.family === 4 ? makeCidr(4, 32 - bits, b.a0 + offset) : makeCidr(6, 128 - bits, b.a0, b.a1, b.a2, b.a3 + offset);
    for (let run = 0; run < runs; run++) {
      const inputs: { offset: number; bits: number }[] = [];
      const count = rnd() % (maxInputs + 1);
      for (let i = 0; i < count; i++) {
        // Skew towards long prefixes so that most runs leave gaps to merge across.
        const bits = Math.min(rnd() % (hostBits + 1), rnd() % (hostBits + 1));
        inputs.push({ offset: (rnd() % 2 ** hostBits) & ~(2 ** bits - 1), bits });
      }
      const out = normalizeCidrs(shuffle(inputs.map((x) => at(x.offset, x.bits)), rnd));
      expect(out.map(formatCidr)).toEqual(oracle(inputs, 2 ** hostBits).map((x) => formatCidr(at(x.offset, x.bits))));
      checkShape(out);
      expect(out.every((c) => c.family === b.family && c.prefix >= max - hostBits)).toBe(true);
    }
  });

  /** A second, bigint-based sort-and-sweep, as an oracle for inputs spread over the whole space. */
  function referenceNormalize(list: Cidr[]): string[] {
    const out: string[] = [];
    for (const family of [4, 6] as const) {
      const bits = family === 4 ? 32n : 128n;
      const ranges = list
        .filter((c) => c.family === family)
        .map((c) => [value(c), value(c) + (1n << (bits - BigInt(c.prefix)))] as [bigint, bigint])
        .sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
      const merged: [bigint, bigint][] = [];
      for (const [s, e] of ranges) {
        const last = merged[merged.length - 1];
        if (last && s <= last[1]) last[1] = e > last[1] ? e : last[1];
        else merged.push([s, e]);
      }
      for (let [s, e] of merged) {
        while (s < e) {
          let k = bits - 1n; // at most half the space: /0 becomes two /1s
          while (k > 0n && (s % (1n << k) !== 0n || s + (1n << k) > e)) k--;
          const w = (n: bigint) => Number((s >> n) & 0xffffffffn);
          const c = family === 4 ? makeCidr(4, Number(bits - k), w(0n)) : makeCidr(6, Number(bits - k), w(96n), w(64n), w(32n), w(0n));
          out.push(formatCidr(c));
          s += 1n << k;
        }
      }
    }
    return out;
  }

  test.each([
    { family: 4 as const, count: 2000, minPrefix: 0 },
    { family: 6 as const, count: 2000, minPrefix: 0 },
    { family: 6 as const, count: 300, minPrefix: 100 },
  ])("matches a bigint reference on $count random IPv$family CIDRs anywhere", ({ family, count, minPrefix }) => {
    const rnd = prng(count + family + minPrefix);
    for (let run = 0; run < 5; run++) {
      const list: Cidr[] = [];
      for (let i = 0; i < count; i++) {
        const max = family === 4 ? 32 : 128;
        // Mostly long prefixes, a few short ones that swallow others, and runs of neighbours.
        const prefix = i % 97 === 0 ? minPrefix + (rnd() % 8) : max - (rnd() % 12);
        const c = makeCidr(family, prefix, rnd() & (run % 2 ? 0x8000ffff : 0xffffffff), rnd(), rnd(), rnd());
        list.push(c);
        if (i % 5 === 0) {
          // The next block of the same size: adjacent, maybe a sibling.
          const size = 2 ** ((max - prefix) % 32);
          const next = family === 4 || max - prefix < 32 ? makeCidr(family, prefix, family === 4 ? c.a0 + size : c.a0, c.a1, c.a2, family === 4 ? 0 : c.a3 + size) : c;
          list.push(next);
        }
      }
      const out = normalizeCidrs(list);
      expect(out.map(formatCidr)).toEqual(referenceNormalize(list));
      checkShape(out);
    }
  });
});

describe("splitHosts", () => {
  test("separates /32 and /128 hosts from prefixes, keeping order", () => {
    const list = normalizeCidrs(["192.0.2.0/24", "198.51.100.7", "203.0.113.9", "2001:db8::1", "2001:db8:1::/48"].map(cidr));
    const { hosts, prefixes } = splitHosts(list);
    expect(hosts.map(formatCidr)).toEqual(["198.51.100.7", "203.0.113.9", "2001:db8::1"]);
    expect(prefixes.map(formatCidr)).toEqual(["192.0.2.0/24", "2001:db8:1::/48"]);
  });
});

test("every error code was exercised by the parse table", () => {
  expect([...codesSeen].sort()).toEqual([...CIDR_ERROR_CODES].sort());
});
