/**
 * The IR interpreter (src/nft/interpret.ts) on hand-built typed IR: hooks and priorities,
 * the kernel's own steps between them (conntrack, DNAT, defragmentation), jump/goto/return,
 * named and anonymous sets, marks, ct state and notrack, counters, logs, verdict maps, and the
 * typed errors for what it does not understand. test/unit/interpreter-differential.test.ts
 * runs it on compiled rulesets against the evaluator.
 */
import { describe, expect, test } from "bun:test";
import type { BaseHook, Field, NftChain, NftRule, NftRuleset, NftSet, Operand, Statement, Value } from "../../src/nft/ir.ts";
import { interpret, InterpretError, type InterpretErrorCode } from "../../src/nft/interpret.ts";
import type { Packet } from "../../src/model/packet.ts";

// Small builders, so a chain reads like the nft it stands for.
const f = {
  saddr4: { kind: "payload", protocol: "ip", field: "saddr" } as Field,
  daddr4: { kind: "payload", protocol: "ip", field: "daddr" } as Field,
  saddr6: { kind: "payload", protocol: "ip6", field: "saddr" } as Field,
  dport: { kind: "payload", protocol: "th", field: "dport" } as Field,
  tcpDport: { kind: "payload", protocol: "tcp", field: "dport" } as Field,
  l4proto: { kind: "meta", key: "l4proto" } as Field,
  nfproto: { kind: "meta", key: "nfproto" } as Field,
  iif: { kind: "meta", key: "iifname" } as Field,
  oif: { kind: "meta", key: "oifname" } as Field,
  mark: { kind: "meta", key: "mark" } as Field,
  ct: { kind: "ct", key: "state" } as Field,
  fragOff: { kind: "and", field: { kind: "payload", protocol: "ip", field: "frag-off" }, mask: 0x3fff } as Field,
  frag6: { kind: "exthdr", name: "frag" } as Field,
  icmpType: { kind: "payload", protocol: "icmp", field: "type" } as Field,
  markAnd: (mask: number): Field => ({ kind: "and", field: { kind: "meta", key: "mark" }, mask }),
  concat: (...fields: Field[]): Field => ({ kind: "concat", fields }),
};
const v = {
  num: (value: number): Value => ({ kind: "number", value }),
  sym: (value: string): Value => ({ kind: "symbol", value }),
  str: (value: string): Value => ({ kind: "string", value }),
  addr: (value: string): Value => ({ kind: "address", value }),
  range: (min: number, max: number): Value => ({ kind: "range", min, max }),
  cat: (...values: Value[]): Value => ({ kind: "concat", values }),
};
const is = (left: Field, right: Value | Value[] | Operand, op: "==" | "!=" = "=="): Statement => ({
  kind: "match",
  left,
  op,
  right: Array.isArray(right) ? { kind: "set", elements: right } : "kind" in right && ["value", "set", "named-set", "flags", "exists"].includes(right.kind) ? (right as Operand) : { kind: "value", value: right as Value },
});
const isNot = (left: Field, right: Value | Value[] | Operand) => is(left, right, "!=");
const inSet = (name: string): Operand => ({ kind: "named-set", name });
const flags = (...names: string[]): Operand => ({ kind: "flags", flags: names });
const accept: Statement = { kind: "verdict", verdict: "accept" };
const drop: Statement = { kind: "verdict", verdict: "drop" };
const reject: Statement = { kind: "verdict", verdict: "reject" };
const ret: Statement = { kind: "verdict", verdict: "return" };
const counter: Statement = { kind: "counter" };
const notrack: Statement = { kind: "notrack" };
const jump = (target: string): Statement => ({ kind: "jump", target });
const goto = (target: string): Statement => ({ kind: "goto", target });
const markOr = (value: number): Statement => ({ kind: "mark", op: "or", value });
const markAnd = (value: number): Statement => ({ kind: "mark", op: "and", value });
const rule = (statements: Statement[], origin?: string): NftRule => ({ statements, origin: origin ? { id: origin } : undefined });
const chain = (name: string, rules: NftRule[], base?: BaseHook): NftChain => ({ name, rules, base });
const hook = (h: BaseHook["hook"], priority: number, device?: string): BaseHook => ({ hook: h, priority, device });
const inet = (chains: NftChain[], sets: NftSet[] = []): NftRuleset => ({ tables: [{ family: "inet", name: "t", sets, chains }] });

