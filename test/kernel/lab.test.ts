/**
 * Tests of the kernel-test lab itself, with plain nft (no hostwall binary): the topology
 * answers every probe, a netdev ingress drop in the host namespace stops exactly the
 * attacker, counters and the kernel log show it, fragments pass, and teardown leaves
 * no namespace behind. Skips with the reason when the machine cannot run kernel tests.
 */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  createLab,
  createNs,
  enableNetnsLogging,
  formatProbes,
  kernelTestGate,
  kmsgCursor,
  listNs,
  loadNft,
  nftCounter,
  ping,
  probeAll,
  probeTcp,
  probeUdp,
  readKernelLog,
  runOk,
  startServers,
  sweepStaleLabs,
  type Lab,
  type Ns,
  type ProbeSpec,
} from "./lab";

const runKernelTests = await kernelTestGate();

const TAG_PREFIX = "hw-lt-";
const TAG = `${TAG_PREFIX}${process.pid.toString(36)}`;
const TCP = [22, 8080];
const UDP = [53, 7777];

/** Every probe kind, both families, to every server port of the host. */
function probesTo(from: Ns, host: { v4: string; v6: string }): ProbeSpec[] {
  return [host.v4, host.v6].flatMap((addr) => [
    ...TCP.map((port): ProbeSpec => ({ from, kind: "tcp", addr, port })),
    ...UDP.map((port): ProbeSpec => ({ from, kind: "udp", addr, port })),
    { from, kind: "ping", addr } satisfies ProbeSpec,
  ]);
}

const GUARD = (lab: Lab) => `
table netdev hwlab {
  chain ingress {
    type filter hook ingress device "eth0" priority -500; policy accept;
    ip saddr ${lab.addr.client.v4} counter comment "seen-client-v4"
    ip6 saddr ${lab.addr.client.v6} counter comment "seen-client-v6"
    ip saddr ${lab.addr.attacker.v4} log prefix "${lab.tag}-atk: " level info
    ip saddr ${lab.addr.attacker.v4} counter drop comment "drop-attacker-v4"
    ip6 saddr ${lab.addr.attacker.v6} counter drop comment "drop-attacker-v6"
  }
}
`;

