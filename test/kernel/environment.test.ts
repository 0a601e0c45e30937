/**
 * nft and ip are run by absolute path (issue #18, finding 7): with a PATH whose first entries
 * hold an `nft` and an `ip` of someone else's, `hostwall run --once` still applies the example
 * rules with /usr/sbin/nft and reads addresses with /sbin/ip, and the impostors never run.
 * In a scratch namespace; the agent's state and lock go to a temp dir.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, makeConfigDir, REPO } from "./agent-harness";
import { createNs, deleteNs, kernelTestGate, type Ns } from "./netns";

const NS = `hw-env-${process.pid.toString(36)}`;
const enabled = await kernelTestGate();

describe.skipIf(!enabled)("tools by absolute path", () => {
  let ns: Ns;
  let dir: string;
  let config: string;

  beforeAll(async () => {
    ns = await createNs(NS);
    dir = mkdtempSync(join(tmpdir(), "hostwall-path-"));
    for (const d of ["evil", "state", "run"]) mkdirSync(join(dir, d), { mode: 0o700 });
    for (const tool of ["nft", "ip"]) {
      // An impostor: records that it ran and fails, as a tool of someone else's in PATH would.
      writeFileSync(join(dir, "evil", tool), `#!/bin/sh\necho "$*" >>${join(dir, `${tool}-impostor-ran`)}\nexit 1\n`);
      chmodSync(join(dir, "evil", tool), 0o755);
    }
    config = makeConfigDir(join(REPO, "rules"));
  });
  afterAll(async () => {
    await deleteNs(NS);
    rmSync(dir, { recursive: true, force: true });
    rmSync(config, { recursive: true, force: true });
  });

  test("run --once applies with /usr/sbin/nft and /sbin/ip whatever PATH holds", async () => {
    const env = [`PATH=${join(dir, "evil")}:/usr/sbin:/usr/bin:/sbin:/bin`, `HOSTWALL_STATE_DIR=${join(dir, "state")}`, `HOSTWALL_RUN_DIR=${join(dir, "run")}`];
    const r = await ns.exec(["/usr/bin/env", "-i", ...env, BINARY, "run", "--once", "--config-dir", config, "--node", "jasper", "--listen", "off"], { timeoutMs: 30_000 });
    expect([r.code, r.stderr]).toEqual([0, expect.stringContaining("<6>applied generation 1 (startup)")]);
    expect([existsSync(join(dir, "nft-impostor-ran")), existsSync(join(dir, "ip-impostor-ran"))]).toEqual([false, false]);
    const tables = await ns.exec(["nft", "list", "tables"]);
    expect(tables.stdout).toContain("table inet hostwall");
  });
});
