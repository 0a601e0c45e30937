/**
 * `hostwall status` and `hostwall reload`: ask the running agent over its API.
 *
 * Without --api both go to the control socket (root only, mode 0600); `status` falls back to
 * the read-only TCP listener when the socket cannot be reached (no agent there, or a user
 * who is not root), and says what it tried when neither answers. --api takes every form
 * --listen takes and http:// URLs.
 *
 * Exit codes, the same convention as the other commands (0 good, 1 a bad outcome, 2 could
 * not ask): status 0 healthy (a ruleset in force and the last attempt ok), 1 the last attempt
 * failed or nothing is in force, 2 unreachable, refused or a usage error; reload 0 applied or
 * unchanged, 1 rejected (the ruleset in force stays), 2 unreachable or refused.
 */
import type { Attempt } from "../agent/types.ts";
import type { ErrorAnswer, ReloadAnswer, StatusDocument } from "../api/status.ts";
import { formatDiagnostic } from "../diagnostics/diagnostic.ts";
import type { TraceResult } from "../trace/describe.ts";
import { formatTrace } from "../trace/format.ts";
import { parseListen, UsageError } from "./args.ts";
import type { Io } from "./io.ts";

/** The control socket `hostwall run` serves by default (the unit's RuntimeDirectory). */
export const DEFAULT_SOCKET = "/run/hostwall/api.sock";
/** The read-only TCP listener `hostwall run` serves by default. */
export const DEFAULT_TCP_API = "http://127.0.0.1:9099";

/** Where to ask: a base URL, over a unix socket when `unix` is set. */
export interface ApiTarget {
  /** How the target is named in messages: unix:/PATH or http://HOST:PORT. */
  label: string;
  /** http://HOST:PORT without a trailing slash (http://localhost for a unix socket). */
  base: string;
  unix?: string;
}

/** `--api`: HOST:PORT, [V6]:PORT, unix:/PATH or http://HOST[:PORT][/]. */
export function parseApiTarget(text: string): ApiTarget {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new UsageError(`--api: "${text}" is not a URL`);
    }
    if (url.protocol !== "http:") throw new UsageError(`--api: the agent serves plain HTTP on loopback or a unix socket; use http://HOST:PORT or unix:/PATH, not ${url.protocol}//`);
    if (url.username || url.password || url.search || url.hash || (url.pathname !== "/" && url.pathname !== "")) throw new UsageError(`--api takes http://HOST:PORT without a path, query or user; got "${text}"`);
    return { label: url.origin, base: url.origin };
  }
  const l = parseListen(text, "--api");
  if (l.kind === "off") throw new UsageError(`--api must be HOST:PORT, [V6]:PORT, http://HOST:PORT or unix:/PATH; got "off"`);
  if (l.kind === "unix") return { label: `unix:${l.path}`, base: "http://localhost", unix: l.path };
  const base = `http://${l.hostname.includes(":") ? `[${l.hostname}]` : l.hostname}:${l.port}`;
  return { label: base, base };
}

/** Why a request got no answer, in words (Bun's messages talk about URLs and typos). */
function unreachable(target: ApiTarget, e: unknown): string {
  const code = (e as { code?: string }).code;
  const why =
    code === "ENOENT" ? "no such socket"
    : code === "EACCES" ? "permission denied (the control socket is root's; run as root)"
    : code === "ECONNREFUSED" ? "connection refused (no agent listening)"
    : (e as Error).name === "TimeoutError" ? "no answer in time"
    : ((e as Error).message ?? String(e));
  return `${target.label}: ${why}`;
}

/**
 * An answer: the body is what the agent sent, read as the document its status says it is
 * (status.ts); fields an older agent may lack are read with care.
 */
type Answer = { target: ApiTarget; res: Response; body: unknown };

/** Asks the first target that answers; undefined (and a message on stderr) when none does. */
async function ask(command: "status" | "reload", targets: readonly ApiTarget[], io: Io, body: Record<string, unknown> = {}): Promise<Answer | undefined> {
  const failures: string[] = [];
  for (const target of targets) {
    const init: RequestInit & { unix?: string } =
      command === "status"
        ? { method: "GET", signal: AbortSignal.timeout(5000) }
        : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: AbortSignal.timeout(120_000) };
    if (target.unix) init.unix = target.unix;
    let res: Response;
    try {
      res = await fetch(target.base + (command === "status" ? "/status" : "/reload"), init);
    } catch (e) {
      failures.push(unreachable(target, e));
      continue;
    }
    return { target, res, body: await res.json().catch(() => null) };
  }
  io.err(`hostwall: cannot reach the agent: ${failures.join("; ")}\n`);
  return undefined;
}

export interface ApiCommandOptions {
  /** --api; without it the control socket, and for status the TCP listener after it. */
  api?: string;
  json: boolean;
  /** The defaults (tests): DEFAULT_SOCKET and DEFAULT_TCP_API. */
  defaultSocket?: string;
  defaultTcp?: string;
  /** reload: the POST body (cli/confirm.ts reloadBody: confirm window, allowLockout, ssh). */
  body?: Record<string, unknown>;
}

