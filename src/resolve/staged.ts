/**
 * Where staged policies are counted (#14 item 4). A staged policy is evaluated where its
 * enforced twin would be: in the same stage, tier and position among the enforced policies of
 * an endpoint, so the packets it sees are exactly those the twin would see (the enforced walk
 * up to that point is the same in both configs). It decides nothing: the compiler gives it a
 * chain of `match … counter return` rules that sets no mark and ends in no verdict.
 *
 * `stagedAction: Set` counts the staged policy's own rules. `Delete` counts the rules of the
 * enforced policy of that name at that policy's own position: what would no longer apply.
 * Learn and Ignore are validated and not counted.
 *
 * Staged policies do not see each other (each is counted as if it were the only staged one),
 * and a staged policy is counted in the untracked and pre-DNAT stages only on endpoints that
 * already have enforced policy there: creating those chains just for counting would change
 * which packets skip conntrack and which `*`-endpoint chain a named interface falls through to.
 */
import { matchesSelector } from "../model/selector.ts";
import type { Direction, GlobalNetworkPolicy, Model, StagedPolicy, Tier } from "../model/types.ts";

/** One staged policy at one place of an endpoint's walk. */
export interface StagedPlacement {
  /** The staged resource's name: counters are `sgnp/<name>/<direction>/<index>`. */
  name: string;
  /** Set: the staged policy's rules; Delete: the enforced policy's, which would go away. */
  action: "Set" | "Delete";
  /** The rules counted (the staged policy, or the enforced one it would delete). */
  policy: GlobalNetworkPolicy;
  /** The tier it belongs to. */
  tier: Tier;
  /** How many enforced policies of this tier (for this endpoint, stage and direction) are evaluated before it. */
  position: number;
}

export type Stage = "untracked" | "preDNAT" | "normal" | "forward";

/** The enforced tiers of one endpoint, as resolve.ts plans them. */
type TierPlans = Record<Stage, Record<Direction, { tier: Tier; policies: GlobalNetworkPolicy[] }[]>>;

/** Stage → direction → staged placements, in no particular order (the compiler merges them into the walk). */
export type StagedPlans = Record<Stage, Record<Direction, StagedPlacement[]>>;

/** The staged policies that are counted: StagedGlobalNetworkPolicy with Set or Delete (StagedNetworkPolicy never applies to a host endpoint). */
export function countedStaged(model: Model): StagedPolicy[] {
  return (model.staged ?? []).filter((s) => s.kind === "StagedGlobalNetworkPolicy" && (s.action === "Delete" || (s.action === "Set" && s.policy && !s.policy.namespaced)));
}

/**
 * Placements for one endpoint. `stages` is its enforced plan, `compare` the policy order of a
 * tier (resolve.ts), `tiers` every tier in order.
 */
export function stagedFor(opts: {
  labels: Record<string, string>;
  stages: TierPlans;
  staged: readonly StagedPolicy[];
  tiers: readonly Tier[];
  compare: (a: GlobalNetworkPolicy, b: GlobalNetworkPolicy) => number;
}): StagedPlans {
  const empty = (): Record<Direction, StagedPlacement[]> => ({ ingress: [], egress: [] });
  const out: StagedPlans = { untracked: empty(), preDNAT: empty(), normal: empty(), forward: empty() };
  for (const s of opts.staged) {
    if (s.action === "Delete") {
      // The enforced policy of that name, wherever it is evaluated for this endpoint.
      for (const stage of Object.keys(opts.stages) as Stage[]) {
        for (const dir of ["ingress", "egress"] as const) {
          for (const { tier, policies } of opts.stages[stage][dir]) {
            const i = policies.findIndex((p) => p.meta.name === s.meta.name);
            if (i >= 0) out[stage][dir].push({ name: s.meta.name, action: "Delete", policy: policies[i]!, tier, position: i });
          }
        }
      }
      continue;
    }
    const policy = s.policy!;
    const tier = opts.tiers.find((t) => t.meta.name === policy.tier);
    if (!tier || !matchesSelector(policy.selector, opts.labels)) continue;
    for (const dir of ["ingress", "egress"] as const) {
      if (!policy.types.includes(dir)) continue;
      const stages: Stage[] = policy.doNotTrack ? ["untracked"] : policy.preDNAT ? (dir === "ingress" ? ["preDNAT"] : []) : policy.applyOnForward ? ["normal", "forward"] : ["normal"];
      for (const stage of stages) {
        const tiers = opts.stages[stage][dir];
        if ((stage === "untracked" || stage === "preDNAT") && tiers.length === 0) continue;
        const enforced = tiers.find((t) => t.tier.meta.name === tier.meta.name)?.policies ?? [];
        // Before an enforced policy that sorts equal (its enforced twin of the same name).
        const position = enforced.filter((p) => opts.compare(p, policy) < 0).length;
        out[stage][dir].push({ name: s.meta.name, action: "Set", policy, tier, position });
      }
    }
  }
  return out;
}
