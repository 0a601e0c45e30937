/**
 * Compiler features the kernel makes real: fragmented datagrams judged by the untracked stage
 * after reassembly (reference/nftables.md §1.5), named ports (reference §4.3), the
 * `interfaceName: "*"` endpoint with loopback exempt (reference §10.2) and its packets' mark
 * bits cleared, `ipv6Support: false` leaving IPv6 untouched, and a Log rule whose
 * alternatives overlap (port 80 by number and by name) logging a packet once.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createLab, enableNetnsLogging, expectProbes, kernelTestGate, kmsgCursor, loadNft, nftCounter, readKernelLog, startServers, sweepStaleLabs, type Lab, type ProbeSpec } from "./lab";
import { makeConfigDir, startAgent, waitFor, type AgentHandle } from "./agent-harness";

const TAG = `hw-ft-${process.pid.toString(36)}`;
const enabled = await kernelTestGate();

const HEADER = "apiVersion: projectcalico.org/v3";
/** An untracked ingress policy for the host endpoint with one rule (flow-style YAML). */
const untrackedDeny = (name: string, ruleYaml: string) =>
  `${HEADER}\nkind: GlobalNetworkPolicy\nmetadata: {name: ${name}}\nspec:\n  selector: role == 'host'\n  doNotTrack: true\n  applyOnForward: true\n  types: [Ingress]\n  ingress:\n    - ${ruleYaml}\n`;
const hep = (spec: string) => `${HEADER}\nkind: HostEndpoint\nmetadata: {name: host, labels: {role: host}}\nspec:\n  node: jasper\n  expectedIPs: [192.0.2.10, "2001:db8:2::10"]\n${spec}`;

