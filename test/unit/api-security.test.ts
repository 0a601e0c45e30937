/**
 * Issue #18 findings 5 and 6 and issue #11 items 5, 9, 11: who may steer the agent through its
 * API. A TCP listener only reads (POST 403) and refuses foreign Host names (DNS rebinding);
 * every POST must be application/json (CSRF); an oversized body is one warning line; the
 * control socket is created safely (no symlink followed, no unsafe directory); `hostwall
 * status` and `reload` exit 0/1/2 and take every address form --listen takes.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostAllowed } from "../../src/api/guard.ts";
import { createApi, type ApiListener } from "../../src/api/app.ts";
import { memoryLogger } from "../../src/agent/log.ts";
import { exposureWarning, isLoopbackHost, listen } from "../../src/api/listen.ts";
import { startService, type Service } from "../../src/service.ts";
import { apiCommand, parseApiTarget } from "../../src/cli/api-client.ts";
import { apiListeners, parseArgs, UsageError } from "../../src/cli/args.ts";
import { runCommand } from "../../src/cli/commands.ts";
import { fakeAgent, MORE_DENY } from "./api-fakes.ts";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "hostwall-sec-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const isRoot = process.geteuid?.() === 0;
const JSON_POST = { method: "POST", headers: { "content-type": "application/json" }, body: "{}" };

function setup(listener?: ApiListener) {
  const f = fakeAgent();
  const log = memoryLogger();
  const app = createApi({ agent: f.agent, version: "t", node: "jasper", configDir: "/etc/hostwall", logger: log }, listener);
  return { ...f, app, log };
}
const readOnly: ApiListener = { access: "read-only", listenHost: "127.0.0.1", controlSocket: "/run/hostwall/api.sock" };

describe("a TCP listener is read-only (finding 5)", () => {
  test("POST /reload over TCP is 403 JSON naming the control socket; nothing reloads", async () => {
    const { app, kernel } = setup(readOnly);
    for (const [path, init] of [["/reload", JSON_POST], ["/reload", { method: "GET" }], ["/status", JSON_POST], ["/nope", JSON_POST]] as const) {
      const res = await app.request(path, { ...init, headers: { ...(init as any).headers, host: "127.0.0.1:9099" } });
      expect(res.status).toBe(403);
      const body = (await res.json()) as any;
      expect(body.error).toBe("read-only listener");
      expect(body.hint).toContain("/run/hostwall/api.sock");
      expect(body.hint).toContain("hostwall reload");
    }
    expect(kernel.applied).toEqual([]);
    expect((await app.request("/healthz", { headers: { host: "127.0.0.1:9099" } })).status).toBe(200);
  });

  test("a Host that is not loopback or an IP literal is 421 (DNS rebinding); the unix socket skips the check", async () => {
    const { app } = setup(readOnly);
    const status = async (host?: string) => (await app.request("/status", host === undefined ? {} : { headers: { host } })).status;
    expect(await status("evil.example")).toBe(421);
    expect(await status("evil.example:9099")).toBe(421);
    expect(await status()).toBe(421);
    expect(await status("127.0.0.1:9099")).toBe(200);
    expect(await status("localhost:9099")).toBe(200);
    expect(await status("[::1]:9099")).toBe(200);
    const res = await app.request("/ruleset", { headers: { host: "rebind.attacker.example" } });
    expect([res.status, ((await res.json()) as any).error]).toEqual([421, "host not allowed"]);
    const control = setup().app;
    expect((await control.request("/status", { headers: { host: "evil.example" } })).status).toBe(200);
  });

  const hosts: Array<[string | undefined, boolean, string?]> = [
    ["localhost", true],
    ["LOCALHOST:9099", true],
    ["localhost.", true],
    ["prometheus.localhost:9099", true],
    ["127.0.0.1", true],
    ["127.8.9.10:9099", true],
    ["192.0.2.10:9100", true], // an IP literal: rebinding needs a name
    ["[::1]:9099", true],
    ["[2001:db8::1]", true],
    ["jasper.example:9100", true, "jasper.example"], // the name --listen was given
    ["jasper.example:9100", false, "192.0.2.10"],
    ["evil.example", false],
    ["localhost.evil.example", false],
    ["127.0.0.1.nip.io", false],
    ["[::1", false],
    ["[::1]x", false],
    ["[evil.example]:9099", false],
    ["a:b:c", false],
    ["", false],
    [undefined, false],
  ];
  for (const [host, allowed, listenHost] of hosts) {
    test(`Host ${JSON.stringify(host)}${listenHost ? ` (listening on ${listenHost})` : ""}: ${allowed ? "accepted" : "refused"}`, () => {
      expect(hostAllowed(host, listenHost)).toBe(allowed);
    });
  }

  test("a TCP listen address that is not loopback is warned about", () => {
    expect([["127.0.0.1", false], ["127.0.0.53", false], ["::1", false], ["localhost", false], ["0.0.0.0", true], ["::", true], ["192.0.2.10", true], ["jasper.example", true]].map(([h]) => [h, !isLoopbackHost(h as string)])).toEqual([["127.0.0.1", false], ["127.0.0.53", false], ["::1", false], ["localhost", false], ["0.0.0.0", true], ["::", true], ["192.0.2.10", true], ["jasper.example", true]]);
    expect(exposureWarning({ kind: "tcp", hostname: "0.0.0.0", port: 9100 })).toBe(
      "the status API on http://0.0.0.0:9100 is reachable from the network: it is read-only (POST /reload only on the control socket), but /status and /ruleset show the whole policy; under systemd allow only the scrapers with IPAddressAllow= in a drop-in",
    );
    expect(exposureWarning({ kind: "tcp", hostname: "127.0.0.1", port: 9099 })).toBeUndefined();
    expect(exposureWarning({ kind: "unix", path: "/run/hostwall/api.sock" })).toBeUndefined();
  });
});

describe("POST needs application/json; an oversized body is one warning (finding 5)", () => {
  test("text/plain, form and missing content types are 415 on the control socket too", async () => {
    const { app, kernel } = setup();
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", undefined]) {
      const res = await app.request("/reload", { method: "POST", body: "{}", headers: type ? { "content-type": type } : {} });
      expect(res.status).toBe(415);
      expect(((await res.json()) as any).error).toBe("unsupported media type");
    }
    expect(kernel.applied).toEqual([]);
    const ok = await app.request("/reload", { method: "POST", headers: { "content-type": "Application/JSON; charset=utf-8" }, body: "{}" });
    expect(ok.status).toBe(200);
  });

  test("a body over 64 KiB, declared or streamed: 413 JSON and exactly one warning line", async () => {
    for (const body of ["x".repeat(70 * 1024), streamOf(100 * 1024)]) {
      const { app, log, kernel } = setup();
      const res = await app.request("/reload", { method: "POST", headers: { "content-type": "application/json" }, body, duplex: "half" } as RequestInit);
      expect(res.status).toBe(413);
      expect(await res.json()).toEqual({ error: "request body too large", limitBytes: 65536 });
      expect(log.lines).toEqual(["warning: API POST /reload: request body over 65536 bytes refused (413)"]);
      expect(kernel.applied).toEqual([]);
    }
  });
});

/** A body of `n` bytes in 8 KiB chunks, with no length: sent chunked. */
function streamOf(n: number): ReadableStream<Uint8Array> {
  let left = n;
  return new ReadableStream({
    pull(c) {
      if (left <= 0) return c.close();
      const k = Math.min(8192, left);
      left -= k;
      c.enqueue(new Uint8Array(k).fill(120));
    },
  });
}

