/**
 * The API on real sockets: TCP on loopback and a unix socket (stale socket of a killed agent
 * removed, a live one or a non-socket file never touched, mode 0600), `hostwall status` and
 * `reload` over a unix socket, and graceful shutdown: an in-flight request finishes, new
 * connections are refused, the watcher stops, the rules stay.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApi } from "../../src/api/app.ts";
import { listen } from "../../src/api/listen.ts";
import { startService } from "../../src/service.ts";
import { watchDir } from "../../src/agent/watch.ts";
import { parseArgs } from "../../src/cli/args.ts";
import { runCommand } from "../../src/cli/commands.ts";
import { parseScript } from "../support/nft-script.ts";
import { fakeAgent, MORE_DENY } from "./api-fakes.ts";

const RULES = join(import.meta.dir, "../../rules");

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "hostwall-api-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A socket file left behind by a process killed with SIGKILL (the case a crash leaves). */
async function staleSocket(path: string): Promise<void> {
  const child = Bun.spawn([process.execPath, "-e", `Bun.serve({ unix: ${JSON.stringify(path)}, fetch: () => new Response("x") }); console.log("ready");`], { stdout: "pipe", stderr: "inherit" });
  const reader = child.stdout.getReader();
  const first = await Promise.race([reader.read(), Bun.sleep(5000).then(() => undefined)]);
  child.kill("SIGKILL");
  await child.exited;
  if (!first || !existsSync(path)) throw new Error("could not make a stale socket");
}

function appFor() {
  const f = fakeAgent();
  return { ...f, app: createApi({ agent: f.agent, version: "t", node: "jasper", configDir: "/etc/hostwall" }) };
}

describe("TCP", () => {
  test("a listen address in use is an error, not a silent second listener (issue 11, item 2)", async () => {
    const { app } = appFor();
    const first = (await listen({ kind: "tcp", hostname: "127.0.0.1", port: 0 }, (r) => app.fetch(r)))!;
    try {
      await expect(listen({ kind: "tcp", hostname: "127.0.0.1", port: first.port! }, (r) => app.fetch(r))).rejects.toThrow(String(first.port));
    } finally {
      await first.stop(true);
    }
  });

  test("loopback: JSON answers and 405 over the wire", async () => {
    const { app, agent } = appFor();
    await agent.reload("startup");
    const server = (await listen({ kind: "tcp", hostname: "127.0.0.1", port: 0 }, (r) => app.fetch(r)))!;
    try {
      const base = `http://127.0.0.1:${server.port}`;
      expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: "ok" });
      const wrong = await fetch(`${base}/status`, { method: "POST" });
      expect([wrong.status, wrong.headers.get("allow"), ((await wrong.json()) as any).error]).toEqual([405, "GET, HEAD, OPTIONS", "method not allowed"]);
      expect((await fetch(`${base}/metrics`)).headers.get("content-type")).toStartWith("text/plain; version=0.0.4");
    } finally {
      await server.stop(true);
    }
  });
});

describe("unix socket", () => {
  test("a stale socket is replaced; the new one is mode 0600 and answers; stop removes it", async () => {
    const { app, agent } = appFor();
    await agent.reload("startup");
    const path = join(tempDir(), "api.sock");
    await staleSocket(path);
    const server = (await listen({ kind: "unix", path }, (r) => app.fetch(r)))!;
    try {
      expect(statSync(path).isSocket()).toBe(true);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const res = await fetch("http://localhost/status", { unix: path } as RequestInit);
      expect(((await res.json()) as any).generation).toBe(1);
    } finally {
      await server.stop();
    }
    expect(existsSync(path)).toBe(false);
  });

  test("a live agent on the socket is not displaced; a file that is not a socket is never removed", async () => {
    const { app } = appFor();
    const dir = tempDir();
    const path = join(dir, "api.sock");
    const first = (await listen({ kind: "unix", path }, (r) => app.fetch(r)))!;
    try {
      await expect(listen({ kind: "unix", path }, (r) => app.fetch(r))).rejects.toThrow(`another process is listening on ${path}`);
      expect((await fetch("http://localhost/healthz", { unix: path } as RequestInit)).status).toBe(200);
    } finally {
      await first.stop();
    }
    const file = join(dir, "precious");
    writeFileSync(file, "keep me");
    await expect(listen({ kind: "unix", path: file }, (r) => app.fetch(r))).rejects.toThrow(`${file} exists and is not a socket; not removing it`);
    expect(readFileSync(file, "utf8")).toBe("keep me");
  });

  test("hostwall status and reload reach an agent on a unix socket (--api unix:/PATH)", async () => {
    const { app, agent, state } = appFor();
    await agent.reload("startup");
    const path = join(tempDir(), "run", "api.sock"); // the parent is created
    const server = (await listen({ kind: "unix", path }, (r) => app.fetch(r)))!;
    try {
      expect(statSync(join(path, "..")).mode & 0o777).toBe(0o750);
      const out: string[] = [];
      const io = { out: (t: string) => void out.push(t), err: (t: string) => void out.push(t), env: {} };
      expect(await runCommand(parseArgs(["status", "--api", `unix:${path}`]), io)).toBe(0);
      expect(out.join("")).toContain("node jasper, generation 1");
      expect(out.join("")).toContain("production-host on eth0: active");
      // An unchanged config applies nothing; a changed one is generation 2.
      expect(await runCommand(parseArgs(["reload", "--api", `unix:${path}`]), io)).toBe(0);
      expect(agent.generation).toBe(1);
      state.files = [...state.files, MORE_DENY];
      expect(await runCommand(parseArgs(["reload", "--api", `unix:${path}`]), io)).toBe(0);
      expect(agent.generation).toBe(2);
      const nope = join(path, "..", "nope.sock");
      expect(await runCommand(parseArgs(["status", "--api", `unix:${nope}`]), io)).toBe(2);
      expect(out.join("")).toContain(`hostwall: cannot reach the agent: unix:${nope}: no such socket\n`);
    } finally {
      await server.stop();
    }
  });
});

