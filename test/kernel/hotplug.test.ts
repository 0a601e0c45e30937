/**
 * Interfaces that come and go, with the real binary as the agent: a veth created after the
 * agent started, deleted, re-created and renamed. The HostEndpoint's untracked policy (a
 * netdev ingress chain, which needs its device) is enforced as soon as the interface exists,
 * and /status `active` follows. TCP 8080 is allowed by the normal-stage policy and denied by
 * the untracked one, so an 8080 probe that is dropped proves the netdev chain is attached.
 *
 *   host hw5 203.0.113.1/24 ── veth ── client hw5p 203.0.113.2/24   (created by the test)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { createLab, formatProbes, kernelTestGate, nftCounter, probeAll, runOk, startServers, sweepStaleLabs, type Lab, type ProbeSpec } from "./lab";
import { makeConfigDir, startAgent, waitFor, writeConfig, type AgentHandle } from "./agent-harness";

const TAG = `hw-hp-${process.pid.toString(36)}`;
const enabled = await kernelTestGate();
const HOST_ADDR = "203.0.113.1";

const CONFIG = `# Two HostEndpoints whose interfaces do not exist when the agent starts.
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: { name: hot, labels: { role: hot } }
spec: { node: jasper, interfaceName: hw5 }
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: { name: hot6, labels: { role: hot } }
spec: { node: jasper, interfaceName: hw6 }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: hot-untracked }
spec:
  selector: role == 'hot'
  doNotTrack: true
  applyOnForward: true
  types: [Ingress]
  ingress:
    - { action: Deny, protocol: TCP, destination: { ports: [8080] } }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: hot-allow }
spec:
  selector: role == 'hot'
  types: [Ingress, Egress]
  ingress:
    - { action: Allow, protocol: TCP, destination: { ports: [80, 8080] } }
  egress:
    - { action: Allow }
`;

describe.skipIf(!enabled)("interface hotplug", () => {
  let lab: Lab;
  let agent: AgentHandle;
  let configDir: string;

  beforeAll(async () => {
    await sweepStaleLabs("hw-hp-");
    lab = await createLab({ tag: TAG });
    await startServers(lab.host, { tcp: [22, 80, 8080, 9090], udp: [] });
    configDir = makeConfigDir();
    writeConfig(configDir, "hot.yaml", CONFIG);
    agent = startAgent(lab.host, { configDir });
    await waitFor("the first apply (/readyz 200)", async () => (await agent.get("/readyz"))?.status === 200);
  });

  afterAll(async () => {
    await lab?.destroy();
    if (configDir) rmSync(configDir, { recursive: true, force: true });
  });

  /** Both ends get fixed, distinct ifindexes so the kernel treats carrier changes as urgent (see lab.ts). */
  async function createLink(): Promise<void> {
    await runOk(["ip", "-n", lab.host.name, "link", "add", "hw5", "index", "50", "type", "veth", "peer", "name", "hw5p", "index", "51", "netns", lab.client.name]);
    await runOk(["ip", "-n", lab.client.name, "addr", "add", "203.0.113.2/24", "dev", "hw5p"]);
    await runOk(["ip", "-n", lab.client.name, "link", "set", "hw5p", "up"]);
    await runOk(["ip", "-n", lab.host.name, "addr", "add", `${HOST_ADDR}/24`, "dev", "hw5"]);
    await runOk(["ip", "-n", lab.host.name, "link", "set", "hw5", "up"]);
  }
  async function rename(from: string, to: string): Promise<void> {
    // A veth must be down to be renamed.
    await runOk(["ip", "-n", lab.host.name, "link", "set", from, "down"]);
    await runOk(["ip", "-n", lab.host.name, "link", "set", from, "name", to]);
    await runOk(["ip", "-n", lab.host.name, "link", "set", to, "up"]);
  }
  const endpoint = async (name: string) => ((await agent.status()).endpoints as any[]).find((e) => e.name === name);
  const active = (name: string, want: boolean) => waitFor(`${name} active=${want}`, async () => (await endpoint(name))?.active === want, 5000);
  const netdevChains = async () => (await runOk(["ip", "netns", "exec", lab.host.name, "nft", "list", "chains", "netdev"])).match(/chain ingress-\S+/g) ?? [];
  const tcp = (port: number): ProbeSpec => ({ from: lab.client, kind: "tcp", addr: HOST_ADDR, port });

  async function expectEnforced(iface: string): Promise<void> {
    const before = await nftCounter(lab.host, { family: "netdev", table: "hostwall", comment: "gnp/hot-untracked/ingress/0", chain: "gnp-hot-untracked-in" });
    const results = await probeAll([tcp(80), tcp(8080), tcp(9090), tcp(22)]);
    const got = results.map((r) => r.ok);
    expect(got.join() === [true, false, false, true].join() ? "" : formatProbes(results)).toBe("");
    const after = await nftCounter(lab.host, { family: "netdev", table: "hostwall", comment: "gnp/hot-untracked/ingress/0", chain: "gnp-hot-untracked-in" });
    expect(after.packets).toBeGreaterThan(before.packets); // dropped in the netdev hook of `iface`
    expect(await netdevChains()).toEqual([`chain ingress-${iface}`]);
  }

  test("a veth created after the agent started is enforced at once; status follows", async () => {
    expect([await endpoint("hot"), await endpoint("hot6")].map((e) => e.active)).toEqual([false, false]);
    expect(await netdevChains()).toEqual([]);
    const generation = (await agent.status()).generation;
    const started = performance.now();
    await createLink();
    await active("hot", true);
    const ms = performance.now() - started;
    console.log(`hw5 created → HostEndpoint active and its netdev chain applied in ${Math.round(ms)} ms`);
    expect(ms).toBeLessThan(3000);
    expect((await agent.status()).generation).toBeGreaterThan(generation);
    await expectEnforced("hw5");
    expect(agent.log()).toContain("interface hw5 appeared (index 50) (a HostEndpoint interface)");
  });

  test("deleted: the endpoint goes inactive and its netdev chain is removed", async () => {
    await runOk(["ip", "-n", lab.host.name, "link", "del", "hw5"]);
    await active("hot", false);
    await waitFor("the netdev chain gone", async () => (await netdevChains()).length === 0, 5000);
    expect(agent.log()).toContain("interface hw5 removed (index 50) (a HostEndpoint interface)");
  });

  test("re-created: enforced again", async () => {
    await createLink();
    await active("hot", true);
    await expectEnforced("hw5");
  });

  test("renamed: the other endpoint takes over; renamed back: the first again", async () => {
    await rename("hw5", "hw6");
    await active("hot", false);
    await active("hot6", true);
    await expectEnforced("hw6");
    expect(agent.log()).toContain("interface hw5 renamed to hw6 (index 50) (a HostEndpoint interface)");
    await rename("hw6", "hw5");
    await active("hot6", false);
    await active("hot", true);
    await expectEnforced("hw5");
    const status = await agent.status();
    expect(status.lastAttempt.ok).toBe(true);
    expect(status.linkMonitor).toMatchObject({ state: "running", restarts: 0 });
    expect(agent.log()).not.toMatch(/^<[0-3]>/m); // no errors
  });
});
