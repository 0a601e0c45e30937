/**
 * The `staged` section of GET /status (#14 item 4): for each staged rule, what it counted in the
 * kernel (the `sgnp/<name>/<direction>/<index>` counters of the count-only chains, nft/
 * table-builder.ts stagedChain) and the action it would have taken, so "would have allowed N
 * packets, would have denied M" reads off one document. The counters are read from the
 * listing the agent already makes for /metrics (agent.ruleCounters), only when the model in
 * force has a counted staged policy: a listing of big sets is not free, and /status is polled.
 */
import type { RuleCounters } from "../agent/types.ts";
import type { Direction, Model } from "../model/types.ts";
import { countedStaged } from "../resolve/staged.ts";

/** One staged rule and what it counted. */
export interface StagedRuleStatus {
  /** The staged resource's name. */
  policy: string;
  /** Set: the staged policy's own rule; Delete: the enforced policy's rule that would go away. */
  stagedAction: "Set" | "Delete";
  direction: Direction;
  /** Index of the rule in its direction. */
  rule: number;
  /** What the rule does: Allow and Deny are what it would have done with the packets it counted; Pass hands on; Log only logs. */
  action: string;
  packets: number;
  bytes: number;
}

export interface StagedStatus {
  /** The counters were read (false: the listing failed, see error; rules then lists the staged rules with zero counts). */
  counted: boolean;
  error?: string;
  /** Every rule of every counted staged policy, in name, direction, rule order. */
  rules: StagedRuleStatus[];
}

/** Whether the model in force counts any staged policy (otherwise the counters are not read). */
export function hasStaged(model: Model | undefined): boolean {
  return model !== undefined && countedStaged(model).length > 0;
}

/** The staged rules of `model` with the packets and bytes `counters` holds for them. */
export function stagedStatus(model: Model | undefined, counters: RuleCounters | undefined): StagedStatus {
  if (!model) return { counted: true, rules: [] };
  const sums = new Map<string, { packets: number; bytes: number }>();
  if (counters?.ok) {
    for (const s of counters.samples) {
      if (s.kind !== "sgnp") continue;
      const key = `${s.policy}/${s.direction}/${s.rule}`;
      const sum = sums.get(key) ?? { packets: 0, bytes: 0 };
      sum.packets += s.packets;
      sum.bytes += s.bytes;
      sums.set(key, sum);
    }
  }
  const rules: StagedRuleStatus[] = [];
  const staged = [...countedStaged(model)].sort((a, b) => (a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0));
  for (const s of staged) {
    const policy = s.action === "Delete" ? model.policies.find((p) => p.meta.name === s.meta.name) : s.policy;
    if (!policy) continue;
    for (const direction of ["ingress", "egress"] as const) {
      policy[direction].forEach((r, rule) => {
        const sum = sums.get(`${s.meta.name}/${direction}/${rule}`) ?? { packets: 0, bytes: 0 };
        rules.push({ policy: s.meta.name, stagedAction: s.action as "Set" | "Delete", direction, rule, action: r.action, ...sum });
      });
    }
  }
  return counters && !counters.ok ? { counted: false, error: counters.error, rules } : { counted: true, rules };
}
