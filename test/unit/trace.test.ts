/**
 * hostwall trace, the pure parts: `nft monitor trace` lines (recorded from nft 1.0.6 on kernel
 * 6.18 in a namespace with the ruleset of CONFIG below applied: an untracked deny, a normal
 * allow and deny, a failsafe accept) → per-packet results in policy words, the self-check
 * against the evaluator, the trace table script and the flag parsing.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Evaluator } from "../../src/explain/evaluate.ts";
import { loadConfig } from "../../src/validate/load.ts";
import { parsePacketFields, parseTraceLine, type TraceEvent } from "../../src/trace/events.ts";
import { describeTrace, toPacket, traceComplete, tracePacketStart } from "../../src/trace/describe.ts";
import { formatTrace } from "../../src/trace/format.ts";
import { holderPid, removeScript, traceScript } from "../../src/trace/table.ts";
import { parseCidr } from "../../src/model/cidr-parse.ts";
import { traceArgsFromFlags } from "../../src/cli/trace-args.ts";
import { UsageError } from "../../src/cli/args.ts";
import { BINARY } from "../support/binary.ts";

const CONFIG = `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata:
  name: host-eth0
  labels:
    role: host
spec:
  interfaceName: eth0
  node: trnode
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: dos-mitigation
spec:
  selector: role == 'host'
  doNotTrack: true
  applyOnForward: true
  types: [Ingress]
  ingress:
    - action: Deny
      source:
        nets: ['192.0.2.66/32']
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: web
spec:
  selector: role == 'host'
  types: [Ingress]
  ingress:
    - action: Allow
      protocol: TCP
      destination:
        ports: [80]
    - action: Deny
      protocol: TCP
      destination:
        ports: [81]
`;

const { model } = loadConfig([{ path: "p.yaml", text: CONFIG }], { node: "trnode" });
const evaluator = new Evaluator(model, "trnode");
const lines = readFileSync(join(import.meta.dir, "fixtures/trace-monitor.txt"), "utf8").split("\n");

function traces(ls: readonly string[]): Map<string, TraceEvent[]> {
  const out = new Map<string, TraceEvent[]>();
  for (const l of ls) {
    const e = parseTraceLine(l);
    if (e) out.set(e.id, [...(out.get(e.id) ?? []), e]);
  }
  return out;
}

describe("nft monitor trace lines", () => {
  test("rule line: text, comment and verdict", () => {
    expect(parseTraceLine(`trace id 4ac0585c netdev hostwall gnp-dos-mitigation-in rule ip saddr 192.0.2.66 counter packets 2 bytes 120 drop comment "gnp/dos-mitigation/ingress/0" (verdict drop)`)).toEqual({
      id: "4ac0585c", family: "netdev", table: "hostwall", chain: "gnp-dos-mitigation-in", kind: "rule",
      text: "ip saddr 192.0.2.66 counter packets 2 bytes 120 drop", comment: "gnp/dos-mitigation/ingress/0", verdict: "drop",
    });
    expect(parseTraceLine("trace id 98502c4a inet hostwall filter-input rule iifname vmap { \"eth0\" : jump normal-in-eth0 } (verdict jump normal-in-eth0)")?.verdict).toBe("jump normal-in-eth0");
    expect(parseTraceLine("trace id 98502c4a inet hostwall raw-prerouting policy accept ")).toMatchObject({ kind: "policy", verdict: "accept" });
    expect(parseTraceLine("trace id zz not a trace")).toBeUndefined();
    expect(parseTraceLine("")).toBeUndefined();
  });

  test("packet fields, IPv4 and IPv6", () => {
    expect(parsePacketFields(`iif "eth0" ether saddr 32:ce:77:49:78:22 ip saddr 192.0.2.66 ip daddr 192.0.2.10 ip protocol tcp ip length 60 tcp sport 38395 tcp dport 80 tcp flags == syn`)).toEqual({
      iif: "eth0", family: 4, src: "192.0.2.66", dst: "192.0.2.10", protocol: "tcp", sport: 38395, dport: 80,
    });
    expect(parsePacketFields(`iif "veth-a" ip6 saddr 2001:db8::20 ip6 daddr ff02::1:ff00:10 ip6 nexthdr ipv6-icmp icmpv6 type nd-neighbor-solicit icmpv6 code no-route`)).toEqual({
      iif: "veth-a", family: 6, src: "2001:db8::20", dst: "ff02::1:ff00:10", protocol: "ipv6-icmp", icmpType: "nd-neighbor-solicit", icmpCode: "no-route",
    });
    expect(toPacket({ oif: "eth0", family: 6, src: "2001:db8::10", dst: "2001:db8::20", protocol: "ipv6-icmp", icmpType: "echo-reply" }, false)).toEqual({
      direction: "egress", outInterface: "eth0", family: 6, src: "2001:db8::10", dst: "2001:db8::20", protocol: 58, icmpType: 129, conntrack: "new",
    });
  });
});

describe("one packet in policy words (recorded traces)", () => {
  const all = traces(lines);
  const result = (id: string) => describeTrace(id, all.get(id)!, model, evaluator);

  test("four packets were recorded", () => expect([...all.keys()]).toEqual(["4ac0585c", "98502c4a", "be1f3b9c", "8f333004"]));

  test("untracked deny in netdev: dos-mitigation rule 0 with its file position", () => {
    const r = result("4ac0585c");
    expect(r.summary).toBe("tcp 192.0.2.66:38395 -> 192.0.2.10:80 in eth0");
    expect(r.verdict).toBe("drop");
    expect(r.decidedBy).toEqual({ stage: "untracked", interface: "eth0", table: "netdev hostwall", chain: "gnp-dos-mitigation-in", action: "drop", comment: "gnp/dos-mitigation/ingress/0", what: "policy dos-mitigation ingress rule 0 (tier default)", at: "p.yaml:21:7" });
    expect(r.governed).toBe(true);
    expect(r.predicted?.verdict).toBe("deny");
    expect(r.mismatch).toBe(false);
  });

  test("normal-stage allow: the Allow rule that set the mark decides, not the accept on the mark", () => {
    const r = result("98502c4a");
    expect(r.verdict).toBe("accept");
    expect(r.decidedBy).toMatchObject({ stage: "normal", interface: "eth0", action: "allow", what: "policy web ingress rule 0 (tier default)", at: "p.yaml:33:7" });
    expect(r.steps.map((s) => `${s.action} ${s.what}`)).toEqual(["allow policy web ingress rule 0 (tier default)", "accept accept mark (allowed by an earlier stage)"]);
    expect(r.predicted).toEqual({ verdict: "allow", what: "normal ingress: policy web ingress rule 0 (tier default, Allow)" });
    expect(r.mismatch).toBe(false);
  });

  test("normal-stage deny", () => {
    const r = result("be1f3b9c");
    expect(r.decidedBy).toMatchObject({ stage: "normal", action: "drop", what: "policy web ingress rule 1 (tier default)", at: "p.yaml:37:7" });
    expect(r.mismatch).toBe(false);
  });

  test("failsafe accept: in the untracked stage (plain accept) and in the normal stage", () => {
    const r = result("8f333004");
    expect(r.steps.map((s) => `${s.stage} ${s.action} ${s.what}`)).toEqual(["untracked accept failsafe inbound", "normal accept failsafe inbound"]);
    expect(r.verdict).toBe("accept");
    expect(r.predicted?.verdict).toBe("allow");
    expect(r.mismatch).toBe(false);
  });

  test("MISMATCH: a rule changed behind the agent's back (port 81 now allowed in the kernel)", () => {
    const drifted = lines.map((l) => l.replace(`tcp dport 81 counter packets 2 bytes 120 drop comment "gnp/web/ingress/1" (verdict drop)`, `tcp dport 81 counter packets 2 bytes 120 accept comment "gnp/web/ingress/1" (verdict accept)`));
    expect(drifted).not.toEqual(lines);
    const r = describeTrace("be1f3b9c", traces(drifted).get("be1f3b9c")!, model, evaluator);
    expect(r.verdict).toBe("accept");
    expect(r.mismatch).toBe(true);
    expect(formatTrace(r, 3)).toContain("MISMATCH: kernel accept, explain predicts deny (normal ingress: policy web ingress rule 1 (tier default, Deny))");
  });

  test("a packet no hostwall chain saw says so", () => {
    const ev = lines.filter((l) => l.startsWith("trace id 4ac0585c") && l.includes("hostwall-trace")).map((l) => l.replaceAll('"eth0"', '"eth9"'));
    const r = describeTrace("4ac0585c", traces(ev).get("4ac0585c")!, model, evaluator);
    expect(r.governed).toBe(false);
    expect(r.verdict).toBe("accept");
    expect(formatTrace(r, 1)).toContain("no hostwall chain: interface not governed");
  });

  test("text form of a drop", () => {
    expect(formatTrace(result("4ac0585c"), 1)).toBe(
      "packet 1: tcp 192.0.2.66:38395 -> 192.0.2.10:80 in eth0\n" +
        "  untracked eth0   drop   policy dos-mitigation ingress rule 0 (tier default) at p.yaml:21:7  [netdev hostwall gnp-dos-mitigation-in]\n" +
        "  verdict: drop by policy dos-mitigation ingress rule 0 (tier default) (untracked eth0)\n" +
        "  explain agrees: deny (untracked ingress: policy dos-mitigation ingress rule 0 (tier default, Deny))\n",
    );
  });
});

describe("the trace table", () => {
  const cidr = (t: string) => { const c = parseCidr(t, "lax"); if (!c.ok) throw new Error(t); return c.cidr; };
  test("netdev ingress per interface at -600, raw prerouting/output at -350, rate limited, pid in the comment", () => {
    expect(traceScript({ src: cidr("192.0.2.0/24"), proto: "tcp", dport: 22 }, ["eth0"], 42)).toBe(
      `create table netdev hostwall-trace { comment "hostwall trace pid 42"; }
add chain netdev hostwall-trace in-0 { type filter hook ingress device "eth0" priority -600; policy accept; }
add rule netdev hostwall-trace in-0 ip saddr 192.0.2.0/24 meta l4proto tcp th dport 22 limit rate 50/second meta nftrace set 1
create table inet hostwall-trace { comment "hostwall trace pid 42"; }
add chain inet hostwall-trace prerouting { type filter hook prerouting priority -350; policy accept; }
add rule inet hostwall-trace prerouting ip saddr 192.0.2.0/24 meta l4proto tcp th dport 22 limit rate 50/second meta nftrace set 1
add chain inet hostwall-trace output { type filter hook output priority -350; policy accept; }
add rule inet hostwall-trace output ip saddr 192.0.2.0/24 meta l4proto tcp th dport 22 limit rate 50/second meta nftrace set 1
`);
  });
  test("--direction out has no ingress chains; --iface names the interface in inet", () => {
    const s = traceScript({ iface: "eth1", direction: "out", dst: cidr("2001:db8::/32") }, ["eth1"], 7);
    expect(s).not.toContain("ingress");
    expect(s).not.toContain("prerouting");
    expect(s).toContain(`add rule inet hostwall-trace output oifname "eth1" ip6 daddr 2001:db8::/32 limit rate 50/second meta nftrace set 1`);
  });
  test("removal and holder", () => {
    expect(removeScript()).toBe("add table netdev hostwall-trace\ndelete table netdev hostwall-trace\nadd table inet hostwall-trace\ndelete table inet hostwall-trace\n");
    expect(holderPid("hostwall trace pid 1234")).toBe(1234);
    expect(holderPid("hostwall generation 1 hash x")).toBeUndefined();
  });
});

describe("trace flags", () => {
  test("defaults and values", () => {
    expect(traceArgsFromFlags({})).toEqual({ filter: {}, count: 10, durationMs: 30_000 });
    expect(traceArgsFromFlags({ src: "192.0.2.66", proto: "TCP", dport: "22", count: "3", duration: "500ms", iface: "eth0", direction: "in" })).toMatchObject({ filter: { proto: "tcp", dport: 22, iface: "eth0", direction: "in" }, count: 3, durationMs: 500 });
    expect(traceArgsFromFlags({ duration: "2m" }).durationMs).toBe(120_000);
  });
  const bad: [Record<string, string>, string][] = [
    [{ src: "192.0.2.300" }, "--src needs an address or a prefix"],
    [{ src: "192.0.2.1", dst: "2001:db8::1" }, "a packet has one IP version"],
    [{ proto: "tcp; flush ruleset" }, "--proto must be"],
    [{ dport: "22" }, "--dport needs --proto"],
    [{ proto: "icmp", sport: "1" }, "--sport needs --proto"],
    [{ proto: "tcp", dport: "70000" }, "--dport must be a port"],
    [{ iface: 'eth0" accept' }, "--iface needs an interface name"],
    [{ direction: "both" }, "--direction must be in or out"],
    [{ count: "0" }, "--count must be"],
    [{ duration: "-1" }, "--duration must be"],
    [{ duration: "2h" }, "--duration must be"],
  ];
  for (const [flags, message] of bad) test(`usage error: ${JSON.stringify(flags)}`, () => {
    expect(() => traceArgsFromFlags(flags)).toThrow(UsageError);
    expect(() => traceArgsFromFlags(flags)).toThrow(message);
  });
});

describe("cutting a reused trace id into packets", () => {
  const ev = (l: string) => parseTraceLine(l)!;
  test("over at a drop, or at an accept in hostwall's filter hooks; not at an accept in netdev, raw or pre-DNAT", () => {
    const at = (...ls: string[]) => traceComplete(ls.map(ev));
    expect(at(`trace id 1 netdev hostwall gnp-dos-mitigation-in rule ip saddr 192.0.2.66 drop comment "gnp/dos-mitigation/ingress/0" (verdict drop)`)).toBe(true);
    expect(at(`trace id 1 inet hostwall normal-in-eth0 rule meta mark & 0x00010000 == 0x00010000 accept (verdict accept)`)).toBe(true);
    expect(at(`trace id 1 inet hostwall filter-input policy accept `)).toBe(true);
    expect(at(`trace id 1 inet hostwall filter-input rule iifname vmap { "eth0" : jump normal-in-eth0 } (verdict jump normal-in-eth0)`, `trace id 1 inet hostwall failsafe-in rule tcp dport { 22 } accept comment "failsafe inbound" (verdict accept)`)).toBe(true);
    // The same failsafe chain in the pre-DNAT stage: a plain accept of the mangle hook only.
    expect(at(`trace id 1 inet hostwall mangle-prerouting rule iifname vmap { "eth0" : jump prednat-in-eth0 } (verdict jump prednat-in-eth0)`, `trace id 1 inet hostwall prednat-in-eth0 rule jump failsafe-in (verdict jump failsafe-in)`, `trace id 1 inet hostwall failsafe-in rule tcp dport { 22 } accept comment "failsafe inbound" (verdict accept)`)).toBe(false);
    expect(at(`trace id 1 netdev hostwall failsafe-raw-in rule tcp dport { 22 } accept comment "failsafe inbound" (verdict accept)`)).toBe(false);
    expect(at(`trace id 1 inet hostwall raw-prerouting policy accept `)).toBe(false);
    expect(at(`trace id 1 inet hostwall gnp-web-in rule tcp dport 80 meta mark set meta mark | 0x00010000 return comment "gnp/web/ingress/0" (verdict return)`)).toBe(false);
    expect(tracePacketStart(ev(`trace id 1 netdev hostwall-trace in-0 packet: iif "eth0" ip saddr 192.0.2.20`))).toBe(true);
    expect(tracePacketStart(ev(`trace id 1 netdev hostwall ingress-eth0 packet: iif "eth0" ip saddr 192.0.2.20`))).toBe(false);
  });
});

test("a packet DNATed on the way: the evaluator sees the first destination, and the later one as dnat", () => {
  const ls = [
    `trace id 7 netdev hostwall-trace in-0 packet: iif "eth0" ip saddr 192.0.2.20 ip daddr 192.0.2.10 ip protocol tcp tcp sport 40000 tcp dport 8080 `,
    `trace id 7 inet hostwall filter-input packet: iif "eth0" ip saddr 192.0.2.20 ip daddr 192.0.2.10 ip protocol tcp tcp sport 40000 tcp dport 80 `,
    `trace id 7 inet hostwall filter-input policy accept `,
  ];
  const r = describeTrace("7", traces(ls).get("7")!, model, undefined);
  expect(r.packet).toMatchObject({ dst: "192.0.2.10", dport: 8080 });
  expect(toPacket(r.packet, false, { dst: "192.0.2.10", dstPort: 80 })).toMatchObject({ dstPort: 8080, dnat: { dst: "192.0.2.10", dstPort: 80 } });
  const withEval = describeTrace("7", traces(ls).get("7")!, model, evaluator);
  expect(withEval.predicted).toEqual({ verdict: "allow", what: "normal ingress: policy web ingress rule 0 (tier default, Allow)" });
});

describe("hostwall trace on the command line (no root needed: usage errors come first)", () => {
  const run = (...args: string[]) => Bun.spawnSync([BINARY, "trace", ...args], { env: { PATH: "/usr/bin:/bin" }, timeout: 10_000 });
  test("an invalid filter is exit 2 naming the flag, and nothing is installed or loaded", () => {
    const r = run("--config-dir", "/nonexistent", "--src", "192.0.2.1/33");
    expect(r.exitCode).toBe(2);
    expect(r.stderr.toString()).toContain("--src needs an address or a prefix");
    expect(r.stderr.toString()).not.toContain("/nonexistent");
  });
  test("a flag trace does not take is exit 2", () => {
    const r = run("--in", "eth0");
    expect(r.exitCode).toBe(2);
    expect(r.stderr.toString()).toContain("--in is not a flag of hostwall trace");
  });
  test("help names every flag", () => {
    const r = run("--help");
    expect(r.exitCode).toBe(0);
    for (const f of ["--src", "--dst", "--proto", "--sport", "--dport", "--iface", "--direction", "--count", "--duration", "--json", "--nft", "--config-dir", "--node"]) expect(r.stdout.toString()).toContain(f);
  });
});
