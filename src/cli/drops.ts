/**
 * `hostwall drops`: what each Deny rule dropped, and from where (GET /drops of the running
 * agent, which needs `run --drop-summaries`). Exit 0 with summaries, 1 when the agent runs
 * without drop summaries, 2 unreachable or refusing.
 */
import type { DropsDocument } from "../agent/drops.ts";
import { DEFAULT_SOCKET, parseApiTarget } from "./api-client.ts";
import type { Io } from "./io.ts";

export interface DropsOptions {
  /** --api; default the control socket. */
  api?: string;
  json: boolean;
  /** --top N: sources per rule (default 10). */
  top?: string;
  defaultSocket?: string;
}

export async function dropsCommand(opts: DropsOptions, io: Io): Promise<number> {
  const top = opts.top ?? "10";
  if (!/^[1-9][0-9]{0,3}$/.test(top)) {
    io.err(`hostwall: --top must be 1-9999, got "${top}"\n`);
    return 2;
  }
  const target = parseApiTarget(opts.api ?? `unix:${opts.defaultSocket ?? DEFAULT_SOCKET}`);
  const init: RequestInit & { unix?: string } = { signal: AbortSignal.timeout(30_000) };
  if (target.unix) init.unix = target.unix;
  let res: Response;
  try {
    res = await fetch(`${target.base}/drops?top=${top}`, init);
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code === "ENOENT" || code === "ECONNREFUSED" ? "no agent is running there" : code === "EACCES" ? "permission denied (the control socket is root's; run as root)" : (e as Error).message;
    io.err(`hostwall: cannot reach the agent at ${target.label}: ${why}\n`);
    return 2;
  }
  const body = (await res.json().catch(() => null)) as (DropsDocument & { error?: string }) | null;
  if (res.status !== 200 || !body || !Array.isArray(body.rules)) {
    io.err(`hostwall: the agent at ${target.label} answered ${res.status}: ${body?.error ?? "unexpected answer"}\n`);
    return 2;
  }
  if (opts.json) io.out(JSON.stringify(body, null, 2) + "\n");
  if (!body.enabled) {
    io.err("hostwall: the agent runs without drop summaries: it was started with --drop-summaries=off; restart it without that flag (they are on by default) to keep the addresses each Deny rule drops\n");
    return 1;
  }
  if (opts.json) return 0;
  io.out(`drops per Deny rule (addresses kept ${body.windowSeconds ?? "?"} s after their last drop)\n`);
  const print = (rules: DropsDocument["rules"]) => {
    for (const r of rules) {
      io.out(`${r.origin}: ${r.packets} packets, ${r.bytes} bytes from ${r.sources} address(es)\n`);
      for (const s of r.top) io.out(`  ${s.address.padEnd(39)} ${String(s.packets).padStart(10)} packets ${String(s.bytes).padStart(12)} bytes\n`);
    }
  };
  print(body.rules);
  // An agent from before Log summaries has no `logs`.
  if (body.logs?.length) {
    io.out(`logged per Log rule (every packet it matched, before the log's rate limit)\n`);
    print(body.logs);
  }
  return 0;
}
