/**
 * Servers and probes for lab namespaces, both backed by `echo.ts`: the one probes module of
 * the kernel tests.
 *
 * A probe is answered only when a whole exchange came back: for TCP the server's greeting
 * and the echo of a token sent after it (data both ways after the handshake), for UDP the
 * full echo of our own datagram, for ping an ICMP echo reply. Each namespace gets one
 * long-lived prober process (started on first use, stopped by `Ns.close()` / lab.destroy),
 * so a passing probe costs about a millisecond and a dropped one costs its timeout.
 * Run many probes at once with {@link probeAll}; check them against expectations with
 * {@link expectProbes} (throws) or {@link probeReport} (returns the mismatches).
 *
 * The default timeout (800 ms) is below TCP's initial retransmission timeout (1 s): a
 * dropped TCP probe sends exactly one SYN, a dropped UDP probe one datagram, a dropped ping
 * one echo request. So a rule that drops probes counts exactly one packet per probe.
 */

import { fileURLToPath } from "node:url";
import type { Ns, Proc } from "./netns";
import { readLines as streamLines } from "../../src/agent/links";

const ECHO = fileURLToPath(new URL("./echo.ts", import.meta.url));
/** The bun running the tests (the repo's node_modules/.bin/bun under `bun test`). */
const BUN = process.execPath;
/** Default probe timeout: below TCP's 1 s initial RTO, so a dropped TCP probe sends one SYN. */
export const PROBE_TIMEOUT_MS = 800;

/** One probe to run. */
export interface ProbeSpec {
  /** Namespace the probe is sent from. */
  from: Ns;
  kind: "tcp" | "udp" | "ping";
  /** Destination IPv4 or IPv6 address (the family follows from it). */
  addr: string;
  /** Destination port (tcp, udp). */
  port?: number;
  /** UDP datagram size in bytes; above the MTU (1500) it leaves as IP fragments. */
  size?: number;
  /** Give up after this long (default {@link PROBE_TIMEOUT_MS}). */
  timeoutMs?: number;
}

/** A probe and what happened. */
export interface ProbeResult extends ProbeSpec {
  /** A reply came back. */
  ok: boolean;
  /** Milliseconds the prober spent. */
  ms: number;
  /**
   * Why it failed: "timeout" (no answer at all), "timeout: connected, no greeting",
   * "timeout: greeted, echo incomplete (…)", "Connection refused", ...
   */
  detail?: string;
}

/** Calls `onLine` for every line of a byte stream; resolves at its end. */
export async function readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  for await (const line of streamLines(stream)) onLine(line);
}

