/**
 * The reference evaluator (src/explain/evaluate.ts), case by case from
 * reference/calico-semantics.md: the default matrix (§2.6), stages and the cross-stage accept
 * mark (§2.4, §3.3), failsafes (§3.5), tiers, Pass and defaultAction (§2.3, §2.4), profiles,
 * conntrack (§2.7), every rule field (§4) with the selector subtleties (§4.6) and hostwall's
 * decisions (§10). Each case is YAML through loadConfig, so defaults apply as for users.
 */
import { describe, expect, test } from "bun:test";
import { formatDiagnostic } from "../../src/diagnostics/diagnostic.ts";
import { loadConfig } from "../../src/validate/load.ts";
import { Evaluator, type EvaluatorOptions } from "../../src/explain/evaluate.ts";
import { sideSelectors } from "../../src/explain/matching.ts";
import type { Explanation, Packet } from "../../src/explain/explanation.ts";
import { formatExplanation } from "../../src/explain/format.ts";
import { canonicalSelector } from "../../src/model/selector-canonical.ts";

const NODE = "jasper";
const HOST = { v4: "192.0.2.10", v6: "2001:db8:2::10" };
const CLIENT = { v4: "192.0.2.20", v6: "2001:db8:2::20" };
const ATTACKER = { v4: "192.0.2.66", v6: "2001:db8:2::66" };
const BACKEND = { v4: "198.51.100.20", v6: "2001:db8:51::20" };

const H = "apiVersion: projectcalico.org/v3";
function hep(opts: { name?: string; iface?: string; labels?: string; profiles?: string; ips?: string; ports?: string; node?: string } = {}): string {
  const lines = [H, "kind: HostEndpoint", `metadata: {name: ${opts.name ?? "host"}, labels: ${opts.labels ?? "{role: host}"}}`, "spec:", `  node: ${opts.node ?? NODE}`];
  if (opts.iface !== "") lines.push(`  interfaceName: "${opts.iface ?? "eth0"}"`);
  lines.push(`  expectedIPs: ${opts.ips ?? `[${HOST.v4}, "${HOST.v6}"]`}`);
  if (opts.profiles) lines.push(`  profiles: ${opts.profiles}`);
  if (opts.ports) lines.push(`  ports: ${opts.ports}`);
  return lines.join("\n");
}
/** A GlobalNetworkPolicy selecting the host: `spec` is YAML lines of the spec (indented by two). */
const gnp = (name: string, spec: string, selector = "role == 'host'") => `${H}\nkind: GlobalNetworkPolicy\nmetadata: {name: ${name}}\nspec:\n  selector: "${selector}"\n${spec.replace(/^\n+|\n+$/g, "")}`;
const tier = (name: string, order: number, defaultAction = "Deny") => `${H}\nkind: Tier\nmetadata: {name: ${name}}\nspec: {order: ${order}, defaultAction: ${defaultAction}}`;
const gns = (name: string, labels: string, nets: string) => `${H}\nkind: GlobalNetworkSet\nmetadata: {name: ${name}, labels: ${labels}}\nspec: {nets: ${nets}}`;
const felix = (spec: string) => `${H}\nkind: FelixConfiguration\nmetadata: {name: default}\nspec: ${spec}`;

function evaluator(docs: string[], opts?: EvaluatorOptions): Evaluator {
  const { model, diagnostics } = loadConfig([{ path: "t.yaml", text: docs.join("\n---\n") + "\n" }], { node: NODE });
  expect(diagnostics.filter((d) => d.severity === "error").map(formatDiagnostic)).toEqual([]);
  return new Evaluator(model, NODE, opts);
}

type Family = 4 | 6;
const fam = (f: Family, p: { v4: string; v6: string }) => (f === 4 ? p.v4 : p.v6);
/** client → host TCP/UDP. */
function inbound(proto: "tcp" | "udp", port: number, o: { from?: { v4: string; v6: string }; family?: Family; sport?: number; ct?: Packet["conntrack"]; iface?: string } = {}): Packet {
  const f = o.family ?? 4;
  return { direction: "ingress", inInterface: o.iface ?? "eth0", family: f, src: fam(f, o.from ?? CLIENT), dst: fam(f, HOST), protocol: proto === "tcp" ? 6 : 17, srcPort: o.sport ?? 40000, dstPort: port, conntrack: o.ct };
}
/** host → client TCP/UDP. */
function outbound(proto: "tcp" | "udp", port: number, o: { to?: { v4: string; v6: string }; family?: Family; sport?: number; ct?: Packet["conntrack"] } = {}): Packet {
  const f = o.family ?? 4;
  return { direction: "egress", outInterface: "eth0", family: f, src: fam(f, HOST), dst: fam(f, o.to ?? CLIENT), protocol: proto === "tcp" ? 6 : 17, srcPort: o.sport ?? 40000, dstPort: port, conntrack: o.ct };
}
/** client → host echo request (or another type/code). */
function pingIn(f: Family = 4, o: { type?: number; code?: number; from?: { v4: string; v6: string } } = {}): Packet {
  return { direction: "ingress", inInterface: "eth0", family: f, src: fam(f, o.from ?? CLIENT), dst: fam(f, HOST), protocol: f === 4 ? 1 : 58, icmpType: o.type ?? (f === 4 ? 8 : 128), icmpCode: o.code ?? 0 };
}
/** client → backend through the host, eth0 → eth1. */
function forwarded(proto: "tcp" | "udp", port: number, f: Family = 4, ct?: Packet["conntrack"]): Packet {
  return { direction: "forward", inInterface: "eth0", outInterface: "eth1", family: f, src: fam(f, CLIENT), dst: fam(f, BACKEND), protocol: proto === "tcp" ? 6 : 17, srcPort: 40000, dstPort: port, conntrack: ct };
}

