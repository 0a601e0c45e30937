/**
 * The agent loop with a fake nft runner and in-memory files: all-or-nothing, keep the last
 * good ruleset, kernel rejections mapped to the YAML, unchanged scripts not re-sent,
 * reloads coalesced, interface changes noticed.
 */
import { describe, expect, test } from "bun:test";
import { DRY_RUN_MAX_BYTES } from "../../src/agent/apply.ts";
import { createApi } from "../../src/api/app.ts";
import { buildRuleset } from "../../src/pipeline.ts";
import { clearParseCache, parseCacheStats } from "../../src/config/parse-cache.ts";
import { parseScript } from "../support/nft-script.ts";
import { exampleFiles, fakeAgent, fakeKernel } from "./api-fakes.ts";

/** The agent on the fake kernel; `runs()` is its checks and applies in order, as [check?, script]. */
function setup(files = exampleFiles(), interfaces = new Set(["lo", "eth0"])) {
  const { agent, kernel, state, logger } = fakeAgent({ files, interfaces: [...interfaces] });
  const runs = () => kernel.callsOf("check", "apply").map((c) => ({ check: c.op === "check", script: c.script, ok: c.ok }));
  return { agent, kernel, runs, state, logger };
}

describe("agent", () => {
  test("first apply: checks, then applies one script, generation 1", async () => {
    const { agent, kernel, runs } = setup();
    const attempt = await agent.reload("startup");
    expect(attempt.ok).toBe(true);
    expect(runs().map((c) => [c.check, c.ok])).toEqual([[true, true], [false, true]]);
    expect(runs()[0]!.script).toBe(runs()[1]!.script);
    expect(kernel.tables.map((t) => `${t.family} ${t.name}`)).toEqual(["netdev hostwall", "inet hostwall"]);
    expect(agent.generation).toBe(1);
    expect(agent.applied?.resources).toEqual({ HostEndpoint: 1, GlobalNetworkSet: 1, GlobalNetworkPolicy: 2 });
    expect(agent.endpoints()).toEqual([
      {
        name: "production-host",
        interface: "eth0",
        active: true,
        policies: {
          ingress: { untracked: ["dos-mitigation"], preDNAT: [], normal: ["allow-host-services"], forward: [] },
          egress: { untracked: [], normal: ["allow-host-services"], forward: [] },
        },
        profiles: [],
      },
    ]);
  });

  test("an invalid config applies nothing and keeps the last good ruleset", async () => {
    const { agent, kernel, runs, state } = setup();
    await agent.reload("startup");
    const good = agent.applied!;
    const tables = structuredClone(kernel.tables);
    state.files = [...exampleFiles(), { path: "/etc/hostwall/bad.yaml", text: "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: bad\nspec:\n  nets: [192.0.2.300]\n" }];
    const attempt = await agent.reload("config changed");
    expect(attempt.ok).toBe(false);
    expect(attempt.diagnostics.map((d) => [d.code, d.file, d.line, d.column])).toEqual([["INVALID_CIDR", "/etc/hostwall/bad.yaml", 6, 10]]);
    expect(runs().length).toBe(2);
    expect(kernel.tables).toEqual(tables);
    expect(agent.applied).toBe(good);
    expect(agent.generation).toBe(1);
    expect(agent.failureCount).toBe(1);
  });

  test("a kernel rejection in the dry run is mapped to the policy rule and nothing is applied", async () => {
    const { agent, kernel, runs } = setup();
    await agent.reload("startup");
    const script = runs()[1]!.script.split("\n");
    const line = script.findIndex((l) => l.includes('comment "gnp/allow-host-services/ingress/1"')) + 1;
    kernel.failCheck = `/dev/stdin:${line}:3-20: Error: Could not process rule: No such file or directory\n`;
    const attempt = await agent.reload("SIGHUP", { force: true });
    expect(attempt.ok).toBe(false);
    const d = attempt.diagnostics.find((x) => x.code === "NFT_REJECTED")!;
    expect([d.file, d.line, d.column]).toEqual(["/etc/hostwall/40-allow-host-services.yaml", 18, 7]);
    expect(d.message).toBe(`nft check failed: Could not process rule: No such file or directory (script line ${line}, from gnp/allow-host-services/ingress/1)`);
    expect(runs().slice(2).map((c) => [c.check, c.ok])).toEqual([[true, false]]);
    expect(kernel.applied.length).toBe(1);
    expect(agent.generation).toBe(1);
  });

  test("the dry run passes and the apply fails: reported with its origin, the tables and the last good ruleset stay", async () => {
    const { agent, kernel, runs, logger } = setup();
    await agent.reload("startup");
    const good = agent.applied!;
    const tables = structuredClone(kernel.tables);
    const line = runs()[1]!.script.split("\n").findIndex((l) => l.includes(' comment "gnp/dos-mitigation/ingress/0"')) + 1; // the rule, not its drop-summary set's comment line
    kernel.failApply = `/dev/stdin:${line}:1-30: Error: Could not process rule: Cannot allocate memory\n`;
    const attempt = await agent.reload("SIGHUP", { force: true });
    expect(attempt.ok).toBe(false);
    expect(runs().slice(2).map((c) => [c.check, c.ok])).toEqual([[true, true], [false, false]]);
    const d = attempt.diagnostics.find((x) => x.code === "NFT_REJECTED")!;
    expect(d.message).toBe(`nft apply failed: Could not process rule: Cannot allocate memory (script line ${line}, from gnp/dos-mitigation/ingress/0)`);
    expect(d.file).toBe("/etc/hostwall/30-dos-mitigation.yaml");
    expect(kernel.tables).toEqual(tables); // the transaction changed nothing
    expect(kernel.applied.length).toBe(1);
    expect([agent.generation, agent.applyCount, agent.failureCount, agent.applied]).toEqual([1, 1, 1, good]);
    expect(logger.lines.filter((l) => l.startsWith("error: kernel rejected"))).toEqual(["error: kernel rejected the ruleset (SIGHUP); keeping generation 1 in force"]);
    // The next attempt applies again (the failure is not sticky).
    expect((await agent.reload("SIGHUP", { force: true })).ok).toBe(true);
    expect(agent.generation).toBe(2);
  });

  test("a script larger than the dry-run limit goes straight to the (atomic) apply", async () => {
    // Every other address, so normalisation cannot merge them into prefixes.
    const nets = Array.from({ length: 400_000 }, (_, i) => `    - 10.${(i >> 15) & 255}.${(i >> 7) & 255}.${(i & 127) * 2}`).join("\n");
    const big = { path: "/etc/hostwall/25-big.yaml", text: `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\n  labels: {dos-deny-list: 'true'}\nspec:\n  nets:\n${nets}\n` };
    const { agent, kernel, runs } = setup([...exampleFiles(), big]);
    expect((await agent.reload("startup")).ok).toBe(true);
    expect(runs().map((c) => [c.check, c.ok])).toEqual([[false, true]]);
    expect(runs()[0]!.script.length).toBeGreaterThan(DRY_RUN_MAX_BYTES);
    expect(kernel.applied.length).toBe(1);
    // The one transaction carries the whole set: the deny list's 400,000 entries and the example's own.
    const parsed = parseScript(kernel.applied[0]!);
    if (!parsed.ok) throw new Error("unreachable: the fake applied it");
    const sizes = parsed.statements.flatMap((s) => (s.kind === "define" ? s.sets.map((x) => x.elements.length) : []));
    expect(Math.max(...sizes)).toBe(400_000 + exampleSetSize());
  });

  test("an unchanged script is not sent again unless forced", async () => {
    const { agent, runs } = setup();
    await agent.reload("startup");
    expect((await agent.reload("config changed")).unchanged).toBe(true);
    expect(runs().length).toBe(2);
    await agent.reload("SIGHUP", { force: true });
    expect(runs().length).toBe(4);
    expect(agent.generation).toBe(2);
  });

  test("reload requests during an attempt coalesce into one more attempt", async () => {
    const { agent, runs } = setup();
    const first = agent.reload("a", { force: true });
    const queued = [agent.reload("b", { force: true }), agent.reload("c", { force: true }), agent.reload("d", { force: true })];
    await first;
    const results = await Promise.all(queued);
    expect(results[0]).toBe(results[1]!);
    expect(results[1]).toBe(results[2]!);
    expect(runs().length).toBe(4);
    expect(agent.generation).toBe(2);
  });

  test("an interface appearing changes the netdev chains", async () => {
    const { agent, kernel, runs, state } = setup(exampleFiles(), new Set(["lo"]));
    await agent.reload("startup");
    expect(runs()[1]!.script).not.toContain("chain ingress-eth0");
    expect(agent.endpoints()[0]!.active).toBe(false);
    expect(agent.interfacesChanged()).toBe(false);
    state.interfaces = new Set(["lo", "eth0"]);
    expect(agent.interfacesChanged()).toBe(true);
    await agent.reload("interfaces changed");
    expect(runs().at(-1)!.script).toContain('type filter hook ingress device "eth0" priority -500');
    expect(kernel.tables.find((t) => t.family === "netdev")!.chains.map((c) => [c.name, c.hook])).toContainEqual(["ingress-eth0", "ingress"]);
    expect(agent.interfacesChanged()).toBe(false);
  });
});

