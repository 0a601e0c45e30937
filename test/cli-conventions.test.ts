/**
 * CLI conventions (issue 11, items 3 and 11): help and version spellings, every command
 * refusing flags it does not take (exit 2, with the nearest flag), check on files, check --json
 * and check --strict. Through the CLI entry (the current source), as a user runs it.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ENTRY, RULES, runHostwall, tempConfigDirs } from "./support/cli.ts";

const dirs = tempConfigDirs("hw-conventions-");
afterAll(() => dirs.remove());
const hostwall = (args: string[]) => runHostwall(args, { command: ENTRY });

const POLICY = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: web}
spec:
  selector: role == 'web'
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [80]}}]
`;
const HEP = `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: h, labels: {role: web}}
spec: {node: jasper, interfaceName: eth0}
`;

describe("help and version", () => {
  test("hostwall help, help CMD, -h, CMD --help, -V and -v", async () => {
    const top = await hostwall(["help"]);
    expect([top.code, top.stdout]).toEqual([0, expect.stringContaining("usage: hostwall <command> [flags]")]);
    expect((await hostwall(["-h"])).stdout).toBe(top.stdout);
    const check = await hostwall(["help", "check"]);
    expect([check.code, check.stdout]).toEqual([0, expect.stringContaining("--strict")]);
    expect((await hostwall(["check", "--help"])).stdout).toBe(check.stdout);
    for (const flag of ["-V", "-v", "--version"]) expect((await hostwall([flag])).stdout).toMatch(/^hostwall \S+ \(commit \S+, source \S+, bun \S+\)\nnft backend: (libnftables|spawn)\b[^\n]*\n$/);
    const nope = await hostwall(["help", "chek"]);
    expect([nope.code, nope.stderr]).toEqual([2, 'hostwall: no help for "chek"; did you mean check?; see hostwall help\n']);
  });

  test("every flag a command takes is in its help", async () => {
    const { COMMAND_FLAGS } = await import("../src/cli/help.ts");
    for (const [command, flags] of Object.entries(COMMAND_FLAGS)) {
      const help = (await hostwall(["help", command])).stdout;
      for (const flag of flags) {
        // explain's packet flags are listed in pairs ("--sport, --dport").
        expect({ command, flag, listed: help.includes(`--${flag}`) }).toEqual({ command, flag, listed: true });
      }
    }
  }, 30_000); // one spawn of the binary per command (14), slow on a loaded 2-core machine
});

describe("flags a command does not take", () => {
  test.each([
    [["check", "--listen", "foo"], "hostwall: --listen is not a flag of hostwall check; see hostwall help check\n"],
    [["compile", "--json"], "hostwall: --json is not a flag of hostwall compile; see hostwall help compile\n"],
    [["status", "--node", "x"], "hostwall: --node is not a flag of hostwall status; see hostwall help status\n"],
    [["check", "--jsno"], "hostwall: unknown flag --jsno; did you mean --json?\n"],
    [["chek"], 'hostwall: unknown command "chek"; did you mean check?; see hostwall help\n'],
    [["plan", "extra"], 'hostwall: unexpected argument "extra"; see hostwall help plan\n'],
  ])("%j → exit 2", async (argv, message) => {
    const r = await hostwall(argv);
    expect([r.code, r.stderr, r.stdout]).toEqual([2, message, ""]);
  });
});

describe("check", () => {
  test("takes files and directories; each diagnostic names its file", async () => {
    const dir = dirs.make({ "a.yaml": HEP, "b.yaml": POLICY });
    const ok = await hostwall(["check", "--node", "jasper", join(dir, "a.yaml"), join(dir, "b.yaml")]);
    expect([ok.code, ok.stderr]).toEqual([0, `hostwall: ${join(dir, "a.yaml")}, ${join(dir, "b.yaml")} is valid: 2 resources, 1 endpoint(s) on node jasper\n`]);
    const both = await hostwall(["check", "--node", "jasper", RULES, join(dir, "b.yaml")]);
    expect(both.code).toBe(0);
    const bad = dirs.make({ "x.yaml": POLICY.replace("[80]", "[70000]") });
    const r = await hostwall(["check", "--node", "jasper", join(bad, "x.yaml")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toStartWith(`${join(bad, "x.yaml")}:6:`);
  });

  test("--json prints the diagnostics as a JSON array on stdout, the exit code says valid or not", async () => {
    const bad = dirs.make({ "x.yaml": POLICY.replace("[80]", "[70000]") });
    const r = await hostwall(["check", "--json", "--config-dir", bad, "--node", "jasper"]);
    expect(r.code).toBe(1);
    const diags = JSON.parse(r.stdout);
    const port = diags.find((d: { code: string }) => d.code === "INVALID_PORT");
    expect(port).toEqual({ file: join(bad, "x.yaml"), line: 6, column: expect.any(Number), severity: "error", code: "INVALID_PORT", message: expect.any(String), resource: "GlobalNetworkPolicy/web", path: "spec.ingress[0].destination.ports[0]" });
    const ok = await hostwall(["check", "--json", "--config-dir", RULES, "--node", "jasper"]);
    expect([ok.code, JSON.parse(ok.stdout)]).toEqual([0, []]);
  });

  test("--strict fails on warnings, without it they are printed and the config is valid", async () => {
    // A YAML 1.1 boolean as a label value: valid (a string to hostwall), with a warning.
    const dir = dirs.make({ "a.yaml": HEP.replace("labels: {role: web}", "labels: {role: web, edge: yes}"), "b.yaml": POLICY });
    const plain = await hostwall(["check", "--config-dir", dir, "--node", "jasper"]);
    expect(plain.code).toBe(0);
    expect(plain.stderr).toContain("warning[AMBIGUOUS_SCALAR]");
    expect(plain.stderr).toEndWith("1 endpoint(s) on node jasper, 1 warning\n");
    const strict = await hostwall(["check", "--strict", "--config-dir", dir, "--node", "jasper"]);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toEndWith(`hostwall: 1 warning (--strict) in ${dir}; nothing would be applied\n`);
  });
});
