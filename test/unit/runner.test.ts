/**
 * The nft runner (src/nft/runner.ts) against stand-in nft executables: the script arrives
 * whole on stdin with the right arguments; an nft that hangs (and ignores SIGTERM) is killed
 * with SIGKILL at the timeout and reported; an nft that exits before reading its script (EPIPE
 * on our side) is its error, not a crash; one that cannot be started is an error result. And
 * nft's error formats, as the real nft 1.0.6 prints them, map to script lines and origins.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { Agent } from "../../src/agent/agent.ts";
import { memoryLogger } from "../../src/agent/log.ts";
import type { RuleOrigin } from "../../src/nft/ir.ts";
import { mapNftErrors, spawnRunner } from "../../src/nft/runner.ts";
import { fakeNftBinary, type FakeNftBinary } from "../support/fake-nft-bin.ts";
import { exampleFiles } from "./api-fakes.ts";

const fakes: FakeNftBinary[] = [];
const fake = (body: string) => {
  const f = fakeNftBinary(body);
  fakes.push(f);
  return f;
};
afterAll(() => {
  for (const f of fakes) f.remove();
});

/** A script bigger than any pipe buffer (the kernel's default is 64 KiB), with a last line to recognise. */
const BIG = `${"# filler line of a big script\n".repeat(200_000)}# the end\n`;

