/**
 * Kernel-side observations for lab tests: load nft scripts into a namespace, read rule
 * counters by comment, and find netfilter log lines in the kernel log.
 *
 * Kernel log and namespaces: the kernel drops netfilter log output from every namespace
 * but the initial one unless `net.netfilter.nf_log_all_netns=1` (a global sysctl that
 * exists only in the root namespace). Lab tests of Log rules call
 * {@link enableNetnsLogging}, and the last one done restores the old value. The kernel log is shared
 * by the whole machine, so tests match on a log prefix that contains their lab tag.
 */

import { closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync } from "node:fs";
import { processStartTime, type Ns } from "./netns";

/** Load an nft script inside `ns` (`nft -f -`); throws with nft's error text. */
export async function loadNft(ns: Ns, script: string): Promise<void> {
  const r = await ns.exec(["nft", "-f", "-"], { stdin: script, timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`nft -f in ${ns.name} failed: ${r.stderr.trim()}`);
}

/** Packet and byte count of a counter. */
export interface Counter {
  packets: number;
  bytes: number;
}

interface NftRule {
  chain: string;
  comment?: string;
  expr?: Array<Record<string, unknown>>;
}

/**
 * Sum the `counter` statements of every rule in `family table` whose comment equals
 * `comment` (optionally only in `chain`). Throws if no such rule or counter exists, so a
 * typo fails the test instead of reading as zero.
 */
export async function nftCounter(
  ns: Ns,
  where: { family: string; table: string; comment: string; chain?: string },
): Promise<Counter> {
  const r = await ns.exec(["nft", "-j", "list", "table", where.family, where.table]);
  if (r.code !== 0) throw new Error(`nft list table ${where.family} ${where.table} in ${ns.name}: ${r.stderr.trim()}`);
  const items = (JSON.parse(r.stdout) as { nftables: Array<{ rule?: NftRule }> }).nftables;
  const total: Counter = { packets: 0, bytes: 0 };
  let found = 0;
  for (const { rule } of items) {
    if (!rule || rule.comment !== where.comment || (where.chain && rule.chain !== where.chain)) continue;
    for (const e of rule.expr ?? []) {
      const c = e.counter as Counter | undefined;
      if (c && typeof c.packets === "number") {
        total.packets += c.packets;
        total.bytes += c.bytes;
        found++;
      }
    }
  }
  if (!found) throw new Error(`no counter on a rule commented ${JSON.stringify(where.comment)} in ${where.family} ${where.table}`);
  return total;
}

/** One kernel log record. */
export interface KmsgRecord {
  /** Sequence number; grows by one per record, machine-wide. */
  seq: number;
  /** Syslog priority (0 emerg … 7 debug); `log level info` is 6. */
  level: number;
  /** The message, with the kernel's \xNN escapes of unprintable bytes left as they are. */
  message: string;
}

/** Read every record still in the kernel log buffer (root only). */
export function readKmsg(): KmsgRecord[] {
  const fd = openSync("/dev/kmsg", constants.O_RDONLY | constants.O_NONBLOCK);
  const buf = Buffer.alloc(16 * 1024);
  const out: KmsgRecord[] = [];
  try {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null); // one record per read
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "EAGAIN") break; // end of buffer
        if (code === "EPIPE") continue; // records overwritten while reading: go on
        throw e;
      }
      const text = buf.toString("utf8", 0, n);
      const semi = text.indexOf(";");
      const [prio, seq] = text.slice(0, semi).split(",");
      // After the first line come dictionary lines (" SUBSYSTEM=..."), which we skip.
      const message = text.slice(semi + 1).split("\n")[0] ?? "";
      out.push({ seq: Number(seq), level: Number(prio) & 7, message });
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/** A cursor at the end of the kernel log: pass it to {@link readKernelLog} as `since`. */
export function kmsgCursor(): number {
  return readKmsg().at(-1)?.seq ?? -1;
}

/**
 * Kernel log records written after `since` whose message contains `match` (a string, or a
 * RegExp). Polls until at least `count` (default 1) are there or `timeoutMs` (default
 * 2000) passed, then returns what it found, possibly fewer.
 */
export async function readKernelLog(opts: {
  since: number;
  match: string | RegExp;
  count?: number;
  timeoutMs?: number;
}): Promise<KmsgRecord[]> {
  const want = opts.count ?? 1;
  const deadline = Date.now() + (opts.timeoutMs ?? 2000);
  const test = typeof opts.match === "string" ? (m: string) => m.includes(opts.match as string) : (m: string) => (opts.match as RegExp).test(m);
  for (;;) {
    const found = readKmsg().filter((r) => r.seq > opts.since && test(r.message));
    if (found.length >= want || Date.now() >= deadline) return found;
    await Bun.sleep(50);
  }
}

const NF_LOG_ALL_NETNS = "/proc/sys/net/netfilter/nf_log_all_netns";
/** Shared by all test processes: who needs the sysctl, and its value before the first. */
const LOGGING_STATE = "/run/hostwall-lab/netns-logging";

/**
 * Let netfilter `log` statements in lab namespaces reach the kernel log by setting the
 * global sysctl `net.netfilter.nf_log_all_netns=1`. Returns a function that gives up this
 * claim; the last claim given up, across all test processes, restores the value found
 * before the first one. Claims are files named after the claiming process, so claims of
 * crashed runs are ignored, and concurrent runs do not switch logging off under each other.
 */
export function enableNetnsLogging(): () => void {
  const users = `${LOGGING_STATE}/users`;
  const orig = `${LOGGING_STATE}/original`;
  const me = `${users}/${process.pid}:${processStartTime(process.pid) ?? "0"}-${crypto.randomUUID()}`;
  mkdirSync(users, { recursive: true, mode: 0o700 });
  writeFileSync(me, "");
  const current = readFileSync(NF_LOG_ALL_NETNS, "utf8").trim();
  if (current !== "1") {
    if (!existsSync(orig)) writeFileSync(orig, current);
    writeFileSync(NF_LOG_ALL_NETNS, "1\n");
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    rmSync(me, { force: true });
    const live = readdirSync(users).filter((f) => {
      const [pid, start] = f.split("-")[0]!.split(":");
      const alive = processStartTime(Number(pid)) === start;
      if (!alive) rmSync(`${users}/${f}`, { force: true });
      return alive;
    });
    if (live.length || !existsSync(orig)) return;
    writeFileSync(NF_LOG_ALL_NETNS, `${readFileSync(orig, "utf8").trim()}\n`);
    rmSync(orig, { force: true });
  };
}
