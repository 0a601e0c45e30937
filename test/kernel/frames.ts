/**
 * Hand-crafted Ethernet frames for kernel tests: UDP over IPv4 or IPv6, untagged, 802.1Q
 * tagged or 802.1ad+802.1Q (QinQ) tagged, sent from inside a lab namespace through an
 * AF_PACKET socket, and a UDP listener that reports every datagram it receives.
 *
 * Why raw frames: this kernel has no 8021q module, so no VLAN device can send tagged
 * traffic; AF_PACKET SOCK_RAW puts our bytes on the wire as they are. The socket is opened
 * through bun:ffi on libc (no python, no extra packages). Checksums are computed here: the
 * receiving kernel verifies the IPv4 header and UDP checksums, so a datagram that reaches
 * the listener also proves the frame was well formed.
 *
 * Run inside a namespace by the helpers at the bottom (the test process stays in the root
 * namespace):
 *
 *   bun frames.ts send <ifname> <hex frame>...   one sendto per frame, then exit
 *   bun frames.ts listen <port>                  UDP on `::` (IPv4 and IPv6); prints
 *                                                {"ready":true}, then one JSON line
 *                                                {from, data} per datagram; exits when
 *                                                stdin closes
 */

import { runOk, type Ns, type Proc } from "./netns";
import { readLines } from "./probe";

/** TPID of a customer (802.1Q) tag. */
export const TPID_8021Q = 0x8100;
/** TPID of a service (802.1ad, outer QinQ) tag. */
export const TPID_8021AD = 0x88a8;

/** One VLAN tag; in {@link UdpFrameSpec.tags} the outermost comes first. */
export interface VlanTag {
  /** Tag protocol identifier, the ethertype that announces this tag. */
  tpid: typeof TPID_8021Q | typeof TPID_8021AD;
  /** VLAN id, 0 (priority tag) to 4094. */
  vid: number;
  /** Priority code point 0–7 (default 0). */
  pcp?: number;
}

/** A UDP datagram in one Ethernet frame. */
export interface UdpFrameSpec {
  /** Destination MAC, "aa:bb:cc:dd:ee:ff". */
  dstMac: string;
  /** Source MAC. */
  srcMac: string;
  /** Source IP; IPv4 or IPv6, the same family as `dst`. */
  src: string;
  /** Destination IP. */
  dst: string;
  srcPort: number;
  dstPort: number;
  /** The datagram's payload (a string is sent as UTF-8). */
  payload: string | Uint8Array;
  /** VLAN tags, outermost first; none for an untagged frame. */
  tags?: VlanTag[];
}

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const IPPROTO_UDP = 17;

/** The 16-bit ones'-complement sum of RFC 1071 over the concatenated parts, complemented. */
export function internetChecksum(...parts: Uint8Array[]): number {
  let sum = 0;
  let odd: number | undefined; // a byte left over from the previous part
  for (const part of parts) {
    for (const byte of part) {
      if (odd === undefined) odd = byte;
      else {
        sum += (odd << 8) | byte;
        odd = undefined;
      }
    }
  }
  if (odd !== undefined) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function macBytes(mac: string): Uint8Array {
  const parts = mac.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-f]{2}$/i.test(p))) throw new Error(`bad MAC ${mac}`);
  return Uint8Array.from(parts.map((p) => Number.parseInt(p, 16)));
}

/** An IPv4 or IPv6 address in network byte order (IPv6 without an embedded IPv4 tail). */
export function ipBytes(addr: string): Uint8Array {
  if (!addr.includes(":")) {
    const parts = addr.split(".").map(Number);
    if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) throw new Error(`bad IPv4 address ${addr}`);
    return Uint8Array.from(parts);
  }
  const halves = addr.split("::");
  const groups = (s: string | undefined) => (s ? s.split(":") : []);
  const [left, right] = [groups(halves[0]), groups(halves[1])];
  const missing = 8 - left.length - right.length;
  if (halves.length > 2 || (halves.length === 1 && missing !== 0) || missing < 0) throw new Error(`bad IPv6 address ${addr}`);
  const all = [...left, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...right];
  if (all.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) throw new Error(`bad IPv6 address ${addr}`);
  const out = new Uint8Array(16);
  all.forEach((g, i) => new DataView(out.buffer).setUint16(i * 2, Number.parseInt(g, 16)));
  return out;
}