describe("GET / is an index of the endpoints", () => {
  test("every endpoint, its methods, and whether this listener allows it", async () => {
    const expected = (reloadAllowed: boolean) => [
      ["/", "GET,HEAD", true],
      ["/healthz", "GET,HEAD", true],
      ["/readyz", "GET,HEAD", true],
      ["/status", "GET,HEAD", true],
      ["/metrics", "GET,HEAD", true],
      ["/ruleset", "GET,HEAD", true],
      ["/drops", "GET,HEAD", true],
      ["/trace", "GET", true],
      ["/reload", "POST", reloadAllowed],
      ["/confirm", "POST", reloadAllowed],
      ["/diff", "GET,POST", reloadAllowed],
    ];
    const summary = (b: any) => b.endpoints.map((e: any) => [e.path, e.methods.join(","), e.allowed]);
    const tcp = (await (await setup(readOnly).app.request("/", { headers: { host: "localhost:9099" } })).json()) as any;
    expect([tcp.listener, tcp.controlSocket, summary(tcp)]).toEqual(["read-only", "/run/hostwall/api.sock", expected(false)]);
    const unix = (await (await setup().app.request("/")).json()) as any;
    expect([unix.listener, summary(unix)]).toEqual(["control", expected(true)]);
    expect(unix.endpoints.every((e: any) => typeof e.description === "string" && e.description.length > 10)).toBe(true);
  });
});

