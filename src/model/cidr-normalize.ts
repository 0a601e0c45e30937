/**
 * Normalising lists of CIDRs: the fewest CIDRs that cover exactly their union (the value is
 * cidr.ts). IPv4 and IPv6 each have their own sweep and tables.
 *
 * Normalisation is sort and sweep, O(n log n). IPv4 packs `start * 64 + prefix` into a
 * Float64Array and uses the native numeric sort. IPv6 radix-sorts an index permutation on
 * the 16-bit digits of the start address. The sweep joins overlapping and touching ranges,
 * then cuts each joined range greedily into the largest aligned blocks. That gives the
 * fewest CIDRs, because each block is the largest aligned one that starts at its position.
 */
import { LOW, maskWord, type Cidr, type Family } from "./cidr.ts";
import { CidrColumn, CidrColumnWriter, type CidrList } from "./cidr-column.ts";

/** Where a cover is written: an array of objects, or a column (a big set's, member-index.ts). */
export type CidrSink = Cidr[] | CidrColumnWriter;

function emit(out: CidrSink, family: Family, prefix: number, a0: number, a1 = 0, a2 = 0, a3 = 0): void {
  if (out instanceof CidrColumnWriter) out.add(family, prefix, a0, a1, a2, a3);
  else out.push({ family, prefix, a0, a1, a2, a3 });
}

/**
 * The minimal sorted, disjoint, non-adjacent CIDR cover of the union of the inputs: covered
 * and overlapping prefixes are dropped, touching ranges joined, and each range is cut into the
 * fewest CIDRs. /0 comes back as two /1 halves, as nft and Calico need. The output does not
 * depend on input order. Meant for one family; a mixed list gives IPv4 first, then IPv6.
 */
export function normalizeCidrs(list: readonly Cidr[]): Cidr[] {
  let n4 = 0;
  for (const c of list) if (c.family === 4) n4++;
  const out: Cidr[] = [];
  if (n4 > 0) normalizeV4(list, n4, out);
  if (n4 < list.length) normalizeV6(list, list.length - n4, out);
  return out;
}

function normalizeV4(list: readonly Cidr[], n: number, out: Cidr[]): void {
  const keys = keysV4([list], n);
  keys.sort();
  sweepKeysV4(keys, 0, n, out);
}

/**
 * The IPv4 members of `lists` as sort keys `start * 64 + prefix` (start masked), unsorted; `n`
 * is their count. start < 2^32 and prefix < 64, so the key is exact in a double, and the
 * native numeric sort of a Float64Array orders by start, then prefix (compareCidr's order).
 */
export function keysV4(lists: readonly CidrList[], n: number): Float64Array {
  const keys = new Float64Array(n);
  let k = 0;
  for (const list of lists) {
    if (list instanceof CidrColumn) {
      // The words as they are: no object per entry.
      for (let i = 0; i < list.length; i++) {
        if (list.familyAt(i) !== 4) continue;
        const p = list.prefixAt(i);
        keys[k++] = maskWord(list.wordAt(i, 0), p) * 64 + p;
      }
    } else for (const c of list) if (c.family === 4) keys[k++] = maskWord(c.a0, c.prefix) * 64 + c.prefix;
  }
  return keys;
}

/** The minimal cover of the sorted keys `keys[lo..hi)` (see keysV4), appended to `out`. */
export function sweepKeysV4(keys: Float64Array, lo: number, hi: number, out: CidrSink): void {
  if (lo >= hi) return;
  let start = 0;
  let end = -1; // exclusive; -1 = no open range
  let single = -1; // prefix while the open range is exactly one input CIDR
  for (let i = lo; i < hi; i++) {
    const key = keys[i]!;
    const s = Math.floor(key / 64);
    const p = key - s * 64;
    const e = s + 2 ** (32 - p);
    if (s <= end) {
      if (e > end) {
        end = e;
        single = -1;
      }
    } else {
      if (end >= 0) emitV4(start, end, single, out);
      start = s;
      end = e;
      single = p;
    }
  }
  emitV4(start, end, single, out);
}

function emitV4(s: number, e: number, single: number, out: CidrSink): void {
  if (single > 0) {
    emit(out, 4, single, s);
    return;
  }
  while (s < e) {
    // The largest block aligned at s (2^31 at most, so /0 becomes two /1s) that fits.
    let size = s === 0 ? 2 ** 31 : (s & -s) >>> 0;
    while (s + size > e) size /= 2;
    emit(out, 4, 1 + Math.clz32(size), s);
    s += size;
  }
}

function normalizeV6(list: readonly Cidr[], n: number, out: Cidr[]): void {
  const { words, prefixes } = wordsV6([list], n);
  sweepV6(words, prefixes, orderV6(words, n), out);
}

