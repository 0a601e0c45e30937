/**
 * Fleet mode over TLS (#15): etcd serving https with client-certificate authentication, a CA
 * and certificates made here with openssl; the agent and the CLI with calicoctl's
 * ETCD_CA_CERT_FILE / ETCD_CERT_FILE / ETCD_KEY_FILE (as flags and as variables). A wrong CA
 * or a missing client certificate is an error naming the endpoint; an agent that starts
 * unable to reach etcd keeps the ruleset the kernel holds.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expectProbes, kernelTestGate, startServers, sweepStaleLabs, type ProbeSpec } from "./lab";
import { waitFor } from "./agent-harness";
import { createFleet, ETCD_ADDR, fleetHostEndpoints, fleetWebPolicy, type Fleet } from "./etcd-fleet";
import { ETCD, makeCerts } from "../support/etcd.ts";

const TAG = `hw-et-${process.pid.toString(36)}`;
const enabled = (await kernelTestGate()) && existsSync(ETCD);

const resources = `${fleetHostEndpoints(1)[0]}---\n${fleetWebPolicy("allow-web", [8080])}`;

describe.skipIf(!enabled)("fleet on etcd v3 over TLS", () => {
  let fleet: Fleet;
  let dir: string;
  let other: string;
  let certs: Awaited<ReturnType<typeof makeCerts>>;
  const probe = (port: number): ProbeSpec => ({ from: fleet.etcdNs, kind: "tcp", addr: fleet.hosts[0]!.addr, port });
  const tlsEnv = () => ({ ETCD_CA_CERT_FILE: certs.ca, ETCD_CERT_FILE: certs.client.cert, ETCD_KEY_FILE: certs.client.key });

  beforeAll(async () => {
    await sweepStaleLabs("hw-et-");
    dir = mkdtempSync(join(tmpdir(), "hostwall-tls-"));
    other = mkdtempSync(join(tmpdir(), "hostwall-tls-other-"));
    certs = await makeCerts(dir, { serverIps: [ETCD_ADDR, "127.0.0.1"] });
    fleet = await createFleet({ tag: TAG, hosts: 1, tls: { cert: certs.server.cert, key: certs.server.key, ca: certs.ca, clientCertAuth: true } });
    await startServers(fleet.hosts[0]!.ns, { tcp: [8080, 8081], udp: [] });
  }, 60_000);

  afterAll(async () => {
    await fleet?.destroy();
    for (const d of [dir, other]) if (d) rmSync(d, { recursive: true, force: true });
  });

  test("the CLI writes and the agent enforces over TLS with client certificates", async () => {
    expect(fleet.endpoint).toBe(`https://${ETCD_ADDR}:2379`);
    const r = await fleet.cli(["apply", "-f", "-"], { stdin: resources, env: tlsEnv() });
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const agent = fleet.startAgent(0, ["--etcd-ca-cert-file", certs.ca, "--etcd-cert-file", certs.client.cert, "--etcd-key-file", certs.client.key]);
    await waitFor("the agent's apply over TLS", async () => {
      const s = await agent.status().catch(() => undefined);
      return s?.datastore?.connected && s.endpoints?.[0]?.active;
    }, 20_000);
    await expectProbes([[probe(8080), true], [probe(8081), false]]);
    expect((await fleet.cli(["get", "hep", "-o", "json"], { env: tlsEnv() })).out).toContain('"name": "hep-0"');
  }, 60_000);

  test("a wrong CA or no client certificate: an error that names the endpoint", async () => {
    const wrong = await makeCerts(other, { serverIps: [ETCD_ADDR] });
    const badCa = await fleet.cli(["get", "hep"], { env: { ...tlsEnv(), ETCD_CA_CERT_FILE: wrong.ca } });
    expect(badCa.code).toBe(1);
    expect(badCa.err).toStartWith(`hostwall: etcd ${fleet.endpoint}: `);
    expect(badCa.err.toLowerCase()).toMatch(/certificate|cert/);
    const noClient = await fleet.cli(["get", "hep"], { env: { ETCD_CA_CERT_FILE: certs.ca } });
    expect(noClient.code).toBe(1);
    expect(noClient.err).toStartWith(`hostwall: etcd ${fleet.endpoint}: `);
    const missingFile = await fleet.cli(["get", "hep"], { env: { ...tlsEnv(), ETCD_CA_CERT_FILE: join(other, "nope.pem") } });
    expect(missingFile.code).toBe(2);
    expect(missingFile.err).toContain(`ETCD_CA_CERT_FILE ${join(other, "nope.pem")}: cannot read`);
  }, 60_000);

  test("an agent that starts with a wrong CA reports it and keeps the ruleset the kernel holds", async () => {
    const h = fleet.hosts[0]!;
    const before = await h.agent!.status();
    await h.agent!.proc.stop();
    const wrong = join(other, "ca.pem");
    const agent = fleet.startAgent(0, ["--etcd-ca-cert-file", wrong, "--etcd-cert-file", certs.client.cert, "--etcd-key-file", certs.client.key]);
    const s = await waitFor("the agent's status", () => agent.status().catch(() => undefined), 20_000);
    expect(s.datastore.connected).toBe(false);
    expect(s.datastore.lastError).toStartWith(`etcd ${fleet.endpoint}: `);
    expect(s.lastAttempt.ok).toBe(false);
    expect(s.lastAttempt.diagnostics.map((d: any) => d.code)).toEqual(["DATASTORE_UNREACHABLE"]);
    expect(s.boot.action).toBe("kept-kernel");
    expect(s.inKernel.generation).toBe(before.generation);
    await expectProbes([[probe(8080), true], [probe(8081), false]]);
  }, 60_000);
});
