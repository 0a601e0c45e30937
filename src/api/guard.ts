/**
 * Who may ask the status API what (DESIGN.md §6; issue #18 finding 5).
 *
 * The agent runs as root and POST /reload makes it re-read and re-apply everything, so
 * changing anything is reserved to the control socket (a unix socket, mode 0600: root only).
 * A TCP listener is read-only, and it is reachable by every local user and by every web page
 * a local browser opens, so:
 *
 *   request ─▶ Host check (TCP) ─▶ read-only? (TCP) ─▶ method known? ─▶ JSON POST? ─▶ body ≤ 64 KiB ─▶ route
 *               421: DNS rebinding    403: POST on TCP     405 / 204        415: CSRF      413 + one warning
 *
 * - DNS rebinding: a page from evil.example re-points its name to 127.0.0.1 and reads the
 *   answers as same-origin. Its requests carry `Host: evil.example`; an attacker cannot make
 *   a browser send a loopback name or an IP literal for its own origin, so only those (and
 *   the name the agent was told to listen on) are accepted.
 * - CSRF: a cross-origin page may POST without a preflight only with a "simple" content type
 *   (text/plain, form encodings); `Content-Type: application/json` needs a preflight, which
 *   the API never grants. So every POST must say application/json, on every listener.
 */
import type { Context, MiddlewareHandler } from "hono";
import { isIP } from "node:net";
import type { Logger } from "../agent/log.ts";
import { isLoopbackHost } from "./listen.ts";
import type { ErrorAnswer } from "./status.ts";

/** What a listener may do. */
export type ApiAccess = "control" | "read-only";

/** One endpoint of the API, for routing and the `GET /` index. */
export interface Route {
  /** The path, exactly (no trailing slash, no prefix match). */
  path: string;
  /** Methods it answers; GET also answers HEAD. */
  methods: string[];
  /** One line for the index. */
  description: string;
  /** Only on the control socket. */
  control?: boolean;
  /** Not on a TCP listener bound to a non-loopback address (a trace shows this host's traffic). */
  loopback?: boolean;
}

const ROUTES: readonly Route[] = [
  { path: "/", methods: ["GET", "HEAD"], description: "this index of the endpoints" },
  { path: "/healthz", methods: ["GET", "HEAD"], description: "200 while the agent loop is alive" },
  { path: "/readyz", methods: ["GET", "HEAD"], description: "200 once a ruleset is in force, 503 before" },
  { path: "/status", methods: ["GET", "HEAD"], description: "what is in force: generation, last attempt with diagnostics, endpoints, drift" },
  { path: "/metrics", methods: ["GET", "HEAD"], description: "Prometheus text: applies, durations, drift, per-rule packet and byte counters" },
  { path: "/ruleset", methods: ["GET", "HEAD"], description: "the nft script in force (text/plain)" },
  { path: "/drops", methods: ["GET", "HEAD"], description: "per Deny rule (and per Log rule under logs), the addresses it dropped (logged) most in the last window, with totals (on unless run --drop-summaries=off); ?top=N (default 10)" },
  { path: "/trace", methods: ["GET"], description: "hostwall trace --json as NDJSON, streamed: ?src=&dst=&proto=&sport=&dport=&iface=&direction=&count=&duration= (control socket and loopback listeners only; one trace at a time)", loopback: true },
  { path: "/reload", methods: ["POST"], description: "re-read the config dir and apply it now; body {confirm: \"60s\", allowLockout, ssh} (Content-Type: application/json; control socket only)", control: true },
  { path: "/confirm", methods: ["POST"], description: "keep the provisional ruleset of reload --confirm (control socket only)", control: true },
  { path: "/diff", methods: ["GET", "POST"], description: "what applying the config dir now would change against the ruleset in force (control socket only: it reads and builds the config)", control: true },
];

const MAX_BODY_BYTES = 64 * 1024;

export interface GuardOptions {
  access: ApiAccess;
  /** The TCP listen hostname: accepted in Host when it is a name. */
  listenHost?: string;
  /** The control socket's path, named in the 403 answer of a read-only listener. */
  controlSocket?: string;
  logger?: Logger;
}

/** The index served at `GET /`: every endpoint and whether this listener serves it. */
export function endpointIndex(opts: GuardOptions) {
  return {
    listener: opts.access,
    ...(opts.controlSocket ? { controlSocket: opts.controlSocket } : {}),
    endpoints: ROUTES.map((r) => ({ path: r.path, methods: r.methods, description: r.description, allowed: opts.access === "control" || (!r.control && (!r.loopback || loopbackHost(opts.listenHost))) })),
  };
}

/**
 * True if a TCP request's Host names this machine in a way no other origin can: `localhost`
 * and `*.localhost` (browsers never resolve these through DNS), an IP literal (rebinding needs
 * a name), or the hostname the agent listens on when that is a name the operator chose.
 */