/** Entries of the example deny list (rules/20-dos-deny-list.yaml), as the renderer writes them. */
function exampleSetSize(): number {
  const parsed = parseScript(buildRuleset({ files: exampleFiles(), node: "jasper" }).script!.text);
  if (!parsed.ok) throw new Error("the example script is malformed");
  return Math.max(...parsed.statements.flatMap((s) => (s.kind === "define" ? s.sets.map((x) => x.elements.length) : [])));
}

describe("drift repair with a rejected config", () => {
  /** Generation 1 in force, then the config on disk broken and the tables deleted from outside. */
  async function drifted() {
    const f = setup();
    await f.agent.reload("startup");
    const script = f.agent.applied!.script;
    f.state.files = [...exampleFiles(), { path: "/etc/hostwall/bad.yaml", text: "kind: Nope\n" }];
    f.kernel.drop("inet");
    return { ...f, script };
  }

  /** The same, on a runner that throws (nft cannot be spawned) once generation 1 is in force. */
  async function driftedWithThrowingRunner() {
    const { kernel, runner: inner } = fakeKernel();
    let armed = false;
    const runner = {
      ...inner,
      thrown: 0,
      async apply(script: string, opts?: { check?: boolean }) {
        if (!armed) return inner.apply(script, opts);
        runner.thrown++;
        throw new Error("spawn nft: EAGAIN");
      },
    };
    const f = fakeAgent({ runner, kernel: { kernel, runner: inner } });
    await f.agent.reload("startup");
    f.state.files = [...exampleFiles(), { path: "/etc/hostwall/bad.yaml", text: "kind: Nope\n" }];
    kernel.drop("inet");
    armed = true;
    return { ...f, kernel, runner };
  }

  test("the restore re-applies the script in force", async () => {
    const { agent, kernel, runs, script } = await drifted();
    const r = await agent.checkDrift();
    expect(r).toMatchObject({ state: "drift", repaired: true });
    expect(runs().slice(2).map((c) => [c.check, c.ok, c.script === script])).toEqual([[true, true, true], [false, true, true]]);
    expect(kernel.tables.map((t) => `${t.family} ${t.name}`)).toEqual(["netdev hostwall", "inet hostwall"]);
    expect([agent.drift.count, agent.drift.repairs, agent.generation]).toEqual([1, 1, 1]);
  });

  test("a restore whose apply fails is logged and counted, nothing throws, and the next check repairs", async () => {
    const { agent, kernel, runs, logger, script } = await drifted();
    kernel.failApply = "Error: Could not process rule: Cannot allocate memory\n";
    const r = await agent.checkDrift();
    expect(r).toMatchObject({ state: "drift", repaired: false });
    expect(runs().slice(2).map((c) => [c.check, c.ok, c.script === script])).toEqual([[true, true, true], [false, false, true]]);
    expect(kernel.tables.map((t) => `${t.family} ${t.name}`)).toEqual(["netdev hostwall"]); // still drifted
    expect([agent.drift.count, agent.drift.repairs, agent.drift.last?.repaired, agent.failureCount, agent.generation]).toEqual([1, 0, false, 1, 1]);
    expect(agent.lastAttempt).toMatchObject({ ok: false, reason: "drift repair" });
    expect(logger.lines).toContain("error: cannot apply generation 1 again: nft apply failed: Error: Could not process rule: Cannot allocate memory");
    expect(logger.lines.some((l) => l.includes("restored the ruleset"))).toBe(false);
    // The fault is gone: the next check restores it.
    expect(await agent.checkDrift()).toMatchObject({ state: "drift", repaired: true });
    expect([agent.drift.count, agent.drift.repairs]).toEqual([2, 1]);
    expect(kernel.tables.map((t) => `${t.family} ${t.name}`)).toEqual(["netdev hostwall", "inet hostwall"]);
  });

  test("a restore whose runner throws is a failed attempt, logged, and nothing escapes", async () => {
    const { agent, kernel, runner, logger } = await driftedWithThrowingRunner();
    const r = await agent.checkDrift();
    expect(r).toMatchObject({ state: "drift", repaired: false });
    expect(agent.lastAttempt).toMatchObject({ ok: false, reason: "drift repair" });
    expect(logger.lines.filter((l) => l.startsWith("error:"))).toEqual([
      "error: config rejected (drift repair); keeping generation 1 in force",
      expect.stringMatching(/^error: \/etc\/hostwall\/bad\.yaml:1:7: error\[UNKNOWN_KIND\]: unknown kind "Nope"/),
      "error: cannot restore generation 1: spawn nft: EAGAIN",
    ]);
    // One attempt, one failure: the restore's own failure is logged, not counted again.
    expect(agent.failureCount).toBe(1);
    expect([agent.drift.count, agent.drift.repairs, agent.generation]).toEqual([1, 0, 1]);
    expect(kernel.tables.map((t) => `${t.family} ${t.name}`)).toEqual(["netdev hostwall"]);
    expect(runner.thrown).toBe(1); // the restore
  });
});
describe("status API", () => {
  test("readyz is 503 before the first apply and 200 after; status has the contract's fields", async () => {
    const { agent } = setup();
    const app = createApi({ agent, version: "1.2.3", node: "jasper", configDir: "/etc/hostwall" });
    expect((await app.request("/healthz")).status).toBe(200);
    expect((await app.request("/readyz")).status).toBe(503);
    expect((await app.request("/ruleset")).status).toBe(404);
    await agent.reload("startup");
    expect((await app.request("/readyz")).status).toBe(200);
    const status = (await (await app.request("/status")).json()) as any;
    expect(status).toMatchObject({ version: "1.2.3", node: "jasper", configDir: "/etc/hostwall", generation: 1, lastAttempt: { ok: true, diagnostics: [] } });
    expect(Object.keys(status.applied).sort()).toEqual(["at", "durationMs", "hash", "resources", "source"]);
    expect(status).toMatchObject({ applied: { source: "config" }, inKernel: null, enforcedEndpoints: 1 });
    expect(status.endpoints[0]).toMatchObject({ name: "production-host", interface: "eth0", active: true });
    expect(await (await app.request("/ruleset")).text()).toContain("table netdev hostwall {");
    const metrics = await (await app.request("/metrics")).text();
    expect(metrics).toContain("hostwall_generation 1\n");
    expect(metrics).toContain('hostwall_resources{kind="GlobalNetworkPolicy"} 2\n');
  });

  test("POST /reload answers with the attempt; failures are 422 with diagnostics", async () => {
    const { agent, state } = setup();
    const app = createApi({ agent, version: "x", node: "jasper", configDir: "/etc/hostwall" });
    const ok = await app.request("/reload", { method: "POST", headers: { "content-type": "application/json" } });
    expect(ok.status).toBe(200);
    state.files = [{ path: "/etc/hostwall/x.yaml", text: "kind: Nope\n" }];
    const bad = await app.request("/reload", { method: "POST", headers: { "content-type": "application/json" } });
    expect(bad.status).toBe(422);
    const body = (await bad.json()) as any;
    expect(body.ok).toBe(false);
    expect(body.attempt.diagnostics.map((d: any) => d.code)).toEqual(["UNKNOWN_KIND"]);
    expect((await app.request("/nope")).status).toBe(404);
    expect((await app.request("/status", { method: "DELETE" })).status).toBe(405); // a known path with another method: 405 with Allow (issue #5)
  });
});

