/**
 * The three Calico guides replayed in the kernel, from their corrected YAML in
 * test/fixtures/guides/ (the same files test/unit/guides.test.ts validates and the golden
 * cases compile). Each guide is loaded as printed there, with only the addresses and node
 * name swapped for the lab's; every swap is listed with its scenario and must hit, so a
 * change of the fixtures cannot silently turn a replay into something else.
 *
 *   client 192.0.2.20 / 2001:db8:2::20 ─┐
 *   attacker 192.0.2.66 / 2001:db8:2::66 ┼─ LAN ── eth0 host eth1 ── backend 198.51.100.20 / 2001:db8:51::20
 *
 * - Defend against DoS attacks: an untracked Deny of a GlobalNetworkSet, in the netdev hook.
 * - External IPs or networks: an untracked Deny of a network set selected with
 *   `!has(projectcalico.org/namespace)` plus an untracked forward allow, and egress to a CIDR.
 * - Kubernetes node ports (the pre-DNAT tutorial), with a real DNAT of a node port to the
 *   backend: lessons 2–5 (cluster-internal allow and deny of the rest before DNAT, outbound,
 *   host endpoint, node port allow), then an allowlist, a blocklist and Log lines.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, REPO } from "./agent-harness";
import { kernelTestGate, kmsgCursor, readKernelLog } from "./lab";
import { both, docs, felix, gns, gnp, hep, loadNodePorts, NODE, useSemLab } from "./semantics-helpers";

const enabled = await kernelTestGate();

const GUIDES = join(REPO, "test/fixtures/guides");

/** The corrected YAML of a guide as one stream, with each `[from, to]` swap applied (each must occur). */
function guide(name: string, swaps: Array<[string, string]>): string {
  const dir = join(GUIDES, name, "corrected");
  let text = docs(...readdirSync(dir).sort().map((f) => readFileSync(join(dir, f), "utf8")));
  for (const [from, to] of swaps) {
    if (!text.includes(from)) throw new Error(`guide ${name}: "${from}" is no longer in its corrected YAML; update the replay`);
    text = text.split(from).join(to);
  }
  return text;
}