describe("over real sockets: the service's two listeners", () => {
  async function service(): Promise<{ svc: Service; socket: string; base: string; f: ReturnType<typeof fakeAgent>; log: ReturnType<typeof memoryLogger> }> {
    const f = fakeAgent();
    await f.agent.reload("startup");
    const log = memoryLogger();
    const socket = join(tempDir(), "run", "api.sock");
    const svc = await startService({ agent: f.agent, logger: log, api: { version: "t", node: "jasper", configDir: tempDir() }, listen: { kind: "tcp", hostname: "127.0.0.1", port: 0 }, socket, links: false, driftCheckMs: 0, watchConfig: false });
    return { svc, socket, base: `http://127.0.0.1:${svc.server!.port}`, f, log };
  }

  test("POST over TCP 403, wrong Host 421, text/plain on the socket 415, JSON on the socket reloads", async () => {
    const { svc, socket, base, f, log } = await service();
    try {
      expect(lstatSync(socket).mode & 0o777).toBe(0o600);
      const tcp = await fetch(`${base}/reload`, JSON_POST);
      expect([tcp.status, ((await tcp.json()) as any).error]).toEqual([403, "read-only listener"]);
      const rebound = await fetch(`${base}/status`, { headers: { host: "evil.example:9099" } });
      expect(rebound.status).toBe(421);
      const plain = await fetch("http://localhost/reload", { unix: socket, method: "POST", headers: { "content-type": "text/plain" }, body: "{}" } as RequestInit);
      expect(plain.status).toBe(415);
      expect(f.kernel.applied.length).toBe(1);
      f.state.files = [...f.state.files, MORE_DENY];
      const ok = await fetch("http://localhost/reload", { unix: socket, ...JSON_POST } as RequestInit);
      expect([ok.status, ((await ok.json()) as any).generation]).toEqual([200, 2]);
      expect(log.lines.filter((l) => l.startsWith("warning"))).toEqual([]);
    } finally {
      await svc.stop();
    }
  });

  test("a chunked body over 64 KiB on the socket: 413 JSON, one warning line, no stack", async () => {
    const { svc, socket, log } = await service();
    try {
      const res = await fetch("http://localhost/reload", { unix: socket, method: "POST", headers: { "content-type": "application/json" }, body: streamOf(200 * 1024), duplex: "half" } as RequestInit);
      expect(res.status).toBe(413);
      expect(await res.json()).toEqual({ error: "request body too large", limitBytes: 65536 });
      const after = log.lines.filter((l) => !l.startsWith("info"));
      expect(after).toEqual(["warning: API POST /reload: request body over 65536 bytes refused (413)"]);
    } finally {
      await svc.stop();
    }
  });
});

describe("the control socket is created safely (finding 6)", () => {
  const fetchOk = () => new Response("x");

  test("a socket directory writable by others, or a symlink, is refused", async () => {
    const root = tempDir();
    for (const [name, mode, who] of [["world", 0o777, "world"], ["sticky", 0o1777, "world"], ["group", 0o770, "group"]] as const) {
      const dir = join(root, name);
      mkdirSync(dir);
      chmodSync(dir, mode);
      await expect(listen({ kind: "unix", path: join(dir, "api.sock") }, fetchOk)).rejects.toThrow(`the socket directory ${dir} is ${who}-writable`);
    }
    const real = join(root, "real");
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(real, join(root, "link"));
    await expect(listen({ kind: "unix", path: join(root, "link", "api.sock") }, fetchOk)).rejects.toThrow(`the socket directory ${join(root, "link")} is a symlink`);
    await expect(listen({ kind: "unix", path: join(root, "nope", "deeper", "api.sock") }, fetchOk)).rejects.toThrow("cannot create the socket directory");
  });

  test.skipIf(!isRoot)("as root: a socket directory owned by another user is refused", async () => {
    const dir = join(tempDir(), "theirs");
    mkdirSync(dir, { mode: 0o755 });
    chownSync(dir, 65534, 65534);
    await expect(listen({ kind: "unix", path: join(dir, "api.sock") }, fetchOk)).rejects.toThrow(`the socket directory ${dir} is owned by uid 65534, not root`);
  });

  test("a symlink at the socket path is never followed: the target keeps its mode", async () => {
    const dir = tempDir();
    const target = join(dir, "precious");
    writeFileSync(target, "root's file");
    chmodSync(target, 0o644);
    const path = join(dir, "api.sock");
    symlinkSync(target, path);
    await expect(listen({ kind: "unix", path }, fetchOk)).rejects.toThrow(`${path} exists and is not a socket`);
    expect(statSync(target).mode & 0o777).toBe(0o644);
    expect(lstatSync(path).isSymbolicLink()).toBe(true);
  });

  test("the socket swapped for a symlink right after binding: refused, nothing chmod-ed through it", async () => {
    const dir = tempDir();
    const target = join(dir, "precious");
    writeFileSync(target, "root's file");
    chmodSync(target, 0o644);
    const path = join(dir, "api.sock");
    // The race of finding 6: the swap lands between bind and the mode check. listen() restores
    // the umask right after binding, so the swap is made there.
    const umask = process.umask;
    let calls = 0;
    process.umask = ((mask?: number) => {
      const old = umask.call(process, mask as number);
      if (++calls === 2) {
        unlinkSync(path);
        symlinkSync(target, path);
      }
      return old;
    }) as typeof process.umask;
    try {
      await expect(listen({ kind: "unix", path }, fetchOk)).rejects.toThrow(`${path} is not the socket just bound`);
    } finally {
      process.umask = umask;
    }
    expect(calls).toBe(2);
    expect(statSync(target).mode & 0o777).toBe(0o644);
  });
});

