/**
 * What applying a config would change against what is in force (`hostwall diff`, POST /diff):
 * two ruleset views (view.ts) in, one document out. Pure.
 *
 * Lists are compared as sequences: an entry only in the new list is added, only in the old one
 * removed, and among the entries both hold, those outside a longest common subsequence moved
 * (order decides in a firewall: a Deny moved before an Allow changes verdicts). Set elements are
 * counted, with the first few of each side named; a million-entry deny list is a count.
 */
import type { ChainKey, RulesetView, RuleView } from "./view.ts";

/** How many set elements are named per side. */
export const FIRST_ELEMENTS = 5;

export type Change = "added" | "removed" | "changed";

/** One stage and direction of an endpoint whose policy list changed. */
export interface StageDiff {
  chain: ChainKey;
  added: string[];
  removed: string[];
  moved: string[];
  before: string[];
  after: string[];
}

export interface EndpointDiff {
  interface: string;
  name?: string;
  change: Change;
  stages: StageDiff[];
}

export interface PolicyDiff {
  /** `gnp/<name> ingress`, `pro/<name> egress`. */
  policy: string;
  change: Change;
  /** Rules before and after. */
  rules: { before: number; after: number };
  added: RuleView[];
  removed: RuleView[];
  /** Rules both hold whose relative order changed (as they are now). */
  moved: RuleView[];
}

export interface SetDiff {
  name: string;
  selector?: string;
  change: Change;
  size: { before: number; after: number };
  added: number;
  removed: number;
  /** The first FIRST_ELEMENTS added and removed elements, in set order. */
  firstAdded: string[];
  firstRemoved: string[];
}

export interface DiffDocument {
  /** Whether applying would change anything. */
  changed: boolean;
  /** One line. */
  summary: string;
  /** What the config was compared with: the agent's ruleset in force, the kernel's tables, or nothing. */
  against: string;
  endpoints: EndpointDiff[];
  policies: PolicyDiff[];
  failsafes: { added: string[]; removed: string[] };
  sets: SetDiff[];
  /** What this comparison could not see (a kernel listing without rule details, …). */
  notes: string[];
}

/** `before` undefined: nothing is in force. */
export function diffRulesets(before: RulesetView | undefined, after: RulesetView, against: string, notes: string[] = []): DiffDocument {
  const b: RulesetView = before ?? { endpoints: new Map(), policies: new Map(), failsafes: [], sets: new Map() };
  const endpoints: EndpointDiff[] = [];
  for (const iface of sortedKeys(b.endpoints, after.endpoints)) {
    const o = b.endpoints.get(iface);
    const n = after.endpoints.get(iface);
    const stages: StageDiff[] = [];
    for (const chain of sortedKeys(new Map(Object.entries(o?.chains ?? {})), new Map(Object.entries(n?.chains ?? {}))) as ChainKey[]) {
      const d = sequenceDiff(o?.chains[chain] ?? [], n?.chains[chain] ?? [], (x) => x);
      if (d.added.length + d.removed.length + d.moved.length > 0) stages.push({ chain, ...d, before: o?.chains[chain] ?? [], after: n?.chains[chain] ?? [] });
    }
    const renamed = o && n && o.name !== n.name;
    if (!o || !n || stages.length > 0 || renamed) endpoints.push({ interface: iface, ...(n?.name ?? o?.name ? { name: n?.name ?? o?.name } : {}), change: !o ? "added" : !n ? "removed" : "changed", stages });
  }
  const policies: PolicyDiff[] = [];
  for (const key of sortedKeys(b.policies, after.policies)) {
    const o = b.policies.get(key) ?? [];
    const n = after.policies.get(key) ?? [];
    const d = sequenceDiff(o, n, (r) => r.text);
    if (!b.policies.has(key) || !after.policies.has(key) || d.added.length + d.removed.length + d.moved.length > 0) {
      policies.push({ policy: key, change: !b.policies.has(key) ? "added" : !after.policies.has(key) ? "removed" : "changed", rules: { before: o.length, after: n.length }, ...d });
    }
  }
  const failsafe = sequenceDiff(b.failsafes, after.failsafes, (x) => x);
  const sets: SetDiff[] = [];
  for (const name of sortedKeys(b.sets, after.sets)) {
    const o = b.sets.get(name);
    const n = after.sets.get(name);
    const oldElements = o?.elements ?? [];
    const newElements = n?.elements ?? [];
    if (o && n && sameList(oldElements, newElements)) continue;
    const oldSet = new Set(oldElements);
    const newSet = new Set(newElements);
    const added = newElements.filter((e) => !oldSet.has(e));
    const removed = oldElements.filter((e) => !newSet.has(e));
    // The same elements in another order (a listing's) are the same set.
    if (o && n && added.length === 0 && removed.length === 0 && oldElements.length === newElements.length) continue;
    const selector = n?.selector ?? o?.selector;
    sets.push({ name, ...(selector ? { selector } : {}), change: !o ? "added" : !n ? "removed" : "changed", size: { before: oldElements.length, after: newElements.length }, added: added.length, removed: removed.length, firstAdded: added.slice(0, FIRST_ELEMENTS), firstRemoved: removed.slice(0, FIRST_ELEMENTS) });
  }
  const doc: DiffDocument = { changed: false, summary: "", against, endpoints, policies, failsafes: { added: failsafe.added, removed: failsafe.removed }, sets, notes };
  doc.changed = endpoints.length + policies.length + sets.length + failsafe.added.length + failsafe.removed.length + failsafe.moved.length > 0;
  doc.summary = summarize(doc);
  return doc;
}

