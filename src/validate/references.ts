/**
 * Cross-resource references: a policy's tier must exist (an error, as calicoctl refuses it),
 * a HostEndpoint's profiles should (a warning: like Calico, a missing profile denies).
 *
 * Files the reader refused (permissions, size, a read error: read-dir.ts) hold resources that
 * are unknown, not absent. "tier "security" is not defined" in the file that uses it would
 * send the reader to the wrong file, and one mistake would give many errors. So when any file
 * was refused, unresolved references are not reported one by one: a single
 * REFERENCES_UNCHECKED warning names them and the refused files. The config stays rejected,
 * by the read error itself.
 */
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import type { Checker } from "./check.ts";
import type { Model } from "../model/types.ts";

export const DEFAULT_ALLOW_PROFILE = "projectcalico-default-allow";
/** References listed by name in the one warning; the rest are counted. */
const LISTED = 5;

export interface ReferenceContext {
  /** The checker of each HostEndpoint and policy, to place a diagnostic in its file. */
  checkers: Map<object, Checker>;
  /** Where each profile name stood in the YAML list (non-string entries are skipped in the model). */
  profileIndexes: WeakMap<string[], number[]>;
  /** Files or directories that could not be read. */
  refused: readonly string[];
}

export function checkReferences(model: Model, ctx: ReferenceContext, out: Diagnostic[]): void {
  const unresolved: string[] = [];
  const tiers = new Set(model.tiers.map((t) => t.meta.name));
  for (const p of model.policies) {
    if (tiers.has(p.tier)) continue;
    if (ctx.refused.length > 0) unresolved.push(`tier "${p.tier}" (used by ${p.kind}/${p.meta.name})`);
    else ctx.checkers.get(p)?.error("UNKNOWN_TIER", ["spec", "tier"], `tier "${p.tier}" is not defined; add a Tier resource or remove spec.tier`);
  }
  const profiles = new Set([...model.profiles.map((p) => p.meta.name), DEFAULT_ALLOW_PROFILE]);
  for (const h of model.hostEndpoints) {
    const indexes = ctx.profileIndexes.get(h.profiles);
    h.profiles.forEach((name, i) => {
      if (profiles.has(name)) return;
      if (ctx.refused.length > 0) unresolved.push(`profile "${name}" (used by HostEndpoint/${h.meta.name})`);
      else ctx.checkers.get(h)?.warn("MISSING_PROFILE", ["spec", "profiles", indexes?.[i] ?? i], `profile "${name}" is not defined; like Calico, hostwall treats it as deny-all`);
    });
  }
  if (unresolved.length === 0) return;
  const listed = unresolved.slice(0, LISTED).join(", ") + (unresolved.length > LISTED ? ` and ${unresolved.length - LISTED} more` : "");
  const files = ctx.refused.map((f) => JSON.stringify(f)).join(", ");
  // Placed on the (first) refused file, beside its read error: that is where the reader should look.
  out.push({
    code: "REFERENCES_UNCHECKED",
    severity: "warning",
    file: ctx.refused[0],
    message: `not checked: ${listed} ${unresolved.length === 1 ? "is" : "are"} not defined in the files that were read, and may be defined in ${files}, which could not be read (see the error there); fix that first`,
  });
}
