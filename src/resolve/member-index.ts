/**
 * The members of a big selector set as they were written (duplicates and covered prefixes
 * kept), sorted by compareCidr, one index per family (issue #13). set-memo.ts patches it when a
 * network set changes by a few entries, and re-normalises only the ranges around the change.
 *
 * Typed arrays, not Cidr objects: 8 bytes per IPv4 member (the sort key `start * 64 + prefix`
 * of cidr-normalize.ts, so the cold build's sorted keys become the index at no cost), 17 per
 * IPv6 one. Double-buffered: a patch writes the new list into the spare buffer of the index it
 * patches, memory that is already mapped (fresh memory costs ~3 ms per MB in page faults on
 * this machine class, more than the copy itself). So an index stays readable only until the
 * index made from it is patched in turn; set-memo.ts keeps just the newest one.
 */
import { compareCidr, makeCidr, maskWord, type Cidr } from "../model/cidr.ts";
import { CidrColumnWriter, type CidrColumn, type CidrList } from "../model/cidr-column.ts";
import { firstNotBelow } from "../model/sorted-patch.ts";
import { keysV4, orderV6, sweepKeysV4, sweepV6, wordsV6 } from "../model/cidr-normalize.ts";
import { expectArray, newTyped } from "../spares.ts";

/** One family's members, sorted, with duplicates. */
export interface MemberIndex {
  /** Number of members. */
  readonly size: number;
  /** How many members have each prefix length (index = length). */
  readonly lengths: Uint32Array;
  /** How many members equal `c` (a masked CIDR of this family). */
  count(c: Cidr): number;
  /** The members whose network address lies in [start, last], sorted. */
  between(start: bigint, last: bigint): Cidr[];
  /**
   * This index without `removed` and with `added` (masked, this family, each sorted by
   * compareCidr); undefined when a removed member is not here. Writes into this index's spare
   * buffer (see the file comment).
   */
  patched(removed: readonly Cidr[], added: readonly Cidr[]): MemberIndex | undefined;
}

/** The first address of a CIDR as a number of up to 128 bits. */
export function startOf(c: Cidr): bigint {
  if (c.family === 4) return BigInt(c.a0);
  return (BigInt(c.a0) << 96n) | (BigInt(c.a1) << 64n) | (BigInt(c.a2) << 32n) | BigInt(c.a3);
}

/** The last address of a CIDR. */
export function lastOf(c: Cidr): bigint {
  return startOf(c) + (1n << BigInt((c.family === 4 ? 32 : 128) - c.prefix)) - 1n;
}

/**
 * The index of the IPv4 members of `lists` (`n` of them) and their normalised cover, built
 * from nothing. The cover is a column (model/cidr-column.ts): no object per member.
 */
export function buildIndexV4(lists: readonly CidrList[], n: number): { index: MemberIndex; norm: CidrColumn } {
  const keys = keysV4(lists, n).sort();
  const cover = new CidrColumnWriter(n, 4);
  sweepKeysV4(keys, 0, n, cover);
  const lengths = new Uint32Array(33);
  for (let i = 0; i < n; i++) bump(lengths, keys[i]! % 64, 1);
  const norm = cover.finish();
  let own = norm.length === n;
  for (let i = 0; own && i < n; i++) own = keys[i] === norm.wordAt(i, 0) * 64 + norm.prefixAt(i);
  if (own) return { index: new CoverIndex(norm, lengths), norm };
  expectArray(n, Float64Array); // an edit writes the index into a new buffer the first time (grown)
  return { index: new V4Index(keys, n, lengths), norm };
}

