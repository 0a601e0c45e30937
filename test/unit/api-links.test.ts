/**
 * Live interfaces: parsing `ip -o monitor link` lines, turning them into changes by ifindex,
 * restarting the monitor with backoff, and the service re-applying when a HostEndpoint's
 * interface appears, disappears, is renamed or is re-created (a fake monitor and a fake kernel).
 */
import { describe, expect, test } from "bun:test";
import { LinkTable, monitorLinks, parseAddressLine, parseLinkLine, type LineProcess } from "../../src/agent/links.ts";
import { type Cidr } from "../../src/model/cidr.ts";
import { parseCidr } from "../../src/model/cidr-parse.ts";
import { startService } from "../../src/service.ts";
import { fakeAgent } from "./api-fakes.ts";

// Lines as `ip -o monitor link` (iproute2 6.1) printed them for a veth pair created, brought
// up, renamed and deleted.
const LINES = {
  created: "3: hwa@hwb: <BROADCAST,MULTICAST,M-DOWN> mtu 1500 qdisc noop state DOWN group default \\    link/ether aa:fd:17:4e:ca:17 brd ff:ff:ff:ff:ff:ff",
  up: "3: hwa@hwb: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default \\    link/ether aa:fd:17:4e:ca:17 brd ff:ff:ff:ff:ff:ff",
  renamed: "3: hwc@hwb: <BROADCAST,MULTICAST> mtu 1500 qdisc noqueue state DOWN group default \\    link/ether aa:fd:17:4e:ca:17 brd ff:ff:ff:ff:ff:ff",
  deleted: "Deleted 3: hwc@NONE: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default \\    link/ether aa:fd:17:4e:ca:17 brd ff:ff:ff:ff:ff:ff",
  plain: "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00",
};
// Lines as `ip -o monitor link address` printed them for addresses added to a veth.
const ADDRESS = {
  v4: "3: a0    inet 192.0.2.5/24 scope global a0\\       valid_lft forever preferred_lft forever",
  v6: "3: a0    inet6 2001:db8::5/64 scope global tentative \\       valid_lft forever preferred_lft forever",
};

describe("link lines", () => {
  test("parse: index, name without @peer, UP flag, Deleted", () => {
    expect(parseLinkLine(LINES.created)).toEqual({ deleted: false, index: 3, name: "hwa", up: false });
    expect(parseLinkLine(LINES.up)).toEqual({ deleted: false, index: 3, name: "hwa", up: true });
    expect(parseLinkLine(LINES.renamed)).toEqual({ deleted: false, index: 3, name: "hwc", up: false });
    expect(parseLinkLine(LINES.deleted)).toEqual({ deleted: true, index: 3, name: "hwc", up: false });
    expect(parseLinkLine(LINES.plain)).toEqual({ deleted: false, index: 1, name: "lo", up: true });
    expect(parseLinkLine("")).toBeUndefined();
    expect(parseLinkLine("    link/ether aa:bb")).toBeUndefined();
    expect(parseLinkLine(ADDRESS.v4)).toBeUndefined();
  });

  test("address lines: added and deleted, IPv4 and IPv6; link lines are not address lines", () => {
    expect(parseAddressLine(ADDRESS.v4)).toEqual({ deleted: false, index: 3, name: "a0", address: "192.0.2.5/24" });
    expect(parseAddressLine(`Deleted ${ADDRESS.v4}`)).toEqual({ deleted: true, index: 3, name: "a0", address: "192.0.2.5/24" });
    expect(parseAddressLine(ADDRESS.v6)).toEqual({ deleted: false, index: 3, name: "a0", address: "2001:db8::5/64" });
    expect(parseAddressLine(LINES.created)).toBeUndefined();
    expect(parseAddressLine("")).toBeUndefined();
  });

  test("the table reports appeared, up, renamed, removed; seeding after a restart reports what was missed", () => {
    const t = new LinkTable();
    expect(t.seed([parseLinkLine(LINES.plain)!])).toEqual([]);
    const seq = [LINES.created, LINES.up, LINES.up, LINES.renamed, LINES.deleted].map((l) => t.update(parseLinkLine(l)!));
    expect(seq).toEqual([
      { kind: "appeared", name: "hwa", index: 3 },
      { kind: "up", name: "hwa", index: 3 },
      undefined, // nothing that matters changed
      { kind: "renamed", name: "hwc", from: "hwa", index: 3 },
      { kind: "removed", name: "hwc", index: 3 },
    ]);
    t.update(parseLinkLine(LINES.created)!);
    expect(t.seed([parseLinkLine(LINES.plain)!, { deleted: false, index: 4, name: "hwd", up: false }])).toEqual([
      { kind: "removed", name: "hwa", index: 3 },
      { kind: "appeared", name: "hwd", index: 4 },
    ]);
  });
});