/** verdict + a compact "stage:reason" of the deciding step. */
function short(e: Explanation): string {
  const r = e.decidedBy.reason;
  const what =
    r.kind === "rule" ? `${r.policy}#${r.ruleIndex}` :
    r.kind === "profile-rule" ? `profile ${r.profile}#${r.ruleIndex}` :
    r.kind === "end-of-tier" ? `end-of-tier ${r.tier}` :
    r.kind === "failsafe" ? `failsafe ${r.list}${r.reverse ? " reverse" : ""} ${r.protocol}:${r.port}` :
    r.kind === "conntrack" ? `ct ${r.state}` :
    r.kind === "accept-mark" ? `mark from ${r.from}` :
    r.kind;
  return `${e.verdict} ${e.decidedBy.stage} ${what}`;
}

function check(ev: Evaluator, cases: [Packet, string][]): void {
  const got = cases.map(([p]) => {
    const e = ev.evaluate(p);
    return short(e);
  });
  const want = cases.map(([, s]) => s);
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    const detail = cases.map(([p], i) => (got[i] !== want[i] ? `#${i} ${JSON.stringify(p)}\n${formatExplanation(ev.evaluate(p))}` : "")).filter(Boolean);
    console.error(detail.join("\n\n"));
  }
  expect(got).toEqual(want);
}

describe("default matrix (§2.6)", () => {
  test("no HostEndpoint on the interface: untouched", () => {
    const ev = evaluator([hep()]);
    check(ev, [
      [inbound("tcp", 80, { iface: "eth1" }), "none dispatch no-endpoint"],
      [{ ...outbound("tcp", 80), outInterface: "eth1" }, "none dispatch no-endpoint"],
    ]);
  });

  test("endpoint without policy or profile: local denied except failsafes, forwarded allowed", () => {
    const ev = evaluator([hep(), hep({ name: "back", iface: "eth1", ips: "[198.51.100.10]" })]);
    check(ev, [
      [inbound("tcp", 80), "deny normal no-profile-matched"],
      [inbound("tcp", 80, { family: 6 }), "deny normal no-profile-matched"],
      [pingIn(), "deny normal no-profile-matched"],
      [outbound("tcp", 80), "deny normal no-profile-matched"],
      [inbound("tcp", 22), "allow normal failsafe inbound tcp:22"],
      [inbound("udp", 68), "allow normal failsafe inbound udp:68"],
      [outbound("udp", 53), "allow normal failsafe outbound udp:53"],
      [outbound("tcp", 179), "allow normal failsafe outbound tcp:179"],
      [forwarded("tcp", 80), "allow forward forward-default-allow"],
      [forwarded("tcp", 80, 6), "allow forward forward-default-allow"],
    ]);
  });

  test("projectcalico-default-allow flips local traffic to allow", () => {
    const ev = evaluator([hep({ profiles: "[projectcalico-default-allow]" })]);
    check(ev, [
      [inbound("tcp", 80), "allow normal default-allow-profile"],
      [outbound("udp", 5353), "allow normal default-allow-profile"],
      [forwarded("tcp", 80), "allow forward forward-default-allow"],
    ]);
  });

  test("policies that match nothing: local denied at end of tier; forwarded only if applyOnForward", () => {
    const plain = evaluator([hep(), gnp("web", "  ingress:\n  - action: Allow\n    protocol: TCP\n    destination: {ports: [443]}")]);
    check(plain, [
      [inbound("tcp", 80), "deny normal end-of-tier default"],
      [inbound("tcp", 443), "allow normal web#0"],
      [forwarded("tcp", 80), "allow forward forward-default-allow"],
      // types defaulted to [Ingress]: egress has no policy → profiles → deny
      [outbound("tcp", 80), "deny normal no-profile-matched"],
    ]);
    const aof = evaluator([hep(), gnp("web", "  applyOnForward: true\n  ingress:\n  - action: Allow\n    protocol: TCP\n    destination: {ports: [443]}")]);
    check(aof, [
      [forwarded("tcp", 80), "deny forward end-of-tier default"],
      [forwarded("tcp", 443), "allow forward web#0"],
    ]);
  });

  test("only pre-DNAT / untracked policies: local denied unless they allow, forwarded allowed unless they deny", () => {
    const ev = evaluator([
      hep(),
      gnp("pre", "  preDNAT: true\n  applyOnForward: true\n  ingress:\n  - action: Deny\n    protocol: TCP\n    destination: {ports: [8080]}\n  - action: Allow\n    protocol: TCP\n    destination: {ports: [8443]}"),
      gnp("raw", "  doNotTrack: true\n  applyOnForward: true\n  ingress:\n  - action: Deny\n    protocol: UDP\n    destination: {ports: [5353]}"),
    ]);
    check(ev, [
      [inbound("tcp", 80), "deny normal no-profile-matched"],
      [inbound("tcp", 8443), "allow preDNAT pre#1"],
      [inbound("tcp", 8080), "deny preDNAT pre#0"],
      [inbound("udp", 5353), "deny untracked raw#0"],
      [forwarded("tcp", 80), "allow forward forward-default-allow"],
      [forwarded("tcp", 8080), "deny preDNAT pre#0"],
      [forwarded("udp", 5353), "deny untracked raw#0"],
    ]);
  });
});