const tcpIn: Packet = { direction: "ingress", inInterface: "eth0", family: 4, src: "192.0.2.20", dst: "192.0.2.10", protocol: 6, srcPort: 45000, dstPort: 80 };
const tcpOut: Packet = { direction: "egress", outInterface: "eth0", family: 4, src: "192.0.2.10", dst: "192.0.2.20", protocol: 6, srcPort: 45000, dstPort: 80 };
const fwd: Packet = { direction: "forward", inInterface: "eth0", outInterface: "eth1", family: 4, src: "192.0.2.20", dst: "198.51.100.20", protocol: 17, srcPort: 45000, dstPort: 53 };
const ping6: Packet = { direction: "ingress", inInterface: "eth0", family: 6, src: "2001:db8:2::20", dst: "2001:db8:2::10", protocol: 58, icmpType: 128, icmpCode: 0 };

const verdictOf = (rs: NftRuleset, p: Packet, opts = {}) => {
  const r = interpret(rs, p, opts);
  return r.reject ? "reject" : r.verdict;
};
const errorOf = (fn: () => unknown): InterpretErrorCode | "none" => {
  try {
    fn();
    return "none";
  } catch (e) {
    if (e instanceof InterpretError) return e.code;
    throw e;
  }
};

describe("hooks and priorities", () => {
  test("base chains run by priority whatever their order in the table; accept ends one base chain, drop everything", () => {
    // filter (0) drops unless mangle (-150) marked; raw (-300) marks. Declared in reverse order.
    const rs = inet([
      chain("filter", [rule([is(f.markAnd(0x1), v.num(0)), drop])], hook("input", 0)),
      chain("mangle", [rule([is(f.markAnd(0x2), v.num(0x2)), markOr(0x1)]), rule([accept])], hook("prerouting", -150)),
      chain("raw", [rule([is(f.saddr4, v.addr("192.0.2.20")), markOr(0x2), accept])], hook("prerouting", -300)),
    ]);
    expect(verdictOf(rs, tcpIn)).toBe("accept");
    expect(interpret(rs, tcpIn).trace.map((t) => `${t.chain}#${t.rule}:${t.effect ?? ""}`)).toEqual(["raw#0:accept", "mangle#0:", "mangle#1:accept", "filter#-1:policy accept"]);
    expect(verdictOf(rs, { ...tcpIn, src: "192.0.2.66" })).toBe("drop");
    // A drop in prerouting: input never runs.
    const early = inet([chain("pre", [rule([drop], "x")], hook("prerouting", 0)), chain("in", [rule([counter], "never")], hook("input", 0))]);
    const r = interpret(early, tcpIn);
    expect([r.verdict, r.decidedBy?.origin, r.counters.has("never")]).toEqual(["drop", "x", false]);
  });

  test("ingress runs the netdev chains of the packet's device only; input, forward and output by direction", () => {
    const rs: NftRuleset = {
      tables: [
        { family: "netdev", name: "t", sets: [], chains: [chain("in0", [rule([counter], "eth0")], hook("ingress", -500, "eth0")), chain("in1", [rule([counter], "eth1")], hook("ingress", -500, "eth1"))] },
        inet([chain("i", [rule([counter], "input")], hook("input", 0)), chain("f", [rule([counter], "forward")], hook("forward", 0)), chain("o", [rule([counter], "output")], hook("output", 0))]).tables[0]!,
      ],
    };
    const hits = (p: Packet) => [...interpret(rs, p).counters.keys()];
    expect(hits(tcpIn)).toEqual(["eth0", "input"]);
    expect(hits({ ...fwd, inInterface: "eth1", outInterface: "eth0" })).toEqual(["eth1", "forward"]);
    expect(hits(tcpOut)).toEqual(["output"]);
  });

  test("interface names as the kernel gives them per hook: no iifname in output, no oifname before routing", () => {
    const rs = inet([
      chain("o", [rule([isNot(f.iif, [v.str("lo"), v.str("eth0")]), counter], "o-iif-empty"), rule([is(f.oif, v.str("eth0")), counter], "o-oif")], hook("output", 0)),
      chain("p", [rule([is(f.oif, v.str("")), counter], "p-oif-empty"), rule([is(f.iif, v.str("eth*")), counter], "p-wildcard")], hook("prerouting", 0)),
      chain("f", [rule([is(f.oif, v.str("eth1")), counter], "f-oif")], hook("forward", 0)),
    ]);
    expect([...interpret(rs, tcpOut).counters.keys()]).toEqual(["o-iif-empty", "o-oif"]);
    expect([...interpret(rs, fwd).counters.keys()]).toEqual(["p-oif-empty", "p-wildcard", "f-oif"]);
  });

  test("DNAT at -100: earlier prerouting chains see dst, later ones and input see dnat.dst; a chain at exactly -100 is ambiguous", () => {
    const seen = (prio: number, h: BaseHook["hook"] = "prerouting") => inet([chain("c", [rule([is(f.daddr4, v.addr("192.0.2.10")), counter], "pre"), rule([is(f.daddr4, v.addr("192.0.2.99")), counter], "post")], hook(h, prio))]);
    const dnat = { ...tcpIn, dnat: { dst: "192.0.2.99" } };
    expect([...interpret(seen(-150), dnat).counters.keys()]).toEqual(["pre"]);
    expect([...interpret(seen(-50), dnat).counters.keys()]).toEqual(["post"]);
    expect([...interpret(seen(0, "input"), dnat).counters.keys()]).toEqual(["post"]);
    expect(errorOf(() => interpret(seen(-100), dnat))).toBe("ambiguous-order");
    expect([...interpret(seen(-100), tcpIn).counters.keys()]).toEqual(["pre"]);
  });
});