/** The IPv6 members of `lists` (`n` of them) as masked address words (4 per entry) and prefix lengths, unsorted. */
export function wordsV6(lists: readonly CidrList[], n: number): { words: Uint32Array; prefixes: Uint8Array } {
  const words = new Uint32Array(n * 4);
  const prefixes = new Uint8Array(n);
  let k = 0;
  const add = (p: number, a0: number, a1: number, a2: number, a3: number) => {
    words[k * 4] = maskWord(a0, p);
    words[k * 4 + 1] = maskWord(a1, p - 32);
    words[k * 4 + 2] = maskWord(a2, p - 64);
    words[k * 4 + 3] = maskWord(a3, p - 96);
    prefixes[k++] = p;
  };
  for (const list of lists) {
    if (list instanceof CidrColumn) {
      for (let i = 0; i < list.length; i++) if (list.familyAt(i) === 6) add(list.prefixAt(i), list.wordAt(i, 0), list.wordAt(i, 1), list.wordAt(i, 2), list.wordAt(i, 3));
    } else for (const c of list) if (c.family === 6) add(c.prefix, c.a0, c.a1, c.a2, c.a3);
  }
  return { words, prefixes };
}

/**
 * Indices 0..n-1 of wordsV6's entries ordered by address (stable: equal addresses keep their
 * order). The radix sort's 2 MiB of histograms cost more than comparisons below ~2000 entries
 * (measured: 1000 entries 5-7 ms radix, 0.7 ms compared; fresh memory is slow to map here).
 */
export function orderV6(words: Uint32Array, n: number): Uint32Array {
  return n > 2048 ? radixOrder(words, n) : comparisonOrder(words, n);
}

/** The minimal cover of wordsV6's entries taken in `order` (sorted by address), appended to `out`. */
export function sweepV6(words: Uint32Array, prefixes: Uint8Array, order: Uint32Array, out: CidrSink): void {
  const n = order.length;
  // The open range is [s, l] with an inclusive last address, since 2^128 does not fit; the
  // next input is [a, b]. Scalars, not arrays: this loop runs once per input. `single` is the
  // prefix while the open range is still exactly one input CIDR (most are), else -1, and
  // lets the flush skip cutting blocks.
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, l0 = 0, l1 = 0, l2 = 0, l3 = 0;
  let single = -1;
  for (let i = 0; i < n; i++) {
    const x = order[i]!;
    const p = prefixes[x]!;
    const a0 = words[x * 4]!, a1 = words[x * 4 + 1]!, a2 = words[x * 4 + 2]!, a3 = words[x * 4 + 3]!;
    const b0 = (a0 | HOST_BITS[p * 4]!) >>> 0;
    const b1 = (a1 | HOST_BITS[p * 4 + 1]!) >>> 0;
    const b2 = (a2 | HOST_BITS[p * 4 + 2]!) >>> 0;
    const b3 = (a3 | HOST_BITS[p * 4 + 3]!) >>> 0;
    if (i > 0) {
      if ((a0 - l0 || a1 - l1 || a2 - l2 || a3 - l3) <= 0 || isSuccessor(a0, a1, a2, a3, l0, l1, l2, l3)) {
        if ((b0 - l0 || b1 - l1 || b2 - l2 || b3 - l3) > 0) {
          l0 = b0; l1 = b1; l2 = b2; l3 = b3;
          single = -1;
        }
        continue;
      }
      flushV6(s0, s1, s2, s3, l0, l1, l2, l3, single, out);
    }
    s0 = a0; s1 = a1; s2 = a2; s3 = a3;
    l0 = b0; l1 = b1; l2 = b2; l3 = b3;
    single = p;
  }
  if (n > 0) flushV6(s0, s1, s2, s3, l0, l1, l2, l3, single, out);
}

/** True if a = l + 1 (as 128-bit numbers). */
function isSuccessor(a0: number, a1: number, a2: number, a3: number, l0: number, l1: number, l2: number, l3: number): boolean {
  const MAX = 0xffffffff;
  if (l3 !== MAX) return a3 === l3 + 1 && a2 === l2 && a1 === l1 && a0 === l0;
  if (a3 !== 0) return false;
  if (l2 !== MAX) return a2 === l2 + 1 && a1 === l1 && a0 === l0;
  if (a2 !== 0) return false;
  if (l1 !== MAX) return a1 === l1 + 1 && a0 === l0;
  return a1 === 0 && l0 !== MAX && a0 === l0 + 1;
}

const S = new Uint32Array(4);
const L = new Uint32Array(4);

