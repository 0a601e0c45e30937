/**
 * Rule fields, reference §4: protocol by name and number, notProtocol; ports, ranges and
 * notPorts (destination and source); nets/notNets; selector/notSelector against a
 * GlobalNetworkSet and HostEndpoints' expectedIPs (including §4.6: `notSelector` matches
 * unknown addresses, `selector: !has(x)` does not; `all()` is only known things; profile
 * labels count); `namespaceSelector: global()`; ipVersion; ICMP/ICMPv6 type and code and
 * notICMP with the API meaning "not (type T and code C)" (§10.3). IPv4 and IPv6 throughout.
 *
 * Setup for every case: HostEndpoints on host eth0 and eth1 (label host=true, no profile),
 * and one GlobalNetworkPolicy `rule` whose single rule is the case's rule (ingress unless the
 * case says egress). Everything the rule does not allow is denied by the end of the tier.
 * So the rule's own counter (comment gnp/rule/<dir>/0) must move by exactly the number of
 * answered probes: one SYN, datagram or echo request each (the rest of a connection is
 * established; dropped probes never reach an Allow rule).
 * Known addresses: the client is the expectedIP of a HostEndpoint of another node (labels
 * role=client, and friend=yes inherited from a profile); the attacker is in a
 * GlobalNetworkSet labelled blocked=true. The backend is known to nothing; it reaches the
 * host through eth1.
 */
import { describe, expect, test } from "bun:test";
import { kernelTestGate } from "./lab";
import { both, docs, gnp, gns, hep, tcp, useSemLab, type From, type Row, type To } from "./semantics-helpers";

const enabled = await kernelTestGate();

interface Case {
  name: string;
  /** The rule, as YAML lines of one list item starting with "- action: ..." (no indentation). */
  rule: string;
  dir?: "ingress" | "egress";
  rows: Row[];
  /**
   * Required when every row expects a drop (the fixture denies everything by default, so
   * those drops alone would pass with the rule never rendered): a sibling rule that differs
   * in the field under test and lets the same probes through, applied right after the case.
   */
  control?: { rule: string; rows: Row[] };
  /** A known discrepancy: recorded as test.todo with the correct expectation. */
  todo?: string;
  /** More resources for this case only (e.g. another GlobalNetworkSet). */
  extra?: string[];
}

/** A ping (ICMP or ICMPv6 echo request) in both families. */
const ping = (from: From, to: To, ok4: boolean, ok6: boolean): Row[] => both(from, "ping", to, undefined, ok4, ok6);
/** All three probe kinds from `from` to `to`, with outcome per kind and family. */
function kinds(from: From, to: To, ok: { tcp4?: boolean; tcp6?: boolean; udp4?: boolean; udp6?: boolean; ping4?: boolean; ping6?: boolean }, tcpPort = 8080, udpPort = 5353): Row[] {
  return [
    ...tcp(from, to, tcpPort, ok.tcp4 ?? false, ok.tcp6 ?? false),
    ...both(from, "udp", to, udpPort, ok.udp4 ?? false, ok.udp6 ?? false),
    ...ping(from, to, ok.ping4 ?? false, ok.ping6 ?? false),
  ];
}
const V4 = { tcp4: true, udp4: true, ping4: true };
const V6 = { tcp6: true, udp6: true, ping6: true };
/** The three sources of the selector cases: known client, known attacker, unknown backend. */
const sources = (client: boolean, attacker: boolean, backend: boolean): Row[] => [
  ...tcp("client", "host", 8080, client),
  ...tcp("attacker", "host", 8080, attacker),
  ...tcp("backend", "hostBackend", 8080, backend),
];

/**
 * Discrepancy: a rule that hostwall renders for one IP family only, but whose rendering in
 * that family has no family-specific expression (ipVersion alone; a notSelector whose set
 * is empty in that family), is emitted without `meta nfproto`, so in the inet table it
 * matches the other family too.
 */