describe("jump, goto, return", () => {
  const rs = inet([
    chain("base", [rule([jump("a")]), rule([counter], "after-a"), rule([goto("b")]), rule([counter], "never-after-goto")], hook("input", 0)),
    chain("a", [rule([jump("c")]), rule([counter], "a-after-c")]),
    chain("c", [rule([ret]), rule([counter], "never-after-return")]),
    chain("b", [rule([counter], "in-b")]),
  ]);
  test("jump returns to the next rule, return pops, goto does not come back, a base chain that runs out applies its policy", () => {
    const r = interpret(rs, tcpIn);
    expect([...r.counters.keys()]).toEqual(["a-after-c", "after-a", "in-b"]);
    expect(r.decidedBy).toMatchObject({ chain: "base", rule: -1, effect: "policy accept" });
  });

  test("goto from a jumped-to chain ends at the jumping chain's next rule; return in a base chain is its policy", () => {
    const g = inet([
      chain("base", [rule([jump("a")]), rule([counter], "back-in-base"), rule([ret]), rule([drop])], hook("input", 0)),
      chain("a", [rule([goto("b")]), rule([counter], "never")]),
      chain("b", [rule([counter], "in-b")]),
    ]);
    const r = interpret(g, tcpIn);
    expect([r.verdict, ...r.counters.keys()]).toEqual(["accept", "in-b", "back-in-base"]);
  });

  test("16 nested jumps pass, the 17th throws; unknown chains and jumps to base chains throw", () => {
    const deep = (n: number) => inet([chain("base", [rule([jump("c1")])], hook("input", 0)), ...Array.from({ length: n }, (_, i) => chain(`c${i + 1}`, i + 1 < n ? [rule([jump(`c${i + 2}`)])] : [rule([drop])]))]);
    expect(verdictOf(deep(16), tcpIn)).toBe("drop");
    expect(errorOf(() => interpret(deep(17), tcpIn))).toBe("jump-depth");
    expect(errorOf(() => interpret(inet([chain("base", [rule([jump("nope")])], hook("input", 0))]), tcpIn))).toBe("unknown-chain");
    expect(errorOf(() => interpret(inet([chain("base", [rule([jump("other")])], hook("input", 0)), chain("other", [], hook("output", 0))]), tcpIn))).toBe("unknown-chain");
  });

  test("verdict maps: an entry jumps, a miss lets the chain go on", () => {
    const vm = inet([
      chain("base", [rule([{ kind: "vmap", key: f.iif, entries: [{ key: v.str("eth1"), verdict: "jump", target: "one" }, { key: v.str("eth0"), verdict: "goto", target: "zero" }] }]), rule([counter], "missed")], hook("input", 0)),
      chain("zero", [rule([counter], "zero")]),
      chain("one", [rule([counter], "one")]),
    ]);
    expect([...interpret(vm, tcpIn).counters.keys()]).toEqual(["zero"]);
    expect([...interpret(vm, { ...tcpIn, inInterface: "eth9" }).counters.keys()]).toEqual(["missed"]);
  });
});

