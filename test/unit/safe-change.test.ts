/**
 * The safe-change workflow in the agent (#14 items 1-3) on the fake kernel: the lockout check
 * before an apply (refused with the rule named, allowed by --allow-lockout or a confirm window,
 * failsafe sessions left alone, an unreadable socket table a warning), and confirm or revert
 * (the window expires and the previous ruleset is back under a new generation, a confirmed
 * change stays, an edit during the window keeps the same baseline, concurrent requests).
 */
import { describe, expect, test } from "bun:test";
import { createApi } from "../../src/api/app.ts";
import { confirmCommand } from "../../src/cli/confirm.ts";
import { diffCommand } from "../../src/cli/diff.ts";
import type { Agent } from "../../src/agent/agent.ts";
import type { Session, SessionTable } from "../../src/agent/sessions.ts";
import { parseAddress } from "../../src/model/cidr-parse.ts";
import type { Cidr } from "../../src/model/cidr.ts";
import { exampleFiles, fakeAgent, MORE_DENY, unstamped } from "./api-fakes.ts";

/** 198.51.100.7 (which MORE_DENY puts on the untracked deny list) connected to port 443 of eth0. */
const CLIENT: Session = { family: 4, local: "192.0.2.10", localPort: 443, peer: "198.51.100.7", peerPort: 40000, source: "socket" };
const cidr = (a: string): Cidr => {
  const p = parseAddress(a);
  if (!p.ok) throw new Error(a);
  return p.cidr;
};

function setup(table: SessionTable = { ok: true, sessions: [CLIENT], truncated: false }, extra: { allowLockout?: boolean; confirmChangesMs?: number } = {}) {
  const f = fakeAgent();
  f.state.addresses.set("eth0", [cidr("192.0.2.10")]);
  // The agent's deps are its own; the fakes give none of these, so the test adds them.
  Object.assign((f.agent as unknown as { deps: object }).deps, { liveSessions: () => table, ...extra });
  return f;
}

/** The agent's confirm window built with these deps (the constructor read confirmChangesMs). */
const lastApply = (kernel: ReturnType<typeof fakeAgent>["kernel"]) => unstamped(kernel.callsOf("apply").at(-1)!.script);