describe("hostwall status and reload (issue #11 items 5, 9)", () => {
  type Captured = { out: string; err: string };
  const io = (c: Captured) => ({ out: (t: string) => void (c.out += t), err: (t: string) => void (c.err += t), env: {} });

  /** An agent on a unix socket (the control socket) and on TCP (read-only). */
  async function agentOn() {
    const f = fakeAgent();
    const socket = join(tempDir(), "api.sock");
    const deps = { agent: f.agent, version: "t", node: "jasper", configDir: "/etc/hostwall" };
    const control = createApi(deps);
    const tcpApp = createApi(deps, { access: "read-only", listenHost: "127.0.0.1", controlSocket: socket });
    const unixServer = (await listen({ kind: "unix", path: socket }, (r) => control.fetch(r)))!;
    const tcpServer = (await listen({ kind: "tcp", hostname: "127.0.0.1", port: 0 }, (r) => tcpApp.fetch(r)))!;
    return { f, socket, tcp: `127.0.0.1:${tcpServer.port}`, stop: async () => void (await Promise.all([unixServer.stop(true), tcpServer.stop(true)])) };
  }

  test("status: 0 healthy, 1 nothing in force, 1 last attempt failed (also --json), 2 unreachable", async () => {
    const a = await agentOn();
    try {
      const status = async (...extra: string[]) => {
        const c = { out: "", err: "" };
        const code = await runCommand(parseArgs(["status", "--api", `unix:${a.socket}`, ...extra]), io(c));
        return { code, ...c };
      };
      const never = await status();
      expect([never.code, never.err]).toEqual([1, "hostwall: no hostwall ruleset is in force\n"]);
      await a.f.agent.reload("startup");
      expect((await status()).code).toBe(0);
      a.f.state.files = [{ path: "/etc/hostwall/x.yaml", text: "kind: Nope\n" }];
      await a.f.agent.reload("config changed");
      const failed = await status();
      expect(failed.code).toBe(1);
      expect(failed.out).toContain(": FAILED\n");
      expect(failed.err).toContain("error[UNKNOWN_KIND]");
      expect(failed.err).toEndWith("hostwall: the last attempt failed; generation 1 stays in force\n");
      const json = await status("--json");
      expect([json.code, JSON.parse(json.out).lastAttempt.ok]).toEqual([1, false]);
      const gone = await runCommand(parseArgs(["status", "--api", `unix:${a.socket}.gone`]), io({ out: "", err: "" }));
      expect(gone).toBe(2);
    } finally {
      await a.stop();
    }
  });

  test("reload: 0 applied, 1 rejected, 2 refused over TCP or unreachable", async () => {
    const a = await agentOn();
    try {
      const reload = async (api: string) => {
        const c = { out: "", err: "" };
        return { code: await runCommand(parseArgs(["reload", "--api", api]), io(c)), ...c };
      };
      expect((await reload(`unix:${a.socket}`)).code).toBe(0);
      expect(a.f.agent.generation).toBe(1);
      a.f.state.files = [{ path: "/etc/hostwall/x.yaml", text: "kind: Nope\n" }];
      const rejected = await reload(`unix:${a.socket}`);
      expect(rejected.code).toBe(1);
      expect(rejected.err).toContain("error[UNKNOWN_KIND]");
      const tcp = await reload(a.tcp);
      expect(tcp.code).toBe(2);
      expect(tcp.err).toContain(`hostwall: the agent at http://${a.tcp} answered 403: read-only listener (changing the firewall is only possible on the control socket ${a.socket}`);
      expect((await reload("127.0.0.1:9")).code).toBe(2);
    } finally {
      await a.stop();
    }
  });

  test("--api takes HOST:PORT (the form --listen takes), [V6]:PORT and http:// URLs", async () => {
    const a = await agentOn();
    try {
      await a.f.agent.reload("startup");
      for (const api of [a.tcp, `http://${a.tcp}`, `http://${a.tcp}/`, `localhost:${a.tcp.split(":")[1]}`]) {
        const c = { out: "", err: "" };
        expect([api, await runCommand(parseArgs(["status", "--api", api]), io(c)), c.err]).toEqual([api, 0, ""]);
        expect(c.out).toStartWith("node jasper, generation 1");
      }
    } finally {
      await a.stop();
    }
  });

  test("--api forms parse; others are usage errors", () => {
    const cases: Array<[string, string | null, string?]> = [
      ["127.0.0.1:9099", "http://127.0.0.1:9099"],
      ["[::1]:9099", "http://[::1]:9099"],
      ["localhost:9099", "http://localhost:9099"],
      ["http://127.0.0.1:9099", "http://127.0.0.1:9099"],
      ["http://127.0.0.1:9099/", "http://127.0.0.1:9099"],
      ["http://[::1]:9099", "http://[::1]:9099"],
      ["unix:/run/hostwall/api.sock", "http://localhost", "/run/hostwall/api.sock"],
      ["https://127.0.0.1:9099", null],
      ["http://127.0.0.1:9099/status", null],
      ["http://user@127.0.0.1:9099", null],
      ["off", null],
      ["unix:api.sock", null],
      ["9099", null],
      ["127.0.0.1", null],
    ];
    for (const [text, base, unix] of cases) {
      if (base === null) expect(() => parseApiTarget(text)).toThrow(UsageError);
      else expect([text, parseApiTarget(text).base, parseApiTarget(text).unix]).toEqual([text, base, unix]);
    }
  });

  test("without --api: status tries the control socket, then TCP; says which when neither answers", async () => {
    const a = await agentOn();
    try {
      await a.f.agent.reload("startup");
      const missing = join(tempDir(), "api.sock");
      const c = { out: "", err: "" };
      expect(await apiCommand("status", { json: false, defaultSocket: missing, defaultTcp: `http://${a.tcp}` }, io(c))).toBe(0);
      expect(c.out).toStartWith("node jasper, generation 1");
      const d = { out: "", err: "" };
      expect(await apiCommand("status", { json: false, defaultSocket: missing, defaultTcp: "http://127.0.0.1:9" }, io(d))).toBe(2);
      expect(d.err).toBe(`hostwall: cannot reach the agent: unix:${missing}: no such socket; http://127.0.0.1:9: connection refused (no agent listening)\n`);
      const r = { out: "", err: "" };
      expect(await apiCommand("reload", { json: false, defaultSocket: missing, defaultTcp: `http://${a.tcp}` }, io(r))).toBe(2);
      expect(r.err).toBe(`hostwall: cannot reach the agent: unix:${missing}: no such socket\n`);
    } finally {
      await a.stop();
    }
  });
});

