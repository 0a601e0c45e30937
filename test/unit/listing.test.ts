/**
 * The listing parser (src/nft/listing*.ts) on canned `nft -j list ruleset` output: exact IR for
 * a hand-written listing with every statement kind, a typed error (with its JSON path) for
 * malformed or unknown input, and the golden cases' kernel listings (captured with nft 1.0.6
 * from test/golden/<case>/expected.nft, see fixtures/listing/) equal to what the compiler
 * builds for them once both are normalised, and different when either side changes.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { NftRuleset } from "../../src/nft/ir.ts";
import { parseRulesetJson } from "../../src/nft/listing.ts";
import { firstDifference, normaliseRuleset } from "../../src/nft/listing-normalise.ts";
import { buildRuleset } from "../../src/pipeline.ts";
import { goldenSource } from "../support/golden-source.ts";

const meta = (key: string) => ({ meta: { key } });
const rule = (chain: string, expr: unknown[], comment?: string) => ({ rule: { family: "inet", table: "hostwall", chain, handle: 9, ...(comment ? { comment } : {}), expr } });
const listing = (...items: unknown[]) =>
  JSON.stringify({
    nftables: [
      { metainfo: { version: "1.0.6", json_schema_version: 1 } },
      { table: { family: "ip", name: "other", handle: 1 } },
      { chain: { family: "ip", table: "other", name: "x", handle: 1 } },
      { rule: { family: "ip", table: "other", chain: "x", handle: 2, expr: [{ masquerade: null }] } },
      { table: { family: "inet", name: "hostwall", handle: 2 } },
      { chain: { family: "inet", table: "hostwall", name: "filter-input", handle: 1, type: "filter", hook: "input", prio: 0, policy: "accept" } },
      { chain: { family: "inet", table: "hostwall", name: "c", handle: 2 } },
      ...items,
    ],
  });

describe("parseRulesetJson", () => {
  test("every statement kind becomes its IR statement; counter values beside the rule; other tables are not read", () => {
    const r = parseRulesetJson(
      listing(
        { set: { family: "inet", name: "s4", table: "hostwall", type: "ipv4_addr", handle: 3, flags: ["interval"], comment: "role == _db_", elem: [{ prefix: { addr: "192.0.2.0", len: 24 } }, { range: ["198.51.100.0", "198.51.100.2"] }] } },
        { set: { family: "inet", name: "np", table: "hostwall", type: ["ipv4_addr", "inet_proto", "inet_service"], handle: 4, elem: [{ concat: ["192.0.2.1", "tcp", 80] }] } },
        rule("filter-input", [
          { match: { op: "==", left: { payload: { protocol: "tcp", field: "dport" } }, right: { set: [22, { range: [80, 90] }] } } },
          { match: { op: "!=", left: { payload: { protocol: "ip", field: "saddr" } }, right: "@s4" } },
          { match: { op: "in", left: { ct: { key: "state" } }, right: ["established", "related"] } },
          { match: { op: "==", left: { "&": [meta("mark"), 65536] }, right: 0 } },
          { match: { op: "==", left: { exthdr: { name: "frag" } }, right: true } },
          { match: { op: "!=", left: meta("iifname"), right: { set: ["lo", "eth0"] } } },
          { match: { op: "==", left: { concat: [{ payload: { protocol: "ip", field: "daddr" } }, meta("l4proto"), { payload: { protocol: "th", field: "dport" } }] }, right: "@np" } },
          { match: { op: "==", left: { payload: { base: "ll", offset: 112, len: 16 } }, right: 0 } },
          { limit: { rate: 10, burst: 20, per: "second" } },
          { counter: { packets: 7, bytes: 420 } },
          { log: { prefix: "calico-packet: ", level: "info" } },
          { mangle: { key: meta("mark"), value: { "|": [meta("mark"), 65536] } } },
          { notrack: null },
          { reject: { type: "icmpx", expr: "port-unreachable" } },
        ], "gnp/x/ingress/0"),
        rule("filter-input", [{ vmap: { key: meta("oifname"), data: { set: [["eth0", { jump: { target: "c" } }]] } } }]),
        rule("c", [{ mangle: { key: meta("mark"), value: { "&": [meta("mark"), 4294508543] } } }, { goto: { target: "c" } }, { return: null }, { drop: null }, { accept: null }]),
      ),
    );
    if (!r.ok) throw new Error(JSON.stringify(r.error));
    const [table] = r.listing.ruleset.tables;
    expect(r.listing.ruleset.tables.length).toBe(1);
    expect(table!.sets).toEqual([
      { name: "s4", type: "ipv4_addr", interval: true, comment: "role == _db_", elements: ["192.0.2.0/24", "198.51.100.0/31", "198.51.100.2"] },
      { name: "np", type: "ipv4_addr . inet_proto . inet_service", interval: false, elements: ["192.0.2.1 . tcp . 80"] },
    ]);
    const [input, c] = table!.chains;
    expect(input!.base).toEqual({ hook: "input", priority: 0 });
    expect(c!.base).toBeUndefined();
    expect(input!.rules[0]).toEqual({
      comment: "gnp/x/ingress/0",
      statements: [
        { kind: "match", left: { kind: "payload", protocol: "tcp", field: "dport" }, op: "==", right: { kind: "set", elements: [{ kind: "number", value: 22 }, { kind: "range", min: 80, max: 90 }] } },
        { kind: "match", left: { kind: "payload", protocol: "ip", field: "saddr" }, op: "!=", right: { kind: "named-set", name: "s4" } },
        { kind: "match", left: { kind: "ct", key: "state" }, op: "==", right: { kind: "flags", flags: ["established", "related"] } },
        { kind: "match", left: { kind: "and", field: { kind: "meta", key: "mark" }, mask: 65536 }, op: "==", right: { kind: "value", value: { kind: "number", value: 0 } } },
        { kind: "match", left: { kind: "exthdr", name: "frag" }, op: "==", right: { kind: "exists" } },
        { kind: "match", left: { kind: "meta", key: "iifname" }, op: "!=", right: { kind: "set", elements: [{ kind: "string", value: "lo" }, { kind: "string", value: "eth0" }] } },
        { kind: "match", left: { kind: "concat", fields: [{ kind: "payload", protocol: "ip", field: "daddr" }, { kind: "meta", key: "l4proto" }, { kind: "payload", protocol: "th", field: "dport" }] }, op: "==", right: { kind: "named-set", name: "np" } },
        { kind: "match", left: { kind: "raw", base: "ll", offset: 112, length: 16 }, op: "==", right: { kind: "value", value: { kind: "number", value: 0 } } },
        { kind: "limit", rate: 10, per: "second", burst: 20 },
        { kind: "counter" },
        { kind: "log", prefix: "calico-packet: ", level: "info" },
        { kind: "mark", op: "or", value: 65536 },
        { kind: "notrack" },
        { kind: "verdict", verdict: "reject" },
      ],
    });
    expect(input!.rules[1]!.statements).toEqual([{ kind: "vmap", key: { kind: "meta", key: "oifname" }, entries: [{ key: { kind: "string", value: "eth0" }, verdict: "jump", target: "c" }] }]);
    expect(c!.rules[0]!.statements).toEqual([
      { kind: "mark", op: "and", value: 4294508543 },
      { kind: "goto", target: "c" },
      { kind: "verdict", verdict: "return" },
      { kind: "verdict", verdict: "drop" },
      { kind: "verdict", verdict: "accept" },
    ]);
    expect(r.listing.counters.get(input!.rules[0]!)).toEqual({ packets: 7, bytes: 420 });
    expect(r.listing.counters.size).toBe(1);
  });

  const bad: [string, string, string][] = [
    ["not JSON", "{", "$"],
    ["no nftables array", JSON.stringify({ nftables: 3 }), "$.nftables"],
    ["a statement the IR does not have", listing(rule("c", [{ masquerade: null }])), "$.nftables[7].rule.expr[0]"],
    ["a field the IR does not have", listing(rule("c", [{ match: { op: "==", left: { rt: { key: "nexthop" } }, right: 1 } }])), "$.nftables[7].rule.expr[0].match.left"],
    ["a meta key the IR does not have", listing(rule("c", [{ match: { op: "==", left: meta("skuid"), right: 0 } }])), "$.nftables[7].rule.expr[0].match.left.meta.key"],
    ["an operator the IR does not have", listing(rule("c", [{ match: { op: "<", left: meta("mark"), right: 1 } }])), "$.nftables[7].rule.expr[0].match.op"],
    ["a rule of an unknown chain", listing(rule("nope", [{ accept: null }])), "$.nftables[7].rule.chain"],
    ["a named counter", listing(rule("c", [{ counter: "cnt" }])), "$.nftables[7].rule.expr[0].counter"],
    ["a counter with a negative value", listing(rule("c", [{ counter: { packets: -1, bytes: 0 } }])), "$.nftables[7].rule.expr[0].counter.packets"],
    ["a log level other than info", listing(rule("c", [{ log: { prefix: "x", level: "warn" } }])), "$.nftables[7].rule.expr[0].log.level"],
    ["a mangle of something else", listing(rule("c", [{ mangle: { key: meta("priority"), value: 1 } }])), "$.nftables[7].rule.expr[0].mangle.key"],
    ["a reject with tcp reset", listing(rule("c", [{ reject: { type: "tcp reset" } }])), "$.nftables[7].rule.expr[0].reject"],
    ["a dynamic set", listing({ set: { family: "inet", name: "d", table: "hostwall", type: "ipv4_addr", handle: 5, flags: ["dynamic"] } }), "$.nftables[7].set.flags"],
    ["a set type the IR does not have", listing({ set: { family: "inet", name: "d", table: "hostwall", type: "ether_addr", handle: 5 } }), "$.nftables[7].set.type"],
    ["a nat chain", listing({ chain: { family: "inet", table: "hostwall", name: "n", handle: 5, type: "nat", hook: "input", prio: 0, policy: "accept" } }), "$.nftables[7].chain.type"],
    ["a drop policy", listing({ chain: { family: "inet", table: "hostwall", name: "n", handle: 5, type: "filter", hook: "input", prio: 0, policy: "drop" } }), "$.nftables[7].chain.policy"],
    ["a string where a port goes", listing(rule("c", [{ match: { op: "==", left: { payload: { protocol: "th", field: "dport" } }, right: "ssh" } }])), "$.nftables[7].rule.expr[0].match.right"],
    ["a malformed address range", listing(rule("c", [{ match: { op: "==", left: { payload: { protocol: "ip", field: "saddr" } }, right: { range: ["192.0.2.9", "192.0.2.1"] } } }])), "$.nftables[7].rule.expr[0].match.right.range"],
    ["an object with two kinds", listing({ rule: {}, chain: {} }), "$.nftables[7]"],
    ["a rule that is not an object", listing({ rule: 3 }), "$.nftables[7].rule"],
    ["an unexpected rule key", listing({ rule: { family: "inet", table: "hostwall", chain: "c", handle: 1, expr: [], xt: 1 } }), "$.nftables[7].rule.xt"],
    ["a named counter object other than the stamp's", listing({ counter: { family: "inet", name: "other", table: "hostwall", handle: 5, packets: 0, bytes: 0 } }), "$.nftables[7]"],
    ["the stamp's counter with a key it never has", listing({ counter: { family: "inet", name: "hostwall-stamp", table: "hostwall", handle: 5, packets: 0, bytes: 0, xt: 1 } }), "$.nftables[7].counter.xt"],
  ];
  test("the named counter a delta writes the stamp on is read past (the tables after a delta list; it is not part of the IR)", () => {
    const stamp = { counter: { family: "inet", name: "hostwall-stamp", table: "hostwall", handle: 5, comment: "hostwall generation 3 hash 0123456789abcdef", packets: 0, bytes: 0 } };
    const withStamp = parseRulesetJson(listing(stamp, rule("c", [{ accept: null }])));
    const without = parseRulesetJson(listing(rule("c", [{ accept: null }])));
    if (!withStamp.ok || !without.ok) throw new Error(JSON.stringify(withStamp.ok ? without : withStamp));
    expect(withStamp.listing.ruleset).toEqual(without.listing.ruleset);
  });
  for (const [what, json, path] of bad) {
    test(`${what}: a typed error at ${path}`, () => {
      const r = parseRulesetJson(json);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error.code).toBe("NFT_LISTING_INVALID");
        expect(r.error.path).toBe(path);
      }
    });
  }
});

describe("compiled IR = kernel listing, normalised", () => {
  const FIXTURES = join(import.meta.dir, "fixtures", "listing");
  const compiled = (name: string): NftRuleset => {
    const s = goldenSource(join(import.meta.dir, "..", "golden", name), { node: "jasper" });
    const built = buildRuleset({ files: s.files, node: s.node, addresses: s.addresses });
    if (!built.ruleset) throw new Error(`${name} does not compile: ${JSON.stringify(built.diagnostics.filter((d) => d.severity === "error"))}`);
    return built.ruleset;
  };
  const listed = (name: string): NftRuleset => {
    const r = parseRulesetJson(readFileSync(join(FIXTURES, `${name}.json`), "utf8"));
    if (!r.ok) throw new Error(JSON.stringify(r.error));
    return r.listing.ruleset;
  };
  const cases = ["protocols-icmp", "ports", "deny-reject", "stages"];
  for (const name of cases) {
    test(name, () => {
      expect(firstDifference(normaliseRuleset(compiled(name)), normaliseRuleset(listed(name)))).toBeUndefined();
      expect(normaliseRuleset(listed(name))).toEqual(normaliseRuleset(compiled(name)));
    });
  }

  test("a changed port, mark, comment, set element or rule order on either side is a difference", () => {
    const changes: [string, (r: NftRuleset) => void][] = [
      ["port", (r) => mutateFirst(r, (s) => s.kind === "match" && s.right.kind === "value" && s.right.value.kind === "number" && s.left.kind === "payload" && s.left.field === "dport", (s: any) => (s.right.value.value += 1))],
      ["mark", (r) => mutateFirst(r, (s) => s.kind === "mark", (s: any) => (s.value = (s.value ^ 0x10000) >>> 0))],
      ["verdict", (r) => mutateFirst(r, (s) => s.kind === "verdict" && s.verdict === "drop", (s: any) => (s.verdict = "accept"))],
      ["comment", (r) => (r.tables[1]!.chains.find((c) => c.rules.some((x) => x.comment))!.rules.find((x) => x.comment)!.comment += "x")],
      ["set element", (r) => void (r.tables[1]!.sets.find((s) => s.elements.length > 0)!.elements = r.tables[1]!.sets.find((s) => s.elements.length > 0)!.elements.slice(0, -1))],
      ["rule order", (r) => r.tables[1]!.chains.find((c) => c.rules.length > 3)!.rules.reverse()],
      ["missing rule", (r) => r.tables[1]!.chains.find((c) => c.rules.length > 0)!.rules.pop()],
    ];
    for (const [what, change] of changes) {
      for (const side of ["compiled", "listed"] as const) {
        const a = compiled("ports");
        const b = listed("ports");
        change(side === "compiled" ? a : b);
        expect({ what, side, difference: firstDifference(normaliseRuleset(a), normaliseRuleset(b)) !== undefined }).toEqual({ what, side, difference: true });
      }
    }
  });
});

function mutateFirst(r: NftRuleset, pick: (s: any) => boolean, change: (s: any) => void): void {
  for (const t of r.tables) for (const c of t.chains) for (const rule of c.rules) for (const s of rule.statements) if (pick(s)) return void change(s);
  throw new Error("nothing to mutate");
}
