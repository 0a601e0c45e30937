/**
 * A tight UDP sender for the per-packet drop cost (reference/nftables.md M3 used a C program;
 * this is the same loop through bun:ffi, so the bench needs no compiler): sendmmsg(2) of 64
 * datagrams of 18 bytes, on an unconnected socket (an ICMP error never stops it), until the
 * time is up. veth delivers to its peer in the sender's softirq, so the rate is bounded by the
 * whole path, the receiver's ingress hook included: differences between rulesets are the hook.
 * The rate depends on how much CPU the sender gets (a shared machine); the CPU time it used per
 * packet does not, as long as the receive path runs in its context (veth) and is charged to it
 * (tick accounting without CONFIG_IRQ_TIME_ACCOUNTING, as here: softirq time counts as the
 * task's system time).
 * Usage (inside the sender's namespace): bun bench/blast.ts <src> <dst> <ms>  → prints "packets cpu-µs"
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import { isIPv6 } from "node:net";

const BATCH = 64;

function sockaddr(ip: string, port: number): Uint8Array {
  if (isIPv6(ip)) {
    const b = new Uint8Array(28);
    const v = new DataView(b.buffer);
    v.setUint16(0, 10, true);
    v.setUint16(2, port, false);
    b.set(ipv6Bytes(ip), 8);
    return b;
  }
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint16(0, 2, true);
  v.setUint16(2, port, false);
  b.set(ip.split(".").map(Number), 4);
  return b;
}

function ipv6Bytes(ip: string): number[] {
  const [head, tail] = ip.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t].map((g) => parseInt(g, 16));
  return groups.flatMap((g) => [g >> 8, g & 255]);
}

/** Datagrams sent, and the CPU time this process used sending them (user + system, µs). */
export function blast(src: string, dst: string, ms: number): { sent: number; cpuUs: number } {
  const c = dlopen("libc.so.6", {
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    sendmmsg: { args: [FFIType.i32, FFIType.ptr, FFIType.u32, FFIType.i32], returns: FFIType.i32 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
  }).symbols;
  const v6 = isIPv6(dst);
  const fd = c.socket(v6 ? 10 : 2, 2, 0);
  if (fd < 0) throw new Error("socket failed");
  const from = sockaddr(src, 0);
  if (c.bind(fd, from, from.length) !== 0) throw new Error(`bind ${src} failed`);
  const to = sockaddr(dst, 9);
  const payload = new Uint8Array(18).fill(0x61);
  const iov = new BigUint64Array([BigInt(ptr(payload)), 18n]);
  // struct mmsghdr: msghdr (56 bytes) + msg_len (4) + padding = 64 bytes.
  const vec = new BigUint64Array(BATCH * 8);
  for (let i = 0; i < BATCH; i++) {
    vec[i * 8] = BigInt(ptr(to));
    vec[i * 8 + 1] = BigInt(to.length);
    vec[i * 8 + 2] = BigInt(ptr(iov));
    vec[i * 8 + 3] = 1n;
  }
  const vp = ptr(vec);
  let sent = 0;
  const cpu0 = process.cpuUsage();
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const n = c.sendmmsg(fd, vp, BATCH, 0);
    if (n > 0) sent += n;
  }
  const cpu = process.cpuUsage(cpu0);
  c.close(fd);
  // Keep the buffers reachable until the last call.
  void [payload, iov, to, from];
  return { sent, cpuUs: cpu.user + cpu.system };
}

if (import.meta.main) {
  const [src, dst, ms] = process.argv.slice(2);
  const r = blast(src!, dst!, Number(ms));
  console.log(`${r.sent} ${r.cpuUs}`);
}
