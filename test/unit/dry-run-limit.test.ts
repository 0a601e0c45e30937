/**
 * The dry run (agent/apply.ts sendScript): only for scripts the library runs in-process; a
 * script big enough for a spawned nft goes straight to the apply, which is one transaction too
 * (a 100,000-address start spent twice a bare `nft -f` in its send with a dry run up to 4 MiB).
 */
import { describe, expect, test } from "bun:test";
import { DRY_RUN_MAX_BYTES, sendScript } from "../../src/agent/apply.ts";
import { IN_PROCESS_MAX_BYTES, type NftRunner } from "../../src/nft/runner.ts";

function recorder() {
  const calls: { check: boolean; bytes: number }[] = [];
  const runner: NftRunner = { apply: async (script, opts) => (calls.push({ check: opts?.check ?? false, bytes: script.length }), { ok: true, stdout: "", stderr: "" }) };
  return { calls, runner };
}

describe("dry run", () => {
  test("a script the library takes in-process: checked, then applied", async () => {
    const { calls, runner } = recorder();
    expect((await sendScript(runner, "x".repeat(IN_PROCESS_MAX_BYTES))).ok).toBe(true);
    expect(calls.map((c) => c.check)).toEqual([true, false]);
  });

  test("a script over the in-process limit (1.5 MiB, ~100,000 addresses): applied once, no dry run", async () => {
    const { calls, runner } = recorder();
    expect(DRY_RUN_MAX_BYTES).toBe(IN_PROCESS_MAX_BYTES);
    expect((await sendScript(runner, "x".repeat(1.5 * 1024 * 1024))).ok).toBe(true);
    expect(calls).toEqual([{ check: false, bytes: 1.5 * 1024 * 1024 }]);
  });
});
