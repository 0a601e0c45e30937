/**
 * Big selector sets, built once and then patched (issue #13): a one-line edit of a
 * million-entry network set must cost what the edit costs. For each selector whose members
 * hold MEMO_MIN_MEMBERS CIDRs or more, the last build keeps the member lists it used (by
 * identity), a sorted index of every member as written (member-index.ts) and the normalised
 * cover it returned. The next build, finding the same lists, or lists spliced from them
 * (derive.ts: what the parse stage records for an edited file), patches instead of
 * recomputing:
 *
 *   1. the index: removed members out, added ones in (one copy into a mapped buffer);
 *   2. a change x covered by a member y present before and after (a host added inside a
 *      listed /16, a duplicate removed) cannot change the union, so it is set aside;
 *   3. every other x gets a region: x's range joined with the old merged ranges (runs of
 *      touching normalised blocks) that overlap or touch it; touching regions are joined. A
 *      region is then a union of whole merged ranges before and after the change (no member
 *      outside it reaches into it or touches it), so its part of the cover depends only on
 *      the members inside it. The changes are sorted, so each region's search goes on from
 *      where the last one ended (k changes: O(k log(n/k)), a 10k-line edit ~2 probes each),
 *      and all regions are re-normalised by one normalizeCidrs of their members together
 *      (apart and not touching, they cannot merge with each other);
 *   4. old blocks of the regions that are not new are removed, new ones that are not old
 *      added: the new cover is the old array patched (O(k log(n/k)) + one copy), marked with
 *      markSetChange so the compiler patches its per-length sets and their text in turn.
 *
 * The result equals normalizeCidrs of all members (the unit test checks it against cold
 * builds step by step). Anything unexpected (a list neither kept nor spliced nor short, a
 * removed member not in the index) builds from nothing.
 */
import { markSetChange, spliceOf, type Splice } from "../derive.ts";
import { compareCidr, makeCidr, type Cidr } from "../model/cidr.ts";
import { cidrAt, countFamily, type CidrColumn, type CidrList } from "../model/cidr-column.ts";
import { normalizeCidrs } from "../model/cidr-normalize.ts";
import { firstNotBelow } from "../model/sorted-patch.ts";
import { buildIndexV4, buildIndexV6, lastOf, masked, PendingIndex, startOf, type MemberIndex } from "./member-index.ts";

/** Sets with fewer members are built from nothing every time: small configs pay nothing for the memo. */
export const MEMO_MIN_MEMBERS = 4096;

/**
 * A member list this short that is not the one used last time is taken as removed and added
 * whole (what stayed cancels out: a sort of both, ~2 ms at this size): HostEndpoint
 * expectedIPs and other network sets may be made anew by every build.
 */
const SHORT_LIST = 4096;

interface FamilyMemo {
  /** Every member of this family as written, sorted. */
  index: MemberIndex;
  /** The normalised cover returned for them (a column: no object per block). */
  norm: CidrColumn;
}

interface SetMemo {
  /** The member lists the set was built from, each with how often it was used. */
  sources: Map<CidrList, number>;
  v4: FamilyMemo;
  v6: FamilyMemo;
}

let memo = new Map<string, SetMemo>();

const stats = { built: 0, patched: 0, reused: 0 };

/**
 * How big sets were made since the process started (or the last clearSetMemo), for tests and
 * benches: built from nothing, patched from the last build's (some list was edited), reused
 * (the very same lists).
 */
export function setMemoStats(): { built: number; patched: number; reused: number } {
  return { ...stats };
}

/** Forgets every memo: the next build makes its sets from nothing (tests compare against such builds). */
export function clearSetMemo(): void {
  memo = new Map();
  stats.built = 0;
  stats.patched = 0;
  stats.reused = 0;
}

/** Runs `build` with an empty memo and puts the memo back afterwards: a cold build beside a chain of patched ones (tests). */
export function withColdSets<T>(build: () => T): T {
  const saved = memo;
  const counts = { ...stats };
  memo = new Map();
  try {
    return build();
  } finally {
    memo = saved;
    Object.assign(stats, counts);
  }
}

