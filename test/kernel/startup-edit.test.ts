/**
 * An edit made while the first apply runs is not lost: the watcher starts after the first
 * attempt, so the agent compares the config tree's signature (taken before it read the files)
 * once the watcher runs, and reads again only when it changed. The first apply is held in its
 * nft call by a shim (nft-shim.ts) while a config file is replaced.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeConfigDir, REPO, startAgent, waitFor, writeConfig, type AgentHandle } from "./agent-harness";
import { createNftShim, type NftShim } from "./nft-shim";
import { createNs, deleteNs, kernelTestGate, type Ns } from "./netns";

const TAG = `hw-se-${process.pid.toString(36)}`;
const enabled = await kernelTestGate();

describe.skipIf(!enabled)("an edit during the first apply", () => {
  let ns: Ns;
  let shim: NftShim;
  let work: string;
  let configDir: string;

  beforeAll(async () => {
    ns = await createNs(TAG);
    work = mkdtempSync(join(tmpdir(), "hw-startup-edit-"));
    configDir = makeConfigDir(join(REPO, "rules"));
  });

  afterAll(async () => {
    await ns?.close();
    await deleteNs(TAG);
    shim?.remove();
    rmSync(work, { recursive: true, force: true });
    rmSync(configDir, { recursive: true, force: true });
  });

  const agentWith = (edit: boolean) => async () => {
    const gate = join(work, `gate-${edit}`);
    writeFileSync(gate, "");
    shim = createNftShim({ gate });
    const agent: AgentHandle = startAgent(ns, { configDir, extraArgs: ["--nft", shim.path] });
    await waitFor("the first apply held in nft", async () => existsSync(`${gate}.waiting`), 10_000);
    if (edit) writeConfig(configDir, "50-more.yaml", "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: more, labels: {dos-deny-list: 'true'}}\nspec: {nets: [198.51.100.7/32]}\n");
    rmSync(gate);
    await waitFor("the first apply", async () => (await agent.get("/readyz"))?.status === 200, 10_000);
    await Bun.sleep(1500); // room for a second attempt, if any
    const status = await agent.status();
    await agent.proc.stop();
    rmSync(join(configDir, "50-more.yaml"), { force: true });
    return { status, log: agent.log() };
  };

  test("the edit is read and applied right after the first attempt", async () => {
    const { status, log } = await agentWith(true)();
    expect(status.generation).toBe(2);
    expect(status.lastAttempt.reason).toBe("config changed during startup");
    expect(log).toContain("config changed during startup; files +");
  }, 30_000);

  test("without an edit nothing is read again", async () => {
    const { status } = await agentWith(false)();
    expect(status.generation).toBe(3); // one apply after the previous test's two (the stamp counts on)
    expect(status.lastAttempt.reason).toBe("startup");
  }, 30_000);
});
