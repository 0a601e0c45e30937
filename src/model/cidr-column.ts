/**
 * A long list of CIDRs as columns of numbers (issue #13 item 7: hold big sets compactly). A
 * Cidr object (cidr.ts) takes ~64 bytes and its slot in an array 8 more, so a million-entry
 * network set held as objects costs ~72 MB, and its normalised cover as much again where the
 * two do not share objects. A column holds one big-endian word per IPv4 entry (four per IPv6
 * one) and one prefix byte: ~5 MB for a million IPv4 entries.
 *
 * It reads as a readonly Cidr array does where the model's consumers read one (`length`,
 * iteration, `at`, `slice`, `map`, `filter`, `some`), making a Cidr per read, so a network
 * set's nets and a big selector set's cover are either (CidrList); what must not make a
 * million objects (the normaliser's keys, the member index, the per-length element lists,
 * explain's containment scan) asks `instanceof CidrColumn` and reads the words. Columns are immutable: an edit makes a new one by a splice or a sorted patch, into a
 * spare (spares.ts) when one is ready, as derive.ts applySplice does for arrays.
 */
import { cidrContains, maskWord, type Cidr, type Family } from "./cidr.ts";
import { positionsAt, type Positions } from "./sorted-patch.ts";
import { newTyped } from "../spares.ts";

/** A list of CIDRs: an array, or a column (big network sets and covers). */
export type CidrList = readonly Cidr[] | CidrColumn;

/** Network sets with this many entries or more are read into a column. */
export const COLUMN_MIN_ITEMS = 4096;

export class CidrColumn implements Iterable<Cidr> {
  /** @internal Use CidrColumnWriter. */
  constructor(
    /** 4 or 6 when every entry is of that family; 0 when they are mixed (then `families` says). */
    readonly family: Family | 0,
    /** `width` words per entry (1 for an IPv4-only column, else 4), the first `length * width` in use. */
    readonly words: Uint32Array,
    /** Prefix lengths, the first `length` in use. */
    readonly prefixes: Uint8Array,
    /** Each entry's family, for a mixed column. */
    readonly families: Uint8Array | undefined,
    readonly length: number,
  ) {}

  /** Words per entry. */
  get width(): 1 | 4 {
    return this.family === 4 ? 1 : 4;
  }

  familyAt(i: number): Family {
    return this.family || (this.families![i] as Family);
  }

  prefixAt(i: number): number {
    return this.prefixes[i]!;
  }

  /** Word `k` (0-3, most significant first) of entry `i`'s address; 0 past an IPv4 address's first word. */
  wordAt(i: number, k: number): number {
    if (this.family === 4) return k === 0 ? this.words[i]! : 0;
    return this.words[i * 4 + k]!;
  }

  /** Entry `i` as a Cidr (a new object; undefined past the end, as an array reads). */
  at(i: number): Cidr | undefined {
    if (i < 0) i += this.length;
    if (i < 0 || i >= this.length) return undefined;
    const family = this.familyAt(i);
    const p = this.prefixes[i]!;
    if (this.family === 4) return { family, prefix: p, a0: this.words[i]!, a1: 0, a2: 0, a3: 0 };
    const w = this.words;
    const o = i * 4;
    return { family, prefix: p, a0: w[o]!, a1: w[o + 1]!, a2: w[o + 2]!, a3: w[o + 3]! };
  }

  *[Symbol.iterator](): Iterator<Cidr> {
    for (let i = 0; i < this.length; i++) yield this.at(i)!;
  }

  /** The entries as objects, as Array.prototype.slice takes them. */
  slice(start = 0, end = this.length): Cidr[] {
    const from = Math.max(0, start < 0 ? this.length + start : start);
    const to = Math.min(this.length, end < 0 ? this.length + end : end);
    const out: Cidr[] = [];
    for (let i = from; i < to; i++) out.push(this.at(i)!);
    return out;
  }

  /** As objects, should a debug dump or a test serialise the model or a plan. */
  toJSON(): Cidr[] {
    return this.slice();
  }

  map<U>(f: (c: Cidr, i: number) => U): U[] {
    const out: U[] = [];
    for (let i = 0; i < this.length; i++) out.push(f(this.at(i)!, i));
    return out;
  }