describe.skipIf(!runKernelTests)("network-namespace lab", () => {
  let lab: Lab | undefined;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    await sweepStaleLabs(TAG_PREFIX); // labs of crashed earlier runs; live runs are kept
    const t0 = performance.now();
    lab = await createLab({ tag: TAG, withBackend: true });
    timings.createLabMs = performance.now() - t0;
    await startServers(lab.host, { tcp: TCP, udp: UDP });
    timings.createLabAndServersMs = performance.now() - t0;
  }, 30_000);

  afterAll(async () => {
    await lab?.destroy();
    console.log("lab timings (ms):", Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v * 10) / 10])));
  }, 30_000);

  test("every probe from client and attacker to host is answered without a firewall", async () => {
    const l = lab!;
    let t = performance.now();
    expect(await probeTcp(l.client, l.addr.host.v4, 22)).toBe(true);
    timings.firstProbeIncludingProberStartMs = performance.now() - t;
    t = performance.now();
    expect(await probeTcp(l.client, l.addr.host.v4, 22)).toBe(true);
    timings.passingTcpProbeMs = performance.now() - t;
    t = performance.now();
    expect(await ping(l.client, l.addr.host.v6)).toBe(true);
    timings.passingPingMs = performance.now() - t;

    t = performance.now();
    const results = await probeAll([...probesTo(l.client, l.addr.host), ...probesTo(l.attacker, l.addr.host)]);
    timings.probeAll20ConcurrentMs = performance.now() - t;
    expect(results.length).toBe(20);
    expect(results.filter((r) => !r.ok).map((r) => formatProbes([r]))).toEqual([]);
  });

  test("a probe without a reply is false: closed TCP port, UDP port without server", async () => {
    const l = lab!;
    const t = performance.now();
    const [tcpClosed, udpClosed, tcpClosed6] = await probeAll([
      { from: l.client, kind: "tcp", addr: l.addr.host.v4, port: 9 },
      { from: l.client, kind: "udp", addr: l.addr.host.v4, port: 9, timeoutMs: 500 },
      { from: l.client, kind: "tcp", addr: l.addr.host.v6, port: 9 },
    ]);
    timings.refusedAndTimedOutProbesMs = performance.now() - t;
    expect(tcpClosed).toMatchObject({ ok: false });
    expect(tcpClosed6).toMatchObject({ ok: false });
    expect(tcpClosed!.ms).toBeLessThan(500); // RST: refused at once, not a timeout
    expect(udpClosed).toMatchObject({ ok: false, detail: "timeout" });
  });

  test("a TCP probe needs the whole exchange: dropping the client's packets after its SYN, its data, or the server's greeting fails it; a UDP probe needs the echo", async () => {
    const l = lab!;
    const { client, host } = l.addr;
    const specs: ProbeSpec[] = [host.v4, host.v6].flatMap((addr): ProbeSpec[] => [
      { from: l.client, kind: "tcp", addr, port: 22 },
      { from: l.client, kind: "udp", addr, port: 7777 },
    ]);
    // A netdev table `hwprobe` in `ns` that counts what reaches it and drops `drop`.
    const table = (rules: string[]) => `table netdev hwprobe {
  chain ingress {
    type filter hook ingress device "eth0" priority -500; policy accept;
${rules.map((r) => `    ${r}\n`).join("")}  }
}
`;
    // In the host: the client's SYNs and datagrams that arrived (the handshake started, the request came).
    const seen = [
      `ip saddr ${client.v4} tcp dport 22 tcp flags & (syn | ack) == syn counter comment "syn"`,
      `ip6 saddr ${client.v6} tcp dport 22 tcp flags & (syn | ack) == syn counter comment "syn"`,
      `ip saddr ${client.v4} udp dport 7777 counter comment "udp-in"`,
      `ip6 saddr ${client.v6} udp dport 7777 counter comment "udp-in"`,
    ];
    const fromClient = (match: string) => [`ip saddr ${client.v4} ${match} counter drop comment "drop"`, `ip6 saddr ${client.v6} ${match} counter drop comment "drop"`];
    const steps: Array<{ what: string; host: string[]; client?: string[] }> = [
      { what: "control, nothing dropped", host: seen },
      // The SYN and the SYN-ACK pass; the handshake's ACK and every later packet of the client is dropped.
      { what: "the client's ACK and data dropped", host: [...seen, ...fromClient("tcp dport 22 tcp flags & (syn | ack) == ack")] },
      { what: "the client's data dropped", host: [...seen, ...fromClient("tcp dport 22 tcp flags & psh == psh")] },
      { what: "the greeting and the UDP echo dropped", host: seen, client: ['tcp sport 22 tcp flags & psh == psh counter drop comment "drop"', 'udp sport 7777 counter drop comment "drop"'] },
    ];
    const got: string[] = [];
    for (const step of steps) {
      await loadNft(l.host, table(step.host));
      try {
        if (step.client) await loadNft(l.client, table(step.client));
        const results = await probeAll(specs);
        const count = async (ns: Ns, comment: string) => (await nftCounter(ns, { family: "netdev", table: "hwprobe", comment })).packets;
        const dropped = step.what.startsWith("control") ? 0 : await count(step.client ? l.client : l.host, "drop");
        const outcomes = results.map((r) => `${r.kind}${r.addr.includes(":") ? 6 : 4} ${r.ok ? "ok" : r.detail}`).join(", ");
        got.push(`${step.what}: ${outcomes}; SYNs ${await count(l.host, "syn")}, datagrams ${await count(l.host, "udp-in")}, drops ${dropped > 0 ? "counted" : "none"}`);
      } finally {
        await l.host.exec(["nft", "delete", "table", "netdev", "hwprobe"]);
        if (step.client) await l.client.exec(["nft", "delete", "table", "netdev", "hwprobe"]);
      }
    }
    // Every step: exactly one SYN per TCP probe and one datagram per UDP probe reached the host.
    const noGreeting = "timeout: connected, no greeting";
    const noEcho = "timeout: greeted, echo incomplete (0/N bytes)";
    expect(got.join("\n").replace(/\(0\/\d+ bytes\)/g, "(0/N bytes)")).toBe(
      [
        "control, nothing dropped: tcp4 ok, udp4 ok, tcp6 ok, udp6 ok; SYNs 2, datagrams 2, drops none",
        `the client's ACK and data dropped: tcp4 ${noGreeting}, udp4 ok, tcp6 ${noGreeting}, udp6 ok; SYNs 2, datagrams 2, drops counted`,
        `the client's data dropped: tcp4 ${noEcho}, udp4 ok, tcp6 ${noEcho}, udp6 ok; SYNs 2, datagrams 2, drops counted`,
        `the greeting and the UDP echo dropped: tcp4 ${noGreeting}, udp4 timeout, tcp6 ${noGreeting}, udp6 timeout; SYNs 2, datagrams 2, drops counted`,
      ].join("\n"),
    );
  });

  test("backend is reachable from host and, through host forwarding, from client", async () => {
    const l = lab!;
    const b = l.addr.backend;
    const results = await probeAll([
      { from: l.host, kind: "ping", addr: b.v4 },
      { from: l.host, kind: "ping", addr: b.v6 },
      { from: l.client, kind: "ping", addr: b.v4 },
      { from: l.client, kind: "ping", addr: b.v6 },
    ]);
    expect(results.filter((r) => !r.ok).map((r) => formatProbes([r]))).toEqual([]);
  });

  test("netdev ingress drop in host stops the attacker only, counts and logs it", async () => {
    const l = lab!;
    const restoreLogging = enableNetnsLogging();
    try {
      await loadNft(l.host, GUARD(l));
      const since = kmsgCursor();
      const seen = { family: "netdev", table: "hwlab" } as const;
      const before = await nftCounter(l.host, { ...seen, comment: "drop-attacker-v4" });
      expect(before.packets).toBe(0);

      const t = performance.now();
      const [attacker, client] = await Promise.all([
        probeAll(probesTo(l.attacker, l.addr.host)),
        probeAll(probesTo(l.client, l.addr.host)),
      ]);
      timings.droppedProbesConcurrentMs = performance.now() - t;
      // Dropped, not refused: every attacker probe ran into its timeout.
      expect(attacker.filter((r) => r.ok || r.detail !== "timeout").map((r) => formatProbes([r]))).toEqual([]);
      expect(client.filter((r) => !r.ok).map((r) => formatProbes([r]))).toEqual([]);

      // Per family: 2 TCP SYNs, 2 UDP datagrams and 1 echo request; the probes give up before
      // TCP's first SYN retransmission (probe.ts), so nothing more.
      const dropped4 = await nftCounter(l.host, { ...seen, comment: "drop-attacker-v4" });
      const dropped6 = await nftCounter(l.host, { ...seen, comment: "drop-attacker-v6" });
      expect([dropped4.packets, dropped6.packets]).toEqual([5, 5]);
      // The chain is attached: client traffic went through it and was not dropped.
      expect((await nftCounter(l.host, { ...seen, comment: "seen-client-v4" })).packets).toBeGreaterThanOrEqual(5);
      expect((await nftCounter(l.host, { ...seen, comment: "seen-client-v6" })).packets).toBeGreaterThanOrEqual(5);

      const logged = await readKernelLog({ since, match: `${l.tag}-atk: IN=eth0`, count: 5 });
      expect(logged.length).toBeGreaterThanOrEqual(5);
      expect(logged[0]!.message).toContain(`SRC=${l.addr.attacker.v4} DST=${l.addr.host.v4}`);
      expect(logged[0]!.level).toBe(6);
    } finally {
      restoreLogging();
      await l.host.exec(["nft", "delete", "table", "netdev", "hwlab"]);
    }
    expect(await ping(l.attacker, l.addr.host.v4)).toBe(true);
  });

  test("a 4000-byte UDP datagram travels as fragments and is echoed whole", async () => {
    const l = lab!;
    const t = performance.now();
    expect(await probeUdp(l.client, l.addr.host.v4, 7777, { size: 4000 })).toBe(true);
    timings.fragmentedUdpProbeMs = performance.now() - t;
    expect(await probeUdp(l.client, l.addr.host.v6, 7777, { size: 4000 })).toBe(true);

    // Proof that these really are fragments: drop non-first fragments and the big probe
    // fails while a small one still passes.
    await loadNft(
      l.host,
      `table netdev hwfrag {
  chain ingress {
    type filter hook ingress device "eth0" priority -500; policy accept;
    ip frag-off & 0x1fff != 0 counter drop comment "frag4"
    ip6 nexthdr ipv6-frag counter drop comment "frag6"
  }
}
`,
    );
    try {
      const [big4, big6, small4, small6] = await probeAll([
        { from: l.client, kind: "udp", addr: l.addr.host.v4, port: 7777, size: 4000, timeoutMs: 500 },
        { from: l.client, kind: "udp", addr: l.addr.host.v6, port: 7777, size: 4000, timeoutMs: 500 },
        { from: l.client, kind: "udp", addr: l.addr.host.v4, port: 7777, size: 1000 },
        { from: l.client, kind: "udp", addr: l.addr.host.v6, port: 7777, size: 1000 },
      ]);
      expect([big4!.ok, big6!.ok, small4!.ok, small6!.ok]).toEqual([false, false, true, true]);
      // 4000 B over a 1500 MTU: 3 fragments, of which 2 are non-first (IPv6: all 3 carry the header).
      expect((await nftCounter(l.host, { family: "netdev", table: "hwfrag", comment: "frag4" })).packets).toBe(2);
      expect((await nftCounter(l.host, { family: "netdev", table: "hwfrag", comment: "frag6" })).packets).toBe(3);
    } finally {
      await l.host.exec(["nft", "delete", "table", "netdev", "hwfrag"]);
    }
  });

  test("sweepStaleLabs removes namespaces of dead owners and keeps live labs", async () => {
    const stale = await createNs(`${TAG}-stale`);
    // Pretend its owner is a process that no longer exists (pid 1 with another start time).
    await runOk(["ip", "-n", stale.name, "link", "set", "dev", "lo", "alias", "hostwall-lab owner=1:0"]);
    const swept = await sweepStaleLabs(TAG_PREFIX);
    expect(swept).toContain(stale.name);
    const names = await listNs();
    expect(names).not.toContain(stale.name);
    expect(names).toContain(`${TAG}-host`);
  }, 15_000);

  test("a lab without backend, with overridden addresses; addresses outside TEST-NETs are refused", async () => {
    await expect(createLab({ tag: `${TAG}-bad`, addresses: { client: { v4: "10.0.0.20" } } })).rejects.toThrow(
      /outside the documentation ranges/,
    );
    await expect(createLab({ tag: `${TAG}-bad`, addresses: { host: { v4: "203.0.113.10" } } })).rejects.toThrow(
      /must share one \/24 and one \/64/,
    );
    const small = await createLab({
      tag: `${TAG}-2`,
      addresses: {
        host: { v4: "203.0.113.10" },
        client: { v4: "203.0.113.21", v6: "2001:db8:2:0:0::21" },
        attacker: { v4: "203.0.113.66" },
      },
    });
    try {
      expect(small.backend).toBeUndefined();
      expect(small.addr.client).toEqual({ v4: "203.0.113.21", v6: "2001:db8:2:0:0::21" });
      expect(small.addr.attacker).toEqual({ v4: "203.0.113.66", v6: "2001:db8:2::66" });
      const links = JSON.parse((await small.host.exec(["ip", "-j", "link", "show"])).stdout) as Array<{ ifname: string }>;
      expect(links.map((l) => l.ifname).sort()).toEqual(["eth0", "lo"]);
      expect((await small.host.exec(["sysctl", "-n", "net.ipv4.ip_forward"])).stdout.trim()).toBe("0");
      const results = await probeAll([
        { from: small.client, kind: "ping", addr: "203.0.113.10" },
        { from: small.client, kind: "ping", addr: small.addr.host.v6 },
        { from: small.attacker, kind: "ping", addr: "203.0.113.10" },
        { from: small.host, kind: "ping", addr: "2001:db8:2::21" },
      ]);
      expect(results.filter((r) => !r.ok).map((r) => formatProbes([r]))).toEqual([]);
    } finally {
      await small.destroy();
    }
    expect((await listNs()).filter((n) => n.startsWith(`${TAG}-2-`) || n.startsWith(`${TAG}-bad-`))).toEqual([]);
  }, 15_000);

  test("destroy removes every namespace of the lab", async () => {
    const l = lab!;
    const t = performance.now();
    await l.destroy();
    timings.destroyMs = performance.now() - t;
    lab = undefined;
    expect((await listNs()).filter((n) => n.startsWith(TAG))).toEqual([]);
  }, 15_000);
});
