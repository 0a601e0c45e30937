/**
 * Fleet mode end to end (#15): a real etcd in its own namespace, three agents (the real
 * binary, `run --datastore etcdv3`) each in its own namespace with its own HostEndpoint, the
 * CLI writing as calicoctl does, real packets from the etcd namespace to every host.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { expectProbes, kernelTestGate, startServers, sweepStaleLabs, type ProbeSpec } from "./lab";
import { BINARY, waitFor } from "./agent-harness";
import { createFleet, fleetHostEndpoints, fleetWebPolicy, type Fleet } from "./etcd-fleet";
import { ETCD } from "../support/etcd.ts";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const TAG = `hw-ef-${process.pid.toString(36)}`;
const enabled = (await kernelTestGate()) && existsSync(ETCD);
const P = "/calico/resources/v3/projectcalico.org/";
const N = 3;

const heps = fleetHostEndpoints(N).join("---\n");
const policy = fleetWebPolicy;

describe.skipIf(!enabled)("fleet on etcd v3", () => {
  let fleet: Fleet;
  const probe = (i: number, port: number): ProbeSpec => ({ from: fleet.etcdNs, kind: "tcp", addr: fleet.hosts[i]!.addr, port });
  const everywhere = (port: number, open: boolean): Array<[ProbeSpec, boolean]> => fleet.hosts.map((_, i) => [probe(i, port), open]);
  const status = (i: number) => fleet.hosts[i]!.agent!.status();
  const allStatus = () => Promise.all(fleet.hosts.map((_, i) => status(i)));
  const generations = async () => (await allStatus()).map((s) => s.generation as number);
  /** Waits until every agent applied past `before` (a generation list). */
  const appliedPast = (before: number[], what: string) => waitFor(what, async () => (await generations()).every((g, i) => g > before[i]!), 15_000);

  beforeAll(async () => {
    await sweepStaleLabs("hw-ef-");
    fleet = await createFleet({ tag: TAG, hosts: N });
    for (const h of fleet.hosts) await startServers(h.ns, { tcp: [8080, 8081], udp: [] });
    for (let i = 0; i < N; i++) fleet.startAgent(i);
    await waitFor("every agent connected to etcd", async () => (await allStatus().catch(() => [])).length === N && (await allStatus()).every((s) => s.datastore?.connected === true), 20_000);
  }, 60_000);

  afterAll(async () => {
    await fleet?.destroy();
  });

  test("apply: one transaction, enforced on every agent; keys and values as Calico stores them", async () => {
    const before = await generations();
    const r = await fleet.cli(["apply", "-f", "-"], { stdin: `${heps}---\n${policy("allow-web", [8080])}` });
    expect(r.err).toBe("");
    expect(r.out).toBe("Successfully applied 3 'HostEndpoint' resource(s), 1 'GlobalNetworkPolicy' resource(s)\n");
    expect(r.code).toBe(0);
    await appliedPast(before, "the apply on every agent");
    for (const [i, s] of (await allStatus()).entries()) {
      expect(s.lastAttempt.ok).toBe(true);
      // The datastore is the source: /status names it, not the (unread) config dir.
      expect(s.configDir).toBeUndefined();
      expect(s.datastore).toEqual(expect.objectContaining({ type: "etcdv3", endpoints: [fleet.endpoint], connected: true }));
      expect(s.endpoints).toEqual([expect.objectContaining({ name: `hep-${i}`, interface: "eth0", active: true })]);
    }
    await expectProbes([...everywhere(8080, true), ...everywhere(8081, false)]);

    // The layout, read raw with etcdctl.
    const keys = (await fleet.etcd.ctl(["get", "/calico/", "--prefix", "--keys-only"])).split("\n").filter(Boolean);
    expect(keys).toEqual([
      `${P}clusterinformations/default`,
      `${P}globalnetworkpolicies/default.allow-web`,
      `${P}hostendpoints/hep-0`,
      `${P}hostendpoints/hep-1`,
      `${P}hostendpoints/hep-2`,
      `${P}tiers/default`,
      `${P}tiers/kube-admin`,
      `${P}tiers/kube-baseline`,
    ]);
    const raw = async (key: string) => (await fleet.etcd.ctl(["get", key, "--print-value-only"])).replace(/\n$/, "");
    const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    const TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
    const gnp = await raw(`${P}globalnetworkpolicies/default.allow-web`);
    const g = JSON.parse(gnp);
    expect(g.metadata.uid).toMatch(UUID);
    expect(g.metadata.creationTimestamp).toMatch(TS);
    expect(gnp).toBe(
      `{"kind":"GlobalNetworkPolicy","apiVersion":"projectcalico.org/v3","metadata":{"name":"default.allow-web","uid":"${g.metadata.uid}","creationTimestamp":"${g.metadata.creationTimestamp}","annotations":{"projectcalico.org/metadata":"{\\"name\\":\\"allow-web\\"}"}},` +
        `"spec":{"selector":"role == 'fleet'","ingress":[{"action":"Allow","protocol":"TCP","destination":{"ports":[8080]}}],"egress":[{"action":"Allow"}]}}`,
    );
    const hep = JSON.parse(await raw(`${P}hostendpoints/hep-1`));
    expect(await raw(`${P}hostendpoints/hep-1`)).toBe(`{"kind":"HostEndpoint","apiVersion":"projectcalico.org/v3","metadata":{"name":"hep-1","uid":"${hep.metadata.uid}","creationTimestamp":"${hep.metadata.creationTimestamp}","labels":{"role":"fleet"}},"spec":{"node":"node-1","interfaceName":"eth0"}}`);
    const tier = async (name: string) => JSON.parse(await raw(`${P}tiers/${name}`));
    expect((await tier("default")).spec).toEqual({ order: 1000000, defaultAction: "Deny" });
    expect((await tier("kube-admin")).spec).toEqual({ order: 1000, defaultAction: "Pass" });
    expect((await tier("kube-baseline")).spec).toEqual({ order: 10000000, defaultAction: "Pass" });
    const ci = JSON.parse(await raw(`${P}clusterinformations/default`));
    expect(ci.kind).toBe("ClusterInformation");
    expect(ci.spec.clusterGUID).toMatch(/^[0-9a-f]{32}$/);
    expect(ci.spec.datastoreReady).toBe(true);
    for (const v of [gnp, JSON.stringify(hep), JSON.stringify(ci)]) expect(v).not.toMatch(/resourceVersion|selfLink/);
  }, 60_000);

  test("a bad resource written raw with etcdctl is reported with its key; the rest stays in force", async () => {
    const key = `${P}globalnetworkpolicies/default.broken`;
    const before = await allStatus();
    await fleet.etcd.ctl(["put", key, `{"kind":"GlobalNetworkPolicy","apiVersion":"projectcalico.org/v3","metadata":{"name":"default.broken"},"spec":{"selector":"all(","ingress":[{"action":"Deny"}]}}`]);
    await waitFor("the rejection on every agent", async () => (await allStatus()).every((s) => s.lastAttempt.ok === false), 15_000);
    for (const [i, s] of (await allStatus()).entries()) {
      expect(s.generation).toBe(before[i]!.generation);
      const d = s.lastAttempt.diagnostics.filter((x: any) => x.severity === "error");
      expect(d).toEqual([expect.objectContaining({ code: "INVALID_SELECTOR", file: key, line: 1, resource: "GlobalNetworkPolicy/broken", path: "spec.selector" })]);
      expect(d[0].column).toBeGreaterThan(1);
    }
    await expectProbes([...everywhere(8080, true), ...everywhere(8081, false)]);
    await fleet.etcd.ctl(["del", key]);
    await waitFor("valid again", async () => (await allStatus()).every((s) => s.lastAttempt.ok === true), 15_000);
  }, 60_000);

  test("a stale resourceVersion is an update conflict and writes nothing; create of an existing resource fails", async () => {
    const got = await fleet.cli(["get", "gnp", "allow-web", "-o", "json"]);
    expect(got.code).toBe(0);
    const obj = JSON.parse(got.out);
    const rv = obj.metadata.resourceVersion as string;
    expect(obj.metadata.name).toBe("allow-web");
    expect(obj.metadata.labels).toEqual({ "projectcalico.org/tier": "default" });
    const modRev = async () => JSON.parse(await fleet.etcd.ctl(["get", `${P}globalnetworkpolicies/default.allow-web`, "-w", "json"])).kvs[0].mod_revision as number;
    expect(String(await modRev())).toBe(rv);
    obj.spec.order = 10;
    const first = await fleet.cli(["apply", "-f", "-"], { stdin: JSON.stringify(obj) });
    expect(first.code).toBe(0);
    const after = await modRev();
    expect(after).toBeGreaterThan(Number(rv));
    // The same resourceVersion again, beside a new resource: the whole apply is refused.
    obj.spec.order = 20;
    const stale = await fleet.cli(["apply", "-f", "-"], { stdin: `${JSON.stringify(obj)}\n---\n${policy("extra", [9000])}` });
    expect(stale.code).toBe(1);
    expect(stale.err).toContain(`GlobalNetworkPolicy(allow-web): update conflict: resourceVersion ${rv} is stale`);
    expect(await modRev()).toBe(after);
    expect(await fleet.etcd.ctl(["get", `${P}globalnetworkpolicies/default.extra`, "--keys-only"])).toBe("");
    const create = await fleet.cli(["create", "-f", "-"], { stdin: policy("allow-web", [8080]) });
    expect(create.code).toBe(1);
    expect(create.err).toContain("GlobalNetworkPolicy(allow-web)");
    expect(create.err).toContain("already exists");
  }, 60_000);

  test("delete: the policy is removed on every agent (the endpoints' default deny remains)", async () => {
    const before = await generations();
    const r = await fleet.cli(["delete", "globalnetworkpolicy", "allow-web"]);
    expect(r.out).toBe("Successfully deleted 1 'GlobalNetworkPolicy' resource(s)\n");
    expect(r.code).toBe(0);
    await appliedPast(before, "the delete on every agent");
    await expectProbes([...everywhere(8080, false), ...everywhere(8081, false)]);
    const again = await fleet.cli(["delete", "gnp", "allow-web"]);
    expect(again.code).toBe(1);
    expect(again.err).toContain("resource does not exist: GlobalNetworkPolicy(allow-web)");
    const back = await generations();
    expect((await fleet.cli(["apply", "-f", "-"], { stdin: policy("allow-web", [8080]) })).code).toBe(0);
    await appliedPast(back, "the policy back");
  }, 60_000);

  test("etcd stopped: every agent keeps its ruleset (fail static), says connected: false, and resyncs when etcd is back", async () => {
    await fleet.etcd.stop();
    await waitFor("connected: false everywhere", async () => (await allStatus()).every((s) => s.datastore.connected === false), 15_000);
    for (const s of await allStatus()) {
      expect(s.datastore.lastError).toContain(fleet.endpoint);
      expect(s.applied.source).toBe("config");
    }
    const text = await fleet.hosts[0]!.ns.exec([BINARY, "status", "--api", "127.0.0.1:9099"]);
    expect(text.stdout).toContain(`datastore etcdv3 ${fleet.endpoint}: UNREACHABLE since `);
    const metrics = await fleet.hosts[0]!.agent!.get("/metrics");
    expect(metrics?.body).toContain('hostwall_datastore_connected{type="etcdv3"} 0');
    // A reload meanwhile (SIGHUP, POST /reload, an interface change) builds from the copy
    // last read: nothing changes.
    const down = await generations();
    for (const h of fleet.hosts) {
      const attempt = await h.agent!.reload();
      expect(attempt.ok).toBe(true);
      expect(attempt.unchanged).toBe(true);
    }
    expect(await generations()).toEqual(down);
    await expectProbes([...everywhere(8080, true), ...everywhere(8081, false)]);
    await fleet.etcd.start();
    const before = await generations();
    expect((await fleet.cli(["apply", "-f", "-"], { stdin: policy("allow-web", [8080, 8081]) })).code).toBe(0);
    await appliedPast(before, "the change written after etcd's return on every agent");
    for (const [i, s] of (await allStatus()).entries()) {
      expect(s.datastore.connected).toBe(true);
      expect(s.endpoints).toEqual([expect.objectContaining({ name: `hep-${i}`, active: true })]);
    }
    await expectProbes([...everywhere(8080, true), ...everywhere(8081, true)]);
  }, 90_000);

  test("a watch that resumes from a compacted revision relists and applies what changed meanwhile", async () => {
    const a0 = fleet.hosts[0]!;
    const lists = (await status(0)).datastore.lists as number;
    // Cut agent 0 off etcd: new connections refused, its established ones killed.
    await fleet.etcdNs.exec(["nft", "-f", "-"], { stdin: `table inet hwtest {\n chain input {\n type filter hook input priority 0;\n ip saddr ${a0.addr} tcp dport 2379 reject with tcp reset\n }\n}\n` });
    expect((await fleet.etcdNs.exec(["ss", "-K", "dst", a0.addr])).code).toBe(0);
    await waitFor("agent 0 disconnected", async () => (await status(0)).datastore.connected === false, 10_000);
    const before = await generations();
    expect((await fleet.cli(["apply", "-f", "-"], { stdin: policy("allow-web", [8080]) })).code).toBe(0);
    // A key outside Calico's prefix moves the revision on, so the compaction covers the change
    // (a watch may start at the compacted revision itself, not before it).
    await fleet.etcd.ctl(["put", "/hostwall-test/filler", "x"]);
    const rev = JSON.parse(await fleet.etcd.ctl(["get", "/hostwall-test/filler", "-w", "json"])).header.revision as number;
    await fleet.etcd.ctl(["compact", String(rev)]);
    await fleet.etcdNs.exec(["nft", "delete", "table", "inet", "hwtest"]);
    await appliedPast(before, "the change on every agent, agent 0 after its relist");
    const s0 = await status(0);
    expect(s0.datastore.connected).toBe(true);
    expect(s0.datastore.lists).toBe(lists + 1);
    expect(a0.agent!.log()).toContain("required revision has been compacted");
    await expectProbes([...everywhere(8080, true), ...everywhere(8081, false)]);
  }, 60_000);

  test("an agent started (no hostwall table in the kernel) with its endpoint already in etcd gets the next change (its watch renewed after the first apply)", async () => {
    const h = fleet.hosts[1]!;
    await h.agent!.proc.stop();
    // As after a reboot: no hostwall table, so no ct rule, until the new agent's first apply.
    expect((await h.ns.exec([BINARY, "flush"])).code).toBe(0);
    const agent = fleet.startAgent(1);
    await waitFor("agent 1 back", async () => (await agent.status().catch(() => undefined))?.lastAttempt?.ok === true, 20_000);
    const before = await generations();
    expect((await fleet.cli(["apply", "-f", "-"], { stdin: policy("allow-web", [8080, 8081]) })).code).toBe(0);
    await appliedPast(before, "the change on every agent, the restarted one included");
    await expectProbes([...everywhere(8080, true), ...everywhere(8081, true)]);
  }, 60_000);

  test("an agent started while etcd is down keeps the kernel's ruleset, then applies what etcd holds once it answers", async () => {
    const h = fleet.hosts[2]!;
    await h.agent!.proc.stop();
    await fleet.etcd.stop();
    const agent = fleet.startAgent(2);
    const s = await waitFor("agent 2's status", () => agent.status().catch(() => undefined), 20_000);
    expect(s.datastore.connected).toBe(false);
    expect(s.lastAttempt.diagnostics.map((d: any) => d.code)).toEqual(["DATASTORE_UNREACHABLE"]);
    expect(s.boot.action).toBe("kept-kernel");
    // Still enforced from the kernel: 8081 open (the last change), anything else denied.
    await expectProbes([[probe(2, 8081), true], [probe(2, 9999), false]]);
    await fleet.etcd.start();
    // Applied, or (with a state dir, as under npm test: the kept tables are the saved last good,
    // so their hash is known) found to be what etcd holds already: nothing to send.
    await waitFor("agent 2 applying what etcd holds", async () => {
      const st = await agent.status();
      return st.datastore.connected && st.lastAttempt.ok && (st.applied?.source === "config" || (st.lastAttempt.unchanged === true && st.applied?.source === "kernel"));
    }, 30_000);
    expect((await agent.status()).lastAttempt.reason).toContain("datastore listed");
    expect(agent.log()).toContain("error[DATASTORE_UNREACHABLE]");
  }, 90_000);
  test("an agent restarted while etcd is down, after a reboot (no table in the kernel), enforces its last applied state from the state dir until etcd returns", async () => {
    const h = fleet.hosts[0]!;
    const stateDir = mkdtempSync(join(tmpdir(), "hostwall-ef-state-"));
    try {
      await h.agent!.proc.stop();
      const first = fleet.startAgent(0, ["--state-dir", stateDir]);
      await waitFor("agent 0 applied with a state dir", async () => (await first.status().catch(() => undefined))?.lastAttempt?.ok === true, 20_000);
      // The last state etcd gives it: 8080 only (what an open boot would not enforce).
      const before = (await first.status()).generation as number;
      expect((await fleet.cli(["apply", "-f", "-"], { stdin: policy("allow-web", [8080]) })).code).toBe(0);
      await waitFor("8080 only on agent 0", async () => (await first.status()).generation > before, 15_000);
      await expectProbes([[probe(0, 8080), true], [probe(0, 8081), false]]);
      await first.proc.stop();
      // A reboot: the kernel's tables are gone; etcd is down when the agent starts.
      expect((await h.ns.exec([BINARY, "flush"])).code).toBe(0);
      await expectProbes([[probe(0, 8081), true]]);
      await fleet.etcd.stop();
      const agent = fleet.startAgent(0, ["--state-dir", stateDir]);
      const s = await waitFor("agent 0's status", async () => {
        const st = await agent.status().catch(() => undefined);
        return st?.applied ? st : undefined;
      }, 20_000);
      expect(s.datastore.connected).toBe(false);
      expect(s.lastAttempt.diagnostics.map((d: any) => d.code)).toEqual(["DATASTORE_UNREACHABLE"]);
      expect(s.boot.action).toBe("last-good");
      expect(s.applied.source).toBe("last-good");
      // Enforced while etcd stays down, a reload included.
      await expectProbes([[probe(0, 8080), true], [probe(0, 8081), false]]);
      expect(await agent.reload().then(() => "applied", (e: Error) => e.message)).toContain("DATASTORE_UNREACHABLE");
      await expectProbes([[probe(0, 8080), true], [probe(0, 8081), false]]);
      await fleet.etcd.start();
      // etcd holds what the state dir had: read, valid, nothing to change.
      await waitFor("agent 0 reading etcd again", async () => {
        const st = await agent.status();
        return st.datastore.connected && st.lastAttempt.ok && st.lastAttempt.reason === "datastore listed";
      }, 30_000);
      expect((await agent.status()).lastAttempt.unchanged).toBe(true);
      await expectProbes([[probe(0, 8080), true], [probe(0, 8081), false]]);
      // And its watch carries the next change.
      const back = (await agent.status()).generation as number;
      expect((await fleet.cli(["apply", "-f", "-"], { stdin: policy("allow-web", [8080, 8081]) })).code).toBe(0);
      await waitFor("the next change on agent 0", async () => (await agent.status()).generation > back, 15_000);
      expect((await agent.status()).applied.source).toBe("config");
      await expectProbes([[probe(0, 8080), true], [probe(0, 8081), true]]);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  }, 120_000);
});
