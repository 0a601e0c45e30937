/**
 * The rule sequences inside the per-endpoint chains: the tiers of a stage (jump to each
 * policy chain while PASS is clear, the stage's verdict on ACCEPT, a tier's default deny), the
 * profiles and the final deny of the normal stage, and the failsafe accepts. The mark bits are
 * those of names.ts; compile.ts places these sequences in the chain layout it draws.
 */
import { formatCidr } from "../model/cidr.ts";
import type { Direction, FailsafePort, Tier } from "../model/types.ts";
import type { EndpointPlan, Plan, Stage, StagedPlacement, TierPlan } from "../resolve/resolve.ts";
import type { NftRule, Statement } from "./ir.ts";
import * as N from "./names.ts";
import { addr, counter, jump, markAnd, masked, match, meta, num, payload, set, sym, value, verdict } from "./statements.ts";
import { compileRules, DIR, rule, type TableBuilder } from "./table-builder.ts";

// Functions, not shared constants: each rule gets its own statement objects, so code that
// edits an IR (tests, deltas) can never change another ruleset's rules.
/** `meta mark & ACCEPT == ACCEPT`: a policy (or stage) allowed the packet. */
export const accepted = () => match(masked(meta("mark"), N.MARK_ACCEPT), "==", value(num(N.MARK_ACCEPT)));
/** `meta mark & PASS == 0`: no policy passed to the next tier. */
const notPassed = () => match(masked(meta("mark"), N.MARK_PASS), "==", value(num(0)));
/** Clears hostwall's mark bits. */
export const clear = () => markAnd(N.MARK_CLEAR);

/**
 * The tiers of one stage and direction. `allow` is the verdict once a policy set ACCEPT;
 * `deny` (filter stages only) ends a tier whose default action is Deny.
 */
export function tierSequence(t: TableBuilder, ep: EndpointPlan, stage: Stage, dir: Direction, allow: Statement[], deny?: "drop" | "reject"): NftRule[] {
  const out: NftRule[] = [];
  const tiers: TierPlan[] = ep.stages[stage][dir];
  const chainDeny = stage === "untracked" || stage === "preDNAT" ? "drop" : (deny ?? "drop");
  const staged = ep.staged?.[stage][dir] ?? [];
  // Staged policies (count-only, resolve/staged.ts) go where their enforced twin would be
  // evaluated. One whose tier has no enforced policy here gets its tier's place in the walk:
  // its twin's tier would start with PASS clear, and staged chains set no mark, so no guard.
  const stagedJumps = (list: StagedPlacement[], guard: boolean) =>
    [...list].sort(comparePlacements).map((p) => rule([...(guard ? [notPassed()] : []), jump(t.stagedChain(p, dir))]));
  const enforcedTiers = new Set(tiers.map((x) => x.tier.meta.name));
  const stagedOnly = [...new Map(staged.filter((p) => !enforcedTiers.has(p.tier.meta.name)).map((p) => [p.tier.meta.name, p.tier])).values()].sort(compareTiers);
  const flushStagedTiers = (before?: Tier) => {
    while (stagedOnly.length > 0 && (!before || compareTiers(stagedOnly[0]!, before) < 0)) {
      const tier = stagedOnly.shift()!;
      out.push(...stagedJumps(staged.filter((p) => p.tier === tier), false));
    }
  };
  tiers.forEach(({ tier, policies }, ti) => {
    flushStagedTiers(tier);
    if (ti > 0) out.push(rule([markAnd(~N.MARK_PASS >>> 0)], `tier ${tier.meta.name}`));
    const here = staged.filter((p) => p.tier.meta.name === tier.meta.name);
    policies.forEach((policy, pi) => {
      out.push(...stagedJumps(here.filter((p) => p.position === pi), pi > 0));
      const chain = t.policyChain(policy, dir, chainDeny);
      out.push(rule([...(pi > 0 ? [notPassed()] : []), jump(chain)]));
      out.push(rule([accepted(), ...allow]));
    });
    out.push(...stagedJumps(here.filter((p) => p.position >= policies.length), policies.length > 0));
    if (deny && tier.defaultAction === "Deny") {
      out.push(rule([notPassed(), counter(), verdict(deny)], `tier ${tier.meta.name}: no policy decided`, `tier/${tier.meta.name}/${dir}/end`));
    }
  });
  flushStagedTiers();
  return out;
}