describe("spawnRunner", () => {
  test("apply sends the whole script on stdin with -f - (a check with -c -f -); nft sees only PATH and LANG", async () => {
    const nft = fake(`echo "$@" >> "$LOG/args"\ncat > "$LOG/stdin-$#"\nenv | sort > "$LOG/env"`);
    process.env.HW_RUNNER_MARKER = "leak";
    try {
      expect(await spawnRunner(nft.path).apply(BIG)).toEqual({ ok: true, stdout: "", stderr: "" });
      expect(await spawnRunner(nft.path).apply("table inet hostwall {}\n", { check: true })).toEqual({ ok: true, stdout: "", stderr: "" });
    } finally {
      delete process.env.HW_RUNNER_MARKER;
    }
    expect(nft.read("args")).toBe("-f -\n-c -f -\n");
    expect(nft.read("stdin-2")).toBe(BIG);
    expect(nft.read("stdin-3")).toBe("table inet hostwall {}\n");
    const env = nft.read("env").split("\n").filter((l) => l && !/^(PWD|SHLVL|_|OLDPWD)=/.test(l));
    expect(env).toEqual(["LANG=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]);
  });

  test("a failure is ok: false with nft's stdout and stderr", async () => {
    const nft = fake(`cat >/dev/null\necho listed\necho "/dev/stdin:1:1-5: Error: nope" >&2\nexit 1`);
    expect(await spawnRunner(nft.path).apply("x\n")).toEqual({ ok: false, stdout: "listed\n", stderr: "/dev/stdin:1:1-5: Error: nope\n" });
  });

  test("timeout: an nft that ignores SIGTERM and hangs is killed with SIGKILL and reported", async () => {
    // SIG_IGN survives exec: only SIGKILL ends this sleep. With SIGTERM the runner would wait 30 s.
    const nft = fake(`trap '' TERM\necho $$ > "$LOG/pid"\nexec sleep 30`);
    const started = performance.now();
    const r = await spawnRunner(nft.path, 300).apply("table inet hostwall {}\n");
    const took = performance.now() - started;
    expect(r.ok).toBe(false);
    expect(r.stderr).toBe("nft timed out after 300 ms\n");
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(5000);
    const pid = Number(nft.read("pid"));
    expect(pid).toBeGreaterThan(0);
    expect(existsSync(`/proc/${pid}`)).toBe(false); // killed and reaped
  }, 10_000);

  test("the timeout reaches the agent's attempt as an nft error, and nothing is in force", async () => {
    const nft = fake(`trap '' TERM\nexec sleep 30`);
    let t = 0;
    const agent = new Agent({ node: "jasper", readConfig: () => ({ files: exampleFiles(), diagnostics: [] }), listInterfaces: () => new Set(["lo", "eth0"]), runner: spawnRunner(nft.path, 200), now: () => new Date(0), clock: () => t++, logger: memoryLogger() });
    const attempt = await agent.reload("startup");
    expect(attempt.ok).toBe(false);
    expect(attempt.diagnostics.filter((d) => d.code === "NFT_REJECTED").map((d) => d.message)).toEqual(["nft check failed: nft timed out after 200 ms"]);
    expect(agent.applied).toBeUndefined();
  }, 10_000);

  test("EPIPE: an nft that exits before reading a big script gives its own error; nothing throws", async () => {
    const nft = fake(`echo "netlink: Error: cache initialization failed: Operation not permitted" >&2\nexit 1`);
    const started = performance.now();
    const r = await spawnRunner(nft.path, 10_000).apply(BIG);
    expect(r).toEqual({ ok: false, stdout: "", stderr: "netlink: Error: cache initialization failed: Operation not permitted\n" });
    expect(performance.now() - started).toBeLessThan(5000);
  });

  test("an nft that cannot be started is an error result, not an exception", async () => {
    const missing = await spawnRunner("/nonexistent/hw-nft").apply("x\n");
    expect([missing.ok, missing.stderr]).toEqual([false, expect.stringMatching(/^cannot run \/nonexistent\/hw-nft: ENOENT/)]);
    const nft = fake("exit 0");
    Bun.spawnSync(["chmod", "0644", nft.path]);
    const denied = await spawnRunner(nft.path).apply("x\n");
    expect([denied.ok, denied.stderr]).toEqual([false, expect.stringMatching(/^cannot run .*: EACCES/)]);
  });
});

describe("mapNftErrors: nft 1.0.6's error formats", () => {
  const origin = (id: string): RuleOrigin => ({ id, file: "/etc/hostwall/a.yaml", line: 7, column: 5 });
  const origins = new Map([
    [4, origin("gnp/a/ingress/0")],
    [5, origin("gnp/a/ingress/1")],
  ]);
  const cases: [string, string, ReturnType<typeof mapNftErrors>][] = [
    [
      "a kernel rejection, with nft's context and caret lines",
      "/dev/stdin:4:8-8: Error: Could not process rule: Operation not supported\n\t\tjump c\n\t\t     ^\n",
      [{ message: "Could not process rule: Operation not supported", line: 4, origin: origins.get(4) }],
    ],
    [
      "a syntax error at one column",
      "/dev/stdin:5:30-30: Error: syntax error, unexpected newline\n\t\tip saddr 1.2.3.4 frobnicate\n\t\t                           ^\n",
      [{ message: "syntax error, unexpected newline", line: 5, origin: origins.get(5) }],
    ],
    [
      "two errors, the second on a line without an origin",
      "/dev/stdin:4:1-4: Error: first\n\t\tx\n\t\t^\n/dev/stdin:9:16-25: Error: You must add 'flags interval' to your set declaration if you want to add prefix elements\n",
      [
        { message: "first", line: 4, origin: origins.get(4) },
        { message: "You must add 'flags interval' to your set declaration if you want to add prefix elements", line: 9, origin: undefined },
      ],
    ],
    ["stdin named -", "-:5:1-4: Error: Could not process rule: No such file or directory\n", [{ message: "Could not process rule: No such file or directory", line: 5, origin: origins.get(5) }]],
    ["an error without a location", "Error: Could not process rule: Cannot allocate memory\n", [{ message: "Could not process rule: Cannot allocate memory" }]],
    ["netlink's own prefix (no CAP_NET_ADMIN)", "netlink: Error: cache initialization failed: Operation not permitted\n", [{ message: "netlink: Error: cache initialization failed: Operation not permitted" }]],
    ["the runner's timeout", "nft timed out after 300 ms\n", [{ message: "nft timed out after 300 ms" }]],
    ["a context line that looks like an error is not one", "/dev/stdin:4:1-4: Error: first\nError: second\n\t\tcomment \"Error: x\"\n", [{ message: "first", line: 4, origin: origins.get(4) }, { message: "second" }]],
    ["nothing at all", "", [{ message: "nft failed without a message" }]],
  ];
  for (const [name, stderr, expected] of cases) test(name, () => expect(mapNftErrors(stderr, origins)).toEqual(expected));
});

test("parseTableComments: a table's stamp counter (written by deltas) replaces the table's own comment", async () => {
  const { parseTableComments } = await import("../../src/nft/runner.ts");
  const text = [
    "table netdev hostwall {",
    '\tcomment "hostwall generation 1 hash 0123456789abcdef"',
    "\tcounter hostwall-stamp {",
    '\t\tcomment "hostwall generation 7 hash fedcba9876543210"',
    "\t\tpackets 0 bytes 0",
    "\t}",
    "}",
    "table inet hostwall {",
    '\tcomment "hostwall generation 1 hash 0123456789abcdef"',
    "}",
    "table inet other {",
    "\tchain c {",
    '\t\tcomment "not a table comment"',
    "\t}",
    "}",
  ].join("\n");
  expect([...parseTableComments(text)]).toEqual([
    ["netdev hostwall", "hostwall generation 7 hash fedcba9876543210"],
    ["inet hostwall", "hostwall generation 1 hash 0123456789abcdef"],
    ["inet other", undefined],
  ]);
});