describe("graceful shutdown", () => {
  /** A deny-list entry in a file of its own: a change of the ruleset. */
  const denyFile = (name: string, net: string) => `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: ${name}, labels: {dos-deny-list: 'true'}}\nspec: {nets: [${net}]}\n`;

  test("an in-flight reload finishes, new connections are refused, the watcher stops, the rules stay", async () => {
    // The agent reads a real config dir, which the service watches.
    const configDir = tempDir();
    for (const f of readdirSync(RULES)) copyFileSync(join(RULES, f), join(configDir, f));
    const f = fakeAgent({ configDir });
    expect((await f.agent.reload("startup")).ok).toBe(true);
    const socket = join(tempDir(), "api.sock");
    const service = await startService({
      agent: f.agent,
      logger: f.logger,
      api: { version: "t", node: "jasper", configDir },
      listen: { kind: "tcp", hostname: "127.0.0.1", port: 0 },
      socket,
      links: false,
      driftCheckMs: 0,
    });
    // The watcher works: an edit in the dir is applied (generation 2).
    const editedAt = performance.now();
    writeFileSync(join(configDir, "60-watched.yaml"), denyFile("watched", "198.51.100.8/32"));
    const deadline = Date.now() + 5000;
    while (f.agent.generation < 2 && Date.now() < deadline) await Bun.sleep(10);
    expect([f.agent.generation, f.agent.lastAttempt?.reason]).toEqual([2, "config changed"]);
    const watchLatency = performance.now() - editedAt;

    // A slow kernel: the POST /reload below is still applying when stop() is called.
    const apply = f.runner.apply.bind(f.runner);
    let appliedAt = Infinity;
    f.runner.apply = async (script, opts) => {
      if (opts?.check) return apply(script, opts);
      await Bun.sleep(300);
      const r = await apply(script, opts);
      appliedAt = performance.now();
      return r;
    };
    f.state.files = [MORE_DENY]; // in memory: the watcher does not see it
    const base = `http://127.0.0.1:${service.server!.port}`;
    const control = { unix: socket, method: "POST", headers: { "content-type": "application/json" } } as RequestInit;
    const inFlight = fetch("http://localhost/reload", control).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
    const busyBy = Date.now() + 3000;
    while (!f.agent.busy && Date.now() < busyBy) await Bun.sleep(5); // the reload is in its apply now
    expect(f.agent.busy).toBe(true);
    await service.stop();
    expect(performance.now()).toBeGreaterThanOrEqual(appliedAt); // stop() waited for the apply
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ ok: true, generation: 3 });
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
    await expect(fetch("http://localhost/healthz", { unix: socket } as RequestInit)).rejects.toThrow();

    // The watcher is stopped: an edit like the one above, which changes the ruleset, starts no
    // attempt (no config read, no nft call) in several times the time the first one took.
    const reads = f.state.reads;
    const calls = f.kernel.calls.length;
    writeFileSync(join(configDir, "70-unwatched.yaml"), denyFile("unwatched", "198.51.100.9/32"));
    await Bun.sleep(Math.max(1000, 4 * watchLatency));
    expect([f.state.reads, f.kernel.calls.length, f.agent.generation]).toEqual([reads, calls, 3]);

    // The rules stay: both tables hold generation 3, and no call ever removed them: the runner
    // has no other way to reach nft, and every script applied redefines both tables it deletes.
    expect(f.kernel.tables.map((t) => `${t.family} ${t.name} ${t.comment?.split(" hash")[0]}`)).toEqual(["netdev hostwall hostwall generation 3", "inet hostwall hostwall generation 3"]);
    const applies = f.kernel.callsOf("apply");
    expect(applies.map((c) => c.ok)).toEqual([true, true, true]);
    for (const { script } of applies) {
      const parsed = parseScript(script);
      if (!parsed.ok) throw new Error("the fake applied a malformed script");
      const kinds = (kind: string) => parsed.statements.filter((x) => x.kind === kind).map((x) => `${x.family} ${x.name}`);
      expect(kinds("define")).toEqual(kinds("delete"));
    }
  });
});

describe("config watcher", () => {
  test("the periodic resync notices what inotify cannot see: an edit behind a symlink", async () => {
    const root = tempDir();
    const config = join(root, "config");
    const outside = join(root, "outside");
    mkdirSync(config);
    mkdirSync(outside);
    writeFileSync(join(outside, "real.yaml"), "a: 1\n");
    symlinkSync(join(outside, "real.yaml"), join(config, "linked.yaml"));
    let changes = 0;
    const w = watchDir({ dir: config, onChange: () => changes++, resyncMs: 50 });
    try {
      await Bun.sleep(200);
      expect(changes).toBe(0); // nothing changed: no reload
      writeFileSync(join(outside, "real.yaml"), "a: 22\n"); // no inotify event in `config`
      const deadline = Date.now() + 3000;
      while (changes === 0 && Date.now() < deadline) await Bun.sleep(20);
      expect(changes).toBe(1);
      await Bun.sleep(200);
      expect(changes).toBe(1); // once per change
    } finally {
      w.close();
    }
  });
});
