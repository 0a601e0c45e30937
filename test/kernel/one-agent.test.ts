/**
 * One agent per network namespace (issue 11, item 2): a second `hostwall run` in the same
 * namespace exits 1 before it applies anything, naming the pid of the first; an agent in
 * another namespace runs beside it; once the first stops, the lock is free again.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { BINARY, makeConfigDir, REPO, startAgent, waitFor, type AgentHandle } from "./agent-harness";
import { createNs, deleteNs, kernelTestGate, type Ns } from "./netns";

const TAG = `hw-one-${process.pid.toString(36)}`;
const enabled = await kernelTestGate();

describe.skipIf(!enabled)("one agent per network namespace", () => {
  let a: Ns;
  let b: Ns;
  let first: AgentHandle;
  let configDir: string;

  beforeAll(async () => {
    a = await createNs(`${TAG}-a`);
    b = await createNs(`${TAG}-b`);
    configDir = makeConfigDir(join(REPO, "rules"));
    first = startAgent(a, { configDir });
    await waitFor("the first agent's apply", async () => (await first.get("/readyz"))?.status === 200);
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await deleteNs(`${TAG}-a`);
    await deleteNs(`${TAG}-b`);
    if (configDir) rmSync(configDir, { recursive: true, force: true });
  });

  test("a second agent in the same namespace exits 1 naming the first, and applies nothing", async () => {
    const generation = (await first.status()).generation;
    const second = await a.exec([BINARY, "run", "--config-dir", configDir, "--node", "jasper", "--listen", "127.0.0.1:9100", "--socket", "off"], { timeoutMs: 10_000 });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`^hostwall: another hostwall agent \\(pid ${first.proc.pid}\\) runs in this network namespace \\(it holds /run/hostwall/agent-netns-\\d+\\.lock\\)`));
    // The first agent saw no drift and no new apply.
    await Bun.sleep(300);
    expect((await first.status()).generation).toBe(generation);
    expect(first.log()).not.toContain("drift");
  });

  test("an agent in another namespace is independent; after the first stops, the lock is free", async () => {
    const other = await b.exec([BINARY, "run", "--once", "--config-dir", configDir, "--node", "jasper", "--socket", "off"], { timeoutMs: 10_000 });
    expect([other.code, other.stderr]).toEqual([0, expect.stringContaining("applied generation 1")]);
    expect(await first.proc.stop()).toBe(0);
    const again = await a.exec([BINARY, "run", "--once", "--config-dir", configDir, "--node", "jasper", "--socket", "off"], { timeoutMs: 10_000 });
    expect(again.code).toBe(0);
  });
});
