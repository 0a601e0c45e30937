/**
 * GET /trace (issue 16 item 4) with a fake trace run: the NDJSON stream, the query checked as
 * the CLI's flags, one trace at a time (409 naming the holder), no trace on a non-loopback TCP
 * listener, the run ended when the client goes away, the MISMATCH counter in /metrics, the
 * model of the last successful attempt, and `hostwall trace --api` over a real unix socket.
 * The kernel side (real packets over the control socket) is test/kernel/trace.test.ts.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApi, type ApiListener } from "../../src/api/app.ts";
import { memoryLogger } from "../../src/agent/log.ts";
import { startService } from "../../src/service.ts";
import { traceViaApi } from "../../src/cli/api-client.ts";
import { traceServer, TraceServer } from "../../src/trace/serve.ts";
import type { TraceOptions } from "../../src/trace/run.ts";
import { fakeAgent, MORE_DENY } from "./api-fakes.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const line = (id: string, mismatch = false) => JSON.stringify({ id, summary: `packet ${id}`, verdict: "drop", steps: [], governed: true, mismatch, ...(mismatch ? { predicted: { verdict: "accept", what: "x" } } : {}) }) + "\n";

/** A fake runTrace: records its options, prints `lines`, then waits for `release` or the abort; `late`: stderr after that. */
function fakeRun(lines: string[], opts: { install?: boolean; err?: string; late?: string } = {}) {
  const calls: TraceOptions[] = [];
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let aborted = false;
  let ended = false;
  const run = async (o: TraceOptions): Promise<number> => {
    calls.push(o);
    if (opts.install === false) {
      o.err(opts.err ?? "hostwall: trace: cannot install the trace table: nope\n");
      return 1;
    }
    o.onInstalled?.();
    for (const l of lines) o.out(l);
    await Promise.race([released, new Promise<void>((r) => o.signal?.addEventListener("abort", () => ((aborted = true), r())))]);
    ended = true;
    for (const l of opts.late?.split(/(?<=\n)/) ?? []) o.err(l);
    return opts.late ? 1 : 0;
  };
  return { run, calls, release, state: () => ({ aborted, ended }) };
}

async function setup(listener?: ApiListener, fake = fakeRun([line("a"), line("b", true)])) {
  const f = fakeAgent();
  await f.agent.reload("startup");
  const trace = new TraceServer({ run: fake.run, keepaliveMs: 60_000 });
  const app = createApi({ agent: f.agent, version: "t", node: "jasper", configDir: "/etc/hostwall", logger: memoryLogger(), trace }, listener);
  return { ...f, app, fake, trace };
}
const TCP = { headers: { host: "127.0.0.1:9099" } };

