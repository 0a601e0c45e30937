/**
 * The agent removes a stale `hostwall trace` table (its trace was SIGKILLed) at start and in
 * its drift check, and leaves the table of a trace that still runs.
 */
import { expect, test } from "bun:test";
import type { NftRunner } from "../../src/nft/runner.ts";
import { removeStaleTrace } from "../../src/agent/trace-cleanup.ts";
import type { Logger } from "../../src/agent/log.ts";

function fake(tables: Map<string, string | undefined>, applyOk = true) {
  const applied: string[] = [];
  const logs: string[] = [];
  const runner: NftRunner = {
    apply: async (script) => {
      applied.push(script);
      if (applyOk) for (const k of [...tables.keys()]) if (k.endsWith(" hostwall-trace")) tables.delete(k);
      return { ok: applyOk, stdout: "", stderr: applyOk ? "" : "Error: Operation not permitted" };
    },
    tables: async () => ({ ok: true, tables }),
  };
  const logger: Logger = { log: (level, message) => logs.push(`${level}: ${message}`) };
  return { runner, logger, applied, logs };
}

const STAMP = "hostwall generation 3 hash abc";

test("a trace table whose pid is gone is removed, and only the trace tables are named", async () => {
  const tables = new Map<string, string | undefined>([["netdev hostwall", STAMP], ["inet hostwall", STAMP], ["netdev hostwall-trace", "hostwall trace pid 999999"], ["inet hostwall-trace", "hostwall trace pid 999999"]]);
  const f = fake(tables);
  expect(await removeStaleTrace(f.runner, f.logger, () => false)).toBe(true);
  expect(f.applied).toEqual(["add table netdev hostwall-trace\ndelete table netdev hostwall-trace\nadd table inet hostwall-trace\ndelete table inet hostwall-trace\n"]);
  expect([...tables.keys()]).toEqual(["netdev hostwall", "inet hostwall"]);
  expect(f.logs).toEqual(["notice: removed the stale trace table (netdev hostwall-trace, inet hostwall-trace, its trace pid 999999 is gone)"]);
});

test("the table of a running trace is left alone", async () => {
  const f = fake(new Map([["inet hostwall-trace", "hostwall trace pid 4242"]]));
  expect(await removeStaleTrace(f.runner, f.logger, (pid) => pid === 4242)).toBe(false);
  expect(f.applied).toEqual([]);
});

test("a trace table without a holder (someone else's comment) is stale", async () => {
  const f = fake(new Map([["netdev hostwall-trace", undefined]]));
  expect(await removeStaleTrace(f.runner, f.logger, () => true)).toBe(true);
  expect(f.applied.length).toBe(1);
});

test("no trace table: nothing applied; a failed removal is a warning, not an exception", async () => {
  const none = fake(new Map([["inet hostwall", STAMP]]));
  expect(await removeStaleTrace(none.runner, none.logger)).toBe(false);
  expect(none.applied).toEqual([]);
  const failing = fake(new Map([["inet hostwall-trace", "hostwall trace pid 999999"]]), false);
  expect(await removeStaleTrace(failing.runner, failing.logger, () => false)).toBe(false);
  expect(failing.logs).toEqual(["warning: cannot remove the stale trace table inet hostwall-trace: Error: Operation not permitted"]);
});