describe("sets", () => {
  const sets: NftSet[] = [
    { name: "h4", type: "ipv4_addr", interval: false, elements: ["192.0.2.20", "192.0.2.21"] },
    { name: "p4", type: "ipv4_addr", interval: true, elements: ["198.51.100.0/24", "192.0.2.64/27"] },
    { name: "p6", type: "ipv6_addr", interval: true, elements: ["2001:db8:2::/120"] },
    { name: "np4", type: "ipv4_addr . inet_proto . inet_service", interval: false, elements: ["192.0.2.10 . 6 . 8080", "192.0.2.10 . 17 . 5353"] },
  ];
  const probe = (statement: Statement, p: Packet, extra: NftSet[] = []) => verdictOf(inet([chain("c", [rule([statement, drop])], hook("input", 0))], [...sets, ...extra]), p);

  test("hash and interval sets: single addresses, prefixes contain addresses, IPv6", () => {
    expect(probe(is(f.saddr4, inSet("h4")), tcpIn)).toBe("drop");
    expect(probe(is(f.saddr4, inSet("h4")), { ...tcpIn, src: "192.0.2.22" })).toBe("accept");
    expect(probe(is(f.saddr4, inSet("p4")), { ...tcpIn, src: "192.0.2.95" })).toBe("drop");
    expect(probe(is(f.saddr4, inSet("p4")), { ...tcpIn, src: "192.0.2.96" })).toBe("accept");
    expect(probe(is(f.saddr6, inSet("p6")), ping6)).toBe("drop");
    expect(probe(is(f.saddr6, inSet("p6")), { ...ping6, src: "2001:db8:2::1:20" })).toBe("accept");
  });

  test("concatenations: address . protocol . port; an ICMP packet misses on the protocol without needing a port", () => {
    const tuple = is(f.concat(f.daddr4, f.l4proto, f.dport), inSet("np4"));
    expect(probe(tuple, { ...tcpIn, dstPort: 8080 })).toBe("drop");
    expect(probe(tuple, { ...tcpIn, dstPort: 5353 })).toBe("accept");
    expect(probe(tuple, { ...tcpIn, protocol: 17, dstPort: 5353 })).toBe("drop");
    expect(probe(tuple, { ...tcpIn, protocol: 1, srcPort: undefined, dstPort: undefined, icmpType: 8, icmpCode: 0 })).toBe("accept");
    // Without the protocol in the lookup, only the unknown port could decide: that throws.
    expect(errorOf(() => probe(is(f.dport, v.num(80)), { ...tcpIn, protocol: 1, srcPort: undefined, dstPort: undefined, icmpType: 8, icmpCode: 0 }))).toBe("unknown-packet-field");
    // Anonymous concatenated sets and port ranges.
    expect(probe(is(f.concat(f.l4proto, f.dport), [v.cat(v.sym("tcp"), v.range(79, 81))]), tcpIn)).toBe("drop");
    expect(probe(is(f.dport, [v.num(22), v.range(1000, 2000)]), tcpIn)).toBe("accept");
  });

  test("a set of the wrong type, a prefix in a hash set, a missing set and a bad address throw", () => {
    expect(errorOf(() => probe(is(f.saddr6, inSet("h4")), ping6))).toBe("type-mismatch");
    expect(errorOf(() => probe(is(f.saddr4, inSet("bad")), tcpIn, [{ name: "bad", type: "ipv4_addr", interval: false, elements: ["192.0.2.0/24"] }]))).toBe("bad-value");
    expect(errorOf(() => probe(is(f.saddr4, inSet("nope")), tcpIn))).toBe("unknown-set");
    expect(errorOf(() => probe(is(f.saddr4, v.addr("192.0.2.1/24")), tcpIn))).toBe("bad-value");
    expect(errorOf(() => probe(is(f.saddr4, v.addr("2001:db8::1")), tcpIn))).toBe("type-mismatch");
    expect(errorOf(() => probe(is(f.l4proto, v.sym("tcpp")), tcpIn))).toBe("bad-value");
  });

  test("nft's dependencies: a negated IPv4 match does not match IPv6, tcp dport needs TCP, nfproto is never ipv4 in netdev", () => {
    expect(probe(isNot(f.saddr4, v.addr("192.0.2.1")), ping6)).toBe("accept");
    expect(probe(isNot(f.saddr4, v.addr("192.0.2.1")), tcpIn)).toBe("drop");
    expect(probe(is(f.tcpDport, v.num(53)), fwd)).toBe("accept");
    expect(probe(is(f.icmpType, v.num(128)), ping6)).toBe("accept"); // icmp (v4) needs l4proto 1
    const netdev: NftRuleset = { tables: [{ family: "netdev", name: "t", sets: [], chains: [chain("c", [rule([is(f.nfproto, v.sym("ipv4")), drop])], hook("ingress", -500, "eth0"))] }] };
    expect(verdictOf(netdev, tcpIn)).toBe("accept");
    expect(verdictOf(inet([chain("c", [rule([is(f.nfproto, v.sym("ipv4")), drop])], hook("input", 0))]), tcpIn)).toBe("drop");
  });
});

