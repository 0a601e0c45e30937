/**
 * A big selector set's members by prefix length, and each length's nft elements (issue #13),
 * patched when the members were: resolve/set-memo.ts marks a patched member list with
 * derive.ts markSetChange, and the groups of the last build are kept per member array (a
 * WeakMap, so they go with the arrays). A one-address change then costs k log n searches plus
 * one copy of the element list it falls in, not a million formats.
 *
 * Only lengths with few members (SMALL_GROUP or fewer: the rare interval set needs them as
 * CIDRs) keep their members as an array from build to build. A big length keeps just its
 * element list, the addresses as words (address-list.ts: 4 MB at a million IPv4 elements, where
 * text took ~48 MB); its changes are placed by searches on those words that go on from where the
 * last ended (sorted-patch.ts positionsAt): a million-entry group array would cost one more
 * fresh 8 MB array per edit, and fresh memory is what an edit of a big set pays most for (page
 * faults, ~3 ms per MB here).
 *
 * Every element list made by a patch is marked as a set change of the one it was patched
 * from (`removed`/`added` in the list's own order, addresses ascending), so the delta engine
 * can edit the kernel's set by those alone.
 */
import { markSetChange, setChangeOf } from "../derive.ts";
import { compareCidr, formatCidr, makeCidr, maskWord, type Cidr } from "../model/cidr.ts";
import { cidrArray, cidrAt, CidrColumn, type CidrList } from "../model/cidr-column.ts";
import { firstNotBelow, patchSorted, positionsAt } from "../model/sorted-patch.ts";
import { AddressList } from "./address-list.ts";

/** Lengths with at most this many members keep their members as an array (the rare set takes them). */
const SMALL_GROUP = 4096;

/** A member list's prefix lengths: counts, each length's members and its hash set's elements. */
export interface LengthGroups {
  /** How many members have each length present. */
  readonly counts: ReadonlyMap<number, number>;
  /** The members of one length, in the list's order. */
  members(length: number): CidrList;
  /** One length's hash-set elements: each member's network address, in the list's order. */
  elements(length: number): AddressList;
}

/** The element list of a length still to be made by patching the last build's. */
interface Pending {
  from: AddressList;
  removed: Cidr[];
  added: Cidr[];
}

const known = new WeakMap<CidrList, Groups>();

const stats = { groupsPatched: 0, elementsPatched: 0 };

/** How often groups and element lists were patched rather than made (tests). */
export function lengthGroupStats(): { groupsPatched: number; elementsPatched: number } {
  return { ...stats };
}

/** `members` (normalised: sorted by compareCidr, one family) by prefix length, patched from the last build's when they were. */
export function groupedByLength(members: CidrList): LengthGroups {
  const hit = known.get(members);
  if (hit) return hit;
  const change = setChangeOf<Cidr, CidrList>(members);
  const prev = change && known.get(change.from);
  const groups = (prev && change && prev.patched(members, change.removed, change.added)) ?? Groups.fresh(members);
  known.set(members, groups);
  return groups;
}

class Groups implements LengthGroups {
  private readonly lists = new Map<number, AddressList>();

  private constructor(
    private readonly source: CidrList,
    readonly counts: Map<number, number>,
    /** Members of the lengths that keep them (all lengths in a fresh build of an array; the small ones of a column's). */
    private readonly arrays: Map<number, CidrList>,
    /** Element lists to patch from the last build's, by length. */
    private readonly pending: Map<number, Pending>,
  ) {}

  static fresh(source: CidrList): Groups {
    if (source instanceof CidrColumn) return Groups.ofColumn(source);
    const arrays = new Map<number, Cidr[]>();
    for (const c of source) {
      const group = arrays.get(c.prefix);
      if (group) group.push(c);
      else arrays.set(c.prefix, [c]);
    }
    // A list of one length is its own group (no copy).
    if (arrays.size === 1) arrays.set(source[0]!.prefix, source as Cidr[]);
    return new Groups(source, new Map([...arrays].map(([p, g]) => [p, g.length])), arrays, new Map());
  }

