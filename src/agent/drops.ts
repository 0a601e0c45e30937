/**
 * GET /drops (#14 item 5): unless the agent runs with `--drop-summaries=off`, every Deny rule feeds a dynamic set of
 * the addresses it denied, with counters (nft/compile.ts, nft/drops.ts). This lists those sets
 * of the ruleset in force, one `nft -j list set` each (never the big address sets), and
 * summarises them per rule: totals and the top sources.
 */
import { dropSets, parseDropSetJson, summariseDrops, type DropSource, type DropSummary } from "../nft/drops.ts";
import type { NftRuleset } from "../nft/ir.ts";
import type { NftRunner } from "../nft/runner.ts";

/** The /drops document. */
export interface DropsDocument {
  /** Drop summaries are on (the default; off with run --drop-summaries=off). */
  enabled: boolean;
  /** How long an address stays after its last drop, in seconds (the window). */
  windowSeconds?: number;
  /** Per Deny rule of the ruleset in force, by origin id. */
  rules: DropSummary[];
  /** Per Log rule: the addresses whose packets it logged (every packet it matched, rate limit or not). */
  logs: DropSummary[];
}

export async function readDrops(runner: NftRunner, ir: NftRuleset | undefined, enabled: boolean, top: number): Promise<{ ok: true; doc: DropsDocument } | { ok: false; error: string }> {
  const sets = ir ? dropSets(ir) : [];
  if (!enabled || sets.length === 0) return { ok: true, doc: { enabled, rules: [], logs: [] } };
  if (!runner.listSetJson) return { ok: false, error: "the nft runner cannot list sets" };
  const read: { origin: string; kind: "drop" | "log"; sources: DropSource[] }[] = [];
  for (const s of sets) {
    const r = await runner.listSetJson(s.family, s.table, s.set);
    if (!r.ok) return { ok: false, error: `set ${s.set}: ${r.stderr.trim() || "nft list set failed"}` };
    const parsed = parseDropSetJson(r.stdout);
    if (!parsed.ok) return { ok: false, error: `set ${s.set}: ${parsed.error.path}: ${parsed.error.message}` };
    read.push({ origin: s.origin, kind: s.kind, sources: parsed.sources });
  }
  const windowSeconds = ir!.tables.flatMap((t) => t.sets).find((s) => s.dynamic)?.dynamic?.timeout;
  const of = (kind: "drop" | "log") => summariseDrops(read.filter((r) => r.kind === kind), top);
  return { ok: true, doc: { enabled, windowSeconds, rules: of("drop"), logs: of("log") } };
}
