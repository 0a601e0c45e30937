/**
 * [I/O] Serving the status API on TCP or a unix socket (DESIGN.md §6).
 *
 * Unix sockets: a socket file left behind by a killed agent makes the next listen fail with
 * EADDRINUSE (reference/bun.md §6), so an existing path is removed, but only when it is a
 * socket and nobody answers on it: a live agent is never displaced, and a mistyped
 * `--listen unix:/etc/passwd` never deletes a file. The socket is created under umask 0177
 * (mode 0600: only the agent's user, root, may talk to the agent), and the mode is checked
 * afterwards. Bun's development error pages (with stack traces) are off.
 */
import { chmodSync, lstatSync, mkdirSync, statSync, unlinkSync } from "node:fs";
import { connect } from "node:net";
import { dirname } from "node:path";
import type { ListenAddress } from "../cli/args.ts";

const MAX_BODY_BYTES = 64 * 1024;

export type ApiServer = ReturnType<typeof Bun.serve>;

export function describeListen(l: ListenAddress): string {
  return l.kind === "tcp" ? `http://${l.hostname.includes(":") ? `[${l.hostname}]` : l.hostname}:${l.port}` : l.kind === "unix" ? `unix:${l.path}` : "off";
}

/** Starts serving `fetch` on the address; undefined for `off`. Throws with a clear message. */
export async function listen(address: ListenAddress, fetch: (req: Request) => Response | Promise<Response>): Promise<ApiServer | undefined> {
  const common = {
    fetch,
    development: false,
    maxRequestBodySize: MAX_BODY_BYTES,
    error: () => Response.json({ error: "internal error" }, { status: 500 }),
  };
  if (address.kind === "off") return undefined;
  if (address.kind === "tcp") return Bun.serve({ ...common, hostname: address.hostname, port: address.port });
  const path = address.path;
  mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
  await removeStaleSocket(path);
  const old = process.umask(0o177);
  let server: ApiServer;
  try {
    server = Bun.serve({ ...common, unix: path });
  } finally {
    process.umask(old);
  }
  if ((statSync(path).mode & 0o777) !== 0o600) chmodSync(path, 0o600);
  return server;
}

async function removeStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; not removing it`);
  if (await socketAnswers(path)) throw new Error(`another process is listening on ${path}`);
  unlinkSync(path); // stale socket from a crashed or killed run
}

/** True if something accepts a connection on the unix socket within a second. */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    const timer = setTimeout(() => done(false), 1000);
    function done(v: boolean) {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    }
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}
