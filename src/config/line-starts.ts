/**
 * Where each item line of a big list starts, carried from one version of the file to the next
 * (list-splice.ts) without copying a million offsets per edit: a piece table. Each piece is a
 * run of an immutable Int32Array (the offsets found at the full parse, or the lines one edit
 * inserted) plus how far the text before it has moved since. An edit keeps the pieces before
 * it, splits at most two, adds one and shifts the rest: O(pieces), not O(items). Past
 * MAX_PIECES the pieces are copied into one array again (O(items), every few dozen edits).
 * Values never change in place, so an older version stays valid for the resources that use it.
 */

interface Piece {
  /** Offsets, shared and never written after construction. */
  readonly src: Int32Array;
  /** The run src[from..to). */
  readonly from: number;
  readonly to: number;
  /** Added to every offset of the run: how much the text before it grew since. */
  readonly delta: number;
}

const MAX_PIECES = 64;

export class LineStarts {
  /** ends[p]: how many offsets pieces 0..p hold. */
  private readonly ends: Int32Array;

  private constructor(private readonly pieces: readonly Piece[]) {
    this.ends = new Int32Array(pieces.length);
    let n = 0;
    pieces.forEach((p, i) => (this.ends[i] = n += p.to - p.from));
  }

  /** The offsets of `starts` (taken as is: the caller never writes to it again). */
  static of(starts: Int32Array): LineStarts {
    return new LineStarts([{ src: starts, from: 0, to: starts.length, delta: 0 }]);
  }

  get length(): number {
    return this.ends.length === 0 ? 0 : this.ends[this.ends.length - 1]!;
  }

  /** The k-th offset (0 <= k < length). */
  at(k: number): number {
    let lo = 0;
    let hi = this.pieces.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ends[mid]! > k) hi = mid;
      else lo = mid + 1;
    }
    const p = this.pieces[lo]!;
    return p.src[p.from + k - (lo === 0 ? 0 : this.ends[lo - 1]!)]! + p.delta;
  }

  /** The first k with at(k) >= x (offsets increase), or length. */
  lowerBound(x: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.at(mid) < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** `removed` offsets at `index` replaced by `inserted`, every one after them moved by `delta`. */
  splice(index: number, removed: number, inserted: Int32Array, delta: number): LineStarts {
    const cut = index + removed;
    const head: Piece[] = [];
    const tail: Piece[] = [];
    let a = 0;
    for (const p of this.pieces) {
      const b = a + p.to - p.from;
      if (a < index) head.push(b <= index ? p : { src: p.src, from: p.from, to: p.from + index - a, delta: p.delta });
      if (b > cut) tail.push({ src: p.src, from: a >= cut ? p.from : p.from + cut - a, to: p.to, delta: p.delta + delta });
      a = b;
    }
    const pieces = inserted.length > 0 ? [...head, { src: inserted, from: 0, to: inserted.length, delta: 0 }, ...tail] : [...head, ...tail];
    return new LineStarts(pieces.length > MAX_PIECES ? [compact(pieces)] : pieces);
  }
}

/** The pieces' offsets in one new array. */
function compact(pieces: readonly Piece[]): Piece {
  let n = 0;
  for (const p of pieces) n += p.to - p.from;
  const out = new Int32Array(n);
  let k = 0;
  for (const p of pieces) {
    if (p.delta === 0) out.set(p.src.subarray(p.from, p.to), k);
    else for (let i = p.from; i < p.to; i++) out[k + i - p.from] = p.src[i]! + p.delta;
    k += p.to - p.from;
  }
  return { src: out, from: 0, to: n, delta: 0 };
}