describe("marks, conntrack, counters, logs", () => {
  test("mark set or/and, masked matches, and the mark carried from netdev to inet", () => {
    const rs: NftRuleset = {
      tables: [
        { family: "netdev", name: "t", sets: [], chains: [chain("n", [rule([markAnd(0xfff8ffff)]), rule([markOr(0x10000), accept])], hook("ingress", -500, "eth0"))] },
        inet([chain("i", [rule([is(f.markAnd(0x10000), v.num(0x10000)), counter, accept], "accepted"), rule([drop])], hook("input", 0))]).tables[0]!,
      ],
    };
    const r = interpret(rs, tcpIn, { mark: 0x70005 });
    expect([r.verdict, r.mark, [...r.counters.keys()]]).toEqual(["accept", 0x10005, ["accepted"]]);
    expect(verdictOf(rs, { ...tcpIn, inInterface: "eth1" })).toBe("drop");
  });

  test("ct state: the packet's state after conntrack, invalid before it (no entry yet), untracked after notrack", () => {
    const rs = (notrackPrio: number) =>
      inet([
        chain("raw", [rule([is(f.ct, flags("invalid")), counter], "raw-sees-invalid"), rule([is(f.saddr4, v.addr("192.0.2.66")), notrack])], hook("prerouting", notrackPrio)),
        chain("filter", [rule([is(f.ct, flags("established", "related")), accept]), rule([is(f.ct, v.sym("untracked")), counter, accept], "untracked"), rule([is(f.ct, v.sym("invalid")), counter, drop], "invalid"), rule([counter, reject], "new")], hook("input", 0)),
      ]);
    expect(verdictOf(rs(-300), { ...tcpIn, conntrack: "established" })).toBe("accept");
    expect(verdictOf(rs(-300), tcpIn)).toBe("reject");
    expect([...interpret(rs(-300), { ...tcpIn, conntrack: "invalid" }).counters.keys()]).toEqual(["raw-sees-invalid", "invalid"]);
    const untracked = interpret(rs(-300), { ...tcpIn, src: "192.0.2.66", conntrack: "established" });
    expect([untracked.verdict, untracked.notrack, [...untracked.counters.keys()]]).toEqual(["accept", true, ["raw-sees-invalid", "untracked"]]);
    // notrack after conntrack (-150) does nothing; the raw chain there sees the real state.
    const late = interpret(rs(-150), { ...tcpIn, src: "192.0.2.66" });
    expect([late.verdict, late.reject, late.notrack, [...late.counters.keys()]]).toEqual(["drop", true, false, ["new"]]);
    expect(errorOf(() => interpret(rs(-200), tcpIn))).toBe("ambiguous-order");
    expect(errorOf(() => interpret(inet([chain("i", [rule([notrack])], hook("input", 0))]), tcpIn))).toBe("invalid-ruleset");
  });

  test("counters sum per origin over packets, logs are recorded, limit passes", () => {
    const rs = inet([chain("i", [rule([is(f.dport, v.num(80)), { kind: "limit", rate: 1, per: "minute", burst: 1 }, counter, { kind: "log", prefix: "web: ", level: "info" }], "gnp/web/ingress/0"), rule([counter, accept], "gnp/web/ingress/1")], hook("input", 0))]);
    const counters = new Map<string, number>();
    for (let i = 0; i < 3; i++) interpret(rs, tcpIn, { counters });
    interpret(rs, { ...tcpIn, dstPort: 22 }, { counters });
    expect(Object.fromEntries(counters)).toEqual({ "gnp/web/ingress/0": 3, "gnp/web/ingress/1": 4 });
    expect(interpret(rs, tcpIn).logs.map((l) => [l.prefix, l.at.origin])).toEqual([["web: ", "gnp/web/ingress/0"]]);
  });

  test("fragments: netdev sees the fragment, inet the reassembled datagram", () => {
    const rs: NftRuleset = {
      tables: [
        { family: "netdev", name: "t", sets: [], chains: [chain("n", [rule([isNot(f.fragOff, v.num(0)), counter], "frag4"), rule([is(f.frag6, { kind: "exists" }), counter], "frag6"), rule([is(f.dport, v.num(80)), counter], "port-at-netdev")], hook("ingress", -500, "eth0"))] },
        inet([chain("r", [rule([isNot(f.fragOff, v.num(0)), counter], "frag-in-inet"), rule([is(f.dport, v.num(80)), counter], "port-in-inet")], hook("prerouting", -300))]).tables[0]!,
      ],
    };
    const hits = (p: Packet, fragment?: "first" | "later") => [...interpret(rs, p, { fragment }).counters.keys()];
    expect(hits(tcpIn)).toEqual(["port-at-netdev", "port-in-inet"]);
    expect(hits(tcpIn, "first")).toEqual(["frag4", "port-at-netdev", "port-in-inet"]);
    expect(hits(tcpIn, "later")).toEqual(["frag4", "port-in-inet"]);
    const udp6: Packet = { ...fwd, direction: "ingress", outInterface: undefined, family: 6, src: "2001:db8:2::20", dst: "2001:db8:2::10" };
    expect(hits(udp6, "later")).toEqual(["frag6"]);
    expect(hits(udp6, "first")).toEqual(["frag6"]);
  });
});

