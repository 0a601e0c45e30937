/**
 * Adoption at restart (issue 13 item 4): what a restarted agent may believe the kernel's
 * hostwall tables hold, so that its first apply is a delta instead of a reload of everything
 * (a million-element set is not reloaded because the agent restarted).
 *
 * After each apply the agent records (agent/state.ts) the stamp on its tables and, per object,
 * what it put there: each set's type and a hash and count of its elements, each chain's hook
 * and a hash of its rendered rules together with the digests of the rules as the kernel listed
 * them right after the apply (runner.ts ruleDigest: what the rules do, as listed). At start the
 * kernel's terse listing (no set elements: cheap at any size) must show the same stamp, the
 * same table handles and the same set and chain names; then
 *
 * - a chain counts as holding its recorded rules only if the rules listed now have the recorded
 *   digests (so a rule replaced in place while no agent ran, same handle and comment, is seen:
 *   the reason adoption was once removed); any other chain is flushed and refilled;
 * - a set counts as holding its recorded elements (the stamp and the handle say nobody
 *   recreated the table; element edits by hand are the drift check's, which lists sets); a set
 *   whose new elements hash differently is emptied and refilled.
 *
 * Whatever does not match means no adoption: the first apply is a full replace, as before.
 */
import { createHash } from "node:crypto";
import type { DeltaUnknowns } from "./delta.ts";
import { elementsDigest } from "./ruleset-hash.ts";
import type { BaseHook, NftChain, NftRuleset, NftSet, NftTable, TableFamily } from "./ir.ts";
import { renderRule, type TableStamp } from "./render.ts";

export interface RecordedSet {
  name: string;
  type: NftSet["type"];
  interval: boolean;
  comment?: string;
  /** Number of elements. */
  count: number;
  /** elementsHash of its elements. */
  hash: string;
  /** A drop/log-summary set (ir.ts NftSet.dynamic): without it the adopted set would differ from the next one and force a full replace. */
  dynamic?: NftSet["dynamic"];
}

export interface RecordedChain {
  name: string;
  base?: BaseHook;
  /** rulesHash of its rules. */
  rulesHash: string;
  /** Digests of its rules as listed right after the apply (empty strings where unknown). */
  digests: string[];
}

export interface RecordedTable {
  family: TableFamily;
  name: string;
  /** Kernel handle as listed right after the apply. */
  handle?: number;
  sets: RecordedSet[];
  chains: RecordedChain[];
}

/** What the agent keeps about the tables in force (in the last good record). */
export interface AdoptionRecord {
  /** The stamp on the tables as the start reads it (a full replace's table comment, or a delta's stamp counter). */
  stamp: TableStamp;
  tables: RecordedTable[];
}

/** The shape of a listing this needs (runner.ts ListedTable, agent/shape.ts ExpectedTable). */
export interface ListedShape {
  family: string;
  name: string;
  handle?: number;
  sets: readonly string[];
  chains: readonly { name: string; rules: readonly { digest?: string }[] }[];
}

const sha = (parts: readonly string[]) => {
  const h = createHash("sha256");
  // Chunked: a million small update() calls cost more than the hashing.
  for (let i = 0; i < parts.length; i += 4096) h.update(parts.slice(i, i + 4096).join("\n") + "\n");
  return h.digest("hex").slice(0, 16);
};
/**
 * A set's elements digest (ruleset-hash.ts): kept per array, and patched in the time the change
 * takes for an array recorded as a set change of one already digested (a one-address edit of a
 * million-element set does not hash a million strings at every apply; the agent records this
 * per apply).
 */
export const elementsHash = (set: NftSet) => elementsDigest(set.elements);
export const rulesHash = (chain: NftChain) => sha(chain.rules.map(renderRule));

/** The record of `ir` in force with `stamp` on its tables, given the listing right after the apply. */
export function adoptionRecord(ir: NftRuleset, stamp: TableStamp, listed: readonly ListedShape[] | undefined): AdoptionRecord {
  return {
    stamp,
    tables: ir.tables.map((t) => {
      const live = listed?.find((l) => l.family === t.family && l.name === t.name);
      return {
        family: t.family,
        name: t.name,
        ...(live?.handle !== undefined ? { handle: live.handle } : {}),
        sets: t.sets.map((s) => ({ name: s.name, type: s.type, interval: s.interval, ...(s.comment !== undefined ? { comment: s.comment } : {}), ...(s.dynamic ? { dynamic: s.dynamic } : {}), count: s.elements.length, hash: elementsHash(s) })),
        chains: t.chains.map((c) => ({
          name: c.name,
          ...(c.base ? { base: c.base } : {}),
          rulesHash: rulesHash(c),
          digests: live?.chains.find((l) => l.name === c.name)?.rules.map((r) => r.digest ?? "") ?? [],
        })),
      };
    }),
  };
}

const sameNames = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join("\n") === [...b].sort().join("\n");

/**
 * What the kernel holds, as far as `record` and the listing `live` tell, in terms of `next`
 * (the ruleset about to be applied): the `from` and unknowns for computeDelta, or why the
 * tables cannot be adopted.
 */