describe("lockout check", () => {
  test("a change that denies a live session is refused, naming the session and the rule", async () => {
    const { agent, state, kernel } = setup();
    await agent.reload("startup");
    const applies = kernel.callsOf("apply").length;
    state.files = [...exampleFiles(), MORE_DENY];
    const attempt = await agent.reload("config changed");
    expect(attempt.ok).toBe(false);
    const lockout = attempt.diagnostics.filter((d) => d.code === "LOCKOUT_RISK");
    expect(lockout.map((d) => [d.severity, d.file, d.line, d.resource, d.path])).toEqual([["error", "/etc/hostwall/30-dos-mitigation.yaml", 14, "GlobalNetworkPolicy/dos-mitigation", "spec.ingress[0]"]]);
    expect(lockout[0]!.message).toContain("would cut the live session 198.51.100.7:40000 → 192.0.2.10:443");
    expect(lockout[0]!.message).toContain("policy dos-mitigation, ingress rule 0 (Deny) in the untracked stage");
    expect(kernel.callsOf("apply").length).toBe(applies);
    expect(agent.generation).toBe(1);
  });

  test("--allow-lockout applies it, with the finding as a warning", async () => {
    const { agent, state } = setup();
    await agent.reload("startup");
    state.files = [...exampleFiles(), MORE_DENY];
    const attempt = await agent.reload("POST /reload", { request: { allowLockout: true } });
    expect(attempt.ok).toBe(true);
    expect(attempt.diagnostics.filter((d) => d.code === "LOCKOUT_RISK").map((d) => d.severity)).toEqual(["warning"]);
    expect(agent.generation).toBe(2);
  });

  test("a session a failsafe port covers is not in the way; nor is one the new config still allows", async () => {
    const { agent, state } = setup({ ok: true, sessions: [{ ...CLIENT, localPort: 22 }, { ...CLIENT, peer: "198.51.100.8" }], truncated: false });
    await agent.reload("startup");
    state.files = [...exampleFiles(), MORE_DENY];
    const attempt = await agent.reload("config changed");
    expect(attempt.ok).toBe(true);
    expect(attempt.diagnostics.filter((d) => d.code.startsWith("LOCKOUT_RISK"))).toEqual([]);
  });

  test("a session the ruleset in force denies already (it lingers by conntrack) does not block an unrelated change", async () => {
    const { agent, state } = setup({ ok: true, sessions: [{ ...CLIENT, peer: "192.0.2.66" }], truncated: false });
    await agent.reload("startup");
    state.files = [...exampleFiles(), MORE_DENY];
    const attempt = await agent.reload("config changed");
    expect(attempt.ok).toBe(true);
    expect(attempt.diagnostics.filter((d) => d.code.startsWith("LOCKOUT"))).toEqual([]);
  });

  test("the daemon's start is not checked (what the kernel holds is unknown); run --once (explicit) is", async () => {
    const start = setup();
    start.state.files = [...exampleFiles(), MORE_DENY];
    expect((await start.agent.reload("startup")).ok).toBe(true);
    const once = setup();
    once.state.files = [...exampleFiles(), MORE_DENY];
    const attempt = await once.agent.reload("startup", { request: { explicit: true } });
    expect([attempt.ok, attempt.diagnostics.filter((d) => d.code === "LOCKOUT_RISK").length]).toEqual([false, 1]);
  });

  test("a socket table that cannot be read is a warning, and the apply goes on", async () => {
    const { agent, state } = setup({ ok: false, error: "cannot read the socket table /proc/self/net/tcp: EACCES" });
    await agent.reload("startup");
    state.files = [...exampleFiles(), MORE_DENY];
    const attempt = await agent.reload("config changed");
    expect(attempt.ok).toBe(true);
    expect(attempt.diagnostics.filter((d) => d.code === "LOCKOUT_UNCHECKED").map((d) => d.severity)).toEqual(["warning"]);
  });

  test("the SSH session a request names is checked like a live one", async () => {
    const { agent, state } = setup({ ok: true, sessions: [], truncated: false });
    await agent.reload("startup");
    state.files = [...exampleFiles(), MORE_DENY];
    const attempt = await agent.reload("POST /reload", { request: { sessions: [{ ...CLIENT, source: "ssh" }] } });
    expect(attempt.ok).toBe(false);
    expect(attempt.diagnostics.find((d) => d.code === "LOCKOUT_RISK")!.message).toContain("the SSH session running hostwall");
  });
});

/** Waits until `agent` has no pending window any more (bounded). */
async function settled(agent: Agent, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (agent.confirm.pending && Date.now() < end) await Bun.sleep(10);
  await agent.idle();
}

