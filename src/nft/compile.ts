/**
 * Plan → nft IR: the chain layout (DESIGN.md §4, reference §3, §6.4, §10.1).
 *
 *   packet in on eth0                                   packet out of eth0
 *   ─────────────────                                   ──────────────────
 *   netdev hostwall  ingress-eth0 (-500)                 inet raw-output (-300)
 *     non-IP → accept (ARP is never policed)               → untracked-out-eth0: failsafe-raw-out,
 *     failsafe-raw-in → accept                               untracked tiers (Allow: mark+notrack+accept)
 *     untracked tiers: Deny → drop,                       inet filter-output (0)
 *       Allow → mark accept(), accept                         ACCEPT mark → accept
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
import type { Direction } from "../model/types.ts";
import { WILDCARD, type EndpointPlan, type Plan, type Stage } from "../resolve/resolve.ts";
import type { NftRule, NftRuleset, NftTable, Statement } from "./ir.ts";
import * as N from "./names.ts";
import { accepted, clear, failsafeRules, profileSequence, tierSequence } from "./sequences.ts";
import { counter, ctState, exists, exthdrFrag, flags, jump, markOr, masked, match, meta, notrack, num, payload, raw, set, str, sym, value, verdict, vmap } from "./statements.ts";
import { DIR, rule, TableBuilder } from "./table-builder.ts";

export interface CompileOptions {
  /** Interfaces that exist now: netdev chains are rendered only for them (kernels < 6.16 reject missing devices). Undefined = all. */
  interfaces?: ReadonlySet<string>;
  /**
   * Every policy and profile Deny rule feeds a drop-summary set (names.ts dropSet): the
   * addresses it denied, with counters, bounded and expiring. On by default (`run
   * --drop-summaries=off` turns it off): a dropped packet costs 1.06–1.14 x a plain drop and
   * each set stays at 256 elements under a flood of new sources (bench/RESULTS.md, #14 item 5).
   */
  dropSummaries?: boolean;
  /**
   * Big selector sets are split into one hash set per prefix length (docs/nft-layout.md "Big
   * selector sets"): an edit is one element in one hash set, where an interval set costs
   * 150-480 ms per transaction at 1M (bench/RESULTS.md). Default: names.ts
   * PER_LENGTH_DEFAULTS (4096 members, lengths under 64 members in the interval set), each
   * overridden by HOSTWALL_PER_LENGTH_THRESHOLD / HOSTWALL_PER_LENGTH_RARE (digits only; for
   * tests: threshold 0 splits every set).
   */
  perLength?: Partial<N.PerLengthLayout>;
}

/** The per-length layout of `opts`, else of the environment (plain decimal numbers only; anything else is ignored: the layout never changes verdicts), else the defaults. */
export function perLengthLayout(opts: Partial<N.PerLengthLayout> = {}, env: Record<string, string | undefined> = process.env): N.PerLengthLayout {
  const fromEnv = (name: string) => {
    const text = env[name];
    return text !== undefined && /^\d{1,9}$/.test(text) ? Number(text) : undefined;
  };
  return {
    threshold: opts.threshold ?? fromEnv("HOSTWALL_PER_LENGTH_THRESHOLD") ?? N.PER_LENGTH_DEFAULTS.threshold,
    rare: opts.rare ?? fromEnv("HOSTWALL_PER_LENGTH_RARE") ?? N.PER_LENGTH_DEFAULTS.rare,
  };
}

