/**
 * `hostwall plan` (text) and `hostwall flush` through the CLI layer (runCommand, as main.ts
 * calls it): the plan's exact text for endpoints on every stage, profiles (a missing one
 * included), `*` endpoints and what applies nowhere; the flush script nft is given and the
 * exit codes. The real flush against the kernel is in test/kernel/apply-kernel.test.ts.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "../../src/cli/args.ts";
import { runCommand } from "../../src/cli/commands.ts";
import { ENTRY, REPO, RULES, runHostwall, tempConfigDirs } from "../support/cli.ts";
import { fakeNftBinary, type FakeNftBinary } from "../support/fake-nft-bin.ts";

const PLAN_FIXTURES = join(REPO, "test/golden-plan");
const configs = tempConfigDirs("hw-plan-");
const fakes: FakeNftBinary[] = [];
afterAll(() => {
  configs.remove();
  for (const f of fakes) f.remove();
});

/** A config dir with the YAML files of these golden-plan fixture directories. */
function fixtureDir(...names: string[]): string {
  const files: Record<string, string> = {};
  for (const name of names) for (const f of readdirSync(join(PLAN_FIXTURES, name)).filter((x) => x.endsWith(".yaml"))) files[f] = readFileSync(join(PLAN_FIXTURES, name, f), "utf8");
  return configs.make(files);
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCommand(parseArgs(args), { out: (t) => void out.push(t), err: (t) => void err.push(t), env: {} });
  return { code, out: out.join(""), err: err.join("") };
}

describe("hostwall plan (text)", () => {
  test("one endpoint on every stage, profiles with a missing one, and what applies nowhere", async () => {
    const r = await cli(["plan", "--config-dir", fixtureDir("policies-and-profiles"), "--node", "jasper"]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`node jasper
HostEndpoint/web on eth0
  ingress untracked: security.deny-bad
  ingress preDNAT: nodeport
  ingress normal: security.pass-rest, allow-ssh-admins, a.b, a, forward-web
  ingress forward: forward-web
  egress normal: security.pass-rest, forward-web, egress-all
  egress forward: forward-web
  profiles: web-profile, no-such-profile, projectcalico-default-allow
GlobalNetworkPolicy/audit-db: its selector matches no HostEndpoint enforced on this node
GlobalNetworkPolicy/db-only: its selector matches no HostEndpoint enforced on this node
GlobalNetworkPolicy/pods-only: namespaceSelector or serviceAccountSelector is set, so it selects workloads only and never a host endpoint
GlobalNetworkSet/old-deny-list: no rule selector of a policy or profile applied on this node matches its labels
HostEndpoint/db: belongs to node mercury, not jasper
NetworkPolicy/production/allow-egress-external: a NetworkPolicy never applies to a host endpoint (its selector is limited to its namespace's workloads)
NetworkSet/production/partners: no rule selector of a policy or profile applied on this node matches its labels
Profile/no-such-profile: not defined, but HostEndpoint/web lists it: there it denies all traffic no policy allowed, and later profiles are never reached (as in Calico)
Profile/unused-profile: no HostEndpoint enforced on this node lists it
Tier/audit: no policy in it applies to a HostEndpoint enforced on this node
`);
    expect(r.err).toContain("warning[MISSING_PROFILE]");
  });

  test("several endpoints, sorted with * last; empty stages left out; no profile spelled out", async () => {
    const r = await cli(["plan", "--config-dir", fixtureDir("endpoints"), "--node", "jasper"]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`node jasper
HostEndpoint/a-eth0 on eth0
  egress normal: host-egress
  profiles: (none: local traffic not allowed by a policy is denied)
HostEndpoint/mgmt on eth1
  ingress normal: mgmt-ssh
  egress normal: host-egress
  profiles: projectcalico-default-allow
HostEndpoint/any-1 on *
  egress normal: host-egress
  profiles: (none: local traffic not allowed by a policy is denied)
HostEndpoint/any-2: only one interfaceName "*" endpoint is active per node, and HostEndpoint/any-1 sorts first
HostEndpoint/b-eth0: HostEndpoint/a-eth0 governs interface eth0 (the first by name wins)
HostEndpoint/by-address: bound by expectedIPs, and no interface here owns one of them (or an endpoint sorting first governs it); its expectedIPs still feed rule selectors
`);
  });

  test("a node with no endpoint says so and lists everything as not applied", async () => {
    const r = await cli(["plan", "--config-dir", RULES, "--node", "not-jasper"]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`node not-jasper
  no HostEndpoint of this node
GlobalNetworkPolicy/allow-host-services: no HostEndpoint is enforced on this node
GlobalNetworkPolicy/dos-mitigation: no HostEndpoint is enforced on this node
GlobalNetworkSet/dos-mitigation: no rule selector of a policy or profile applied on this node matches its labels
HostEndpoint/production-host: belongs to node jasper, not not-jasper
`);
  });

  test("an invalid config: exit 1, nothing on stdout", async () => {
    const r = await cli(["plan", "--config-dir", configs.make({ "a.yaml": "kind: Nope\n" }), "--node", "jasper"]);
    expect([r.code, r.out]).toEqual([1, ""]);
    expect(r.err).toContain("error[UNKNOWN_KIND]");
  });

  test("the same text from the program itself (src/main.ts), on stdout, exit 0", async () => {
    const r = await runHostwall(["plan", "--config-dir", RULES, "--node", "jasper"], { command: ENTRY });
    expect([r.code, r.stdout]).toEqual([0, (await cli(["plan", "--config-dir", RULES, "--node", "jasper"])).out]);
    expect(r.stdout.split("\n").slice(0, 2)).toEqual(["node jasper", "HostEndpoint/production-host on eth0"]);
  });
});

describe("hostwall flush", () => {
  test("gives nft exactly the script that deletes hostwall's two tables, in one transaction", async () => {
    const nft = fakeNftBinary(`echo "$@" >> "$LOG/args"\ncat >> "$LOG/stdin"`);
    fakes.push(nft);
    const r = await cli(["flush", "--nft", nft.path]);
    expect(r).toEqual({ code: 0, out: "", err: "hostwall: removed table netdev hostwall and table inet hostwall; nothing is enforced now\n" });
    expect(nft.read("args")).toBe("-f -\n"); // one nft run: one transaction
    expect(nft.read("stdin")).toBe("table netdev hostwall {}\ndelete table netdev hostwall\ntable inet hostwall {}\ndelete table inet hostwall\n");
  });

  test("nft refusing is exit 1 with nft's message", async () => {
    const nft = fakeNftBinary(`cat >/dev/null\necho "netlink: Error: cache initialization failed: Operation not permitted" >&2\nexit 1`);
    fakes.push(nft);
    expect(await cli(["flush", "--nft", nft.path])).toEqual({ code: 1, out: "", err: "hostwall: flush failed: netlink: Error: cache initialization failed: Operation not permitted\n" });
  });
});