/** The bytes of one Ethernet frame carrying a UDP datagram, checksums filled in. */
export function udpFrame(spec: UdpFrameSpec): Uint8Array {
  const src = ipBytes(spec.src);
  const dst = ipBytes(spec.dst);
  if (src.length !== dst.length) throw new Error(`address families differ: ${spec.src} → ${spec.dst}`);
  const v6 = src.length === 16;
  const payload = typeof spec.payload === "string" ? new TextEncoder().encode(spec.payload) : spec.payload;
  const tags = spec.tags ?? [];

  const udpLen = 8 + payload.length;
  const udp = new Uint8Array(udpLen);
  const u = new DataView(udp.buffer);
  u.setUint16(0, spec.srcPort);
  u.setUint16(2, spec.dstPort);
  u.setUint16(4, udpLen);
  udp.set(payload, 8);
  // The checksum covers a pseudo-header of addresses, protocol and length (RFC 768, RFC 8200 §8.1).
  const pseudo = new Uint8Array(v6 ? 40 : 12);
  pseudo.set(src, 0);
  pseudo.set(dst, src.length);
  const p = new DataView(pseudo.buffer);
  if (v6) {
    p.setUint32(32, udpLen);
    p.setUint8(39, IPPROTO_UDP);
  } else {
    p.setUint8(9, IPPROTO_UDP);
    p.setUint16(10, udpLen);
  }
  // A computed 0 is sent as 0xffff: 0 means "no checksum" in IPv4 and is invalid in IPv6.
  u.setUint16(6, internetChecksum(pseudo, udp) || 0xffff);

  let ip: Uint8Array;
  if (v6) {
    ip = new Uint8Array(40);
    const h = new DataView(ip.buffer);
    h.setUint32(0, 6 << 28); // version 6, traffic class 0, flow label 0
    h.setUint16(4, udpLen);
    h.setUint8(6, IPPROTO_UDP);
    h.setUint8(7, 64); // hop limit
    ip.set(src, 8);
    ip.set(dst, 24);
  } else {
    ip = new Uint8Array(20);
    const h = new DataView(ip.buffer);
    h.setUint8(0, 0x45); // version 4, 5 words of header
    h.setUint16(2, 20 + udpLen);
    h.setUint16(4, 0x4857); // identification: any value, nothing is fragmented
    h.setUint16(6, 0x4000); // don't fragment
    h.setUint8(8, 64); // TTL
    h.setUint8(9, IPPROTO_UDP);
    ip.set(src, 12);
    ip.set(dst, 16);
    h.setUint16(10, internetChecksum(ip));
  }

  const frame = new Uint8Array(14 + 4 * tags.length + ip.length + udpLen);
  const f = new DataView(frame.buffer);
  frame.set(macBytes(spec.dstMac), 0);
  frame.set(macBytes(spec.srcMac), 6);
  let at = 12;
  for (const tag of tags) {
    if (!Number.isInteger(tag.vid) || tag.vid < 0 || tag.vid > 4094) throw new Error(`bad VLAN id ${tag.vid}`);
    f.setUint16(at, tag.tpid);
    f.setUint16(at + 2, ((tag.pcp ?? 0) << 13) | tag.vid);
    at += 4;
  }
  f.setUint16(at, v6 ? ETH_P_IPV6 : ETH_P_IP);
  frame.set(ip, at + 2);
  frame.set(udp, at + 2 + ip.length);
  // No padding to the 60-byte minimum: veth delivers short frames as they are.
  return frame;
}

// ---------------------------------------------------------------------------------------
// The sender, run inside a namespace: socket(AF_PACKET, SOCK_RAW, 0), one sendto per frame
// to a struct sockaddr_ll naming the interface, close.

const AF_PACKET = 17;
const SOCK_RAW = 3;

/** Send `frames` out of `ifname` of the current namespace, as they are. Throws on any error. */
export async function sendRaw(ifname: string, frames: Uint8Array[]): Promise<void> {
  const { dlopen, FFIType, ptr, read } = await import("bun:ffi");
  const libc = dlopen("libc.so.6", {
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    if_nametoindex: { args: [FFIType.ptr], returns: FFIType.u32 },
    sendto: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i64 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  });
  const errno = () => read.i32(libc.symbols.__errno_location()!, 0);
  try {
    const name = Buffer.from(`${ifname}\0`);
    const ifindex = libc.symbols.if_nametoindex(ptr(name));
    if (!ifindex) throw new Error(`no interface ${ifname} (errno ${errno()})`);
    // Protocol 0: a send-only socket. It registers no receive hook, so it never queues
    // copies of the namespace's traffic.
    const fd = libc.symbols.socket(AF_PACKET, SOCK_RAW, 0);
    if (fd < 0) throw new Error(`socket(AF_PACKET, SOCK_RAW) failed (errno ${errno()})`);
    try {
      for (const frame of frames) {
        // struct sockaddr_ll: family u16, protocol be16, ifindex i32, hatype u16,
        // pkttype u8, halen u8, addr[8]. The kernel takes the frame's bytes as they are.
        const sll = new DataView(new ArrayBuffer(20));
        sll.setUint16(0, AF_PACKET, true);
        sll.setUint16(2, new DataView(frame.buffer, frame.byteOffset).getUint16(12)); // outer ethertype
        sll.setInt32(4, ifindex, true);
        const addr = new Uint8Array(sll.buffer);
        const sent = Number(libc.symbols.sendto(fd, ptr(frame), frame.length, 0, ptr(addr), addr.length));
        if (sent !== frame.length) throw new Error(`sendto on ${ifname} returned ${sent} (errno ${errno()})`);
      }
    } finally {
      libc.symbols.close(fd);
    }
  } finally {
    libc.close();
  }
}