describe.skipIf(!enabled)("Calico guides replayed", () => {
  const s = useSemLab("guides", { logging: true });

  test("defend against DoS attacks: the deny list is dropped in the netdev hook, failsafe SSH stays open, the rest is the host's own policy", async () => {
    const dos = guide("defend-dos-attack", [
      ["'1.2.3.4/32'", "'192.0.2.66/32'"], // the attacker
      ["'5.6.0.0/16'", "'203.0.113.0/24'"],
      ["['10.0.0.1']", "['192.0.2.10']"], // the host's eth0 address
    ]);
    // As printed: the guide's HostEndpoint has no profile and no normal policy selects it,
    // so everything but the failsafe ports is denied in the normal stage (reference §2.6).
    await s.apply(dos);
    const d0 = await s.packets("gnp/dos-mitigation/ingress/0", { family: "netdev" });
    await s.expectReach([
      ...both("client", "tcp", "host", 22, true), // failsafe
      ...both("attacker", "tcp", "host", 22, true), // failsafes run before untracked policy (§3.5)
      ...both("client", "tcp", "host", 80, false),
      ...both("attacker", "tcp", "host", 80, false),
      ...both("attacker", "ping", "host", undefined, false),
    ]);
    // The attacker's v4 SYN to 80 and its echo request, each dropped once in netdev (no conntrack, no retries within the probe).
    expect((await s.packets("gnp/dos-mitigation/ingress/0", { family: "netdev" })) - d0).toBe(2);

    // With the host's own allow (the default-allow profile), only the deny list is dropped.
    await s.apply(dos.replace("  interfaceName: eth0", "  interfaceName: eth0\n  profiles: [projectcalico-default-allow]"));
    const d1 = await s.packets("gnp/dos-mitigation/ingress/0", { family: "netdev" });
    await s.expectReach([
      ...both("client", "tcp", "host", 80, true),
      ...both("client", "ping", "host", undefined, true),
      ...both("attacker", "tcp", "host", 80, false, true), // the set holds no IPv6 address
      ...both("attacker", "ping", "host", undefined, false, true),
      ...both("attacker", "tcp", "backend", 80, false, true), // untracked ingress covers forwarded traffic too
      ...both("client", "tcp", "backend", 80, true),
    ]);
    // The attacker's v4 SYNs to host and backend and its v4 echo request.
    expect((await s.packets("gnp/dos-mitigation/ingress/0", { family: "netdev" })) - d1).toBe(3);
  });

  test("external IPs: the untracked deny takes global network sets only (!has(projectcalico.org/namespace)), forwarded traffic is allowed untracked, egress to a CIDR", async () => {
    const external = guide("external-ips-policy", [["192.0.2.55/32", "192.0.2.66/32"]]);
    // The guide's NetworkPolicy (egress to 192.0.2.0/24 for pods) never applies to a host
    // endpoint; the same rule as a GlobalNetworkPolicy gives the host egress to that CIDR.
    // A namespaced NetworkSet with the deny label holds the client: the guide's
    // `!has(projectcalico.org/namespace)` must keep it out of the deny.
    const yaml = docs(
      external,
      hep("eth0", { labels: { "apply-ip-protect": "true" } }),
      hep("eth1", { labels: { "apply-ip-protect": "true" } }),
      gnp("allow-egress-external", "  types: [Egress]\n  egress:\n  - action: Allow\n    destination:\n      nets: [192.0.2.0/24]", "apply-ip-protect == 'true'"),
      `apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata:
  name: client-by-namespace
  namespace: production
  labels: { ip-deny-list: "true" }
spec:
  nets: [192.0.2.20/32, "2001:db8:2::20/128"]`,
    );
    await s.apply(yaml);
    const plan = Bun.spawnSync([BINARY, "plan", "--json", "--config-dir", s.configDir, "--node", NODE]);
    expect(plan.exitCode).toBe(0);
    const notApplied = JSON.parse(plan.stdout.toString()).notApplied.map((n: { resource: string }) => n.resource);
    expect(notApplied).toContain("NetworkPolicy/production/allow-egress-external");

    const deny0 = await s.packets("gnp/ip-protect/ingress/0", { family: "netdev" });
    await s.expectReach([
      // Forwarded through two protected interfaces: untracked Allow on eth0 one way and on eth1 back.
      ...both("client", "tcp", "backend", 80, true),
      ...both("client", "udp", "backend", 5353, true),
      ...both("attacker", "tcp", "backend", 80, false, true), // the set holds no IPv6 address
      ...both("backend", "tcp", "attacker", 80, false, true), // the attacker's replies are dropped too
      // The host's own traffic: egress only to 192.0.2.0/24, replies allowed untracked.
      ["host", "ping", 4, "client", undefined, true],
      ["host", "ping", 6, "client", undefined, false],
      ["host", "ping", 4, "backend", undefined, false],
      ["host", "ping", 4, "attacker", undefined, false],
    ]);
    // From the attacker (v4): its SYN to the backend, its SYN-ACK to the backend, its echo reply to the host.
    expect((await s.packets("gnp/ip-protect/ingress/0", { family: "netdev" })) - deny0).toBe(3);
  });

  describe("Kubernetes node ports (the pre-DNAT tutorial) with a real DNAT", () => {
    // kube-proxy's part: node port 31852 on the host's eth0 addresses → backend:8080.
    let removeNodePorts: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      removeNodePorts = await loadNodePorts(s.lab, { 31852: 8080 });
    });
    afterAll(async () => {
      await removeNodePorts?.();
    });

    // The client's IPv4 address plays another cluster node and the backend segment the pods
    // (the guide's cluster-internal nets are IPv4 only); the attacker, and the client over
    // IPv6, are the outside world.
    const lessons = () =>
      guide("kubernetes-node-ports", [
        ["nets: [1.2.0.0/16, 100.100.0.0/16]", "nets: [192.0.2.16/28, 198.51.100.0/24]"], // nodes, pods
        ["node: node1", `node: ${NODE}`],
      ]);

    test("lessons 2–5: cluster-internal ingress only, outbound allowed, the node port open before DNAT on the endpoint's expectedIPs", async () => {
      await s.apply(lessons());
      await s.expectReach([
        ...both("client", "tcp", "host", 80, true, false), // cluster-internal, allowed before DNAT
        ...both("client", "tcp", "backend", 8080, true, false), // forwarded: pre-DNAT applies to it as well
        ...both("attacker", "tcp", "host", 80, false),
        ...both("attacker", "udp", "host", 5353, false),
        ...both("attacker", "tcp", "backend", 8080, false),
        ...both("attacker", "tcp", "host", 22, true), // failsafe
        // The node port: allow-nodeport's destination selector has(kubernetes-host) means the
        // endpoint's expectedIPs, which hold only 192.0.2.10; over IPv6 the port stays closed.
        ...both("attacker", "tcp", "host", 31852, true, false),
        ...both("host", "ping", "attacker", undefined, true), // allow-outbound-external, replies established
      ]);
    });

    test("then an allowlist for the node port, a blocklist before everything, and Log lines with the configured prefix", async () => {
      const prefix = `${s.tag} %t/%n`;
      const yaml = docs(
        lessons().replace(
          "      destination:\n        selector: has(kubernetes-host)\n        ports: [31852]",
          "      source:\n        selector: nodeport-allowlist == 'true'\n      destination:\n        selector: has(kubernetes-host)\n        ports: [31852]",
        ),
        felix([`logPrefix: "${prefix}"`]),
        gns("nodeport-allowlist", { "nodeport-allowlist": "true" }, ["203.0.113.0/24"]),
        gns("blocklist", { blocklist: "true" }, ["192.0.2.20/32"]),
        gnp("blocklist", `  preDNAT: true
  applyOnForward: true
  order: 1
  types: [Ingress]
  ingress:
  - action: Log
    source:
      selector: blocklist == 'true'
  - action: Deny
    source:
      selector: blocklist == 'true'`, "has(kubernetes-host)"),
      );
      if (!yaml.includes("nodeport-allowlist == 'true'")) throw new Error("the allowlist edit of allow-nodeport did not apply");
      await s.apply(yaml);
      const since = kmsgCursor();
      await s.expectReach([
        ...both("attacker", "tcp", "host", 31852, false), // not on the allowlist any more
        ...both("client", "tcp", "host", 80, false), // v4 blocklisted (logged), v6 outside the cluster nets
        ...both("client", "tcp", "host", 22, true), // failsafe before the blocklist
        ...both("client", "tcp", "backend", 8080, false),
      ]);
      const lines = await readKernelLog({ since, match: `${s.tag} default/blocklist: `, count: 2, timeoutMs: 3000 });
      const dports = lines.map((r) => / DPT=(\d+) /.exec(r.message)?.[1]).sort();
      expect(dports).toEqual(["80", "8080"]); // one line per dropped SYN; the failsafe SSH is never logged
      for (const r of lines) expect(r.message).toContain(" SRC=192.0.2.20 ");
    });
  });
});