describe.skipIf(!enabled)("kernel features", () => {
  let lab: Lab;
  let agent: AgentHandle | undefined;
  const dirs: string[] = [];

  beforeAll(async () => {
    await sweepStaleLabs("hw-ft-");
    lab = await createLab({ tag: TAG });
    await startServers(lab.host, { tcp: [22, 80, 8080], udp: [5353, 5354] });
  });
  afterAll(async () => {
    await lab?.destroy();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** Runs a fresh agent with these files; the previous agent is stopped first. */
  async function useConfig(files: Record<string, string>): Promise<void> {
    if (agent) {
      agent.proc.kill("SIGTERM");
      await agent.proc.exited;
    }
    const dir = makeConfigDir();
    dirs.push(dir);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text, { mode: 0o644 });
    agent = startAgent(lab.host, { configDir: dir });
    const a = agent;
    await waitFor("apply", async () => {
      const s = await a.get("/status");
      if (!s) return undefined;
      const status = JSON.parse(s.body);
      if (status.lastAttempt?.ok === false) throw new Error(`config rejected: ${JSON.stringify(status.lastAttempt.diagnostics)}`);
      return status.generation >= 1;
    });
  }


  const to = (kind: ProbeSpec["kind"], family: 4 | 6, port?: number, size?: number): ProbeSpec => ({
    from: lab.client,
    kind,
    addr: family === 4 ? lab.addr.host.v4 : lab.addr.host.v6,
    port,
    size,
  });

  test("untracked allow by port lets fragmented datagrams through (judged after reassembly); untracked deny still drops", async () => {
    await useConfig({
      "hep.yaml": hep("  interfaceName: eth0\n  profiles: [projectcalico-default-allow]\n"),
      "untracked.yaml": `${HEADER}
kind: GlobalNetworkPolicy
metadata: {name: untracked}
spec:
  selector: role == 'host'
  doNotTrack: true
  applyOnForward: true
  types: [Ingress]
  ingress:
    - action: Allow
      protocol: ICMPv6
    - action: Allow
      protocol: UDP
      destination: {ports: [5354]}
    - action: Deny
`,
    });
    await expectProbes([
      [to("udp", 4, 5354, 4000), true],
      [to("udp", 6, 5354, 4000), true],
      [to("udp", 4, 5354), true],
      [to("udp", 4, 5353, 4000), false],
      [to("udp", 6, 5353, 4000), false],
      [to("udp", 4, 5353), false],
      [to("tcp", 4, 80), false],
      [to("tcp", 4, 22), true], // failsafe
    ]);
  });

  test("named ports match the (address, protocol, port) of endpoints that declare them; without a rule protocol only TCP (Felix)", async () => {
    await useConfig({
      "hep.yaml": hep("  interfaceName: eth0\n  ports:\n    - {name: web, protocol: TCP, port: 8080}\n    - {name: svc, protocol: UDP, port: 5353}\n"),
      "policy.yaml": `${HEADER}
kind: GlobalNetworkPolicy
metadata: {name: named}
spec:
  selector: role == 'host'
  ingress:
    - action: Allow
      destination: {ports: [web, svc]}
    - action: Allow
      protocol: UDP
      destination: {ports: [svc], notPorts: [5354]}
    - action: Allow
      protocol: ICMPv6
`,
    });
    await expectProbes([
      [to("tcp", 4, 8080), true],
      [to("tcp", 6, 8080), true],
      [to("udp", 4, 5353), true], // rule 1: protocol UDP
      [to("udp", 6, 5353), true],
      [to("tcp", 4, 80), false],
      [to("udp", 4, 5354), false],
      [to("udp", 6, 5354), false],
    ]);
  });

  test("ARP is never dropped by an IP policy, even an untracked deny-everything in the netdev hook", async () => {
    await useConfig({
      "hep.yaml": hep("  interfaceName: eth0\n"),
      "deny-all.yaml": untrackedDeny("deny-all", "{action: Deny}"),
    });
    expect((await lab.client.exec(["ip", "neigh", "flush", "dev", "eth0"])).code).toBe(0);
    expect((await lab.client.exec(["ip", "-4", "neigh", "show", lab.addr.host.v4])).stdout).not.toContain("lladdr");
    await expectProbes([[to("ping", 4), false]]); // IP is dropped...
    const neigh = await lab.client.exec(["ip", "-4", "neigh", "show", lab.addr.host.v4]);
    expect(neigh.stdout).toMatch(/lladdr [0-9a-f:]{17} (REACHABLE|STALE|DELAY|PROBE)/); // ...but ARP was answered
  });

  test('an interfaceName "*" endpoint governs eth0 but never loopback', async () => {
    await useConfig({
      "hep.yaml": hep('  interfaceName: "*"\n'),
      "policy.yaml": `${HEADER}
kind: GlobalNetworkPolicy
metadata: {name: web-only}
spec:
  selector: role == 'host'
  types: [Ingress, Egress]
  ingress:
    - action: Allow
      protocol: TCP
      destination: {ports: [80]}
    - action: Allow
      protocol: ICMPv6
  egress:
    - action: Allow
`,
    });
    const status = await agent!.status();
    expect(status.endpoints.map((e: any) => e.interface)).toEqual(["*"]);
    await expectProbes([
      [to("tcp", 4, 80), true],
      [to("tcp", 6, 80), true],
      [to("tcp", 4, 8080), false],
      [to("tcp", 6, 8080), false],
      [{ from: lab.host, kind: "tcp", addr: "127.0.0.1", port: 8080 }, true],
      [{ from: lab.host, kind: "tcp", addr: "::1", port: 8080 }, true],
    ]);
  });

  test('hostwall\'s mark bits set by someone else before prerouting do not pass for an untracked Allow on a "*" endpoint\'s interface', async () => {
    await useConfig({ "hep.yaml": hep('  interfaceName: "*"\n') }); // no policy, no profile: local traffic denied
    // Another netdev table (tc, a second firewall) marks everything from eth0 with 0x10000, hostwall's accept bit.
    await loadNft(lab.host, `table netdev hwmark {
  chain in {
    type filter hook ingress device "eth0" priority -600; policy accept;
    meta mark set meta mark | 0x00010000
  }
}
`);
    // An observation table around hostwall's raw-prerouting chain (priority -300): before it
    // the SYNs to 80 carry the bit, after it they go on without it.
    const observe = (after: string) => `table inet hwobs {
  chain before {
    type filter hook prerouting priority -350; policy accept;
    tcp dport 80 meta mark & 0x00010000 == 0x00010000 counter comment "marked-before"
  }
  chain after {
    type filter hook prerouting priority -250; policy accept;
    tcp dport 80 counter comment "seen-after"
    tcp dport 80 meta mark & 0x00010000 == 0x00010000 counter comment "marked-after"
${after}  }
}
`;
    const obs = async (comment: string) => (await nftCounter(lab.host, { family: "inet", table: "hwobs", comment })).packets;
    try {
      await loadNft(lab.host, observe(""));
      await expectProbes([
        [to("tcp", 4, 80), false],
        [to("tcp", 6, 80), false],
        [to("tcp", 4, 22), true], // failsafe
      ]);
      // One SYN per family (a dropped probe gives up before TCP retransmits): marked on arrival,
      // past hostwall's raw chain without the bit.
      expect([await obs("marked-before"), await obs("seen-after"), await obs("marked-after")]).toEqual([2, 2, 0]);

      // Control: the same bit set after hostwall's raw chain (as if it had not cleared it)
      // lets the same probes through: the drops above come from the clearing.
      await lab.host.exec(["nft", "delete", "table", "inet", "hwobs"]);
      await loadNft(lab.host, observe("    tcp dport 80 meta mark set meta mark | 0x00010000\n"));
      await expectProbes([
        [to("tcp", 4, 80), true],
        [to("tcp", 6, 80), true],
      ]);
      // Every packet of both connections is marked on arrival: per connection at least SYN, ACK
      // and the token, at most 7 (which ACKs ride on data depends on delayed-ACK timing).
      const marked = (await obs("marked-before")) - 2;
      expect(marked >= 6 && marked <= 14 ? "" : `${marked} marked packets`).toBe("");
    } finally {
      await lab.host.exec(["nft", "delete", "table", "netdev", "hwmark"]);
      await lab.host.exec(["nft", "delete", "table", "inet", "hwobs"]);
    }
  });

  test("a Log rule matching one packet through two alternatives (80 and the named port http) logs it once", async () => {
    const release = enableNetnsLogging();
    try {
      await useConfig({
        "hep.yaml": hep("  interfaceName: eth0\n  profiles: [projectcalico-default-allow]\n  ports: [{name: http, port: 80, protocol: TCP}]\n"),
        "felix.yaml": `${HEADER}\nkind: FelixConfiguration\nmetadata: {name: default}\nspec:\n  logPrefix: "${TAG} %n"\n`,
        "log.yaml": `${HEADER}
kind: GlobalNetworkPolicy
metadata: {name: log-web}
spec:
  selector: role == 'host'
  types: [Ingress]
  ingress:
    - {action: Log, protocol: TCP, destination: {ports: [80, http]}}
    - {action: Allow, protocol: TCP, destination: {ports: [80]}}
`,
      });
      const since = kmsgCursor();
      await expectProbes([[to("tcp", 4, 80), true], [to("tcp", 6, 80), true]]);
      const lines = await readKernelLog({ since, match: `${TAG} log-web: `, count: 3, timeoutMs: 1500 });
      // The kernel prints IPv6 sources in full: 2001:0db8:0002:0000:0000:0000:0000:0020.
      const sources = lines.map((r) => / SRC=(\S+) /.exec(r.message)?.[1] ?? "?");
      expect(sources.sort()).toEqual([lab.addr.client.v4, "2001:0db8:0002:0000:0000:0000:0000:0020"]);
    } finally {
      release();
    }
  });

  test("ipv6Support: false leaves IPv6 untouched, in the netdev hook and in every inet hook", async () => {
    await useConfig({
      "hep.yaml": hep("  interfaceName: eth0\n"),
      "felix.yaml": `${HEADER}\nkind: FelixConfiguration\nmetadata: {name: default}\nspec:\n  ipv6Support: false\n`,
      "deny.yaml": untrackedDeny("untracked-deny", "{action: Deny, protocol: TCP, destination: {ports: [8080]}}"),
    });
    await expectProbes([
      [to("tcp", 4, 8080), false], // untracked Deny
      [to("tcp", 4, 80), false], // no policy, no profile: denied in the normal stage
      [to("ping", 4), false],
      [to("tcp", 6, 8080), true],
      [to("tcp", 6, 80), true],
      [to("ping", 6), true],
      [to("udp", 6, 5353), true],
    ]);
  });
});
