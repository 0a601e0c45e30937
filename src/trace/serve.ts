/**
 * [I/O] `GET /trace` of the agent's API: the same trace as `hostwall trace --json`, streamed as
 * NDJSON (one TraceResult a line), so whoever may reach the control socket (or the loopback
 * listener) traces without root. The query takes the CLI's flags by name and goes through the
 * CLI's own checks (args.ts), so the nft script sees exactly what the CLI would let in.
 *
 * One trace at a time per agent (a second is refused 409 naming the holder); a trace of the
 * CLI in the same network namespace holds the kernel table and is refused 409 the same way.
 * The trace ends at its count or duration (as the CLI's, at most an hour), or when the client
 * goes away (request.signal), and its table is removed then. The model is the one of the
 * agent's last successful attempt: a request never reads the config dir.
 *
 * A failure after the stream began ends it with a line {"error": "..."}.
 *
 * The stream begins with a blank line, and a blank line every few seconds keeps the connection alive while no packet comes (Bun closes
 * an idle connection after 10 s); clients skip blank lines.
 */
import { TraceArgError, traceArgsFromFlags } from "./args.ts";
import type { Model } from "../model/types.ts";
import { runTrace, type TraceOptions } from "./run.ts";

/** What the agent knows that a trace needs. */
export interface TraceContext {
  model: Model;
  node: string;
  interfaces: readonly string[];
  interfaceAddresses: Record<string, readonly string[]>;
}

/** The query parameters GET /trace takes: the CLI's flags. */
export const TRACE_QUERY = ["src", "dst", "proto", "sport", "dport", "iface", "direction", "count", "duration"] as const;
const KEEPALIVE_MS = 5000;

export interface TraceServerOptions {
  nftPath?: string;
  /** Replaces runTrace (unit tests). */
  run?: (opts: TraceOptions) => Promise<number>;
  keepaliveMs?: number;
}

/** An error answer: status and JSON body. */
function answer(status: number, body: Record<string, unknown>): Response {
  return Response.json(body, { status });
}

export class TraceServer {
  /** Packets of traces served whose kernel verdict differed from the evaluator's (MISMATCH). */
  mismatches = 0;
  /** Traces served to the end. */
  traces = 0;
  private holder?: string;
  /** Aborts the running trace at shutdown; its end. */
  private current?: { abort: AbortController; done: Promise<unknown> };
  private readonly run: (opts: TraceOptions) => Promise<number>;

  /** A trace runs (its table carries the agent's pid: the drift check must not take it for stale). */
  get busy(): boolean {
    return this.holder !== undefined;
  }

  /** Ends the running trace (its table removed) and waits for it: a shutdown must not wait an hour for a client. */
  async stop(): Promise<void> {
    const c = this.current;
    if (!c) return;
    c.abort.abort();
    await c.done;
  }

  constructor(private readonly opts: TraceServerOptions = {}) {
    this.run = opts.run ?? runTrace;
  }

  /** Answers one GET /trace: 400 bad query, 409 busy, 503 no model yet, else a 200 NDJSON stream. */
  async serve(req: Request, ctx: TraceContext | undefined): Promise<Response> {
    const url = new URL(req.url);
    const flags: Record<string, string> = {};
    for (const [k, v] of url.searchParams) {
      if (!(TRACE_QUERY as readonly string[]).includes(k)) return answer(400, { error: "unknown query parameter", parameter: k, allowed: [...TRACE_QUERY] });
      if (k in flags) return answer(400, { error: "query parameter given twice", parameter: k });
      flags[k] = v;
    }
    let args;
    try {
      args = traceArgsFromFlags(flags);
    } catch (e) {
      if (e instanceof TraceArgError) return answer(400, { error: "bad trace filter", message: e.message.replace(/--(\w+)/g, "$1") });
      throw e;
    }
    if (!ctx) return answer(503, { error: "no config applied yet", hint: "the agent traces with the model of its last successful attempt; see /status" });
    if (this.holder) return answer(409, { error: "another trace runs", holder: this.holder });
    this.holder = `GET /trace of the agent (pid ${process.pid}) since ${new Date().toISOString()}`;

    const encoder = new TextEncoder();
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let closed = false;
    const stream = new ReadableStream<Uint8Array>({
      start: (c) => void (controller = c),
      cancel: () => void (closed = true),
    });
    const send = (text: string) => {
      if (closed) return;
      try {
        controller.enqueue(encoder.encode(text));
      } catch {
        closed = true;
      }
    };
    const errors: string[] = [];
    const abort = new AbortController();
    let installed!: () => void;
    // Bun sends the status line with the first chunk: a blank one as soon as the table is in,
    // so the client learns the trace runs before the first packet comes.
    const started = new Promise<"installed">((resolve) => (installed = () => (send("\n"), resolve("installed"))));
    const done = this.run({
      ...ctx,
      ...args,
      json: true,
      nftPath: this.opts.nftPath ?? "/usr/sbin/nft",
      signal: AbortSignal.any([req.signal, abort.signal]),
      catchSignals: false,
      onInstalled: installed,
      out: (line) => {
        try {
          if (JSON.parse(line).mismatch) this.mismatches++;
        } catch {
          // not a result line: sent as it is
        }
        send(line);
      },
      err: (text) => void errors.push(text),
    })
      .catch((e: Error) => {
        errors.push(`hostwall: trace: ${e.message}\n`);
        return 1;
      })
      .finally(() => {
        this.holder = undefined;
        this.current = undefined;
        this.traces++;
      });
    this.current = { abort, done };
    const first = await Promise.race([started, done]);
    if (first !== "installed") {
      const message = errors.join("").trim();
      const busy = /another trace runs/.test(message);
      return answer(busy ? 409 : 500, { error: busy ? "another trace runs" : "the trace could not run", message });
    }
    const keepalive = setInterval(() => send("\n"), this.opts.keepaliveMs ?? KEEPALIVE_MS);
    void done.then(() => {
      clearInterval(keepalive);
      // A failure after the start (nft monitor died, the table could not be removed) is the
      // stream's last line, {"error": ...}; the client recounts "nothing matched" and MISMATCH itself.
      const failures = errors.filter((e) => !/no packet matched the filter|MISMATCH/.test(e)).join("").trim();
      if (failures) send(JSON.stringify({ error: failures }) + "\n");
      if (closed) return;
      closed = true;
      try {
        controller.close();
      } catch {
        // the client went away
      }
    });
    return new Response(stream, { status: 200, headers: { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-store" } });
  }
}

/** The agent's trace server, one per agent so both listeners share the lock and the counter. */
const servers = new WeakMap<object, TraceServer>();

export function traceServer(agent: object, make: () => TraceServer = () => new TraceServer()): TraceServer {
  let s = servers.get(agent);
  if (!s) servers.set(agent, (s = make()));
  return s;
}
