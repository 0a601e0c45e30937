/**
 * The lab of bench/engine.bench.ts: namespaces, the agent process, its memory, and the
 * datagrams that prove when an edit was enforced.
 *
 *   <tag>-a  the agent; eth0 198.51.100.1/24 (the example rules' HostEndpoint)
 *   <tag>-s  the sender; eth0 198.51.100.50/24, the veth peer of the agent's eth0
 *   <tag>-b  the baselines: bare `nft -f` (eth0 is a veth with its peer inside)
 *
 * Nothing here touches the root namespace; `destroy` deletes the three namespaces.
 */
import { $ } from "bun";
import { dlopen, FFIType, ptr } from "bun:ffi";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const SENDER = "198.51.100.50";
export const AGENT_ADDR = "198.51.100.1";
/** UDP 5353 is allowed by rules/40-allow-host-services.yaml: only the deny list stops the sender. */
export const PORT = 5353;
const UDP = join(import.meta.dir, "engine-udp.ts");
/**
 * CLOCK_MONOTONIC in ms, one clock for every process on the machine (namespaces do not
 * change it): the sender's send times and the bench's rename times are compared.
 * process.hrtime counts from each process's start in Bun, so it cannot be used.
 */
const libc = dlopen("libc.so.6", { clock_gettime: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 } });
const ts = new BigInt64Array(2);
const tsPtr = ptr(ts);
export function nowMs(): number {
  libc.symbols.clock_gettime(1, tsPtr);
  return Number(ts[0]!) * 1000 + Number(ts[1]!) / 1e6;
}

export interface Lab {
  agentNs: string;
  bareNs: string;
  senderNs: string;
  destroy(): Promise<void>;
}

export async function makeLab(tag: string): Promise<Lab> {
  const [a, s, b] = [`${tag}-a`, `${tag}-s`, `${tag}-b`];
  const lab: Lab = {
    agentNs: a,
    senderNs: s,
    bareNs: b,
    destroy: async () => {
      for (const n of [a, s, b]) await $`ip netns del ${n}`.quiet().nothrow();
    },
  };
  try {
    for (const n of [a, s, b]) {
      await $`ip netns add ${n}`.quiet();
      await $`ip -n ${n} link set lo up`.quiet();
    }
    await $`ip -n ${a} link add eth0 type veth peer name hwpeer netns ${s}`.quiet();
    await $`ip -n ${s} link set hwpeer name eth0`.quiet();
    await $`ip -n ${a} addr add ${AGENT_ADDR}/24 dev eth0`.quiet();
    await $`ip -n ${s} addr add ${SENDER}/24 dev eth0`.quiet();
    for (const n of [a, s]) await $`ip -n ${n} link set eth0 up`.quiet();
    await $`ip -n ${b} link add eth0 type veth peer name eth1`.quiet();
    for (const d of ["eth0", "eth1"]) await $`ip -n ${b} link set ${d} up`.quiet();
  } catch (e) {
    await lab.destroy();
    throw e;
  }
  return lab;
}

/** Resident kB of a process, and its high-water mark; undefined once it is gone. */
export function memory(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (k: string) => Number(s.match(new RegExp(`^${k}:\\s+(\\d+)`, "m"))?.[1] ?? 0);
    return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
  } catch {
    return undefined;
  }
}

/** The pid and every descendant (one /proc scan). */
export function tree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      /* gone */
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [p, pp] of parent) if (pp === out[i]) out.push(p);
  return out;
}

/** Lines of a child's stdout, handed to `each` as they arrive. */
export function lines(stream: ReadableStream<Uint8Array>, each: (line: string) => void): void {
  void (async () => {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of stream) {
      buf += dec.decode(chunk, { stream: true });
      const parts = buf.split("\n");
      buf = parts.pop()!;
      for (const p of parts) each(p);
    }
  })();
}

/**
 * A datagram every `intervalMs` from the sender to a socket in the agent's namespace. An edit
 * that denies the sender is enforced from the first datagram after which none arrive; one
 * that allows it again, from the first after which all arrive.
 */
export class Traffic {
  private sent: number[] = [];
  private got = new Set<number>();
  private procs: ReturnType<typeof Bun.spawn>[] = [];

  static async start(lab: Lab, intervalMs = 2): Promise<Traffic> {
    const t = new Traffic();
    let recvReady = false;
    const recv = Bun.spawn(["ip", "netns", "exec", lab.agentNs, process.execPath, UDP, "recv", AGENT_ADDR, String(PORT)], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    t.procs.push(recv);
    lines(recv.stdout, (l) => (l === "ready" ? (recvReady = true) : t.got.add(Number(l))));
    for (let i = 0; i < 250 && !recvReady; i++) await Bun.sleep(20);
    if (!recvReady) throw new Error("the receiver did not start within 5 s");
    const send = Bun.spawn(["ip", "netns", "exec", lab.senderNs, process.execPath, UDP, "send", SENDER, AGENT_ADDR, String(PORT), String(intervalMs)], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    t.procs.push(send);
    lines(send.stdout, (l) => {
      const [seq, at] = l.split(" ");
      if (seq !== "ready") t.sent[Number(seq)] = Number(at);
    });
    return t;
  }

  /** Datagrams sent in [from, to] and how many of them arrived. */
  window(from: number, to: number): { sent: number; arrived: number } {
    let sent = 0;
    let arrived = 0;
    for (let i = 0; i < this.sent.length; i++) {
      const at = this.sent[i];
      if (at === undefined || at < from || at > to) continue;
      sent++;
      if (this.got.has(i)) arrived++;
    }
    return { sent, arrived };
  }

  /** Waits until the last 100 ms of datagrams (delivered for 50 ms more) all arrived (`arriving`) or none did. */
  async settle(arriving: boolean, timeoutMs: number): Promise<boolean> {
    const deadline = nowMs() + timeoutMs;
    while (nowMs() < deadline) {
      await Bun.sleep(50);
      const w = this.window(nowMs() - 150, nowMs() - 50);
      if (w.sent >= 10 && w.arrived === (arriving ? w.sent : 0)) return true;
    }
    return false;
  }

  /**
   * Ms from `t0` (an edit) to the send time of the first datagram after which none (`arriving`
   * false) or all (true) of those sent up to `end` arrived; undefined when the end state does
   * not hold for the last 100 ms before `end` (not enforced).
   */
  enforcedAfter(t0: number, end: number, arriving: boolean): number | undefined {
    const w = this.window(end - 100, end);
    if (w.sent < 10 || w.arrived !== (arriving ? w.sent : 0)) return undefined;
    let last = -1; // the last datagram in the wrong state, sent at or before `end`
    for (let i = 0; i < this.sent.length; i++) {
      const at = this.sent[i];
      if (at === undefined || at > end) continue;
      if (this.got.has(i) !== arriving) last = i;
    }
    const first = this.sent[last + 1];
    return first === undefined ? undefined : Math.max(0, first - t0);
  }

  stop(): void {
    for (const p of this.procs) p.kill();
  }
}

/** GET a path of the agent's API on its unix socket: the JSON, or undefined while unreachable. */
export async function api(sock: string, path: string): Promise<any> {
  try {
    const r = await fetch(`http://localhost${path}`, { unix: sock, signal: AbortSignal.timeout(5000) });
    return path === "/readyz" ? r.status === 200 : await r.json();
  } catch {
    return undefined;
  }
}
