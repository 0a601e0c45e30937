/**
 * `hostwall explain`: flags → Packet (table-driven, every flag and every usage error), then
 * the CLI entry against rules/ and a fixture dir, asserting the deciding stage, policy and
 * rule (or failsafe, profile, end of tier, default, conntrack), the exit codes of DESIGN §3,
 * and that an invalid config gives exactly the diagnostics of `hostwall check`.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, UsageError } from "../../src/cli/args.ts";
import { runCommand } from "../../src/cli/commands.ts";
import type { Io } from "../../src/cli/io.ts";
import { packetFromFlags } from "../../src/cli/explain-args.ts";
import type { Explanation, Packet } from "../../src/explain/explanation.ts";
import { ENTRY, RULES, runHostwall, tempConfigDirs } from "../support/cli.ts";

const NODE = "jasper";
const dirs = tempConfigDirs("hostwall-explain-");
afterAll(() => dirs.remove());

/** argv after `hostwall explain` → Packet, through the same parser main.ts uses. */
const packet = (argv: string) => packetFromFlags(parseArgs(["explain", ...argv.split(" ")]).flags);
const usageError = (argv: string): string => {
  try {
    packet(argv);
  } catch (e) {
    if (e instanceof UsageError) return e.message;
    throw e;
  }
  throw new Error(`no usage error for: ${argv}`);
};

const V4 = "--src 192.0.2.20 --dst 192.0.2.10";
const V6 = "--src 2001:db8:2::20 --dst 2001:db8:2::10";

describe("flags → packet", () => {
  const cases: [string, Packet][] = [
    [`--in eth0 ${V4} --proto tcp --dport 80`, { direction: "ingress", inInterface: "eth0", family: 4, src: "192.0.2.20", dst: "192.0.2.10", protocol: 6, dstPort: 80, conntrack: "new" }],
    [`--out eth0 --src 192.0.2.10 --dst 198.51.100.1 --proto UDP --sport 40000 --dport 53 --state established`, { direction: "egress", outInterface: "eth0", family: 4, src: "192.0.2.10", dst: "198.51.100.1", protocol: 17, srcPort: 40000, dstPort: 53, conntrack: "established" }],
    [`--in eth0 --out eth1 ${V4} --proto sctp --dport 1 --dnat 198.51.100.20:65535`, { direction: "forward", inInterface: "eth0", outInterface: "eth1", family: 4, src: "192.0.2.20", dst: "192.0.2.10", protocol: 132, dstPort: 1, conntrack: "new", dnat: { dst: "198.51.100.20", dstPort: 65535 } }],
    [`--in eth0 --src 2001:DB8:2::20 --dst 2001:db8:2:0::10 --proto udplite --dport 5 --dnat [2001:db8::1]:8080`, { direction: "ingress", inInterface: "eth0", family: 6, src: "2001:db8:2::20", dst: "2001:db8:2::10", protocol: 136, dstPort: 5, conntrack: "new", dnat: { dst: "2001:db8::1", dstPort: 8080 } }],
    [`--in eth0 ${V6} --proto tcp --dport 443 --dnat 2001:db8::1`, { direction: "ingress", inInterface: "eth0", family: 6, src: "2001:db8:2::20", dst: "2001:db8:2::10", protocol: 6, dstPort: 443, conntrack: "new", dnat: { dst: "2001:db8::1" } }],
    [`--in eth0 ${V6} --proto tcp --dnat [2001:db8::1]`, { direction: "ingress", inInterface: "eth0", family: 6, src: "2001:db8:2::20", dst: "2001:db8:2::10", protocol: 6, conntrack: "new", dnat: { dst: "2001:db8::1" } }],
    // ICMP: the type implies the family's ICMP; names as nft spells them.
    [`--in eth0 ${V4} --icmp-type echo-request --icmp-code 0`, { direction: "ingress", inInterface: "eth0", family: 4, src: "192.0.2.20", dst: "192.0.2.10", protocol: 1, icmpType: 8, icmpCode: 0, conntrack: "new" }],
    [`--in eth0 ${V6} --proto icmpv6 --icmp-type nd-neighbor-solicit`, { direction: "ingress", inInterface: "eth0", family: 6, src: "2001:db8:2::20", dst: "2001:db8:2::10", protocol: 58, icmpType: 135, icmpCode: 0, conntrack: "new" }],
    [`--in eth0 ${V6} --icmp-type 255 --icmp-code 255 --state related`, { direction: "ingress", inInterface: "eth0", family: 6, src: "2001:db8:2::20", dst: "2001:db8:2::10", protocol: 58, icmpType: 255, icmpCode: 255, conntrack: "related" }],
    [`--out lo ${V4} --proto 47 --state INVALID`, { direction: "egress", outInterface: "lo", family: 4, src: "192.0.2.20", dst: "192.0.2.10", protocol: 47, conntrack: "invalid" }],
    [`--in=eth0 --src=192.0.2.20 --dst=192.0.2.10 --proto=tcp --dport=22`, { direction: "ingress", inInterface: "eth0", family: 4, src: "192.0.2.20", dst: "192.0.2.10", protocol: 6, dstPort: 22, conntrack: "new" }],
  ];
  test.each(cases)("%s", (argv, want) => {
    expect(packet(argv)).toEqual(want);
  });
});

