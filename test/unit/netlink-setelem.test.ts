/**
 * The netlink element encoder prototyped for issue #13 item 3 (bench/netlink-setelem.ts),
 * decoded back: one batch (BEGIN … END), every message under 64 KiB, deletes before adds,
 * ranges as a start element and an INTERVAL_END element at the address after the range, none
 * at the top of the address space. The kernel side is covered by bench-smoke (edits proven
 * by packets).
 */
import { describe, expect, test } from "bun:test";
import { encodeBatch, prefixRange, type ElemOp } from "../../bench/netlink-setelem.ts";

interface Msg {
  type: number;
  flags: number;
  family: number;
  resId: number;
  len: number;
  table?: string;
  set?: string;
  elems: { key: number[]; end: boolean }[];
}

/** Attributes of one level: [type without flags, payload]. */
function attrs(b: Uint8Array, from: number, to: number): [number, Uint8Array][] {
  const v = new DataView(b.buffer, b.byteOffset);
  const out: [number, Uint8Array][] = [];
  for (let o = from; o < to; ) {
    const len = v.getUint16(o, true);
    out.push([v.getUint16(o + 2, true) & 0x3fff, b.subarray(o + 4, o + len)]);
    o += (len + 3) & ~3;
  }
  return out;
}

function decode(b: Uint8Array): Msg[] {
  const v = new DataView(b.buffer, b.byteOffset);
  const msgs: Msg[] = [];
  for (let o = 0; o < b.length; ) {
    const len = v.getUint32(o, true);
    const m: Msg = { type: v.getUint16(o + 4, true), flags: v.getUint16(o + 6, true), family: b[o + 16]!, resId: v.getUint16(o + 18, false), len, elems: [] };
    for (const [t, p] of attrs(b, o + 20, o + len)) {
      if (t === 1) m.table = new TextDecoder().decode(p.subarray(0, -1));
      if (t === 2) m.set = new TextDecoder().decode(p.subarray(0, -1));
      if (t === 3) {
        for (const [, elem] of attrs(p, 0, p.length)) {
          const e = { key: [] as number[], end: false };
          for (const [et, ep] of attrs(elem, 0, elem.length)) {
            if (et === 1) e.key = [...attrs(ep, 0, ep.length)[0]![1]];
            if (et === 3) e.end = new DataView(ep.buffer, ep.byteOffset).getUint32(0, false) === 1;
          }
          m.elems.push(e);
        }
      }
    }
    msgs.push(m);
    o += len;
  }
  return msgs;
}

const v4 = (s: string) => new Uint8Array(s.split(".").map(Number));

describe("encodeBatch", () => {
  test("a small batch: BEGIN, deletes, adds, END; hash keys and ranges", () => {
    const ops: ElemOp[] = [
      { del: false, set: "p4", ...prefixRange(v4("10.1.2.0"), 24) },
      { del: true, set: "h4", start: v4("192.0.2.7") },
      { del: false, set: "h4", start: v4("192.0.2.8") },
    ];
    const { bytes, acks } = encodeBatch(5, "bl", ops);
    const msgs = decode(bytes);
    expect(acks).toBe(3);
    expect(msgs.map((m) => [m.type, m.family, m.resId])).toEqual([
      [0x10, 0, 10],
      [(10 << 8) | 14, 5, 0],
      [(10 << 8) | 12, 5, 0],
      [(10 << 8) | 12, 5, 0],
      [0x11, 0, 10],
    ]);
    expect(msgs.slice(1, 4).map((m) => [m.table, m.set, m.flags, m.elems])).toEqual([
      ["bl", "h4", 0x1 | 0x4, [{ key: [192, 0, 2, 7], end: false }]],
      ["bl", "h4", 0x1 | 0x4 | 0x400, [{ key: [192, 0, 2, 8], end: false }]],
      ["bl", "p4", 0x1 | 0x4 | 0x400, [{ key: [10, 1, 2, 0], end: false }, { key: [10, 1, 3, 0], end: true }]],
    ]);
  });

  test("100,000 ranges: messages under 64 KiB, every element once, in order", () => {
    const ops: ElemOp[] = Array.from({ length: 100_000 }, (_, i) => ({ del: false, set: "p4", ...prefixRange(new Uint8Array([11, (i >> 8) & 255, i & 255, 0]), 24) }));
    const msgs = decode(encodeBatch(5, "bl", ops).bytes);
    const body = msgs.slice(1, -1);
    expect(Math.max(...body.map((m) => m.len))).toBeLessThanOrEqual(64 * 1024);
    expect(body.length).toBeGreaterThan(40);
    const elems = body.flatMap((m) => m.elems);
    expect(elems.length).toBe(200_000);
    expect(elems.filter((e) => e.end).length).toBe(100_000);
    expect(elems[2 * 54321]).toEqual({ key: [11, (54321 >> 8) & 255, 54321 & 255, 0], end: false });
  });
});

describe("prefixRange", () => {
  test("the end key is the address after the range, with carry; none at the top", () => {
    expect(prefixRange(v4("10.0.0.0"), 8)).toEqual({ start: v4("10.0.0.0"), end: v4("11.0.0.0") });
    expect(prefixRange(v4("10.0.255.252"), 30)).toEqual({ start: v4("10.0.255.252"), end: v4("10.1.0.0") });
    expect(prefixRange(v4("192.0.2.1"), 32)).toEqual({ start: v4("192.0.2.1"), end: v4("192.0.2.2") });
    expect(prefixRange(v4("255.255.255.0"), 24)).toEqual({ start: v4("255.255.255.0") });
    const v6 = new Uint8Array(16);
    v6.set([0x20, 0x01, 0x0d, 0xb8, 0, 0xff]); // 2001:db8:ff::/48
    expect([...prefixRange(v6, 48).end!.subarray(0, 8)]).toEqual([0x20, 0x01, 0x0d, 0xb8, 1, 0, 0, 0]);
  });
});