describe("stages and the accept mark (§3.3)", () => {
  const docs = [
    hep(),
    hep({ name: "back", iface: "eth1", ips: "[198.51.100.10]", labels: "{role: back}" }),
    gnp("raw", "  doNotTrack: true\n  applyOnForward: true\n  types: [Ingress, Egress]\n  ingress:\n  - action: Allow\n    protocol: TCP\n    destination: {ports: [80]}\n  egress:\n  - action: Allow\n    protocol: TCP\n    source: {ports: [80]}"),
    gnp("pre", "  preDNAT: true\n  applyOnForward: true\n  ingress:\n  - action: Allow\n    protocol: TCP\n    destination: {ports: [8080]}"),
    gnp("deny-all", "  applyOnForward: true\n  types: [Ingress, Egress]\n  ingress:\n  - action: Deny\n  egress:\n  - action: Deny"),
    gnp("back-out", "  applyOnForward: true\n  types: [Egress]\n  egress:\n  - action: Deny\n    protocol: TCP\n    destination: {ports: [8080]}\n  - action: Allow", "role == 'back'"),
  ];

  test("an untracked allow skips pre-DNAT and normal, and the packet is notracked", () => {
    const ev = evaluator(docs);
    const e = ev.evaluate(inbound("tcp", 80));
    expect(short(e)).toBe("allow untracked raw#0");
    expect(e.notrack).toBe(true);
    check(ev, [
      [inbound("tcp", 8080), "allow preDNAT pre#0"],
      [inbound("tcp", 9000), "deny normal deny-all#0"],
      // the egress half of the symmetric untracked rule
      [outbound("tcp", 40000, { sport: 80 }), "allow untracked raw#0"],
    ]);
    expect(ev.evaluate(inbound("tcp", 8080)).notrack).toBe(false);
  });

  test("forwarded: an earlier accept skips only the ingress forward side; the egress side still runs", () => {
    const ev = evaluator(docs);
    check(ev, [
      [forwarded("tcp", 80), "allow forward back-out#1"],
      [forwarded("tcp", 8080), "deny forward back-out#0"],
      [forwarded("tcp", 9000), "deny forward deny-all#0"],
    ]);
    const e = ev.evaluate(forwarded("tcp", 80));
    expect(e.steps.map((s) => `${s.stage}/${s.side}:${s.outcome}`)).toEqual(["untracked/ingress:allow", "forward/ingress:allow", "forward/egress:allow"]);
    expect(e.steps[1]!.reason).toEqual({ kind: "accept-mark", from: "untracked" });
  });

  test("untracked egress rules are not used for forwarded traffic", () => {
    const ev = evaluator([hep(), hep({ name: "back", iface: "eth1", ips: "[198.51.100.10]" }), gnp("raw-out", "  doNotTrack: true\n  applyOnForward: true\n  types: [Egress]\n  egress:\n  - action: Deny")]);
    check(ev, [
      [forwarded("tcp", 80), "allow forward forward-default-allow"],
      [outbound("tcp", 80), "deny untracked raw-out#0"],
    ]);
  });

  test("failsafes: first in every stage, but not for forwarded traffic", () => {
    const ev = evaluator(docs);
    check(ev, [
      [inbound("tcp", 22), "allow normal failsafe inbound tcp:22"],
      [forwarded("tcp", 22), "deny forward deny-all#0"],
    ]);
    const e = ev.evaluate(inbound("tcp", 22));
    // raw and mangle accept without the mark; the filter stage's own failsafe decides.
    expect(e.steps.map((s) => `${s.stage}:${s.outcome}`)).toEqual(["untracked:accept", "preDNAT:accept", "normal:allow"]);
    expect(e.notrack).toBe(false);
  });

  test("the untracked stage's reverse failsafes: source port in the other list, accepted without the mark", () => {
    const ev = evaluator([hep(), gnp("raw", "  doNotTrack: true\n  applyOnForward: true\n  types: [Ingress, Egress]\n  ingress:\n  - action: Deny\n  egress:\n  - action: Deny")]);
    // A DNS answer (source port 53, outbound list) is not hit by the untracked deny; conntrack decides later.
    check(ev, [
      [inbound("udp", 40000, { sport: 53, ct: "established" }), "allow normal ct established"],
      [inbound("udp", 40000, { sport: 53 }), "deny normal no-profile-matched"],
      [inbound("udp", 40000, { sport: 54 }), "deny untracked raw#0"],
      // SSH answer (source port 22, inbound list) leaving the host
      [outbound("tcp", 40000, { sport: 22, ct: "established" }), "allow normal ct established"],
      [outbound("tcp", 40000, { sport: 23, ct: "established" }), "deny untracked raw#0"],
    ]);
    expect(ev.evaluate(inbound("udp", 40000, { sport: 53 })).steps[0]!.reason).toMatchObject({ kind: "failsafe", list: "outbound", reverse: true, port: 53 });
  });

  test("failsafe entries with a net match only that net, in its family", () => {
    const ev = evaluator([hep(), felix(`{failsafeInboundHostPorts: [{protocol: TCP, port: 22, net: ${CLIENT.v4}/32}], failsafeOutboundHostPorts: []}`)]);
    check(ev, [
      [inbound("tcp", 22), "allow normal failsafe inbound tcp:22"],
      [inbound("tcp", 22, { from: ATTACKER }), "deny normal no-profile-matched"],
      [inbound("tcp", 22, { family: 6 }), "deny normal no-profile-matched"],
      [outbound("udp", 53), "deny normal no-profile-matched"],
    ]);
  });

  test("conntrack: tracked stages accept established and deny invalid; untracked policy sees every packet", () => {
    const ev = evaluator([hep(), gnp("raw", "  doNotTrack: true\n  applyOnForward: true\n  ingress:\n  - action: Deny\n    protocol: TCP\n    source: {ports: [80]}"), gnp("web", "  ingress:\n  - action: Deny")]);
    check(ev, [
      [inbound("tcp", 40000, { sport: 443, ct: "established" }), "allow normal ct established"],
      [inbound("tcp", 40000, { sport: 443, ct: "related" }), "allow normal ct related"],
      [inbound("tcp", 40000, { sport: 443, ct: "invalid" }), "deny normal ct invalid"],
      [inbound("tcp", 40000, { sport: 80, ct: "established" }), "deny untracked raw#0"],
      [forwarded("tcp", 80, 4, "established"), "allow forward ct established"],
    ]);
    const lax = evaluator([hep(), felix("{disableConntrackInvalidCheck: true}"), gnp("web", "  ingress:\n  - action: Allow")]);
    check(lax, [[inbound("tcp", 40000, { ct: "invalid" }), "allow normal web#0"]]);
  });

  test("pre-DNAT sees the original destination, later stages the translated one", () => {
    const ev = evaluator([
      hep(),
      gnp("pre", "  preDNAT: true\n  applyOnForward: true\n  ingress:\n  - action: Deny\n    protocol: TCP\n    destination: {ports: [30080]}"),
      gnp("web", "  ingress:\n  - action: Allow\n    protocol: TCP\n    destination: {ports: [80]}"),
    ]);
    const p = inbound("tcp", 30080);
    check(ev, [
      [p, "deny preDNAT pre#0"],
      [{ ...inbound("tcp", 30081), dnat: { dst: HOST.v4, dstPort: 80 } }, "allow normal web#0"],
      [{ ...inbound("tcp", 80), dnat: { dst: HOST.v4, dstPort: 30080 } }, "deny normal end-of-tier default"],
    ]);
  });

  test("deny action: reject only in the filter stages (§10.11)", () => {
    const ev = evaluator([hep(), felix("{nftablesFilterDenyAction: Reject}"), gnp("raw", "  doNotTrack: true\n  applyOnForward: true\n  ingress:\n  - action: Deny\n    protocol: UDP"), gnp("web", "  ingress:\n  - action: Deny\n    protocol: TCP")]);
    expect(ev.evaluate(inbound("udp", 5353)).denyAction).toBe("drop");
    expect(ev.evaluate(inbound("tcp", 80)).denyAction).toBe("reject");
    expect(ev.evaluate(pingIn()).denyAction).toBe("reject");
  });

  test("ipv6Support false leaves IPv6 untouched", () => {
    const ev = evaluator([hep(), felix("{ipv6Support: false}")]);
    check(ev, [
      [inbound("tcp", 80, { family: 6 }), "none dispatch ipv6-disabled"],
      [outbound("tcp", 80, { family: 6 }), "none dispatch ipv6-disabled"],
      [inbound("tcp", 80), "deny normal no-profile-matched"],
    ]);
    expect(ev.evaluate(outbound("tcp", 80, { family: 6 })).decidedBy).toMatchObject({ side: "egress", interface: "eth0" });
  });
});

