/**
 * Untracked (doNotTrack) and pre-DNAT policy, reference §3.1–§3.5, §2.7, §10.1:
 * - an untracked Allow with symmetric rules (ingress to port P, egress from port P) carries
 *   a whole TCP/UDP exchange without conntrack, and a one-sided rule does not;
 * - an untracked Allow skips the pre-DNAT and normal stages (§3.3), an untracked Deny drops
 *   before any later Allow, in both directions;
 * - failsafe ports run before untracked policy, including the reply direction (§3.5);
 * - pre-DNAT: a Deny of a port drops local and forwarded traffic before the normal stage
 *   would allow it; with a real DNAT (node ports on the host forwarded to the backend), the
 *   pre-DNAT stage sees the original destination and the forward stage the translated one.
 */
import { describe, expect, test } from "bun:test";
import { kernelTestGate } from "./lab";
import { both, docs, gnp, hep, loadNodePorts, tcp, useSemLab } from "./semantics-helpers";

const enabled = await kernelTestGate();

/** A doNotTrack policy for the host endpoint: ingress to `port` and egress from `port`. */
function symmetric(name: string, proto: "TCP" | "UDP", port: number, opts: { ingress?: boolean; egress?: boolean } = {}): string {
  const types = [opts.ingress !== false ? "Ingress" : "", opts.egress !== false ? "Egress" : ""].filter(Boolean);
  return gnp(
    name,
    [
      "  doNotTrack: true",
      "  applyOnForward: true",
      `  types: [${types.join(", ")}]`,
      ...(opts.ingress !== false ? ["  ingress:", "  - action: Allow", `    protocol: ${proto}`, "    destination:", `      ports: [${port}]`] : []),
      ...(opts.egress !== false ? ["  egress:", "  - action: Allow", `    protocol: ${proto}`, "    source:", `      ports: [${port}]`] : []),
    ].join("\n"),
  );
}