describe("GET /trace", () => {
  test("streams the run's JSON lines as NDJSON, with the CLI's filter and the agent's model; counts MISMATCH in /metrics", async () => {
    const { app, fake, agent, state } = await setup();
    const res = await app.request("/trace?src=192.0.2.0/24&proto=tcp&dport=22&count=2&duration=5s&direction=in");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-ndjson; charset=utf-8");
    fake.release();
    expect(await res.text()).toBe("\n" + line("a") + line("b", true)); // a blank line first: the status line goes out at once
    const o = fake.calls[0]!;
    expect([o.count, o.durationMs, o.json, o.catchSignals, o.filter.proto, o.filter.dport, o.filter.direction, o.node]).toEqual([2, 5000, true, false, "tcp", 22, "in", "jasper"]);
    expect(o.filter.src?.family).toBe(4);
    expect(o.model).toBe(agent.model!);
    expect(o.interfaces).toEqual([...state.interfaces]);
    expect(state.reads).toBe(1); // the trace read no config
    const metrics = await (await app.request("/metrics")).text();
    expect(metrics).toContain("# TYPE hostwall_trace_mismatches_total counter\nhostwall_trace_mismatches_total 1\n");
  });

  test("defaults: count 10, duration 30 s; a new config's model is the next trace's", async () => {
    const { app, fake, agent, state } = await setup();
    const before = agent.model;
    state.files.push(MORE_DENY);
    expect((await agent.reload("test")).ok).toBe(true);
    expect(agent.model).not.toBe(before);
    const res = await app.request("/trace");
    fake.release();
    await res.text();
    expect([fake.calls[0]!.count, fake.calls[0]!.durationMs, fake.calls[0]!.model === agent.model]).toEqual([10, 30_000, true]);
  });

  test("a bad or unknown query parameter is 400 and runs nothing; no model yet is 503", async () => {
    const { app, fake } = await setup();
    for (const q of ["dport=22", "src=nonsense", "duration=2h", "count=0", "iface=a;b", "foo=1", "count=1&count=2", "direction=sideways"]) {
      const res = await app.request(`/trace?${q}`);
      expect([q, res.status]).toEqual([q, 400]);
      expect(((await res.json()) as any).error).toMatch(/bad trace filter|unknown query parameter|given twice/);
    }
    expect(fake.calls).toHaveLength(0);
    const f = fakeAgent({ files: [] });
    const fresh = createApi({ agent: f.agent, version: "t", node: "jasper", configDir: "/x", trace: new TraceServer({ run: fake.run }) });
    expect((await fresh.request("/trace")).status).toBe(503);
    expect(fake.calls).toHaveLength(0);
  });

  test("one trace at a time: a second is 409 naming the holder; after the first ends, the next runs", async () => {
    const { app, fake } = await setup();
    const first = await app.request("/trace");
    const second = await app.request("/trace");
    expect(second.status).toBe(409);
    const body = (await second.json()) as any;
    expect(body.error).toBe("another trace runs");
    expect(body.holder).toContain(`GET /trace of the agent (pid ${process.pid})`);
    fake.release();
    await first.text();
    const third = await app.request("/trace");
    expect(third.status).toBe(200);
    await third.text();
    expect(fake.calls).toHaveLength(2);
  });

  test("a CLI trace holding the kernel table is 409 with its message; another failure to install is 500", async () => {
    const busy = await setup(undefined, fakeRun([], { install: false, err: "hostwall: trace: another trace runs in this network namespace (pid 42): table hostwall-trace exists\n" }));
    const res = await busy.app.request("/trace");
    expect(res.status).toBe(409);
    expect(((await res.json()) as any).message).toContain("(pid 42)");
    const broken = await setup(undefined, fakeRun([], { install: false }));
    const r2 = await broken.app.request("/trace");
    expect(r2.status).toBe(500);
    expect(((await r2.json()) as any).message).toContain("cannot install the trace table: nope");
    // The lock is free again.
    expect((await broken.app.request("/trace")).status).toBe(500);
  });

  test("the client going away aborts the run (its table is removed then) and frees the lock", async () => {
    const { app, fake } = await setup();
    const ac = new AbortController();
    const res = await app.request(new Request("http://localhost/trace", { signal: ac.signal }));
    expect(res.status).toBe(200);
    expect(fake.state()).toEqual({ aborted: false, ended: false });
    ac.abort();
    await Bun.sleep(10);
    expect(fake.state()).toEqual({ aborted: true, ended: true });
    expect(fake.calls[0]!.signal!.aborted).toBe(true);
    const next = await app.request("/trace");
    expect(next.status).toBe(200);
  });

  test("a TCP listener serves it only on loopback: 0.0.0.0 or a LAN address is 403, nothing runs", async () => {
    for (const listenHost of ["0.0.0.0", "192.0.2.1", "::", "example.net"]) {
      const { app, fake } = await setup({ access: "read-only", listenHost, controlSocket: "/run/hostwall/api.sock" });
      const res = await app.request("/trace", TCP);
      expect([listenHost, res.status]).toEqual([listenHost, 403]);
      expect(((await res.json()) as any).hint).toContain("/run/hostwall/api.sock");
      const index = (await (await app.request("/", TCP)).json()) as any;
      expect(index.endpoints.find((e: any) => e.path === "/trace").allowed).toBe(false);
      expect(fake.calls).toHaveLength(0);
    }
    for (const listenHost of ["127.0.0.1", "::1", "localhost"]) {
      const { app, fake } = await setup({ access: "read-only", listenHost });
      const res = await app.request("/trace", TCP);
      expect([listenHost, res.status]).toEqual([listenHost, 200]);
      fake.release();
      await res.text();
    }
    // A web page's cross-origin GET (Origin or Sec-Fetch-Site set by the browser) starts nothing.
    for (const headers of [{ origin: "http://evil.example" }, { "sec-fetch-site": "cross-site" }, { "sec-fetch-site": "same-site" }] as Record<string, string>[]) {
      const { app, fake } = await setup({ access: "read-only", listenHost: "127.0.0.1" });
      const res = await app.request("/trace", { headers: { ...TCP.headers, ...headers } });
      expect([headers, res.status, ((await res.json()) as any).error]).toEqual([headers, 403, "not served to a web page"]);
      expect(fake.calls).toHaveLength(0);
    }
    // Read-only: no other method; HEAD would start a trace, so it is not one either.
    const { app } = await setup();
    for (const method of ["POST", "HEAD", "DELETE"]) expect([method, (await app.request("/trace", { method })).status]).toEqual([method, 405]);
  });
});

