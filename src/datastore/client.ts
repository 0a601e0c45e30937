/**
 * [I/O] An etcd v3 client over etcd's JSON gateway (`POST /v3/kv/range`, `/v3/kv/txn`,
 * `/v3/watch`, `/v3/auth/authenticate`) with Bun's fetch: no gRPC library, no HTTP/2.
 *
 * Why the gateway (measured under Bun 1.4.5 against etcd 3.4.23, see the commit): a range is
 * one keep-alive HTTP/1.1 request (~1 ms on loopback), a watch is one streaming response of
 * JSON lines that Bun's fetch reads incrementally, TLS and client certificates are fetch's
 * `tls` option, and everything a request holds is released when its response ends or its
 * AbortSignal fires, so an etcd restart ends the stream and the caller simply starts a new
 * one. gRPC in Bun goes through @grpc/grpc-js over Bun's HTTP/2 client, whose stream
 * handling has had bugs (reference/etcd.md); a dependency we do not need.
 *
 * Endpoints: requests go to the endpoint that worked last; a connection failure or an
 * "unavailable" answer moves on to the next, once round all of them. Every error names the
 * endpoint it came from. Keys and values are base64 in the JSON, int64 revisions strings.
 */

export interface EtcdTls {
  /** PEM of the CA that signed the server certificates. */
  ca?: string;
  /** PEM client certificate and key, for servers that require one. */
  cert?: string;
  key?: string;
}

export interface EtcdConfig {
  /** Client URLs, http:// or https://. */
  endpoints: string[];
  tls?: EtcdTls;
  username?: string;
  password?: string;
  /** Per-request timeout (default 10 s, Calico's). */
  requestTimeoutMs?: number;
}

/** A key-value pair as etcd returns it, decoded. */
export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
}

/** One watch event. */
export interface WatchEvent {
  type: "put" | "delete";
  kv: KeyValue;
  prev?: KeyValue;
}

/** A failure talking to etcd; `endpoint` says which one. */
export class EtcdError extends Error {
  constructor(
    message: string,
    readonly endpoint: string,
    /** The gRPC status code etcd answered with, when it answered. */
    readonly code?: number,
  ) {
    super(`etcd ${endpoint}: ${message}`);
  }
}

/** The watch's start revision has been compacted away: relist. */
export class CompactedError extends Error {
  constructor(readonly compactRevision: number) {
    super(`required revision has been compacted (compacted to ${compactRevision})`);
  }
}

/** One operation of a transaction. */
export type TxnOp = { put: { key: string; value: string } } | { delete: { key: string } };
/** One condition of a transaction: the key's mod revision equals (0: the key does not exist). */
export interface TxnCompare {
  key: string;
  modRevision: number;
}

const enc = (s: string) => Buffer.from(s, "utf8").toString("base64");
const dec = (s: unknown) => (typeof s === "string" ? Buffer.from(s, "base64").toString("utf8") : "");
const num = (s: unknown) => (typeof s === "string" || typeof s === "number" ? Number(s) : 0);

function decodeKv(kv: Record<string, unknown>): KeyValue {
  return { key: dec(kv.key), value: dec(kv.value), createRevision: num(kv.create_revision), modRevision: num(kv.mod_revision), version: num(kv.version) };
}

/** The end of the range of every key starting with `prefix` (etcd's "prefix" convention). */
export function prefixEnd(prefix: string): string {
  const b = Buffer.from(prefix, "utf8");
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) return Buffer.concat([b.subarray(0, i), Buffer.from([b[i]! + 1])]).toString("base64");
  }
  return Buffer.from([0]).toString("base64");
}

const UNAVAILABLE = 14;
const UNAUTHENTICATED = 16;

export class EtcdClient {
  private current = 0;
  private tokens = new Map<string, string>();

  constructor(readonly config: EtcdConfig) {
    if (config.endpoints.length === 0) throw new Error("no etcd endpoint given");
  }

  /** The endpoint requests go to now. */
  get endpoint(): string {
    return this.config.endpoints[this.current]!;
  }

  /** Moves on to the next endpoint (after a watch on the current one failed). */
  rotate(): void {
    this.current = (this.current + 1) % this.config.endpoints.length;
  }

  /** Every key under `prefix`, and the store's revision at that moment. */
  async rangePrefix(prefix: string, opts: { limit?: number } = {}): Promise<{ kvs: KeyValue[]; revision: number }> {
    const r = await this.call("/v3/kv/range", { key: enc(prefix), range_end: prefixEnd(prefix), ...(opts.limit ? { limit: opts.limit } : {}) });
    return { kvs: ((r.kvs as Record<string, unknown>[]) ?? []).map(decodeKv), revision: num((r.header as Record<string, unknown>)?.revision) };
  }

