/**
 * Staged policies count and never decide (#14 item 4). The same Deny policy runs twice
 * against the same real probes: once staged (StagedGlobalNetworkPolicy), once enforced (its
 * twin, a GlobalNetworkPolicy with the same rules). Staged, every probe is answered and the
 * `sgnp/<name>/ingress/<i>` counters count; enforced, the twin drops exactly those probes and
 * its `gnp/<name>/ingress/<i>` counters must equal the staged ones, rule by rule. /metrics
 * shows the staged counters with kind="sgnp"; GET /status lists each staged rule with its action
 * and the same counts, and `hostwall status` prints "would deny N packet(s)" per rule. A staged
 * Delete of an enforced deny counts what that deny drops while it keeps dropping.
 *
 * Every probe is a new flow of one packet (a UDP datagram or a ping from a new socket: new
 * source port or ICMP id), so the enforced run sees one packet per probe at the policy, as the
 * staged run does. TCP is left out: on a loaded machine a dropped SYN may be retried before
 * the probe gives up, which the enforced run would count and the staged one (where the first
 * SYN opens the connection) would not.
 */
import { describe, expect, test } from "bun:test";
import { kernelTestGate } from "./lab";
import { BINARY } from "./agent-harness";
import { both, docs, gnp, hep, useSemLab, type Row } from "./semantics-helpers";

const enabled = await kernelTestGate();

const RULES = `  order: 10
  ingress:
  - action: Deny
    source:
      nets: [192.0.2.66/32]
  - action: Deny
    source:
      nets: [2001:db8:2::66/128]
  - action: Deny
    protocol: UDP
    destination:
      ports: [6000]`;

const staged = (name: string, body: string) => gnp(name, body).replace("kind: GlobalNetworkPolicy", "kind: StagedGlobalNetworkPolicy");
const ALLOW_ALL = gnp("allow-rest", "  order: 100\n  types: [Ingress, Egress]\n  ingress:\n  - action: Allow\n  egress:\n  - action: Allow");

/** Probes, each answered unless the Deny policy is enforced: the attacker by address (rules 0 and 1), the client on UDP 6000 (rule 2). */
function rows(enforced: boolean): Row[] {
  return [
    ...both("attacker", "udp", "host", 5353, !enforced),
    ...both("attacker", "ping", "host", undefined, !enforced),
    ...both("client", "udp", "host", 6000, !enforced),
    ...both("client", "udp", "host", 5353, true),
    ...both("client", "tcp", "host", 80, true),
    ...both("client", "ping", "host", undefined, true),
  ];
}
/** Packets per round that each rule counts: attacker IPv4 (udp, ping), attacker IPv6, client UDP 6000 (both families). */
const PER_ROUND = [2, 2, 2];
const ROUNDS = 3;

describe.skipIf(!enabled)("staged policies count, never drop", () => {
  const s = useSemLab("staged");

  async function counts(prefix: string): Promise<number[]> {
    return [await s.packets(`${prefix}/ingress/0`), await s.packets(`${prefix}/ingress/1`), await s.packets(`${prefix}/ingress/2`)];
  }
  const expected = PER_ROUND.map((n) => n * ROUNDS);

  test("a staged Deny drops nothing and counts exactly what its enforced twin drops", async () => {
    await s.apply(docs(hep("eth0"), ALLOW_ALL, staged("block", RULES)));
    const start = await counts("sgnp/block");
    for (let i = 0; i < ROUNDS; i++) await s.expectReach(rows(false));
    const stagedCounts = (await counts("sgnp/block")).map((n, i) => n - start[i]!);
    const metrics = (await s.agent.get("/metrics"))?.body ?? "";
    const metricLine = metrics.split("\n").find((l) => l.startsWith("hostwall_rule_packets_total{") && l.includes('kind="sgnp"') && l.includes('policy="block"') && l.includes('rule="0"'));
    // /status and hostwall status show the same counters, per staged rule, with what it would do.
    const absolute = await counts("sgnp/block");
    const status = JSON.parse((await s.agent.get("/status"))!.body);
    const cli = await s.lab.host.exec([BINARY, "status", "--api", `unix:${s.agent.socket}`]);

    await s.apply(docs(hep("eth0"), ALLOW_ALL, gnp("block", RULES)));
    const before = await counts("gnp/block");
    for (let i = 0; i < ROUNDS; i++) await s.expectReach(rows(true));
    const enforcedCounts = (await counts("gnp/block")).map((n, i) => n - before[i]!);

    expect({ staged: stagedCounts, enforced: enforcedCounts }).toEqual({ staged: expected, enforced: expected });
    expect(metricLine).toEndWith(` ${expected[0]}`);
    expect(status.staged).toEqual({
      counted: true,
      rules: absolute.map((packets, rule) => ({ policy: "block", stagedAction: "Set", direction: "ingress", rule, action: "Deny", packets, bytes: status.staged.rules[rule].bytes })),
    });
    expect(status.staged.rules.every((r: { bytes: number; packets: number }) => r.bytes > r.packets * 20)).toBe(true);
    expect(cli.stdout).toContain(`staged (counted, never enforced)\n  block ingress rule 0 (Deny): would deny ${absolute[0]} packet(s), `);
    expect(cli.stdout).toContain(`  block ingress rule 2 (Deny): would deny ${absolute[2]} packet(s), `);
  }, 120_000);

  test("a staged Delete counts what the enforced policy of its name drops, and the drops go on", async () => {
    const del = ["apiVersion: projectcalico.org/v3", "kind: StagedGlobalNetworkPolicy", "metadata:", "  name: block", "spec:", "  stagedAction: Delete"].join("\n");
    await s.apply(docs(hep("eth0"), ALLOW_ALL, gnp("block", RULES), del));
    // The enforced chain may be kept from the last test by an incremental apply, counters and all.
    const before = await counts("gnp/block");
    for (let i = 0; i < ROUNDS; i++) await s.expectReach(rows(true));
    const enforced = (await counts("gnp/block")).map((n, i) => n - before[i]!);
    const deleted = await counts("sgnp/block");
    expect({ delete: deleted, enforced }).toEqual({ delete: expected, enforced: expected });
    const status = JSON.parse((await s.agent.get("/status"))!.body);
    expect(status.staged.rules.map((r: { policy: string; stagedAction: string; rule: number; action: string; packets: number }) => `${r.stagedAction} ${r.policy} ${r.rule} ${r.action} ${r.packets}`)).toEqual(deleted.map((n, i) => `Delete block ${i} Deny ${n}`));
  }, 120_000);
});
