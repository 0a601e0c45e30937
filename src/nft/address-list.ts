/**
 * A big set's elements as numbers (issue #13 item 7): the network addresses of one prefix
 * length's members (length-groups.ts), ascending, as big-endian 32-bit words in one typed
 * array, one word per IPv4 address and four per IPv6 one. A million IPv4 elements take 4 MB
 * here against ~48 MB as an array of strings; their text is made only when something asks for
 * it (the spawned `nft`'s script, a listing compare), and the netlink load (netlink.ts) writes
 * the words as they are.
 *
 * It reads as a readonly string array does where the IR's consumers read one (`length`,
 * `slice`, iteration), so a set's elements are either (ir.ts Elements); what needs more
 * (random access, the words) asks `instanceof AddressList`.
 */
import { formatAddress, writeAddress, type Cidr, type Family } from "../model/cidr.ts";
import { CidrColumn, type CidrList } from "../model/cidr-column.ts";
import type { Positions } from "../model/sorted-patch.ts";
import { newTyped } from "../spares.ts";

/**
 * A set's elements (ir.ts NftSet): canonical text in an array, or, for a big per-prefix-length
 * set, an AddressList, which reads as text through `length`, `slice` and iteration.
 */
export type Elements = readonly string[] | AddressList;

const widthOf = (family: Family) => (family === 4 ? 1 : 4);

export class AddressList implements Iterable<string> {
  private constructor(
    readonly family: Family,
    /** `width` words per element, the first `length * width` in use (a spare may be longer). */
    private readonly words: Uint32Array,
    readonly length: number,
  ) {}

  /**
   * The network addresses of `members` (sorted by compareCidr, all of `family`), in their
   * order; with `prefix`, of those members of that length only. A column (model/cidr-column.ts)
   * whose every entry is taken lends its words: both are immutable, so the cover of a million
   * hosts and its one element list share 4 MB.
   */
  static of(family: Family, members: CidrList, prefix?: number): AddressList {
    const width = widthOf(family);
    if (members instanceof CidrColumn) {
      if (members.family !== family && members.length > 0) throw new Error(`internal error: a mixed or IPv${members.family} column in an IPv${family} element list`);
      let n = 0;
      for (let i = 0; i < members.length; i++) if (prefix === undefined || members.prefixAt(i) === prefix) n++;
      if (n === members.length) return new AddressList(family, members.words, n);
      const words = newTyped(Uint32Array, n * width);
      let k = 0;
      for (let i = 0; i < members.length; i++) {
        if (members.prefixAt(i) !== prefix) continue;
        for (let w = 0; w < width; w++) words[k++] = members.words[i * width + w]!;
      }
      return new AddressList(family, words, n);
    }
    const taken = prefix === undefined ? members : members.filter((c) => c.prefix === prefix);
    const words = newTyped(Uint32Array, taken.length * width);
    let k = 0;
    for (const c of taken) {
      if (c.family !== family) throw new Error(`internal error: an IPv${c.family} member in an IPv${family} element list`);
      words[k++] = c.a0;
      if (width === 4) {
        words[k++] = c.a1;
        words[k++] = c.a2;
        words[k++] = c.a3;
      }
    }
    // newTyped asked the pool for the words: that is the demand the next edit's spare is made for.
    return new AddressList(family, words, taken.length);
  }

  /** Word `k` (0 for IPv4; 0-3 for IPv6, most significant first) of element `i`. */
  word(i: number, k = 0): number {
    return this.words[i * widthOf(this.family) + k]!;
  }

  /** Element `i` as nft text (what formatCidr gives for the address's host prefix). */
  text(i: number): string {
    if (this.family === 4) return formatAddress(4, this.words[i]!);
    const w = this.words;
    const o = i * 4;
    return formatAddress(6, w[o]!, w[o + 1]!, w[o + 2]!, w[o + 3]!);
  }

  /**
   * Element `i`'s text as ASCII bytes into `out` from `at` (MAX_TEXT bytes of room), returning
   * their count: the text without a string made (ruleset-hash.ts hashes a million of them,
   * render.ts writes them into the state record).
   */
  ascii(i: number, out: Uint8Array, at = 0): number {
    const w = this.words;
    if (this.family === 4) return writeAddress(4, w[i]!, 0, 0, 0, out, at);
    const o = i * 4;
    return writeAddress(6, w[o]!, w[o + 1]!, w[o + 2]!, w[o + 3]!, out, at);
  }

  /** Elements `start` to `end` (exclusive) as text, as Array.prototype.slice takes them. */
  slice(start = 0, end = this.length): string[] {
    const from = Math.max(0, start < 0 ? this.length + start : start);
    const to = Math.min(this.length, end < 0 ? this.length + end : end);
    const out: string[] = [];
    for (let i = from; i < to; i++) out.push(this.text(i));
    return out;
  }

  *[Symbol.iterator](): Iterator<string> {
    for (let i = 0; i < this.length; i++) yield this.text(i);
  }

  /** As text, should a debug dump or a test serialise the IR. */
  toJSON(): string[] {
    return this.slice();
  }

  /** Element `i` against the network address of `c` (same family): negative, zero or positive. */
  compare(i: number, c: Cidr): number {
    const w = this.words;
    if (this.family === 4) return w[i]! - c.a0;
    const o = i * 4;
    return w[o]! - c.a0 || w[o + 1]! - c.a1 || w[o + 2]! - c.a2 || w[o + 3]! - c.a3;
  }

