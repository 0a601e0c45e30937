/**
 * What the API says is in force (issue 11 items 4 and 14): after a restart whose config is
 * rejected, the tables the kernel holds are reported as in force by /readyz, /status, /ruleset
 * and `hostwall status`; /metrics follows Prometheus' naming rules.
 */
import { describe, expect, test } from "bun:test";
import { createApi } from "../../src/api/app.ts";
import type { SourceFile } from "../../src/source/source-file.ts";
import { exampleFiles, fakeAgent, fakeKernel } from "./api-fakes.ts";

const BAD: SourceFile = { path: "/etc/hostwall/99-bad.yaml", text: "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\nspec: {order: x}\n" };

describe("the truth after a restart", () => {
  test("a rejected config at start: the ruleset found in the kernel is in force, and every view says so", async () => {
    const kernel = fakeKernel();
    const first = fakeAgent({ kernel });
    await first.agent.reload("startup");
    const again = fakeAgent({ kernel, files: [...exampleFiles(), BAD] });
    const app = createApi({ agent: again.agent, version: "t", node: "jasper", configDir: "/etc/hostwall" });
    expect((await again.agent.reload("startup")).ok).toBe(false);
    expect(again.logger.lines).toContain("error: config rejected (startup); keeping the hostwall ruleset found in the kernel in force");
    const ready = await app.request("/readyz");
    expect([ready.status, await ready.json()]).toEqual([200, { status: "ready", generation: 1, source: "kernel" }]);
    const status = (await (await app.request("/status")).json()) as any;
    expect(status).toMatchObject({ generation: 1, applied: null, inKernel: { tables: ["netdev hostwall", "inet hostwall"], generation: 1 }, boot: { action: "kept-kernel" }, lastAttempt: { ok: false } });
    const ruleset = await app.request("/ruleset");
    expect(ruleset.status).toBe(200);
    expect(await ruleset.text()).toStartWith("# hostwall's tables found in the kernel at start are in force (generation 1, hash ");
    const metrics = await (await app.request("/metrics")).text();
    expect(metrics).toContain("hostwall_ruleset_in_force 1\n");
  });

  test("nothing in the kernel and nothing applied: not ready, and /metrics says no ruleset is in force", async () => {
    const f = fakeAgent({ files: [BAD] });
    const app = createApi({ agent: f.agent, version: "t", node: "jasper", configDir: "/etc/hostwall" });
    await f.agent.reload("startup");
    expect((await app.request("/readyz")).status).toBe(503);
    expect((await app.request("/ruleset")).status).toBe(404);
    const metrics = await (await app.request("/metrics")).text();
    expect(metrics).toContain("hostwall_ruleset_in_force 0\n");
    expect(metrics).toContain("hostwall_endpoints_enforced 0\n");
  });
});

describe("/metrics naming (promtool check metrics' rules)", () => {
  test("counters end in _total, no unit but base units, every family has HELP and TYPE", async () => {
    const f = fakeAgent();
    await f.agent.reload("startup");
    const text = await (await createApi({ agent: f.agent, version: "t", node: "jasper", configDir: "/etc/hostwall" }).request("/metrics")).text();
    const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => ({ name: m[1]!, type: m[2]! }));
    expect(types.length).toBeGreaterThan(10);
    const problems: string[] = [];
    for (const { name, type } of types) {
      if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) problems.push(`${name}: invalid name`);
      if (type === "counter" && !name.endsWith("_total")) problems.push(`${name}: counter without _total`);
      if (type !== "counter" && name.endsWith("_total")) problems.push(`${name}: _total on a ${type}`);
      if (/_(ms|milliseconds|microseconds|kilobytes|megabytes|minutes|hours|days)(_|$)/.test(name)) problems.push(`${name}: not a base unit`);
      if (!new RegExp(`^# HELP ${name} \\S`, "m").test(text)) problems.push(`${name}: no HELP`);
    }
    expect(problems).toEqual([]);
    expect(text).toContain("hostwall_last_apply_duration_seconds ");
  });
});
