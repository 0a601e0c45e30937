/**
 * sd_notify through bun:ffi, checked with a real AF_UNIX datagram receiver (also bun:ffi, so
 * the test needs nothing but libc): path and abstract addresses, the no-op without
 * NOTIFY_SOCKET, and the built binary sending READY=1 after its first apply and STOPPING=1 on
 * SIGTERM (with a stand-in nft, so no ruleset is touched).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dlopen, FFIType } from "bun:ffi";
import { sdNotify, sockaddrUn } from "../../src/agent/notify.ts";
import { BINARY } from "../support/binary.ts";

const libc = dlopen("libc.so.6", {
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
}).symbols;
const MSG_DONTWAIT = 0x40;

/** A bound AF_UNIX SOCK_DGRAM socket that collects datagrams (polled, never blocking the loop). */
function receiver(target: string) {
  const fd = libc.socket(1, 2, 0);
  const sa = sockaddrUn(target)!;
  if (fd < 0 || libc.bind(fd, sa.addr, sa.len) !== 0) throw new Error(`cannot bind ${target}`);
  const buf = new Uint8Array(4096);
  return {
    /** Waits up to timeoutMs for a datagram containing `needle`; returns all datagrams read. */
    async waitFor(needle: string, timeoutMs: number, seen: string[] = []): Promise<string[]> {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const n = Number(libc.recv(fd, buf, buf.length, MSG_DONTWAIT));
        if (n >= 0) {
          seen.push(new TextDecoder().decode(buf.subarray(0, n)));
          if (seen.at(-1)!.includes(needle)) return seen;
        } else await Bun.sleep(20);
      }
      return seen;
    },
    close: () => libc.close(fd),
  };
}

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "hostwall-notify-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("sd_notify", () => {
  test("without NOTIFY_SOCKET it does nothing", () => {
    expect(sdNotify("READY=1", {})).toBe(false);
    expect(sdNotify("READY=1", { NOTIFY_SOCKET: "relative/path" })).toBe(false);
  });

  test("to a path socket", async () => {
    const path = join(tempDir(), "notify.sock");
    const r = receiver(path);
    try {
      expect(sdNotify("READY=1\nSTATUS=generation 1 in force", { NOTIFY_SOCKET: path })).toBe(true);
      expect(await r.waitFor("READY=1", 2000)).toEqual(["READY=1\nSTATUS=generation 1 in force"]);
    } finally {
      r.close();
    }
  });

  test("to an abstract socket (@name)", async () => {
    const name = `@hostwall-test-${process.pid}-${Date.now()}`;
    const r = receiver(name);
    try {
      expect(sdNotify("STOPPING=1", { NOTIFY_SOCKET: name })).toBe(true);
      expect(await r.waitFor("STOPPING=1", 2000)).toEqual(["STOPPING=1"]);
    } finally {
      r.close();
    }
  });

  test("an unusable target fails quietly", () => {
    expect(sdNotify("READY=1", { NOTIFY_SOCKET: join(tempDir(), "nobody-listens.sock") })).toBe(false);
    expect(sdNotify("READY=1", { NOTIFY_SOCKET: "/" + "x".repeat(120) })).toBe(false);
    expect(sockaddrUn("@abc")!.len).toBe(2 + 1 + 3); // abstract: no trailing NUL
    expect(sockaddrUn("/run/x")!.len).toBe(2 + 6 + 1);
  });

  test.skipIf(!existsSync(BINARY))("the binary: READY=1 after the first apply, STOPPING=1 on SIGTERM", async () => {
    const dir = tempDir();
    const config = join(dir, "config");
    mkdirSync(config, { mode: 0o755 });
    const nft = join(dir, "fake-nft");
    // A stand-in nft: accepts every script, lists an empty ruleset. Nothing reaches the kernel.
    writeFileSync(nft, `#!/bin/sh\ncase "$*" in *list*) echo '{"nftables": []}' ;; *) cat >/dev/null ;; esac\n`);
    chmodSync(nft, 0o755);
    const socket = join(dir, "notify.sock");
    const r = receiver(socket);
    const agent = Bun.spawn([BINARY, "run", "--config-dir", config, "--node", "test", "--listen", "off", "--socket", "off", "--nft", nft], {
      env: { ...process.env, NOTIFY_SOCKET: socket },
      stdout: "ignore",
      stderr: "pipe",
    });
    try {
      const seen = await r.waitFor("READY=1", 10_000);
      const ready = seen.find((m) => m.includes("READY=1"));
      expect(ready).toBe(`READY=1\nSTATUS=generation 1 in force (startup)\nMAINPID=${agent.pid}`);
      agent.kill("SIGTERM");
      expect(await Promise.race([agent.exited, Bun.sleep(10_000).then(() => "timeout")])).toBe(0);
      expect((await r.waitFor("STOPPING=1", 2000)).at(-1)).toBe("STOPPING=1");
      const log = await new Response(agent.stderr).text();
      expect(log).toContain("<6>applied generation 1 (startup)");
      expect(log).toContain("<6>SIGTERM: stopping; the ruleset of generation 1 stays in force");
      expect(log).not.toContain("\x1b[");
    } finally {
      if (agent.exitCode === null) agent.kill("SIGKILL");
      r.close();
    }
  });
});