  /** A column's groups: counted from its prefix bytes; only small lengths are made into arrays (a big one's elements come from the words). */
  private static ofColumn(source: CidrColumn): Groups {
    const byLength = new Uint32Array(129);
    for (let i = 0; i < source.length; i++) byLength[source.prefixAt(i)]!++;
    const counts = new Map<number, number>();
    const arrays = new Map<number, CidrList>();
    byLength.forEach((n, p) => void (n > 0 && counts.set(p, n)));
    if (counts.size === 1) arrays.set(source.prefixAt(0), source);
    else {
      // One pass, an object made only for a member of a small length.
      const small = new Map<number, Cidr[]>();
      for (const [p, n] of counts) if (n <= SMALL_GROUP) small.set(p, []);
      for (let i = 0; small.size > 0 && i < source.length; i++) small.get(source.prefixAt(i))?.push(source.at(i)!);
      for (const [p, g] of small) arrays.set(p, g);
    }
    return new Groups(source, counts, arrays, new Map());
  }

  /** The groups of `next`, which is this list without `removed` and with `added`; undefined when the change does not fit. */
  patched(next: CidrList, removed: readonly Cidr[], added: readonly Cidr[]): Groups | undefined {
    const touched = new Map<number, { removed: Cidr[]; added: Cidr[] }>();
    const at = (p: number) => touched.get(p) ?? touched.set(p, { removed: [], added: [] }).get(p)!;
    for (const c of removed) at(c.prefix).removed.push(c);
    for (const c of added) at(c.prefix).added.push(c);
    const counts = new Map(this.counts);
    const arrays = new Map(this.arrays);
    const pending = new Map(this.pending);
    for (const [p, change] of touched) {
      const count = (counts.get(p) ?? 0) - change.removed.length + change.added.length;
      if (count < 0) return undefined;
      if (count === 0) counts.delete(p);
      else counts.set(p, count);
      const group = this.arrays.get(p);
      arrays.delete(p);
      // A group that was the whole list stays the whole list (next is its patched self), else a small group is patched.
      if (group === this.source && touched.size === 1) arrays.set(p, next);
      else if (group && count <= SMALL_GROUP) {
        const patchedGroup = patchSorted(cidrArray(group), change.removed, change.added, compareCidr);
        if (!patchedGroup) return undefined;
        arrays.set(p, patchedGroup);
      }
      // The elements: patched from this build's when it made them (or would have: its own pending patch), else made when asked.
      const from = this.lists.get(p) ?? (this.pending.has(p) ? this.elements(p) : undefined);
      if (from) pending.set(p, { from, ...change });
      else pending.delete(p);
    }
    for (const [p, list] of this.lists) if (!touched.has(p)) pending.set(p, { from: list, removed: [], added: [] });
    // A column down to one length (a prefix gone again) is that length's group: its words are the elements again.
    if (counts.size === 1 && next instanceof CidrColumn) arrays.set(counts.keys().next().value!, next);
    stats.groupsPatched++;
    return new Groups(next, counts, arrays, pending);
  }

  members(length: number): CidrList {
    const kept = this.arrays.get(length);
    if (kept) return kept;
    const group = this.source.filter((c) => c.prefix === length);
    this.arrays.set(length, group);
    return group;
  }

  elements(length: number): AddressList {
    const made = this.lists.get(length);
    if (made) return made;
    const family = this.source.at(0)?.family ?? 4;
    const hostBits = family === 6 ? 128 : 32;
    const text = (c: Cidr) => formatCidr(c.prefix === hostBits ? c : { ...c, prefix: hostBits });
    const todo = this.pending.get(length);
    let elements: AddressList | undefined;
    if (todo && todo.removed.length === 0 && todo.added.length === 0) elements = todo.from;
    else if (todo) {
      const from = todo.from;
      const whole = this.arrays.get(length);
      if (whole === this.source && whole instanceof CidrColumn) {
        // A column of this one length (a million hosts): its words, patched already, are the elements.
        elements = AddressList.of(family, whole);
      } else {
        // The list is sorted by address: each probe reads the words of the element it lands on.
        const at = positionsAt(from.length, todo.removed, todo.added, (j, c: Cidr) => from.compare(j, c));
        if (at) elements = from.patched(at, todo.added);
      }
      if (elements) {
        markSetChange(elements, { from, removed: todo.removed.map(text), added: todo.added.map(text) });
        stats.elementsPatched++;
      }
    }
    // A big length of a column is read from its words (no array of its members made).
    elements ??= this.arrays.has(length) || !(this.source instanceof CidrColumn) ? AddressList.of(family, this.members(length)) : AddressList.of(family, this.source, length);
    this.pending.delete(length);
    this.lists.set(length, elements);
    return elements;
  }
}

