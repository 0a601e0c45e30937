/**
 * Building one nft table of the IR: chains in order of creation, each name once (a second
 * object under one name is a compiler bug, NameClashError), sets declared on first use and
 * copied into each table that uses them, policy chains compiled once per table. Used by the
 * compiler (compile.ts) and the rule sequences of each endpoint chain (sequences.ts).
 */
import { formatCidr } from "../model/cidr.ts";
import type { Direction, GlobalNetworkPolicy, Rule } from "../model/types.ts";
import type { AddressSet, Plan, StagedPlacement } from "../resolve/resolve.ts";
import type { Elements, Field, NftChain, NftRule, NftSet, NftTable, Statement } from "./ir.ts";
import { compileRule, logStatements, prefilterOf, type MatchContext, type RuleOwner } from "./match.ts";
import * as N from "./names.ts";
import { counter, goto, jump, masked, match, meta, namedSet, num, payload, setUpdate, sym, value, verdict } from "./statements.ts";

/** How a direction is spelt in chain names. */
export const DIR: Record<Direction, "in" | "out"> = { ingress: "in", egress: "out" };

/**
 * A name the compiler generated twice for different objects: a compiler bug that must never
 * reach the kernel, where nft would merge two chains into one (and the first chain's rules
 * would decide for the second). buildRuleset turns it into an INTERNAL_ERROR diagnostic.
 */
class NameClashError extends Error {}

/** Builds one table: chains in order of creation, sets declared on first use. */
export class TableBuilder {
  readonly chains: NftChain[] = [];
  private readonly chainNames = new Set<string>();
  private readonly sets = new Map<string, NftSet>();
  /** What each set was declared for: a second declaration under the same name must be the same set. */
  private readonly setKeys = new Map<string, string>();
  private readonly policyChains = new Set<string>();

  constructor(
    readonly family: "netdev" | "inet",
    readonly plan: Plan,
    /** Give every Deny rule a drop-summary set (compile.ts CompileOptions.dropSummaries). */
    readonly dropSummaries = false,
    /** Which selector sets use per-prefix-length sets (compile.ts CompileOptions.perLength). */
    readonly perLength: N.PerLengthLayout = N.PER_LENGTH_DEFAULTS,
  ) {}

  context(deny: "drop" | "reject"): MatchContext {
    return {
      felix: this.plan.felix,
      sets: this.plan.sets,
      deny,
      table: this.family,
      useSet: (name, family, hosts, set) => this.declareSet(name, family, hosts, set),
      perLength: this.perLength,
      useLengthSet: (name, family, length, elements, key) => this.declareLengthSet(name, family, length, elements, key),
      namedPorts: this.plan.namedPorts,
      useNamedPortSet: (name, family, tuples) => {
        const elements = [...new Set(tuples.map((t) => `${formatCidr(t.address)} . ${t.protocol} . ${t.port}`))].sort();
        if (this.sameSet(name, `named-port ${family} ${elements.join(",")}`)) return;
        this.sets.set(name, { name, type: family === 4 ? "ipv4_addr . inet_proto . inet_service" : "ipv6_addr . inet_proto . inet_service", interval: false, elements });
      },
    };
  }

  chain(name: string, rules: NftRule[], base?: NftChain["base"]): void {
    if (this.chainNames.has(name)) throw new NameClashError(`two chains named ${name} in table ${this.family} ${N.TABLE}`);
    this.chainNames.add(name);
    this.chains.push({ name, rules, base });
  }

  hasChain(name: string): boolean {
    return this.chainNames.has(name);
  }

  /** True when `name` is declared already for `key`; throws when it is declared for something else. */
  private sameSet(name: string, key: string): boolean {
    const known = this.setKeys.get(name);
    if (known === undefined) {
      this.setKeys.set(name, key);
      return false;
    }
    if (known !== key) throw new NameClashError(`two different sets named ${name} in table ${this.family} ${N.TABLE}`);
    return true;
  }

  /** The chain of a policy's rules in one direction, created once per table. */
  policyChain(policy: GlobalNetworkPolicy, direction: Direction, deny: "drop" | "reject"): string {
    const name = N.policyChain(policy.meta.name, DIR[direction]);
    if (!this.policyChains.has(name)) {
      this.policyChains.add(name);
      const owner: RuleOwner = { kindShort: "gnp", name: policy.meta.name, tier: policy.tier, direction };
      this.chain(name, compileRules(this, name, policy[direction], owner, this.context(deny)));
    }
    return name;
  }

