/**
 * A restart with the same files (issue 13: ready at ≤ 0.1× a bare `nft -f` at 1M entries): when
 * the last good record was compiled from this very config (config-digest.ts) and the kernel
 * holds the recorded tables (delta-adopt.ts heldAsRecorded), the agent is ready without
 * compiling, and compiles in the background; anything else takes the usual path.
 */
import { describe, expect, test } from "bun:test";
import { exampleFiles, fakeAgent, fakeKernel, memoryState, MORE_DENY } from "./api-fakes.ts";

const BUILD = "0.0.0 abc source-1";

async function previousRun(opts: { build?: string } = {}) {
  const kernel = fakeKernel();
  const state = memoryState();
  const first = fakeAgent({ kernel, state, build: opts.build ?? BUILD });
  expect((await first.agent.reload("startup")).ok).toBe(true);
  await first.agent.idle();
  return { kernel, state, first };
}

const quickLine = /^info: adopting hostwall's tables in the kernel \(generation 1, stamped 1\): (\d+) of \1 set\(s\) and (\d+) of \2 chain\(s\) hold what was recorded, and the config is the one they were compiled from: ready in [\d.]+ ms \(read [\d.]+, record [\d.]+, digest [\d.]+, list [\d.]+, observe [\d.]+ ms\), compiling it in the background$/;

