/**
 * The per-prefix-length layout of big selector sets (#13 item 3, docs/nft-layout.md "Big
 * selector sets"), as the compiler writes it: which sets exist at the threshold and below,
 * what they hold, and the rules' order (longest length first, the interval set last, ports
 * before the lookups; a notSelector as one rule with every `!=`). Verdicts are proven by
 * test/kernel/plen-sets.test.ts and the interpreter differential.
 */
import { describe, expect, test } from "bun:test";
import { compileRuleset, perLengthLayout } from "../../src/nft/compile.ts";
import type { NftRuleset, NftSet } from "../../src/nft/ir.ts";
import { interpret } from "../../src/nft/interpret.ts";
import { renderScript } from "../../src/nft/render.ts";
import { Evaluator } from "../../src/explain/evaluate.ts";
import { buildRuleset } from "../../src/pipeline.ts";

const NODE = "n1";

function config(nets: string[], rule = "{action: Deny, protocol: TCP, source: {selector: list == 'x'}, destination: {ports: [22]}}"): string {
  return `
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: h, labels: {role: host}}
spec: {node: ${NODE}, interfaceName: eth0, expectedIPs: [192.0.2.10]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: x, labels: {list: x}}
spec:
  nets: [${nets.map((n) => JSON.stringify(n)).join(", ")}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: p}
spec:
  selector: role == 'host'
  types: [Ingress]
  ingress: [${rule}]
`;
}

function compile(nets: string[], perLength: { threshold: number; rare: number }, rule?: string): NftRuleset {
  const built = buildRuleset({ files: [{ path: "c.yaml", text: config(nets, rule) }], node: NODE });
  if (!built.plan) throw new Error(JSON.stringify(built.diagnostics.filter((d) => d.severity === "error")));
  return compileRuleset(built.plan, { perLength, dropSummaries: false });
}

const selectorSets = (r: NftRuleset): NftSet[] => r.tables[1]!.sets.filter((s) => s.name.startsWith("sel-"));
const suffixes = (r: NftRuleset) => selectorSets(r).map((s) => s.name.replace(/^sel-[a-z2-7]{12}-/, ""));
const policyRules = (r: NftRuleset) => renderScript(r).text.split("\n").filter((l) => l.includes('comment "gnp/p/ingress/0"')).map((l) => l.trim().replace(/sel-[a-z2-7]{12}-/g, "S-"));

/** 70 /32s, 70 /24s, one /20, one /16 (and a /28 covered by one of the /24s, dropped): 142 members. */
const NETS = [
  ...Array.from({ length: 70 }, (_, i) => `10.1.${i}.7`),
  ...Array.from({ length: 70 }, (_, i) => `10.2.${2 * i}.0/24`), // not adjacent: never merged
  "10.3.0.0/20",
  "10.4.0.0/16",
  "10.2.4.16/28",
];