export async function apiCommand(command: "status" | "reload", opts: ApiCommandOptions, io: Io): Promise<number> {
  const socket = parseApiTarget(`unix:${opts.defaultSocket ?? DEFAULT_SOCKET}`);
  const targets = opts.api !== undefined ? [parseApiTarget(opts.api)] : command === "status" ? [socket, parseApiTarget(opts.defaultTcp ?? DEFAULT_TCP_API)] : [socket];
  const answer = await ask(command, targets, io, opts.body);
  if (!answer) return 2;
  const { target, res, body } = answer;
  if (!body) {
    io.err(`hostwall: the agent at ${target.label} answered ${res.status} without JSON\n`);
    return 2;
  }
  const expected = command === "status" ? res.status === 200 : res.status === 200 || res.status === 422;
  if (!expected) {
    const refused = body as ErrorAnswer;
    if (opts.json) io.out(JSON.stringify(body, null, 2) + "\n");
    io.err(`hostwall: the agent at ${target.label} answered ${res.status}: ${refused.error ?? "unexpected answer"}${refused.hint ? ` (${refused.hint})` : ""}\n`);
    return 2;
  }
  if (command === "status") {
    const status = body as StatusDocument;
    const inForce = Boolean(status.applied || status.inKernel);
    const code = inForce && status.lastAttempt?.ok === true ? 0 : 1;
    if (opts.json) {
      io.out(JSON.stringify(body, null, 2) + "\n");
      return code;
    }
    printStatus(status, io);
    printAttempt(status.lastAttempt, io);
    if (code !== 0) io.err(`hostwall: ${inForce ? `the last attempt failed; generation ${status.generation} stays in force` : "no hostwall ruleset is in force"}\n`);
    return code;
  }
  const reload = body as ReloadAnswer;
  const code = res.status === 200 ? 0 : 1;
  if (opts.json) {
    io.out(JSON.stringify(body, null, 2) + "\n");
    return code;
  }
  io.out(`generation ${reload.generation}\n`);
  if (reload.confirm) io.out(`provisional until ${reload.confirm.deadline}: hostwall confirm keeps it, else generation ${reload.confirm.baselineGeneration}'s ruleset is restored\n`);
  printAttempt(reload.attempt, io);
  if (code !== 0) io.err("hostwall: the agent rejected the config; what was in force stays in force\n");
  return code;
}

function printAttempt(attempt: Attempt | null | undefined, io: Io): void {
  if (!attempt) return;
  io.out(`last attempt ${attempt.at}: ${attempt.ok ? "ok" : "FAILED"}\n`);
  for (const d of attempt.diagnostics ?? []) io.err(formatDiagnostic(d) + "\n");
}

function printStatus(body: StatusDocument, io: Io): void {
  const source: Record<string, string> = { config: "", kernel: ", found in the kernel at start", "last-good": ", the last good ruleset restored at start", failsafe: ", the failsafe-only ruleset (--boot-policy failsafe)" };
  const applied = body.applied
    ? `in force since ${body.applied.at} (${body.applied.hash}${source[body.applied.source] ?? ""})`
    : body.inKernel
      ? `in force: hostwall's tables found in the kernel at start (${body.inKernel.generation !== null ? `generation ${body.inKernel.generation}` : "unstamped"})`
      : "no hostwall ruleset in force";
  io.out(`node ${body.node}, generation ${body.generation}, ${applied}\n`);
  if (body.boot) io.out(`at start: ${body.boot.detail}\n`);
  for (const ep of body.endpoints ?? []) io.out(`  ${ep.name} on ${ep.interface}: ${ep.active ? "active" : "not enforced (interface missing, or not applied yet)"}\n`);
  if (body.drift?.count) io.out(`drift repaired ${body.drift.repairs} of ${body.drift.count} time(s); last ${body.drift.last?.at}: ${(body.drift.last?.differences ?? []).join("; ")}\n`);
  if (body.linkMonitor && body.linkMonitor.state !== "running") io.out(`link monitor ${body.linkMonitor.state} (interfaces resynced periodically)\n`);
  const ds = body.datastore;
  if (ds) io.out(ds.connected ? `datastore etcdv3 ${ds.endpoints.join(",")}: connected since ${ds.since}, revision ${ds.revision}\n` : `datastore etcdv3 ${ds.endpoints.join(",")}: UNREACHABLE since ${ds.since} (${ds.lastError ?? "not read yet"}); the ruleset in force stays\n`);
  // An agent from before confirm windows has no `confirm`.
  const confirm = body.confirm;
  if (confirm?.pending) io.out(`provisional: generation ${confirm.pending.generation} until ${confirm.pending.deadline} (hostwall confirm keeps it, else generation ${confirm.pending.baselineGeneration}'s ruleset is restored)\n`);
  else if (confirm?.last && confirm.last.outcome !== "confirmed") io.out(`last confirm window: ${confirm.last.detail} (${confirm.last.at})\n`);
  // An agent from before staged counters has no `staged`.
  const staged = body.staged;
  if (staged && staged.rules.length > 0) {
    io.out(`staged (counted, never enforced)${staged.counted ? "" : `: counters unreadable (${staged.error ?? "?"})`}\n`);
    const would: Record<string, string> = { Allow: "would allow", Deny: "would deny", Pass: "would pass", Log: "would log" };
    for (const r of staged.rules) io.out(`  ${r.stagedAction === "Delete" ? "delete " : ""}${r.policy} ${r.direction} rule ${r.rule} (${r.action}): ${would[r.action] ?? "matched"} ${r.packets} packet(s), ${r.bytes} bytes\n`);
  }
}