describe("hostwall trace --api", () => {
  test("a failure after the start is the stream's last line, {error}: printed, exit 1; nothing matched and MISMATCH messages are the client's", async () => {
    const f = fakeAgent();
    await f.agent.reload("startup");
    const fake = fakeRun([line("a")], { late: "hostwall: trace: no packet matched the filter in 1.0 s\nhostwall: trace: nft monitor trace ended: boom\n" });
    const app = createApi({ agent: f.agent, version: "t", node: "jasper", configDir: "/x", trace: new TraceServer({ run: fake.run, keepaliveMs: 60_000 }) });
    const res = await app.request("/trace");
    fake.release();
    expect(await res.text()).toBe("\n" + line("a") + JSON.stringify({ error: "hostwall: trace: nft monitor trace ended: boom" }) + "\n");
  });

  test("the client prints an {error} line on stderr and exits 1; a 409 is exit 1 naming the holder; a 400 is exit 2", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hostwall-trace-api-"));
    dirs.push(dir);
    const socket = join(dir, "s.sock");
    let answer = () => new Response(line("a") + "\n" + JSON.stringify({ error: "hostwall: trace: nft monitor trace ended: boom" }) + "\n");
    const server = Bun.serve({ unix: socket, fetch: () => answer() });
    try {
      const ask = async () => {
        const out: string[] = [];
        const err: string[] = [];
        const code = await traceViaApi({ api: `unix:${socket}`, query: {}, durationMs: 1000, json: true }, { out: (t) => void out.push(t), err: (t) => void err.push(t), env: {} });
        return [code, out.join(""), err.join("")];
      };
      expect(await ask()).toEqual([1, line("a"), "hostwall: trace: nft monitor trace ended: boom\n"]);
      answer = () => Response.json({ error: "another trace runs", holder: "GET /trace of the agent (pid 7) since x" }, { status: 409 });
      expect(await ask()).toEqual([1, "", `hostwall: trace: the agent at unix:${socket} answered 409: another trace runs (held by GET /trace of the agent (pid 7) since x)\n`]);
      answer = () => Response.json({ error: "bad trace filter", message: "dport needs --proto" }, { status: 400 });
      expect((await ask())[0]).toBe(2);
    } finally {
      server.stop(true);
    }
  });

  test("--api auto: the control socket, then the TCP listener; neither answering is exit 2 naming both", async () => {
    const err: string[] = [];
    const code = await traceViaApi({ api: "auto", query: {}, durationMs: 1000, json: false, defaultSocket: "/nonexistent/api.sock", defaultTcp: "http://127.0.0.1:9" }, { out: () => {}, err: (t) => void err.push(t), env: {} });
    expect([code, err.join("")]).toEqual([2, "hostwall: cannot reach the agent: unix:/nonexistent/api.sock: no such socket; http://127.0.0.1:9: connection refused (no agent listening)\n"]);
  });

  test("prints what the local trace prints, over the control socket; --json passes the lines; a MISMATCH exits 1", async () => {
    const f = fakeAgent();
    await f.agent.reload("startup");
    const fake = fakeRun([line("a"), "\n", line("b", true)]);
    traceServer(f.agent, () => new TraceServer({ run: fake.run, keepaliveMs: 60_000 }));
    const dir = mkdtempSync(join(tmpdir(), "hostwall-trace-api-"));
    dirs.push(dir);
    const socket = join(dir, "run", "api.sock");
    const svc = await startService({ agent: f.agent, logger: memoryLogger(), api: { version: "t", node: "jasper", configDir: dir }, listen: { kind: "off" } as any, socket, links: false, driftCheckMs: 0, watchConfig: false });
    try {
      const run = async (json: boolean, api = `unix:${socket}`) => {
        const out: string[] = [];
        const err: string[] = [];
        const p = traceViaApi({ api, query: { count: "2" }, durationMs: 5000, json }, { out: (t) => void out.push(t), err: (t) => void err.push(t), env: {} });
        await Bun.sleep(50);
        fake.release();
        return { code: await p, out: out.join(""), err: err.join("") };
      };
      const text = await run(false);
      expect(text.code).toBe(1);
      expect(text.out).toBe("packet 1: packet a\n  verdict: drop (no rule decided: chain policy accept)\n  explain: cannot describe this packet to the evaluator\npacket 2: packet b\n  verdict: drop (no rule decided: chain policy accept)\n  MISMATCH: kernel drop, explain predicts accept (x)\n");
      expect(text.err).toContain("1 MISMATCH between the kernel and hostwall explain");
      const json = await run(true);
      expect([json.code, json.out]).toEqual([1, line("a") + line("b", true)]);
      expect(fake.calls[1]!.count).toBe(2);
      // A trace in flight does not hold the shutdown: it is aborted (its table removed) first.
      const held = fakeRun([]);
      const g = fakeAgent();
      await g.agent.reload("startup");
      traceServer(g.agent, () => new TraceServer({ run: held.run, keepaliveMs: 60_000 }));
      const socket2 = join(dir, "run2", "api.sock");
      const svc2 = await startService({ agent: g.agent, logger: memoryLogger(), api: { version: "t", node: "jasper", configDir: dir }, listen: { kind: "off" } as any, socket: socket2, links: false, driftCheckMs: 0, watchConfig: false });
      const res = await fetch("http://localhost/trace?duration=60m", { unix: socket2 } as RequestInit);
      expect(res.status).toBe(200);
      const body = res.text();
      const t0 = Date.now();
      await svc2.stop();
      expect(await body).toBe("\n");
      expect([held.state(), Date.now() - t0 < 2000]).toEqual([{ aborted: true, ended: true }, true]);
      const nowhere = await run(false, `unix:${join(dir, "none.sock")}`);
      expect([nowhere.code, nowhere.err]).toEqual([2, `hostwall: cannot reach the agent: unix:${join(dir, "none.sock")}: no such socket\n`]);
    } finally {
      await svc.stop();
    }
  });
});
