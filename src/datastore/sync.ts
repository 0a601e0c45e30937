/**
 * [I/O] The agent's view of the datastore, kept the way Felix keeps it: list every Calico
 * resource key, then watch from the list's revision + 1 (without previous values: the copy
 * has them), and keep a copy of every key in memory. The agent reads that copy (readConfig), so an attempt sees one
 * consistent state and the rest of the pipeline (parse, validate, resolve, compile, apply) is
 * the one files go through: each key is a "file" whose path is the key and whose text is the
 * value in API form, one line of JSON, which the YAML parser reads with key:line:column
 * positions.
 *
 *   list ──▶ copy, revision R ──▶ watch from R+1 ──events──▶ copy ──debounce──▶ onChange()
 *     ▲                              │ stream ended / error: retry the watch from the last
 *     │                              │ revision seen (backoff); 5 failures in a row, or a
 *     └────── relist ◀───────────────┘ compacted revision: relist and reconcile
 *
 * Fail static: while etcd cannot be reached the copy stays as it was, so every attempt builds
 * the same ruleset and the one in force stays; /status says connected: false since when and
 * why. Before the first successful list there is no copy: readConfig answers
 * DATASTORE_UNREACHABLE, which the agent treats as a rejected config (the kernel's tables or
 * the saved last good ruleset stay in force, boot.ts). Reconnects back off exponentially
 * (capped at 1 s, with jitter) and go round every endpoint. A periodic read (30 s, Calico's
 * keepalive) notices a connection that died silently and restarts the watch.
 */
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import type { SourceFile } from "../source/source-file.ts";
import { CompactedError, type EtcdClient, type KeyValue, type WatchEvent } from "./client.ts";
import { keyAsFile } from "./files.ts";
import { parseKey, RESOURCE_PREFIX } from "./keys.ts";

/** The datastore as GET /status shows it. */
export interface DatastoreStatus {
  type: "etcdv3";
  endpoints: string[];
  /** A watch is established (or the last list succeeded and one is being set up). */
  connected: boolean;
  /** The store revision the copy is at (0: never listed). */
  revision: number;
  /** The last failure, or null. */
  lastError: string | null;
  /** When `connected` last changed. */
  since: string;
  /** Full lists (the first one, then relists after compaction or repeated errors). */
  lists: number;
  /** Watch events received. */
  events: number;
  /** Watches that failed or ended and were set up again. */
  reconnects: number;
}

export interface SyncOptions {
  client: EtcdClient;
  /** The copy changed (after a quiet `debounceMs`): reload. */
  onChange(reason: string): void;
  log(level: "debug" | "info" | "notice" | "warning" | "error", message: string): void;
  now(): Date;
  /** Quiet time after events before onChange (default 20 ms; a txn arrives as one batch anyway). */
  debounceMs?: number;
  /**
   * First retry delay and its cap (default 200 ms, 1 s). The cap bounds how late an agent
   * notices etcd's return (#15: every agent resynced within 2 s); a retry against a dead etcd
   * is one refused connect, cheap for both sides even for a large fleet.
   */
  backoffMs?: { initial: number; max: number };
  /** Period of the liveness read (default 30 s; 0: none). */
  healthMs?: number;
  /** Watch failures in a row before a relist (default 5, Felix's). */
  relistAfter?: number;
  /** Random source for the jitter (tests). */
  random?(): number;
}

interface CopyEntry {
  modRevision: number;
  /**
   * SHA-256 of the value: a relist reuses the file only for the same revision and value (an
   * etcd restored from another backup may hold another value at the same revision).
   */
  digest: string;
  /** undefined: a key of a kind the agent does not read. */
  file?: SourceFile;
}

const digestOf = (value: string) => new Bun.CryptoHasher("sha256").update(value).digest("hex");
const entryOf = (kv: KeyValue, digest = digestOf(kv.value)): CopyEntry => ({ modRevision: kv.modRevision, digest, file: keyAsFile(kv) });