describe("what the interpreter does not understand throws", () => {
  test("a statement after a verdict, raw payload, an unknown statement, a packet without its interface", () => {
    expect(errorOf(() => interpret(inet([chain("i", [rule([accept, counter])], hook("input", 0))]), tcpIn))).toBe("invalid-ruleset");
    expect(errorOf(() => interpret(inet([chain("i", [rule([is({ kind: "raw", base: "ll", offset: 116, length: 12 }, v.num(0))])], hook("input", 0))]), tcpIn))).toBe("unsupported");
    expect(errorOf(() => interpret(inet([chain("i", [rule([{ kind: "masquerade" } as unknown as Statement])], hook("input", 0))]), tcpIn))).toBe("unsupported");
    expect(errorOf(() => interpret(inet([]), { ...tcpIn, inInterface: undefined }))).toBe("bad-packet");
    expect(errorOf(() => interpret(inet([]), { ...tcpIn, src: "2001:db8::1" }))).toBe("bad-packet");
    // The error names where it arose.
    try {
      interpret(inet([chain("i", [rule([counter]), rule([jump("gone")])], hook("input", 0))]), tcpIn);
    } catch (e) {
      expect((e as InterpretError).where).toEqual({ table: "inet t", chain: "i", rule: 1 });
    }
  });
});