describe("tiers, Pass, defaultAction, profiles (§2.3, §2.4)", () => {
  test("Pass leaves the tier; defaultAction Pass; invisible tiers; profiles after the last tier", () => {
    const ev = evaluator([
      hep({ profiles: "[audit, projectcalico-default-allow]" }),
      `${H}\nkind: Profile\nmetadata: {name: audit}\nspec:\n  ingress:\n  - action: Pass\n    protocol: UDP\n  - action: Deny\n    protocol: UDP\n  - action: Deny\n    protocol: TCP\n    destination: {ports: [9000]}`,
      tier("security", 10),
      tier("platform", 20, "Pass"),
      tier("egress-only", 5),
      gnp("sec", "  tier: security\n  ingress:\n  - action: Pass\n    protocol: TCP\n  - action: Pass\n    protocol: UDP\n  - action: Allow\n    protocol: ICMP"),
      gnp("plat", "  tier: platform\n  ingress:\n  - action: Deny\n    protocol: TCP\n    destination: {ports: [8080]}"),
      gnp("out", "  tier: egress-only\n  types: [Egress]\n  egress:\n  - action: Allow"),
    ]);
    check(ev, [
      // security passes TCP → platform: no match, defaultAction Pass → default tier has no
      // ingress policy (invisible) → profiles: audit has no TCP/80 match → default-allow
      [inbound("tcp", 80), "allow normal default-allow-profile"],
      [inbound("tcp", 8080), "deny normal plat#0"],
      // profile audit: Pass acts like no match, so the Deny after it is never reached for UDP
      [inbound("udp", 5353), "allow normal default-allow-profile"],
      [inbound("tcp", 9000), "deny normal profile audit#2"],
      [pingIn(), "allow normal sec#2"],
      // the egress-only tier is invisible for ingress; ICMPv6 is not matched by `protocol: ICMP`: security ends in a deny
      [pingIn(6), "deny normal end-of-tier security"],
      [outbound("tcp", 80), "allow normal out#0"],
    ]);
  });

  test("a missing profile denies everything and hides the profiles after it", () => {
    const ev = evaluator([hep({ profiles: "[ghost, projectcalico-default-allow]" })]);
    check(ev, [[inbound("tcp", 80), "deny normal missing-profile"]]);
  });

  test("forwarded traffic that passes through every tier gets no Calico verdict", () => {
    const ev = evaluator([hep(), gnp("p", "  applyOnForward: true\n  ingress:\n  - action: Pass")]);
    check(ev, [
      [forwarded("tcp", 80), "none forward fall-through"],
      [inbound("tcp", 80), "deny normal no-profile-matched"],
    ]);
  });

  test("policy order: order ascending, none last, ties by \"name/namespace/kind\" (a.b and a-b before a)", () => {
    const ev = evaluator([
      hep(),
      gnp("a", "  order: 10\n  ingress:\n  - action: Deny"),
      gnp("a.b", "  order: 10\n  ingress:\n  - action: Allow\n    protocol: TCP"),
      gnp("a-c", "  order: 10\n  ingress:\n  - action: Allow\n    protocol: UDP"),
      gnp("zzz", "  order: 1.5\n  ingress:\n  - action: Log\n  - action: Pass\n    protocol: ICMP"),
      gnp("none", "  ingress:\n  - action: Allow"),
    ]);
    check(ev, [
      [inbound("tcp", 80), "allow normal a.b#0"],
      [inbound("udp", 53), "allow normal a-c#0"],
      [pingIn(6), "deny normal a#0"],
      // Pass leaves the default tier; no profile → deny
      [pingIn(), "deny normal no-profile-matched"],
    ]);
  });

  test("Log continues and gets the prefix with placeholders", () => {
    const ev = evaluator([
      hep({ profiles: "[p1]" }),
      felix('{logPrefix: "hw %t/%k/%n/%p %x"}'),
      `${H}\nkind: Profile\nmetadata: {name: p1}\nspec:\n  ingress:\n  - action: Log\n  - action: Allow`,
      tier("sec", 1, "Pass"),
      gnp("watch", "  tier: sec\n  ingress:\n  - action: Log\n    protocol: TCP\n  - action: Log\n  - action: Allow\n    protocol: UDP"),
    ]);
    const e = ev.evaluate(inbound("tcp", 80));
    expect(short(e)).toBe("allow normal profile p1#1");
    expect(e.logs.map((l) => l.prefix)).toEqual(["hw sec/gnp/watch/watch %x", "hw sec/gnp/watch/watch %x", "hw /pro/p1/p1 %x"]);
    expect(ev.evaluate(inbound("udp", 53)).logs).toHaveLength(1);
  });
});