  filter(f: (c: Cidr, i: number) => boolean): Cidr[] {
    const out: Cidr[] = [];
    for (let i = 0; i < this.length; i++) {
      const c = this.at(i)!;
      if (f(c, i)) out.push(c);
    }
    return out;
  }

  some(f: (c: Cidr, i: number) => boolean): boolean {
    for (let i = 0; i < this.length; i++) if (f(this.at(i)!, i)) return true;
    return false;
  }

  /** Entry `i` against `c` in compareCidr's order: negative, zero or positive. */
  compareAt(i: number, c: Cidr): number {
    const d = this.familyAt(i) - c.family;
    if (d !== 0) return d;
    if (this.family === 4) return this.words[i]! - c.a0 || this.prefixes[i]! - c.prefix;
    const w = this.words;
    const o = i * 4;
    return w[o]! - c.a0 || w[o + 1]! - c.a1 || w[o + 2]! - c.a2 || w[o + 3]! - c.a3 || this.prefixes[i]! - c.prefix;
  }

  /** This list with `removed` entries at `index` replaced by `inserted`, as a new column (derive.ts applySplice's). */
  spliced(index: number, removed: number, inserted: readonly Cidr[]): CidrColumn {
    const out = new CidrColumnWriter(this.length - removed + inserted.length, this.family, inserted);
    out.copy(this, 0, index);
    for (const c of inserted) out.push(c);
    out.copy(this, index + removed, this.length);
    return out.finish();
  }

  /**
   * This list (sorted by compareCidr, no two equal) without `removed` and with `added` (each
   * sorted, of this column's family), as a new column; undefined when the change does not fit
   * (a removed entry missing, an added one present).
   */
  patched(removed: readonly Cidr[], added: readonly Cidr[]): CidrColumn | undefined {
    const at = positionsAt(this.length, removed, added, (j, c: Cidr) => this.compareAt(j, c));
    return at && this.withPositions(at, added);
  }

  private withPositions(at: Positions, added: readonly Cidr[]): CidrColumn {
    const { removedAt, addedAt } = at;
    const n = this.length;
    const out = new CidrColumnWriter(n - removedAt.length + added.length, this.family, added);
    let i = 0;
    let r = 0;
    let a = 0;
    while (a < addedAt.length || r < removedAt.length) {
      const nextA = a < addedAt.length ? addedAt[a]! : n + 1;
      const nextR = r < removedAt.length ? removedAt[r]! : n + 1;
      if (nextA <= nextR) {
        out.copy(this, i, nextA);
        i = Math.max(i, nextA);
        out.push(added[a++]!);
      } else {
        out.copy(this, i, nextR);
        i = nextR + 1;
        r++;
      }
    }
    out.copy(this, i, n);
    return out.finish();
  }
}

/** The items of a list as an array: the array itself, or a column's entries as objects (small lists, tests). */
export function cidrArray(list: CidrList): readonly Cidr[] {
  return list instanceof CidrColumn ? [...list] : list;
}

/** How many items of `list` are of `family` (a one-family column is counted without reading it). */
export function countFamily(list: CidrList, family: Family): number {
  if (list instanceof CidrColumn && list.family !== 0) return list.family === family ? list.length : 0;
  let n = 0;
  if (list instanceof CidrColumn) {
    for (let i = 0; i < list.length; i++) if (list.familyAt(i) === family) n++;
  } else for (const c of list) if (c.family === family) n++;
  return n;
}

/** Whether an item of `list` contains `addr` (a linear scan; a column's words are read as they are). */
export function anyContains(list: CidrList, addr: Cidr): boolean {
  if (!(list instanceof CidrColumn)) return list.some((c) => cidrContains(c, addr));
  if (list.family !== 0 && list.family !== addr.family) return false;
  const want = [addr.a0, addr.a1, addr.a2, addr.a3];
  for (let i = 0; i < list.length; i++) {
    const p = list.prefixAt(i);
    if (p > addr.prefix || list.familyAt(i) !== addr.family) continue;
    let inside = true;
    for (let k = 0; k < (addr.family === 4 ? 1 : 4) && inside; k++) inside = maskWord(want[k]!, p - 32 * k) === list.wordAt(i, k);
    if (inside) return true;
  }
  return false;
}

/** Item `i` of a list. */
export function cidrAt(list: CidrList, i: number): Cidr | undefined {
  return list instanceof CidrColumn ? list.at(i) : list[i];
}

