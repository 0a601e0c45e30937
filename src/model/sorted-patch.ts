/**
 * Patching a sorted list by a few removals and insertions (issue #13), the list's owner
 * keeping the old one: searches that go on from where the last ended find where each change goes (O(k log(n/k))), then one
 * copy makes the new array: k log n comparisons rather than one per item, which matters at a
 * million items. A list that runs parallel to
 * the sorted one (its items' nft text) is patched with the same positions.
 */
import { newArray } from "../spares.ts";

/** Where a set change falls in a sorted list: indices of the removed items, insertion points of the added ones. */
export interface Positions {
  /** Index in `from` of each removed item, increasing. */
  readonly removedAt: readonly number[];
  /** For each added item, the index in `from` it goes before (from.length: at the end), non-decreasing. */
  readonly addedAt: readonly number[];
}

/**
 * Where `removed` and `added` (each sorted by `compare`) fall in `from` (sorted, no two items
 * equal): undefined when a removed item is not in `from` or an added one is (the change does
 * not belong to this list). `compare` orders a list item against a change's item (the two may
 * be of different types, e.g. an element's text against a CIDR).
 */
export function positionsOf<S, K>(from: readonly S[], removed: readonly K[], added: readonly K[], compare: (item: S, key: K) => number): Positions | undefined {
  return positionsAt(from.length, removed, added, (j, x) => compare(from[j]!, x));
}

/** positionsOf for a sorted list of `n` items read through `compareAt(j, key)` (item j against a change's item): a typed list's. */
export function positionsAt<K>(n: number, removed: readonly K[], added: readonly K[], compareAt: (j: number, key: K) => number): Positions | undefined {
  // Each search starts where the last one ended (galloping): k changes cost O(k log(n/k))
  // probes, and changes that lie together (10,000 lines replaced) about two probes each; one
  // binary search per change from scratch cost ~20 probes each, the whole of a 10k edit's
  // element patch when a probe parses element text.
  const removedAt: number[] = [];
  let hint = 0;
  for (const x of removed) {
    const i = firstNotBelow(n, (j) => compareAt(j, x) < 0, hint);
    if (i >= n || compareAt(i, x) !== 0) return undefined;
    if (removedAt.length > 0 && removedAt[removedAt.length - 1]! >= i) return undefined;
    removedAt.push(i);
    hint = i + 1;
  }
  const addedAt: number[] = [];
  let r = 0;
  hint = 0;
  for (const x of added) {
    const i = firstNotBelow(n, (j) => compareAt(j, x) < 0, hint);
    while (r < removedAt.length && removedAt[r]! < i) r++;
    if (i < n && compareAt(i, x) === 0 && removedAt[r] !== i) return undefined;
    if (addedAt.length > 0 && addedAt[addedAt.length - 1]! > i) return undefined;
    addedAt.push(i);
    hint = i;
  }
  return { removedAt, addedAt };
}

/**
 * The first index in [0, n] at which `below` (true on a prefix of the indices, false after) is
 * false, searched outward from `hint` by doubling steps and then bisected: O(log d) probes
 * for an answer d away from the hint.
 */
export function firstNotBelow(n: number, below: (i: number) => boolean, hint: number): number {
  const h = hint < 0 ? 0 : hint > n ? n : hint;
  let lo: number;
  let hi: number;
  if (h < n && below(h)) {
    lo = h + 1;
    let step = 1;
    let p = h + step;
    while (p < n && below(p)) {
      lo = p + 1;
      step *= 2;
      p = h + step;
    }
    hi = p < n ? p : n;
  } else {
    hi = h;
    let step = 1;
    let p = h - step;
    while (p >= 0 && !below(p)) {
      hi = p;
      step *= 2;
      p = h - step;
    }
    lo = p >= 0 ? p + 1 : 0;
  }
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (below(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** `from` with the items at `at.removedAt` dropped and `added[j]` inserted before `from[at.addedAt[j]]`, as a new array. */
export function applyPositions<U>(from: readonly U[], at: Positions, added: readonly U[]): U[] {
  const { removedAt, addedAt } = at;
  const n = from.length;
  const out = newArray<U>(n - removedAt.length + added.length);
  let k = 0;
  let i = 0;
  let r = 0;
  let a = 0;
  for (;;) {
    const nextA = a < addedAt.length ? addedAt[a]! : n + 1;
    const nextR = r < removedAt.length ? removedAt[r]! : n;
    const stop = Math.min(nextA, nextR, n);
    for (; i < stop; i++) out[k++] = from[i]!;
    if (nextA === i) out[k++] = added[a++]!;
    else if (nextR === i && i < n) {
      i++;
      r++;
    } else break;
  }
  if (k !== out.length) throw new Error("internal error: a sorted patch lost items");
  return out;
}

/** `from` (sorted by `compare`, no two equal) without `removed` and with `added`; undefined when the change does not fit `from`. */
export function patchSorted<T>(from: readonly T[], removed: readonly T[], added: readonly T[], compare: (a: T, b: T) => number): T[] | undefined {
  const at = positionsOf(from, removed, added, compare);
  return at && applyPositions(from, at, added);
}

/** The first index whose item is not less than `x`. */
export function lowerBound<S, K>(list: readonly S[], x: K, compare: (item: S, key: K) => number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compare(list[mid]!, x) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