describe("an internal error: the incremental state is dropped and the attempt runs once more from nothing", () => {
  /** Interfaces whose listing throws `times` times (a stand-in for a bug anywhere in an attempt), then lists lo and eth0. */
  const throwing = (times: { left: number }) =>
    ({
      [Symbol.iterator]() {
        if (times.left-- > 0) throw new Error("a bug");
        return ["lo", "eth0"][Symbol.iterator]();
      },
      has: (name: string) => name === "lo" || name === "eth0",
    }) as unknown as Set<string>;

  test("one internal error: the parse cache is cleared and the retry applies; two in a row: no third attempt", async () => {
    clearParseCache();
    const f = fakeAgent();
    expect((await f.agent.reload("startup")).ok).toBe(true);
    const generation = f.agent.generation;
    const hits = parseCacheStats().hits;
    // The same files once more, but the attempt hits a bug: the cache is dropped, so the retry parses everything again.
    const times = { left: 1 };
    f.state.interfaces = throwing(times);
    const failed = await f.agent.reload("SIGHUP");
    expect(failed.diagnostics.map((d) => d.code)).toEqual(["INTERNAL_ERROR"]);
    await f.agent.idle();
    expect(f.agent.lastAttempt).toMatchObject({ ok: true, reason: "SIGHUP; again from nothing after an internal error" });
    expect(parseCacheStats().hits).toBe(hits); // nothing was found in the cache: it was read from nothing
    expect(f.logger.lines.some((l) => l.includes("the attempt runs again from nothing"))).toBe(true);
    expect(f.agent.generation).toBe(generation); // the same config: unchanged, nothing applied again
    // Two bugs in a row: the retry fails too, and nothing loops.
    times.left = 2;
    const reads = f.state.reads;
    await f.agent.reload("SIGHUP");
    await f.agent.idle();
    expect(f.state.reads - reads).toBe(2);
    expect(f.agent.lastAttempt?.diagnostics.map((d) => d.code)).toEqual(["INTERNAL_ERROR"]);
    expect(f.logger.lines.some((l) => l.includes("not retried"))).toBe(true);
    // A success re-arms the retry.
    expect((await f.agent.reload("SIGHUP")).ok).toBe(true);
    times.left = 1;
    await f.agent.reload("SIGHUP");
    await f.agent.idle();
    expect(f.agent.lastAttempt?.ok).toBe(true);
  });
});