/** One build's use of the memo: sets are looked up in the last build's memo and recorded for the next. */
export class SetMemoBuild {
  private readonly next = new Map<string, SetMemo>();

  /** The normalised members of `lists` (the nets of the members a selector matches), per family. */
  members(key: string, lists: readonly CidrList[]): { v4: CidrColumn; v6: CidrColumn } {
    const prev = memo.get(key);
    const change = prev && changesOf(prev.sources, lists);
    let v4: FamilyMemo | undefined;
    let v6: FamilyMemo | undefined;
    if (prev && change) {
      v4 = patchFamily(prev.v4, netChange(change, 4));
      v6 = v4 && patchFamily(prev.v6, netChange(change, 6));
      if (v4 && v6) {
        if (change.same) stats.reused++;
        else stats.patched++;
      }
    }
    if (!v4 || !v6) {
      let n4 = 0;
      let n6 = 0;
      for (const list of lists) {
        n4 += countFamily(list, 4);
        n6 += countFamily(list, 6);
      }
      v4 = buildIndexV4(lists, n4);
      v6 = buildIndexV6(lists, n6);
      stats.built++;
    }
    const sources = new Map<CidrList, number>();
    for (const list of lists) sources.set(list, (sources.get(list) ?? 0) + 1);
    this.next.set(key, { sources, v4, v6 });
    return { v4: v4.norm, v6: v6.norm };
  }

  /** Makes this build's memo the one the next build starts from (sets no longer used are dropped). */
  finish(): void {
    memo = this.next;
  }
}

/** Members removed and added since the memo's lists, or undefined when they cannot be told cheaply. */
function changesOf(sources: Map<CidrList, number>, lists: readonly CidrList[]): { removed: Cidr[]; added: Cidr[]; same: boolean } | undefined {
  const unused = new Map(sources);
  const fresh: CidrList[] = [];
  for (const list of lists) {
    const n = unused.get(list);
    if (n) unused.set(list, n - 1);
    else fresh.push(list);
  }
  const removed: Cidr[] = [];
  const added: Cidr[] = [];
  for (const list of fresh) {
    const s = spliceOf<Cidr, CidrList>(list);
    const n = s && unused.get(s.from);
    if (s && n && fitsSplice(list, s)) {
      unused.set(s.from, n - 1);
      for (let i = s.index; i < s.index + s.removed; i++) removed.push(cidrAt(s.from, i)!);
      for (const c of s.inserted) added.push(c);
    } else if (list.length <= SHORT_LIST) {
      for (const c of list) added.push(c);
    } else return undefined;
  }
  for (const [list, n] of unused) {
    if (n === 0) continue;
    if (list.length > SHORT_LIST) return undefined;
    for (let k = 0; k < n; k++) for (const c of list) removed.push(c);
  }
  return { removed, added, same: fresh.length === 0 && lists.length === [...sources.values()].reduce((a, b) => a + b, 0) };
}

/** The cheap checks that `list` is what the splice record says (lengths, the inserted items, the items either side), by value. */
function fitsSplice(list: CidrList, s: Splice<Cidr, CidrList>): boolean {
  const same = (a: Cidr | undefined, b: Cidr | undefined) => a === b || (a !== undefined && b !== undefined && compareCidr(a, b) === 0);
  if (s.index < 0 || s.removed < 0 || s.index + s.removed > s.from.length) return false;
  if (list.length !== s.from.length - s.removed + s.inserted.length) return false;
  for (let j = 0; j < s.inserted.length; j++) if (!same(cidrAt(list, s.index + j), s.inserted[j])) return false;
  const after = s.index + s.inserted.length;
  if (s.index > 0 && !same(cidrAt(list, s.index - 1), cidrAt(s.from, s.index - 1))) return false;
  return after >= list.length || same(cidrAt(list, after), cidrAt(s.from, s.index + s.removed));
}