describe("restart with the config the record was compiled from", () => {
  test("the record keeps the config's digest", async () => {
    const { state } = await previousRun();
    expect(state.record?.config).toMatch(/^[0-9a-f]{64}$/);
  });

  test("ready without compiling or sending anything; the build follows and takes over the IR", async () => {
    const { kernel, state } = await previousRun();
    const again = fakeAgent({ kernel, state, build: BUILD });
    const attempt = await again.agent.reload("startup");
    expect(attempt).toMatchObject({ ok: true, unchanged: true });
    expect(kernel.kernel.applied.length).toBe(1);
    expect(again.agent.applied?.hash).toBe(state.record!.hash);
    expect(again.agent.applied?.source).toBe("config");
    expect(again.agent.generation).toBe(1);
    expect(again.agent.irInForce).toBeUndefined();
    expect(again.agent.busy).toBe(true);
    expect(again.agent.endpoints().map((e) => e.name)).toEqual(state.record!.endpoints!.map((e) => e.name));
    expect(again.logger.lines.filter((l) => quickLine.test(l)).length).toBe(1);
    // Before the build: the record's script (GET /ruleset), the one the previous agent applied.
    expect(again.agent.applied?.script).toBe(kernel.kernel.applied[0]!);
    await again.agent.idle();
    expect(kernel.kernel.applied.length).toBe(1);
    expect(again.agent.irInForce).toBeDefined();
    expect(again.agent.model).toBeDefined();
    expect(again.state.reads).toBe(2);
    expect(again.logger.lines.some((l) => /^info: compiled the config of the adopted tables \(generation 1\) in \d+ ms: edits are deltas from here on$/.test(l))).toBe(true);
    // The script in force is the one the previous agent applied.
    expect(again.agent.applied?.script).toBe(kernel.kernel.applied[0]!);
    expect(again.agent.applyCount).toBe(0);
  });

  test("an edit during the background build is applied after it", async () => {
    const { kernel, state } = await previousRun();
    const again = fakeAgent({ kernel, state, build: BUILD });
    expect((await again.agent.reload("startup")).ok).toBe(true);
    // The build has read the config (it runs now); the edit comes after.
    for (let i = 0; i < 100 && again.state.reads < 2; i++) await Bun.sleep(1);
    expect(again.state.reads).toBe(2);
    again.state.files = [...exampleFiles(), MORE_DENY];
    const edit = await again.agent.reload("edit");
    expect(edit.ok).toBe(true);
    expect(edit.unchanged).toBeUndefined();
    const lines = again.logger.lines;
    const built = lines.findIndex((l) => l.startsWith("info: compiled the config of the adopted tables"));
    const applied = lines.findIndex((l) => l.includes("applied generation 2 (edit"));
    expect(built).toBeGreaterThanOrEqual(0);
    expect(applied).toBeGreaterThan(built);
    expect(kernel.kernel.applied.length).toBe(2);
    expect(kernel.kernel.applied[1]).toContain("198.51.100.7");
    await again.agent.idle();
    expect(state.record?.generation).toBe(2);
  });

  test("an edit before the build starts is compiled in its place and applied", async () => {
    const { kernel, state } = await previousRun();
    const again = fakeAgent({ kernel, state, build: BUILD });
    expect((await again.agent.reload("startup")).ok).toBe(true);
    again.state.files = [...exampleFiles(), MORE_DENY];
    const edit = await again.agent.reload("edit");
    expect(edit.ok).toBe(true);
    expect(again.state.reads).toBe(2);
    expect(again.agent.generation).toBe(2);
    expect(kernel.kernel.applied.length).toBe(2);
    expect(kernel.kernel.applied[1]).toContain("198.51.100.7");
    expect(again.agent.irInForce).toBeDefined();
  });

  const slow = (lines: string[]) => lines.some((l) => quickLine.test(l));

  test("a changed file: compiled and applied as before", async () => {
    const { kernel, state } = await previousRun();
    const again = fakeAgent({ kernel, state, build: BUILD, files: [...exampleFiles(), MORE_DENY] });
    expect((await again.agent.reload("startup")).ok).toBe(true);
    expect(slow(again.logger.lines)).toBe(false);
    expect(kernel.kernel.applied.length).toBe(2);
    expect(again.logger.lines).toContain("info: the start compiles the config before it is ready: the config (its files, this hostwall's build, the node, options, interfaces or addresses) is not the one the last good record was compiled from");
  });

  test("another build of hostwall, other options or interfaces: compiled and applied as before", async () => {
    for (const other of [{ build: "0.0.0 abc source-2" }, { build: BUILD, dropSummaries: true }, { build: BUILD, interfaces: ["lo", "eth0", "eth1"] }]) {
      const { kernel, state } = await previousRun();
      const again = fakeAgent({ kernel, state, ...other });
      expect((await again.agent.reload("startup")).ok).toBe(true);
      expect(slow(again.logger.lines)).toBe(false);
      expect(kernel.kernel.applied.length).toBe(2);
    }
  });

  test("a source run (no build identity): compiled and applied as before", async () => {
    const { kernel, state } = await previousRun();
    const again = fakeAgent({ kernel, state });
    expect((await again.agent.reload("startup")).ok).toBe(true);
    expect(slow(again.logger.lines)).toBe(false);
    expect(kernel.kernel.applied.length).toBe(2);
  });

  test("a rule changed in the kernel, a re-created table, another stamp: compiled and applied as before", async () => {
    const tamper: ((k: ReturnType<typeof fakeKernel>["kernel"]) => void)[] = [
      (k) => (k.tables.find((t) => t.family === "inet")!.chains.find((c) => c.rules.length > 0)!.rules[0]!.digest = "0000"),
      (k) => (k.tables.find((t) => t.family === "netdev")!.handle! += 1000),
      (k) => (k.tables.find((t) => t.family === "inet")!.chains.find((c) => c.rules.length > 0)!.rules.push({ handle: 9999, digest: "foreign" })),
    ];
    for (const change of tamper) {
      const { kernel, state } = await previousRun();
      change(kernel.kernel);
      const again = fakeAgent({ kernel, state, build: BUILD });
      expect((await again.agent.reload("startup")).ok).toBe(true);
      expect(slow(again.logger.lines)).toBe(false);
      expect(kernel.kernel.applied.length).toBe(2);
    }
    // Another stamp: the record is older than the tables.
    const { kernel, state } = await previousRun();
    state.record!.engine!.stamp.generation = 7;
    const again = fakeAgent({ kernel, state, build: BUILD });
    expect((await again.agent.reload("startup")).ok).toBe(true);
    expect(slow(again.logger.lines)).toBe(false);
    expect(kernel.kernel.applied.length).toBe(2);
  });
});
