/**
 * [I/O] Interfaces that come and go, and their addresses, from the kernel's notifications.
 *
 * `ip -o monitor link address` is spawned once and prints one line per RTM_NEWLINK/
 * RTM_DELLINK (appear, disappear, rename, up/down, any attribute change) and per
 * RTM_NEWADDR/RTM_DELADDR (HostEndpoints bound by expectedIPs follow addresses). It costs
 * nothing while links are quiet, unlike polling. If it exits, it is restarted with
 * exponential backoff (0.5 s doubling to 30 s; reset once it has run for a minute), and
 * every (re)start is reported so the caller can resync, because events may have been missed
 * meanwhile. Lines are hints; the caller decides from the interface list itself. LinkTable
 * turns the hints into the changes worth logging (appeared, removed, renamed, up, down) by
 * remembering ifindex → name.
 */
import { IP_PATH, TOOL_ENV } from "./system.ts";

/** How long a monitor killed by SIGTERM/SIGINT waits for the agent's own stop before it restarts. */
const SIGNAL_GRACE_MS = 250;

/** One link notification, as `ip -o monitor link` / `ip -o link show` print it. */
export interface LinkEvent {
  /** An RTM_DELLINK (`Deleted …`). */
  deleted: boolean;
  /** Interface index: stable across renames. */
  index: number;
  /** Interface name, without the `@peer` suffix. */
  name: string;
  /** Administratively up (the UP flag). */
  up: boolean;
}

const LINE = /^(Deleted )?(\d+): ([^\s:@]+)(?:@[^\s:]*)?: <([^>]*)>/;

/** Parses one line; undefined for lines that are not link messages. */
export function parseLinkLine(line: string): LinkEvent | undefined {
  const m = LINE.exec(line);
  if (!m) return undefined;
  return { deleted: Boolean(m[1]), index: Number(m[2]), name: m[3]!, up: m[4]!.split(",").includes("UP") };
}

/** One address notification: `3: eth0    inet 192.0.2.10/24 …` or `Deleted 3: eth0    inet6 …`. */
export interface AddressEvent {
  deleted: boolean;
  /** Interface index and name. */
  index: number;
  name: string;
  /** The address with its prefix length, as printed. */
  address: string;
}

const ADDRESS_LINE = /^(Deleted )?(\d+): (\S+)\s+inet6? (\S+)/;

/** Parses one address line; undefined for anything else. */
export function parseAddressLine(line: string): AddressEvent | undefined {
  const m = ADDRESS_LINE.exec(line);
  return m ? { deleted: Boolean(m[1]), index: Number(m[2]), name: m[3]!, address: m[4]! } : undefined;
}

/** A change worth a log line. */
export type LinkChange =
  | { kind: "appeared" | "removed" | "up" | "down"; name: string; index: number }
  | { kind: "renamed"; name: string; from: string; index: number };

/** ifindex → name and state, fed with events; reports what changed. */
export class LinkTable {
  private readonly links = new Map<number, { name: string; up: boolean }>();

  /** Replaces the table with a full listing (at start and after a monitor restart). */
  seed(events: readonly LinkEvent[]): LinkChange[] {
    const before = new Map(this.links);
    const changes: LinkChange[] = [];
    this.links.clear();
    for (const e of events) if (!e.deleted) this.links.set(e.index, { name: e.name, up: e.up });
    if (before.size === 0) return [];
    for (const [index, old] of before) if (!this.links.has(index)) changes.push({ kind: "removed", name: old.name, index });
    for (const [index, now] of this.links) {
      const old = before.get(index);
      if (!old) changes.push({ kind: "appeared", name: now.name, index });
      else if (old.name !== now.name) changes.push({ kind: "renamed", name: now.name, from: old.name, index });
    }
    return changes;
  }

  update(e: LinkEvent): LinkChange | undefined {
    const old = this.links.get(e.index);
    if (e.deleted) {
      this.links.delete(e.index);
      return { kind: "removed", name: old?.name ?? e.name, index: e.index };
    }
    this.links.set(e.index, { name: e.name, up: e.up });
    if (!old) return { kind: "appeared", name: e.name, index: e.index };
    if (old.name !== e.name) return { kind: "renamed", name: e.name, from: old.name, index: e.index };
    if (old.up !== e.up) return { kind: e.up ? "up" : "down", name: e.name, index: e.index };
    return undefined;
  }
}

/** A running line source: the monitor process, or a fake in tests. */
export interface LineProcess {
  /** Its lines, until it exits. */
  lines: AsyncIterable<string>;
  /** Resolves with the exit code. */
  exited: Promise<number>;
  /** Stops it. */
  kill(): void;
}

