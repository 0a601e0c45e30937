/**
 * Drift in set contents (issue 13 item 5): elements added to or removed from hostwall's sets by
 * hand. The structural drift check (shape.ts) reads one terse listing and never sees elements;
 * this lists sets one at a time (`nft list set`: nft 1.0.6 fetches only that set's elements)
 * and compares them with the IR in force. Small sets are listed at every drift check; big ones
 * only every BIG_SET_EVERY checks (a million elements take seconds and hundreds of MB of nft's
 * memory to list, in a spawned nft then, runner.ts), so a hand edit of a big set is found
 * within that many periods. nft 1.0.6 offers no cheap element count to check in between.
 *
 * A drifted set is repaired by emptying and refilling it from the IR (nft/delta.ts refill) in
 * one transaction: only hostwall's own element texts go into the script, never listed ones.
 */
import { parseAddress } from "../model/cidr-parse.ts";
import { AddressList } from "../nft/address-list.ts";
import type { Elements, NftRuleset } from "../nft/ir.ts";
import { canonicalElement, type NftRunner } from "../nft/runner.ts";

/** Sets up to this many elements are listed at every drift check. */
export const SMALL_SET_MAX = 10_000;
/** Bigger sets are listed at every this many-th check (10 s apart by default: every 5 min). */
export const BIG_SET_EVERY = 30;
/** Sets above this are listed by a spawned nft (runner.ts IN_PROCESS_MAX_BYTES's reasons). */
const SPAWN_LISTING_ABOVE = 50_000;

export interface SetDrift {
  /** `family table/name`, the key nft/delta.ts DeltaUnknowns takes. */
  key: string;
  /** Elements of the IR the kernel does not hold. */
  missing: number;
  /** Elements the kernel holds that the IR does not. */
  extra: number;
}

/** The sets whose contents differ from `ir` (the check numbered `check` decides whether big ones are listed); errors are listing failures. */
export async function findSetDrift(runner: NftRunner, ir: NftRuleset, check: number): Promise<{ drifted: SetDrift[]; errors: string[] }> {
  const drifted: SetDrift[] = [];
  const errors: string[] = [];
  if (!runner.listSet) return { drifted, errors };
  for (const table of ir.tables) {
    for (const set of table.sets) {
      if (set.dynamic) continue; // a drop-summary set: the kernel fills it, there is nothing to compare
      const big = set.elements.length > SMALL_SET_MAX;
      if (big && check % BIG_SET_EVERY !== 0) continue;
      const listed = await runner.listSet(table.family, table.name, set.name, { big: set.elements.length > SPAWN_LISTING_ABOVE });
      if (!listed.ok) {
        errors.push(`set ${set.name}: ${listed.error}`);
        continue;
      }
      const { missing, extra } = compareListed(set.elements, listed.elements);
      if (missing + extra > 0) drifted.push({ key: `${table.family} ${table.name}/${set.name}`, missing, extra });
    }
  }
  return { drifted, errors };
}

/** How many of `want` the listing lacks, and how many elements it holds beyond them (each counted once). */
function compareListed(want: Elements, listed: readonly string[]): { missing: number; extra: number } {
  if (want instanceof AddressList) {
    // A big per-length set: each listed address found by a search in the words, no text made for the million expected.
    const seen = new Uint8Array(want.length);
    let found = 0;
    const extras = new Set<string>();
    for (const text of listed) {
      const parsed = parseAddress(text);
      const i = parsed.ok ? want.indexOf(parsed.cidr) : -1;
      if (i < 0) extras.add(canonicalElement(text));
      else if (seen[i] === 0) {
        seen[i] = 1;
        found++;
      }
    }
    return { missing: want.length - found, extra: extras.size };
  }
  const expected = new Set(want.map(canonicalElement));
  const have = new Set(listed);
  let missing = 0;
  let extra = 0;
  for (const e of expected) if (!have.has(e)) missing++;
  for (const e of have) if (!expected.has(e)) extra++;
  return { missing, extra };
}