/**
 * Builds a column entry by entry. It starts IPv4-only (one word each) unless told the family,
 * and widens to four words and a family per entry at the first entry of the other family.
 */
export class CidrColumnWriter {
  /** undefined until the first entry (then 4: one word each), 6, or 0 (mixed: four words and a family each). */
  private family: Family | 0 | undefined;
  private words: Uint32Array;
  private prefixes: Uint8Array;
  private families: Uint8Array | undefined;
  private n = 0;

  /**
   * Room for `capacity` entries. `family`: every entry is of it (undefined: not known). `also`:
   * entries that will be pushed besides copied ones, so the layout is chosen once.
   */
  constructor(
    private readonly capacity: number,
    family?: Family | 0,
    also: readonly Cidr[] = [],
  ) {
    let f = family;
    for (const c of also) if (f !== undefined && c.family !== f) f = 0;
    this.family = f;
    this.words = newTyped(Uint32Array, capacity * (f === 4 || f === undefined ? 1 : 4));
    this.prefixes = newTyped(Uint8Array, capacity);
    this.families = f === 0 ? newTyped(Uint8Array, capacity) : undefined;
  }

  private get width(): 1 | 4 {
    return this.family === 4 || this.family === undefined ? 1 : 4;
  }

  /** Makes room for entries of `family`: an undecided layout takes it, a one-family one becomes mixed (IPv4's words widened). */
  private admit(family: Family): void {
    const now = this.family;
    if (now === family || now === 0) return;
    if (now === undefined) {
      // Nothing written yet: IPv4 keeps the one-word layout, IPv6 needs four.
      if (family === 6) this.words = new Uint32Array(this.capacity * 4);
      this.family = family;
      return;
    }
    if (now === 4) {
      const words = new Uint32Array(this.capacity * 4);
      for (let i = 0; i < this.n; i++) words[i * 4] = this.words[i]!;
      this.words = words;
    }
    this.families = new Uint8Array(this.capacity);
    this.families.fill(now, 0, this.n);
    this.family = 0;
  }

  /** Appends an entry; IPv4 takes `a0` only. */
  add(family: Family, prefix: number, a0: number, a1 = 0, a2 = 0, a3 = 0): void {
    if (this.family !== family && this.family !== 0) this.admit(family);
    const i = this.n++;
    this.prefixes[i] = prefix;
    if (this.families) this.families[i] = family;
    if (this.family === 4) {
      this.words[i] = a0;
      return;
    }
    const w = this.words;
    const o = i * 4;
    w[o] = a0;
    w[o + 1] = a1;
    w[o + 2] = a2;
    w[o + 3] = a3;
  }

  push(c: Cidr): void {
    this.add(c.family, c.prefix, c.a0, c.a1, c.a2, c.a3);
  }

  /** Appends entries `from` to `to` (exclusive) of `col`: runs of words copied as they are when the layouts agree. */
  copy(col: CidrColumn, from: number, to: number): void {
    if (to <= from) return;
    if (col.family !== 0) this.admit(col.family);
    else {
      this.admit(4);
      this.admit(6);
    }
    const width = this.width;
    if (width === col.width) {
      this.words.set(col.words.subarray(from * width, to * width), this.n * width);
      this.prefixes.set(col.prefixes.subarray(from, to), this.n);
      if (this.families) {
        if (col.families) this.families.set(col.families.subarray(from, to), this.n);
        else this.families.fill(col.family as Family, this.n, this.n + to - from);
      }
      this.n += to - from;
      return;
    }
    for (let i = from; i < to; i++) this.add(col.familyAt(i), col.prefixAt(i), col.wordAt(i, 0), col.wordAt(i, 1), col.wordAt(i, 2), col.wordAt(i, 3));
  }

  /** The column written (its arrays are the writer's: write nothing more). */
  finish(): CidrColumn {
    if (this.n > this.capacity) throw new Error("internal error: a CIDR column overran its capacity");
    const family = this.family ?? 4;
    // No expectArray: newTyped asked the pool for the arrays, and that asking is the demand an edit's spares are made for.
    return new CidrColumn(family, this.words, this.prefixes, this.families, this.n);
  }
}

/** A column of `list` (in its order). */
export function columnOf(list: Iterable<Cidr>, n: number, family?: Family): CidrColumn {
  const out = new CidrColumnWriter(n, family);
  for (const c of list) out.push(c);
  return out.finish();
}

