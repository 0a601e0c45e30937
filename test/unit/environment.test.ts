/**
 * What hostwall takes from its environment (issue #18, finding 7): the runtime hooks it
 * refuses to run under (src/cli/environment.ts), tool paths that must be absolute, and the
 * environment its children get (nft, ip: a fixed minimal one, nothing of the agent's own).
 * The refusal of the built binary itself is in test/cli-env.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, UsageError } from "../../src/cli/args.ts";
import { checkToolFlags, hookOf, refusal, RUNTIME_HOOKS, runtimeHooksIn } from "../../src/cli/environment.ts";
import { IP_PATH, listAddresses, TOOL_ENV } from "../../src/agent/system.ts";
import { listLinks, spawnIpMonitor } from "../../src/agent/links.ts";
import { spawnRunner } from "../../src/nft/runner.ts";

type Env = Record<string, string | undefined>;

const CASES: [string, Env, string[]][] = [
  ["nothing set", {}, []],
  [
    "what a root shell or systemd sets is fine",
    { PATH: "/usr/bin", HOME: "/root", LANG: "C.UTF-8", NODE_ENV: "production", NODE_EXTRA_CA_CERTS: "/etc/ssl/certs/ca-certificates.crt", BUN_INSTALL: "/root/.bun", HOSTWALL_NODE: "jasper", NOTIFY_SOCKET: "/run/systemd/notify", INVOCATION_ID: "x" },
    [],
  ],
  ["BUN_OPTIONS", { BUN_OPTIONS: "--preload=/tmp/x.js" }, ["BUN_OPTIONS"]],
  ["BUN_BE_BUN", { BUN_BE_BUN: "1" }, ["BUN_BE_BUN"]],
  ["BUN_BE_BUN with a value Bun reads as false: set is set", { BUN_BE_BUN: "0" }, ["BUN_BE_BUN"]],
  ["BUN_INSPECT", { BUN_INSPECT: "ws://127.0.0.1:6499/x" }, ["BUN_INSPECT"]],
  ["BUN_INSPECT_*", { BUN_INSPECT_CONNECT_TO: "ws://127.0.0.1:6499/x", BUN_INSPECT_PRELOAD: "/tmp/x.js" }, ["BUN_INSPECT_CONNECT_TO", "BUN_INSPECT_PRELOAD"]],
  ["a JSC option", { BUN_JSC_useJIT: "0" }, ["BUN_JSC_useJIT"]],
  ["bytecode profile files", { BUN_BYTECODE_ORDER_OUT: "/etc/shadow", BUN_BYTECODE_DIGEST_OUT: "/etc/passwd" }, ["BUN_BYTECODE_DIGEST_OUT", "BUN_BYTECODE_ORDER_OUT"]],
  ["BUN_CRASH_REPORT_URL", { BUN_CRASH_REPORT_URL: "https://example.invalid/" }, ["BUN_CRASH_REPORT_URL"]],
  ["NODE_OPTIONS", { NODE_OPTIONS: "--require=/tmp/x.js" }, ["NODE_OPTIONS"]],
  ["the dynamic loader's", { LD_PRELOAD: "/tmp/x.so", LD_AUDIT: "/tmp/y.so", LD_LIBRARY_PATH: "/tmp" }, ["LD_AUDIT", "LD_LIBRARY_PATH", "LD_PRELOAD"]],
  ["an empty value counts", { BUN_OPTIONS: "" }, ["BUN_OPTIONS"]],
  ["a key without a value does not", { BUN_OPTIONS: undefined }, []],
  ["names are exact and case-sensitive", { bun_options: "x", BUN_OPTIONS_X: "x", XBUN_OPTIONS: "x", BUN_JSC: "x", MY_LD_PRELOAD: "x", NODE_OPTIONSX: "x" }, []],
  ["several, sorted", { NODE_OPTIONS: "x", BUN_OPTIONS: "y", BUN_JSC_dumpOptions: "1" }, ["BUN_JSC_dumpOptions", "BUN_OPTIONS", "NODE_OPTIONS"]],
];

describe("runtime hooks", () => {
  for (const [name, env, want] of CASES) test(name, () => expect(runtimeHooksIn(env)).toEqual(want));

  test("every hook is covered by a case above", () => {
    const covered = new Set(CASES.flatMap(([, , want]) => want.map(hookOf)));
    expect(RUNTIME_HOOKS.filter((h) => !covered.has(h)).map((h) => h.name)).toEqual([]);
  });

  test("the refusal is one line naming the variables", () => {
    const one = refusal(["BUN_OPTIONS"]);
    expect(one).toStartWith("hostwall: refusing to run with BUN_OPTIONS set: ");
    expect(one).toEndWith("; unset it\n");
    const two = refusal(["BUN_JSC_useJIT", "NODE_OPTIONS"]);
    expect(two).toStartWith("hostwall: refusing to run with BUN_JSC_useJIT, NODE_OPTIONS set: ");
    expect(two).toEndWith("; unset them\n");
    for (const line of [one, two]) expect(line.indexOf("\n")).toBe(line.length - 1);
  });
});

describe("tool paths", () => {
  const check = (argv: string[]) => () => checkToolFlags(parseArgs(argv));

  test("--nft must be absolute", () => {
    for (const nft of ["nft", "./nft", "bin/nft", ""]) {
      expect(check(["flush", "--nft", nft])).toThrow(UsageError);
      expect(check(["run", `--nft=${nft}`])).toThrow(`--nft needs an absolute path (the default is /usr/sbin/nft), got "${nft}"`);
    }
    expect(check(["flush", "--nft", "/usr/sbin/nft"])).not.toThrow();
    expect(check(["flush"])).not.toThrow();
  });

  test("ip is run by absolute path", () => {
    expect(IP_PATH).toStartWith("/");
  });
});

describe("the environment of nft and ip", () => {
  let dir: string;
  // What the children must see: TOOL_ENV and nothing else (the shell of a fake adds PWD).
  const wanted = Object.entries(TOOL_ENV).map(([k, v]) => `${k}=${v}`).sort();
  const fake = (name: string, body: string): string => {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  };
  const ENV = "/usr/bin/env -u PWD | /usr/bin/sort";

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "hostwall-env-"));
    // Would leak into every child that inherits the agent's environment.
    process.env.HOSTWALL_TEST_SECRET = "leaked";
    process.env.LD_LIBRARY_PATH_TEST = "leaked";
  });
  afterAll(() => {
    delete process.env.HOSTWALL_TEST_SECRET;
    delete process.env.LD_LIBRARY_PATH_TEST;
    rmSync(dir, { recursive: true, force: true });
  });

  test("the minimal environment itself", () => {
    expect(TOOL_ENV).toEqual({ PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C" });
  });

  test("nft (src/nft/runner.ts)", async () => {
    const r = await spawnRunner(fake("nft", ENV)).apply("");
    expect(r.ok).toBe(true);
    expect(r.stdout.trim().split("\n").sort()).toEqual(wanted);
  });

  test("ip -j addr show (listAddresses)", () => {
    const ip = fake("ip-addr", `printf '[{"ifname":"%s","addr_info":[]}]' "$(${ENV} | /usr/bin/tr '\\n' ' ')"`);
    expect([...listAddresses(ip).keys()]).toEqual([wanted.join(" ") + " "]);
  });

  test("ip -o monitor (spawnIpMonitor)", async () => {
    const monitor = spawnIpMonitor(fake("ip-monitor", ENV));
    const lines: string[] = [];
    for await (const line of monitor.lines) lines.push(line);
    expect(await monitor.exited).toBe(0);
    expect(lines).toEqual(wanted);
  });

  test("ip -o link show (listLinks)", async () => {
    // The link's name says whether the fake saw exactly the minimal environment.
    const ip = fake("ip-link", `if [ "$(${ENV} | /usr/bin/tr '\\n' ' ')" = "${wanted.join(" ")} " ]; then n=clean; else n=dirty; fi\necho "1: $n: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN"`);
    expect(await listLinks(ip)).toEqual([{ deleted: false, index: 1, name: "clean", up: true }]);
  });
});
