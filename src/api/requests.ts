/**
 * The body of POST /reload, read strictly: `{}` (or no body), or any of `confirm` (a window:
 * "60s", "2m", a number of seconds), `allowLockout` (true), `ssh` (the SSH_CONNECTION of the
 * command that asks, checked by the lockout check like a live session). Anything else is a
 * 400 naming it: a typo in a safety option must not silently apply without it.
 */
import { MAX_WINDOW_MS, MIN_WINDOW_MS, parseWindow } from "../agent/confirm.ts";
import { sshSession } from "../agent/sessions.ts";
import type { ApplyRequest } from "../agent/types.ts";
import type { ErrorAnswer } from "./status.ts";

const KEYS = new Set(["confirm", "allowLockout", "ssh"]);

export function reloadRequest(text: string): ApplyRequest | ErrorAnswer {
  if (text.trim() === "") return { explicit: true };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { error: "the body is not JSON" };
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) return { error: "the body must be a JSON object" };
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !KEYS.has(k));
  if (unknown.length > 0) return { error: `unknown field ${JSON.stringify(unknown[0])}`, hint: `POST /reload takes ${[...KEYS].join(", ")}` };
  const request: ApplyRequest = { explicit: true };
  if (b.confirm !== undefined) {
    const ms = typeof b.confirm === "string" || typeof b.confirm === "number" ? parseWindow(b.confirm) : undefined;
    if (ms === undefined) return { error: `confirm must be a window of ${MIN_WINDOW_MS / 1000} s to ${MAX_WINDOW_MS / 60_000} min: N (seconds), Ns, Nm or Nms`, got: b.confirm };
    request.confirmMs = ms;
  }
  if (b.allowLockout !== undefined) {
    if (typeof b.allowLockout !== "boolean") return { error: "allowLockout must be true or false" };
    request.allowLockout = b.allowLockout;
  }
  if (b.ssh !== undefined) {
    const s = typeof b.ssh === "string" ? sshSession(b.ssh) : undefined;
    if (!s) return { error: "ssh must be an SSH_CONNECTION value: client_ip client_port server_ip server_port" };
    request.sessions = [s];
  }
  return request;
}