describe("rule fields (§4)", () => {
  test("protocol by name and number, notProtocol; names ICMP/ICMPv6 restrict the family, numbers and notProtocol do not", () => {
    const ev = evaluator([
      hep(),
      gnp("p", `  ingress:
  - action: Allow
    protocol: 17
    destination: {ports: [5353]}
  - action: Deny
    notProtocol: ICMP
    destination: {nets: [${HOST.v4}/32]}
  - action: Allow
    protocol: ICMPv6
  - action: Allow
    protocol: 1
  - action: Deny
    notProtocol: ICMPv6`),
    ]);
    check(ev, [
      [inbound("udp", 5353), "allow normal p#0"],
      [inbound("udp", 5353, { family: 6 }), "allow normal p#0"],
      [inbound("tcp", 80), "deny normal p#1"],
      [pingIn(), "allow normal p#3"],
      [pingIn(6), "allow normal p#2"],
      // a (contrived) IPv4 packet with protocol 58: `protocol: ICMPv6` is IPv6-only; `notProtocol: ICMPv6` is not
      [{ ...pingIn(), protocol: 58, dst: "192.0.2.11" }, "deny normal end-of-tier default"],
      // an IPv6 packet with protocol 1 matches the numeric `protocol: 1`
      [{ ...pingIn(6), protocol: 1 }, "allow normal p#3"],
      // IPv6 TCP: rule 1 has IPv4 nets → not rendered for IPv6; notProtocol ICMPv6 (no family) denies
      [inbound("tcp", 80, { family: 6 }), "deny normal p#4"],
    ]);
  });

  test("ipVersion and net families: a rule whose non-empty CIDR list has no entry of the packet's family never matches it", () => {
    const ev = evaluator([
      hep({ profiles: "[projectcalico-default-allow]" }),
      gnp("p", `  ingress:
  - action: Deny
    ipVersion: 6
    protocol: TCP
    destination: {ports: [80]}
  - action: Deny
    source: {notNets: [${ATTACKER.v4}/32]}
    protocol: TCP
    destination: {ports: [8080]}
  - action: Pass`),
    ]);
    check(ev, [
      [inbound("tcp", 80), "allow normal default-allow-profile"],
      [inbound("tcp", 80, { family: 6 }), "deny normal p#0"],
      [inbound("tcp", 8080), "deny normal p#1"],
      [inbound("tcp", 8080, { from: ATTACKER }), "allow normal default-allow-profile"],
      // IPv6: the notNets rule does not exist in IPv6 (Felix FilterRuleToIPVersion), so it does not match
      [inbound("tcp", 8080, { family: 6 }), "allow normal default-allow-profile"],
    ]);
  });

  test("nets and notNets on both sides", () => {
    const ev = evaluator([
      hep(),
      gnp("p", `  ingress:
  - action: Allow
    source: {nets: [192.0.2.0/27, 203.0.113.0/24]}
    destination: {notNets: [192.0.2.11/32]}
  - action: Allow
    source: {nets: ["2001:db8:2::/120"], notNets: ["2001:db8:2::66/128"]}`),
    ]);
    check(ev, [
      [inbound("tcp", 80), "allow normal p#0"],
      [inbound("tcp", 80, { from: ATTACKER }), "deny normal end-of-tier default"],
      [{ ...inbound("tcp", 80), dst: "192.0.2.11" }, "deny normal end-of-tier default"],
      [inbound("tcp", 80, { family: 6 }), "allow normal p#1"],
      [inbound("tcp", 80, { family: 6, from: ATTACKER }), "deny normal end-of-tier default"],
    ]);
  });

  test("ports: numbers, ranges, notPorts, source ports", () => {
    const ev = evaluator([
      hep(),
      gnp("p", `  ingress:
  - action: Allow
    protocol: TCP
    destination: {ports: [80, "8000:8100"], notPorts: [8080]}
  - action: Allow
    protocol: UDP
    source: {notPorts: ["1:1023"]}
    destination: {ports: [5353]}`),
    ]);
    check(ev, [
      [inbound("tcp", 80), "allow normal p#0"],
      [inbound("tcp", 8000), "allow normal p#0"],
      [inbound("tcp", 8100), "allow normal p#0"],
      [inbound("tcp", 8080), "deny normal end-of-tier default"],
      [inbound("tcp", 8101), "deny normal end-of-tier default"],
      [inbound("udp", 80), "deny normal end-of-tier default"],
      [inbound("udp", 5353), "allow normal p#1"],
      [inbound("udp", 5353, { sport: 53 }), "deny normal end-of-tier default"],
    ]);
  });

  test("named ports: (address, protocol, port) of the endpoints the side's selector matches; TCP when the rule has no protocol", () => {
    const docs = [
      hep({ ports: "[{name: web, protocol: TCP, port: 8080}, {name: dns, protocol: UDP, port: 5353}, {name: dns, protocol: TCP, port: 5353}]" }),
      hep({ name: "other", node: "elsewhere", labels: "{role: peer}", ips: `[${CLIENT.v4}]`, ports: "[{name: web, protocol: TCP, port: 9000}]" }),
      gnp("p", `  ingress:
  - action: Allow
    destination: {ports: [web, dns]}
  - action: Allow
    protocol: UDP
    destination: {ports: [dns]}
  - action: Deny
    protocol: TCP
    source: {selector: "role == 'peer'"}
    destination: {notPorts: [web]}`),
    ];
    const ev = evaluator(docs);
    check(ev, [
      [inbound("tcp", 8080), "allow normal p#0"],
      [inbound("tcp", 8080, { family: 6 }), "allow normal p#0"],
      [inbound("tcp", 5353), "allow normal p#0"],
      // no protocol → TCP named ports only (Calico's rule_scanner); the UDP rule catches it
      [inbound("udp", 5353), "allow normal p#1"],
      // port 9000 is "web" of another endpoint (address 192.0.2.20), not of the host address
      [inbound("tcp", 9000), "deny normal p#2"],
      [inbound("tcp", 9000, { from: ATTACKER }), "deny normal end-of-tier default"],
    ]);
    const any = evaluator(docs, { namedPortsWithoutProtocol: "any" });
    check(any, [[inbound("udp", 5353), "allow normal p#0"]]);
  });

  test("ICMP type/code and notICMP (not (type and code), §10.3; needs an ICMP packet of the family)", () => {
    const ev = evaluator([
      hep(),
      gnp("p", `  ingress:
  - action: Deny
    protocol: ICMP
    icmp: {type: 3, code: 3}
  - action: Allow
    protocol: ICMP
    notICMP: {type: 3, code: 1}
  - action: Allow
    protocol: ICMPv6
    icmp: {type: 128}
  - action: Allow
    notICMP: {type: 200}`),
    ]);
    check(ev, [
      [pingIn(4, { type: 3, code: 3 }), "deny normal p#0"],
      [pingIn(4, { type: 3, code: 1 }), "allow normal p#3"],
      [pingIn(4, { type: 3, code: 2 }), "allow normal p#1"],
      [pingIn(4, { type: 8 }), "allow normal p#1"],
      [pingIn(6), "allow normal p#2"],
      [pingIn(6, { type: 129 }), "allow normal p#3"],
      [pingIn(6, { type: 200 }), "deny normal end-of-tier default"],
      // notICMP never matches a non-ICMP packet
      [inbound("tcp", 80), "deny normal end-of-tier default"],
    ]);
  });

  test("selectors: known things only; notSelector also matches unknown addresses; profile labels; other nodes' endpoints", () => {
    const ev = evaluator([
      hep({ profiles: "[tagged]" }),
      `${H}\nkind: Profile\nmetadata: {name: tagged}\nspec: {labelsToApply: {zone: dmz}}`,
      hep({ name: "peer", node: "elsewhere", labels: "{role: peer}", ips: `[${CLIENT.v4}, "${CLIENT.v6}"]` }),
      gns("bad", "{list: bad}", `[${ATTACKER.v4}/32, "2001:db8:2::64/126"]`),
      gnp("p", `  ingress:
  - action: Deny
    source: {selector: "list == 'bad'"}
    protocol: TCP
  - action: Allow
    source: {selector: "role == 'peer'"}
    protocol: TCP
    destination: {selector: "zone == 'dmz'", ports: [80]}
  - action: Allow
    protocol: UDP
    source: {selector: "!has(list)"}
  - action: Allow
    protocol: UDP
    source: {notSelector: "has(list)"}
    destination: {ports: [6000]}`),
    ]);
    check(ev, [
      [inbound("tcp", 80), "allow normal p#1"],
      [inbound("tcp", 80, { family: 6 }), "allow normal p#1"],
      [inbound("tcp", 80, { from: ATTACKER }), "deny normal p#0"],
      [inbound("tcp", 80, { from: ATTACKER, family: 6 }), "deny normal p#0"],
      [{ ...inbound("tcp", 80), dst: "192.0.2.11" }, "deny normal end-of-tier default"],
      // `!has(list)` matches only known things without the label (the peer, the host itself)
      [inbound("udp", 5353), "allow normal p#2"],
      [{ ...inbound("udp", 5353), src: "203.0.113.5" }, "deny normal end-of-tier default"],
      // notSelector matches unknown addresses too
      [{ ...inbound("udp", 6000), src: "203.0.113.5" }, "allow normal p#3"],
      [inbound("udp", 6000, { from: ATTACKER }), "deny normal end-of-tier default"],
    ]);
  });

  test("selector and notSelector on one side fold into one set (Felix combineMatchesIfPossible)", () => {
    // 192.0.2.66 is in two sets: `wide` (a only) and `narrow` (a and b).
    const ev = evaluator([
      hep(),
      gns("wide", "{a: x}", "[192.0.2.64/28]"),
      gns("narrow", "{a: x, b: x}", `[${ATTACKER.v4}/32]`),
      gnp("p", `  ingress:
  - action: Allow
    source: {selector: has(a), notSelector: has(b)}`),
    ]);
    // Folded: members of (has(a) && !has(b)) = {wide} → 192.0.2.66 is inside 192.0.2.64/28 → matches,
    // although it is also in the notSelector's set.
    check(ev, [[inbound("tcp", 80, { from: ATTACKER }), "allow normal p#0"]]);
    expect(canonicalSelector(sideSelectors({ nets: [], notNets: [], ports: [], notPorts: [], selector: { kind: "has", label: "a" }, notSelector: { kind: "has", label: "b" } }).positive!)).toBe("(has(a) && !has(b))");
  });

  test("namespaceSelector: global() keeps HEPs and GlobalNetworkSets; all() keeps namespaced NetworkSets only", () => {
    const ev = evaluator([
      hep(),
      gns("g", "{tag: x}", `[${CLIENT.v4}/32]`),
      `${H}\nkind: NetworkSet\nmetadata: {name: n, namespace: dev, labels: {tag: x}}\nspec: {nets: [${ATTACKER.v4}/32]}`,
      gnp("p", `  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: "tag == 'x'", namespaceSelector: global()}
    destination: {ports: [80]}
  - action: Allow
    protocol: TCP
    source: {namespaceSelector: all()}
    destination: {ports: [8080]}
  - action: Allow
    protocol: TCP
    source: {selector: "tag == 'x'"}
    destination: {ports: [9000]}`),
    ]);
    check(ev, [
      [inbound("tcp", 80), "allow normal p#0"],
      [inbound("tcp", 80, { from: ATTACKER }), "deny normal end-of-tier default"],
      [inbound("tcp", 8080), "deny normal end-of-tier default"],
      [inbound("tcp", 8080, { from: ATTACKER }), "allow normal p#1"],
      [inbound("tcp", 9000), "allow normal p#2"],
      [inbound("tcp", 9000, { from: ATTACKER }), "allow normal p#2"],
    ]);
  });
});

