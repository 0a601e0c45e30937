/**
 * Network namespaces for kernel tests: run and spawn commands inside one, mark it with its
 * owner, sweep stale ones, and check whether this machine can run kernel tests at all.
 *
 * Safety: everything here acts on namespaces whose names start with `hw-`, created by these
 * helpers. Nothing touches the root namespace's links, addresses or ruleset.
 * Each namespace's loopback carries an alias `hostwall-lab owner=<pid>:<starttime>`, so a
 * sweep removes namespaces left behind by dead test runs but never those of a live run
 * (a second engineer or CI running the same test at the same time).
 */

import { readFileSync } from "node:fs";
import type { Subprocess } from "bun";

/** What a finished command produced. */
export interface ExecResult {
  /** Exit code; -1 when it was killed for running past its timeout. */
  code: number;
  stdout: string;
  stderr: string;
  /** True when the timeout killed it. */
  timedOut: boolean;
}

/** Options of {@link run} and {@link Ns.exec}. */
export interface ExecOptions {
  /** Kill the command after this long (default 10 s). */
  timeoutMs?: number;
  /** Text written to the command's stdin, which is then closed. */
  stdin?: string;
}

/** Options of {@link Ns.spawn}. */
export interface SpawnOptions {
  /** Where stdout goes (default "pipe": read it, or it may fill up and block the process). */
  stdout?: "pipe" | "ignore" | "inherit";
  /** Where stderr goes (default "pipe"). */
  stderr?: "pipe" | "ignore" | "inherit";
  /** Extra environment variables. */
  env?: Record<string, string>;
}

/** A long-running process inside a namespace. Its stdin is a pipe the test holds open. */
export interface Proc {
  /** The process id (`ip netns exec` execs in place, so this is the program itself). */
  pid: number;
  /** The underlying Bun subprocess (stdin is a FileSink, stdout/stderr as requested). */
  sub: Subprocess<"pipe", "pipe" | "ignore" | "inherit", "pipe" | "ignore" | "inherit">;
  /** Resolves with the exit code. */
  exited: Promise<number>;
  /** Send a signal (default SIGTERM) to this pid only. */
  kill(signal?: NodeJS.Signals | number): void;
  /** Close stdin, SIGTERM, and SIGKILL after `graceMs` (default 2 s); resolves when it exited. */
  stop(graceMs?: number): Promise<number>;
}