const prefilterKnown = new WeakMap<CidrList, AddressList>();

/**
 * The elements of a big IPv6 set's prefilter (names.ts PREFILTER): the /`length` networks
 * (`length` ≤ 32: only the first word is masked) its members of that length or longer fall in,
 * distinct and ascending. Patched from the last build's when the members were, and marked as a
 * set change of it: a network goes when its last member does, which a search of the new
 * members tells (they are sorted and none covers another).
 */
export function prefilterElements(members: CidrList, length: number): AddressList {
  const hit = prefilterKnown.get(members);
  if (hit) return hit;
  const change = setChangeOf<Cidr, CidrList>(members);
  const prev = change && prefilterKnown.get(change.from);
  const elements = (prev && change && patchedPrefilter(prev, members, change.removed, change.added, length)) ?? freshPrefilter(members, length);
  prefilterKnown.set(members, elements);
  return elements;
}

const networkOf = (c: Cidr, length: number): Cidr => makeCidr(6, 128, maskWord(c.a0, length));

function freshPrefilter(members: CidrList, length: number): AddressList {
  const networks: Cidr[] = [];
  let last = -1;
  // A column's words and prefix bytes are read in place (no Cidr made per member).
  const column = members instanceof CidrColumn && members.family === 6 ? members : undefined;
  for (let i = 0; i < members.length; i++) {
    let prefix: number;
    let a0: number;
    if (column) {
      prefix = column.prefixAt(i);
      a0 = column.words[i * 4]!;
    } else {
      const c = cidrAt(members, i)!;
      prefix = c.prefix;
      a0 = c.a0;
    }
    if (prefix < length) continue;
    const w = maskWord(a0, length);
    if (w === last) continue; // sorted: a network's members are adjacent
    networks.push(makeCidr(6, 128, w));
    last = w;
  }
  return AddressList.of(6, networks);
}

function patchedPrefilter(prev: AddressList, members: CidrList, removed: readonly Cidr[], added: readonly Cidr[], length: number): AddressList | undefined {
  const has = (list: AddressList, c: Cidr) => list.indexOf(c) >= 0;
  const dedupe = (cs: Cidr[]) => cs.sort(compareCidr).filter((c, i) => i === 0 || c.a0 !== cs[i - 1]!.a0);
  const gained = dedupe(added.filter((c) => c.prefix >= length).map((c) => networkOf(c, length)).filter((n) => !has(prev, n)));
  const lost = dedupe(removed.filter((c) => c.prefix >= length).map((c) => networkOf(c, length)).filter((n) => has(prev, n) && !anyWithin(members, n.a0, length)));
  const at = positionsAt(prev.length, lost, gained, (j, c: Cidr) => prev.compare(j, c));
  if (!at) return undefined;
  const next = prev.patched(at, gained);
  markSetChange(next, { from: prev, removed: lost.map(formatCidr), added: gained.map(formatCidr) });
  return next;
}

/** Whether sorted, normalised `members` hold one of `length` or longer inside the /`length` network whose first word is `w`. */
function anyWithin(members: CidrList, w: number, length: number): boolean {
  const start: Cidr = { family: 6, prefix: 0, a0: w, a1: 0, a2: 0, a3: 0 }; // not makeCidr: it would clear w
  const below = members instanceof CidrColumn ? (i: number) => members.compareAt(i, start) < 0 : (i: number) => compareCidr(members[i]!, start) < 0;
  const first = cidrAt(members, firstNotBelow(members.length, below, 0));
  return first !== undefined && first.prefix >= length && maskWord(first.a0, length) === w;
}
