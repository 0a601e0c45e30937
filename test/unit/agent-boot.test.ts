/**
 * The agent at start and when something throws (issue 18 findings 3 and 4, issue 11 items 4
 * and 12), on the fake kernel: what is in force after a restart, with a rejected config, with
 * and without a saved last good ruleset; every exception is a failed attempt; the log says what
 * an apply changed.
 */
import { describe, expect, test } from "bun:test";
import type { SourceFile } from "../../src/source/source-file.ts";
import { exampleFiles, fakeAgent, fakeKernel, memoryState, unstamped } from "./api-fakes.ts";

const BAD: SourceFile = { path: "/etc/hostwall/99-bad.yaml", text: "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: bad}\nspec:\n  ingress: [{action: Allow, protocol: TCP, destination: {ports: [70000]}}]\n" };

/** Runs one agent to its first apply and stops it: its tables stay in the fake kernel, its last good in `state`. */
async function previousRun() {
  const kernel = fakeKernel();
  const state = memoryState();
  const first = fakeAgent({ kernel, state });
  expect((await first.agent.reload("startup")).ok).toBe(true);
  return { kernel, state, generation: first.agent.generation, script: kernel.kernel.applied[0]! };
}

describe("start", () => {
  test("the tables carry the generation and hash; a restart counts on from it and re-applies the same content", async () => {
    const { kernel, state, script } = await previousRun();
    expect(script).toMatch(/^table inet hostwall \{ comment "hostwall generation 1 hash [0-9a-f]{16}";$/m);
    const again = fakeAgent({ kernel, state });
    const attempt = await again.agent.reload("startup");
    expect(attempt.ok).toBe(true);
    // Re-applied, not adopted: a rule replaced in place keeps its comment and handle, so only a
    // fresh apply guarantees the kernel holds what the config says.
    expect(kernel.kernel.applied.length).toBe(2);
    expect(unstamped(kernel.kernel.applied[1]!)).toBe(unstamped(script));
    expect(again.agent.generation).toBe(2);
    expect(again.agent.applied?.source).toBe("config");
  });

  test("a restart with a rejected config keeps the ruleset found in the kernel, and can repair it from the saved last good", async () => {
    const { kernel, state } = await previousRun();
    const again = fakeAgent({ kernel, state, files: [...exampleFiles(), BAD] });
    expect((await again.agent.reload("startup")).ok).toBe(false);
    expect(kernel.kernel.applied.length).toBe(1);
    expect(again.agent.boot?.action).toBe("kept-kernel");
    expect(again.agent.applied?.source).toBe("kernel");
    expect(again.agent.generation).toBe(1);
    // Both tables deleted from outside: drift repair restores the last good, although the config is still rejected.
    kernel.kernel.drop("inet");
    kernel.kernel.drop("netdev");
    expect(await again.agent.checkDrift()).toMatchObject({ state: "drift", repaired: true });
    expect(kernel.kernel.tables.map((t) => t.family).sort()).toEqual(["inet", "netdev"]);
  });

  test("after a flush (no tables), a rejected config at start applies the saved last good ruleset", async () => {
    const { kernel, state, script } = await previousRun();
    kernel.kernel.tables = [];
    const again = fakeAgent({ kernel, state, files: [...exampleFiles(), BAD] });
    expect((await again.agent.reload("startup")).ok).toBe(false);
    expect(kernel.kernel.applied.at(-1)).toBe(script);
    expect(again.agent.applied?.source).toBe("last-good");
    expect(again.agent.boot?.action).toBe("last-good");
    expect(again.logger.lines.some((l) => l.startsWith("warning: applied the last good ruleset (generation 1 of "))).toBe(true);
  });

  test("a ruleset restored or kept at start reports the endpoints it enforces, as saved with it", async () => {
    const first = await previousRun();
    const before = fakeAgent({ kernel: fakeKernel(), state: memoryState() });
    await before.agent.reload("startup");
    const enforced = before.agent.endpoints();
    expect(enforced.length).toBeGreaterThan(0);
    for (const flushed of [true, false]) {
      const { kernel, state } = flushed ? first : await previousRun();
      if (flushed) kernel.kernel.tables = [];
      const again = fakeAgent({ kernel, state, files: [...exampleFiles(), BAD] });
      expect((await again.agent.reload("startup")).ok).toBe(false);
      expect(again.agent.boot?.action).toBe(flushed ? "last-good" : "kept-kernel");
      expect(again.agent.endpoints()).toEqual(enforced);
    }
  });

  test("no tables and no last good: --boot-policy open enforces nothing and says so; failsafe applies the failsafe-only ruleset", async () => {
    const open = fakeAgent({ state: memoryState(), files: [BAD] });
    expect((await open.agent.reload("startup")).ok).toBe(false);
    expect(open.kernel.applied).toEqual([]);
    expect(open.agent.boot?.action).toBe("open");
    expect(open.logger.lines.some((l) => l.startsWith("error: nothing is enforced: no hostwall ruleset in the kernel"))).toBe(true);

    const safe = fakeAgent({ state: memoryState(), files: [BAD], bootPolicy: "failsafe" });
    expect((await safe.agent.reload("startup")).ok).toBe(false);
    expect(safe.agent.boot?.action).toBe("failsafe");
    const applied = unstamped(safe.kernel.applied[0]!);
    expect(applied).toContain("th dport { 22, 179, 2379, 2380, 5473, 6443, 6666, 6667 } counter accept");
    expect(applied).toContain('counter drop comment "hep/hostwall-boot-failsafe/ingress: no policy or profile allowed"');
    expect(applied).toContain("jump normal-in/any");
  });

  test("the last good is saved after every apply from the config, never for a rejected one", async () => {
    const state = memoryState();
    const f = fakeAgent({ state });
    await f.agent.reload("startup");
    expect(state.saves).toBe(1);
    expect(state.record).toMatchObject({ format: 1, node: "jasper", generation: 1 });
    f.state.files = [...exampleFiles(), BAD];
    await f.agent.reload("config changed");
    expect(state.saves).toBe(1);
  });
});

describe("failures inside an attempt", () => {
  test("an exception while reading or building is a failed attempt that keeps the ruleset, and drift repair goes on", async () => {
    const f = fakeAgent();
    await f.agent.reload("startup");
    const readConfig = () => {
      throw new Error("boom");
    };
    (f.agent as unknown as { deps: { readConfig: () => never } }).deps.readConfig = readConfig;
    const attempt = await f.agent.reload("config changed");
    expect(attempt.ok).toBe(false);
    expect(attempt.diagnostics.map((d) => d.code)).toEqual(["INTERNAL_ERROR"]);
    // Run once more from nothing (agent.ts afterInternalError), which fails the same way, and no more.
    await f.agent.idle();
    expect(f.agent.failureCount).toBe(2);
    f.kernel.drop("inet");
    expect(await f.agent.checkDrift()).toMatchObject({ state: "drift", repaired: true });
    expect(f.kernel.tables.some((t) => t.family === "inet")).toBe(true);
  });
});

describe("what the log says", () => {
  test("an apply names the files and what changed; a rejected config fixed back says so; an unchanged result is not re-applied", async () => {
    const f = fakeAgent();
    await f.agent.reload("startup");
    const more = { path: "/etc/hostwall/50-more.yaml", text: "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: more, labels: {dos-deny-list: 'true'}}\nspec: {nets: [198.51.100.7/32]}\n" };
    f.state.files = [...exampleFiles(), more];
    await f.agent.reload("config changed");
    expect(f.logger.lines.at(-1)).toMatch(/^info: applied generation 2 \(config changed; files \+\/etc\/hostwall\/50-more.yaml\): set entries \+1 -0; full replace \(the runner takes whole tables only\), \d+ bytes, [\d.]+ ms$/);
    f.state.files = [...exampleFiles(), more, BAD];
    await f.agent.reload("config changed");
    f.state.files = [...exampleFiles(), more];
    const fixed = await f.agent.reload("config changed");
    expect(fixed).toMatchObject({ ok: true, unchanged: true });
    // Compared with what is in force, no file differs: the bad one came and went.
    expect(f.logger.lines.at(-1)).toBe("notice: config valid again (config changed): generation 2 stays in force, nothing to change");
    expect(f.agent.generation).toBe(2);
    // Every endpoint gone: a warning, not an info line.
    f.state.files = exampleFiles().filter((file) => !file.path.includes("host-endpoint"));
    await f.agent.reload("config changed");
    expect(f.logger.lines).toContain("warning: generation 3 enforces no endpoint on node jasper: nothing is protected (see the NO_ENDPOINT_ON_NODE warning, or hostwall plan)");
  });
});

describe("warnings in the log", () => {
  test("a warning is logged when it appears, not again at every attempt with the same config", async () => {
    const f = fakeAgent({ files: exampleFiles().map((file) => (file.path.includes("host-endpoint") ? { ...file, text: file.text.replace("node: jasper", "node: other") } : file)) });
    await f.agent.reload("startup");
    await f.agent.reload("SIGHUP");
    await f.agent.reload("config changed");
    expect(f.logger.lines.filter((l) => l.includes("warning[NO_ENDPOINT_ON_NODE]")).length).toBe(1);
  });
});
