/**
 * [I/O] `hostwall trace`: installs the trace table, reads `nft monitor trace`, prints one
 * summary per traced packet, and removes the table on every exit path it controls (the end,
 * SIGINT, SIGTERM, an error); after a SIGKILL the agent removes it (src/agent: start and drift
 * check). The monitor starts before the table, so the first packet is not missed.
 */
import { Evaluator } from "../explain/evaluate.ts";
import type { Model } from "../model/types.ts";
import { spawnRunner } from "../nft/runner.ts";
import { parseTraceLine, type TraceEvent } from "./events.ts";
import { describeTrace, traceComplete, tracePacketStart, type TraceResult } from "./describe.ts";
import { formatTrace } from "./format.ts";
import { pidAlive } from "./holder.ts";
import { holderPid, removeScript, traceScript, TRACE_TABLE, type TraceFilter } from "./table.ts";

export interface TraceOptions {
  model: Model;
  node: string;
  filter: TraceFilter;
  /** Stop after this many packets. */
  count: number;
  /** Stop after this many milliseconds. */
  durationMs: number;
  json: boolean;
  nftPath: string;
  /** Interfaces that exist now (netdev chains are per interface). */
  interfaces: readonly string[];
  /** Interface → its addresses, for endpoints bound by expectedIPs (as explain). */
  interfaceAddresses: Record<string, readonly string[]>;
  out(text: string): void;
  err(text: string): void;
  /** Ends the trace early (the agent: the client went away); the table is removed as at the end. */
  signal?: AbortSignal;
  /** Called once the trace table is installed (the agent answers 200 only then). */
  onInstalled?(): void;
  /** Catch SIGINT and SIGTERM to remove the table (the CLI; not in the agent, whose signals are its own). */
  catchSignals?: boolean;
}

/** A packet's trace is complete when no event for it came for this long. */
const QUIET_MS = 300;
const TOOL_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C" };

/** 0: traced (or nothing matched); 1: a MISMATCH or a failure; 2 is the CLI's (usage). */
export async function runTrace(opts: TraceOptions): Promise<number> {
  const runner = spawnRunner(opts.nftPath, 10_000);
  const evaluator = new Evaluator(opts.model, opts.node, { interfaceAddresses: opts.interfaceAddresses });
  // Names go into the nft script: only the shapes an interface name has in practice (the raw
  // prerouting chain still marks what arrives on any other).
  const netdevIfaces = opts.filter.iface ? [opts.filter.iface] : opts.interfaces.filter((i) => i !== "lo" && /^[A-Za-z0-9_.@-]{1,15}$/.test(i));
  if (opts.filter.iface && !opts.interfaces.includes(opts.filter.iface)) {
    opts.err(`hostwall: trace: no interface ${opts.filter.iface} here\n`);
    return 1;
  }
  const monitor = Bun.spawn([opts.nftPath, "monitor", "trace"], { env: { ...TOOL_ENV }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  // nft needs a moment to subscribe; events before that are lost (not wrong).
  await Bun.sleep(100);
  const script = traceScript(opts.filter, netdevIfaces, process.pid);
  let installed = await runner.apply(script);
  let pid: number | undefined;
  if (!installed.ok && /File exists/.test(installed.stderr)) {
    const listed = await runner.tables?.();
    pid = listed?.ok ? (holderPid(listed.tables.get(`netdev ${TRACE_TABLE}`)) ?? holderPid(listed.tables.get(`inet ${TRACE_TABLE}`))) : undefined;
    // A trace killed with SIGKILL left its table: its pid is gone, so the table is nobody's.
    if (pid !== undefined && !pidAlive(pid)) {
      opts.err(`hostwall: trace: removing the stale table ${TRACE_TABLE} of trace pid ${pid}, which is gone\n`);
      if ((await runner.apply(removeScript())).ok) installed = await runner.apply(script);
    }
  }
  if (!installed.ok) {
    monitor.kill("SIGKILL");
    if (/File exists/.test(installed.stderr)) {
      opts.err(`hostwall: trace: another trace runs in this network namespace${pid ? ` (pid ${pid})` : ""}: table ${TRACE_TABLE} exists; one trace at a time (hostwall run removes a stale one)\n`);
    } else opts.err(`hostwall: trace: cannot install the trace table: ${installed.stderr.trim()}\n`);
    return 1;
  }

  let removed = false;
  const remove = async () => {
    if (removed) return;
    removed = true;
    monitor.kill("SIGKILL");
    const r = await runner.apply(removeScript());
    if (!r.ok) opts.err(`hostwall: trace: could not remove table ${TRACE_TABLE}: ${r.stderr.trim()}; hostwall run removes it, or: nft delete table netdev ${TRACE_TABLE}; nft delete table inet ${TRACE_TABLE}\n`);
  };
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const onSignal = () => stop();
  const catchSignals = opts.catchSignals ?? true;
  if (catchSignals) {
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }
  if (opts.signal?.aborted) stop();
  opts.signal?.addEventListener("abort", onSignal, { once: true });
  opts.onInstalled?.();
  const started = Date.now();
  const timer = setTimeout(() => stop(), opts.durationMs);

  const pending = new Map<string, { events: TraceEvent[]; timer: ReturnType<typeof setTimeout> }>();
  const results: TraceResult[] = [];
  const finish = (id: string) => {
    const p = pending.get(id);
    if (!p) return;
    clearTimeout(p.timer);
    pending.delete(id);
    if (results.length >= opts.count) return;
    const r = describeTrace(id, p.events, opts.model, evaluator);
    results.push(r);
    opts.out(opts.json ? JSON.stringify(r) + "\n" : formatTrace(r, results.length));
    if (results.length >= opts.count) stop();
  };
  const reading = (async () => {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of monitor.stdout as ReadableStream<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const e = parseTraceLine(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
        if (!e) continue;
        // Trace ids are reused for later packets: a packet line in the netdev trace chain starts a new one.
        if (tracePacketStart(e) && pending.has(e.id)) finish(e.id);
        const p = pending.get(e.id) ?? { events: [], timer: setTimeout(() => {}, 0) };
        clearTimeout(p.timer);
        p.events.push(e);
        pending.set(e.id, p);
        if (traceComplete(p.events)) finish(e.id);
        else p.timer = setTimeout(() => finish(e.id), QUIET_MS);
      }
    }
  })().catch(() => {});
  const monitorEnded = monitor.exited.then(() => "ended" as const);
  const why = await Promise.race([stopped.then(() => "stopped" as const), monitorEnded]);
  clearTimeout(timer);
  await remove();
  await reading;
  for (const id of [...pending.keys()]) finish(id);
  if (catchSignals) {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  opts.signal?.removeEventListener("abort", onSignal);
  if (why === "ended" && results.length < opts.count) {
    const stderr = await new Response(monitor.stderr as ReadableStream<Uint8Array>).text().catch(() => "");
    if (monitor.exitCode !== 0 && monitor.signalCode !== "SIGKILL") {
      opts.err(`hostwall: trace: nft monitor trace ended: ${stderr.trim() || `exit ${monitor.exitCode}`}\n`);
      return 1;
    }
  }
  if (results.length === 0) {
    opts.err(`hostwall: trace: no packet matched the filter in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    return 0;
  }
  const mismatches = results.filter((r) => r.mismatch).length;
  if (mismatches > 0) {
    opts.err(`hostwall: trace: ${mismatches} MISMATCH${mismatches === 1 ? "" : "ES"} between the kernel and hostwall explain: a bug in hostwall, or the ruleset in force is not the config dir's (drift)\n`);
    return 1;
  }
  return 0;
}
