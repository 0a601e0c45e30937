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
import { LOW, maskWord, type Cidr } from "./cidr.ts";

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
export function keysV4(lists: readonly (readonly Cidr[])[], n: number): Float64Array {
  const keys = new Float64Array(n);
  let k = 0;
  for (const list of lists) for (const c of list) if (c.family === 4) keys[k++] = maskWord(c.a0, c.prefix) * 64 + c.prefix;
  return keys;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * keysV4's keys, sorted, and where each came from: `order[i]` is the position among the IPv4
 * members (in list order) of sorted key i. One native sort of 64-bit words
 * `start << 32 | prefix << 26 | position` (measured at 1M: ~25 ms more than sorting the keys
 * alone), so for fewer than 2^26 members on a little-endian machine; undefined otherwise.
 */
export function sortedKeysV4(lists: readonly (readonly Cidr[])[], n: number): { keys: Float64Array; order: Uint32Array } | undefined {
  if (n >= 2 ** 26 || !LITTLE_ENDIAN) return undefined;
  const packed = new BigUint64Array(n);
  const words = new Uint32Array(packed.buffer);
  let k = 0;
  for (const list of lists) {
    for (const c of list) {
      if (c.family !== 4) continue;
      words[2 * k] = ((c.prefix << 26) | k) >>> 0;
      words[2 * k + 1] = maskWord(c.a0, c.prefix);
      k++;
    }
  }
  packed.sort();
  const keys = new Float64Array(n);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const low = words[2 * i]!;
    keys[i] = words[2 * i + 1]! * 64 + (low >>> 26);
    order[i] = low & 0x3ffffff;
  }
  return { keys, order };
}

/** The members of one family in `lists`, in list order (the list itself when it is the only one and all of that family). */
export function membersOf(lists: readonly (readonly Cidr[])[], family: 4 | 6, n: number): readonly Cidr[] {
  if (lists.length === 1 && lists[0]!.length === n) return lists[0]!;
  const out: Cidr[] = [];
  for (const list of lists) for (const c of list) if (c.family === family) out.push(c);
  return out;
}

/**
 * The minimal cover of the sorted keys `keys[lo..hi)` (see keysV4), appended to `out`. With
 * `input`, a CIDR of the cover that is exactly one input CIDR is that input's object
 * (`input(i)`: the one key i was made of), not a copy: a million-entry set's cover is then
 * mostly the objects the model already holds (~70 MB fewer at 1M).
 */
export function sweepKeysV4(keys: Float64Array, lo: number, hi: number, out: Cidr[], input?: (i: number) => Cidr): void {
  if (lo >= hi) return;
  let start = 0;
  let end = -1; // exclusive; -1 = no open range
  let single = -1; // prefix while the open range is exactly one input CIDR
  let first = lo; // the key that opened the range
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
      if (end >= 0) emitV4(start, end, single, out, input && single > 0 ? input(first) : undefined);
      start = s;
      end = e;
      single = p;
      first = i;
    }
  }
  emitV4(start, end, single, out, input && single > 0 ? input(first) : undefined);
}

function emitV4(s: number, e: number, single: number, out: Cidr[], same?: Cidr): void {
  if (single > 0) {
    out.push(same ?? { family: 4, prefix: single, a0: s, a1: 0, a2: 0, a3: 0 });
    return;
  }
  while (s < e) {
    // The largest block aligned at s (2^31 at most, so /0 becomes two /1s) that fits.
    let size = s === 0 ? 2 ** 31 : (s & -s) >>> 0;
    while (s + size > e) size /= 2;
    out.push({ family: 4, prefix: 1 + Math.clz32(size), a0: s, a1: 0, a2: 0, a3: 0 });
    s += size;
  }
}

function normalizeV6(list: readonly Cidr[], n: number, out: Cidr[]): void {
  const { words, prefixes } = wordsV6([list], n);
  sweepV6(words, prefixes, orderV6(words, n), out);
}

/** The IPv6 members of `lists` (`n` of them) as masked address words (4 per entry) and prefix lengths, unsorted. */
export function wordsV6(lists: readonly (readonly Cidr[])[], n: number): { words: Uint32Array; prefixes: Uint8Array } {
  const words = new Uint32Array(n * 4);
  const prefixes = new Uint8Array(n);
  let k = 0;
  for (const list of lists) {
    for (const c of list) {
      if (c.family !== 6) continue;
      const p = c.prefix;
      words[k * 4] = maskWord(c.a0, p);
      words[k * 4 + 1] = maskWord(c.a1, p - 32);
      words[k * 4 + 2] = maskWord(c.a2, p - 64);
      words[k * 4 + 3] = maskWord(c.a3, p - 96);
      prefixes[k++] = p;
    }
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

/**
 * The minimal cover of wordsV6's entries taken in `order` (sorted by address), appended to
 * `out`; with `input` (the entries' objects, in wordsV6's order), one that is exactly an input
 * CIDR is that object, as sweepKeysV4.
 */
export function sweepV6(words: Uint32Array, prefixes: Uint8Array, order: Uint32Array, out: Cidr[], input?: readonly Cidr[]): void {
  const n = order.length;
  // The open range is [s, l] with an inclusive last address, since 2^128 does not fit; the
  // next input is [a, b]. Scalars, not arrays: this loop runs once per input. `single` is the
  // prefix while the open range is still exactly one input CIDR (most are), else -1, and
  // lets the flush skip cutting blocks.
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, l0 = 0, l1 = 0, l2 = 0, l3 = 0;
  let single = -1;
  let first = 0; // the entry that opened the range
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
      if (single > 0 && input) out.push(input[first]!);
      else flushV6(s0, s1, s2, s3, l0, l1, l2, l3, single, out);
    }
    s0 = a0; s1 = a1; s2 = a2; s3 = a3;
    l0 = b0; l1 = b1; l2 = b2; l3 = b3;
    single = p;
    first = x;
  }
  if (n > 0 && single > 0 && input) out.push(input[first]!);
  else if (n > 0) flushV6(s0, s1, s2, s3, l0, l1, l2, l3, single, out);
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
function flushV6(s0: number, s1: number, s2: number, s3: number, l0: number, l1: number, l2: number, l3: number, single: number, out: Cidr[]): void {
  if (single > 0) {
    out.push({ family: 6, prefix: single, a0: s0, a1: s1, a2: s2, a3: s3 });
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
function emitV6(S: Uint32Array, L: Uint32Array, out: Cidr[]): void {
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
    out.push({ family: 6, prefix: p, a0: S[0]!, a1: S[1]!, a2: S[2]!, a3: S[3]! });
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
