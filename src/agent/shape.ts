/**
 * What the live hostwall tables should look like, and how they differ from it (drift).
 *
 * Strategy: compare structure, never set elements. Listing elements of a large set costs
 * seconds and hundreds of MB (reference/nftables.md M2), so the check reads one terse listing
 * (`NftRunner.list`) and compares, per hostwall table: that it exists, its set names, its
 * chain names and hooks, the number of rules per chain and each rule's comment. On top, the
 * handles seen right after the apply (the baseline) must still be there: a table, chain or
 * rule that someone deleted and re-created, or replaced, gets a new handle even when it looks
 * the same. The reference is the listing taken right after the apply (so nft's own way of
 * printing things never reads as drift), or the rendered structure when that listing failed.
 * Each rule's expressions are compared too, by a digest of the listing taken right after the
 * apply, so a rule replaced in place (`nft replace rule`: same handle, same comment) is drift.
 * Not detected: elements added to or removed from hostwall's sets by hand.
 */
import type { NftRuleset } from "../nft/ir.ts";
import type { ListedTable } from "../nft/runner.ts";
import { MAX_COMMENT_BYTES, safeText } from "../nft/render.ts";

/** A rule as the renderer wrote it, or as it was listed right after the apply. */
export interface ExpectedRule {
  /** The comment as nft prints it. */
  comment?: string;
  /** The rule's origin id (`gnp/<name>/ingress/0`, `failsafe/…`), when it has one. */
  origin?: string;
  /** Kernel handle, when known from a listing. */
  handle?: number;
  /** What the rule does (runner.ts ruleDigest), when known from a listing. */
  digest?: string;
}

export interface ExpectedChain {
  /** Chain name. */
  name: string;
  /** Hook of a base chain. */
  hook?: string;
  /** Kernel handle, when known from a listing. */
  handle?: number;
  /** Rules in order. */
  rules: ExpectedRule[];
}

export interface ExpectedTable {
  /** Table family. */
  family: string;
  /** Table name. */
  name: string;
  /** Kernel handle, when known from a listing. */
  handle?: number;
  /** Named sets, sorted. */
  sets: string[];
  /** Chains in order. */
  chains: ExpectedChain[];
}

const find = <T extends { family: string; name: string }>(list: readonly T[], want: { family: string; name: string }) => list.find((l) => l.family === want.family && l.name === want.name);

/** The structure the renderer produces for `ruleset`. */
export function expectedTables(ruleset: NftRuleset): ExpectedTable[] {
  return ruleset.tables.map((t) => ({
    family: t.family,
    name: t.name,
    sets: t.sets.map((s) => s.name).sort(),
    chains: t.chains.map((c) => ({
      name: c.name,
      hook: c.base?.hook,
      rules: c.rules.map((r) => ({ comment: r.comment ? safeText(r.comment, MAX_COMMENT_BYTES) : undefined, origin: r.origin?.id })),
    })),
  }));
}

/**
 * The hostwall tables as listed right after an apply, with their handles: the reference the
 * drift check compares against. Origins are carried over by position where the comments
 * agree. Tables that were not listed are left out (the caller sees that with findDrift).
 */
export function observedTables(expected: readonly ExpectedTable[], live: readonly ListedTable[]): ExpectedTable[] {
  const out: ExpectedTable[] = [];
  for (const want of expected) {
    const t = find(live, want);
    if (!t) continue;
    out.push({
      family: t.family,
      name: t.name,
      handle: t.handle,
      sets: [...t.sets].sort(),
      chains: t.chains.map((c) => {
        const wc = want.chains.find((x) => x.name === c.name);
        return {
          name: c.name,
          hook: c.hook,
          handle: c.handle,
          rules: c.rules.map((r, i) => ({ comment: r.comment, handle: r.handle, digest: r.digest, origin: wc?.rules[i]?.comment === r.comment ? wc?.rules[i]?.origin : undefined })),
        };
      }),
    });
  }
  return out;
}

const MAX_DIFFERENCES = 8;

/**
 * How the live tables differ from the reference (expected or observed tables), in words for
 * the log (at most a few; the first ones say enough). Handles are compared where the
 * reference has them. Empty when nothing drifted.
 */
export function findDrift(reference: readonly ExpectedTable[], live: readonly ListedTable[]): string[] {
  const out: string[] = [];
  const add = (s: string) => out.length < MAX_DIFFERENCES && out.push(s);
  for (const want of reference) {
    const name = `table ${want.family} ${want.name}`;
    const t = find(live, want);
    if (!t) {
      add(`${name} is missing`);
      continue;
    }
    if (want.handle !== undefined && want.handle !== t.handle) {
      add(`${name} was deleted and re-created (handle ${want.handle} → ${t.handle})`);
      continue;
    }
    const sets = [...t.sets].sort();
    for (const s of want.sets) if (!sets.includes(s)) add(`${name}: set ${s} is missing`);
    for (const s of sets) if (!want.sets.includes(s)) add(`${name}: unexpected set ${s}`);
    for (const c of t.chains) if (!want.chains.some((w) => w.name === c.name)) add(`${name}: unexpected chain ${c.name}`);
    for (const wc of want.chains) {
      const c = t.chains.find((x) => x.name === wc.name);
      if (!c) {
        add(`${name}: chain ${wc.name} is missing`);
        continue;
      }
      if (wc.handle !== undefined && wc.handle !== c.handle) {
        add(`${name}: chain ${wc.name} was deleted and re-created`);
        continue;
      }
      if (c.hook !== wc.hook) add(`${name}: chain ${wc.name} hook is ${c.hook ?? "none"}, applied ${wc.hook ?? "none"}`);
      if (c.rules.length !== wc.rules.length) {
        add(`${name}: chain ${wc.name} has ${c.rules.length} rule(s), applied ${wc.rules.length}`);
        continue;
      }
      const i = wc.rules.findIndex((r, k) => r.comment !== c.rules[k]!.comment || (r.handle !== undefined && r.handle !== c.rules[k]!.handle));
      if (i >= 0) add(`${name}: chain ${wc.name} rule ${i} was replaced (comment ${JSON.stringify(c.rules[i]!.comment ?? "")}, applied ${JSON.stringify(wc.rules[i]!.comment ?? "")})`);
      // Same handle and comment, other expressions: `nft replace rule` changed it in place.
      else {
        const j = wc.rules.findIndex((r, k) => r.digest !== undefined && c.rules[k]!.digest !== undefined && r.digest !== c.rules[k]!.digest);
        if (j >= 0) add(`${name}: chain ${wc.name} rule ${j} was changed in place (comment ${JSON.stringify(c.rules[j]!.comment ?? "")})`);
      }
    }
  }
  return out;
}
