/**
 * What an apply changes, in one log line an operator can read (issue 11: "config changed"
 * should say which files and what). Pure: two snapshots in, text out.
 *
 * A snapshot keeps, per config file, a hash of its text; per policy and profile, the rules it
 * compiled to (so a policy counts as changed when its nft rules change, whatever changed in
 * its YAML); the endpoints; and every set's elements (sets are compared by identity first, so
 * an unchanged million-entry set costs one comparison of two arrays, not a hash set).
 */
import { contentHash, type SourceFile } from "../source/source-file.ts";
import { sameElementOrder } from "../nft/address-list.ts";
import type { Elements, NftRuleset } from "../nft/ir.ts";
import { renderStatements } from "../nft/render.ts";
import { setChangeOf } from "../derive.ts";

export interface Snapshot {
  /** Config file path → hash of its text. */
  files: Map<string, string>;
  /** `gnp/<name>` or `pro/<name>` → its rules as compiled. */
  policies: Map<string, string>;
  /** Endpoint names with their interface. */
  endpoints: string[];
  /** Set name → elements. */
  sets: Map<string, Elements>;
}

export function snapshot(files: readonly SourceFile[], ruleset: NftRuleset, endpoints: string[]): Snapshot {
  const policies = new Map<string, string>();
  const sets = new Map<string, Elements>();
  for (const table of ruleset.tables) {
    // A set used in both tables is copied into each with the same name and elements: count it once.
    for (const set of table.sets) sets.set(set.name, set.elements);
    for (const chain of table.chains) {
      for (const rule of chain.rules) {
        const owner = /^((?:gnp|pro)\/[^/]+)\//.exec(rule.origin?.id ?? "")?.[1];
        if (owner) policies.set(owner, `${policies.get(owner) ?? ""}${table.family} ${chain.name}: ${renderStatements(rule.statements)}\n`);
      }
    }
  }
  // Only to say which files changed: a fast 64-bit hash (3 ms for a 19 MB file, SHA-256 of a JS string ~110 ms), of a big file's bytes (its text may never be decoded).
  return { files: new Map(files.map((f) => [f.path, contentHash(f)])), policies, endpoints: [...endpoints].sort(), sets };
}

/** Config files added, changed and removed: `files: +a.yaml ~b.yaml -c.yaml`; undefined when none changed. */
export function describeFiles(before: Snapshot | undefined, after: Snapshot): string | undefined {
  if (!before) return undefined;
  const parts = keyChanges(before.files, after.files);
  return parts.length > 0 ? `files ${limit(parts)}` : undefined;
}

/** `policies +allow-web ~deny-list, endpoints 1 → 2, set entries +1 -0`; "no rule changed" when nothing did. */
export function describeChange(before: Snapshot | undefined, after: Snapshot): string {
  if (!before) return `${after.policies.size} polic${after.policies.size === 1 ? "y" : "ies"}/profiles, ${after.endpoints.length} endpoint(s), ${countEntries(after)} set entries`;
  const parts: string[] = [];
  const policies = keyChanges(before.policies, after.policies);
  if (policies.length > 0) parts.push(`policies ${limit(policies)}`);
  if (before.endpoints.join(",") !== after.endpoints.join(",")) parts.push(`endpoints ${before.endpoints.length} → ${after.endpoints.length} (${after.endpoints.join(", ") || "none"})`);
  const { added, removed } = entryChanges(before.sets, after.sets);
  if (added + removed > 0) parts.push(`set entries +${added} -${removed}`);
  return parts.length > 0 ? parts.join(", ") : "no policy, endpoint or set entry changed";
}

/** `+key` added, `~key` changed, `-key` removed. */
function keyChanges(before: Map<string, string>, after: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [key, value] of after) {
    const old = before.get(key);
    if (old === undefined) out.push(`+${key}`);
    else if (old !== value) out.push(`~${key}`);
  }
  for (const key of before.keys()) if (!after.has(key)) out.push(`-${key}`);
  return out;
}

function entryChanges(before: Map<string, Elements>, after: Map<string, Elements>): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const [name, elements] of after) {
    const old = before.get(name);
    if (old === elements) continue;
    // Recorded by the compiler as a set change of exactly the old array (src/derive.ts): counted without a million-string Set.
    const change = old ? setChangeOf<string, Elements>(elements) : undefined;
    if (change && change.from === old) {
      added += change.added.length;
      removed += change.removed.length;
      continue;
    }
    if (old && sameElementOrder(old, elements)) continue;
    const oldSet = new Set(old ?? []);
    const newSet = new Set(elements);
    for (const e of newSet) if (!oldSet.has(e)) added++;
    for (const e of oldSet) if (!newSet.has(e)) removed++;
  }
  for (const [name, elements] of before) if (!after.has(name)) removed += new Set(elements).size;
  return { added, removed };
}

function countEntries(s: Snapshot): number {
  let n = 0;
  for (const elements of s.sets.values()) n += elements.length;
  return n;
}

function limit(items: string[], max = 6): string {
  return items.length > max ? `${items.slice(0, max).join(" ")} (+${items.length - max} more)` : items.join(" ");
}
