/**
 * agent/apply.ts sendRuleset: when an apply is a delta and when a full replace, what a refused
 * delta leads to (the full script, and after DELTA_FAILURES_MAX refusals in a row a run of full
 * replaces); and the start's fail-safe path after deltas (the tables' stamp is the last full
 * replace's, which the record names).
 */
import { describe, expect, test } from "bun:test";
import { DELTA_FAILURES_MAX, FULL_APPLIES_AFTER_FAILURES, newEngineState, sendRuleset } from "../../src/agent/apply.ts";
import type { NftRuleset } from "../../src/nft/ir.ts";
import type { NftResult, NftRunner } from "../../src/nft/runner.ts";
import type { SourceFile } from "../../src/source/source-file.ts";
import { exampleFiles, fakeAgent, fakeKernel, memoryState } from "./api-fakes.ts";

const ir = (elements: string[]): NftRuleset => ({ tables: [{ family: "netdev", name: "hostwall", sets: [{ name: "s", type: "ipv4_addr", interval: false, elements }], chains: [] }] });
const FULL = "table netdev hostwall {}\ndelete table netdev hostwall\ntable netdev hostwall {\n}\n";

/** A runner that takes deltas, refuses them while `refuse` is set, and records what it got. */
function runner() {
  const calls: { script: string; check: boolean }[] = [];
  const r = {
    refuse: false,
    calls,
    deltas: true,
    async apply(script: string, opts?: { check?: boolean }): Promise<NftResult> {
      calls.push({ script, check: opts?.check === true });
      const refused = r.refuse && !script.includes("delete table");
      return { ok: !refused, stdout: "", stderr: refused ? "/dev/stdin:1:1-1: Error: Could not process rule: No such file or directory\n" : "" };
    },
  };
  return r as typeof r & NftRunner;
}
const logger = () => {
  const lines: string[] = [];
  return { lines, log: (level: string, text: string) => void lines.push(`${level}: ${text}`) };
};

describe("sendRuleset", () => {
  test("first apply full, then deltas; forced applies are full", async () => {
    const r = runner();
    const engine = newEngineState();
    const log = logger();
    expect(await sendRuleset(r, log as never, engine, { next: ir(["192.0.2.1"]), full: FULL, force: false })).toMatchObject({ ok: true, mode: "full", why: "first apply" });
    expect(await sendRuleset(r, log as never, engine, { inForce: ir(["192.0.2.1"]), next: ir(["192.0.2.2"]), full: FULL, force: false })).toMatchObject({ ok: true, mode: "delta", summary: { elementsAdded: 1, elementsRemoved: 1 } });
    expect(r.calls.at(-1)!.script).toBe("delete element netdev hostwall s {\n\t192.0.2.1\n}\nadd element netdev hostwall s {\n\t192.0.2.2\n}\n");
    expect(await sendRuleset(r, log as never, engine, { inForce: ir(["192.0.2.2"]), next: ir(["192.0.2.2"]), full: FULL, force: true })).toMatchObject({ ok: true, mode: "full", why: "forced" });
    expect(engine).toMatchObject({ deltas: 1, fullApplies: 2, deltasRejected: 0 });
  });

  test("a refused delta: the full script instead; after DELTA_FAILURES_MAX in a row, full replaces for a while, then deltas again", async () => {
    const r = runner();
    const engine = newEngineState();
    const log = logger();
    r.refuse = true;
    for (let i = 0; i < DELTA_FAILURES_MAX; i++) {
      expect(await sendRuleset(r, log as never, engine, { inForce: ir([`192.0.2.${i}`]), next: ir([`192.0.2.${i + 1}`]), full: FULL, force: false })).toMatchObject({ ok: true, mode: "full", why: "the delta was refused" });
    }
    expect(engine).toMatchObject({ deltasRejected: DELTA_FAILURES_MAX, fullApplies: DELTA_FAILURES_MAX, fullOnlyLeft: FULL_APPLIES_AFTER_FAILURES });
    expect(log.lines.filter((l) => l.startsWith("warning: the kernel refused the delta (nft check: Could not process rule: No such file or directory)")).length).toBe(DELTA_FAILURES_MAX);
    expect(log.lines).toContain(`warning: ${DELTA_FAILURES_MAX} deltas refused in a row: the next ${FULL_APPLIES_AFTER_FAILURES} applies recreate hostwall's tables whole`);
    r.refuse = false;
    const before = r.calls.length;
    for (let i = 0; i < FULL_APPLIES_AFTER_FAILURES; i++) {
      expect(await sendRuleset(r, log as never, engine, { inForce: ir(["192.0.2.1"]), next: ir(["192.0.2.2"]), full: FULL, force: false })).toMatchObject({ mode: "full", why: `recreating the tables after ${DELTA_FAILURES_MAX} refused deltas` });
    }
    // No delta was even tried meanwhile: every call was the full script (check and apply).
    expect(r.calls.slice(before).every((c) => c.script === FULL)).toBe(true);
    expect(await sendRuleset(r, log as never, engine, { inForce: ir(["192.0.2.1"]), next: ir(["192.0.2.2"]), full: FULL, force: false })).toMatchObject({ mode: "delta" });
  });

  test("a runner without deltas (whole tables only) always gets the full script", async () => {
    const r = runner();
    (r as { deltas?: boolean }).deltas = undefined;
    const engine = newEngineState();
    expect(await sendRuleset(r, logger() as never, engine, { inForce: ir(["192.0.2.1"]), next: ir(["192.0.2.2"]), full: FULL, force: false })).toMatchObject({ mode: "full", why: "the runner takes whole tables only" });
  });
});

const BAD: SourceFile = { path: "/etc/hostwall/99-bad.yaml", text: "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: bad}\nspec:\n  ingress: [{action: Allow, protocol: TCP, destination: {ports: [70000]}}]\n" };

test("a rejected config at start after deltas: the tables (stamped by the last full replace, which the record names) are the saved last good one", async () => {
  const kernel = fakeKernel();
  const state = memoryState();
  const first = fakeAgent({ kernel, state });
  expect((await first.agent.reload("startup")).ok).toBe(true);
  const record = state.record!;
  expect(record.engine?.stamp).toEqual({ generation: 1, hash: record.hash });
  // As after deltas: the record's ruleset moved on, the tables' stamp did not.
  state.record = { ...record, hash: "fedcba9876543210", generation: 5 };
  const again = fakeAgent({ kernel, state, files: [...exampleFiles(), BAD] });
  expect((await again.agent.reload("startup")).ok).toBe(false);
  expect(again.agent.boot?.action).toBe("kept-kernel");
  expect(again.agent.applied?.source).toBe("kernel");
  expect(again.logger.lines.some((l) => l.includes("it is not the saved last good ruleset"))).toBe(false);
});
