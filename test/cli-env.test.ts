/**
 * The built binary under a tampered runtime (issue #18, finding 7). Bun reads BUN_OPTIONS,
 * BUN_BE_BUN and the like before hostwall's code runs, so a preload given in BUN_OPTIONS has
 * run by the time hostwall could object: what hostwall can and does guarantee is that it then
 * does nothing (exit 2, one line, no config read, no nft spawned, no file written by the
 * runtime at exit). BUN_BE_BUN even keeps hostwall's code from running at all; only the
 * environment can stop it, so the systemd unit unsets it. Needs no root and no namespace: nft
 * is a stand-in that records being run.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { refusal, RUNTIME_HOOKS } from "../src/cli/environment.ts";

const REPO = join(import.meta.dir, "..");
import { runHostwall } from "./support/cli.ts";
const RULES = join(REPO, "rules");

let dir: string;
let nft: string;
const at = (name: string) => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "hostwall-env-"));
  mkdirSync(at("state"), { mode: 0o700 });
  mkdirSync(at("run"), { mode: 0o700 });
  mkdirSync(at("prof"));
  // A stand-in nft: records that it ran, accepts every script, lists an empty ruleset.
  nft = at("fake-nft");
  writeFileSync(nft, `#!/bin/sh\necho "$*" >>${at("nft-ran")}\ncase "$*" in *list*) echo '{"nftables": []}' ;; *) cat >/dev/null ;; esac\n`);
  chmodSync(nft, 0o755);
  writeFileSync(at("preload.js"), `require("node:fs").writeFileSync(${JSON.stringify(at("preload-ran"))}, "ran");\n`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The agent's state and lock go to the temp dir, never to this machine's /var/lib or /run. */
const hostwall = (args: string[], env: Record<string, string> = {}) => runHostwall(args, { env: { HOSTWALL_STATE_DIR: at("state"), HOSTWALL_RUN_DIR: at("run"), ...env } });

const applyOnce = () => ["run", "--once", "--config-dir", RULES, "--node", "jasper", "--listen", "off", "--nft", nft];
const clean = (...names: string[]) => {
  for (const n of names) rmSync(at(n), { force: true });
};

describe("a tampered runtime", () => {
  test("untampered, run --once applies through nft (so the tests below can see hostwall work)", async () => {
    clean("nft-ran");
    const r = await hostwall(applyOnce());
    expect([r.code, r.stderr]).toEqual([0, expect.stringContaining("applied generation 1")]);
    expect(existsSync(at("nft-ran"))).toBe(true);
  });

  test("BUN_OPTIONS=--preload: hostwall refuses (exit 2) and does nothing; the preload itself has run", async () => {
    clean("nft-ran", "preload-ran");
    const r = await hostwall(applyOnce(), { BUN_OPTIONS: `--preload=${at("preload.js")}` });
    expect(r).toEqual({ code: 2, stdout: "", stderr: refusal(["BUN_OPTIONS"]) });
    expect(existsSync(at("nft-ran"))).toBe(false);
    // The known limit: Bun runs the preload before hostwall's first line. If this ever turns
    // false, Bun stopped honouring BUN_OPTIONS in executables: update README and environment.ts.
    expect(existsSync(at("preload-ran"))).toBe(true);
  });

  test("every other hook: every command refuses with one line naming it", async () => {
    const hooks: Record<string, string> = {
      BUN_JSC_useJIT: "0",
      BUN_INSPECT_CONNECT_TO: `unix://${at("no-debugger.sock")}`,
      BUN_CRASH_REPORT_URL: "http://127.0.0.1:9/",
      NODE_OPTIONS: `--require=${at("preload.js")}`,
      LD_LIBRARY_PATH: at("nothing-here"),
    };
    for (const [name, value] of Object.entries(hooks)) {
      for (const args of [["version"], ["check", "--config-dir", RULES, "--node", "jasper"], ["--help"]]) {
        expect({ name, args, ...(await hostwall(args, { [name]: value })) }).toEqual({ name, args, code: 2, stdout: "", stderr: refusal([name]) });
      }
    }
  });

  test("the runtime's exit hooks do not run either: no profile, no bytecode order or digest file", async () => {
    const r = await hostwall(["version"], {
      BUN_OPTIONS: `--cpu-prof --cpu-prof-dir=${at("prof")} --heap-prof --heap-prof-dir=${at("prof")}`,
      BUN_BYTECODE_ORDER_OUT: at("order"),
      BUN_BYTECODE_DIGEST_OUT: at("digest"),
    });
    expect(r).toEqual({ code: 2, stdout: "", stderr: refusal(["BUN_BYTECODE_DIGEST_OUT", "BUN_BYTECODE_ORDER_OUT", "BUN_OPTIONS"]) });
    expect(readdirSync(at("prof"))).toEqual([]);
    expect([existsSync(at("order")), existsSync(at("digest"))]).toEqual([false, false]);
  });

  test("BUN_BE_BUN=1 (known limit): the binary is the bun CLI before hostwall's code runs; it applies nothing", async () => {
    clean("nft-ran", "eval-ran");
    const evaluated = await hostwall(["-e", `require("node:fs").writeFileSync(${JSON.stringify(at("eval-ran"))}, "ran")`], { BUN_BE_BUN: "1" });
    expect(evaluated.code).toBe(0);
    expect(existsSync(at("eval-ran"))).toBe(true);
    const apply = await hostwall(applyOnce(), { BUN_BE_BUN: "1" });
    expect(apply.code).not.toBe(0);
    expect(existsSync(at("nft-ran"))).toBe(false);
  });

  test("the systemd unit unsets every hook it can name (BUN_BE_BUN above all)", () => {
    const unit = readFileSync(join(REPO, "systemd/hostwall.service"), "utf8");
    const unset = new Set([...unit.matchAll(/^UnsetEnvironment=(.*)$/gm)].flatMap((m) => m[1]!.split(/\s+/)));
    // Exact names all; of each prefix, the variables Bun 1.4.5 reads (BUN_JSC_* has too many
    // to list: the agent refuses those itself).
    const want = [...RUNTIME_HOOKS.filter((h) => !h.prefix).map((h) => h.name), "BUN_INSPECT", "BUN_INSPECT_CONNECT_TO", "BUN_INSPECT_PRELOAD", "BUN_INSPECT_NOTIFY", "BUN_BYTECODE_ORDER_OUT", "BUN_BYTECODE_ORDER_NAMES_OUT", "BUN_BYTECODE_DIGEST_OUT"];
    expect(want.filter((v) => !unset.has(v))).toEqual([]);
    expect([...unit.matchAll(/^Environment=(.*)$/gm)].map((m) => m[1])).toEqual(["PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C NO_COLOR=1"]);
  });
});

describe("tool paths", () => {
  test("a relative --nft is refused before anything runs", async () => {
    // Names that resolve to nothing: were the check missing, nothing would run (never the real nft).
    for (const args of [["flush", "--nft", "hw-no-such-nft"], ["run", "--once", "--config-dir", RULES, "--nft=./hw-no-such-nft"]]) {
      const r = await hostwall(args);
      const given = args.at(-1)!.replace("--nft=", "");
      expect(r).toEqual({ code: 2, stdout: "", stderr: `hostwall: --nft needs an absolute path (the default is /usr/sbin/nft), got "${given}"\n` });
    }
  });
});