async function listen(port: number): Promise<void> {
  const sock = await Bun.udpSocket({
    hostname: "::",
    port,
    socket: {
      data(_s, data, _port, addr) {
        const from = addr.startsWith("::ffff:") ? addr.slice(7) : addr;
        process.stdout.write(`${JSON.stringify({ from, data: Buffer.from(data).toString("utf8") })}\n`);
      },
    },
  });
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  const reader = Bun.stdin.stream().getReader();
  while (!(await reader.read()).done) {
    // runs until the parent closes stdin or dies
  }
  sock.close();
  process.exit(0);
}

if (import.meta.main) {
  const [mode, ...rest] = Bun.argv.slice(2);
  if (mode === "send" && rest.length >= 2) {
    const [ifname, ...hex] = rest as [string, ...string[]];
    await sendRaw(ifname, hex.map((h) => Uint8Array.from(Buffer.from(h, "hex"))));
  } else if (mode === "listen" && rest.length === 1) {
    await listen(Number(rest[0]));
  } else {
    console.error("usage: frames.ts send <ifname> <hex frame>... | frames.ts listen <port>");
    process.exit(2);
  }
}

// ---------------------------------------------------------------------------------------
// Test-side helpers (root namespace).

const SELF = import.meta.path;
/** The bun running the tests, as for echo.ts. */
const BUN = process.execPath;

/** Send frames out of `ifname` inside `ns` (one short-lived process); throws on failure. */
export async function sendFrames(ns: Ns, ifname: string, frames: Uint8Array[]): Promise<void> {
  const hex = frames.map((f) => Buffer.from(f).toString("hex"));
  const r = await ns.exec([BUN, SELF, "send", ifname, ...hex], { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`sending frames from ${ns.name} ${ifname} failed (exit ${r.code}): ${r.stderr.trim()}`);
}

/** One datagram the listener received. */
export interface Datagram {
  /** Source address (IPv4 without the ::ffff: prefix). */
  from: string;
  /** Payload as UTF-8. */
  data: string;
}

/** A running UDP listener: what it received so far, and a bounded wait for a payload. */
export interface UdpListener {
  proc: Proc;
  received: Datagram[];
  /** Resolves with the datagram whose payload is `data`; throws after `timeoutMs` (default 3 s). */
  waitFor(data: string, timeoutMs?: number): Promise<Datagram>;
}

/** Start a UDP listener on `::`:`port` in `ns`; stopped by `ns.close()` (lab.destroy). */
export async function startUdpListener(ns: Ns, port: number, readyTimeoutMs = 10_000): Promise<UdpListener> {
  const proc = ns.spawn([BUN, SELF, "listen", String(port)]);
  const received: Datagram[] = [];
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  void readLines(proc.sub.stdout as ReadableStream<Uint8Array>, (line) => {
    const msg = JSON.parse(line);
    if (msg.ready) ready();
    else received.push(msg as Datagram);
  });
  let timer: Timer | undefined;
  let settled = false; // after this, an exit is no longer an error here (and no unhandled rejection)
  try {
    await Promise.race([
      readyP,
      proc.exited.then((code) => {
        if (!settled) throw new Error(`UDP listener in ${ns.name} exited (${code}) before it was ready`);
      }),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`UDP listener in ${ns.name} not ready in time`)), readyTimeoutMs))),
    ]);
  } catch (e) {
    settled = true;
    await proc.stop(500);
    throw e;
  } finally {
    settled = true;
    clearTimeout(timer);
  }
  return {
    proc,
    received,
    async waitFor(data, timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const d = received.find((r) => r.data === data);
        if (d) return d;
        if (Date.now() > deadline) throw new Error(`no datagram ${JSON.stringify(data)} within ${timeoutMs} ms; got ${JSON.stringify(received)}`);
        await Bun.sleep(10);
      }
    },
  };
}

/**
 * What a test that sends raw frames from the attacker to the host needs: both eth0 MAC
 * addresses, the host's reverse-path filter off (frames from other subnets must reach the
 * socket) and a UDP listener on `port` in the host.
 */
export async function frameProbe(lab: { host: Ns; attacker: Ns }, port: number): Promise<{ mac: { host: string; attacker: string }; listener: UdpListener }> {
  const mac = { host: "", attacker: "" };
  for (const role of ["host", "attacker"] as const) mac[role] = JSON.parse(await runOk(["ip", "-n", lab[role].name, "-j", "link", "show", "dev", "eth0"]))[0].address;
  for (const key of ["all", "default", "eth0"]) await runOk(["ip", "netns", "exec", lab.host.name, "sysctl", "-qw", `net.ipv4.conf.${key}.rp_filter=0`]);
  return { mac, listener: await startUdpListener(lab.host, port) };
}