describe("confirm or revert", () => {
  test("an unconfirmed apply is reverted when its window expires: the previous ruleset again, under a new generation", async () => {
    const { agent, state, kernel, logger } = setup({ ok: true, sessions: [], truncated: false });
    await agent.reload("startup");
    const first = agent.applied!;
    const firstScript = unstamped(first.script);
    state.files = [...exampleFiles(), MORE_DENY];
    const attempt = await agent.reload("POST /reload", { request: { confirmMs: 80 } });
    expect(attempt.ok).toBe(true);
    expect(agent.generation).toBe(2);
    expect(agent.confirm.status()).toMatchObject({ state: "pending", pending: { generation: 2, baselineGeneration: 1, windowMs: 80 } });
    await settled(agent);
    expect(agent.confirm.status()).toMatchObject({ state: "reverted", pending: null, last: { outcome: "reverted", generation: 2 } });
    expect(agent.generation).toBe(3);
    expect(agent.applied!.hash).toBe(first.hash);
    expect(lastApply(kernel)).toBe(firstScript);
    expect(logger.lines.some((l) => /reverted: generation 2 was not confirmed within 0.08 s/.test(l))).toBe(true);
    // The watcher, a drift repair or a link change do not put the reverted config back; a reload does.
    expect((await agent.reload("config changed")).unchanged).toBe(true);
    expect(agent.generation).toBe(3);
    expect((await agent.reload("POST /reload", { request: { explicit: true } })).ok).toBe(true);
    expect(agent.generation).toBe(4);
  });

  test("a confirmed change stays; a second confirm says nothing is pending", async () => {
    const { agent, state } = setup({ ok: true, sessions: [], truncated: false });
    await agent.reload("startup");
    state.files = [...exampleFiles(), MORE_DENY];
    await agent.reload("POST /reload", { request: { confirmMs: 80 } });
    const hash = agent.applied!.hash;
    expect(await agent.confirm.confirm()).toEqual({ ok: true, generation: 2 });
    await Bun.sleep(150);
    expect(agent.generation).toBe(2);
    expect(agent.applied!.hash).toBe(hash);
    expect(agent.confirm.status().state).toBe("confirmed");
    expect(await agent.confirm.confirm()).toEqual({ ok: false, error: "nothing to confirm: no provisional apply is pending" });
  });

  test("a file edited again during the window starts a new window on the same last confirmed state", async () => {
    const { agent, state } = setup({ ok: true, sessions: [], truncated: false });
    await agent.reload("startup");
    const first = agent.applied!.hash;
    state.files = [...exampleFiles(), MORE_DENY];
    await agent.reload("POST /reload", { request: { confirmMs: 150 } });
    const deadline = agent.confirm.status().pending!.deadline;
    state.files = [...exampleFiles(), { ...MORE_DENY, text: MORE_DENY.text.replace("198.51.100.7/32", "198.51.100.9/32") }];
    await agent.reload("config changed");
    const pending = agent.confirm.status().pending!;
    expect([pending.generation, pending.baselineGeneration, pending.windowMs]).toEqual([3, 1, 150]);
    expect(pending.deadline > deadline).toBe(true);
    await settled(agent);
    expect(agent.applied!.hash).toBe(first);
    expect(agent.generation).toBe(4);
  });

  test("two reload --confirm requests at once leave one consistent window", async () => {
    const { agent, state } = setup({ ok: true, sessions: [], truncated: false });
    await agent.reload("startup");
    const first = agent.applied!.hash;
    state.files = [...exampleFiles(), MORE_DENY];
    const [a, b, c] = await Promise.all([
      agent.reload("POST /reload", { request: { confirmMs: 100 } }),
      agent.reload("POST /reload", { request: { confirmMs: 120 } }),
      agent.reload("POST /reload", { request: { confirmMs: 110 } }),
    ]);
    expect([a.ok, b.ok, c.ok]).toEqual([true, true, true]);
    const pending = agent.confirm.status().pending!;
    expect([pending.generation, pending.baselineGeneration]).toEqual([2, 1]);
    await settled(agent);
    expect(agent.applied!.hash).toBe(first);
    expect(agent.confirm.status().state).toBe("reverted");
  });

  test("run --confirm-changes makes a watched change provisional; the lockout check then warns instead of refusing", async () => {
    const { agent, state } = setup(undefined, { confirmChangesMs: 80 });
    // The constructor read the deps before the test added confirmChangesMs: a fresh window reads them now.
    (agent.confirm as unknown as { deps: { changesWindowMs?: number } }).deps.changesWindowMs = 80;
    await agent.reload("startup");
    expect(agent.confirm.pending).toBeUndefined();
    state.files = [...exampleFiles(), MORE_DENY];
    const attempt = await agent.reload("config changed");
    expect(attempt.ok).toBe(true);
    expect(attempt.diagnostics.filter((d) => d.code === "LOCKOUT_RISK").map((d) => d.severity)).toEqual(["warning"]);
    expect(agent.confirm.pending?.generation).toBe(2);
    await settled(agent);
    expect(agent.generation).toBe(3);
  });
});