  /** Element `i` against element `j` of `other` (same family). */
  compareWith(i: number, other: AddressList, j: number): number {
    const width = widthOf(this.family);
    for (let k = 0; k < width; k++) {
      const d = this.words[i * width + k]! - other.words[j * width + k]!;
      if (d !== 0) return d;
    }
    return 0;
  }

  /** The index of the element that is the address of host prefix `c`, or -1 (a binary search). */
  indexOf(c: Cidr): number {
    if (c.family !== this.family || c.prefix !== (this.family === 4 ? 32 : 128)) return -1;
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compare(mid, c) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.length && this.compare(lo, c) === 0 ? lo : -1;
  }

  /** Whether the two lists hold the same elements in the same order. */
  equals(other: AddressList): boolean {
    if (other === this || (other.length === 0 && this.length === 0)) return true;
    if (other.family !== this.family || other.length !== this.length) return false;
    const n = this.length * widthOf(this.family);
    for (let i = 0; i < n; i++) if (this.words[i] !== other.words[i]) return false;
    return true;
  }

  /**
   * This list without the elements at `at.removedAt` and with the network address of
   * `added[j]` inserted before element `at.addedAt[j]` (sorted-patch.ts positionsAt), as a new
   * list: a few copies of word runs, into a spare when one is ready.
   */
  patched(at: Positions, added: readonly Cidr[]): AddressList {
    const width = widthOf(this.family);
    const { removedAt, addedAt } = at;
    const n = this.length;
    const length = n - removedAt.length + added.length;
    const out = newTyped(Uint32Array, length * width);
    let k = 0;
    let i = 0;
    let r = 0;
    let a = 0;
    const copy = (to: number) => {
      if (to > i) out.set(this.words.subarray(i * width, to * width), k * width);
      k += to - i;
      i = to;
    };
    while (a < addedAt.length || r < removedAt.length) {
      const nextA = a < addedAt.length ? addedAt[a]! : n + 1;
      const nextR = r < removedAt.length ? removedAt[r]! : n + 1;
      if (nextA <= nextR) {
        copy(nextA);
        const c = added[a++]!;
        out[k * width] = c.a0;
        if (width === 4) {
          out[k * 4 + 1] = c.a1;
          out[k * 4 + 2] = c.a2;
          out[k * 4 + 3] = c.a3;
        }
        k++;
      } else {
        copy(nextR);
        i++;
        r++;
      }
    }
    copy(n);
    if (k !== length) throw new Error("internal error: an address list patch lost elements");
    return new AddressList(this.family, out, length);
  }
}

/** Room for an element's text: IPv6 takes at most 39 characters (eight groups of four hex digits); 45 fits any form with an IPv4 tail too. */
export const MAX_TEXT = 45;

/** Scratch for joinedElements: the text of up to 16 elements and their separators. */
let scratch = new Uint8Array(16 * (MAX_TEXT + 2));

/**
 * Elements `start` to `end` (exclusive) joined by ", ", as one flat string: an address list
 * writes them as bytes, no string made per element (a million-element script is rendered for
 * the spawned nft: ~1M strings less of garbage).
 */
export function joinedElements(elements: Elements, start: number, end: number): string {
  if (!(elements instanceof AddressList)) return elements.slice(start, end).join(", ");
  const to = Math.min(end, elements.length);
  if (scratch.length < (to - start) * (MAX_TEXT + 2)) scratch = new Uint8Array((to - start) * (MAX_TEXT + 2));
  const n = writeJoined(elements, start, to, scratch, 0);
  return String.fromCharCode.apply(null, scratch.subarray(0, n) as unknown as number[]);
}

/** Writes elements `start` to `end` (exclusive) of `list` joined by ", " as ASCII into `out` at `at` ((MAX_TEXT + 2) bytes of room each); the new end. */
export function writeJoined(list: AddressList, start: number, end: number, out: Uint8Array, at: number): number {
  let n = at;
  for (let i = start; i < end; i++) {
    if (i > start) {
      out[n++] = 44;
      out[n++] = 32;
    }
    n += list.ascii(i, out, n);
  }
  return n;
}

/** The elements as an array of text: the array itself when they are one. */
export function elementTexts(elements: Elements): readonly string[] {
  return elements instanceof AddressList ? elements.slice() : elements;
}

/** `(i, j) =>` whether element i of `a` is element j of `b` (words compared when both are address lists, text otherwise). */
export function elementsEqualAt(a: Elements, b: Elements): (i: number, j: number) => boolean {
  if (a instanceof AddressList && b instanceof AddressList) {
    if (a.family !== b.family) return () => false;
    return a.family === 4 ? (i, j) => a.word(i) === b.word(j) : (i, j) => a.compareWith(i, b, j) === 0;
  }
  const x = elementTexts(a);
  const y = elementTexts(b);
  return (i, j) => x[i] === y[j];
}

/** Whether `a` and `b` hold the same elements in the same order. */
export function sameElementOrder(a: Elements, b: Elements): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  if (a instanceof AddressList && b instanceof AddressList) return a.equals(b);
  const equal = elementsEqualAt(a, b);
  for (let i = 0; i < a.length; i++) if (!equal(i, i)) return false;
  return true;
}
