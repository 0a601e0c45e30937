/**
 * [I/O] Serving the status API on TCP or a unix socket (DESIGN.md §6).
 *
 * The unix socket is the control socket (POST /reload), so nobody but root may reach it or
 * swap it. Its directory must be a real directory (lstat: not a symlink) owned by root or by
 * us and writable by nobody else; it is created (0750) when missing, refused otherwise. In
 * such a directory no other user can replace the socket with a symlink, and still the socket
 * path is never followed or chmod-ed: it is created under umask 0177 (mode 0600) and then
 * checked with lstat (a socket, ours, 0600, in the directory that was checked); anything
 * else closes the server and fails the start.
 *
 * A socket file left behind by a killed agent makes the next listen fail with EADDRINUSE
 * (reference/bun.md §6), so an existing path is removed, but only when it is a socket and
 * nobody answers on it: a live agent is never displaced, and a mistyped `--socket /etc/passwd`
 * never deletes a file. Bun's development error pages (with stack traces) are off.
 */
import { unlinkSync, type Stats } from "node:fs";
import { connect, isIP } from "node:net";
import { dirname } from "node:path";
import { ensurePrivateDir, lstatOrUndefined } from "../agent/private-dir.ts";

/**
 * Bun's own limit sits above the API's 64 KiB (app.ts): the app refuses larger bodies with a
 * JSON 413 and one log line; this only bounds what Bun buffers for a request nobody reads.
 */
const BUN_MAX_BODY_BYTES = 1024 * 1024;

export type ApiServer = ReturnType<typeof Bun.serve>;

/** A listen address: TCP host:port, a unix socket path, or off (parsed from --listen in cli/args.ts). */
export type ListenAddress = { kind: "tcp"; hostname: string; port: number } | { kind: "unix"; path: string } | { kind: "off" };

export function describeListen(l: ListenAddress): string {
  return l.kind === "tcp" ? `http://${l.hostname.includes(":") ? `[${l.hostname}]` : l.hostname}:${l.port}` : l.kind === "unix" ? `unix:${l.path}` : "off";
}

/** True for a TCP hostname only this machine can reach: localhost, 127.0.0.0/8, ::1. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase();
  if (h === "localhost" || h === "::1" || h === "::ffff:127.0.0.1") return true;
  return isIP(h) === 4 && h.startsWith("127.");
}

/** The warning `hostwall run` logs for a TCP listener other machines can reach; else undefined. */
export function exposureWarning(l: ListenAddress): string | undefined {
  if (l.kind !== "tcp" || isLoopbackHost(l.hostname)) return undefined;
  return `the status API on ${describeListen(l)} is reachable from the network: it is read-only (POST /reload only on the control socket), but /status and /ruleset show the whole policy; under systemd allow only the scrapers with IPAddressAllow= in a drop-in`;
}

/** Starts serving `fetch` on the address; undefined for `off`. Throws with a clear message. */
export async function listen(address: ListenAddress, fetch: (req: Request) => Response | Promise<Response>): Promise<ApiServer | undefined> {
  if (address.kind === "off") return undefined;
  // reusePort: measured on Bun 1.4.5, with development false Bun.serve binds with SO_REUSEPORT
  // unless told otherwise, so a second agent "listened" on the first one's port and the kernel
  // split the connections between them. An address in use must be an error.
  if (address.kind === "tcp") return Bun.serve({ ...serveOptions(fetch), hostname: address.hostname, port: address.port, reusePort: false });
  return listenUnix(address.path, fetch);
}

function serveOptions(fetch: (req: Request) => Response | Promise<Response>) {
  return {
    fetch,
    development: false,
    maxRequestBodySize: BUN_MAX_BODY_BYTES,
    error: () => Response.json({ error: "internal error" }, { status: 500 }),
  };
}

async function listenUnix(path: string, fetch: (req: Request) => Response | Promise<Response>): Promise<ApiServer> {
  const dir = dirname(path);
  const dirStat = checkSocketDir(dir);
  await removeStaleSocket(path);
  const old = process.umask(0o177);
  let server: ApiServer;
  try {
    server = Bun.serve({ ...serveOptions(fetch), unix: path });
  } finally {
    process.umask(old);
  }
  try {
    verifySocket(path, dirStat);
  } catch (e) {
    await server.stop(true);
    throw e;
  }
  return server;
}

/**
 * The control socket's directory: created (0750) when missing, else it must be a real
 * directory owned by root or by us and not writable by group or others. Returns its lstat.
 */
function checkSocketDir(dir: string): Stats {
  return ensurePrivateDir(dir, { what: "the socket directory", mode: 0o750, fix: "use a directory only root can write (the default /run/hostwall), or --socket off" });
}

/** After binding: the path is our socket, mode 0600, in the directory that was checked. */
function verifySocket(path: string, dirStat: Stats): void {
  const dir = lstatOrUndefined(dirname(path));
  if (!dir || dir.dev !== dirStat.dev || dir.ino !== dirStat.ino) throw new Error(`the socket directory ${dirname(path)} was replaced while binding; not serving`);
  const st = lstatOrUndefined(path);
  const euid = process.geteuid?.() ?? 0;
  if (!st || !st.isSocket()) throw new Error(`${path} is not the socket just bound (replaced while binding?); not serving`);
  if (st.uid !== euid || (st.mode & 0o777) !== 0o600) throw new Error(`${path} has owner ${st.uid} and mode ${(st.mode & 0o777).toString(8)}, not ${euid} and 600; not serving`);
}

async function removeStaleSocket(path: string): Promise<void> {
  const st = lstatOrUndefined(path);
  if (!st) return; // nothing there
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; not removing it`);
  if (await socketAnswers(path)) throw new Error(`another process is listening on ${path}`);
  unlinkSync(path); // stale socket from a crashed or killed run
}

/** True if something accepts a connection on the unix socket within a second. */
function socketAnswers(path: string): Promise<boolean> {
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