const CASES: Case[] = [
  // --- protocol -------------------------------------------------------------------------
  { name: "protocol: TCP", rule: "- action: Allow\n  protocol: TCP", rows: kinds("client", "host", { tcp4: true, tcp6: true }) },
  { name: "protocol: 6 (number)", rule: "- action: Allow\n  protocol: 6", rows: kinds("client", "host", { tcp4: true, tcp6: true }) },
  { name: "protocol: UDP", rule: "- action: Allow\n  protocol: UDP", rows: kinds("client", "host", { udp4: true, udp6: true }) },
  { name: "protocol: \"17\" (digit string)", rule: "- action: Allow\n  protocol: \"17\"", rows: kinds("client", "host", { udp4: true, udp6: true }) },
  { name: "protocol: ICMP (IPv4 only)", rule: "- action: Allow\n  protocol: ICMP", rows: kinds("client", "host", { ping4: true }) },
  { name: "protocol: ICMPv6 (IPv6 only)", rule: "- action: Allow\n  protocol: ICMPv6", rows: kinds("client", "host", { ping6: true }) },
  { name: "protocol: 1 (number, ICMP)", rule: "- action: Allow\n  protocol: 1", rows: kinds("client", "host", { ping4: true }) },
  { name: "protocol: 58 (number, ICMPv6)", rule: "- action: Allow\n  protocol: 58", rows: kinds("client", "host", { ping6: true }) },
  { name: "notProtocol: TCP", rule: "- action: Allow\n  notProtocol: TCP", rows: kinds("client", "host", { udp4: true, udp6: true, ping4: true, ping6: true }) },
  { name: "notProtocol: 17", rule: "- action: Allow\n  notProtocol: 17", rows: kinds("client", "host", { tcp4: true, tcp6: true, ping4: true, ping6: true }) },
  { name: "protocol UDP and notProtocol TCP", rule: "- action: Allow\n  protocol: UDP\n  notProtocol: TCP", rows: kinds("client", "host", { udp4: true, udp6: true }) },

  // --- ports ----------------------------------------------------------------------------
  {
    name: "destination ports: a number and a range",
    rule: "- action: Allow\n  protocol: TCP\n  destination:\n    ports: [80, \"8000:8100\"]",
    rows: [...tcp("client", "host", 80, true), ...tcp("client", "host", 8080, true), ...tcp("client", "host", 8081, true), ...tcp("client", "host", 8443, false), ...tcp("client", "host", 9000, false)],
  },
  {
    name: "destination ports on UDP",
    rule: "- action: Allow\n  protocol: UDP\n  destination:\n    ports: [5353]",
    rows: [...kinds("client", "host", { udp4: true, udp6: true }, 8080, 5353), ...both("client", "udp", "host", 6000, false)],
  },
  {
    name: "destination notPorts: a number and a range",
    rule: "- action: Allow\n  protocol: TCP\n  destination:\n    notPorts: [8080, \"9000:9100\"]",
    rows: [...tcp("client", "host", 80, true), ...tcp("client", "host", 8081, true), ...tcp("client", "host", 8443, true), ...tcp("client", "host", 8080, false), ...tcp("client", "host", 9000, false)],
  },
  {
    name: "destination ports and notPorts together (AND)",
    rule: "- action: Allow\n  protocol: TCP\n  destination:\n    ports: [\"8000:9000\"]\n    notPorts: [8081]",
    rows: [...tcp("client", "host", 8080, true), ...tcp("client", "host", 8443, true), ...tcp("client", "host", 9000, true), ...tcp("client", "host", 8081, false), ...tcp("client", "host", 80, false)],
  },
  {
    name: "source ports: the client's ephemeral port range matches, the privileged range does not",
    rule: "- action: Allow\n  protocol: TCP\n  source:\n    ports: [\"1024:65535\"]",
    rows: [...tcp("client", "host", 8080, true), ...tcp("client", "host", 80, true), ["client", "udp", 4, "host", 5353, false]],
  },
  {
    name: "source notPorts: excluding the ephemeral range denies",
    rule: "- action: Allow\n  protocol: TCP\n  source:\n    notPorts: [\"1024:65535\"]",
    rows: [...tcp("client", "host", 8080, false), ...tcp("client", "host", 80, false)],
    control: { rule: "- action: Allow\n  protocol: TCP\n  source:\n    notPorts: [\"1:1023\"]", rows: [...tcp("client", "host", 8080, true), ...tcp("client", "host", 80, true)] },
  },
  {
    name: "egress destination ports",
    dir: "egress",
    rule: "- action: Allow\n  protocol: TCP\n  destination:\n    ports: [8080]",
    rows: [...tcp("host", "client", 8080, true), ...tcp("host", "client", 80, false), ...tcp("host", "client", 8081, false)],
  },

  // --- nets / notNets -------------------------------------------------------------------
  {
    name: "source nets (IPv4 /32): only the client, and only over IPv4",
    rule: "- action: Allow\n  source:\n    nets: [\"192.0.2.20/32\"]",
    rows: [...kinds("client", "host", V4), ...kinds("attacker", "host", {})],
  },
  {
    name: "source nets (IPv6 /128): only the client, and only over IPv6",
    rule: "- action: Allow\n  source:\n    nets: [\"2001:db8:2::20/128\"]",
    rows: [...kinds("client", "host", V6), ...kinds("attacker", "host", {})],
  },
  {
    name: "source nets: several are ORed",
    rule: "- action: Allow\n  source:\n    nets: [\"192.0.2.20/32\", \"192.0.2.66/32\"]",
    rows: [...tcp("client", "host", 8080, true, false), ...tcp("attacker", "host", 8080, true, false)],
  },
  {
    name: "source notNets: everything of that family except the attacker",
    rule: "- action: Allow\n  source:\n    notNets: [\"192.0.2.66/32\"]",
    rows: [...kinds("client", "host", V4), ...kinds("attacker", "host", {}), ...tcp("backend", "hostBackend", 8080, true, false)],
  },
  {
    name: "source nets as a bare address (no prefix length)",
    rule: "- action: Allow\n  source:\n    nets: [\"192.0.2.20\"]",
    rows: [...tcp("client", "host", 8080, true, false), ...tcp("attacker", "host", 8080, false)],
  },
  {
    name: "source notNets: several mean none of them",
    rule: "- action: Allow\n  source:\n    notNets: [\"192.0.2.20/32\", \"192.0.2.66/32\"]",
    rows: [...tcp("client", "host", 8080, false), ...tcp("attacker", "host", 8080, false), ...tcp("backend", "hostBackend", 8080, true, false)],
  },
  {
    name: "source nets and notNets together (AND)",
    rule: "- action: Allow\n  source:\n    nets: [\"192.0.2.0/24\"]\n    notNets: [\"192.0.2.66/32\"]",
    rows: [...tcp("client", "host", 8080, true, false), ...tcp("attacker", "host", 8080, false), ...tcp("backend", "hostBackend", 8080, false)],
  },
  {
    name: "source notNets (IPv6)",
    rule: "- action: Allow\n  source:\n    notNets: [\"2001:db8:2::66/128\"]",
    rows: [...tcp("client", "host", 8080, false, true), ...tcp("attacker", "host", 8080, false, false), ...tcp("backend", "hostBackend", 8080, false, true)],
  },
  {
    name: "destination nets: the host's eth0 address, not its eth1 address reached over eth0",
    rule: "- action: Allow\n  destination:\n    nets: [\"192.0.2.10/32\", \"192.0.2.0/24\"]",
    rows: [...tcp("client", "host", 8080, true, false), ...tcp("client", "hostBackend", 8080, false)],
  },
  {
    name: "destination notNets",
    rule: "- action: Allow\n  destination:\n    notNets: [\"192.0.2.10/32\"]",
    rows: [...tcp("client", "host", 8080, false), ...tcp("client", "hostBackend", 8080, true, false)],
  },

  // --- selectors (§4.6) -------------------------------------------------------------------
  { name: "source selector on a HostEndpoint label (its expectedIPs)", rule: "- action: Allow\n  source:\n    selector: role == 'client'", rows: sources(true, false, false) },
  { name: "source selector on a label inherited from a profile", rule: "- action: Allow\n  source:\n    selector: friend == 'yes'", rows: sources(true, false, false) },
  { name: "source selector on a GlobalNetworkSet label", rule: "- action: Allow\n  source:\n    selector: blocked == 'true'", rows: sources(false, true, false) },
  { name: "source notSelector: matches everything except known things with the label, unknown addresses included", rule: "- action: Allow\n  source:\n    notSelector: has(blocked)", rows: sources(true, false, true) },
  { name: "source selector !has(x): matches only known things without the label", rule: "- action: Allow\n  source:\n    selector: '!has(blocked)'", rows: sources(true, false, false) },
  { name: "source selector all(): known things only", rule: "- action: Allow\n  source:\n    selector: all()", rows: sources(true, true, false) },
  { name: "source selector matching nothing never matches", rule: "- action: Allow\n  source:\n    selector: has(nothing-has-this)", rows: sources(false, false, false), control: { rule: "- action: Allow\n  source:\n    selector: has(role)", rows: sources(true, false, false) } },
  { name: "source notSelector matching nothing always matches", rule: "- action: Allow\n  source:\n    notSelector: has(nothing-has-this)", rows: sources(true, true, true) },
  { name: "source selector and notSelector together", rule: "- action: Allow\n  source:\n    selector: all()\n    notSelector: has(blocked)", rows: sources(true, false, false) },
  { name: "source namespaceSelector global() alone: every HostEndpoint and GlobalNetworkSet", rule: "- action: Allow\n  source:\n    namespaceSelector: global()", rows: sources(true, true, false) },
  { name: "source namespaceSelector global() with a selector", rule: "- action: Allow\n  source:\n    namespaceSelector: global()\n    selector: role == 'client'", rows: sources(true, false, false) },
  { name: "source selector and nets on one side are ANDed", rule: "- action: Allow\n  source:\n    selector: all()\n    nets: [\"192.0.2.66/32\"]", rows: [...sources(false, false, false).filter((r) => r[0] !== "attacker"), ...tcp("attacker", "host", 8080, true, false)] },
  {
    name: "selector over a set holding single addresses and prefixes (hash and interval halves), both families",
    extra: [gns("mixed", { mixed: "yes" }, ["192.0.2.20/32", "192.0.2.64/30", "2001:db8:2::20/128", "2001:db8:2::64/126"])],
    rule: "- action: Allow\n  source:\n    selector: mixed == 'yes'",
    rows: sources(true, true, false),
  },
  {
    name: "notSelector over a set holding single addresses and prefixes",
    extra: [gns("mixed", { mixed: "yes" }, ["192.0.2.20/32", "192.0.2.64/30", "2001:db8:2::20/128", "2001:db8:2::64/126"])],
    rule: "- action: Allow\n  source:\n    notSelector: mixed == 'yes'",
    rows: sources(false, false, true),
  },
  {
    name: "a network set entry with host bits set (192.0.2.21/30) stands for its network",
    extra: [gns("lax", { lax: "yes" }, ["192.0.2.21/30", "2001:db8:2::21/126"])],
    rule: "- action: Allow\n  source:\n    selector: lax == 'yes'",
    rows: sources(true, false, false),
  },
  {
    name: "a network set with 0.0.0.0/0 matches every IPv4 address and no IPv6 address",
    extra: [gns("world", { world: "v4" }, ["0.0.0.0/0"])],
    rule: "- action: Allow\n  source:\n    selector: world == 'v4'",
    rows: [...tcp("client", "host", 8080, true, false), ...tcp("attacker", "host", 8080, true, false), ...tcp("backend", "hostBackend", 8080, true, false)],
  },
  {
    name: "notSelector over a set with only an IPv4 address: IPv6 traffic always matches, IPv4 except that address",
   
    extra: [gns("only-v4", { only: "v4" }, ["192.0.2.66/32"])],
    rule: "- action: Allow\n  source:\n    notSelector: only == 'v4'",
    rows: [...tcp("client", "host", 8080, true, true), ...tcp("attacker", "host", 8080, false, true)],
  },
  {
    name: "notSelector over a set with only an IPv6 address: IPv4 traffic always matches, IPv6 except that address",
   
    extra: [gns("only-v6", { only: "v6" }, ["2001:db8:2::66/128"])],
    rule: "- action: Allow\n  source:\n    notSelector: only == 'v6'",
    rows: [...tcp("client", "host", 8080, true, true), ...tcp("attacker", "host", 8080, true, false)],
  },
  {
    name: "notSelector over a network set with ::/0 excludes every IPv6 address and no IPv4 address",
   
    extra: [gns("world6", { world: "v6" }, ["::/0"])],
    rule: "- action: Allow\n  source:\n    notSelector: world == 'v6'",
    rows: [...tcp("client", "host", 8080, true, false), ...tcp("attacker", "host", 8080, true, false), ...tcp("backend", "hostBackend", 8080, true, false)],
  },
  {
    name: "egress destination selector",
    dir: "egress",
    rule: "- action: Allow\n  destination:\n    selector: role == 'client'",
    rows: [...tcp("host", "client", 8080, true), ...tcp("host", "attacker", 8080, false), ...ping("host", "client", true, true)],
  },

  // --- ipVersion ----------------------------------------------------------------------------
  { name: "ipVersion: 4", rule: "- action: Allow\n  ipVersion: 4", rows: kinds("client", "host", V4) },
  { name: "ipVersion: 6", rule: "- action: Allow\n  ipVersion: 6", rows: kinds("client", "host", V6) },
  { name: "ipVersion: 6 with protocol TCP", rule: "- action: Allow\n  ipVersion: 6\n  protocol: TCP", rows: kinds("client", "host", { tcp6: true }) },

  // --- ICMP (ping = echo request: ICMP type 8, ICMPv6 type 128, code 0) -----------------------
  { name: "ICMP type 8", rule: "- action: Allow\n  protocol: ICMP\n  icmp: {type: 8}", rows: kinds("client", "host", { ping4: true }) },
  { name: "ICMP type 8 code 0", rule: "- action: Allow\n  protocol: ICMP\n  icmp: {type: 8, code: 0}", rows: ping("client", "host", true, false) },
  { name: "ICMP type 8 code 1 does not match a ping", rule: "- action: Allow\n  protocol: ICMP\n  icmp: {type: 8, code: 1}", rows: ping("client", "host", false, false), control: { rule: "- action: Allow\n  protocol: ICMP\n  icmp: {type: 8, code: 0}", rows: ping("client", "host", true, false) } },
  { name: "ICMP type 0 (echo reply) does not match a ping", rule: "- action: Allow\n  protocol: ICMP\n  icmp: {type: 0}", rows: ping("client", "host", false, false), control: { rule: "- action: Allow\n  protocol: ICMP\n  icmp: {type: 8}", rows: ping("client", "host", true, false) } },
  { name: "ICMPv6 type 128", rule: "- action: Allow\n  protocol: ICMPv6\n  icmp: {type: 128}", rows: kinds("client", "host", { ping6: true }) },
  { name: "ICMPv6 type 128 code 0", rule: "- action: Allow\n  protocol: ICMPv6\n  icmp: {type: 128, code: 0}", rows: ping("client", "host", false, true) },
  { name: "ICMPv6 type 8 is not an IPv6 ping", rule: "- action: Allow\n  protocol: ICMPv6\n  icmp: {type: 8}", rows: ping("client", "host", false, false), control: { rule: "- action: Allow\n  protocol: ICMPv6\n  icmp: {type: 128}", rows: ping("client", "host", false, true) } },
  { name: "protocol 1 with icmp type 8", rule: "- action: Allow\n  protocol: 1\n  icmp: {type: 8}", rows: ping("client", "host", true, false) },
  { name: "protocol 58 with icmp type 128", rule: "- action: Allow\n  protocol: 58\n  icmp: {type: 128}", rows: ping("client", "host", false, true) },
  { name: "notICMP type 8", rule: "- action: Allow\n  protocol: ICMP\n  notICMP: {type: 8}", rows: ping("client", "host", false, false), control: { rule: "- action: Allow\n  protocol: ICMP\n  notICMP: {type: 0}", rows: ping("client", "host", true, false) } },
  { name: "notICMP type 13 lets a ping through", rule: "- action: Allow\n  protocol: ICMP\n  notICMP: {type: 13}", rows: [...ping("client", "host", true, false), ...tcp("client", "host", 8080, false)] },
  { name: "notICMP type 8 code 1 means not (8 and 1): a ping (8/0) matches", rule: "- action: Allow\n  protocol: ICMP\n  notICMP: {type: 8, code: 1}", rows: ping("client", "host", true, false) },
  { name: "notICMP type 8 code 0 excludes the ping", rule: "- action: Allow\n  protocol: ICMP\n  notICMP: {type: 8, code: 0}", rows: ping("client", "host", false, false), control: { rule: "- action: Allow\n  protocol: ICMP\n  notICMP: {type: 8, code: 1}", rows: ping("client", "host", true, false) } },
  { name: "ICMPv6 notICMP type 128 code 5: a ping6 (128/0) matches", rule: "- action: Allow\n  protocol: ICMPv6\n  notICMP: {type: 128, code: 5}", rows: ping("client", "host", false, true) },
  { name: "ICMPv6 notICMP type 128 code 0 excludes the ping6", rule: "- action: Allow\n  protocol: ICMPv6\n  notICMP: {type: 128, code: 0}", rows: ping("client", "host", false, false), control: { rule: "- action: Allow\n  protocol: ICMPv6\n  notICMP: {type: 128, code: 5}", rows: ping("client", "host", false, true) } },
  { name: "egress ICMP type 8 (the host pings out)", dir: "egress", rule: "- action: Allow\n  protocol: ICMP\n  icmp: {type: 8}", rows: [...ping("host", "client", true, false), ...tcp("host", "client", 8080, false)] },
  { name: "egress ICMPv6 type 128 (the host pings out over IPv6)", dir: "egress", rule: "- action: Allow\n  protocol: ICMPv6\n  icmp: {type: 128}", rows: [...ping("host", "client", false, true), ...tcp("host", "client", 8080, false)] },
];