export function compileRuleset(plan: Plan, opts: CompileOptions = {}): NftRuleset {
  // Untracked policy never applies to a `*` endpoint, so it has no netdev chain.
  const netdev = plan.endpoints.filter((ep) => ep.interfaceName !== WILDCARD && (!opts.interfaces || opts.interfaces.has(ep.interfaceName)));
  const drops = opts.dropSummaries ?? true;
  const perLength = perLengthLayout(opts.perLength);
  return { tables: [compileNetdev(plan, netdev, drops, perLength), compileInet(plan, netdev.map((ep) => ep.interfaceName), drops, perLength)] };
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
const stackedPriorityTags = (): Statement[] => [
  match(meta("protocol"), "==", set([sym("8021q"), sym("8021ad")])),
  match(raw("ll", 116, 12), "==", value(num(0))),
  match(raw("nh", 4, 12), "==", value(num(0))),
];
const accept = () => verdict("accept");

function compileNetdev(plan: Plan, endpoints: EndpointPlan[], drops: boolean, perLength: N.PerLengthLayout): NftTable {
  const t = new TableBuilder("netdev", plan, drops, perLength);
  t.chain(N.CHAIN_FAILSAFE_RAW_IN, failsafeRules(plan, "in", true));
  const notPoliced = plan.felix.ipv6Support
    ? rule([match(meta("protocol"), "!=", set([sym("ip"), sym("ip6")])), accept()], "non-IP traffic (ARP, ...) is never policed")
    : rule([match(meta("protocol"), "!=", value(sym("ip"))), accept()], "non-IPv4 traffic (ARP, ..., IPv6: ipv6Support is false) is never policed");
  for (const ep of endpoints) {
    const untracked = ep.stages.untracked.ingress.length > 0;
    const rules: NftRule[] = [
      ...(untracked ? [rule([...stackedPriorityTags(), counter(), verdict("drop")], "stacked priority tags: the IP inside would bypass this hook")] : []),
      notPoliced,
      rule([clear()]),
      ...(needsReassembly(ep)
        ? [
            rule([match(masked(payload("ip", "frag-off"), 0x3fff), "!=", value(num(0))), accept()], "IPv4 fragment: judged after reassembly"),
            rule([match(exthdrFrag(), "==", exists()), accept()], "IPv6 fragment: judged after reassembly"),
            rule([markOr(N.MARK_SEEN)]),
          ]
        : []),
      rule([jump(N.CHAIN_FAILSAFE_RAW_IN)]),
      ...tierSequence(t, ep, "untracked", "ingress", [accept()]),
    ];
    t.chain(N.netdevChain(ep.interfaceName), rules, { hook: "ingress", priority: N.PRIORITY_NETDEV, device: ep.interfaceName });
  }
  return t.build();
}

/** `withNetdev`: the interfaces whose netdev chain cleared hostwall's mark bits already. */
function compileInet(plan: Plan, withNetdev: string[], drops: boolean, perLength: N.PerLengthLayout): NftTable {
  const t = new TableBuilder("inet", plan, drops, perLength);
  const eps = plan.endpoints;
  const withStage = (stage: Stage, dir: Direction) => eps.filter((ep) => ep.stages[stage][dir].length > 0);
  const deny = plan.felix.filterDenyAction === "Reject" ? "reject" : "drop";
  const ct = (...states: string[]) => match(ctState(), "==", flags(...states));
  const invalid = (action: "drop" | "reject") => (plan.felix.conntrackInvalidCheck ? [rule([ct("invalid"), counter(), verdict(action)], "conntrack invalid")] : []);
  const conntrack = [rule([ct("established", "related"), accept()]), ...invalid(deny)];

  // With ipv6Support false Calico programs no IPv6 rules at all: IPv6 passes every hook untouched.
  const v6Untouched = plan.felix.ipv6Support ? [] : [rule([match(meta("nfproto"), "==", value(sym("ipv6"))), accept()], "ipv6Support is false: IPv6 is not policed")];
  // Packets of interfaces without a netdev chain (the `*` endpoint's, any other) arrive with
  // whatever mark bits tc or another table set: clear hostwall's before anything reads them.
  const foreignMarks = withNetdev.length > 0 ? [match(meta("iifname"), "!=", set(withNetdev.map(str)))] : [];
  const untrackedIn = withStage("untracked", "ingress").filter(needsReassembly);
  t.chain(N.CHAIN_RAW_PREROUTING, [
    ...v6Untouched,
    rule([...foreignMarks, clear()]),
    rule([accepted(), notrack(), accept()], "allowed by the untracked stage"),
    ...dispatch("iifname", untrackedIn, (ep) => N.endpointChain("untracked", "in", ep.interfaceName), markClear(N.MARK_SEEN)),
  ], { hook: "prerouting", priority: N.PRIORITY_RAW });
  const untrackedOut = withStage("untracked", "egress");
  t.chain(N.CHAIN_RAW_OUTPUT, [...v6Untouched, rule([clear()]), ...dispatch("oifname", untrackedOut, (ep) => N.endpointChain("untracked", "out", ep.interfaceName))], { hook: "output", priority: N.PRIORITY_RAW });
  const preDnat = withStage("preDNAT", "ingress");
  t.chain(N.CHAIN_MANGLE_PREROUTING, [...v6Untouched, ...conntrack.slice(0, 1), rule([accepted(), accept()]), ...dispatch("iifname", preDnat, (ep) => N.endpointChain("prednat", "in", ep.interfaceName))], { hook: "prerouting", priority: N.PRIORITY_MANGLE });
  t.chain(N.CHAIN_FILTER_INPUT, [...v6Untouched, rule([accepted(), accept()]), ...dispatch("iifname", eps, (ep) => N.endpointChain("normal", "in", ep.interfaceName))], { hook: "input", priority: N.PRIORITY_FILTER });
  t.chain(N.CHAIN_FILTER_OUTPUT, [...v6Untouched, rule([accepted(), accept()]), ...dispatch("oifname", eps, (ep) => N.endpointChain("normal", "out", ep.interfaceName))], { hook: "output", priority: N.PRIORITY_FILTER });
  // Every endpoint has forward chains (conntrack first, then its applyOnForward tiers, or
  // allow when it has none), so the `*` endpoint is only the fallback, as in Felix.
  t.chain(N.CHAIN_FILTER_FORWARD, [
    ...v6Untouched,
    ...dispatch("iifname", eps, (ep) => N.endpointChain("forward", "in", ep.interfaceName), markClear(N.MARK_ACCEPT)),
    ...dispatch("oifname", eps, (ep) => N.endpointChain("forward", "out", ep.interfaceName)),
  ], { hook: "forward", priority: N.PRIORITY_FILTER });

  t.chain(N.CHAIN_FAILSAFE_IN, failsafeRules(plan, "in", false));
  t.chain(N.CHAIN_FAILSAFE_OUT, failsafeRules(plan, "out", false));
  if (untrackedOut.length > 0) t.chain(N.CHAIN_FAILSAFE_RAW_OUT, failsafeRules(plan, "out", true));
  if (untrackedIn.length > 0) t.chain(N.CHAIN_FAILSAFE_RAW_IN, failsafeRules(plan, "in", true));

  // Reassembled fragments, and packets from interfaces whose netdev chain is not attached.
  for (const ep of untrackedIn) {
    t.chain(N.endpointChain("untracked", "in", ep.interfaceName), [rule([jump(N.CHAIN_FAILSAFE_RAW_IN)]), ...tierSequence(t, ep, "untracked", "ingress", [notrack(), accept()])]);
  }
  for (const ep of untrackedOut) {
    t.chain(N.endpointChain("untracked", "out", ep.interfaceName), [rule([jump(N.CHAIN_FAILSAFE_RAW_OUT)]), ...tierSequence(t, ep, "untracked", "egress", [notrack(), accept()])]);
  }
  for (const ep of preDnat) {
    t.chain(N.endpointChain("prednat", "in", ep.interfaceName), [...invalid("drop"), rule([jump(N.CHAIN_FAILSAFE_IN)]), rule([clear()]), ...tierSequence(t, ep, "preDNAT", "ingress", [accept()])]);
  }
  for (const ep of eps) {
    for (const dir of ["ingress", "egress"] as const) {
      const failsafe = dir === "ingress" ? N.CHAIN_FAILSAFE_IN : N.CHAIN_FAILSAFE_OUT;
      t.chain(N.endpointChain("normal", DIR[dir], ep.interfaceName), [
        ...conntrack,
        rule([jump(failsafe)]),
        rule([clear()]),
        ...tierSequence(t, ep, "normal", dir, [accept()], deny),
        ...profileSequence(t, ep, dir, deny),
      ]);
    }
  }
  for (const dir of ["ingress", "egress"] as const) {
    for (const ep of eps) {
      t.chain(N.endpointChain("forward", DIR[dir], ep.interfaceName), [
        ...conntrack,
        rule([clear()]),
        ...tierSequence(t, ep, "forward", dir, [verdict(dir === "ingress" ? "return" : "accept")], deny),
      ]);
    }
  }
  return t.build();
}

/** `meta mark & bit == 0`. */
function markClear(bit: number): Statement {
  return match(masked(meta("mark"), bit), "==", value(num(0)));
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
function dispatch(key: "iifname" | "oifname", eps: EndpointPlan[], chain: (ep: EndpointPlan) => string, guard?: Statement): NftRule[] {
  const named = eps.filter((ep) => ep.interfaceName !== WILDCARD);
  const wildcard = eps.find((ep) => ep.interfaceName === WILDCARD);
  const pre = guard ? [guard] : [];
  const out: NftRule[] = [];
  if (named.length > 0) out.push(rule([...pre, vmap(meta(key), named.map((ep) => ({ key: str(ep.interfaceName), verdict: "jump", target: chain(ep) })))]));
  if (wildcard) {
    const skip = ["lo", ...named.map((ep) => ep.interfaceName)].map(str);
    out.push(rule([...pre, match(meta(key), "!=", set(skip)), jump(chain(wildcard))], `HostEndpoint ${wildcard.hep.meta.name} (interfaceName *)`));
  }
  return out;
}