/** One family's part of a change, masked and sorted, with members both removed and added cancelled. */
function netChange(change: { removed: Cidr[]; added: Cidr[] }, family: 4 | 6): { removed: Cidr[]; added: Cidr[] } {
  const r = change.removed.filter((c) => c.family === family).map(masked).sort(compareCidr);
  const a = change.added.filter((c) => c.family === family).map(masked).sort(compareCidr);
  const removed: Cidr[] = [];
  const added: Cidr[] = [];
  let i = 0;
  let j = 0;
  while (i < r.length || j < a.length) {
    const d = i >= r.length ? 1 : j >= a.length ? -1 : compareCidr(r[i]!, a[j]!);
    if (d < 0) removed.push(r[i++]!);
    else if (d > 0) added.push(a[j++]!);
    else {
      i++;
      j++;
    }
  }
  return { removed, added };
}

/** A family's memo after the change (the same object when nothing changed), or undefined when the index does not hold a removed member. */
function patchFamily(fm: FamilyMemo, change: { removed: Cidr[]; added: Cidr[] }): FamilyMemo | undefined {
  const { removed, added } = change;
  if (removed.length === 0 && added.length === 0) return fm;
  const index = fm.index.patched(removed, added);
  if (!index) return undefined;
  // An index that is its cover (member-index.ts CoverIndex) stays one if the cover changes as the members did.
  const settled = (norm: CidrColumn, gone: readonly Cidr[], come: readonly Cidr[]) => (index instanceof PendingIndex ? index.settle(norm, gone, come) : index);
  const changed = mergeSorted(removed, added).filter((x) => !neutral(x, fm.index, index));
  if (changed.length === 0) return { index: settled(fm.norm, [], []), norm: fm.norm };
  // All regions at once (issue #13, a 10k + 10k edit): they are sorted, apart and not touching,
  // so the members of all of them normalise to the concatenation of each one's cover: one
  // normalizeCidrs and one diff against the old blocks of all regions, not one per region.
  const members: Cidr[] = [];
  const old: Cidr[] = [];
  let hint = 0;
  for (const [s, l] of joinRegions(regionsOf(changed, fm.norm))) {
    for (const c of index.between(s, l)) members.push(c);
    const lo = firstStartAtLeast(fm.norm, s, hint);
    hint = firstStartAtLeast(fm.norm, l + 1n, lo);
    for (let i = lo; i < hint; i++) old.push(fm.norm.at(i)!);
  }
  const gone: Cidr[] = [];
  const come: Cidr[] = [];
  diffBlocks(old, 0, old.length, normalizeCidrs(members), gone, come);
  if (gone.length === 0 && come.length === 0) return { index: settled(fm.norm, [], []), norm: fm.norm };
  const norm = fm.norm.patched(gone, come);
  if (!norm) return undefined; // cannot happen: gone ⊆ old, come disjoint from what stays
  markSetChange<Cidr, CidrColumn>(norm, { from: fm.norm, removed: gone, added: come });
  return { index: settled(norm, gone, come), norm };
}

/** Two lists sorted by compareCidr as one. */
function mergeSorted(a: readonly Cidr[], b: readonly Cidr[]): Cidr[] {
  const out: Cidr[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) out.push(j >= b.length || (i < a.length && compareCidr(a[i]!, b[j]!) <= 0) ? a[i++]! : b[j++]!);
  return out;
}

/** True when `x` lies inside a member present both before and after (itself or a shorter prefix): its change cannot change the union. */
function neutral(x: Cidr, before: MemberIndex, after: MemberIndex): boolean {
  for (let p = 0; p <= x.prefix; p++) {
    if (before.lengths[p] === 0 || after.lengths[p] === 0) continue;
    const y = p === x.prefix ? x : makeCidr(x.family, p, x.a0, x.a1, x.a2, x.a3);
    if (before.count(y) > 0 && after.count(y) > 0) return true;
  }
  return false;
}

/** Each of `xs` (sorted) as its region: its range joined with the old merged ranges that overlap or touch it, [first, last] address. */
function regionsOf(xs: readonly Cidr[], norm: CidrColumn): [bigint, bigint][] {
  const out: [bigint, bigint][] = [];
  let hint = 0;
  for (const x of xs) {
    const r = regionOf(x, norm, hint);
    out.push(r.region);
    hint = r.hint;
  }
  return out;
}