  /** One key, or undefined. */
  async get(key: string): Promise<{ kv?: KeyValue; revision: number }> {
    const r = await this.call("/v3/kv/range", { key: enc(key) });
    const kvs = (r.kvs as Record<string, unknown>[]) ?? [];
    return { kv: kvs[0] ? decodeKv(kvs[0]) : undefined, revision: num((r.header as Record<string, unknown>)?.revision) };
  }

  /** All operations if every comparison holds, nothing otherwise (one etcd transaction). */
  async txn(compare: TxnCompare[], ops: TxnOp[]): Promise<{ succeeded: boolean; revision: number }> {
    const r = await this.call("/v3/kv/txn", {
      compare: compare.map((c) => (c.modRevision === 0 ? { key: enc(c.key), target: "CREATE", result: "EQUAL", create_revision: "0" } : { key: enc(c.key), target: "MOD", result: "EQUAL", mod_revision: String(c.modRevision) })),
      success: ops.map((op) => ("put" in op ? { request_put: { key: enc(op.put.key), value: enc(op.put.value) } } : { request_delete_range: { key: enc(op.delete.key) } })),
    });
    return { succeeded: r.succeeded === true, revision: num((r.header as Record<string, unknown>)?.revision) };
  }

  /**
   * Watches every key under `prefix` from `startRevision`, with previous values unless
   * `prevKv` is false (Felix's WithPrevKV; etcd then marshals and sends every changed value
   * twice, 46 MB instead of 23 for an edit of a 1M-address set, to every watcher). Resolves when
   * the stream ends (etcd went away, `signal` aborted); rejects with CompactedError when the
   * revision is gone, with EtcdError on any other failure. `onCreated` runs once etcd
   * confirmed the watch; `onEvents` once per batch, in revision order.
   */
  async watch(opts: { prefix: string; startRevision: number; signal: AbortSignal; prevKv?: boolean; onCreated?(): void; onEvents(events: WatchEvent[], revision: number): void }): Promise<void> {
    const body = { create_request: { key: enc(opts.prefix), range_end: prefixEnd(opts.prefix), start_revision: String(opts.startRevision), prev_kv: opts.prevKv ?? true } };
    const endpoint = this.endpoint;
    // The watch itself has no deadline, but setting it up has: an endpoint that takes the
    // connection and never answers (a blackholed route) must not hold the agent for minutes.
    const setup = new AbortController();
    const setupTimer = setTimeout(() => setup.abort(), this.config.requestTimeoutMs ?? 10_000);
    const signal = AbortSignal.any([opts.signal, setup.signal]);
    let res: Response;
    try {
      res = await this.send(endpoint, "/v3/watch", body, { signal, stream: true });
    } catch (e) {
      clearTimeout(setupTimer);
      throw new EtcdError(setup.signal.aborted ? "no answer to the watch request within the request timeout" : describeFetchError(e as Error), endpoint);
    }
    if (!res.ok || !res.body) {
      clearTimeout(setupTimer);
      throw await this.answerError(endpoint, res);
    }
    const created = () => {
      clearTimeout(setupTimer);
      opts.onCreated?.();
    };
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    // The pieces of a line not ended yet. Only each new chunk is searched for the newline: one
    // event carrying a big set (a 1M-address GlobalNetworkSet is ~50 MB of base64, twice with
    // its previous value) arrives in thousands of chunks, and searching the growing line
    // again on each was quadratic (1.5 s at 13 MB).
    let pieces: string[] = [];
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        let text = decoder.decode(value, { stream: true });
        let nl: number;
        while ((nl = text.indexOf("\n")) >= 0) {
          pieces.push(text.slice(0, nl));
          const line = pieces.join("").trim();
          pieces = [];
          text = text.slice(nl + 1);
          if (line) this.watchMessage(endpoint, line, { onCreated: created, onEvents: opts.onEvents });
        }
        if (text) pieces.push(text);
      }
    } catch (e) {
      if (setup.signal.aborted && !opts.signal.aborted) throw new EtcdError("the watch was not confirmed within the request timeout", endpoint);
      throw e;
    } finally {
      clearTimeout(setupTimer);
      reader.releaseLock();
      await res.body.cancel().catch(() => undefined);
    }
  }

  private watchMessage(endpoint: string, line: string, opts: { onCreated?(): void; onEvents(events: WatchEvent[], revision: number): void }): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new EtcdError(`unreadable watch message: ${line.slice(0, 200)}`, endpoint);
    }
    if (msg.error) {
      const e = msg.error as Record<string, unknown>;
      throw new EtcdError(String(e.message ?? "watch failed"), endpoint, num(e.grpc_code ?? e.code));
    }
    const r = (msg.result ?? {}) as Record<string, unknown>;
    if (num(r.compact_revision) > 0) throw new CompactedError(num(r.compact_revision));
    if (r.canceled) throw new EtcdError(`watch canceled: ${String(r.cancel_reason ?? "no reason given")}`, endpoint);
    if (r.created) opts.onCreated?.();
    const events = (r.events as Record<string, unknown>[] | undefined) ?? [];
    if (events.length === 0) return;
    opts.onEvents(
      events.map((e) => ({ type: e.type === "DELETE" ? "delete" : "put", kv: decodeKv(e.kv as Record<string, unknown>), ...(e.prev_kv ? { prev: decodeKv(e.prev_kv as Record<string, unknown>) } : {}) })),
      num((r.header as Record<string, unknown>)?.revision),
    );
  }

  /** A unary request, moving on to the next endpoint when one cannot be reached. */
  private async call(path: string, body: unknown): Promise<Record<string, unknown>> {
    const n = this.config.endpoints.length;
    let last: Error | undefined;
    for (let i = 0; i < n; i++) {
      const endpoint = this.config.endpoints[(this.current + i) % n]!;
      try {
        const res = await this.send(endpoint, path, body, {});
        if (!res.ok) throw await this.answerError(endpoint, res);
        this.current = (this.current + i) % n;
        return (await res.json()) as Record<string, unknown>;
      } catch (e) {
        last = e instanceof EtcdError ? e : new EtcdError(describeFetchError(e as Error), endpoint);
        // An answer other than "unavailable" is etcd's verdict: another member would say the same.
        if (e instanceof EtcdError && e.code !== UNAVAILABLE && e.code !== undefined) throw e;
      }
    }
    throw last!;
  }

  private async send(endpoint: string, path: string, body: unknown, opts: { signal?: AbortSignal; stream?: boolean }, retried = false): Promise<Response> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    const token = await this.token(endpoint);
    if (token) headers.authorization = token;
    const timeout = AbortSignal.timeout(this.config.requestTimeoutMs ?? 10_000);
    // A watch lives as long as its caller wants: only the connection attempt is bounded, by the caller.
    const signal = opts.stream ? opts.signal : opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    // No pooled connections for unary requests: a connection opened before the agent's first
    // apply is unknown to conntrack (no ct rule existed yet), and its replies would meet the
    // HostEndpoint's default deny as mid-stream "new" packets; a fresh connection per request
    // (~0.1 ms on a LAN) is always tracked from its SYN, and never a stale one after a restart.
    const res = await fetch(`${endpoint}${path}`, { method: "POST", headers, body: JSON.stringify(body), signal, tls: this.config.tls, keepalive: false, ...(opts.stream ? { timeout: false } : {}) } as RequestInit);
    if (res.status === 401 && token && !retried) {
      // The token expired (etcd's simple tokens live 5 minutes): authenticate again once.
      await res.body?.cancel().catch(() => undefined);
      this.tokens.delete(endpoint);
      return this.send(endpoint, path, body, opts, true);
    }
    return res;
  }

  private async token(endpoint: string): Promise<string | undefined> {
    if (this.config.username === undefined) return undefined;
    const cached = this.tokens.get(endpoint);
    if (cached) return cached;
    let res: Response;
    try {
      res = await fetch(`${endpoint}/v3/auth/authenticate`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: this.config.username, password: this.config.password ?? "" }), signal: AbortSignal.timeout(this.config.requestTimeoutMs ?? 10_000), tls: this.config.tls, keepalive: false } as RequestInit);
    } catch (e) {
      throw new EtcdError(describeFetchError(e as Error), endpoint);
    }
    if (!res.ok) {
      const err = await this.answerError(endpoint, res);
      throw new EtcdError(`authentication as ${this.config.username} failed: ${err.message.replace(`etcd ${endpoint}: `, "")}`, endpoint, err.code);
    }
    const t = String(((await res.json()) as Record<string, unknown>).token ?? "");
    this.tokens.set(endpoint, t);
    return t;
  }

  private async answerError(endpoint: string, res: Response): Promise<EtcdError> {
    const text = await res.text().catch(() => "");
    let message = `HTTP ${res.status}`;
    let code: number | undefined;
    try {
      const j = JSON.parse(text) as Record<string, unknown>;
      message = String(j.message ?? j.error ?? message);
      code = j.code === undefined ? undefined : num(j.code);
    } catch {
      if (text) message += `: ${text.slice(0, 200)}`;
    }
    if (res.status === 401 || code === UNAUTHENTICATED) code ??= UNAUTHENTICATED;
    return new EtcdError(message, endpoint, code ?? (res.status === 503 ? UNAVAILABLE : res.status));
  }
}

/** fetch's errors say little on their own ("Unable to connect"): keep the code when there is one. */
function describeFetchError(e: Error): string {
  const code = (e as { code?: string }).code;
  if (e.name === "TimeoutError") return "no answer within the request timeout";
  return code && !e.message.includes(code) ? `${e.message} (${code})` : e.message;
}