/** The index of the IPv6 members of `lists` (`n` of them) and their normalised cover (a column), built from nothing. */
export function buildIndexV6(lists: readonly CidrList[], n: number): { index: MemberIndex; norm: CidrColumn } {
  const { words, prefixes } = wordsV6(lists, n);
  const order = orderV6(words, n);
  const cover = new CidrColumnWriter(n, 6);
  sweepV6(words, prefixes, order, cover);
  const norm = cover.finish();
  const sortedWords = new Uint32Array(n * 4);
  const sortedPrefixes = new Uint8Array(n);
  const lengths = new Uint32Array(129);
  for (let j = 0; j < n; j++) {
    const x = order[j]!;
    for (let w = 0; w < 4; w++) sortedWords[j * 4 + w] = words[x * 4 + w]!;
    sortedPrefixes[j] = prefixes[x]!;
    bump(lengths, prefixes[x]!, 1);
  }
  // The order is by address only: equal addresses (a /64 and a host at its start) by prefix too.
  for (let j = 1; j < n; j++) {
    if (!sameWords(sortedWords, j - 1, j)) continue;
    let run = j;
    while (run + 1 < n && sameWords(sortedWords, j, run + 1)) run++;
    sortedPrefixes.subarray(j - 1, run + 1).sort();
    j = run;
  }
  let own = norm.length === n;
  for (let i = 0; own && i < n; i++) {
    own = sortedPrefixes[i] === norm.prefixAt(i);
    for (let w = 0; own && w < 4; w++) own = sortedWords[i * 4 + w] === norm.wordAt(i, w);
  }
  if (own) return { index: new CoverIndex(norm, lengths), norm };
  expectArray(n * 4, Uint32Array);
  expectArray(n, Uint8Array);
  return { index: new V6Index(sortedWords, sortedPrefixes, n, lengths), norm };
}

function bump(counts: Uint32Array, i: number, by: number): void {
  counts[i] = counts[i]! + by;
}

function sameWords(words: Uint32Array, i: number, j: number): boolean {
  return words[i * 4] === words[j * 4] && words[i * 4 + 1] === words[j * 4 + 1] && words[i * 4 + 2] === words[j * 4 + 2] && words[i * 4 + 3] === words[j * 4 + 3];
}

/** Events of a patch, in list order: positions in the old list of each removed item, insertion points of each added one. */
interface Moves {
  removedAt: number[];
  addedAt: number[];
}

/** Walks old positions [0, n) with removals and insertions: copy(from, to, at), insert(j, at). Returns the new size. */
function replay(n: number, m: Moves, copy: (from: number, to: number, at: number) => void, insert: (j: number, at: number) => void): number {
  let i = 0;
  let k = 0;
  let r = 0;
  let a = 0;
  for (;;) {
    const nextA = a < m.addedAt.length ? m.addedAt[a]! : n + 1;
    const nextR = r < m.removedAt.length ? m.removedAt[r]! : n;
    const stop = Math.min(nextA, nextR, n);
    if (stop > i) {
      copy(i, stop, k);
      k += stop - i;
      i = stop;
    }
    if (nextA === i) insert(a++, k++);
    else if (nextR === i && i < n) {
      i++;
      r++;
    } else return k;
  }
}

/** Positions of sorted `removed` (each found, duplicates at successive places) and `added` by `lower` (first index not less). */
function movesOf<K>(removed: readonly K[], added: readonly K[], lower: (x: K) => number, equalAt: (i: number, x: K) => boolean, same: (a: K, b: K) => boolean): Moves | undefined {
  const removedAt: number[] = [];
  for (let j = 0; j < removed.length; j++) {
    const x = removed[j]!;
    const i = j > 0 && same(removed[j - 1]!, x) ? removedAt[j - 1]! + 1 : lower(x);
    if (!equalAt(i, x)) return undefined;
    removedAt.push(i);
  }
  return { removedAt, addedAt: added.map(lower) };
}

/** The index's spare buffer when it holds `need` items, else a new one with room to grow (spares.ts: prepared while idle when it can be). */
function grown<T extends Float64Array | Uint32Array | Uint8Array>(spare: T | undefined, need: number, kind: new (n: number) => T): T {
  return spare && spare.length >= need ? spare : newTyped(kind, need, Math.ceil(need * 1.25) + 1024);
}

class V4Index implements MemberIndex {
  constructor(
    /** Sorted keys start * 64 + prefix in [0, size); capacity beyond. */
    private readonly keys: Float64Array,
    readonly size: number,
    readonly lengths: Uint32Array,
    private readonly spare?: Float64Array,
  ) {}