describe("dynamic sets (drop summaries)", () => {
  const update = (set: string, key: Field): Statement => ({ kind: "set-update", set, key });
  const dyn = (name: string, type: NftSet["type"], size: number): NftSet => ({ name, type, interval: false, elements: [], comment: "gnp/block/ingress/0", dynamic: { size, timeout: 600 } });
  const pin = (family: "ipv4" | "ipv6") => is(f.nfproto, v.sym(family));
  // The compiler's shape (table-builder.ts summarisedDeny): count, goto the drop chain, which updates the family's set and drops; a last plain drop.
  const summarised = (size: number) =>
    inet(
      [
        chain("i", [rule([is(f.l4proto, v.sym("udp")), counter, goto("d")], "gnp/block/ingress/0"), rule([is(f.l4proto, v.sym("icmpv6")), counter, goto("d")], "gnp/block/ingress/0")], hook("input", 0)),
        chain("d", [rule([pin("ipv4"), update("s4", f.saddr4), drop]), rule([pin("ipv6"), update("s6", f.saddr6), drop]), rule([drop])]),
      ],
      [dyn("s4", "ipv4_addr", size), dyn("s6", "ipv6_addr", size)],
    );
  const udp = (src: string): Packet => ({ ...tcpIn, protocol: 17, src });

  test("the update adds the source, a second packet refreshes and counts it; the sets carry over packets given one map", () => {
    const sets = new Map<string, Map<string, number>>();
    const rs = summarised(4);
    const first = interpret(rs, udp("192.0.2.20"), { dynamicSets: sets });
    expect([first.verdict, first.decidedBy?.chain, first.decidedBy?.rule]).toEqual(["drop", "d", 0]);
    expect(first.updates.map((u) => `${u.table} ${u.set} ${u.element} ${u.outcome}`)).toEqual(["inet t s4 192.0.2.20 added"]);
    expect(interpret(rs, udp("192.0.2.20"), { dynamicSets: sets }).updates.map((u) => u.outcome)).toEqual(["refreshed"]);
    interpret(rs, udp("192.0.2.21"), { dynamicSets: sets });
    const six = interpret(rs, ping6, { dynamicSets: sets });
    expect([six.verdict, six.decidedBy?.rule, six.updates[0]?.element]).toEqual(["drop", 1, "2001:db8:2::20"]);
    expect(Object.fromEntries([...sets].map(([k, m]) => [k, Object.fromEntries(m)]))).toEqual({ "inet t/s4": { "192.0.2.20": 2, "192.0.2.21": 1 }, "inet t/s6": { "2001:db8:2::20": 1 } });
    // Without a map, each packet starts from empty sets.
    expect(interpret(rs, udp("192.0.2.20")).updates[0]?.outcome).toBe("added");
  });

  test("a full set stops the rule (the kernel's NFT_BREAK): the address is not added, the next rule decides, so the deny still holds", () => {
    const sets = new Map<string, Map<string, number>>();
    const rs = summarised(2);
    for (const src of ["192.0.2.20", "192.0.2.21"]) interpret(rs, udp(src), { dynamicSets: sets });
    const third = interpret(rs, udp("192.0.2.22"), { dynamicSets: sets });
    expect([third.verdict, third.decidedBy?.chain, third.decidedBy?.rule, third.updates.map((u) => u.outcome).join()]).toEqual(["drop", "d", 2, "full"]);
    expect([...sets.get("inet t/s4")!.keys()]).toEqual(["192.0.2.20", "192.0.2.21"]);
    // A known address still counts in a full set.
    expect(interpret(rs, udp("192.0.2.21"), { dynamicSets: sets }).updates[0]?.outcome).toBe("refreshed");
    expect(sets.get("inet t/s4")!.get("192.0.2.21")).toBe(2);
    // Without the last plain drop, a full set lets the packet through: the update decides nothing, the compiler's rule does.
    const noCatchAll: NftRuleset = structuredClone(rs);
    noCatchAll.tables[0]!.chains[1]!.rules.pop();
    expect(interpret(noCatchAll, udp("192.0.2.22"), { dynamicSets: structuredClone(sets) }).verdict).toBe("accept");
  });

  test("a key whose dependency fails ends the rule without an update (ip saddr of an IPv6 packet)", () => {
    const rs = inet([chain("i", [rule([update("s4", f.saddr4), drop])], hook("input", 0))], [dyn("s4", "ipv4_addr", 4)]);
    const r = interpret(rs, ping6);
    expect([r.verdict, r.updates.length]).toEqual(["accept", 0]);
    expect(interpret(rs, tcpIn).verdict).toBe("drop");
  });

  test("an update the kernel would refuse, or a lookup in a dynamic set, throws", () => {
    const plain: NftSet = { name: "s4", type: "ipv4_addr", interval: false, elements: [] };
    expect(errorOf(() => interpret(inet([chain("i", [rule([update("s4", f.saddr4)])], hook("input", 0))], [plain]), tcpIn))).toBe("invalid-ruleset");
    expect(errorOf(() => interpret(inet([chain("i", [rule([update("s6", f.saddr4)])], hook("input", 0))], [dyn("s6", "ipv6_addr", 4)]), tcpIn))).toBe("type-mismatch");
    expect(errorOf(() => interpret(inet([chain("i", [rule([update("gone", f.saddr4)])], hook("input", 0))]), tcpIn))).toBe("unknown-set");
    expect(errorOf(() => interpret(inet([chain("i", [rule([is(f.saddr4, inSet("s4")), drop])], hook("input", 0))], [dyn("s4", "ipv4_addr", 4)]), tcpIn))).toBe("unsupported");
  });
});
