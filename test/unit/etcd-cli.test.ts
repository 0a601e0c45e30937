/**
 * The datastore flags and variables (src/cli/datastore-args.ts), and the binary's apply/get
 * against a real etcd on loopback with username/password authentication (#15).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { UsageError } from "../../src/cli/args.ts";
import { datastoreFromFlags } from "../../src/cli/datastore-args.ts";
import { EtcdClient } from "../../src/datastore/client.ts";
import { DatastoreSync } from "../../src/datastore/sync.ts";
import { BINARY } from "../support/binary.ts";
import { ETCD, startEtcd, type Etcd } from "../support/etcd.ts";

describe("--datastore and calicoctl's ETCD_* variables", () => {
  const usage = (flags: Record<string, string | true>, env: Record<string, string> = {}) => {
    try {
      datastoreFromFlags(flags, env);
    } catch (e) {
      expect(e).toBeInstanceOf(UsageError);
      return (e as Error).message;
    }
    throw new Error("no usage error");
  };
  test("file is the default; etcdv3 from the flag, HOSTWALL_DATASTORE or DATASTORE_TYPE", () => {
    expect(datastoreFromFlags({}, {})).toEqual({ type: "file" });
    expect(datastoreFromFlags({}, { HOSTWALL_DATASTORE: "etcdv3" })).toEqual({ type: "etcdv3", config: { endpoints: ["http://127.0.0.1:2379"] } });
    expect(datastoreFromFlags({}, { DATASTORE_TYPE: "etcdv3", ETCD_ENDPOINTS: "http://a:1, https://b:2/" })).toEqual({ type: "etcdv3", config: { endpoints: ["http://a:1", "https://b:2"] } });
    // The flag wins over the variable.
    expect(datastoreFromFlags({ datastore: "etcdv3", "etcd-endpoints": "http://c:3" }, { ETCD_ENDPOINTS: "http://a:1" })).toEqual({ type: "etcdv3", config: { endpoints: ["http://c:3"] } });
    expect(datastoreFromFlags({ datastore: "etcdv3", "etcd-username": "u" }, { ETCD_PASSWORD: "p" })).toEqual({ type: "etcdv3", config: { endpoints: ["http://127.0.0.1:2379"], username: "u", password: "p" } });
  });
  test("refused: an unknown datastore, a URL that is not a client URL, half a certificate, a password alone, etcd flags with files", () => {
    expect(usage({ datastore: "kubernetes" })).toContain("--datastore must be file or etcdv3");
    expect(usage({ datastore: "etcdv3", "etcd-endpoints": "127.0.0.1:2379" })).toContain('"127.0.0.1:2379" is not an http:// or https:// URL');
    expect(usage({ datastore: "etcdv3", "etcd-endpoints": "http://a:1/v3/kv" })).toContain("is not an http:// or https:// URL");
    expect(usage({ datastore: "etcdv3", "etcd-endpoints": "http://user:pw@a:1" })).toContain("is not an http:// or https:// URL");
    expect(usage({ datastore: "etcdv3" }, { ETCD_CERT_FILE: "/x" })).toContain("needs both ETCD_CERT_FILE and ETCD_KEY_FILE");
    expect(usage({ datastore: "etcdv3" }, { ETCD_PASSWORD: "p" })).toContain("ETCD_PASSWORD needs ETCD_USERNAME");
    expect(usage({ "etcd-endpoints": "http://a:1" })).toContain("--etcd-endpoints needs --datastore etcdv3");
    expect(usage({ datastore: "etcdv3" }, { ETCD_CA_CERT_FILE: "/nonexistent/ca.pem" })).toContain("ETCD_CA_CERT_FILE /nonexistent/ca.pem: cannot read");
  });
});

describe.skipIf(!existsSync(ETCD))("hostwall apply/get with etcd username and password", () => {
  let etcd: Etcd;
  beforeAll(async () => {
    etcd = await startEtcd();
    await etcd.ctl(["user", "add", "root", "--new-user-password", "s3cret"]);
    await etcd.ctl(["auth", "enable"]);
  });
  afterAll(async () => {
    await etcd?.destroy();
  });
  const hw = async (args: string[], env: Record<string, string>, stdin?: string) => {
    const p = Bun.spawn([BINARY, ...args], { env: { PATH: process.env.PATH ?? "", ETCD_ENDPOINTS: etcd.endpoint, ...env }, stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { out, err, code };
  };
  const tier = "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: security\nspec:\n  order: 100\n";

  test("a wrong password is refused naming the endpoint and the user; the right one writes", async () => {
    const bad = await hw(["apply", "-f", "-"], { ETCD_USERNAME: "root", ETCD_PASSWORD: "wrong" }, tier);
    expect(bad.code).toBe(1);
    expect(bad.err).toStartWith(`hostwall: etcd ${etcd.endpoint}: authentication as root failed: `);
    expect(bad.err).toContain("invalid user ID or password");
    const none = await hw(["get", "tier"], {});
    expect(none.code).toBe(1);
    expect(none.err).toStartWith(`hostwall: etcd ${etcd.endpoint}: `);
    const ok = await hw(["apply", "-f", "-"], { ETCD_USERNAME: "root", ETCD_PASSWORD: "s3cret" }, tier);
    expect(ok.err).toBe("");
    expect(ok.out).toBe("Successfully applied 1 'Tier' resource(s)\n");
    const got = await hw(["get", "tiers", "--etcd-username", "root", "--etcd-password", "s3cret"], {});
    expect(got.out).toBe("NAME\ndefault\nkube-admin\nkube-baseline\nsecurity\n");
  });

  test("a policy in a tier that does not exist is refused; its tier in the same apply is enough", async () => {
    const env = { ETCD_USERNAME: "root", ETCD_PASSWORD: "s3cret" };
    const gnp = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: p1\nspec:\n  tier: ops\n  selector: all()\n";
    const refused = await hw(["apply", "-f", "-"], env, gnp);
    expect(refused.code).toBe(1);
    // The validator's own check, beside what etcd holds, at the field's position.
    expect(refused.err).toBe('<stdin>:6:9: error[UNKNOWN_TIER]: tier "ops" is not defined; add a Tier resource or remove spec.tier (GlobalNetworkPolicy/p1 spec.tier)\nhostwall: 1 error; nothing was written\n');
    const both = await hw(["apply", "-f", "-"], env, `${tier.replace("security", "ops")}---\n${gnp}`);
    expect(both.code).toBe(0);
    // Stored as <tier>.<name>, read back under the name given, in its tier.
    expect(await etcd.ctl(["get", "/calico/resources/v3/projectcalico.org/globalnetworkpolicies/ops.p1", "--keys-only"], { env: { ETCDCTL_USER: "root:s3cret" } })).toContain("ops.p1");
    const got = JSON.parse((await hw(["get", "gnp", "p1", "-o", "json"], env)).out);
    expect(got.metadata.name).toBe("p1");
    expect(got.metadata.labels).toEqual({ "projectcalico.org/tier": "ops" });
    expect(got.metadata.annotations).toBeUndefined();
  });

  test("the agent's copy lists and watches with a token", async () => {
    const sync = new DatastoreSync({ client: new EtcdClient({ endpoints: [etcd.endpoint], username: "root", password: "s3cret" }), onChange: () => undefined, log: () => undefined, now: () => new Date(), healthMs: 0 });
    await sync.start();
    expect(sync.status().connected).toBe(true);
    await etcd.ctl(["put", "/calico/resources/v3/projectcalico.org/hostendpoints/h9", "{}"], { env: { ETCDCTL_USER: "root:s3cret" } });
    const deadline = Date.now() + 5000;
    while (!sync.readConfig().files.some((f) => f.path.endsWith("/h9")) && Date.now() < deadline) await Bun.sleep(20);
    expect(sync.readConfig().files.map((f) => f.path)).toContain("/calico/resources/v3/projectcalico.org/hostendpoints/h9");
    await sync.stop();
    const wrong = new DatastoreSync({ client: new EtcdClient({ endpoints: [etcd.endpoint], username: "root", password: "nope" }), onChange: () => undefined, log: () => undefined, now: () => new Date(), healthMs: 0 });
    await wrong.start();
    expect(wrong.status().connected).toBe(false);
    expect(wrong.status().lastError).toStartWith(`etcd ${etcd.endpoint}: authentication as root failed: `);
    await wrong.stop();
  });

  test("plan --datastore etcdv3 --node X: any node's plan from etcd", async () => {
    const env = { ETCD_USERNAME: "root", ETCD_PASSWORD: "s3cret" };
    const hep = (n: number) => `apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata:\n  name: hep-n${n}\n  labels:\n    role: web\nspec:\n  node: n${n}\n  interfaceName: eth${n}\n`;
    const gnp = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: web\nspec:\n  selector: role == 'web'\n  ingress:\n    - action: Allow\n";
    // The {} the copy test wrote is not a resource: plan would say so, with its key.
    const broken = await hw(["plan", "--datastore", "etcdv3", "--node", "n1"], env);
    expect(broken.err).toContain("/calico/resources/v3/projectcalico.org/hostendpoints/h9:1:1: error[MISSING_FIELD]");
    await etcd.ctl(["del", "/calico/resources/v3/projectcalico.org/hostendpoints/h9"], { env: { ETCDCTL_USER: "root:s3cret" } });
    expect((await hw(["apply", "-f", "-"], env, `${hep(1)}---\n${hep(2)}---\n${gnp}`)).code).toBe(0);
    for (const n of [1, 2]) {
      const plan = await hw(["plan", "--datastore", "etcdv3", "--node", `n${n}`, "--json"], env);
      expect(plan.err).toBe("");
      expect(plan.code).toBe(0);
      const doc = JSON.parse(plan.out);
      expect(doc.endpoints.map((e: any) => [e.name, e.interface, e.policies.ingress.normal])).toEqual([[`hep-n${n}`, `eth${n}`, ["p1", "web"]]]); // p1: tier ops, all(), from the test before
    }
    const down = await hw(["plan", "--datastore", "etcdv3", "--etcd-endpoints", "http://127.0.0.1:1", "--node", "n1"], env);
    expect(down.code).toBe(1);
    expect(down.err).toContain("error[DATASTORE_UNREACHABLE]");
  });
});