/** A line source a test feeds by hand. */
function fakeProcess() {
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  let exit!: (code: number) => void;
  let done = false;
  const exited = new Promise<number>((r) => (exit = r));
  const proc: LineProcess & { emit(...lines: string[]): void; end(code: number): void } = {
    lines: (async function* () {
      for (;;) {
        while (queue.length) yield queue.shift()!;
        if (done) return;
        await new Promise<void>((r) => (wake = r));
      }
    })(),
    exited,
    kill: () => proc.end(143),
    emit(...lines) {
      queue.push(...lines);
      wake?.();
    },
    end(code) {
      done = true;
      wake?.();
      exit(code);
    },
  };
  return proc;
}

describe("link monitor", () => {
  test("restarts with exponential backoff and lists links after every start", async () => {
    const delays: number[] = [];
    let starts = 0;
    let listings = 0;
    const monitor = monitorLinks({
      start: () => {
        starts++;
        if (starts === 2) throw new Error("ip: not found");
        const p = fakeProcess();
        p.end(1);
        return p;
      },
      list: async () => [],
      onStart: () => listings++,
      onEvent: () => {},
      onExit: (_m, retryMs) => delays.push(retryMs),
      backoffMs: 5,
      maxBackoffMs: 20,
    });
    const deadline = Date.now() + 5000;
    while (delays.length < 5 && Date.now() < deadline) await Bun.sleep(5);
    monitor.stop();
    expect(delays.slice(0, 5)).toEqual([5, 10, 20, 20, 20]);
    expect(listings).toBe(starts - 1); // the start that threw listed nothing
    expect(monitor.restarts).toBeGreaterThanOrEqual(5);
    expect(monitor.state).toBe("stopped");
  });
});