describe("per-prefix-length selector sets", () => {
  test("below the threshold: the hosts/prefixes halves, as before", () => {
    const r = compile(NETS, { threshold: 143, rare: 64 });
    expect(suffixes(r)).toEqual(["4h", "4p"]);
  });

  test("at the threshold: one hash set per length of 64 members or more, network addresses; the rest in one interval set", () => {
    const r = compile(NETS, { threshold: 142, rare: 64 });
    expect(suffixes(r)).toEqual(["4l24", "4l32", "4r"]);
    const [l24, l32, rare] = selectorSets(r);
    expect([l24!.interval, l32!.interval, rare!.interval]).toEqual([false, false, true]);
    expect(l24!.elements.length).toBe(70);
    expect([...l24!.elements]).toContain("10.2.4.0");
    expect([...l32!.elements]).toContain("10.1.3.7");
    expect(rare!.elements).toEqual(["10.3.0.0/20", "10.4.0.0/16"]);
    // Ports first, then the lookups: longest length first, the interval set last.
    expect(policyRules(r)).toEqual([
      "meta l4proto tcp th dport 22 ip saddr @S-4l32 counter drop comment \"gnp/p/ingress/0\"",
      "meta l4proto tcp th dport 22 ip saddr & 255.255.255.0 == @S-4l24 counter drop comment \"gnp/p/ingress/0\"",
      "meta l4proto tcp th dport 22 ip saddr @S-4r counter drop comment \"gnp/p/ingress/0\"",
    ]);
  });

  test("a notSelector is one rule: not in any of the sets", () => {
    const r = compile(NETS, { threshold: 0, rare: 0 }, "{action: Allow, source: {notSelector: list == 'x'}}");
    expect(suffixes(r)).toEqual(["4l16", "4l20", "4l24", "4l32"]);
    expect(policyRules(r)).toEqual([
      "ip saddr != @S-4l32 ip saddr & 255.255.255.0 != @S-4l24 ip saddr & 255.255.240.0 != @S-4l20 ip saddr & 255.255.0.0 != @S-4l16 counter meta mark set meta mark | 0x00010000 return comment \"gnp/p/ingress/0\"",
      // The set has no IPv6 member: every IPv6 source is "not in it".
      "meta nfproto ipv6 counter meta mark set meta mark | 0x00010000 return comment \"gnp/p/ingress/0\"",
    ]);
  });

  test("IPv6: masks are IPv6 netmasks, /128 is a plain lookup", () => {
    const r = compile(["2001:db8::1", "2001:db8:2:3::/64"], { threshold: 0, rare: 0 }, "{action: Deny, source: {selector: list == 'x'}}");
    expect(suffixes(r)).toEqual(["6l128", "6l64"]);
    expect(policyRules(r)).toEqual([
      "ip6 saddr @S-6l128 counter drop comment \"gnp/p/ingress/0\"",
      "ip6 saddr & ffff:ffff:ffff:ffff:: == @S-6l64 counter drop comment \"gnp/p/ingress/0\"",
    ]);
  });

  const V6 = ["2001:db8::1", "2001:db8:1::/48", "2001:db8:2:3::/64", "3fff:100::/64", "2001:db8:4400::/40", "2a00::/24"];
  const deny = "{action: Deny, protocol: TCP, source: {selector: list == 'x'}, destination: {ports: [22]}}";
  const subChain = (r: NftRuleset, name: string) => r.tables[1]!.chains.find((c) => c.name === name);

  test("IPv6, a Deny with three lengths of /32 or longer: they go behind one /32 prefilter lookup, shorter lengths stay in front", () => {
    const r = compile(V6, { threshold: 0, rare: 0 }, deny);
    expect(suffixes(r)).toEqual(["6f32", "6l128", "6l24", "6l40", "6l48", "6l64"]);
    expect(policyRules(r)).toEqual([
      // The chain of the moved rules (rendered before the policy chain that jumps to it): as they were.
      "meta l4proto tcp th dport 22 ip6 saddr @S-6l128 counter drop comment \"gnp/p/ingress/0\"",
      "meta l4proto tcp th dport 22 ip6 saddr & ffff:ffff:ffff:ffff:: == @S-6l64 counter drop comment \"gnp/p/ingress/0\"",
      "meta l4proto tcp th dport 22 ip6 saddr & ffff:ffff:ffff:: == @S-6l48 counter drop comment \"gnp/p/ingress/0\"",
      "meta l4proto tcp th dport 22 ip6 saddr & ffff:ffff:ff00:: == @S-6l40 counter drop comment \"gnp/p/ingress/0\"",
      // The policy chain: the jump, behind the matches every moved rule shares, where the first was; the /24 as before.
      "meta l4proto tcp th dport 22 ip6 saddr & ffff:ffff:: == @S-6f32 jump gnp-p-in-r0-v6 comment \"gnp/p/ingress/0\"",
      "meta l4proto tcp th dport 22 ip6 saddr & ffff:ff00:: == @S-6l24 counter drop comment \"gnp/p/ingress/0\"",
    ]);
    expect(subChain(r, "gnp-p-in-r0-v6")?.rules).toHaveLength(4);
    // The /32 networks of the members of /32 or longer, once each, ascending; not the /24's.
    expect([...selectorSets(r).find((s) => s.name.endsWith("-6f32"))!.elements]).toEqual(["2001:db8::", "3fff:100::"]);
  });

  const MEMBERS = ["2001:db8::1", "2001:db8:1:5::9", "2001:db8:2:3::77", "2001:db8:4400:ff::1", "3fff:100::5", "2a00:12::1"];
  const OTHERS = ["2001:db8::2", "2001:db8:2:4::1", "2001:db8:4500::1", "3fff:101::5", "2a01::1", "2001:db9::1"];

  for (const [action, then] of [["Deny", "Allow"], ["Allow", "Deny"]] as const) {
    test(`the interpreter walks the prefilter as the evaluator decides: a ${action} rule's members decided through the jump, non-members inside and outside the /32s go on to the next rule (${then})`, () => {
      // Port 8022: 22 is a failsafe port, accepted before any policy. The policy's next rule decides the rest
      // (an Allow's members must not reach it: the return after the jump).
      const rule = deny.replace("ports: [22]", "ports: [8022]").replace("action: Deny", `action: ${action}`);
      const yaml = config(V6, `${rule}, {action: ${then}}`);
      const built = buildRuleset({ files: [{ path: "c.yaml", text: yaml }], node: NODE });
      const ruleset = compileRuleset(built.plan!, { perLength: { threshold: 0, rare: 0 }, dropSummaries: true });
      expect(ruleset.tables[1]!.chains.some((c) => c.name === "gnp-p-in-r0-v6")).toBe(true);
      const evaluator = new Evaluator(built.model, NODE);
      const verdicts = [...MEMBERS, ...OTHERS].flatMap((src) =>
        [8022, 8023].map((dstPort) => {
          const packet = { direction: "ingress", inInterface: "eth0", family: 6, src, dst: "2001:db8:ffff::10", protocol: 6, srcPort: 40000, dstPort, conntrack: "new" } as const;
          return { src, dstPort, evaluator: evaluator.evaluate(packet).verdict === "deny" ? "drop" : "accept", interpreter: interpret(ruleset, packet).verdict };
        }),
      );
      expect(verdicts.filter((v) => v.evaluator !== v.interpreter)).toEqual([]);
      // Both ways: the members (and the /24's) on port 8022 get the rule's verdict, the rest q's.
      const ruled = verdicts.filter((v) => v.interpreter === (action === "Deny" ? "drop" : "accept"));
      expect(ruled.map((v) => `${v.src} ${v.dstPort}`)).toEqual(MEMBERS.map((m) => `${m} 8022`));
    });
  }

  test("no prefilter for two such lengths, for a Pass (PASS may be set when a profile's chain runs), or for IPv4", () => {
    const two = compile(["2001:db8::1", "2001:db8:2:3::/64", "2a00::/24"], { threshold: 0, rare: 0 }, deny);
    expect(suffixes(two)).toEqual(["6l128", "6l24", "6l64"]);
    const pass = compile(V6, { threshold: 0, rare: 0 }, "{action: Pass, source: {selector: list == 'x'}}");
    expect(suffixes(pass).filter((x) => x.startsWith("6f"))).toEqual([]);
    expect(policyRules(pass).filter((l) => l.includes("jump"))).toEqual([]);
    const v4 = compile(NETS, { threshold: 0, rare: 0 }, deny);
    expect(suffixes(v4)).toEqual(["4l16", "4l20", "4l24", "4l32"]);
  });

  test("an Allow behind the prefilter: the jump, then a return from the policy's chain when the moved rules set ACCEPT", () => {
    const r = compile(V6, { threshold: 0, rare: 0 }, "{action: Allow, source: {selector: list == 'x'}}");
    expect(policyRules(r).filter((l) => !l.includes("@S-6l"))).toEqual([
      "ip6 saddr & ffff:ffff:: == @S-6f32 jump gnp-p-in-r0-v6 comment \"gnp/p/ingress/0\"",
      "meta mark & 0x00010000 == 0x00010000 return comment \"gnp/p/ingress/0\"",
    ]);
  });

  test("the default threshold is 4096 and the rare bound 64; the environment overrides them with digits only", () => {
    expect(perLengthLayout({}, {})).toEqual({ threshold: 4096, rare: 64 });
    expect(perLengthLayout({}, { HOSTWALL_PER_LENGTH_THRESHOLD: "0", HOSTWALL_PER_LENGTH_RARE: "2" })).toEqual({ threshold: 0, rare: 2 });
    expect(perLengthLayout({}, { HOSTWALL_PER_LENGTH_THRESHOLD: "-1", HOSTWALL_PER_LENGTH_RARE: "1e3" })).toEqual({ threshold: 4096, rare: 64 });
    expect(perLengthLayout({ threshold: 7 }, { HOSTWALL_PER_LENGTH_THRESHOLD: "0" })).toEqual({ threshold: 7, rare: 64 });
  });
});
