/**
 * The binary as users run it: exit codes, diagnostic lines, compile output, help. `run --once`
 * against the kernel lives in test/kernel; here the nft binary is replaced where it matters.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { RULES, runHostwall, tempConfigDirs } from "./support/cli.ts";

const configs = tempConfigDirs();
const hostwall = (args: string[], env: Record<string, string> = {}) => runHostwall(args, { env });
const configDir = (files: Record<string, string>, mode?: number) => configs.make(files, mode);

afterAll(() => configs.remove());

const BAD = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: allow-web
spec:
  ingress:
    - action: Allow
      protocol: TCP
      destination:
        ports: [80, 70000]
`;

describe("hostwall binary", () => {
  test("version", async () => {
    const r = await hostwall(["version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^hostwall \d+\.\d+\.\d+ \(commit [0-9a-f]+(-dirty)?, source [0-9a-f]{16}, bun \d+\.\d+\.\d+\)\nnft backend: (libnftables \(in-process[^\n]*\)|spawn \([^\n]+\))\n$/);
  });

  test("check accepts the example rules", async () => {
    const r = await hostwall(["check", "--config-dir", RULES, "--node", "jasper"]);
    expect(r.stderr).toContain("is valid: 4 resources, 1 endpoint(s) on node jasper");
    expect(r.code).toBe(0);
  });

  test("check prints one compiler-style line per problem and exits 1", async () => {
    const dir = configDir({ "web.yaml": BAD });
    const r = await hostwall(["check", "--config-dir", dir, "--node", "jasper"]);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n")[0]).toBe(`${dir}/web.yaml:10:21: error[INVALID_PORT]: port 70000 is out of range 1-65535 (GlobalNetworkPolicy/allow-web spec.ingress[0].destination.ports[1])`);
  });

  test("HOSTWALL_CONFIG_DIR and HOSTWALL_NODE are read", async () => {
    const r = await hostwall(["check"], { HOSTWALL_CONFIG_DIR: RULES, HOSTWALL_NODE: "jasper" });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("on node jasper");
  });

  test("a group-writable config file is refused", async () => {
    const dir = configDir({ "a.yaml": "" }, 0o664);
    const r = await hostwall(["check", "--config-dir", dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("error[INSECURE_PERMISSIONS]");
  });

  test("compile prints the script; --all-interfaces includes netdev chains of absent interfaces", async () => {
    const r = await hostwall(["compile", "--config-dir", RULES, "--node", "jasper", "--all-interfaces"]);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith("table netdev hostwall {}\ndelete table netdev hostwall\n")).toBe(true);
    expect(r.stdout).toContain('type filter hook ingress device "eth0" priority -500; policy accept;');
    const other = await hostwall(["compile", "--config-dir", RULES, "--node", "not-jasper"]);
    expect(other.stdout).not.toContain("chain ingress-");
  });

  test("run --once: 1 on an invalid config, 2 when nft refuses", async () => {
    const bad = await hostwall(["run", "--once", "--config-dir", configDir({ "web.yaml": BAD }), "--listen", "off"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("INVALID_PORT");
    const refused = await hostwall(["run", "--once", "--config-dir", RULES, "--node", "jasper", "--nft", "/bin/false"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("kernel rejected the ruleset");
  });

  test("usage errors exit 2 with a message; --help exits 0", async () => {
    expect((await hostwall(["frobnicate"])).code).toBe(2);
    const r = await hostwall(["check", "--confg-dir", "x"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown flag --confg-dir");
    const listen = await hostwall(["run", "--listen", "nowhere"]);
    expect(listen.code).toBe(2);
    for (const cmd of ["run", "check", "compile", "plan", "status", "reload", "flush", "version"]) {
      const help = await hostwall([cmd, "--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`usage: hostwall ${cmd}`);
    }
  });

  test("status and reload say when the agent is unreachable", async () => {
    const r = await hostwall(["status", "--api", "http://127.0.0.1:9"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("hostwall: cannot reach the agent: http://127.0.0.1:9: connection refused");
  });
});
