/**
 * Plan → nft IR: the chain layout (DESIGN.md §4, reference §3, §6.4, §10.1).
 *
 *   packet in on eth0                                   packet out of eth0
 *   ─────────────────                                   ──────────────────
 *   netdev hostwall  ingress-eth0 (-500)                 inet raw-output (-300)
 *     non-IP → accept (ARP is never policed)               → untracked-out-eth0: failsafe-raw-out,
 *     failsafe-raw-in → accept                               untracked tiers (Allow: mark+notrack+accept)
 *     untracked tiers: Deny → drop,                       inet filter-output (0)
 *       Allow → mark ACCEPT, accept                         ACCEPT mark → accept
 *   inet raw-prerouting (-300)                             → normal-out-eth0: ct est/rel, failsafe-out,
 *     ACCEPT mark → notrack, accept                          tiers, profiles, deny
 *   inet mangle-prerouting (-150)                        forwarded eth0 → eth1
 *     ct est/rel → accept; ACCEPT mark → accept          ─────────────────────
 *     → prednat-in-eth0: failsafe-in, preDNAT tiers      inet filter-forward (0)
 *   inet filter-input (0)                                  no ACCEPT mark → forward-in-eth0
 *     ACCEPT mark → accept                                 (Allow → mark, return)
 *     → normal-in-eth0: ct est/rel, failsafe-in,           → forward-out-eth1 (Allow → accept)
 *       tiers, profiles, deny
 *
 * Policy chains (`gnp-<name>-in|out`) hold a policy's rules and report with mark bits: Allow
 * sets ACCEPT and returns, Pass sets PASS and returns, Deny drops (or rejects in filter
 * stages), Log logs and continues. The per-endpoint chain walks tiers in order: it jumps to a
 * policy only while PASS is clear, turns ACCEPT into the stage's verdict, and ends a tier with
 * a deny unless the tier passes by default. Untracked and pre-DNAT tiers always pass by
 * default (reference §2.4). Sets are copied into each table that uses them (a netdev table
 * cannot share sets with an inet table).
 */
import { formatCidr } from "../model/cidr.ts";
import type { Direction, FailsafePort, GlobalNetworkPolicy, Rule } from "../model/types.ts";
import { WILDCARD, type AddressSet, type EndpointPlan, type Plan, type Stage, type TierPlan } from "../resolve/resolve.ts";
import type { NftChain, NftRule, NftRuleset, NftSet, NftTable } from "./ir.ts";
import { compileRule, logStatements, type MatchContext, type RuleOwner } from "./match.ts";
import * as N from "./names.ts";

export interface CompileOptions {
  /** Interfaces that exist now: netdev chains are rendered only for them (kernels < 6.16 reject missing devices). Undefined = all. */
  interfaces?: ReadonlySet<string>;
}

const ACCEPTED = `meta mark & ${N.hex(N.MARK_ACCEPT)} == ${N.hex(N.MARK_ACCEPT)}`;
const NOT_PASSED = `meta mark & ${N.hex(N.MARK_PASS)} == 0`;
const CLEAR = `meta mark set meta mark & ${N.hex(N.MARK_CLEAR)}`;
const DIR: Record<Direction, "in" | "out"> = { ingress: "in", egress: "out" };

/**
 * A name the compiler generated twice for different objects: a compiler bug that must never
 * reach the kernel, where nft would merge two chains into one (and the first chain's rules
 * would decide for the second). buildRuleset turns it into an INTERNAL_ERROR diagnostic.
 */
export class NameClashError extends Error {}

/** Builds one table: chains in order of creation, sets declared on first use. */
class TableBuilder {
  readonly chains: NftChain[] = [];
  private readonly chainNames = new Set<string>();
  private readonly sets = new Map<string, NftSet>();
  /** What each set was declared for: a second declaration under the same name must be the same set. */
  private readonly setKeys = new Map<string, string>();
  private readonly policyChains = new Set<string>();

  constructor(
    readonly family: "netdev" | "inet",
    readonly plan: Plan,
  ) {}