function summarize(doc: DiffDocument): string {
  if (!doc.changed) return `no change against ${doc.against}`;
  const parts: string[] = [];
  const count = (items: { change: Change }[], what: string) => {
    const n = (c: Change) => items.filter((i) => i.change === c).length;
    if (items.length > 0) parts.push(`${what} +${n("added")} -${n("removed")} ~${n("changed")}`);
  };
  count(doc.endpoints, "endpoints");
  count(doc.policies, "policies");
  const rules = doc.policies.reduce((a, p) => ({ added: a.added + p.added.length, removed: a.removed + p.removed.length, moved: a.moved + p.moved.length }), { added: 0, removed: 0, moved: 0 });
  if (rules.added + rules.removed + rules.moved > 0) parts.push(`rules +${rules.added} -${rules.removed}${rules.moved ? ` moved ${rules.moved}` : ""}`);
  if (doc.sets.length > 0) parts.push(`set elements +${doc.sets.reduce((a, s) => a + s.added, 0)} -${doc.sets.reduce((a, s) => a + s.removed, 0)}`);
  if (doc.failsafes.added.length + doc.failsafes.removed.length > 0) parts.push(`failsafes +${doc.failsafes.added.length} -${doc.failsafes.removed.length}`);
  return `${parts.join(", ")} (against ${doc.against})`;
}

/** Longest common subsequences above this many cells are not computed: everything common counts as moved. */
const LCS_LIMIT = 4_000_000;

/** Added, removed and moved entries of two sequences, compared by `key` (duplicates count as many). */
export function sequenceDiff<T>(before: readonly T[], after: readonly T[], key: (x: T) => string): { added: T[]; removed: T[]; moved: T[] } {
  const left = countKeys(before, key);
  const right = countKeys(after, key);
  const added: T[] = [];
  const removed: T[] = [];
  const oldCommon: string[] = [];
  const newCommon: T[] = [];
  const take = (counts: Map<string, number>, k: string) => {
    const n = counts.get(k) ?? 0;
    if (n > 0) counts.set(k, n - 1);
    return n > 0;
  };
  const rightLeft = new Map(right);
  for (const x of before) (take(rightLeft, key(x)) ? oldCommon.push(key(x)) : removed.push(x));
  for (const x of after) (take(left, key(x)) ? newCommon.push(x) : added.push(x));
  const kept = lcsMask(oldCommon, newCommon.map(key));
  return { added, removed, moved: newCommon.filter((_, i) => !kept[i]) };
}

/** For each entry of `b`: whether it is part of a longest common subsequence of `a` and `b`. */
function lcsMask(a: readonly string[], b: readonly string[]): boolean[] {
  const mask = new Array<boolean>(b.length).fill(false);
  if (a.length * b.length > LCS_LIMIT) return sameList(a, b) ? mask.fill(true) : mask;
  const rows = a.length + 1;
  const cols = b.length + 1;
  const t = new Uint32Array(rows * cols);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) t[i * cols + j] = a[i] === b[j] ? t[(i + 1) * cols + j + 1]! + 1 : Math.max(t[(i + 1) * cols + j]!, t[i * cols + j + 1]!);
  }
  for (let i = 0, j = 0; i < a.length && j < b.length; ) {
    if (a[i] === b[j]) {
      mask[j] = true;
      i++;
      j++;
    } else if (t[(i + 1) * cols + j]! >= t[i * cols + j + 1]!) i++;
    else j++;
  }
  return mask;
}

function countKeys<T>(xs: readonly T[], key: (x: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of xs) m.set(key(x), (m.get(key(x)) ?? 0) + 1);
  return m;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sortedKeys<K extends string, V>(a: ReadonlyMap<K, V>, b: ReadonlyMap<K, V>): K[] {
  return [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
}