/** Tier order as resolve sorts tiers: order, then name. */
function compareTiers(a: Tier, b: Tier): number {
  return a.order - b.order || (a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0);
}

function comparePlacements(a: StagedPlacement, b: StagedPlacement): number {
  const oa = a.policy.order ?? Infinity;
  const ob = b.policy.order ?? Infinity;
  if (oa !== ob) return oa < ob ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Profiles of the normal stage, then the final deny. */
export function profileSequence(t: TableBuilder, ep: EndpointPlan, dir: Direction, deny: "drop" | "reject"): NftRule[] {
  const out: NftRule[] = [];
  for (const ref of ep.profiles) {
    if (ref.kind === "default-allow") {
      out.push(rule([counter(), verdict("accept")], "profile projectcalico-default-allow", `pro/projectcalico-default-allow/${dir}`));
      return out;
    }
    if (ref.kind === "missing") {
      out.push(rule([counter(), verdict(deny)], `profile ${ref.name} is missing: deny-all`, `pro/${ref.name}/${dir}/missing`));
      return out;
    }
    const profile = ref.profile;
    const name = N.profileChain(profile.meta.name, DIR[dir]);
    if (!t.hasChain(name)) {
      t.chain(name, compileRules(t, name, profile[dir], { kindShort: "pro", name: profile.meta.name, tier: "", direction: dir }, t.context(deny)));
    }
    out.push(rule([jump(name)]), rule([accepted(), verdict("accept")]));
  }
  out.push(rule([counter(), verdict(deny)], `hep/${ep.hep.meta.name}/${dir}: no policy or profile allowed`, `hep/${ep.hep.meta.name}/${dir}/default-deny`));
  return out;
}

/**
 * Failsafe accepts. Tracked stages match the destination port (and remote net); the raw
 * variants also accept the reverse direction by source port, so a failsafe connection is
 * never half-untracked (reference §3.5).
 */
export function failsafeRules(plan: Plan, dir: "in" | "out", raw: boolean): NftRule[] {
  const inbound = plan.felix.failsafeInbound;
  const outbound = plan.felix.failsafeOutbound;
  const primary = dir === "in" ? inbound : outbound;
  const reverse = dir === "in" ? outbound : inbound;
  const remote = dir === "in" ? "saddr" : "daddr";
  const out = portRules(primary, "dport", remote, `failsafe ${dir}bound`, plan.felix.ipv6Support);
  if (raw) out.push(...portRules(reverse, "sport", dir === "in" ? "saddr" : "daddr", `failsafe ${dir === "in" ? "out" : "in"}bound reply`, plan.felix.ipv6Support));
  return out;
}

function portRules(ports: FailsafePort[], portField: "dport" | "sport", addrField: "saddr" | "daddr", comment: string, v6: boolean): NftRule[] {
  const out: NftRule[] = [];
  for (const proto of ["tcp", "udp"] as const) {
    const any = ports.filter((p) => p.protocol === proto && !p.net).map((p) => p.port);
    const unique = [...new Set(any)].sort((a, b) => a - b);
    const l4proto = match(meta("l4proto"), "==", value(sym(proto)));
    if (unique.length > 0) out.push(rule([l4proto, match(payload("th", portField), "==", set(unique.map(num))), counter(), verdict("accept")], comment, `failsafe/${comment.replaceAll(" ", "-")}/${proto}`));
    for (const p of ports.filter((x) => x.protocol === proto && x.net)) {
      if (p.net!.family === 6 && !v6) continue;
      const address = match(payload(p.net!.family === 4 ? "ip" : "ip6", addrField), "==", value(addr(formatCidr(p.net!))));
      out.push(rule([address, l4proto, match(payload("th", portField), "==", value(num(p.port))), counter(), verdict("accept")], comment, `failsafe/${comment.replaceAll(" ", "-")}/${proto}`));
    }
  }
  return out;
}
