/**
 * Interfaces that come and go, with the real binary as the agent: a veth created after the
 * agent started, deleted, re-created and renamed. The HostEndpoint's untracked policy (a
 * netdev ingress chain, which needs its device) is enforced as soon as the interface exists,
 * and /status `active` follows. TCP 8080 is allowed by the normal-stage policy and denied by
 * the untracked one, so an 8080 probe that is dropped proves the netdev chain is attached.
 * An endpoint bound only by expectedIPs follows its address the same way (address
 * notifications, not the 30 s resync).
 *
 * Two kernel behaviours, asked of the agent's /status (`kernel.netdevAttachesLater`): before
 * 6.16 netdev chains exist only for present interfaces and the agent re-applies as they come
 * and go; from 6.16 every endpoint interface has its chain from the start, the kernel attaches
 * it when the device appears (checked with the agent frozen), and nothing is re-applied.
 *
 *   host hw5 203.0.113.1/24 ── veth ── client hw5p 203.0.113.2/24   (created by the test)
 *   host hw7 198.51.100.1/24 ── veth ── client hw7p 198.51.100.2/24  (address added later)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { createLab, expectProbes, kernelTestGate, nftCounter, runOk, startServers, sweepStaleLabs, type Lab, type ProbeSpec } from "./lab";
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
kind: HostEndpoint
metadata: { name: by-ip, labels: { role: hot } }
spec: { node: jasper, expectedIPs: [198.51.100.1] }
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
  /** The kernel attaches netdev chains to devices that appear later (6.16+). */
  let later = false;

  beforeAll(async () => {
    await sweepStaleLabs("hw-hp-");
    lab = await createLab({ tag: TAG });
    await startServers(lab.host, { tcp: [22, 80, 8080, 9090], udp: [] });
    configDir = makeConfigDir();
    writeConfig(configDir, "hot.yaml", CONFIG);
    agent = startAgent(lab.host, { configDir });
    await waitFor("the first apply (/readyz 200)", async () => (await agent.get("/readyz"))?.status === 200);
    later = (await agent.status()).kernel.netdevAttachesLater;
    console.log(`kernel attaches netdev chains to devices that appear later: ${later}`);
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
  /** The netdev chains there must be while the endpoint interfaces `present` exist. */
  const chainsFor = (present: string[]) => [...new Set([...(later ? ["hw5", "hw6"] : []), ...present])].sort().map((i) => `chain ingress-${i}`);

  async function expectEnforced(ifaces: string[], addr = HOST_ADDR): Promise<void> {
    const before = await nftCounter(lab.host, { family: "netdev", table: "hostwall", comment: "gnp/hot-untracked/ingress/0", chain: "gnp-hot-untracked-in" });
    await expectProbes([[{ ...tcp(80), addr }, true], [{ ...tcp(8080), addr }, false], [{ ...tcp(9090), addr }, false], [{ ...tcp(22), addr }, true]]);
    const after = await nftCounter(lab.host, { family: "netdev", table: "hostwall", comment: "gnp/hot-untracked/ingress/0", chain: "gnp-hot-untracked-in" });
    // The one SYN to 8080 (a dropped probe gives up before TCP retransmits), dropped in the netdev hook of `iface`.
    expect(after.packets - before.packets).toBe(1);
    expect([...(await netdevChains())].sort()).toEqual(chainsFor(ifaces));
  }

  test("a veth created after the agent started is enforced at once; status follows", async () => {
    expect([await endpoint("hot"), await endpoint("hot6")].map((e) => e.active)).toEqual([false, false]);
    expect([...(await netdevChains())].sort()).toEqual(chainsFor([]));
    const generation = (await agent.status()).generation;
    const started = performance.now();
    await createLink();
    await active("hot", true);
    const ms = performance.now() - started;
    console.log(`hw5 created → HostEndpoint active in ${Math.round(ms)} ms`);
    expect(ms).toBeLessThan(3000);
    await Bun.sleep(300); // a re-apply the link events would cause has happened by now
    const after = (await agent.status()).generation;
    if (later) expect(after).toBe(generation);
    else expect(after).toBeGreaterThan(generation);
    await expectEnforced(["hw5"]);
    expect(agent.log()).toContain("interface hw5 appeared (index 50) (a HostEndpoint interface)");
  });

  test("deleted: the endpoint goes inactive and its netdev chain is removed (kept, detached, from 6.16)", async () => {
    await runOk(["ip", "-n", lab.host.name, "link", "del", "hw5"]);
    await active("hot", false);
    const want = chainsFor([]).join();
    await waitFor(`netdev chains ${want}`, async () => [...(await netdevChains())].sort().join() === want, 5000);
    expect(agent.log()).toContain("interface hw5 removed (index 50) (a HostEndpoint interface)");
  });

  test("re-created: enforced again", async () => {
    await createLink();
    await active("hot", true);
    await expectEnforced(["hw5"]);
  });

  test("renamed: the other endpoint takes over; renamed back: the first again", async () => {
    await rename("hw5", "hw6");
    await active("hot", false);
    await active("hot6", true);
    await expectEnforced(["hw6"]);
    expect(agent.log()).toContain("interface hw5 renamed to hw6 (index 50) (a HostEndpoint interface)");
    await rename("hw6", "hw5");
    await active("hot6", false);
    await active("hot", true);
    await expectEnforced(["hw5"]);
    const status = await agent.status();
    expect(status.lastAttempt.ok).toBe(true);
    expect(status.linkMonitor).toMatchObject({ state: "running", restarts: 0 });
    expect(agent.log()).not.toMatch(/^<[0-3]>/m); // no errors
  });

  test("an endpoint bound by expectedIPs is enforced as soon as its address appears, and unbound when it goes", async () => {
    const ip = (...args: string[]) => runOk(["ip", "-n", lab.host.name, ...args]);
    await runOk(["ip", "-n", lab.host.name, "link", "add", "hw7", "index", "70", "type", "veth", "peer", "name", "hw7p", "index", "71", "netns", lab.client.name]);
    await runOk(["ip", "-n", lab.client.name, "addr", "add", "198.51.100.2/24", "dev", "hw7p"]);
    await runOk(["ip", "-n", lab.client.name, "link", "set", "hw7p", "up"]);
    await ip("link", "set", "hw7", "up");
    await Bun.sleep(300); // the link events of hw7 are handled: no interface has the address yet
    expect(await endpoint("by-ip")).toBeUndefined(); // unbound: in `plan`'s notApplied, not in /status

    const started = performance.now();
    await ip("addr", "add", "198.51.100.1/24", "dev", "hw7");
    await active("by-ip", true);
    const ms = performance.now() - started;
    console.log(`198.51.100.1 added to hw7 → the expectedIPs endpoint active in ${Math.round(ms)} ms`);
    expect(ms).toBeLessThan(5000); // the periodic resync alone would take up to 30 s
    expect((await endpoint("by-ip")).interface).toBe("hw7");
    await expectEnforced(["hw5", "hw7"], "198.51.100.1"); // dropped in hw7's own netdev chain
    await ip("addr", "del", "198.51.100.1/24", "dev", "hw7");
    await waitFor("by-ip unbound", async () => (await endpoint("by-ip")) === undefined, 5000);
    expect((await agent.status()).linkMonitor.addressEvents).toBeGreaterThan(0);
    await ip("link", "del", "hw7");
  });

  test("from 6.16: with the agent frozen, a deleted and re-created interface is policed by the kernel alone", async () => {
    if (!later) return console.log("skipped: this kernel needs the agent to re-apply (checked above)");
    const before = await nftCounter(lab.host, { family: "netdev", table: "hostwall", comment: "gnp/hot-untracked/ingress/0", chain: "gnp-hot-untracked-in" });
    agent.proc.kill("SIGSTOP");
    try {
      await runOk(["ip", "-n", lab.host.name, "link", "del", "hw5"]);
      await createLink();
      await expectProbes([[tcp(80), true], [tcp(8080), false]]);
    } finally {
      agent.proc.kill("SIGCONT");
    }
    const after = await nftCounter(lab.host, { family: "netdev", table: "hostwall", comment: "gnp/hot-untracked/ingress/0", chain: "gnp-hot-untracked-in" });
    expect(after.packets - before.packets).toBe(1); // the SYN to 8080, dropped in hw5's re-attached netdev chain
    await active("hot", true);
  });
});
