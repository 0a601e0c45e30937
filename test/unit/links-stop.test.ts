/**
 * A shutdown logs no link-monitor restart (issue 11, item 12): `ip monitor` killed by the same
 * SIGTERM as the agent (a process group, Ctrl-C) used to log "the link monitor exited (code
 * 143); restarting it" on every stop.
 */
import { describe, expect, test } from "bun:test";
import { monitorLinks, type LineProcess } from "../../src/agent/links.ts";

/** A monitor process that exits with `code` right after it starts. */
function dying(code: number): () => LineProcess {
  return () => ({ lines: (async function* () {})(), exited: Promise.resolve(code), kill: () => {} });
}

/** A link monitor whose child exits with `code` at once, and the exits it reports. */
function monitorExiting(code: number, backoffMs: number) {
  const exits: string[] = [];
  const m = monitorLinks({ start: dying(code), list: async () => [], onStart: () => {}, onEvent: () => {}, onExit: (msg) => exits.push(msg), backoffMs });
  return { m, exits };
}

describe("link monitor and signals", () => {
  test("killed by SIGTERM while the agent stops: no restart, nothing reported", async () => {
    const { m, exits } = monitorExiting(143, 10);
    await Bun.sleep(50); // the child is gone; the agent's stop() comes a moment later
    m.stop();
    await Bun.sleep(400);
    expect(exits).toEqual([]);
    expect(m.restarts).toBe(0);
  });

  test("killed by SIGTERM from elsewhere while the agent runs: reported and restarted after the grace", async () => {
    const { m, exits } = monitorExiting(143, 10_000);
    await Bun.sleep(400);
    m.stop();
    expect(exits).toEqual(["the link monitor exited (code 143)"]);
  });

  test("any other exit is reported at once", async () => {
    const { m, exits } = monitorExiting(1, 10_000);
    await Bun.sleep(50);
    m.stop();
    expect(exits).toEqual(["the link monitor exited (code 1)"]);
  });
});