/** Emits the closed range [s, l]: as is if it is one input CIDR, else cut into blocks. */
function flushV6(s0: number, s1: number, s2: number, s3: number, l0: number, l1: number, l2: number, l3: number, single: number, out: CidrSink): void {
  if (single > 0) {
    emit(out, 6, single, s0, s1, s2, s3);
    return;
  }
  S[0] = s0; S[1] = s1; S[2] = s2; S[3] = s3;
  L[0] = l0; L[1] = l1; L[2] = l2; L[3] = l3;
  emitV6(S, L, out);
}

/** HOST_BITS[p * 4 + w]: the host-bit mask of word w for an IPv6 prefix of length p. */
const HOST_BITS = new Uint32Array(129 * 4).map((_, i) => LOW[clampBits(128 - (i >> 2) - 32 * (3 - (i & 3)))]!);

function clampBits(b: number): number {
  return b < 0 ? 0 : b > 32 ? 32 : b;
}

const D = new Uint32Array(4);

/** Cuts the inclusive range [S, L] into the fewest CIDRs (S is modified). */
function emitV6(S: Uint32Array, L: Uint32Array, out: CidrSink): void {
  for (;;) {
    // size = L - S + 1; the block has 2^k addresses with k limited by size and alignment.
    let borrow = 0;
    for (let w = 3; w >= 0; w--) {
      const d = L[w]! - S[w]! - borrow;
      borrow = d < 0 ? 1 : 0;
      D[w] = d; // wraps modulo 2^32
    }
    let carry = 1;
    for (let w = 3; w >= 0 && carry; w--) {
      D[w] = D[w]! + 1;
      carry = D[w] === 0 ? 1 : 0;
    }
    let k = carry ? 128 : 127 - leadingZeros128(D);
    const tz = trailingZeros128(S);
    if (tz < k) k = tz;
    if (k > 127) k = 127; // ::/0 becomes two /1s
    const p = 128 - k;
    emit(out, 6, p, S[0]!, S[1]!, S[2]!, S[3]!);
    // S = last address of the block + 1; stop when the block ended at L.
    let done = true;
    for (let w = 0; w < 4; w++) {
      const last = (S[w]! | LOW[clampBits(k - 32 * (3 - w))]!) >>> 0;
      if (last !== L[w]) done = false;
      S[w] = last;
    }
    if (done) return;
    for (let w = 3; w >= 0; w--) {
      S[w] = S[w]! + 1;
      if (S[w] !== 0) break;
    }
  }
}

function leadingZeros128(a: Uint32Array): number {
  for (let w = 0; w < 4; w++) if (a[w] !== 0) return 32 * w + Math.clz32(a[w]!);
  return 128;
}

function trailingZeros128(a: Uint32Array): number {
  for (let w = 3; w >= 0; w--) {
    const v = a[w]!;
    if (v !== 0) return 32 * (3 - w) + 31 - Math.clz32(v & -v);
  }
  return 128;
}

/** Indices 0..n-1 ordered by address, for short lists (rule nets) where radix set-up dominates. */
function comparisonOrder(words: Uint32Array, n: number): Uint32Array {
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((x, y) => {
    for (let w = 0; w < 4; w++) {
      const d = words[x * 4 + w]! - words[y * 4 + w]!;
      if (d !== 0) return d;
    }
    return 0;
  });
  return Uint32Array.from(order);
}

/**
 * Indices 0..n-1 ordered by 128-bit address (4 words each), by LSD radix sort on 16-bit
 * digits. All histograms are taken in one sequential pass; a digit that is the same for
 * every entry (common: a list inside one /32) costs no scatter pass.
 */
function radixOrder(words: Uint32Array, n: number): Uint32Array {
  const counts = new Uint32Array(8 * 65536);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < 8; d++) {
      const at = d * 65536 + digitOf(words, i, d);
      counts[at] = counts[at]! + 1;
    }
  }
  let src = new Uint32Array(n);
  for (let i = 0; i < n; i++) src[i] = i;
  let dst = new Uint32Array(n);
  for (let d = 0; d < 8; d++) {
    const base = d * 65536;
    if (counts[base + digitOf(words, 0, d)] === n) continue;
    let sum = 0;
    for (let v = 0; v < 65536; v++) {
      const c = counts[base + v]!;
      counts[base + v] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const x = src[i]!;
      const at = base + digitOf(words, x, d);
      const pos = counts[at]!;
      counts[at] = pos + 1;
      dst[pos] = x;
    }
    const t = src;
    src = dst;
    dst = t;
  }
  return src;
}

/** Digit d (0 = least significant 16 bits) of entry i. */
function digitOf(words: Uint32Array, i: number, d: number): number {
  const w = words[i * 4 + 3 - (d >> 1)]!;
  return d & 1 ? w >>> 16 : w & 0xffff;
}