  /** The count-only chain of a staged policy in one direction, created once per table. */
  stagedChain(placement: StagedPlacement, direction: Direction): string {
    const name = N.stagedPolicyChain(placement.name, DIR[direction]);
    if (!this.policyChains.has(name)) {
      this.policyChains.add(name);
      const owner: RuleOwner = { kindShort: "sgnp", name: placement.name, tier: placement.tier.meta.name, direction };
      this.chain(name, compileStagedRules(this, name, placement.policy[direction], owner, this.context("drop")));
    }
    return name;
  }

  /** A Deny rule's drop-summary set (or a Log rule's, `kind` log) of one family, declared once per table. */
  dropSet(origin: string, family: 4 | 6, kind: "drop" | "log" = "drop"): string {
    const name = kind === "drop" ? N.dropSet(origin, family) : N.logSet(origin, family);
    if (this.sameSet(name, `${kind}s ${origin} ${family}`)) return name;
    this.sets.set(name, { name, type: family === 4 ? "ipv4_addr" : "ipv6_addr", interval: false, elements: [], comment: origin, dynamic: { size: N.DROP_SET_SIZE, timeout: N.DROP_SET_TIMEOUT } });
    return name;
  }

  private declareSet(name: string, family: 4 | 6, hosts: boolean, set: AddressSet): void {
    if (this.sameSet(name, `selector ${family} ${hosts} ${set.key}`)) return;
    const hostBits = family === 4 ? 32 : 128;
    const members = (family === 4 ? set.v4 : set.v6).filter((c) => (c.prefix === hostBits) === hosts);
    this.sets.set(name, {
      name,
      type: family === 4 ? "ipv4_addr" : "ipv6_addr",
      interval: !hosts,
      elements: members.map(formatCidr),
      comment: set.key,
    });
  }

  /** A per-prefix-length set: network addresses in a hash set, or the rare lengths' CIDRs in an interval set. */
  private declareLengthSet(name: string, family: 4 | 6, length: number | "rare" | "prefilter", elements: () => Elements, key: string): void {
    if (this.sameSet(name, `selector ${family} l${length} ${key}`)) return;
    this.sets.set(name, { name, type: family === 4 ? "ipv4_addr" : "ipv6_addr", interval: length === "rare", elements: elements(), comment: key });
  }

