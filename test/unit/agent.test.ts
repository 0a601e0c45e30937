/**
 * The agent loop with a fake nft runner and in-memory files: all-or-nothing, keep the last
 * good ruleset, kernel rejections mapped to the YAML, unchanged scripts not re-sent,
 * reloads coalesced, interface changes noticed.
 */
import { describe, expect, test } from "bun:test";
import { DRY_RUN_MAX_BYTES } from "../../src/agent/agent.ts";
import { createApi } from "../../src/agent/api.ts";
import type { NftResult, NftRunner } from "../../src/nft/runner.ts";
import { exampleFiles, fakeAgent } from "./api-fakes.ts";

/** Records every script; fails checks or applies on demand, with nft's error format. */
function fakeRunner() {
  const calls: { script: string; check: boolean }[] = [];
  let failNext: { check: boolean; stderr: string } | undefined;
  const runner: NftRunner & { calls: typeof calls; fail(check: boolean, stderr: string): void } = {
    calls,
    fail(check, stderr) {
      failNext = { check, stderr };
    },
    async apply(script, opts) {
      const check = opts?.check ?? false;
      calls.push({ script, check });
      if (failNext && failNext.check === check) {
        const stderr = failNext.stderr;
        failNext = undefined;
        return { ok: false, stdout: "", stderr } satisfies NftResult;
      }
      return { ok: true, stdout: "", stderr: "" };
    },
    async command() {
      return { ok: true, stdout: "", stderr: "" };
    },
  };
  return runner;
}

function setup(files = exampleFiles(), interfaces = new Set(["lo", "eth0"])) {
  const runner = fakeRunner();
  const { agent, state, logger } = fakeAgent({ files, interfaces: [...interfaces], runner });
  return { agent, runner, state, logger };
}

describe("agent", () => {
  test("first apply: checks, then applies one script, generation 1", async () => {
    const { agent, runner } = setup();
    const attempt = await agent.reload("startup");
    expect(attempt.ok).toBe(true);
    expect(runner.calls.map((c) => c.check)).toEqual([true, false]);
    expect(runner.calls[0]!.script).toBe(runner.calls[1]!.script);
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
    const { agent, runner, state } = setup();
    await agent.reload("startup");
    const good = agent.applied!;
    state.files = [...exampleFiles(), { path: "/etc/hostwall/bad.yaml", text: "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: bad\nspec:\n  nets: [192.0.2.300]\n" }];
    const attempt = await agent.reload("config changed");
    expect(attempt.ok).toBe(false);
    expect(attempt.diagnostics.map((d) => [d.code, d.file, d.line, d.column])).toEqual([["INVALID_CIDR", "/etc/hostwall/bad.yaml", 6, 10]]);
    expect(runner.calls.length).toBe(2);
    expect(agent.applied).toBe(good);
    expect(agent.generation).toBe(1);
    expect(agent.failureCount).toBe(1);
  });

  test("a kernel rejection in the dry run is mapped to the policy rule and nothing is applied", async () => {
    const { agent, runner } = setup();
    await agent.reload("startup");
    const script = runner.calls[1]!.script.split("\n");
    const line = script.findIndex((l) => l.includes('comment "gnp/allow-host-services/ingress/1"')) + 1;
    runner.fail(true, `/dev/stdin:${line}:3-20: Error: Could not process rule: No such file or directory\n`);
    const attempt = await agent.reload("SIGHUP", { force: true });
    expect(attempt.ok).toBe(false);
    const d = attempt.diagnostics.find((x) => x.code === "NFT_REJECTED")!;
    expect([d.file, d.line, d.column]).toEqual(["/etc/hostwall/40-allow-host-services.yaml", 18, 7]);
    expect(d.message).toContain("gnp/allow-host-services/ingress/1");
    expect(runner.calls.slice(2).map((c) => c.check)).toEqual([true]);
    expect(agent.generation).toBe(1);
  });

  test("a script larger than the dry-run limit goes straight to the (atomic) apply", async () => {
    // Every other address, so normalisation cannot merge them into prefixes.
    const nets = Array.from({ length: 400_000 }, (_, i) => `    - 10.${(i >> 15) & 255}.${(i >> 7) & 255}.${(i & 127) * 2}`).join("\n");
    const big = { path: "/etc/hostwall/25-big.yaml", text: `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\n  labels: {dos-deny-list: 'true'}\nspec:\n  nets:\n${nets}\n` };
    const { agent, runner } = setup([...exampleFiles(), big]);
    expect((await agent.reload("startup")).ok).toBe(true);
    expect(runner.calls.map((c) => c.check)).toEqual([false]);
    expect(runner.calls[0]!.script.length).toBeGreaterThan(DRY_RUN_MAX_BYTES);
  });

  test("an unchanged script is not sent again unless forced", async () => {
    const { agent, runner } = setup();
    await agent.reload("startup");
    expect((await agent.reload("config changed")).unchanged).toBe(true);
    expect(runner.calls.length).toBe(2);
    await agent.reload("SIGHUP", { force: true });
    expect(runner.calls.length).toBe(4);
    expect(agent.generation).toBe(2);
  });

  test("reload requests during an attempt coalesce into one more attempt", async () => {
    const { agent, runner } = setup();
    const first = agent.reload("a", { force: true });
    const queued = [agent.reload("b", { force: true }), agent.reload("c", { force: true }), agent.reload("d", { force: true })];
    await first;
    const results = await Promise.all(queued);
    expect(results[0]).toBe(results[1]!);
    expect(results[1]).toBe(results[2]!);
    expect(runner.calls.length).toBe(4);
    expect(agent.generation).toBe(2);
  });

  test("an interface appearing changes the netdev chains", async () => {
    const { agent, runner, state } = setup(exampleFiles(), new Set(["lo"]));
    await agent.reload("startup");
    expect(runner.calls[1]!.script).not.toContain("chain ingress-eth0");
    expect(agent.endpoints()[0]!.active).toBe(false);
    expect(agent.interfacesChanged()).toBe(false);
    state.interfaces = new Set(["lo", "eth0"]);
    expect(agent.interfacesChanged()).toBe(true);
    await agent.reload("interfaces changed");
    expect(runner.calls.at(-1)!.script).toContain('type filter hook ingress device "eth0" priority -500');
    expect(agent.interfacesChanged()).toBe(false);
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
