/**
 * `hostwall confirm` (POST /confirm) and what `hostwall reload` sends beside the reload: the
 * confirm window (--confirm DUR), --allow-lockout, and the SSH session the command runs in
 * (SSH_CONNECTION), which the agent's lockout check treats as a live session to keep.
 *
 * Exit codes as the other API commands: confirm 0 confirmed, 1 nothing was pending (the
 * answer says whether a window expired and was reverted), 2 the agent unreachable or refusing.
 */
import { MAX_WINDOW_MS, MIN_WINDOW_MS, parseWindow } from "../agent/confirm.ts";
import { sshSession } from "../agent/sessions.ts";
import type { ErrorAnswer } from "../api/status.ts";
import { DEFAULT_SOCKET, parseApiTarget } from "./api-client.ts";
import { UsageError, type ParsedArgs } from "./args.ts";
import type { Io } from "./io.ts";

/** The POST /reload body of `hostwall reload [--confirm DUR] [--allow-lockout]`. */
export function reloadBody(flags: ParsedArgs["flags"], env: Io["env"]): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const confirm = flags.confirm;
  if (confirm !== undefined) {
    const ms = typeof confirm === "string" ? parseWindow(confirm) : undefined;
    if (ms === undefined) throw new UsageError(`--confirm needs a window of ${MIN_WINDOW_MS / 1000} s to ${MAX_WINDOW_MS / 60_000} min: N (seconds), Ns, Nm or Nms; got ${JSON.stringify(confirm)}`);
    body.confirm = `${ms}ms`;
  }
  if (flags["allow-lockout"]) body.allowLockout = true;
  // Only a well-formed value is passed on: the agent checks it again anyway.
  const ssh = env.SSH_CONNECTION;
  if (sshSession(ssh)) body.ssh = ssh!.trim();
  return body;
}

/** `run --confirm-changes DUR`, in ms. */
export function confirmChangesFlag(value: string | true | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = typeof value === "string" ? parseWindow(value) : undefined;
  if (ms === undefined) throw new UsageError(`--confirm-changes needs a window of ${MIN_WINDOW_MS / 1000} s to ${MAX_WINDOW_MS / 60_000} min: N (seconds), Ns, Nm or Nms; got ${JSON.stringify(value)}`);
  return ms;
}

export interface ConfirmOptions {
  api?: string;
  json: boolean;
  defaultSocket?: string;
}

/** `hostwall confirm`: keep the provisional ruleset. */
export async function confirmCommand(opts: ConfirmOptions, io: Io): Promise<number> {
  const target = parseApiTarget(opts.api ?? `unix:${opts.defaultSocket ?? DEFAULT_SOCKET}`);
  const init: RequestInit & { unix?: string } = { method: "POST", headers: { "content-type": "application/json" }, body: "{}", signal: AbortSignal.timeout(30_000) };
  if (target.unix) init.unix = target.unix;
  let res: Response;
  try {
    res = await fetch(target.base + "/confirm", init);
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code === "ENOENT" || code === "ECONNREFUSED" ? "no agent is running there" : code === "EACCES" ? "permission denied (the control socket is root's; run as root)" : (e as Error).message;
    io.err(`hostwall: cannot reach the agent at ${target.label}: ${why}\n`);
    return 2;
  }
  const body = (await res.json().catch(() => null)) as (ErrorAnswer & { generation?: number }) | null;
  if (opts.json && body) io.out(JSON.stringify(body, null, 2) + "\n");
  if (res.status === 200) {
    if (!opts.json) io.out(`generation ${body?.generation} confirmed; it stays in force\n`);
    return 0;
  }
  if (res.status === 409) {
    io.err(`hostwall: ${body?.error ?? "nothing to confirm"}\n`);
    return 1;
  }
  io.err(`hostwall: the agent at ${target.label} answered ${res.status}: ${body?.error ?? "unexpected answer"}${body?.hint ? ` (${body.hint})` : ""}\n`);
  return 2;
}