  private lower(key: number): number {
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keys[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  count(c: Cidr): number {
    const key = c.a0 * 64 + c.prefix;
    return this.lower(key + 1) - this.lower(key);
  }

  between(start: bigint, last: bigint): Cidr[] {
    const out: Cidr[] = [];
    const hi = this.lower((Number(last) + 1) * 64);
    for (let i = this.lower(Number(start) * 64); i < hi; i++) {
      const key = this.keys[i]!;
      const s = Math.floor(key / 64);
      out.push(makeCidr(4, key - s * 64, s));
    }
    return out;
  }

  patched(removed: readonly Cidr[], added: readonly Cidr[]): MemberIndex | undefined {
    const keyOf = (c: Cidr) => c.a0 * 64 + c.prefix;
    const rk = removed.map(keyOf);
    const ak = added.map(keyOf);
    const moves = movesOf(rk, ak, (k) => this.lower(k), (i, k) => i < this.size && this.keys[i] === k, (a, b) => a === b);
    if (!moves) return undefined;
    const size = this.size - rk.length + ak.length;
    const out = grown(this.spare, size, Float64Array);
    replay(this.size, moves, (from, to, at) => out.set(this.keys.subarray(from, to), at), (j, at) => (out[at] = ak[j]!));
    const lengths = this.lengths.slice();
    for (const c of removed) bump(lengths, c.prefix, -1);
    for (const c of added) bump(lengths, c.prefix, 1);
    return new V4Index(out, size, lengths, this.keys);
  }
}

class V6Index implements MemberIndex {
  constructor(
    /** Sorted addresses, 4 words each, in [0, size * 4); capacity beyond. */
    private readonly words: Uint32Array,
    /** Prefix lengths, parallel to words. */
    private readonly prefixes: Uint8Array,
    readonly size: number,
    readonly lengths: Uint32Array,
    private readonly spare?: { words: Uint32Array; prefixes: Uint8Array },
  ) {}

  /** The first index whose entry is not less than (a0..a3, p). */
  private lower(a0: number, a1: number, a2: number, a3: number, p: number): number {
    const w = this.words;
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = mid * 4;
      const d = w[m]! - a0 || w[m + 1]! - a1 || w[m + 2]! - a2 || w[m + 3]! - a3 || this.prefixes[mid]! - p;
      if (d < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private lowerCidr(c: Cidr): number {
    return this.lower(c.a0, c.a1, c.a2, c.a3, c.prefix);
  }

  private equalAt(i: number, c: Cidr): boolean {
    const m = i * 4;
    const w = this.words;
    return i < this.size && w[m] === c.a0 && w[m + 1] === c.a1 && w[m + 2] === c.a2 && w[m + 3] === c.a3 && this.prefixes[i] === c.prefix;
  }

  count(c: Cidr): number {
    const lo = this.lowerCidr(c);
    let i = lo;
    while (this.equalAt(i, c)) i++;
    return i - lo;
  }

  between(start: bigint, last: bigint): Cidr[] {
    const [s0, s1, s2, s3] = wordsOf(start);
    const lo = this.lower(s0, s1, s2, s3, 0);
    const after = last + 1n;
    const hi = after >> 128n ? this.size : this.lower(...wordsOf(after), 0);
    const out: Cidr[] = [];
    for (let i = lo; i < hi; i++) out.push(makeCidr(6, this.prefixes[i]!, this.words[i * 4]!, this.words[i * 4 + 1]!, this.words[i * 4 + 2]!, this.words[i * 4 + 3]!));
    return out;
  }

  patched(removed: readonly Cidr[], added: readonly Cidr[]): MemberIndex | undefined {
    const same = (a: Cidr, b: Cidr) => a.a0 === b.a0 && a.a1 === b.a1 && a.a2 === b.a2 && a.a3 === b.a3 && a.prefix === b.prefix;
    const moves = movesOf(removed, added, (c) => this.lowerCidr(c), (i, c) => this.equalAt(i, c), same);
    if (!moves) return undefined;
    const size = this.size - removed.length + added.length;
    const words = grown(this.spare?.words, size * 4, Uint32Array);
    const prefixes = grown(this.spare?.prefixes, size, Uint8Array);
    replay(
      this.size,
      moves,
      (from, to, at) => {
        words.set(this.words.subarray(from * 4, to * 4), at * 4);
        prefixes.set(this.prefixes.subarray(from, to), at);
      },
      (j, at) => {
        const c = added[j]!;
        words[at * 4] = c.a0;
        words[at * 4 + 1] = c.a1;
        words[at * 4 + 2] = c.a2;
        words[at * 4 + 3] = c.a3;
        prefixes[at] = c.prefix;
      },
    );
    const lengths = this.lengths.slice();
    for (const c of removed) bump(lengths, c.prefix, -1);
    for (const c of added) bump(lengths, c.prefix, 1);
    return new V6Index(words, prefixes, size, lengths, { words: this.words, prefixes: this.prefixes });
  }
}

const stats = { covers: 0, written: 0 };

/** How often a patched index stayed its cover, and how often one was written out as keys (tests). */
export function coverIndexStats(): { covers: number; written: number } {
  return { ...stats };
}

/**
 * The members as their own cover (issue #13 idle memory: ~15 MB of keys and their spare at a
 * million hosts). While the members are exactly their normalised cover (distinct, none inside,
 * overlapping or merging with another: the usual deny list), the cover column answers for them
 * and no keys are kept. A patch of it is pending (the cover and the few changes) until
 * set-memo.ts has the new cover: changed exactly as the members were, the new cover is the new
 * index; otherwise the members are written out as keys once (settle).
 */
class CoverIndex implements MemberIndex {
  constructor(
    readonly cover: CidrColumn,
    readonly lengths: Uint32Array,
  ) {}

  get size(): number {
    return this.cover.length;
  }

  count(c: Cidr): number {
    const col = this.cover;
    if (col.family === 4 && c.family === 4) {
      // The words and prefixes as they are (a 10k + 10k edit asks ~60k times).
      const { words, prefixes } = col;
      let lo = 0;
      let hi = col.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const w = words[mid]!;
        if (w < c.a0 || (w === c.a0 && prefixes[mid]! < c.prefix)) lo = mid + 1;
        else hi = mid;
      }
      return lo < col.length && words[lo] === c.a0 && prefixes[lo] === c.prefix ? 1 : 0;
    }
    const i = firstNotBelow(col.length, (j) => col.compareAt(j, c) < 0, 0);
    return i < col.length && col.compareAt(i, c) === 0 ? 1 : 0;
  }

  /** Where the last `between` began: set-memo.ts asks for its regions in order, so each search gallops on from there. */
  private hint = 0;

  between(start: bigint, last: bigint): Cidr[] {
    const col = this.cover;
    const out: Cidr[] = [];
    let i: number;
    if (col.family === 4) {
      // In numbers (exact below 2^53): no BigInt made per probe (a 10k + 10k edit asks for 20k regions).
      const s = Number(start);
      const l = Number(last);
      for (i = this.hint = firstNotBelow(col.length, (j) => col.wordAt(j, 0) < s, this.hint); i < col.length && col.wordAt(i, 0) <= l; i++) out.push(col.at(i)!);
      return out;
    }
    for (i = this.hint = firstNotBelow(col.length, (j) => startOf(col.at(j)!) < start, this.hint); i < col.length && startOf(col.at(i)!) <= last; i++) out.push(col.at(i)!);
    return out;
  }

  patched(removed: readonly Cidr[], added: readonly Cidr[]): MemberIndex | undefined {
    // The cover holds each member once: one removed twice, or one it does not hold, is not here.
    for (let j = 0; j < removed.length; j++) if (this.count(removed[j]!) === 0 || (j > 0 && compareCidr(removed[j - 1]!, removed[j]!) === 0)) return undefined;
    const lengths = this.lengths.slice();
    for (const c of removed) bump(lengths, c.prefix, -1);
    for (const c of added) bump(lengths, c.prefix, 1);
    return new PendingIndex(this, removed, added, lengths);
  }
}

/** A CoverIndex with a few members removed and added, answering for them until settled (see CoverIndex). */
export class PendingIndex implements MemberIndex {
  constructor(
    private readonly base: CoverIndex,
    private readonly removed: readonly Cidr[],
    private readonly added: readonly Cidr[],
    readonly lengths: Uint32Array,
  ) {}

  get size(): number {
    return this.base.size - this.removed.length + this.added.length;
  }

  count(c: Cidr): number {
    // The changes are sorted: a search each (a 10k + 10k edit asks ~100k times).
    const times = (list: readonly Cidr[]) => {
      const lo = firstNotBelow(list.length, (i) => compareCidr(list[i]!, c) < 0, 0);
      let hi = lo;
      while (hi < list.length && compareCidr(list[hi]!, c) === 0) hi++;
      return hi - lo;
    };
    return this.base.count(c) - times(this.removed) + times(this.added);
  }

  /** Where the last `between` found its runs of the changes (regions come in order: searches gallop on from there). */
  private hints = [0, 0];

  between(start: bigint, last: bigint): Cidr[] {
    const base = this.base.between(start, last);
    // Sorted by compareCidr, one family: the changes starting in [start, last] are one run of each list.
    const v4 = this.base.cover.family === 4;
    const s = v4 ? Number(start) : 0;
    const l = v4 ? Number(last) : 0;
    const run = (list: readonly Cidr[], k: number): [number, number] => {
      const from = firstNotBelow(list.length, (i) => (v4 ? list[i]!.a0 < s : startOf(list[i]!) < start), this.hints[k]!);
      this.hints[k] = from;
      let to = from;
      while (to < list.length && (v4 ? list[to]!.a0 <= l : startOf(list[to]!) <= last)) to++;
      return [from, to];
    };
    const [r0, r1] = run(this.removed, 0);
    const [a0, a1] = run(this.added, 1);
    if (r0 === r1 && a0 === a1) return base;
    const out: Cidr[] = [];
    let g = r0;
    for (const c of base) {
      while (g < r1 && compareCidr(this.removed[g]!, c) < 0) g++;
      if (g < r1 && compareCidr(this.removed[g]!, c) === 0) g++;
      else out.push(c);
    }
    for (let j = a0; j < a1; j++) out.push(this.added[j]!);
    return a1 > a0 ? out.sort(compareCidr) : out;
  }

  patched(removed: readonly Cidr[], added: readonly Cidr[]): MemberIndex | undefined {
    return this.written().patched(removed, added);
  }

  /**
   * The index once the new cover is known (`norm`, made from the old one without `gone` and
   * with `come`): that cover when it changed exactly as the members did, else the members as keys.
   */
  settle(norm: CidrColumn, gone: readonly Cidr[], come: readonly Cidr[]): MemberIndex {
    const same = (a: readonly Cidr[], b: readonly Cidr[]) => a.length === b.length && a.every((c, i) => compareCidr(c, b[i]!) === 0);
    if (!same(gone, this.removed) || !same(come, this.added)) return this.written();
    stats.covers++;
    return new CoverIndex(norm, this.lengths);
  }

  /** The members written out as a V4Index or V6Index: the cover's entries as keys, patched with the changes as any index is (duplicates kept). */
  written(): MemberIndex {
    const col = this.base.cover;
    const n = col.length;
    let keyed: MemberIndex;
    if (col.family === 4) {
      const keys = new Float64Array(n);
      for (let i = 0; i < n; i++) keys[i] = col.words[i]! * 64 + col.prefixes[i]!;
      keyed = new V4Index(keys, n, this.base.lengths);
    } else keyed = new V6Index(col.words.slice(0, n * 4), col.prefixes.slice(0, n), n, this.base.lengths);
    const out = keyed.patched(this.removed, this.added);
    if (!out) throw new Error("internal error: a member index written from its cover lost members");
    stats.written++;
    return out;
  }
}

/** A 128-bit number as four 32-bit words, most significant first. */
function wordsOf(x: bigint): [number, number, number, number] {
  const M = 0xffffffffn;
  return [Number((x >> 96n) & M), Number((x >> 64n) & M), Number((x >> 32n) & M), Number(x & M)];
}

/** `c` with its host bits cleared (members read from YAML already are; this keeps the index exact if one is not). */
export function masked(c: Cidr): Cidr {
  const p = c.prefix;
  if (maskWord(c.a0, p) === c.a0 && maskWord(c.a1, p - 32) === c.a1 && maskWord(c.a2, p - 64) === c.a2 && maskWord(c.a3, p - 96) === c.a3) return c;
  return makeCidr(c.family, p, c.a0, c.a1, c.a2, c.a3);
}