describe("the service and interfaces", () => {
  async function setup(f = fakeAgent({ interfaces: ["lo"] })) {
    await f.agent.reload("startup");
    let proc = fakeProcess();
    const service = await startService({
      agent: f.agent,
      logger: f.logger,
      api: { version: "t", node: "jasper", configDir: "/etc/hostwall" },
      listen: { kind: "off" },
      watchConfig: false,
      links: { start: () => (proc = fakeProcess()), list: async () => [{ deleted: false, index: 1, name: "lo", up: true }] },
      driftCheckMs: 0,
      linkDebounceMs: 20,
    });
    /**
     * The interface list changes, then the monitor reports it; waits until the agent reached
     * `generation` (bounded), then a little longer for anything that would follow.
     */
    const link = async (lines: string[], interfaces: string[], generation: number) => {
      f.state.interfaces = new Set(interfaces);
      proc.emit(...lines);
      const deadline = Date.now() + 3000;
      while ((f.agent.generation < generation || f.agent.busy) && Date.now() < deadline) await Bun.sleep(10);
      await Bun.sleep(80);
      await f.agent.idle();
    };
    return { ...f, service, link, proc: () => proc };
  }
  const eth0 = (index: number, flags = "BROADCAST,MULTICAST") => `${index}: eth0@if9: <${flags}> mtu 1500 qdisc noop state DOWN`;
  const named = (index: number, name: string) => `${index}: ${name}@if9: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN`;
  const netdevChain = (script?: string) => script?.includes('hook ingress device "eth0"') ?? false;

  test("appear, flap, disappear, re-create, rename: re-applied exactly when enforcement must change", async () => {
    const { agent, kernel, link, service, logger } = await setup();
    expect(agent.endpoints()[0]!.active).toBe(false);
    expect(netdevChain(kernel.applied[0])).toBe(false);

    await link([eth0(5)], ["lo", "eth0"], 2);
    expect([agent.generation, agent.lastAttempt?.reason, agent.endpoints()[0]!.active, netdevChain(kernel.applied.at(-1))]).toEqual([2, "interfaces changed", true, true]);

    await link([eth0(5, "BROADCAST,MULTICAST,UP,LOWER_UP"), eth0(5)], ["lo", "eth0"], 2); // flap: nothing to re-apply
    expect(agent.generation).toBe(2);

    await link([`Deleted ${eth0(5)}`], ["lo"], 3);
    expect([agent.generation, agent.endpoints()[0]!.active, netdevChain(kernel.applied.at(-1))]).toEqual([3, false, false]);

    await link([named(7, "eth9")], ["lo", "eth9"], 3); // another interface: not an endpoint's
    expect(agent.generation).toBe(3);

    await link([eth0(6)], ["lo", "eth0", "eth9"], 4);
    expect([agent.generation, netdevChain(kernel.applied.at(-1))]).toEqual([4, true]);

    // Deleted and re-created within one burst: the set looks unchanged, but old kernels lost the hook.
    await link([`Deleted ${eth0(6)}`, eth0(8)], ["lo", "eth0", "eth9"], 5);
    expect([agent.generation, agent.lastAttempt?.reason]).toEqual([5, "interface eth0 re-created"]);

    // Renamed away: the endpoint is inactive and its chain goes; renamed back: enforced again.
    await link([named(8, "eth1")], ["lo", "eth1", "eth9"], 6);
    expect([agent.generation, agent.endpoints()[0]!.active, netdevChain(kernel.applied.at(-1))]).toEqual([6, false, false]);
    await link([named(8, "eth0")], ["lo", "eth0", "eth9"], 7);
    expect([agent.generation, agent.endpoints()[0]!.active, netdevChain(kernel.applied.at(-1))]).toEqual([7, true, true]);

    expect(service.state()).toMatchObject({ interfaceChanges: 8, linkMonitor: { state: "running", restarts: 0 } });
    const logged = logger.lines.filter((l) => l.includes("interface "));
    expect(logged).toEqual([
      "info: interface eth0 appeared (index 5) (a HostEndpoint interface)",
      "info: interface eth0 is up (index 5) (a HostEndpoint interface)",
      "info: interface eth0 is down (index 5) (a HostEndpoint interface)",
      "info: interface eth0 removed (index 5) (a HostEndpoint interface)",
      "info: interface eth9 appeared (index 7)",
      "info: interface eth0 appeared (index 6) (a HostEndpoint interface)",
      "info: interface eth0 removed (index 6) (a HostEndpoint interface)",
      "info: interface eth0 appeared (index 8) (a HostEndpoint interface)",
      "info: applied generation 5 (interface eth0 re-created): no policy, endpoint or set entry changed; full replace (the runner takes whole tables only), " + kernel.applied[4]!.length + " bytes, 1000 ms",
      "info: interface eth0 renamed to eth1 (index 8) (a HostEndpoint interface)",
      "info: interface eth1 renamed to eth0 (index 8) (a HostEndpoint interface)",
    ]);
    await service.stop();
  });

  test("on a kernel that attaches netdev chains later, an absent interface has its chain already, and its coming and going re-applies nothing", async () => {
    const f = fakeAgent({ interfaces: ["lo"], netdevAbsentDevices: true });
    await f.agent.reload("startup");
    expect(netdevChain(f.kernel.applied[0])).toBe(true);
    expect(f.agent.endpoints()[0]!.active).toBe(false);
    f.state.interfaces = new Set(["lo", "eth0"]);
    expect([f.agent.interfacesChanged(), f.agent.endpoints()[0]!.active]).toEqual([false, true]);
    f.state.interfaces = new Set(["lo"]);
    expect([f.agent.interfacesChanged(), f.agent.endpoints()[0]!.active]).toEqual([false, false]);
    expect([f.agent.generation, f.kernel.applied.length]).toEqual([1, 1]);
  });

  test("an address moving to another interface re-binds an endpoint bound by expectedIPs", async () => {
    const hep = `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: { name: by-ip }
spec: { node: jasper, expectedIPs: [192.0.2.10] }
`;
    const f = fakeAgent({ files: [{ path: "/etc/hostwall/hep.yaml", text: hep }], interfaces: ["lo", "eth0", "eth1"] });
    const addr = (text: string) => (parseCidr(text, "strict") as { ok: true; cidr: Cidr }).cidr;
    f.state.addresses = new Map([["eth0", [addr("192.0.2.10")]], ["eth1", []]]);
    const { agent, link, service } = await setup(f);
    const bound = () => agent.endpoints().map((e) => `${e.name}@${e.interface}`);
    expect(bound()).toEqual(["by-ip@eth0"]);
    f.state.addresses = new Map([["eth0", []], ["eth1", [addr("192.0.2.10")]]]);
    const all = ["lo", "eth0", "eth1"];
    await link(["Deleted 2: eth0    inet 192.0.2.10/24 scope global eth0", "3: eth1    inet 192.0.2.10/24 scope global eth1"], all, 2);
    expect([agent.generation, agent.lastAttempt?.reason, bound()]).toEqual([2, "interfaces changed", ["by-ip@eth1"]]);
    await link(["3: eth1    inet6 2001:db8::5/64 scope global tentative"], all, 2); // an address no endpoint cares about
    expect(agent.generation).toBe(2);
    expect(service.state().linkMonitor?.addressEvents).toBe(3);
    await service.stop();
  });

  test("a monitor that dies is restarted, and the restart resyncs interfaces it missed", async () => {
    const { agent, service, proc, state } = await setup();
    state.interfaces = new Set(["lo", "eth0"]); // appeared while nobody was listening
    proc().end(1);
    const deadline = Date.now() + 3000;
    while (agent.generation < 2 && Date.now() < deadline) await Bun.sleep(20);
    await agent.idle();
    expect(agent.generation).toBe(2);
    expect(service.state().linkMonitor?.restarts).toBe(1);
    await service.stop();
    expect(service.state()).toMatchObject({ stopping: true, linkMonitor: { state: "stopped" } });
  });
});
