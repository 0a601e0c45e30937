/**
 * The test client of a running agent's API inside a namespace, the one way tests ask it
 * anything: GET over its TCP --listen, and POST /reload over its control socket (the only
 * listener that takes POST). curl runs inside the namespace (loopback there is the agent's).
 */
import type { Ns } from "../kernel/netns";

/** An HTTP answer: status and body. */
export interface ApiAnswer {
  status: number;
  body: string;
}

/** curl's output with `-w "\n%{http_code}"` appended: the body, then the status on its own line. */
async function curl(ns: Ns, args: string[], timeoutMs: number): Promise<ApiAnswer | null> {
  const r = await ns.exec(["curl", "-s", "--max-time", String(Math.ceil(timeoutMs / 1000)), "-w", "\n%{http_code}", ...args], { timeoutMs: timeoutMs + 2000 });
  if (r.code !== 0) return null;
  const cut = r.stdout.lastIndexOf("\n");
  return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
}

/** GET `path` of the API on 127.0.0.1:`port` inside `ns`; null when unreachable. */
export function apiGet(ns: Ns, port: number, path: string, timeoutMs = 3000): Promise<ApiAnswer | null> {
  return curl(ns, [`http://127.0.0.1:${port}${path}`], timeoutMs);
}

/** POST /reload on the control socket; null when unreachable. */
export function postReload(ns: Ns, socket: string, timeoutMs = 20_000): Promise<ApiAnswer | null> {
  return curl(ns, ["-X", "POST", "--unix-socket", socket, "-H", "Content-Type: application/json", "http://localhost/reload"], timeoutMs);
}

/**
 * POST /reload and return the attempt; throws unless the agent applied the config (or found
 * it unchanged), naming each diagnostic, with `context()` (the agent's log) when unreachable.
 */
export async function reloadOrThrow(ns: Ns, socket: string, context: () => string): Promise<any> {
  const r = await postReload(ns, socket);
  if (!r) throw new Error(`POST /reload: the control socket ${socket} did not answer; agent log:\n${context()}`);
  let body: any;
  try {
    body = JSON.parse(r.body);
  } catch {
    throw new Error(`POST /reload answered ${r.status} with no JSON: ${r.body.slice(0, 200)}`);
  }
  if (r.status !== 200 || !body.ok) {
    const diags = (body.attempt?.diagnostics ?? []).map((d: any) => `${d.severity} ${d.code}: ${d.message} (${d.file ?? ""}:${d.line ?? "?"} ${d.resource ?? ""} ${d.path ?? ""})`);
    throw new Error(`POST /reload: ${r.status}, the agent refused the config:\n${diags.join("\n")}`);
  }
  return body.attempt;
}
