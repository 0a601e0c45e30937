/**
 * The kernel's side of a diff: `nft -j list ruleset` (with set elements) parsed into the IR
 * (nft/listing.ts) and read as a view. Both sides of such a diff are normalised first
 * (nft/listing-normalise.ts): nft prints `tcp dport` for the compiler's `meta l4proto tcp th
 * dport`, names for numbers and so on, and none of that is a change.
 */
import type { NftRuleset } from "../nft/ir.ts";
import { parseRulesetJson } from "../nft/listing.ts";
import { normaliseRuleset } from "../nft/listing-normalise.ts";
import { rulesetView, type RulesetView } from "./view.ts";

/** hostwall's tables in a JSON listing as a view; `view` undefined when the kernel holds none. */
export function kernelView(json: string): { ok: true; view?: RulesetView } | { ok: false; error: string } {
  const parsed = parseRulesetJson(json);
  if (!parsed.ok) return { ok: false, error: `${parsed.error.message} at ${parsed.error.path}` };
  return { ok: true, view: parsed.listing.ruleset.tables.length > 0 ? rulesetView(normaliseRuleset(parsed.listing.ruleset)) : undefined };
}

/** A compiled ruleset as a view comparable with kernelView's. */
export function normalisedView(ruleset: NftRuleset): RulesetView {
  return rulesetView(normaliseRuleset(ruleset));
}