export function hostAllowed(host: string | undefined, listenHost?: string): boolean {
  if (!host) return false;
  const h = host.trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    return end > 0 && /^(:\d{1,5})?$/.test(h.slice(end + 1)) && isIP(h.slice(1, end)) === 6;
  }
  const m = /^([^:]+)(?::\d{1,5})?$/.exec(h);
  if (!m) return false;
  const name = m[1]!.replace(/\.$/, "");
  if (isIP(name) === 4) return true;
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  const listen = listenHost?.toLowerCase().replace(/\.$/, "");
  return listen !== undefined && isIP(listen) === 0 && name === listen;
}

/** Whether a TCP listener's hostname is loopback (listen.ts decides, as for the exposure warning). */
function loopbackHost(host: string | undefined): boolean {
  return host !== undefined && isLoopbackHost(host);
}

/** The media type of a Content-Type header, lower case, without parameters. */
function mediaType(value: string | undefined): string {
  return (value ?? "").split(";")[0]!.trim().toLowerCase();
}

export function guard(opts: GuardOptions): MiddlewareHandler {
  const routes = new Map(ROUTES.map((r) => [r.path, r]));
  const readOnly = opts.access === "read-only";
  const hint = `changing the firewall is only possible on the control socket${opts.controlSocket ? ` ${opts.controlSocket}` : ""}: use \`hostwall reload\` as root`;
  return async (c, next) => {
    const { method, path } = c.req;
    if (readOnly && !hostAllowed(c.req.header("host"), opts.listenHost)) {
      return c.json({ error: "host not allowed", host: c.req.header("host") ?? null, hint: "ask by IP address or localhost (this refuses DNS rebinding)" } satisfies ErrorAnswer, 421);
    }
    const route = routes.get(path);
    if (readOnly && (route?.control || !["GET", "HEAD", "OPTIONS"].includes(method))) {
      return c.json({ error: "read-only listener", method, path, hint } satisfies ErrorAnswer, 403);
    }
    if (readOnly && route?.loopback && !loopbackHost(opts.listenHost)) {
      return c.json({ error: "not served on a non-loopback listener", path, hint: `${path} shows this host's traffic: ask on the control socket${opts.controlSocket ? ` ${opts.controlSocket}` : ""} or a loopback listener` } satisfies ErrorAnswer, 403);
    }
    // A web page may send a GET cross-origin without a preflight: it cannot read the answer,
    // but it could start a trace (and hold the one trace slot for an hour). Browsers mark such
    // requests (Origin, Sec-Fetch-Site); curl and hostwall do not send them.
    if (route?.loopback && (c.req.header("origin") !== undefined || !["none", undefined].includes(c.req.header("sec-fetch-site")))) {
      return c.json({ error: "not served to a web page", path, hint: "use hostwall trace --api or curl" } satisfies ErrorAnswer, 403);
    }
    if (route && !route.methods.includes(method)) {
      const allow = [...route.methods, "OPTIONS"].join(", ");
      if (method === "OPTIONS") return c.body(null, 204, { Allow: allow });
      return c.json({ error: "method not allowed", method, path, allow: route.methods } satisfies ErrorAnswer, 405, { Allow: allow });
    }
    if (method === "POST" && mediaType(c.req.header("content-type")) !== "application/json") {
      return c.json({ error: "unsupported media type", expected: "application/json", got: c.req.header("content-type") ?? null } satisfies ErrorAnswer, 415);
    }
    const body = c.req.raw.body ? await readBody(c) : "ok";
    if (body === "too large") {
      opts.logger?.log("warning", `API ${method} ${path}: request body over ${MAX_BODY_BYTES} bytes refused (413)`);
      return c.json({ error: "request body too large", limitBytes: MAX_BODY_BYTES } satisfies ErrorAnswer, 413);
    }
    if (body === "aborted") return c.json({ error: "request body could not be read" } satisfies ErrorAnswer, 400);
    await next();
  };
}

/**
 * Reads the body up to the limit and puts it back for the handler. A body over the limit,
 * declared or streamed (chunked), or one Bun stops at its own limit, is "too large"; nothing
 * is thrown, so no stack trace reaches the log.
 */
async function readBody(c: Context): Promise<"ok" | "too large" | "aborted"> {
  const declared = Number(c.req.header("content-length") ?? NaN);
  if (!c.req.header("transfer-encoding") && declared > MAX_BODY_BYTES) return "too large";
  const reader = c.req.raw.body!.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > MAX_BODY_BYTES) {
        void reader.cancel().catch(() => {});
        return "too large";
      }
      chunks.push(value);
    }
  } catch (e) {
    return /maxRequestBodySize/.test(String((e as Error)?.message)) ? "too large" : "aborted";
  }
  c.req.raw = new Request(c.req.raw, { body: Buffer.concat(chunks) });
  return "ok";
}