/** Wait for the first stdout line of an echo.ts process, which must be `{"ready":true}`. */
async function waitReady(proc: Proc, what: string, onLine: (line: string) => void, timeoutMs = 10_000): Promise<void> {
  const stdout = proc.sub.stdout as ReadableStream<Uint8Array>;
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  let seen = false;
  const reading = readLines(stdout, (line) => {
    if (!seen && line.includes('"ready":true')) {
      seen = true;
      ready();
    } else onLine(line);
  });
  let timer: Timer | undefined;
  const failed = Promise.race([
    reading.then(() => proc.exited),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("not ready in time")), timeoutMs))),
  ]).then(async (code) => {
    if (seen) return;
    const err = await new Response(proc.sub.stderr as ReadableStream).text();
    throw new Error(`${what} exited (${code}) before it was ready: ${err.trim()}`);
  });
  try {
    await Promise.race([readyP, failed]);
  } catch (e) {
    await proc.stop(500);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Start TCP listeners (they send the greeting line `hostwall-lab PORT` and echo) and UDP echo servers on `::`
 * (IPv4 and IPv6) inside `ns`. Resolves once every socket is bound.
 */
export async function startServers(
  ns: Ns,
  ports: { tcp: number[]; udp: number[] },
): Promise<{ proc: Proc; stop(): Promise<void> }> {
  const proc = ns.spawn([BUN, ECHO, "serve", "--tcp", ports.tcp.join(","), "--udp", ports.udp.join(",")]);
  await waitReady(proc, `echo server in ${ns.name}`, () => {});
  return {
    proc,
    stop: async () => {
      await proc.stop(1000);
    },
  };
}

interface Waiter {
  resolve: (r: { ok: boolean; ms: number; detail?: string }) => void;
  timer: Timer;
}

/** The prober process of one namespace and its in-flight requests. */
class Prober {
  private nextId = 1;
  private readonly waiters = new Map<number, Waiter>();
  private constructor(private readonly proc: Proc) {}

  static async start(ns: Ns): Promise<Prober> {
    const proc = ns.spawn([BUN, ECHO, "probe"]);
    let prober: Prober | undefined;
    await waitReady(proc, `prober in ${ns.name}`, (line) => prober?.onLine(line));
    prober = new Prober(proc);
    proc.exited.then(() => prober?.failAll("prober exited"));
    return prober;
  }

  get alive(): boolean {
    return this.proc.sub.exitCode === null && this.proc.sub.signalCode === null;
  }

  run(spec: ProbeSpec): Promise<{ ok: boolean; ms: number; detail?: string }> {
    const id = this.nextId++;
    const timeoutMs = spec.timeoutMs ?? PROBE_TIMEOUT_MS;
    const req = { id, kind: spec.kind, addr: spec.addr, port: spec.port, size: spec.size, timeoutMs };
    return new Promise((resolve) => {
      // The prober enforces timeoutMs itself; this backstop only guards against a hung prober.
      const timer = setTimeout(() => this.settle(id, { ok: false, ms: timeoutMs, detail: "prober did not answer" }), timeoutMs + 3000);
      this.waiters.set(id, { resolve, timer });
      const sink = this.proc.sub.stdin;
      sink.write(`${JSON.stringify(req)}\n`);
      sink.flush();
    });
  }

  private onLine(line: string): void {
    const reply = JSON.parse(line) as { id: number; ok: boolean; ms: number; detail?: string };
    this.settle(reply.id, { ok: reply.ok, ms: reply.ms, detail: reply.detail });
  }

  private settle(id: number, r: { ok: boolean; ms: number; detail?: string }): void {
    const w = this.waiters.get(id);
    if (!w) return;
    this.waiters.delete(id);
    clearTimeout(w.timer);
    w.resolve(r);
  }

  private failAll(detail: string): void {
    for (const id of [...this.waiters.keys()]) this.settle(id, { ok: false, ms: 0, detail });
  }
}

const probers = new WeakMap<Ns, Promise<Prober>>();

function proberFor(ns: Ns): Promise<Prober> {
  let p = probers.get(ns);
  const restart = p === undefined;
  if (restart) {
    p = Prober.start(ns);
    p.catch(() => probers.delete(ns));
    probers.set(ns, p);
  }
  return (p as Promise<Prober>).then((prober) => {
    if (prober.alive) return prober;
    // Stopped by ns.close() or crashed: start a fresh one.
    probers.delete(ns);
    return proberFor(ns);
  });
}

/** Run one probe and report the details. */
export async function probe(spec: ProbeSpec): Promise<ProbeResult> {
  const prober = await proberFor(spec.from);
  return { ...spec, ...(await prober.run(spec)) };
}

/** True if a TCP connection from `from` to `addr:port` got the greeting and the echo of a token within the timeout. */
export async function probeTcp(from: Ns, addr: string, port: number, timeoutMs?: number): Promise<boolean> {
  return (await probe({ from, kind: "tcp", addr, port, timeoutMs })).ok;
}

/** True if a UDP datagram of `size` bytes (default 64) came back echoed in full. */
export async function probeUdp(
  from: Ns,
  addr: string,
  port: number,
  opts: { timeoutMs?: number; size?: number } = {},
): Promise<boolean> {
  return (await probe({ from, kind: "udp", addr, port, ...opts })).ok;
}

/** True if one ICMP or ICMPv6 echo request got its reply. */
export async function ping(from: Ns, addr: string, timeoutMs?: number): Promise<boolean> {
  return (await probe({ from, kind: "ping", addr, timeoutMs })).ok;
}

/** Run probes concurrently; results in the order given. */
export function probeAll(specs: ProbeSpec[]): Promise<ProbeResult[]> {
  return Promise.all(specs.map(probe));
}

/** One expectation: a probe and whether it must be answered. */
export type Expected = [ProbeSpec, boolean];

/**
 * Runs the probes at once and compares each outcome with its expectation. Resolves with
 * the results and a report: "" when every outcome matched, else the mismatches and then
 * every probe (expected → got). Afterwards the senders' connects still in SYN-SENT are
 * aborted (see {@link abortPendingConnects}).
 */
export async function probeReport(expected: Expected[]): Promise<{ report: string; results: ProbeResult[] }> {
  const results = await probeAll(expected.map(([spec]) => spec));
  await abortPendingConnects([...new Set(results.map((r) => r.from))]);
  const want = (i: number) => (expected[i]![1] ? "answered" : "no reply");
  const wrong = results.filter((r, i) => r.ok !== expected[i]![1]);
  const report = wrong.length === 0
    ? ""
    : `unexpected:\n${formatProbes(wrong)}\nall (expected → got):\n${results.map((r, i) => `${want(i)} → ${formatProbes([r])}`).join("\n")}`;
  return { report, results };
}

/** {@link probeReport}, throwing an Error with the report unless every outcome matched. */
export async function expectProbes(expected: Expected[]): Promise<ProbeResult[]> {
  const { report, results } = await probeReport(expected);
  if (report) throw new Error(report);
  return results;
}

/**
 * A safety net for abandoned connects: the prober closes a TCP probe's socket at its
 * timeout (the kernel then forgets a SYN-SENT connect), but should one survive, the kernel
 * would retransmit its SYN for about two minutes into whatever ruleset a later test
 * applied: stray packets in its counters and Log lines. So {@link probeReport} destroys the
 * senders' pending connects to lab addresses (`ss -K`, in lab namespaces only).
 */
export async function abortPendingConnects(nss: Ns[]): Promise<void> {
  const filter = ["(", "dst", "192.0.2.0/24", "or", "dst", "198.51.100.0/24", "or", "dst", "203.0.113.0/24", "or", "dst", "2001:db8::/32", ")"];
  await Promise.all(
    nss.map(async (ns) => {
      const r = await ns.exec(["ss", "-K", "-tn", "state", "syn-sent", ...filter]);
      if (r.code !== 0) throw new Error(`ss -K in ${ns.name}: ${r.stderr}`);
    }),
  );
}

/** A readable table of probe results, for test failure messages. */
export function formatProbes(results: ProbeResult[]): string {
  return results
    .map((r) => {
      const dest = r.port === undefined ? r.addr : r.addr.includes(":") ? `[${r.addr}]:${r.port}` : `${r.addr}:${r.port}`;
      const size = r.size ? ` size=${r.size}` : "";
      const outcome = r.ok ? "answered" : `no reply (${r.detail ?? "?"})`;
      return `${r.from.name} ${r.kind} → ${dest}${size}: ${outcome} in ${r.ms} ms`;
    })
    .join("\n");
}