describe.skipIf(!enabled)("untracked and pre-DNAT policy", () => {
  const s = useSemLab("untracked");

  /** Conntrack entries of the host namespace that mention `dport=<port>`. */
  async function conntrackEntries(port: number): Promise<string[]> {
    const r = await s.lab.host.exec(["cat", "/proc/net/nf_conntrack"]);
    return r.stdout.split("\n").filter((l) => l.includes(` dport=${port} `));
  }

  test("symmetric untracked Allow (ingress to P, egress from P) carries TCP and UDP without conntrack; nothing else is allowed", async () => {
    await s.apply(
      docs(
        hep("eth0"),
        symmetric("untracked-tcp", "TCP", 8443),
        symmetric("untracked-udp", "UDP", 6000),
        gnp("tracked-9000", `  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    destination:
      ports: [9000]`),
      ),
    );
    const counters = () =>
      Promise.all([
        s.packets("gnp/untracked-tcp/ingress/0", { family: "netdev" }),
        s.packets("gnp/untracked-tcp/egress/0"),
        s.packets("gnp/untracked-udp/ingress/0", { family: "netdev" }),
        s.packets("gnp/untracked-udp/egress/0"),
      ]);
    const before = await counters();
    // Each TCP probe is a whole exchange (probe.ts): handshake, the server's greeting, a token
    // and its echo, then the close.
    await s.expectReach([
      ...tcp("client", "host", 8443, true),
      ...both("client", "udp", "host", 6000, true),
      ...tcp("client", "host", 9000, true), // a tracked connection, for contrast
      ...tcp("client", "host", 8080, false),
      ...both("client", "udp", "host", 5353, false),
    ]);
    const [tcpIn = 0, tcpOut = 0, udpIn, udpOut] = (await counters()).map((n, i) => n - before[i]!);
    expect([udpIn, udpOut]).toEqual([2, 2]); // one datagram and its echo per family
    // Every TCP packet passes the untracked rules (no conntrack shortcut). Per connection at
    // least SYN, the handshake's ACK and the token in, SYN-ACK, greeting and echo out; at most
    // also an ACK of the greeting, of the echo and of the server's FIN, and the FIN in (7), and
    // an ACK of the token and the FIN out (6). Not exact: whether an ACK rides on data or
    // leaves alone depends on delayed-ACK timing, and the close may trail the probe's answer.
    // Measured here: 12 in, 10 out.
    expect(tcpIn >= 6 && tcpIn <= 14 && tcpOut >= 6 && tcpOut <= 12 ? "" : `in ${tcpIn}, out ${tcpOut}`).toBe("");
    expect(await conntrackEntries(8443)).toEqual([]);
    expect(await conntrackEntries(6000)).toEqual([]);
    expect((await conntrackEntries(9000)).length).toBeGreaterThanOrEqual(2);
  });

  test("a one-sided untracked Allow (ingress only) does not carry a connection", async () => {
    await s.apply(docs(hep("eth0"), symmetric("ingress-only", "TCP", 8443, { egress: false }), symmetric("ingress-only-udp", "UDP", 6000, { egress: false })));
    const counters = () => Promise.all([s.packets("gnp/ingress-only/ingress/0", { family: "netdev" }), s.packets("gnp/ingress-only-udp/ingress/0", { family: "netdev" })]);
    const before = await counters();
    await s.expectReach([...tcp("client", "host", 8443, false), ...both("client", "udp", "host", 6000, false)]);
    // The SYNs and the datagrams were allowed in (one each per family: the probes give up before
    // TCP retransmits); the SYN-ACKs and the echoes found no egress allow.
    expect((await counters()).map((n, i) => n - before[i]!)).toEqual([2, 2]);
  });

  test("an untracked Allow skips the pre-DNAT and normal stages (their Deny rules never see the packet)", async () => {
    await s.apply(
      docs(
        hep("eth0"),
        symmetric("untracked-tcp", "TCP", 8443),
        gnp("prednat-deny", `  preDNAT: true
  applyOnForward: true
  types: [Ingress]
  ingress:
  - action: Deny
    protocol: TCP
    destination:
      ports: [8443, 8080]`),
        gnp("normal-deny", `  types: [Ingress, Egress]
  ingress:
  - action: Deny
    protocol: TCP
  egress:
  - action: Deny
    protocol: TCP`),
      ),
    );
    const [pre0, norm0] = [await s.packets("gnp/prednat-deny/ingress/0"), await s.packets("gnp/normal-deny/ingress/0")];
    await s.expectReach([...tcp("client", "host", 8443, true), ...tcp("client", "host", 8080, false), ...tcp("client", "host", 9000, false)]);
    expect((await s.packets("gnp/prednat-deny/ingress/0")) - pre0).toBe(2); // only the 8080 SYNs
    expect((await s.packets("gnp/normal-deny/ingress/0")) - norm0).toBe(2); // only the 9000 SYNs
  });

  test("an untracked Deny drops before a later Allow, ingress and egress", async () => {
    await s.apply(
      docs(
        hep("eth0", { profiles: ["projectcalico-default-allow"] }),
        gnp("untracked-deny", `  doNotTrack: true
  applyOnForward: true
  types: [Ingress, Egress]
  ingress:
  - action: Deny
    protocol: TCP
    source:
      nets: ["192.0.2.66/32"]
  - action: Deny
    protocol: TCP
    source:
      nets: ["2001:db8:2::66/128"]
  egress:
  - action: Deny
    protocol: TCP
    destination:
      ports: [8081]`),
        gnp("allow-all", `  types: [Ingress, Egress]
  ingress:
  - action: Allow
  egress:
  - action: Allow`),
      ),
    );
    await s.expectReach([
      ...tcp("attacker", "host", 8080, false),
      ...tcp("client", "host", 8080, true),
      ...tcp("attacker", "backend", 8080, false), // untracked ingress rules also see forwarded traffic
      ...tcp("client", "backend", 8080, true),
      ...tcp("host", "client", 8081, false),
      ...tcp("host", "client", 8080, true),
    ]);
  });

  test("untracked egress rules govern the host's own traffic, not forwarded traffic (§3.2)", async () => {
    await s.apply(
      docs(
        hep("eth1", { profiles: ["projectcalico-default-allow"] }),
        gnp("raw-egress-deny", `  doNotTrack: true
  applyOnForward: true
  types: [Egress]
  egress:
  - action: Deny
    protocol: TCP
    destination:
      ports: [8080]`),
      ),
    );
    await s.expectReach([
      ...tcp("host", "backend", 8080, false), // local, out of eth1: untracked egress Deny
      ...tcp("host", "backend", 80, true),
      ...tcp("client", "backend", 8080, true), // forwarded out of eth1: untracked egress not used
    ]);
  });

  test("failsafe ports are accepted before untracked policy, in both directions (§3.5)", async () => {
    await s.apply(
      docs(
        hep("eth0", { profiles: ["projectcalico-default-allow"] }),
        gnp("untracked-deny-all", `  doNotTrack: true
  applyOnForward: true
  types: [Ingress, Egress]
  ingress:
  - action: Deny
  egress:
  - action: Deny`),
      ),
    );
    await s.expectReach([
      ...tcp("client", "host", 22, true), // inbound failsafe; the reply leaves with source port 22
      ...tcp("host", "client", 179, true), // outbound failsafe; the reply comes in with source port 179
      ...tcp("client", "host", 8080, false),
      ...tcp("host", "client", 8080, false),
    ]);
  });

  test("an untracked or pre-DNAT Allow skips the ingress forward stage, but the egress side (the outgoing endpoint) is still evaluated (§3.3)", async () => {
    const config = (egressDeny: boolean) =>
      docs(
        hep("eth0", { labels: { side: "lan" } }),
        hep("eth1", { labels: { side: "back" } }),
        gnp("raw-in-lan", `  doNotTrack: true
  applyOnForward: true
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    destination:
      ports: [8080]`, "side == 'lan'"),
        gnp("raw-in-back", `  doNotTrack: true
  applyOnForward: true
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source:
      ports: [8080]`, "side == 'back'"),
        gnp("prednat-in-lan", `  preDNAT: true
  applyOnForward: true
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    destination:
      ports: [8081]`, "side == 'lan'"),
        gnp("fwd-deny-all-in-lan", `  applyOnForward: true
  types: [Ingress]
  ingress:
  - action: Deny`, "side == 'lan'"),
        ...(egressDeny
          ? [gnp("fwd-out-back", `  applyOnForward: true
  types: [Egress]
  egress:
  - action: Deny
    protocol: TCP
    destination:
      ports: [8080, 8081]
  - action: Allow`, "side == 'back'")]
          : []),
      );
    await s.apply(config(false));
    await s.expectReach([
      ...tcp("client", "backend", 8080, true), // untracked Allow: forward ingress Deny skipped
      ...tcp("client", "backend", 8081, true), // pre-DNAT Allow: forward ingress Deny skipped
      ...tcp("client", "backend", 80, false), // neither: the forward ingress Deny
    ]);
    await s.apply(config(true));
    await s.expectReach([...tcp("client", "backend", 8080, false), ...tcp("client", "backend", 8081, false), ...tcp("client", "backend", 80, false)]);
  });

  test("pre-DNAT Deny of a port drops local and forwarded traffic that a normal policy would allow", async () => {
    await s.apply(
      docs(
        hep("eth0", { profiles: ["projectcalico-default-allow"] }),
        gnp("prednat-deny-8080", `  preDNAT: true
  applyOnForward: true
  types: [Ingress]
  ingress:
  - action: Deny
    protocol: TCP
    destination:
      ports: [8080]`),
        gnp("allow-all", `  applyOnForward: true
  types: [Ingress]
  ingress:
  - action: Allow`),
      ),
    );
    const d0 = await s.packets("gnp/prednat-deny-8080/ingress/0");
    await s.expectReach([
      ...tcp("client", "host", 8080, false),
      ...tcp("client", "backend", 8080, false),
      ...tcp("client", "host", 80, true),
      ...tcp("client", "backend", 80, true),
      ...tcp("backend", "client", 8080, true), // enters through eth1: not this endpoint's ingress
    ]);
    expect((await s.packets("gnp/prednat-deny-8080/ingress/0")) - d0).toBe(4);
  });

  test("with a real DNAT: pre-DNAT policy sees the node port, the forward stage the translated backend port", async () => {
    // Node ports on the host: 30080 → backend:8080, 30081 → backend:8081 (IPv4 and IPv6).
    const removeNodePorts = await loadNodePorts(s.lab, { 30080: 8080, 30081: 8081 });
    try {
      // Lesson: allow the client to one node port, deny every other node port before DNAT.
      await s.apply(
        docs(
          hep("eth0", { profiles: ["projectcalico-default-allow"] }),
          gnp("allow-client-nodeport", `  preDNAT: true
  applyOnForward: true
  order: 10
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source:
      nets: ["192.0.2.20/32"]
    destination:
      ports: [30080]
  - action: Allow
    protocol: TCP
    source:
      nets: ["2001:db8:2::20/128"]
    destination:
      ports: [30080]`),
          gnp("deny-nodeports", `  preDNAT: true
  applyOnForward: true
  order: 20
  types: [Ingress]
  ingress:
  - action: Deny
    protocol: TCP
    destination:
      ports: ["30000:32767"]
  - action: Deny
    protocol: TCP
    destination:
      ports: [8081]`),
        ),
      );
      await s.expectReach([
        ...tcp("client", "host", 30080, true),
        ...tcp("attacker", "host", 30080, false),
        ...tcp("client", "host", 30081, false),
        ...tcp("client", "backend", 8081, false), // direct, no DNAT: the pre-DNAT port rule matches
        ...tcp("client", "backend", 8080, true),
      ]);

      // The forward stage (applyOnForward normal policy) matches the translated destination.
      await s.apply(
        docs(
          hep("eth0", { profiles: ["projectcalico-default-allow"] }),
          gnp("deny-backend-8080", `  applyOnForward: true
  types: [Ingress]
  ingress:
  - action: Deny
    protocol: TCP
    destination:
      nets: ["198.51.100.20/32"]
      ports: [8080]
  - action: Deny
    protocol: TCP
    destination:
      nets: ["2001:db8:51::20/128"]
      ports: [8080]
  - action: Allow`),
          gnp("prednat-deny-8081", `  preDNAT: true
  applyOnForward: true
  types: [Ingress]
  ingress:
  - action: Deny
    protocol: TCP
    destination:
      ports: [8081]`),
        ),
      );
      await s.expectReach([
        ...tcp("client", "host", 30080, false), // DNAT'd to backend:8080, denied when forwarded
        ...tcp("client", "host", 30081, true), // pre-DNAT saw 30081, not 8081
        ...tcp("client", "backend", 8081, false),
        ...tcp("client", "backend", 80, true),
      ]);
    } finally {
      await removeNodePorts();
    }
  });
});