describe("the API of the safe-change workflow", () => {
  const post = (app: ReturnType<typeof createApi>, path: string, body = "{}") => app.request(path, { method: "POST", headers: { "content-type": "application/json" }, body });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the answers are read as the wire gives them
  const json = async (r: Response | Promise<Response>) => (await (await r).json()) as any;
  const api = (agent: Agent) => createApi({ agent, version: "test", node: "jasper", configDir: "/etc/hostwall" });

  test("POST /diff and GET /diff: the document against the ruleset in force; the read-only listener refuses it", async () => {
    const { agent, state } = setup({ ok: true, sessions: [], truncated: false });
    await agent.reload("startup");
    const app = api(agent);
    const same = await json(post(app, "/diff"));
    expect([same.changed, same.summary]).toEqual([false, "no change against generation 1 in force (this agent's)"]);
    state.files = [...exampleFiles(), MORE_DENY];
    const res = await app.request("/diff");
    const doc = await json(res);
    expect([res.status, doc.changed, doc.sets.map((s: { added: number; firstAdded: string[] }) => [s.added, s.firstAdded])]).toEqual([200, true, [[1, ["198.51.100.7"]]]]);
    expect(agent.generation).toBe(1);
    const readOnly = createApi({ agent, version: "test", node: "jasper", configDir: "/etc/hostwall" }, { access: "read-only" });
    expect((await readOnly.request("/diff", { headers: { host: "127.0.0.1:9099" } })).status).toBe(403);
  });

  test("POST /reload {confirm}, /status, POST /confirm; a bad body is 400, a second confirm 409", async () => {
    const { agent, state } = setup({ ok: true, sessions: [], truncated: false });
    await agent.reload("startup");
    const app = api(agent);
    expect((await post(app, "/reload", '{"confirm":"1h1s"}')).status).toBe(400);
    expect((await post(app, "/reload", '{"allowLockot":true}')).status).toBe(400);
    state.files = [...exampleFiles(), MORE_DENY];
    const reload = await json(post(app, "/reload", '{"confirm":"60s"}'));
    expect([reload.ok, reload.generation, reload.confirm.baselineGeneration, reload.confirm.windowMs]).toEqual([true, 2, 1, 60_000]);
    expect((await json(app.request("/status"))).confirm.state).toBe("pending");
    const confirmed = await post(app, "/confirm");
    expect([confirmed.status, await json(confirmed)]).toEqual([200, { ok: true, generation: 2 }]);
    const again = await post(app, "/confirm");
    expect([again.status, (await json(again)).error]).toEqual([409, "nothing to confirm: no provisional apply is pending"]);
    expect((await json(app.request("/status"))).confirm).toMatchObject({ state: "confirmed", pending: null, last: { outcome: "confirmed", generation: 2 } });
  });

  test("a confirm window with nothing of the agent's in force is refused: there is nothing to go back to", async () => {
    const { agent } = setup();
    const res = await post(api(agent), "/reload", '{"confirm":"60s"}');
    expect([res.status, (await json(res)).error]).toEqual([409, "nothing to go back to"]);
    expect(agent.generation).toBe(0);
  });
});

describe("the commands against no agent", () => {
  test("hostwall confirm and hostwall diff --api: a clear error, exit 2", async () => {
    const lines: string[] = [];
    const io = { out: (t: string) => lines.push(t), err: (t: string) => lines.push(t), env: {} };
    const api = "unix:/nonexistent-hostwall-test/api.sock";
    expect(await confirmCommand({ api, json: false }, io)).toBe(2);
    expect(await diffCommand({ api, configDir: "/etc/hostwall", node: "jasper", nft: "/usr/sbin/nft", json: false }, io)).toBe(2);
    expect(lines).toEqual([`hostwall: cannot reach the agent at ${api}: no agent is running there\n`, `hostwall: cannot reach the agent at ${api}: no agent is running there\n`]);
  });
});