describe("usage errors name the flag", () => {
  const cases: [string, string | RegExp][] = [
    [`${V4} --proto tcp`, "say where the packet goes: --in IFACE (to a host process), --out IFACE (from a host process), or both (forwarded); see hostwall explain --help"],
    [`--in eth0 --dst 192.0.2.10 --proto tcp`, "--src is needed: the packet's source address"],
    [`--in eth0 --src 192.0.2.20 --proto tcp`, "--dst is needed: the packet's destination address"],
    [`--in eth0 --src 192.0.2.0/24 --dst 192.0.2.10 --proto tcp`, '--src needs an IP address, got "192.0.2.0/24": expected a plain IP address without a /prefix'],
    [`--in eth0 --src 192.0.2.20 --dst example.org --proto tcp`, `--dst needs an IP address, got "example.org": unexpected character "e" in IPv4 address`],
    [`--in eth0 --src 192.0.2.20 --dst 2001:db8::1 --proto tcp`, "--src 192.0.2.20 is IPv4 but --dst 2001:db8::1 is IPv6; a packet has one IP version"],
    [`--in eth0 ${V4}`, "--proto is needed: tcp, udp, icmp, icmpv6, sctp, udplite or a protocol number 1-255"],
    [`--in eth0 ${V4} --proto gre`, '--proto needs tcp, udp, icmp, icmpv6, sctp, udplite or a protocol number 1-255, got "gre"'],
    [`--in eth0 ${V4} --proto 0`, '--proto needs tcp, udp, icmp, icmpv6, sctp, udplite or a protocol number 1-255, got "0"'],
    [`--in eth0 ${V4} --proto icmpv6`, "--proto icmpv6 does not go with IPv4 addresses; use --proto icmp"],
    [`--in eth0 ${V6} --proto icmp`, "--proto icmp does not go with IPv6 addresses; use --proto icmpv6"],
    [`--in eth0 ${V4} --proto tcp --dport 70000`, "--dport needs a port 1-65535, got 70000"],
    [`--in eth0 ${V4} --proto tcp --dport 0`, "--dport needs a port 1-65535, got 0"],
    [`--in eth0 ${V4} --proto udp --sport 8O`, "--sport needs a port 1-65535, got 8O"],
    [`--in eth0 ${V4} --dport 80`, "--dport needs --proto tcp, udp, sctp or udplite"],
    [`--in eth0 ${V4} --sport 80`, "--sport needs --proto tcp, udp, sctp or udplite"],
    [`--in eth0 ${V4} --proto icmp --dport 80`, "--dport needs --proto tcp, udp, sctp or udplite, not icmp"],
    [`--in eth0 ${V4} --proto tcp --icmp-type 8`, "--icmp-type needs --proto icmp (IPv4 addresses), not tcp"],
    [`--in eth0 ${V6} --proto 1 --icmp-type 128`, "--icmp-type needs --proto icmpv6 (IPv6 addresses), not icmp"],
    [`--in eth0 ${V4} --proto icmp --icmp-code 0`, "--icmp-code needs --icmp-type"],
    [`--in eth0 ${V4} --icmp-type 256`, /^--icmp-type needs an icmp type 0-255 or one of echo-reply, .*, timestamp-reply; got "256"$/],
    [`--in eth0 ${V6} --icmp-type echo-request --icmp-code -1`, '--icmp-code needs a code 0-255, got "-1"'],
    [`--in eth0 ${V4} --proto tcp --state closed`, '--state needs new, established, related or invalid, got "closed"'],
    [`--in eth0 ${V4} --proto tcp --dnat 198.51.100.20:0`, "--dnat needs a port 1-65535, got 0"],
    [`--in eth0 ${V4} --proto tcp --dnat 198.51.100.20:`, '--dnat needs a port 1-65535, got ""'],
    [`--in eth0 ${V4} --proto tcp --dnat 2001:db8::1`, "--dnat 2001:db8::1 is IPv6 but the packet is IPv4"],
    [`--in eth0 ${V4} --proto tcp --dnat host:80`, `--dnat needs ADDR, V4:PORT or [V6]:PORT, got "host:80": not an IP address (no '.' or ':')`],
    [`--in eth0 ${V4} --proto icmp --dnat 198.51.100.20:80`, "--dnat with a port needs --proto tcp, udp, sctp or udplite, not icmp"],
    [`--in eth0 ${V4} --dnat 198.51.100.20:80`, "--dnat with a port needs --proto tcp, udp, sctp or udplite"],
    [`--in * ${V4} --proto tcp`, /^--in needs an interface name; "\*" is not one \(the "\*" HostEndpoint governs/],
    [`--out a/b ${V4} --proto tcp`, `--out needs an interface name (1-15 bytes, no '/', ':' or spaces), got "a/b"`],
    [`--out 0123456789abcdef ${V4} --proto tcp`, `--out needs an interface name (1-15 bytes, no '/', ':' or spaces), got "0123456789abcdef"`],
    // The argument parser: a repeated flag, and a flag where a value belongs.
    [`--in eth0 --in eth1 ${V4} --proto tcp`, "--in is given twice"],
    [`--in --src 192.0.2.20 --dst 192.0.2.10 --proto tcp`, "--in needs a value"],
  ];
  test.each(cases)("%s", (argv, want) => {
    if (typeof want === "string") expect(usageError(argv)).toBe(want);
    else expect(usageError(argv)).toMatch(want);
  });

  test("explain takes only its own flags, and other commands refuse the packet flags", async () => {
    const io: Io = { out: () => {}, err: () => {}, env: {} };
    const refused = async (argv: string[]) => {
      try {
        await runCommand(parseArgs(argv), io);
      } catch (e) {
        return (e as Error).message;
      }
      return "accepted";
    };
    expect(await refused(["explain", "--in", "eth0", ...V4.split(" "), "--proto", "tcp", "--listen", "off"])).toBe("--listen is not a flag of hostwall explain; see hostwall help explain");
    expect(await refused(["check", "--config-dir", RULES, "--dport", "80"])).toBe("--dport is not a flag of hostwall check (it describes a packet for hostwall explain); see hostwall help check");
  });
});

/** `hostwall explain` through the CLI entry, as a user runs it. */
async function explain(dir: string, argv: string, extra: string[] = []) {
  return runHostwall(["explain", "--config-dir", dir, "--node", NODE, ...argv.split(" "), ...extra], { command: ENTRY });
}

/** The deciding step in a few words: "deny untracked dos-mitigation#0". */
function decided(e: Explanation): string {
  const r = e.decidedBy.reason;
  const what =
    r.kind === "rule" ? `${r.policy}#${r.ruleIndex}` :
    r.kind === "profile-rule" ? `profile ${r.profile}#${r.ruleIndex}` :
    r.kind === "end-of-tier" ? `end-of-tier ${r.tier}` :
    r.kind === "failsafe" ? `failsafe ${r.list} ${r.protocol}:${r.port}` :
    r.kind === "conntrack" ? `ct ${r.state}` :
    r.kind;
  return `${e.verdict}${e.denyAction ? `/${e.denyAction}` : ""} ${e.decidedBy.stage} ${what}`;
}

describe("hostwall explain against rules/", () => {
  const cases: [string, string][] = [
    // The deny list drops in the untracked stage, both families, before any allow.
    ["--in eth0 --src 192.0.2.66 --dst 192.0.2.10 --proto tcp --dport 80", "deny/drop untracked dos-mitigation#0"],
    ["--in eth0 --src 203.0.113.7 --dst 192.0.2.10 --proto udp --dport 5353", "deny/drop untracked dos-mitigation#0"],
    ["--in eth0 --src 2001:db8:2::66 --dst 2001:db8:2::10 --proto tcp --dport 443", "deny/drop untracked dos-mitigation#0"],
    // A client gets the allowed services, and nothing else.
    ["--in eth0 --src 192.0.2.20 --dst 192.0.2.10 --proto tcp --dport 80", "allow normal allow-host-services#0"],
    ["--in eth0 --src 192.0.2.20 --dst 192.0.2.10 --proto udp --dport 5353", "allow normal allow-host-services#1"],
    ["--in eth0 --src 192.0.2.20 --dst 192.0.2.10 --icmp-type echo-request", "allow normal allow-host-services#2"],
    ["--in eth0 --src 192.0.2.20 --dst 192.0.2.10 --icmp-type echo-reply", "deny/drop normal end-of-tier default"],
    ["--in eth0 --src 2001:db8:2::20 --dst 2001:db8:2::10 --icmp-type nd-neighbor-solicit", "allow normal allow-host-services#3"],
    ["--in eth0 --src 192.0.2.20 --dst 192.0.2.10 --proto tcp --dport 8080", "deny/drop normal end-of-tier default"],
    ["--in eth0 --src 192.0.2.20 --dst 192.0.2.10 --proto tcp --dport 8080 --state established", "allow normal ct established"],
    ["--in eth0 --src 192.0.2.20 --dst 192.0.2.10 --proto tcp --dport 22", "allow normal failsafe inbound tcp:22"],
    ["--out eth0 --src 192.0.2.10 --dst 198.51.100.1 --proto tcp --dport 8080", "allow normal allow-host-services#0"],
    // No HostEndpoint on eth1: hostwall gives no verdict.
    ["--in eth1 --src 192.0.2.20 --dst 192.0.2.10 --proto tcp --dport 8080", "none dispatch no-endpoint"],
  ];
  test.each(cases)("%s → %s", async (argv, want) => {
    const r = await explain(RULES, argv, ["--json"]);
    // A packet on an interface without an endpoint gets a note naming the governed ones (a typo is the usual cause).
    expect(r.stderr).toBe(argv.includes("eth1") ? "hostwall: note: no HostEndpoint of node jasper governs eth1 (governed: eth0; did you mean eth0?)\n" : "");
    expect(r.code).toBe(0);
    expect(decided(JSON.parse(r.stdout))).toBe(want);
  });

  test("--icmp-type without --icmp-code is the code-0 packet ping sends", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hw-explain-icmp-"));
    try {
      writeFileSync(join(dir, "a.yaml"), `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: h, labels: {role: h}}
spec: {node: jasper, interfaceName: eth0}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: ping}
spec:
  selector: role == 'h'
  ingress: [{action: Allow, protocol: ICMP, icmp: {type: 8, code: 0}}]
`);
      const implicit = await explain(dir, "--in eth0 --src 192.0.2.20 --dst 192.0.2.10 --icmp-type echo-request", ["--json"]);
      const explicit = await explain(dir, "--in eth0 --src 192.0.2.20 --dst 192.0.2.10 --icmp-type echo-request --icmp-code 0", ["--json"]);
      expect(decided(JSON.parse(implicit.stdout))).toBe("allow normal ping#0");
      expect(decided(JSON.parse(implicit.stdout))).toBe(decided(JSON.parse(explicit.stdout)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the text names the verdict, the deciding rule with its file and nft comment, and every step", async () => {
    const r = await explain(RULES, "--in eth0 --src 192.0.2.66 --dst 192.0.2.10 --proto tcp --dport 80");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        "node: jasper",
        "packet: IPv4 tcp 192.0.2.66 → 192.0.2.10 port 80, in eth0 to a host process, conntrack new",
        "verdict: deny (drop)",
        "decided by: tier default, policy dos-mitigation, ingress rule 0 (Deny)",
        "  in the untracked stage, ingress of eth0 (HostEndpoint production-host)",
        `  at ${RULES}/30-dos-mitigation.yaml:14:7 (nft comment gnp/dos-mitigation/ingress/0)`,
        "steps:",
        "  1. untracked ingress eth0 [HostEndpoint production-host]: deny — tier default, policy dos-mitigation, ingress rule 0 (Deny)",
        "",
      ].join("\n"),
    );
    const allowed = await explain(RULES, "--in eth0 --src 192.0.2.20 --dst 192.0.2.10 --proto tcp --dport 443");
    expect(allowed.stdout).toContain("\nverdict: allow\ndecided by: tier default, policy allow-host-services, ingress rule 0 (Allow)\n  in the normal stage, ingress of eth0 (HostEndpoint production-host)\n");
    expect(allowed.stdout).toContain(`  at ${RULES}/40-allow-host-services.yaml:14:7 (nft comment gnp/allow-host-services/ingress/0)\n`);
    expect(allowed.stdout).toContain("  1. untracked ingress eth0 [HostEndpoint production-host]: no verdict — no policy decided (1 tier)\n  2. normal ingress eth0");
    const untouched = await explain(RULES, "--in eth1 --src 192.0.2.20 --dst 192.0.2.10 --proto tcp --dport 80");
    expect(untouched.stdout).toEndWith(
      [
        "verdict: none: hostwall lets the packet pass, the rest of the ruleset decides",
        "decided by: no HostEndpoint governs eth1: untouched",
        "steps:",
        "  1. dispatch eth1: no verdict — no HostEndpoint governs eth1: untouched",
        "",
      ].join("\n"),
    );
  });

  test("a node with no HostEndpoint: nothing is governed, and a note says which nodes the files name", async () => {
    const r = await runHostwall(["explain", "--config-dir", RULES, "--node", "other", "--in", "eth0", ...V4.split(" "), "--proto", "tcp", "--dport", "80", "--json"], { command: ENTRY });
    expect(r.code).toBe(0);
    expect(decided(JSON.parse(r.stdout))).toBe("none dispatch no-endpoint");
    // The pipeline's warning (issue #11) says it once: which nodes the files name, and --node.
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toEqual([expect.stringContaining("warning[NO_ENDPOINT_ON_NODE]")]);
    expect(lines[0]).toContain("jasper");
  });

  test("--json prints the node, the packet as parsed and the Explanation", async () => {
    const r = await explain(RULES, "--in eth0 --src 2001:db8:2::66 --dst 2001:db8:2::10 --proto tcp --dport 443 --json");
    const doc = JSON.parse(r.stdout);
    expect(doc.node).toBe(NODE);
    expect(doc.packet).toEqual({ direction: "ingress", inInterface: "eth0", family: 6, src: "2001:db8:2::66", dst: "2001:db8:2::10", protocol: 6, dstPort: 443, conntrack: "new" });
    expect(doc.decidedBy).toEqual({ stage: "untracked", side: "ingress", interface: "eth0", endpoint: "production-host", outcome: "deny", reason: { kind: "rule", tier: "default", policy: "dos-mitigation", ruleIndex: 0, action: "Deny" } });
    expect(doc.steps).toEqual([doc.decidedBy]);
    expect([doc.verdict, doc.denyAction, doc.logs, doc.notrack]).toEqual(["deny", "drop", [], false]);
  });
});

const H = "apiVersion: projectcalico.org/v3";
/**
 * eth0 (edge, profile base) and eth1 (lan). Tier security first: Log and Deny telnet, allow
 * web, Pass the rest. A pre-DNAT deny of port 8081, and a forward policy on the lan side that
 * allows only the DNAT'd backend. Denies in filter stages reject.
 */
const FIXTURE = [
  `${H}\nkind: HostEndpoint\nmetadata: {name: edge, labels: {role: edge}}\nspec: {node: ${NODE}, interfaceName: eth0, expectedIPs: [192.0.2.10], profiles: [base]}`,
  `${H}\nkind: HostEndpoint\nmetadata: {name: lan, labels: {role: lan}}\nspec: {node: ${NODE}, interfaceName: eth1, expectedIPs: [198.51.100.1]}`,
  `${H}\nkind: Tier\nmetadata: {name: security}\nspec: {order: 100, defaultAction: Deny}`,
  `${H}\nkind: GlobalNetworkPolicy
metadata: {name: security.edge}
spec:
  tier: security
  selector: role == 'edge'
  types: [Ingress]
  ingress:
    - {action: Log, protocol: TCP, destination: {ports: [23]}}
    - {action: Deny, protocol: TCP, destination: {ports: [23]}}
    - {action: Allow, protocol: TCP, destination: {ports: [80]}}
    - {action: Pass}`,
  `${H}\nkind: GlobalNetworkPolicy
metadata: {name: pre-block}
spec:
  selector: role == 'edge'
  preDNAT: true
  applyOnForward: true
  types: [Ingress]
  ingress:
    - {action: Deny, protocol: TCP, destination: {ports: [8081]}}`,
  `${H}\nkind: GlobalNetworkPolicy
metadata: {name: to-backend}
spec:
  selector: role == 'lan'
  applyOnForward: true
  types: [Egress]
  egress:
    - {action: Allow, protocol: TCP, destination: {nets: [198.51.100.20/32], ports: [80]}}`,
  `${H}\nkind: Profile\nmetadata: {name: base}\nspec:\n  ingress: [{action: Allow, protocol: TCP, destination: {ports: [9100]}}]`,
  `${H}\nkind: FelixConfiguration\nmetadata: {name: default}\nspec: {nftablesFilterDenyAction: Reject, logPrefix: 'hw %t %n'}`,
].join("\n---\n") + "\n";

describe("hostwall explain: tiers, Log, Pass, profiles, pre-DNAT, DNAT, forward", () => {
  const dir = dirs.make({ "all.yaml": FIXTURE });
  const IN = "--in eth0 --src 192.0.2.20 --dst 192.0.2.10";
  const FWD = "--in eth0 --out eth1 --src 192.0.2.20 --dst 192.0.2.10 --proto tcp";
  const cases: [string, string][] = [
    [`${IN} --proto tcp --dport 23`, "deny/reject normal security.edge#1"],
    [`${IN} --proto tcp --dport 80`, "allow normal security.edge#2"],
    [`${IN} --proto tcp --dport 9100`, "allow normal profile base#0"],
    [`${IN} --proto tcp --dport 9200`, "deny/reject normal no-profile-matched"],
    // conntrack invalid: dropped by the first tracked chain, here the endpoint's pre-DNAT one.
    [`${IN} --proto tcp --dport 9200 --state invalid`, "deny/drop preDNAT ct invalid"],
    ["--out eth0 --src 192.0.2.10 --dst 192.0.2.20 --proto tcp --dport 9200 --state invalid", "deny/reject normal ct invalid"],
    // Profile base has no egress rules: nothing allows the host's own traffic out of eth0.
    ["--out eth0 --src 192.0.2.10 --dst 192.0.2.20 --proto tcp --dport 9200", "deny/reject normal no-profile-matched"],
    // Pre-DNAT sees the original port and drops (no reject before routing).
    [`${FWD} --dport 8081 --dnat 198.51.100.20:80`, "deny/drop preDNAT pre-block#0"],
    // The forward stage sees the DNAT'd destination: allowed only with the DNAT.
    [`${FWD} --dport 8080 --dnat 198.51.100.20:80`, "allow forward to-backend#0"],
    [`${FWD} --dport 8080`, "deny/reject forward end-of-tier default"],
  ];
  test.each(cases)("%s → %s", async (argv, want) => {
    const r = await explain(dir, argv, ["--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(decided(JSON.parse(r.stdout))).toBe(want);
  });

  test("a forwarded packet shows both sides: the ingress side's default allow, then the egress policy", async () => {
    const r = await explain(dir, `${FWD} --dport 8080 --dnat 198.51.100.20:80`);
    expect(r.stdout).toContain("packet: IPv4 tcp 192.0.2.20 → 192.0.2.10 port 8080 (DNAT to 198.51.100.20 port 80), forwarded in eth0, out eth1, conntrack new\n");
    expect(r.stdout).toContain(
      [
        "steps:",
        "  1. preDNAT ingress eth0 [HostEndpoint edge]: no verdict — no policy decided (1 tier)",
        "  2. forward ingress eth0 [HostEndpoint edge]: allow — no applyOnForward policy in this direction: forwarded traffic allowed",
        "  3. forward egress eth1 [HostEndpoint lan]: allow — tier default, policy to-backend, egress rule 0 (Allow)",
      ].join("\n"),
    );
    expect(r.stdout).toContain(`  at ${dir}/all.yaml:`);
  });

  test("Log hits are listed with the substituted prefix and where the rule is", async () => {
    const r = await explain(dir, `${IN} --proto tcp --dport 23`);
    expect(r.stdout).toContain("verdict: deny (reject)\ndecided by: tier security, policy security.edge, ingress rule 1 (Deny)\n");
    expect(r.stdout).toMatch(new RegExp(`\nlogs:\n  "hw security security.edge: " from tier security, policy security.edge, ingress rule 0 \\(Log\\), normal stage\n    at ${dir}/all.yaml:\\d+:\\d+ \\(nft comment gnp/security.edge/ingress/0\\)\n$`));
    const json = JSON.parse((await explain(dir, `${IN} --proto tcp --dport 23 --json`)).stdout);
    expect(json.logs).toEqual([{ stage: "normal", side: "ingress", owner: "security.edge", kind: "gnp", tier: "security", ruleIndex: 0, prefix: "hw security security.edge" }]);
  });

  test("a profile decision points at the endpoint's profiles", async () => {
    const r = await explain(dir, `${IN} --proto tcp --dport 9200`);
    expect(r.stdout).toContain("decided by: no policy or profile allowed it: default deny\n  in the normal stage, ingress of eth0 (HostEndpoint edge)\n");
    expect(r.stdout).toContain(`  profiles of HostEndpoint edge at ${dir}/all.yaml:1:1\n`);
  });
});

describe("exit codes and loading", () => {
  const BAD = `${H}\nkind: GlobalNetworkPolicy\nmetadata:\n  name: allow-web\nspec:\n  ingress:\n    - action: Allow\n      protocol: TCP\n      destination:\n        ports: [80, 70000]\n`;

  test("an invalid config: the diagnostics of check, exit 1, nothing explained", async () => {
    const dir = dirs.make({ "web.yaml": BAD });
    const r = await explain(dir, "--in eth0 --src 192.0.2.20 --dst 192.0.2.10 --proto tcp --dport 80");
    const check = await runHostwall(["check", "--config-dir", dir, "--node", NODE], { command: ENTRY });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`${dir}/web.yaml:10:21: error[INVALID_PORT]: port 70000 is out of range 1-65535`);
    expect(r.stderr).toBe(check.stderr);
    expect(check.code).toBe(1);
  });

  test("a usage error exits 2 naming the flag, before the config dir is read", async () => {
    const r = await explain("/nonexistent", "--in eth0 --src 192.0.2.20 --dst 192.0.2.10 --proto tcp --dport 70000");
    expect([r.code, r.stdout, r.stderr]).toEqual([2, "", "hostwall: --dport needs a port 1-65535, got 70000\n"]);
  });

  test("help: explain --help exits 0; hostwall --help lists explain", async () => {
    const help = await runHostwall(["explain", "--help"], { command: ENTRY });
    expect(help.code).toBe(0);
    expect(help.stdout).toStartWith("usage: hostwall explain ");
    expect(help.stdout).toContain("Exit 0 whatever the verdict, 1 if the config is invalid, 2 on a usage error.");
    const top = await runHostwall(["--help"], { command: ENTRY });
    expect(top.stdout).toMatch(/\n {2}explain \[--json\] +which stage, tier, policy and rule decide one packet/);
  });
});