describe("forwarded traffic (§2.4 step 4, §2.6, §3.4)", () => {
  test("every endpoint's forward chains check conntrack, with or without applyOnForward policies", () => {
    const ev = evaluator([hep()]);
    check(ev, [
      [forwarded("tcp", 80, 4, "invalid"), "deny forward ct invalid"],
      [forwarded("tcp", 80, 4, "established"), "allow forward ct established"],
      [forwarded("tcp", 80), "allow forward forward-default-allow"],
      // backend → client: only the out-interface (eth0) has an endpoint
      [{ ...forwarded("tcp", 80, 4, "invalid"), inInterface: "eth1", outInterface: "eth0", src: BACKEND.v4, dst: CLIENT.v4 }, "deny forward ct invalid"],
    ]);
  });

  test('the "*" endpoint governs forwarding only on interfaces no named endpoint claims', () => {
    const ev = evaluator([
      hep(),
      hep({ name: "any", iface: "*", labels: "{role: any}" }),
      gnp("any-fwd", "  applyOnForward: true\n  ingress:\n  - action: Deny\n    protocol: UDP", "role == 'any'"),
    ]);
    check(ev, [
      // in eth0 (named, no forward policy) → allowed; out eth1 (unclaimed → "*", no egress policy) → allowed
      [forwarded("udp", 5353), "allow forward forward-default-allow"],
      // in eth1 (unclaimed → "*") → its ingress forward policy decides
      [{ ...forwarded("udp", 5353), inInterface: "eth1", outInterface: "eth0", src: BACKEND.v4, dst: CLIENT.v4 }, "deny forward any-fwd#0"],
      [{ ...forwarded("tcp", 80), inInterface: "eth1", outInterface: "eth0", src: BACKEND.v4, dst: CLIENT.v4 }, "deny forward end-of-tier default"],
    ]);
  });

  test("no endpoint on either interface: untouched", () => {
    check(evaluator([hep({ iface: "eth9" })]), [[forwarded("tcp", 80), "none dispatch no-endpoint"]]);
  });
});