export interface TraceApiOptions {
  /** --api: an address, or "auto" for the control socket, then the TCP listener (as status). */
  api: string;
  /** The filter and bounds as the flags gave them (already checked by trace-args.ts). */
  query: Record<string, string>;
  /** The trace's duration, to bound the request. */
  durationMs: number;
  json: boolean;
  defaultSocket?: string;
  defaultTcp?: string;
}

/**
 * `hostwall trace --api ADDR`: the agent's GET /trace, printed as the local trace prints
 * (--json: the NDJSON lines as they come). Exit 0 traced or nothing matched, 1 a MISMATCH or
 * the agent could not trace (another trace runs: the holder is named), 2 unreachable or a bad
 * request.
 */
export async function traceViaApi(opts: TraceApiOptions, io: Io): Promise<number> {
  const targets =
    opts.api === "auto" ? [parseApiTarget(`unix:${opts.defaultSocket ?? DEFAULT_SOCKET}`), parseApiTarget(opts.defaultTcp ?? DEFAULT_TCP_API)] : [parseApiTarget(opts.api)];
  const path = `/trace?${new URLSearchParams(opts.query).toString()}`;
  const failures: string[] = [];
  const started = Date.now();
  for (const target of targets) {
    // The agent ends the trace at its duration; the margin covers the last packet's quiet time.
    const init: RequestInit & { unix?: string } = { method: "GET", signal: AbortSignal.timeout(opts.durationMs + 30_000) };
    if (target.unix) init.unix = target.unix;
    let res: Response;
    try {
      res = await fetch(target.base + path, init);
    } catch (e) {
      failures.push(unreachable(target, e));
      continue;
    }
    if (res.status !== 200 || !res.body) {
      const body = (await res.json().catch(() => null)) as ErrorAnswer | null;
      const detail = [body?.message, body?.holder ? `held by ${body.holder}` : undefined, body?.hint].filter((x) => typeof x === "string" && x).join("; ");
      io.err(`hostwall: trace: the agent at ${target.label} answered ${res.status}: ${body?.error ?? "unexpected answer"}${detail ? ` (${detail})` : ""}\n`);
      return res.status === 409 || res.status >= 500 ? 1 : 2;
    }
    return printTraceStream(res.body, opts.json, started, io);
  }
  io.err(`hostwall: cannot reach the agent: ${failures.join("; ")}\n`);
  return 2;
}

async function printTraceStream(body: ReadableStream<Uint8Array>, json: boolean, started: number, io: Io): Promise<number> {
  const decoder = new TextDecoder();
  let buffer = "";
  let n = 0;
  let mismatches = 0;
  let failed = false;
  const line = (text: string) => {
    // Blank lines keep the connection alive while no packet comes.
    if (text.trim() === "") return;
    let r: TraceResult;
    try {
      r = JSON.parse(text) as TraceResult;
    } catch {
      io.err(`hostwall: trace: the agent sent a line that is not JSON: ${text.slice(0, 200)}\n`);
      return;
    }
    if (typeof (r as { error?: unknown }).error === "string") {
      failed = true;
      io.err(`${(r as unknown as { error: string }).error}\n`);
      return;
    }
    n++;
    if (r.mismatch) mismatches++;
    io.out(json ? text + "\n" : formatTrace(r, n));
  };
  try {
    for await (const chunk of body) {
      buffer += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        line(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
    }
  } catch (e) {
    io.err(`hostwall: trace: the stream from the agent broke: ${(e as Error).message}\n`);
    return 2;
  }
  line(buffer);
  if (failed) return 1;
  if (n === 0) {
    io.err(`hostwall: trace: no packet matched the filter in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    return 0;
  }
  if (mismatches > 0) {
    io.err(`hostwall: trace: ${mismatches} MISMATCH${mismatches === 1 ? "" : "ES"} between the kernel and hostwall explain: a bug in hostwall, or the ruleset in force is not the config dir's (drift)\n`);
    return 1;
  }
  return 0;
}