export function believedRuleset(record: AdoptionRecord, stamp: TableStamp | undefined, live: readonly ListedShape[], next: NftRuleset): { from: NftRuleset; unknown: Required<DeltaUnknowns> } | { why: string } {
  if (!stamp || stamp.hash !== record.stamp.hash || stamp.generation !== record.stamp.generation) return { why: "the tables' stamp is not the one recorded" };
  const refill = new Set<string>();
  const rewrite = new Set<string>();
  const tables: NftTable[] = [];
  for (const rt of record.tables) {
    const name = `${rt.family} ${rt.name}`;
    const lt = live.find((l) => l.family === rt.family && l.name === rt.name);
    if (!lt) return { why: `table ${name} is missing` };
    if (rt.handle === undefined || lt.handle !== rt.handle) return { why: `table ${name} is not the one recorded (handle)` };
    if (!sameNames(lt.sets, rt.sets.map((s) => s.name))) return { why: `the sets of table ${name} are not the ones recorded` };
    if (!sameNames(lt.chains.map((c) => c.name), rt.chains.map((c) => c.name))) return { why: `the chains of table ${name} are not the ones recorded` };
    const nt = next.tables.find((t) => t.family === rt.family && t.name === rt.name);
    const sets = rt.sets.map((s): NftSet => {
      const ns = nt?.sets.find((x) => x.name === s.name);
      const same = ns !== undefined && ns.elements.length === s.count && elementsHash(ns) === s.hash;
      if (!same) refill.add(`${rt.family} ${rt.name}/${s.name}`);
      return { name: s.name, type: s.type, interval: s.interval, ...(s.comment !== undefined ? { comment: s.comment } : {}), ...(s.dynamic ? { dynamic: s.dynamic } : {}), elements: same ? ns.elements : [] };
    });
    const chains = rt.chains.map((c): NftChain => {
      const nc = nt?.chains.find((x) => x.name === c.name);
      const listed = lt.chains.find((x) => x.name === c.name)!.rules.map((r) => r.digest ?? "");
      const digestsHold = listed.length === c.digests.length && c.digests.every((d, i) => d !== "" && d === listed[i]);
      const same = nc !== undefined && digestsHold && rulesHash(nc) === c.rulesHash;
      if (!same) rewrite.add(`${rt.family} ${rt.name}/${c.name}`);
      return { name: c.name, ...(c.base ? { base: c.base } : {}), rules: same ? nc.rules : [] };
    });
    tables.push({ family: rt.family, name: rt.name, sets, chains });
  }
  return { from: { tables }, unknown: { refill, rewrite } };
}

/** A record read from disk, checked for the shape this file writes; undefined when it is not one. */
export function checkedAdoptionRecord(value: unknown): AdoptionRecord | undefined {
  const r = value as AdoptionRecord | undefined;
  const str = (x: unknown) => typeof x === "string";
  const ok =
    r !== null &&
    typeof r === "object" &&
    typeof r.stamp === "object" &&
    Number.isSafeInteger(r.stamp?.generation) &&
    str(r.stamp?.hash) &&
    Array.isArray(r.tables) &&
    r.tables.every(
      (t) =>
        (t.family === "netdev" || t.family === "inet") &&
        str(t.name) &&
        Array.isArray(t.sets) &&
        Array.isArray(t.chains) &&
        t.sets.every((s) => str(s.name) && str(s.type) && typeof s.interval === "boolean" && Number.isSafeInteger(s.count) && str(s.hash)) &&
        t.chains.every((c) => str(c.name) && str(c.rulesHash) && Array.isArray(c.digests) && c.digests.every(str)),
    );
  return ok ? r : undefined;
}

/**
 * Whether the kernel's tables hold `record` as far as the terse listing `live` tells, for a
 * start whose config is provably the one the record was built from (agent/config-digest.ts):
 * the same stamp, table handles, set and chain names, and every chain's listed rule digests
 * the recorded ones. Undefined when they do; else why not. Set contents are believed as in
 * believedRuleset (the stamp and handle say nobody recreated the table; elements edited by hand
 * are the drift check's).
 */
export function heldAsRecorded(record: AdoptionRecord, stamp: TableStamp | undefined, live: readonly ListedShape[]): string | undefined {
  if (!stamp || stamp.hash !== record.stamp.hash || stamp.generation !== record.stamp.generation) return "the tables' stamp is not the one recorded";
  for (const rt of record.tables) {
    const name = `${rt.family} ${rt.name}`;
    const lt = live.find((l) => l.family === rt.family && l.name === rt.name);
    if (!lt) return `table ${name} is missing`;
    if (rt.handle === undefined || lt.handle !== rt.handle) return `table ${name} is not the one recorded (handle)`;
    if (!sameNames(lt.sets, rt.sets.map((s) => s.name))) return `the sets of table ${name} are not the ones recorded`;
    if (!sameNames(lt.chains.map((c) => c.name), rt.chains.map((c) => c.name))) return `the chains of table ${name} are not the ones recorded`;
    for (const c of rt.chains) {
      const listed = lt.chains.find((x) => x.name === c.name)!.rules.map((r) => r.digest ?? "");
      if (listed.length !== c.digests.length || !c.digests.every((d, i) => d !== "" && d === listed[i])) return `the rules of chain ${name}/${c.name} are not the ones recorded`;
    }
  }
  return undefined;
}