/** Fixed resources around the case's policy. */
const FIXTURE = [
  hep("eth0", { name: "host-eth0" }),
  hep("eth1", { name: "host-eth1" }),
  hep("eth0", { name: "client-box", node: "another-node", labels: { role: "client" }, expectedIPs: ["192.0.2.20", "2001:db8:2::20"], profiles: ["friends"] }),
  ["apiVersion: projectcalico.org/v3", "kind: Profile", "metadata:", "  name: friends", "spec:", "  labelsToApply: { friend: \"yes\" }"].join("\n"),
  gns("blocked", { blocked: "true" }, ["192.0.2.66/32", "2001:db8:2::66/128"]),
];

function config(c: { rule: string; dir?: Case["dir"]; extra?: string[] }): string {
  const dir = c.dir ?? "ingress";
  const rule = c.rule.split("\n").map((l) => `  ${l}`).join("\n");
  return docs(...FIXTURE, ...(c.extra ?? []), gnp("rule", `  types: [${dir === "ingress" ? "Ingress" : "Egress"}]\n  ${dir}:\n${rule}`));
}

describe.skipIf(!enabled)("rule fields (reference §4)", () => {
  const s = useSemLab("fields");

  /** Packets counted by the rule, or undefined when it is not rendered (a selector that matches nothing). */
  const counted = (comment: string) => s.packets(comment).catch((e: Error) => (/no counter/.test(e.message) ? undefined : Promise.reject(e)));

  /** Applies the rule, runs the rows, and checks its counter moved by exactly the number answered. */
  async function run(c: { rule: string; dir?: Case["dir"]; extra?: string[]; rows: Row[] }): Promise<void> {
    await s.apply(config(c));
    const comment = `gnp/rule/${c.dir ?? "ingress"}/0`;
    const before = await counted(comment);
    await s.expectReach(c.rows);
    const after = await counted(comment);
    const answered = c.rows.filter((r) => r[5]).length;
    // Not rendered stands only for "matches nothing", and such a case has a control that answers.
    const got = after === undefined ? "not rendered" : `${after - before!} packets`;
    expect(`${comment}: ${got}`).toBe(`${comment}: ${after === undefined && answered === 0 ? "not rendered" : `${answered} packets`}`);
  }

  test("every case that expects only drops has a control that answers", () => {
    const dropsOnly = CASES.filter((c) => c.rows.every((r) => !r[5]));
    expect(dropsOnly.filter((c) => !c.control?.rows.some((r) => r[5])).map((c) => c.name)).toEqual([]);
    expect(dropsOnly.length).toBe(8);
  });

  for (const c of CASES) {
    (c.todo ? test.todo : test)(c.name, async () => {
      await run(c);
      if (c.control) await run({ ...c, ...c.control });
    });
  }
});