describe("run: --listen and --socket", () => {
  test("the combinations", () => {
    const D = "/run/hostwall/api.sock";
    expect(apiListeners("127.0.0.1:9099", undefined, D)).toEqual({ listen: { kind: "tcp", hostname: "127.0.0.1", port: 9099 }, socket: D });
    expect(apiListeners("127.0.0.1:9099", "off", D)).toEqual({ listen: { kind: "tcp", hostname: "127.0.0.1", port: 9099 } });
    expect(apiListeners("[::1]:9099", "unix:/run/x/a.sock", D)).toEqual({ listen: { kind: "tcp", hostname: "::1", port: 9099 }, socket: "/run/x/a.sock" });
    expect(apiListeners("off", undefined, D)).toEqual({ listen: { kind: "off" }, socket: D });
    expect(apiListeners("off", "off", D)).toEqual({ listen: { kind: "off" } });
    expect(apiListeners("unix:/run/y.sock", undefined, D)).toEqual({ listen: { kind: "unix", path: "/run/y.sock" } });
    expect(() => apiListeners("unix:/run/y.sock", "/run/z.sock", D)).toThrow("is the control socket already");
    expect(() => apiListeners("127.0.0.1:9099", "api.sock", D)).toThrow("--socket needs an absolute path");
  });
});