  context(deny: "drop" | "reject"): MatchContext {
    return {
      felix: this.plan.felix,
      sets: this.plan.sets,
      deny,
      table: this.family,
      useSet: (name, family, hosts, set) => this.declareSet(name, family, hosts, set),
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
function compileRules(t: TableBuilder, chain: string, rules: Rule[], owner: RuleOwner, ctx: MatchContext): NftRule[] {
  return rules.flatMap((r, i) => {
    const alternatives = compileRule(r, i, owner, ctx);
    if (r.action !== "Log" || alternatives.length < 2) return alternatives;
    const log = logStatements(owner, ctx);
    const [matchChain, logChain] = [`${chain}-r${i}`, `${chain}-r${i}-log`];
    t.chain(matchChain, alternatives.map((a) => ({ ...a, statements: [...a.statements.slice(0, -log.length), "counter", `goto ${logChain}`] })));
    t.chain(logChain, [rule(log.filter((st) => st !== "counter"))]);
    return [rule([`jump ${matchChain}`])];
  });
}

export function compileRuleset(plan: Plan, opts: CompileOptions = {}): NftRuleset {
  // Untracked policy never applies to a `*` endpoint, so it has no netdev chain.
  const netdev = plan.endpoints.filter((ep) => ep.interfaceName !== WILDCARD && (!opts.interfaces || opts.interfaces.has(ep.interfaceName)));
  return { tables: [compileNetdev(plan, netdev), compileInet(plan, netdev.map((ep) => ep.interfaceName))] };
}

/**
 * Priority tags (VLAN id 0) stacked on each other: at the ingress hook the outer tag is in
 * the skb's metadata and `meta protocol` names the inner tag, so the frame looks like non-IP
 * traffic; the kernel then strips VID 0 tags without passing the hook again and delivers the
 * IP packet inside as the interface's own, past the untracked stage (test/kernel/vlan.test.ts).
 * `@ll,116,12` is the outer VLAN id (nft rebuilds the link header from the metadata),
 * `@nh,4,12` the inner one. A priority tag on a real VLAN tag is left alone: it reaches the
 * VLAN's own interface (and its hook), or nothing.
 */
const STACKED_PRIORITY_TAGS = "meta protocol { 8021q, 8021ad } @ll,116,12 0 @nh,4,12 0";

function compileNetdev(plan: Plan, endpoints: EndpointPlan[]): NftTable {
  const t = new TableBuilder("netdev", plan);
  t.chain(N.CHAIN_FAILSAFE_RAW_IN, failsafeRules(plan, "in", true));
  const notPoliced = plan.felix.ipv6Support
    ? rule(["meta protocol != { ip, ip6 }", "accept"], "non-IP traffic (ARP, ...) is never policed")
    : rule(["meta protocol != ip", "accept"], "non-IPv4 traffic (ARP, ..., IPv6: ipv6Support is false) is never policed");
  for (const ep of endpoints) {
    const untracked = ep.stages.untracked.ingress.length > 0;
    const rules: NftRule[] = [
      ...(untracked ? [rule([STACKED_PRIORITY_TAGS, "counter", "drop"], "stacked priority tags: the IP inside would bypass this hook")] : []),
      notPoliced,
      rule([CLEAR]),
      ...(needsReassembly(ep)
        ? [
            rule(["ip frag-off & 0x3fff != 0", "accept"], "IPv4 fragment: judged after reassembly"),
            rule(["exthdr frag exists", "accept"], "IPv6 fragment: judged after reassembly"),
            rule([`meta mark set meta mark | ${N.hex(N.MARK_SEEN)}`]),
          ]
        : []),
      rule([`jump ${N.CHAIN_FAILSAFE_RAW_IN}`]),
      ...tierSequence(t, ep, "untracked", "ingress", "accept"),
    ];
    t.chain(N.netdevChain(ep.interfaceName), rules, { hook: "ingress", priority: N.PRIORITY_NETDEV, device: ep.interfaceName });
  }
  return t.build();
}

/** `withNetdev`: the interfaces whose netdev chain cleared hostwall's mark bits already. */
function compileInet(plan: Plan, withNetdev: string[]): NftTable {
  const t = new TableBuilder("inet", plan);
  const eps = plan.endpoints;
  const withStage = (stage: Stage, dir: Direction) => eps.filter((ep) => ep.stages[stage][dir].length > 0);
  const deny = plan.felix.filterDenyAction === "Reject" ? "reject" : "drop";
  const invalid = (action: "drop" | "reject") => (plan.felix.conntrackInvalidCheck ? [rule(["ct state invalid", "counter", action], "conntrack invalid")] : []);
  const conntrack = [rule(["ct state established,related", "accept"]), ...invalid(deny)];

  // With ipv6Support false Calico programs no IPv6 rules at all: IPv6 passes every hook untouched.
  const v6Untouched = plan.felix.ipv6Support ? [] : [rule(["meta nfproto ipv6", "accept"], "ipv6Support is false: IPv6 is not policed")];
  // Packets of interfaces without a netdev chain (the `*` endpoint's, any other) arrive with
  // whatever mark bits tc or another table set: clear hostwall's before anything reads them.
  const foreignMarks = withNetdev.length > 0 ? [`iifname != { ${withNetdev.map((n) => `"${n}"`).join(", ")} }`] : [];
  const untrackedIn = withStage("untracked", "ingress").filter(needsReassembly);
  t.chain(N.CHAIN_RAW_PREROUTING, [
    ...v6Untouched,
    rule([...foreignMarks, CLEAR]),
    rule([ACCEPTED, "notrack", "accept"], "allowed by the untracked stage"),
    ...dispatch("iifname", untrackedIn, (ep) => N.endpointChain("untracked", "in", ep.interfaceName), `meta mark & ${N.hex(N.MARK_SEEN)} == 0`),
  ], { hook: "prerouting", priority: N.PRIORITY_RAW });
  const untrackedOut = withStage("untracked", "egress");
  t.chain(N.CHAIN_RAW_OUTPUT, [...v6Untouched, rule([CLEAR]), ...dispatch("oifname", untrackedOut, (ep) => N.endpointChain("untracked", "out", ep.interfaceName))], { hook: "output", priority: N.PRIORITY_RAW });
  const preDnat = withStage("preDNAT", "ingress");
  t.chain(N.CHAIN_MANGLE_PREROUTING, [...v6Untouched, ...conntrack.slice(0, 1), rule([ACCEPTED, "accept"]), ...dispatch("iifname", preDnat, (ep) => N.endpointChain("prednat", "in", ep.interfaceName))], { hook: "prerouting", priority: N.PRIORITY_MANGLE });
  t.chain(N.CHAIN_FILTER_INPUT, [...v6Untouched, rule([ACCEPTED, "accept"]), ...dispatch("iifname", eps, (ep) => N.endpointChain("normal", "in", ep.interfaceName))], { hook: "input", priority: N.PRIORITY_FILTER });
  t.chain(N.CHAIN_FILTER_OUTPUT, [...v6Untouched, rule([ACCEPTED, "accept"]), ...dispatch("oifname", eps, (ep) => N.endpointChain("normal", "out", ep.interfaceName))], { hook: "output", priority: N.PRIORITY_FILTER });
  // Every endpoint has forward chains (conntrack first, then its applyOnForward tiers, or
  // allow when it has none), so the `*` endpoint is only the fallback, as in Felix.
  t.chain(N.CHAIN_FILTER_FORWARD, [
    ...v6Untouched,
    ...dispatch("iifname", eps, (ep) => N.endpointChain("forward", "in", ep.interfaceName), `meta mark & ${N.hex(N.MARK_ACCEPT)} == 0`),
    ...dispatch("oifname", eps, (ep) => N.endpointChain("forward", "out", ep.interfaceName)),
  ], { hook: "forward", priority: N.PRIORITY_FILTER });

  t.chain(N.CHAIN_FAILSAFE_IN, failsafeRules(plan, "in", false));
  t.chain(N.CHAIN_FAILSAFE_OUT, failsafeRules(plan, "out", false));
  if (untrackedOut.length > 0) t.chain(N.CHAIN_FAILSAFE_RAW_OUT, failsafeRules(plan, "out", true));
  if (untrackedIn.length > 0) t.chain(N.CHAIN_FAILSAFE_RAW_IN, failsafeRules(plan, "in", true));

  // Reassembled fragments, and packets from interfaces whose netdev chain is not attached.
  for (const ep of untrackedIn) {
    t.chain(N.endpointChain("untracked", "in", ep.interfaceName), [rule([`jump ${N.CHAIN_FAILSAFE_RAW_IN}`]), ...tierSequence(t, ep, "untracked", "ingress", "notrack accept")]);
  }
  for (const ep of untrackedOut) {
    t.chain(N.endpointChain("untracked", "out", ep.interfaceName), [rule([`jump ${N.CHAIN_FAILSAFE_RAW_OUT}`]), ...tierSequence(t, ep, "untracked", "egress", "notrack accept")]);
  }
  for (const ep of preDnat) {
    t.chain(N.endpointChain("prednat", "in", ep.interfaceName), [...invalid("drop"), rule([`jump ${N.CHAIN_FAILSAFE_IN}`]), rule([CLEAR]), ...tierSequence(t, ep, "preDNAT", "ingress", "accept")]);
  }
  for (const ep of eps) {
    for (const dir of ["ingress", "egress"] as const) {
      const failsafe = dir === "ingress" ? N.CHAIN_FAILSAFE_IN : N.CHAIN_FAILSAFE_OUT;
      t.chain(N.endpointChain("normal", DIR[dir], ep.interfaceName), [
        ...conntrack,
        rule([`jump ${failsafe}`]),
        rule([CLEAR]),
        ...tierSequence(t, ep, "normal", dir, "accept", deny),
        ...profileSequence(t, ep, dir, deny),
      ]);
    }
  }
  for (const dir of ["ingress", "egress"] as const) {
    for (const ep of eps) {
      t.chain(N.endpointChain("forward", DIR[dir], ep.interfaceName), [
        ...conntrack,
        rule([CLEAR]),
        ...tierSequence(t, ep, "forward", dir, dir === "ingress" ? "return" : "accept", deny),
      ]);
    }
  }
  return t.build();
}

/**
 * netdev runs before defragmentation, where port and ICMP matches miss non-first fragments
 * (reference/nftables.md §1.5), while Calico judges the reassembled datagram. When an
 * endpoint's untracked ingress rules look at ports or ICMP fields, its fragments skip the
 * netdev chain and the untracked stage judges them after reassembly in inet raw-prerouting
 * (which then needs its own copy of the sets). Address and protocol matches see every
 * fragment, so without such rules netdev decides alone and the sets are loaded once.
 */
function needsReassembly(ep: EndpointPlan): boolean {
  return ep.stages.untracked.ingress.some((tier) =>
    tier.policies.some((p) => p.ingress.some((r) => r.icmp || r.notICMP || [r.source, r.destination].some((s) => s.ports.length > 0 || s.notPorts.length > 0))),
  );
}

/**
 * `iifname vmap { "eth0" : jump normal-in-eth0, … }`, then the `*` endpoint's chain for every
 * other interface except loopback (reference §3.4, §10.2). As in Felix, a stage's map holds
 * only the endpoints with policy in that stage, so a named endpoint without, say, pre-DNAT
 * policy falls through to the `*` endpoint's pre-DNAT chain.
 */
function dispatch(key: "iifname" | "oifname", eps: EndpointPlan[], chain: (ep: EndpointPlan) => string, guard?: string): NftRule[] {
  const named = eps.filter((ep) => ep.interfaceName !== WILDCARD);
  const wildcard = eps.find((ep) => ep.interfaceName === WILDCARD);
  const pre = guard ? [guard] : [];
  const out: NftRule[] = [];
  if (named.length > 0) out.push(rule([...pre, `${key} vmap { ${named.map((ep) => `"${ep.interfaceName}" : jump ${chain(ep)}`).join(", ")} }`]));
  if (wildcard) {
    const skip = ["lo", ...named.map((ep) => ep.interfaceName)].map((n) => `"${n}"`);
    out.push(rule([...pre, `${key} != { ${skip.join(", ")} }`, `jump ${chain(wildcard)}`], `HostEndpoint ${wildcard.hep.meta.name} (interfaceName *)`));
  }
  return out;
}

/**
 * The tiers of one stage and direction. `allow` is the verdict once a policy set ACCEPT;
 * `deny` (filter stages only) ends a tier whose default action is Deny.
 */
function tierSequence(t: TableBuilder, ep: EndpointPlan, stage: Stage, dir: Direction, allow: string, deny?: "drop" | "reject"): NftRule[] {
  const out: NftRule[] = [];
  const tiers: TierPlan[] = ep.stages[stage][dir];
  const chainDeny = stage === "untracked" || stage === "preDNAT" ? "drop" : (deny ?? "drop");
  tiers.forEach(({ tier, policies }, ti) => {
    if (ti > 0) out.push(rule([`meta mark set meta mark & ${N.hex(~N.MARK_PASS >>> 0)}`], `tier ${tier.meta.name}`));
    policies.forEach((policy, pi) => {
      const chain = t.policyChain(policy, dir, chainDeny);
      out.push(rule([...(pi > 0 ? [NOT_PASSED] : []), `jump ${chain}`]));
      out.push(rule([ACCEPTED, allow]));
    });
    if (deny && tier.defaultAction === "Deny") {
      out.push(rule([NOT_PASSED, "counter", deny], `tier ${tier.meta.name}: no policy decided`, `tier/${tier.meta.name}/${dir}/end`));
    }
  });
  return out;
}

/** Profiles of the normal stage, then the final deny. */
function profileSequence(t: TableBuilder, ep: EndpointPlan, dir: Direction, deny: "drop" | "reject"): NftRule[] {
  const out: NftRule[] = [];
  for (const ref of ep.profiles) {
    if (ref.kind === "default-allow") {
      out.push(rule(["counter", "accept"], "profile projectcalico-default-allow", `pro/projectcalico-default-allow/${dir}`));
      return out;
    }
    if (ref.kind === "missing") {
      out.push(rule(["counter", deny], `profile ${ref.name} is missing: deny-all`, `pro/${ref.name}/${dir}/missing`));
      return out;
    }
    const profile = ref.profile;
    const name = N.profileChain(profile.meta.name, DIR[dir]);
    if (!t.hasChain(name)) {
      t.chain(name, compileRules(t, name, profile[dir], { kindShort: "pro", name: profile.meta.name, tier: "", direction: dir }, t.context(deny)));
    }
    out.push(rule([`jump ${name}`]), rule([ACCEPTED, "accept"]));
  }
  out.push(rule(["counter", deny], `hep/${ep.hep.meta.name}/${dir}: no policy or profile allowed`, `hep/${ep.hep.meta.name}/${dir}/default-deny`));
  return out;
}

/**
 * Failsafe accepts. Tracked stages match the destination port (and remote net); the raw
 * variants also accept the reverse direction by source port, so a failsafe connection is
 * never half-untracked (reference §3.5).
 */
function failsafeRules(plan: Plan, dir: "in" | "out", raw: boolean): NftRule[] {
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
    if (unique.length > 0) out.push(rule([`meta l4proto ${proto}`, `th ${portField} { ${unique.join(", ")} }`, "counter", "accept"], comment, `failsafe/${comment.replaceAll(" ", "-")}/${proto}`));
    for (const p of ports.filter((x) => x.protocol === proto && x.net)) {
      if (p.net!.family === 6 && !v6) continue;
      const ip = p.net!.family === 4 ? "ip" : "ip6";
      out.push(rule([`${ip} ${addrField} ${formatCidr(p.net!)}`, `meta l4proto ${proto}`, `th ${portField} ${p.port}`, "counter", "accept"], comment, `failsafe/${comment.replaceAll(" ", "-")}/${proto}`));
    }
  }
  return out;
}

function rule(statements: string[], comment?: string, id?: string): NftRule {
  return { statements, comment, origin: id ? { id } : undefined };
}
