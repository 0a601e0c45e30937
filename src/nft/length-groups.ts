/**
 * A big selector set's members by prefix length, and each length's nft elements (issue #13),
 * patched when the members were (resolve/set-memo.ts marks a patched member list with
 * derive.ts markSetChange): the groups and element lists of the last build are kept per array
 * (WeakMaps, so they go with the arrays), and a one-address change costs k log n searches
 * plus one copy of the group it falls in and of that group's elements, not a million formats.
 * Every new element list made by a patch is itself marked as a set change of the old one (its
 * `removed`/`added` in the list's own order, members' order), so the delta engine can edit the
 * kernel's set by those alone.
 */
import { markSetChange, setChangeOf } from "../derive.ts";
import { compareCidr, formatCidr, type Cidr } from "../model/cidr.ts";
import { applyPositions, patchSorted, positionsOf } from "../model/sorted-patch.ts";

/** Members by prefix length, per member list (a big set is looked up by every rule, in both tables, that uses its selector). */
const lengthGroups = new WeakMap<readonly Cidr[], Map<number, readonly Cidr[]>>();

/** Each group's elements (network addresses), per group array. */
const groupElements = new WeakMap<readonly Cidr[], string[]>();

const stats = { groupsPatched: 0, elementsPatched: 0 };

/** How often groups and element lists were patched rather than made (tests). */
export function lengthGroupStats(): { groupsPatched: number; elementsPatched: number } {
  return { ...stats };
}

/**
 * `members` (normalised: sorted by compareCidr) by prefix length, each group in members'
 * order. A list of one length is its own group (no copy).
 */
export function groupedByLength(members: readonly Cidr[]): Map<number, readonly Cidr[]> {
  const known = lengthGroups.get(members);
  if (known) return known;
  const change = setChangeOf(members);
  const prev = change && lengthGroups.get(change.from);
  const byLength = (prev && change && patchedGroups(members, prev, change.from, change.removed, change.added)) ?? freshGroups(members);
  lengthGroups.set(members, byLength);
  return byLength;
}

function freshGroups(members: readonly Cidr[]): Map<number, readonly Cidr[]> {
  if (members.length > 0 && members.every((c) => c.prefix === members[0]!.prefix)) return new Map([[members[0]!.prefix, members]]);
  const byLength = new Map<number, Cidr[]>();
  for (const c of members) {
    const group = byLength.get(c.prefix);
    if (group) group.push(c);
    else byLength.set(c.prefix, [c]);
  }
  return byLength;
}

/** The previous groups with the change applied: untouched groups kept (same arrays), touched ones patched and marked. */
function patchedGroups(members: readonly Cidr[], prev: Map<number, readonly Cidr[]>, from: readonly Cidr[], removed: readonly Cidr[], added: readonly Cidr[]): Map<number, readonly Cidr[]> | undefined {
  const touched = new Map<number, { removed: Cidr[]; added: Cidr[] }>();
  const at = (p: number) => touched.get(p) ?? touched.set(p, { removed: [], added: [] }).get(p)!;
  for (const c of removed) at(c.prefix).removed.push(c);
  for (const c of added) at(c.prefix).added.push(c);
  const byLength = new Map(prev);
  for (const [p, change] of touched) {
    const group = prev.get(p) ?? [];
    // A list of one length that stays so is its own group, and members' own mark describes it.
    const next = group === from && touched.size === 1 ? members : patchSorted(group, change.removed, change.added, compareCidr);
    if (!next) return undefined;
    if (next !== members) markSetChange(next, { from: group, ...change });
    if (next.length === 0) byLength.delete(p);
    else byLength.set(p, next);
  }
  stats.groupsPatched++;
  return byLength;
}

/**
 * The elements of one per-length hash set: each member's network address as nft text, in
 * the group's order. Patched from the previous group's elements when the group was.
 */
export function lengthSetElements(group: readonly Cidr[], hostBits: number): string[] {
  const known = groupElements.get(group);
  if (known) return known;
  const element = (c: Cidr) => formatCidr(c.prefix === hostBits ? c : { ...c, prefix: hostBits });
  const change = setChangeOf(group);
  const prev = change && groupElements.get(change.from);
  const at = prev && change && positionsOf(change.from, change.removed, change.added, compareCidr);
  let elements: string[];
  if (prev && change && at) {
    const removed = change.removed.map(element);
    const added = change.added.map(element);
    elements = applyPositions(prev, at, added);
    markSetChange(elements, { from: prev, removed, added });
    stats.elementsPatched++;
  } else elements = group.map(element);
  groupElements.set(group, elements);
  return elements;
}