export class DatastoreSync {
  /**
   * Every key at its mod revision, with its file (keyAsFile) made when it arrived: an attempt
   * does not turn an unchanged value into a file again (0.7 s for a 1M-address set), and the
   * copy holds one string per key, the file's, not the value beside it.
   */
  private copy = new Map<string, CopyEntry>();
  private listed = false;
  /** readConfig answered DATASTORE_UNREACHABLE: the first list must reload. */
  private readEarly = false;
  private stopped = false;
  private abort?: AbortController;
  private wake?: () => void;
  private debounce?: Timer;
  private pendingReasons = new Set<string>();
  private loop?: Promise<void>;
  /** renewWatch() ended the watch: set it up again at once. */
  private renewing = false;
  private readonly st: DatastoreStatus;

  constructor(private readonly opts: SyncOptions) {
    this.st = { type: "etcdv3", endpoints: [...opts.client.config.endpoints], connected: false, revision: 0, lastError: null, since: opts.now().toISOString(), lists: 0, events: 0, reconnects: 0 };
  }

  /**
   * Sets the watch up again on a new connection, from the revision the copy is at (nothing is
   * missed, nothing counts as a failure). The agent calls it after its first apply: the
   * connection opened before it is unknown to conntrack, and the ruleset just applied would
   * drop etcd's next packets on it as "new" (a HostEndpoint's default deny).
   */
  renewWatch(): void {
    if (!this.abort || this.abort.signal.aborted) return;
    this.renewing = true;
    this.abort.abort();
  }

  status(): DatastoreStatus {
    return { ...this.st, endpoints: [...this.st.endpoints] };
  }

  /** Starts listing and watching; resolves after the first list succeeded or failed once. */
  start(): Promise<void> {
    let first!: () => void;
    const firstDone = new Promise<void>((r) => (first = r));
    this.loop = this.run(first);
    return firstDone;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.wake?.();
    if (this.debounce) clearTimeout(this.debounce);
    await this.loop;
  }

  /** The copy as config files, sorted by key; DATASTORE_UNREACHABLE before the first list. */
  readConfig(): { files: SourceFile[]; diagnostics: Diagnostic[] } {
    if (!this.listed) {
      this.readEarly = true;
      const why = this.st.lastError ?? "not read yet";
      return { files: [], diagnostics: [{ code: "DATASTORE_UNREACHABLE", severity: "error", message: `etcd (${this.st.endpoints.join(", ")}) has not been read: ${why}`, file: this.st.endpoints[0] }] };
    }
    const files: SourceFile[] = [];
    for (const e of this.copy.values()) if (e.file) files.push(e.file);
    files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return { files, diagnostics: [] };
  }

  private setConnected(connected: boolean, error?: string): void {
    if (error !== undefined) this.st.lastError = error;
    if (this.st.connected === connected) return;
    this.st.connected = connected;
    this.st.since = this.opts.now().toISOString();
    if (connected) this.opts.log("notice", `etcd ${this.opts.client.endpoint}: connected at revision ${this.st.revision}`);
    else this.opts.log("warning", `etcd unreachable (${error ?? "connection lost"}); the ruleset in force stays until it is back`);
  }