/** x's range joined with the old merged ranges that overlap or touch it; `hint`: where the search for them starts. */
function regionOf(x: Cidr, norm: CidrColumn, hint: number): { region: [bigint, bigint]; hint: number } {
  if (x.family === 4) return regionOfV4(x, norm, hint);
  const xs = startOf(x);
  const xe = lastOf(x);
  // Blocks are disjoint and sorted, so those touching x are a run ending at the last block that starts at or before xe + 1.
  const after = firstStartAtLeast(norm, xe + 2n, hint);
  let hi = after - 1;
  let lo = hi + 1;
  const at = (i: number) => norm.at(i)!;
  while (lo > 0 && lastOf(at(lo - 1)) >= xs - 1n) lo--;
  if (lo > hi) return { region: [xs, xe], hint: after };
  while (lo > 0 && lastOf(at(lo - 1)) + 1n === startOf(at(lo))) lo--;
  while (hi + 1 < norm.length && lastOf(at(hi)) + 1n === startOf(at(hi + 1))) hi++;
  const s = startOf(at(lo));
  const l = lastOf(at(hi));
  return { region: [s < xs ? s : xs, l > xe ? l : xe], hint: after };
}

/** regionOf for IPv4, in numbers (exact below 2^53): no BigInt made per block looked at. */
function regionOfV4(x: Cidr, norm: CidrColumn, hint: number): { region: [bigint, bigint]; hint: number } {
  const start = (i: number) => norm.wordAt(i, 0);
  const end = (i: number) => norm.wordAt(i, 0) + 2 ** (32 - norm.prefixAt(i)) - 1;
  const xs = x.a0;
  const xe = x.a0 + 2 ** (32 - x.prefix) - 1;
  const after = firstNotBelow(norm.length, (i) => start(i) < xe + 2, hint);
  let hi = after - 1;
  let lo = hi + 1;
  while (lo > 0 && end(lo - 1) >= xs - 1) lo--;
  if (lo > hi) return { region: [BigInt(xs), BigInt(xe)], hint: after };
  while (lo > 0 && end(lo - 1) + 1 === start(lo)) lo--;
  while (hi + 1 < norm.length && end(hi) + 1 === start(hi + 1)) hi++;
  const s = start(lo);
  const l = end(hi);
  return { region: [BigInt(s < xs ? s : xs), BigInt(l > xe ? l : xe)], hint: after };
}

/** Regions sorted, overlapping and touching ones joined. */
function joinRegions(regions: [bigint, bigint][]): [bigint, bigint][] {
  regions.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: [bigint, bigint][] = [];
  for (const r of regions) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1n) {
      if (r[1] > last[1]) last[1] = r[1];
    } else out.push([r[0], r[1]]);
  }
  return out;
}

/** The first block of the sorted, disjoint `norm` that starts at or after `at`, searched from `hint` (sorted-patch.ts firstNotBelow). */
function firstStartAtLeast(norm: CidrColumn, at: bigint, hint: number): number {
  // An IPv4 block's start compared as a number: no BigInt made per probe.
  if (norm.length > 0 && norm.familyAt(0) === 4 && at <= 0x100000001n) {
    const a = Number(at);
    return firstNotBelow(norm.length, (i) => norm.wordAt(i, 0) < a, hint);
  }
  return firstNotBelow(norm.length, (i) => startOf(norm.at(i)!) < at, hint);
}

/** old[lo..hi) against fresh (both sorted): blocks only in old to `gone`, only in fresh to `come`. */
function diffBlocks(old: readonly Cidr[], lo: number, hi: number, fresh: readonly Cidr[], gone: Cidr[], come: Cidr[]): void {
  let i = lo;
  let j = 0;
  while (i < hi || j < fresh.length) {
    const d = i >= hi ? 1 : j >= fresh.length ? -1 : compareCidr(old[i]!, fresh[j]!);
    if (d < 0) gone.push(old[i++]!);
    else if (d > 0) come.push(fresh[j++]!);
    else {
      i++;
      j++;
    }
  }
}