/** A network namespace created by the lab. */
export interface Ns {
  /** The namespace name as `ip netns` knows it. */
  name: string;
  /** Run a command inside the namespace and wait for it (bounded by a timeout). */
  exec(cmd: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Start a long-running command inside the namespace; {@link Ns.close} stops it. */
  spawn(cmd: string[], opts?: SpawnOptions): Proc;
  /** Stop every process started with {@link Ns.spawn} that is still running. */
  close(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** Run a command in the current (root) namespace, bounded by a timeout. */
export async function run(cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const proc = Bun.spawn(cmd, {
    stdin: opts.stdin === undefined ? "ignore" : new TextEncoder().encode(opts.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { code: timedOut ? -1 : code, stdout, stderr, timedOut };
}

/** Like {@link run}, but throws with the command's stderr unless it exits 0. */
export async function runOk(cmd: string[], opts: ExecOptions = {}): Promise<string> {
  const r = await run(cmd, opts);
  if (r.code !== 0) {
    const why = r.timedOut ? "timed out" : `exit ${r.code}`;
    throw new Error(`${cmd.join(" ")}: ${why}: ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}

class Namespace implements Ns {
  private readonly procs = new Set<Proc>();
  constructor(readonly name: string) {}

  exec(cmd: string[], opts?: ExecOptions): Promise<ExecResult> {
    return run(["ip", "netns", "exec", this.name, ...cmd], opts);
  }

  spawn(cmd: string[], opts: SpawnOptions = {}): Proc {
    const sub = Bun.spawn(["ip", "netns", "exec", this.name, ...cmd], {
      stdin: "pipe",
      stdout: opts.stdout ?? "pipe",
      stderr: opts.stderr ?? "pipe",
      env: opts.env ? { ...process.env, ...opts.env } : undefined,
    });
    const proc: Proc = {
      pid: sub.pid,
      sub,
      exited: sub.exited,
      kill: (signal = "SIGTERM") => {
        if (sub.exitCode === null && sub.signalCode === null) sub.kill(signal);
      },
      stop: async (graceMs = 2000) => {
        try {
          await sub.stdin.end();
        } catch {
          // already closed
        }
        proc.kill("SIGTERM");
        const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
        const code = await sub.exited;
        clearTimeout(timer);
        this.procs.delete(proc);
        return code;
      },
    };
    this.procs.add(proc);
    sub.exited.then(() => this.procs.delete(proc));
    return proc;
  }

  async close(): Promise<void> {
    await Promise.all([...this.procs].map((p) => p.stop(1000)));
  }
}

/** Process start time in clock ticks (field 22 of /proc/PID/stat), or undefined if gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

const OWNER_MARK = "hostwall-lab owner=";

function ownerMark(): string {
  return `${OWNER_MARK}${process.pid}:${processStartTime(process.pid) ?? "0"}`;
}

/** Names must start with `hw-`: the safety rules and the sweeps rely on it. */
export function checkNsName(name: string): void {
  if (!/^hw-[a-z0-9][a-z0-9-]{0,40}$/.test(name)) {
    throw new Error(`namespace name ${JSON.stringify(name)} must match hw-[a-z0-9-]+`);
  }
}

/** Create a namespace with loopback up, marked as owned by this process. */
export async function createNs(name: string): Promise<Ns> {
  checkNsName(name);
  await runOk(["ip", "netns", "add", name]);
  await runOk(["ip", "-n", name, "link", "set", "dev", "lo", "up", "alias", ownerMark()]);
  return new Namespace(name);
}

/** Kill the processes left in a namespace (by pid) and delete it; ignores one already gone. */
export async function deleteNs(name: string): Promise<void> {
  checkNsName(name);
  const pids = await run(["ip", "netns", "pids", name], { timeoutMs: 5000 });
  for (const pid of pids.stdout.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // exited meanwhile
    }
  }
  const r = await run(["ip", "netns", "del", name], { timeoutMs: 5000 });
  if (r.code !== 0 && !/No such file/.test(r.stderr)) {
    throw new Error(`ip netns del ${name}: ${r.stderr.trim()}`);
  }
}

/** All namespace names known to `ip netns`. */
export async function listNs(): Promise<string[]> {
  const out = await runOk(["ip", "-j", "netns", "list"]);
  if (!out.trim()) return [];
  return (JSON.parse(out) as Array<{ name: string }>).map((n) => n.name);
}

/** The owner mark of a namespace, or "none" if it has none or cannot be entered. */
async function readOwner(name: string): Promise<{ pid: number; start: string } | "none"> {
  const r = await run(["ip", "-n", name, "-j", "link", "show", "dev", "lo"], { timeoutMs: 5000 });
  // While `ip netns add` runs, the name exists before the namespace is mounted on it.
  if (r.code !== 0) return "none";
  const alias = (JSON.parse(r.stdout) as Array<{ ifalias?: string }>)[0]?.ifalias ?? "";
  if (!alias.startsWith(OWNER_MARK)) return "none";
  const [pid, start] = alias.slice(OWNER_MARK.length).split(":");
  return { pid: Number(pid), start: start ?? "" };
}

/**
 * True when the namespace's owner is still running. A namespace without a readable mark
 * may be one another run is creating right now, so it is looked at again after a second.
 */
async function ownerAlive(name: string): Promise<boolean> {
  let owner = await readOwner(name);
  if (owner === "none") {
    await Bun.sleep(1000);
    owner = await readOwner(name);
  }
  if (owner === "none") return false;
  return processStartTime(owner.pid) === owner.start;
}

/**
 * Delete namespaces whose names start with `tagPrefix` (which must start with `hw-`) and
 * whose owning process is gone. Namespaces of live runs, this one included, are kept.
 */
export async function sweepStaleLabs(tagPrefix: string): Promise<string[]> {
  if (!tagPrefix.startsWith("hw-")) throw new Error(`sweep prefix must start with hw-: ${tagPrefix}`);
  const candidates = (await listNs()).filter((name) => name.startsWith(tagPrefix));
  const alive = await Promise.all(candidates.map(ownerAlive));
  const swept = candidates.filter((_, i) => !alive[i]);
  await Promise.all(swept.map(deleteNs));
  return swept;
}

let availability: Promise<{ ok: boolean; why?: string }> | undefined;

/**
 * Whether kernel tests can run here: root, `nft`, `ip netns`, veth, bridge and `ping`.
 * Creates and deletes one scratch namespace. Cached for the process.
 */
export function kernelTestsAvailable(): Promise<{ ok: boolean; why?: string }> {
  availability ??= checkAvailability();
  return availability;
}

/**
 * For kernel test files: true when kernel tests can run here. Otherwise it prints why and
 * returns false, so the file skips, or throws when HOSTWALL_REQUIRE_KERNEL_TESTS=1 (set it
 * in CI), so a CI image that lost root or a tool fails instead of skipping quietly.
 */
export async function kernelTestGate(): Promise<boolean> {
  const { ok, why } = await kernelTestsAvailable();
  if (ok) return true;
  if (process.env.HOSTWALL_REQUIRE_KERNEL_TESTS === "1") {
    throw new Error(`kernel tests required (HOSTWALL_REQUIRE_KERNEL_TESTS=1) but unavailable: ${why}`);
  }
  console.warn(`SKIP kernel tests: ${why}`);
  return false;
}

async function checkAvailability(): Promise<{ ok: boolean; why?: string }> {
  if (process.platform !== "linux") return { ok: false, why: `needs Linux, not ${process.platform}` };
  if (process.getuid?.() !== 0) return { ok: false, why: "needs root (network namespaces, nft)" };
  for (const [tool, args] of [
    ["nft", ["--version"]],
    ["ip", ["-V"]],
    ["ping", ["-V"]],
  ] as const) {
    const r = await run([tool, ...args], { timeoutMs: 5000 }).catch((e: Error) => ({
      code: 127,
      stderr: e.message,
    }));
    if (r.code !== 0) return { ok: false, why: `${tool} is not usable: ${r.stderr.trim()}` };
  }
  const name = `hw-avail-${process.pid}`;
  try {
    const ns = await createNs(name);
    const link = ["ip", "-n", name, "link", "add"];
    await runOk([...link, "v0", "type", "veth", "peer", "name", "v1"]);
    await runOk([...link, "br0", "type", "bridge"]);
    const nft = await ns.exec(["nft", "-f", "-"], { stdin: "table netdev hwavail {}\n" });
    if (nft.code !== 0) return { ok: false, why: `nft cannot load a netdev table: ${nft.stderr.trim()}` };
    return { ok: true };
  } catch (e) {
    return { ok: false, why: `network namespaces/veth/bridge unusable: ${(e as Error).message}` };
  } finally {
    await deleteNs(name).catch(() => {});
  }
}