  private changed(reason: string): void {
    this.pendingReasons.add(reason);
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      const reasons = [...this.pendingReasons].join(", ");
      this.pendingReasons.clear();
      if (!this.stopped) this.opts.onChange(reasons);
    }, this.opts.debounceMs ?? 20);
  }

  private async run(first: () => void): Promise<void> {
    let failures = 0;
    let needList = true;
    let watchFailures = 0;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.list();
          needList = false;
          failures = 0;
          first();
        }
        await this.watchOnce(() => {
          // Established again: the next failure starts its backoff from the beginning.
          failures = 0;
          watchFailures = 0;
        });
        if (this.stopped) return;
        // Named like the client's errors: /status says which endpoint (a fleet has several).
        throw new Error(`etcd ${this.opts.client.endpoint}: the watch stream ended`);
      } catch (e) {
        if (this.stopped) return first();
        if (this.renewing) {
          this.renewing = false;
          continue;
        }
        if (e instanceof CompactedError) {
          this.opts.log("warning", `etcd watch: ${e.message}; relisting`);
          needList = true;
          continue;
        }
        const message = (e as Error).message;
        this.setConnected(false, message);
        first();
        failures++;
        if (!needList) {
          this.st.reconnects++;
          if (++watchFailures >= (this.opts.relistAfter ?? 5)) {
            needList = true;
            watchFailures = 0;
          }
        }
        this.opts.client.rotate();
        await this.sleep(this.backoff(failures));
      }
    }
  }

  private backoff(failures: number): number {
    const { initial, max } = this.opts.backoffMs ?? { initial: 200, max: 1_000 };
    const capped = Math.min(max, initial * 2 ** Math.min(failures - 1, 20));
    // Full jitter on half the delay: agents of a fleet do not come back in step.
    return capped / 2 + (this.opts.random ?? Math.random)() * (capped / 2);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  /** A full list: the copy becomes exactly what etcd holds (reconcile), onChange if it differs. */
  private async list(): Promise<void> {
    const { kvs, revision } = await this.opts.client.rangePrefix(RESOURCE_PREFIX);
    let differs = !this.listed || kvs.length !== this.copy.size;
    const next = new Map<string, CopyEntry>();
    for (const kv of kvs) {
      const old = this.copy.get(kv.key);
      const digest = digestOf(kv.value);
      // Unchanged: its file is reused (a relist with a big set in etcd).
      if (old && old.modRevision === kv.modRevision && old.digest === digest) next.set(kv.key, old);
      else {
        differs = true;
        next.set(kv.key, entryOf(kv, digest));
      }
    }
    this.copy = next;
    this.st.revision = revision;
    this.st.lists++;
    const firstList = !this.listed;
    this.listed = true;
    this.setConnected(true);
    this.opts.log(firstList ? "info" : "notice", `etcd: listed ${kvs.length} key(s) at revision ${revision}`);
    // The first list reloads only an agent that already read nothing (its start found etcd
    // down); otherwise the caller's first attempt reads it.
    if (differs && (!firstList || this.readEarly)) this.changed(firstList ? "datastore listed" : "datastore relisted");
  }

  private async watchOnce(established: () => void): Promise<void> {
    const abort = (this.abort = new AbortController());
    const healthMs = this.opts.healthMs ?? 30_000;
    const health =
      healthMs > 0
        ? setInterval(() => {
            this.opts.client.get(`${RESOURCE_PREFIX}clusterinformations/default`).catch((e: Error) => {
              this.opts.log("warning", `etcd liveness read failed: ${e.message}; restarting the watch`);
              abort.abort();
            });
          }, healthMs)
        : undefined;
    try {
      await this.opts.client.watch({
        prefix: RESOURCE_PREFIX,
        startRevision: this.st.revision + 1,
        signal: abort.signal,
        // The copy holds every key, so a delete needs no previous value, and a put's would
        // double what etcd marshals and sends to each agent.
        prevKv: false,
        onCreated: () => {
          established();
          this.setConnected(true);
        },
        // Not the header's revision: while a watch catches up it is ahead of the events
        // delivered, and resuming from it would skip some; apply() takes the events' own.
        onEvents: (events) => this.apply(events),
      });
    } catch (e) {
      if (abort.signal.aborted && !this.stopped) throw new Error(`etcd ${this.opts.client.endpoint}: the connection stopped answering`);
      throw e;
    } finally {
      if (health) clearInterval(health);
    }
  }

  private apply(events: WatchEvent[]): void {
    let relevant = 0;
    for (const e of events) {
      if (e.type === "put") this.copy.set(e.kv.key, entryOf(e.kv));
      else this.copy.delete(e.kv.key);
      this.st.revision = Math.max(this.st.revision, e.kv.modRevision);
      if (parseKey(e.kv.key)?.info.enforced) relevant++;
    }
    this.st.events += events.length;
    if (relevant > 0) this.changed("datastore changed");
  }
}