  build(): NftTable {
    const sets = [...this.sets.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    return { family: this.family, name: N.TABLE, sets, chains: this.chains };
  }
}

/**
 * The rules of one policy or profile direction, for the chain `chain`. A rule usually renders
 * as one nft rule per alternative (family, set half, numeric or named ports), and the first
 * alternative that matches decides. Log decides nothing, so a packet matching two
 * alternatives would be logged (and rate-limited) twice: such a Log rule becomes a jump to
 * `<chain>-r<i>`, whose alternatives `goto` one shared `<chain>-r<i>-log`, once per packet.
 */
export function compileRules(t: TableBuilder, chain: string, rules: Rule[], owner: RuleOwner, ctx: MatchContext): NftRule[] {
  return rules.flatMap((r, i) => {
    const alternatives = compileRule(r, i, owner, ctx);
    if (r.action === "Deny") return prefiltered(t, `${chain}-r${i}-v6`, t.dropSummaries && alternatives.length > 0 ? summarisedDeny(t, `${chain}-r${i}-drop`, alternatives, owner, ctx) : alternatives);
    if (r.action === "Allow") return prefiltered(t, `${chain}-r${i}-v6`, alternatives, true);
    if (r.action === "Log" && t.dropSummaries && alternatives.length > 0) return summarisedLog(t, `${chain}-r${i}`, alternatives, owner, ctx);
    if (r.action !== "Log" || alternatives.length < 2) return alternatives;
    const log = logStatements(owner, ctx);
    const [matchChain, logChain] = [`${chain}-r${i}`, `${chain}-r${i}-log`];
    // An alternative is its matches (family pin included) followed by the log statements.
    t.chain(matchChain, alternatives.map((a) => ({ ...a, statements: [...a.statements.filter((st) => st.kind === "match"), counter(), goto(logChain)] })));
    t.chain(logChain, [rule(log.filter((st) => st.kind !== "counter"))]);
    return [rule([jump(matchChain)])];
  });
}

/**
 * A Deny or Allow rule's alternatives with a big IPv6 set's per-length lookups behind its
 * prefilter (match.ts Prefilter): those alternatives move, as they are, into `<chain>-r<i>-v6`,
 * and in their place one rule jumps there when the address is in the prefilter (with the
 * matches all of them share first, so a port that does not match skips the lookup too). A miss
 * then costs one lookup, not one per length. A Deny's alternatives end in a verdict. An Allow's
 * set ACCEPT and `return`, which returns from that chain only: `returnOnAccept` adds the rule
 * after the jump that returns from the policy's chain too. ACCEPT is clear whenever a policy or
 * profile chain runs (sequences.ts returns or accepts as soon as it is set), so that rule fires
 * only for this rule's Allow. Not for Pass: PASS can still be set when the profiles run.
 */
function prefiltered(t: TableBuilder, chain: string, alternatives: NftRule[], returnOnAccept = false): NftRule[] {
  const prefilterIn = (a: NftRule) => a.statements.map(prefilterOf).find((p) => p !== undefined);
  const prefilters = alternatives.map(prefilterIn);
  const prefilter = prefilters.find((p) => p !== undefined);
  if (!prefilter) return alternatives;
  const behind = alternatives.filter((_, k) => prefilters[k] === prefilter);
  const key = (st: Statement) => JSON.stringify(st);
  const shared = behind[0]!.statements.filter((st) => st.kind === "match" && !prefilterOf(st) && behind.every((a) => a.statements.some((o) => key(o) === key(st))));
  prefilter.declare();
  if (!t.hasChain(chain)) t.chain(chain, behind);
  const jumpRule: NftRule = { statements: [...shared, match(prefilter.field, "==", namedSet(prefilter.name)), jump(chain)], comment: behind[0]!.comment, origin: behind[0]!.origin };
  const afterJump: NftRule[] = returnOnAccept ? [{ statements: [match(masked(meta("mark"), N.MARK_ACCEPT), "==", value(num(N.MARK_ACCEPT))), verdict("return")], comment: jumpRule.comment, origin: jumpRule.origin }] : [];
  const first = prefilters.indexOf(prefilter);
  return alternatives.flatMap((a, k) => (k === first ? [jumpRule, ...afterJump] : prefilters[k] === prefilter ? [] : [a]));
}

/**
 * A Deny rule with a drop summary: its alternatives count and `goto <chain>-r<i>-drop`, which
 * adds the remote address (source for ingress, destination for egress) to the rule's dynamic
 * set of that family, counted per address, then denies. The set update sits in its own chain,
 * one rule per family, because `update @s { ip saddr }` makes nft pin the rule to IPv4.
 */
function summarisedDeny(t: TableBuilder, chain: string, alternatives: NftRule[], owner: RuleOwner, ctx: MatchContext): NftRule[] {
  const origin = alternatives[0]!.origin!.id;
  // The drop chain's rules decide for the Deny rule: they carry its comment and origin, so
  // `hostwall trace` and nft's error lines name the policy rule (metrics read counters only).
  const ruleOf = (statements: Statement[]): NftRule => ({ statements, comment: origin, origin: alternatives[0]!.origin });
  if (!t.hasChain(chain)) {
    const rules: NftRule[] = [];
    const families = new Set(alternatives.flatMap((a) => familiesOf(a, t.plan.felix.ipv6Support)));
    for (const family of [4, 6] as const) {
      if (!families.has(family)) continue;
      const pin = t.family === "inet" ? match(meta("nfproto"), "==", value(sym(family === 4 ? "ipv4" : "ipv6"))) : match(meta("protocol"), "==", value(sym(family === 4 ? "ip" : "ip6")));
      const remote = payload(family === 4 ? "ip" : "ip6", owner.direction === "ingress" ? "saddr" : "daddr");
      rules.push(ruleOf([pin, setUpdate(t.dropSet(origin, family), remote), verdict(ctx.deny)]));
    }
    rules.push(ruleOf([verdict(ctx.deny)]));
    t.chain(chain, rules);
  }
  return alternatives.map((a) => ({ ...a, statements: [...a.statements.filter((st) => st.kind === "match"), counter(), goto(chain)] }));
}

/**
 * A Log rule with a summary: the addresses whose packets it logged (every packet it matched,
 * before the log's rate limit) in a set per family, as a Deny rule's drops. Its alternatives
 * count and jump (one alternative) or go through `<chain>-r<i>` (several: once per packet) to
 * `<chain>-r<i>-log`, which updates the family's set, logs, and returns: a Log rule decides
 * nothing, and a full set only skips the update.
 */
function summarisedLog(t: TableBuilder, chain: string, alternatives: NftRule[], owner: RuleOwner, ctx: MatchContext): NftRule[] {
  const origin = alternatives[0]!.origin!;
  const ruleOf = (statements: Statement[]): NftRule => ({ statements, comment: origin.id, origin });
  const logChain = `${chain}-log`;
  if (!t.hasChain(logChain)) {
    const rules: NftRule[] = [];
    const families = new Set(alternatives.flatMap((a) => familiesOf(a, t.plan.felix.ipv6Support)));
    for (const family of [4, 6] as const) {
      if (!families.has(family)) continue;
      const pin = t.family === "inet" ? match(meta("nfproto"), "==", value(sym(family === 4 ? "ipv4" : "ipv6"))) : match(meta("protocol"), "==", value(sym(family === 4 ? "ip" : "ip6")));
      const remote = payload(family === 4 ? "ip" : "ip6", owner.direction === "ingress" ? "saddr" : "daddr");
      rules.push(ruleOf([pin, setUpdate(t.dropSet(origin.id, family, "log"), remote)]));
    }
    // The counter stays where it was without summaries: behind the rate limit for one
    // alternative (it counts logged packets), in the alternatives for several.
    const single = alternatives.length === 1;
    rules.push(ruleOf(logStatements(owner, ctx).filter((st) => single || st.kind !== "counter")));
    t.chain(logChain, rules);
  }
  const matches = (a: NftRule) => a.statements.filter((st) => st.kind === "match");
  if (alternatives.length === 1) return [{ ...alternatives[0]!, statements: [...matches(alternatives[0]!), jump(logChain)] }];
  t.chain(chain, alternatives.map((a) => ({ ...a, statements: [...matches(a), counter(), goto(logChain)] })));
  return [rule([jump(chain)])];
}

/** The IP families an alternative can match: its pin or its ip/ip6 matches, else every enabled one. */
function familiesOf(a: NftRule, v6: boolean): (4 | 6)[] {
  const fieldFamily = (f: Field): 4 | 6 | undefined =>
    f.kind === "payload" && (f.protocol === "ip" || f.protocol === "icmp") ? 4
    : f.kind === "payload" && (f.protocol === "ip6" || f.protocol === "icmpv6") ? 6
    : f.kind === "concat" ? f.fields.map(fieldFamily).find((x) => x !== undefined)
    : f.kind === "prefix" ? fieldFamily(f.field)
    : undefined;
  for (const st of a.statements) {
    if (st.kind !== "match") continue;
    const pinned = st.op === "==" && st.left.kind === "meta" && (st.left.key === "nfproto" || st.left.key === "protocol") && st.right.kind === "value" && st.right.value.kind === "symbol" ? st.right.value.value : undefined;
    if (pinned === "ipv4" || pinned === "ip") return [4];
    if (pinned === "ipv6" || pinned === "ip6") return [6];
    const f = fieldFamily(st.left);
    if (f) return [f];
  }
  return v6 ? [4, 6] : [4];
}

/**
 * A staged policy's rules as count-only shadows: each alternative keeps its matches, counts and
 * returns (the first rule that matches ends the policy, as the enforced twin's verdict would),
 * with no mark, log or verdict. A Log rule counts and goes on, as the twin logs and goes on;
 * with several alternatives it counts once per packet through a `<chain>-r<i>` chain.
 */
function compileStagedRules(t: TableBuilder, chain: string, rules: Rule[], owner: RuleOwner, ctx: MatchContext): NftRule[] {
  return rules.flatMap((r, i) => {
    const matches = compileRule(r, i, owner, ctx).map((a) => ({ ...a, statements: a.statements.filter((st) => st.kind === "match") }));
    const counted = (end: boolean) => matches.map((a) => ({ ...a, statements: [...a.statements, counter(), ...(end ? [verdict("return")] : [])] }));
    if (r.action !== "Log") return counted(true);
    if (matches.length < 2) return counted(false);
    t.chain(`${chain}-r${i}`, counted(true));
    return [rule([jump(`${chain}-r${i}`)])];
  });
}

/** One IR rule: its statements, an nft comment, and the origin its counter is labelled with. */
export function rule(statements: Statement[], comment?: string, id?: string): NftRule {
  return { statements, comment, origin: id ? { id } : undefined };
}