describe("endpoints (§1.2, §3.4, §10.2)", () => {
  test('a "*" endpoint governs every unclaimed interface but loopback, and ignores untracked policy', () => {
    const ev = evaluator([
      hep({ name: "all", iface: "*" }),
      gnp("raw", "  doNotTrack: true\n  applyOnForward: true\n  ingress:\n  - action: Allow"),
      gnp("web", "  ingress:\n  - action: Allow\n    protocol: TCP\n    destination: {ports: [80]}"),
    ]);
    check(ev, [
      [inbound("tcp", 80, { iface: "eth7" }), "allow normal web#0"],
      [inbound("tcp", 8080, { iface: "eth7" }), "deny normal end-of-tier default"],
      [{ ...inbound("tcp", 8080), inInterface: "lo", src: "127.0.0.1", dst: "127.0.0.1" }, "none dispatch no-endpoint"],
    ]);
  });

  test("a named endpoint wins over *; with no pre-DNAT policy of its own it gets the * endpoint's pre-DNAT chain", () => {
    const ev = evaluator([
      hep({ profiles: "[projectcalico-default-allow]" }),
      hep({ name: "all", iface: "*", labels: "{role: any}" }),
      gnp("pre-any", "  preDNAT: true\n  applyOnForward: true\n  ingress:\n  - action: Deny\n    protocol: TCP\n    destination: {ports: [8080]}", "role == 'any'"),
      gnp("web-any", "  ingress:\n  - action: Deny", "role == 'any'"),
    ]);
    check(ev, [
      [inbound("tcp", 80), "allow normal default-allow-profile"],
      [inbound("tcp", 8080), "deny preDNAT pre-any#0"],
      [inbound("tcp", 80, { iface: "eth1" }), "deny normal web-any#0"],
    ]);
  });

  test("several endpoints for one interface: the first by name wins; other nodes' endpoints never apply", () => {
    const ev = evaluator([
      hep({ name: "b", profiles: "[projectcalico-default-allow]" }),
      hep({ name: "a" }),
      hep({ name: "0-elsewhere", node: "other", profiles: "[projectcalico-default-allow]" }),
    ]);
    const e = ev.evaluate(inbound("tcp", 80));
    expect(short(e)).toBe("deny normal no-profile-matched");
    expect(e.decidedBy.endpoint).toBe("a");
  });

  test("an endpoint without interfaceName binds by expectedIPs when the interface addresses are given", () => {
    const docs = [hep({ iface: "" })];
    check(evaluator(docs), [[inbound("tcp", 80), "none dispatch no-endpoint"]]);
    check(evaluator(docs, { interfaceAddresses: { eth0: [HOST.v4] } }), [[inbound("tcp", 80), "deny normal no-profile-matched"]]);
  });
});

describe("egress", () => {
  test("egress policies, types, failsafe outbound, the egress profile rules", () => {
    const ev = evaluator([
      hep({ profiles: "[out]" }),
      `${H}\nkind: Profile\nmetadata: {name: out}\nspec:\n  egress:\n  - action: Allow\n    protocol: UDP`,
      gnp("ext", `  types: [Egress]
  egress:
  - action: Deny
    destination: {nets: [${ATTACKER.v4}/32]}
  - action: Pass`),
      gnp("ext2", `  order: 5
  egress:
  - action: Allow
    protocol: TCP
    destination: {ports: [8080]}`),
    ]);
    check(ev, [
      [outbound("tcp", 8080), "allow normal ext2#0"],
      [outbound("tcp", 80, { to: ATTACKER }), "deny normal ext#0"],
      [outbound("tcp", 80), "deny normal no-profile-matched"],
      [outbound("udp", 5353), "allow normal profile out#0"],
      [outbound("tcp", 179, { to: ATTACKER }), "allow normal failsafe outbound tcp:179"],
    ]);
  });
});