export interface LinkMonitorOptions {
  /** Starts the monitor (default: `ip -o monitor link address`). Throws if it cannot start. */
  start?: () => LineProcess;
  /** Lists the links now (default: `ip -o link show`). */
  list?: () => Promise<LinkEvent[]>;
  /** Called with a fresh listing after every (re)start, before the first event. */
  onStart(links: LinkEvent[]): void;
  /** Called for every link notification. */
  onEvent(e: LinkEvent): void;
  /** Called for every address notification. */
  onAddress?(e: AddressEvent): void;
  /** Called when the monitor exits or cannot start, with the delay before the next try. */
  onExit(message: string, retryMs: number): void;
  /** First retry delay (default 500 ms); doubles up to maxBackoffMs (default 30 s). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Monotonic clock (default performance.now). */
  clock?: () => number;
}

export interface LinkMonitor {
  /** running, restarting, or stopped. */
  readonly state: "running" | "restarting" | "stopped";
  /** Link notifications seen. */
  readonly events: number;
  /** Address notifications seen. */
  readonly addressEvents: number;
  /** Restarts after an exit or a failed start. */
  readonly restarts: number;
  stop(): void;
}

/** Spawns the monitor and keeps it running until stop(). */
export function monitorLinks(opts: LinkMonitorOptions): LinkMonitor {
  const start = opts.start ?? spawnIpMonitor;
  const list = opts.list ?? listLinks;
  const clock = opts.clock ?? (() => performance.now());
  const first = opts.backoffMs ?? 500;
  const max = opts.maxBackoffMs ?? 30_000;
  let backoff = first;
  let stopped = false;
  let proc: LineProcess | undefined;
  let timer: Timer | undefined;
  const self = { state: "restarting" as LinkMonitor["state"], events: 0, addressEvents: 0, restarts: 0, stop };

  function stop(): void {
    stopped = true;
    self.state = "stopped";
    if (timer) clearTimeout(timer);
    proc?.kill();
  }

  function retry(message: string): void {
    if (stopped) return;
    self.state = "restarting";
    self.restarts++;
    opts.onExit(message, backoff);
    timer = setTimeout(run, backoff);
    backoff = Math.min(backoff * 2, max);
  }

  async function run(): Promise<void> {
    if (stopped) return;
    try {
      proc = start();
    } catch (e) {
      retry(`cannot start the link monitor: ${(e as Error).message}`);
      return;
    }
    const started = clock();
    self.state = "running";
    // Listed right after the monitor started; a change in the instant before it subscribed is
    // caught by the caller's periodic resync.
    opts.onStart(await list().catch(() => []));
    const reading = (async () => {
      for await (const line of proc.lines) {
        const e = parseLinkLine(line);
        if (e) {
          self.events++;
          opts.onEvent(e);
          continue;
        }
        const a = parseAddressLine(line);
        if (a) {
          self.addressEvents++;
          opts.onAddress?.(a);
        }
      }
    })().catch(() => undefined);
    const code = await proc.exited;
    await reading;
    // Killed by SIGTERM/SIGINT: most likely the same signal that is stopping the agent (a
    // terminal's Ctrl-C, a whole process group), which may reach us a moment after the
    // child's exit. Give stop() that moment, so a shutdown logs no restart.
    if (!stopped && (code === 143 || code === 130)) await Bun.sleep(SIGNAL_GRACE_MS);
    if (stopped) return;
    if (clock() - started > 60_000) backoff = first;
    retry(`the link monitor exited (code ${code})`);
  }

  void run();
  return self;
}

/** `ip -o monitor link address` as a LineProcess. */
export function spawnIpMonitor(ip = IP_PATH): LineProcess {
  const proc = Bun.spawn([ip, "-o", "monitor", "link", "address"], { env: { ...TOOL_ENV }, stdin: "ignore", stdout: "pipe", stderr: "ignore" });
  return {
    lines: readLines(proc.stdout),
    exited: proc.exited,
    kill: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
    },
  };
}

/** `ip -o link show`, parsed; empty if it fails. */
export async function listLinks(ip = IP_PATH): Promise<LinkEvent[]> {
  const proc = Bun.spawn([ip, "-o", "link", "show"], { env: { ...TOOL_ENV }, stdin: "ignore", stdout: "pipe", stderr: "ignore", timeout: 5000 });
  const text = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) return [];
  return text.split("\n").flatMap((l) => parseLinkLine(l) ?? []);
}

/** The lines of a byte stream (a child process's stdout), as they arrive. */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncIterable<string> {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, nl);
      buf = buf.slice(nl + 1);
    }
  }
  if (buf) yield buf;
}
