/**
 * [I/O] Set elements sent to the kernel over netlink, without nft (issue #13: a million-element
 * first load). nft spends ~4 µs of user space per element parsing a script (a 1M-address start:
 * ~4 s, and ~370 MB in the nft process); the kernel itself inserts them in ~1.5-2.5 s from
 * NFT_MSG_NEWSETELEM messages (bench/RESULTS.md: sets.bench "netlink", and the goal table,
 * session 6; an `nft monitor` listening in the namespace makes it ~7x slower: an event per
 * element). The agent uses this for one thing only: filling big hash sets of tables that
 * nothing references yet (apply.ts, the staged first load), so the element messages need no
 * ordering with rules. bench/netlink-setelem.ts builds its deletes and interval elements on the
 * same writer.
 *
 * One call is one batch: NFNL_MSG_BATCH_BEGIN, element messages of under 64 KiB each, BATCH_END,
 * sent with one send(2) (SO_SNDBUFFORCE), one transaction: all or nothing. Every message asks
 * for an ack (NETLINK_CAP_ACK keeps them small); the kernel answers after it has committed or
 * aborted the whole batch, so a refusal changes nothing. The socket is opened in the calling
 * thread's network namespace (the agent runs in the one it serves, lock.ts) and closed again.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import { dottedQuad, parseAddress } from "../model/cidr-parse.ts";
import { AddressList } from "./address-list.ts";
import type { Elements } from "./ir.ts";

/** The elements of one hash set (`ipv4_addr` or `ipv6_addr` keys: plain addresses, as the IR writes them). */
export interface SetElements {
  family: "ip" | "ip6" | "inet" | "netdev";
  table: string;
  set: string;
  type: "ipv4_addr" | "ipv6_addr";
  elements: Elements;
}

/** Netlink and nf_tables protocol numbers (linux/netlink.h, linux/netfilter/nfnetlink.h, nf_tables.h); bench/netlink-setelem.ts uses them too. */
export const AF_NETLINK = 16;
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0o2000000;
export const NETLINK_NETFILTER = 12;
export const SOL_SOCKET = 1;
export const SOL_NETLINK = 270;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const SO_RCVTIMEO = 20;
export const NETLINK_CAP_ACK = 10;
export const NLM_F_REQUEST = 1;
export const NLM_F_ACK = 4;
export const NLM_F_CREATE = 0x400;
export const NLMSG_ERROR = 2;
export const NFNL_MSG_BATCH_BEGIN = 0x10;
export const NFNL_MSG_BATCH_END = 0x11;
export const NFNL_SUBSYS_NFTABLES = 10;
export const NFT_MSG_NEWSETELEM = 12;
export const NFTA_SET_ELEM_LIST_TABLE = 1;
export const NFTA_SET_ELEM_LIST_SET = 2;
export const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
export const NFTA_LIST_ELEM = 1;
export const NFTA_SET_ELEM_KEY = 1;
export const NFTA_DATA_VALUE = 1;
export const NLA_F_NESTED = 0x8000;
/** NFPROTO_* of each table family. */
export const FAMILY = { ip: 2, ip6: 10, inet: 1, netdev: 5 } as const;
/** Each message stays under this (the kernel's and google/nftables' practice: 64 KiB netlink pages). */
export const MAX_MSG = 60 * 1024;
/** How long the kernel may take to answer (a million elements: ~1.5-2.5 s idle): never wait forever. */
const ACK_TIMEOUT_S = 120;
const NAME = /^[A-Za-z_][A-Za-z0-9_./-]{0,254}$/;

/** A growing buffer of netlink messages (host byte order for headers, 4-byte aligned attributes). */
export class NetlinkWriter {
  buf: Uint8Array;
  view: DataView;
  n = 0;

  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }

  private room(extra: number): void {
    if (this.n + extra <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.n + extra));
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
    this.view = new DataView(b.buffer);
  }

  /** nlmsghdr + nfgenmsg; returns where the header starts (end() writes its length). */
  msg(type: number, flags: number, seq: number, family: number, resId: number): number {
    this.room(20);
    const at = this.n;
    this.view.setUint32(at, 0, true);
    this.view.setUint16(at + 4, type, true);
    this.view.setUint16(at + 6, flags, true);
    this.view.setUint32(at + 8, seq, true);
    this.view.setUint32(at + 12, 0, true);
    this.buf[at + 16] = family;
    this.buf[at + 17] = 0; // NFNETLINK_V0
    this.view.setUint16(at + 18, resId, false);
    this.n += 20;
    return at;
  }

  end(at: number): void {
    this.view.setUint32(at, this.n - at, true);
  }

  /** An attribute holding `data`, padded to 4 bytes (the buffer is zeroed: nothing is written past `n` and taken back). */
  attr(type: number, data: Uint8Array): void {
    this.room(4 + data.length + 3);
    this.view.setUint16(this.n, 4 + data.length, true);
    this.view.setUint16(this.n + 2, type, true);
    this.buf.set(data, this.n + 4);
    this.n += (4 + data.length + 3) & ~3;
  }

  /** A NUL-terminated string attribute. */
  str(type: number, s: string): void {
    this.attr(type, Buffer.from(`${s}\0`, "latin1"));
  }

  nest(type: number): number {
    this.room(4);
    const at = this.n;
    this.view.setUint16(at + 2, type | NLA_F_NESTED, true);
    this.n += 4;
    return at;
  }

  endNest(at: number): void {
    this.view.setUint16(at, this.n - at, true);
  }

  /** One element given as text (IPv4 or IPv6 by `v6`), written as `key` writes it. */
  element(text: string, v6: boolean): void {
    if (!v6) {
      const a = dottedQuad(text);
      if (a < 0) throw new Error(`internal error: set element ${JSON.stringify(text.slice(0, 60))} is not an IPv4 address`);
      this.key(a, 0, 0, 0, false);
      return;
    }
    const parsed = parseAddress(text);
    if (!parsed.ok || parsed.cidr.family !== 6) throw new Error(`internal error: set element ${JSON.stringify(text.slice(0, 60))} is not an IPv6 address`);
    const c = parsed.cidr;
    this.key(c.a0, c.a1, c.a2, c.a3, true);
  }

  /** Element `i` of an address list, written from its words (nothing parsed). */
  address(list: AddressList, i: number): void {
    if (list.family === 4) this.key(list.word(i), 0, 0, 0, false);
    else this.key(list.word(i, 0), list.word(i, 1), list.word(i, 2), list.word(i, 3), true);
  }

  /**
   * One element: LIST_ELEM { KEY { DATA_VALUE <address> } }, the address in network byte order:
   * three 4-byte headers and the address, 16 bytes for IPv4, 28 for IPv6.
   */
  private key(a0: number, a1: number, a2: number, a3: number, v6: boolean): void {
    const len = v6 ? 16 : 4;
    this.room(12 + len);
    const v = this.view;
    const at = this.n;
    v.setUint16(at, 12 + len, true);
    v.setUint16(at + 2, NFTA_LIST_ELEM | NLA_F_NESTED, true);
    v.setUint16(at + 4, 8 + len, true);
    v.setUint16(at + 6, NFTA_SET_ELEM_KEY | NLA_F_NESTED, true);
    v.setUint16(at + 8, 4 + len, true);
    v.setUint16(at + 10, NFTA_DATA_VALUE, true);
    v.setUint32(at + 12, a0, false);
    if (v6) {
      v.setUint32(at + 16, a1, false);
      v.setUint32(at + 20, a2, false);
      v.setUint32(at + 24, a3, false);
    }
    this.n += 12 + len;
  }
}

/** The batch for `sets` (one transaction) and how many acks it asks for. Throws on a name or element the IR should never hold. */
export function encodeElements(sets: readonly SetElements[]): { bytes: Uint8Array; acks: number } {
  const total = sets.reduce((n, s) => n + s.elements.length * (s.type === "ipv6_addr" ? 28 : 16), 0);
  const w = new NetlinkWriter(total + total / 8 + 4096);
  let seq = 1;
  w.end(w.msg(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq++, 0, NFNL_SUBSYS_NFTABLES));
  let acks = 0;
  for (const s of sets) {
    if (!NAME.test(s.table) || !NAME.test(s.set)) throw new Error(`internal error: unsafe nft identifier ${JSON.stringify(`${s.table} ${s.set}`)}`);
    const v6 = s.type === "ipv6_addr";
    let i = 0;
    while (i < s.elements.length) {
      const m = w.msg((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, seq++, FAMILY[s.family], 0);
      w.str(NFTA_SET_ELEM_LIST_TABLE, s.table);
      w.str(NFTA_SET_ELEM_LIST_SET, s.set);
      const list = w.nest(NFTA_SET_ELEM_LIST_ELEMENTS);
      const start = w.n;
      const elements = s.elements;
      if (elements instanceof AddressList && elements.family !== (v6 ? 6 : 4)) throw new Error(`internal error: IPv${elements.family} elements for the ${s.type} set ${s.set}`);
      if (elements instanceof AddressList) while (i < elements.length && w.n - start < MAX_MSG - 256) w.address(elements, i++);
      else while (i < elements.length && w.n - start < MAX_MSG - 256) w.element(elements[i++]!, v6);
      w.endNest(list);
      w.end(m);
      acks++;
    }
  }
  w.end(w.msg(NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq++, 0, NFNL_SUBSYS_NFTABLES));
  return { bytes: w.buf.subarray(0, w.n), acks };
}

let libc: ReturnType<typeof openLibc> | undefined;
function openLibc() {
  return dlopen("libc.so.6", {
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    setsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    send: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
    recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
  }).symbols;
}

/** Refusals by errno, as the kernel gives them (the rest by number). */
const ERRNO: Record<number, string> = { 1: "EPERM", 2: "ENOENT", 12: "ENOMEM", 17: "EEXIST", 22: "EINVAL", 28: "ENOSPC", 95: "EOPNOTSUPP", 105: "ENOBUFS" };

/**
 * Adds the elements of `sets` in one transaction. Blocks the calling thread while the kernel
 * works (~1.5-2.5 s per million IPv4 elements here). Never throws for the kernel's or the socket's
 * failures: they come back as `error`, and the transaction then changed nothing.
 */
export function addSetElements(sets: readonly SetElements[]): { ok: true; messages: number; bytes: number } | { ok: false; error: string } {
  let batch: { bytes: Uint8Array; acks: number };
  try {
    batch = encodeElements(sets);
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
  const sent = sendBatch(batch);
  return sent.ok ? { ok: true, messages: batch.acks, bytes: batch.bytes.length } : sent;
}

/**
 * Sends one encoded batch (BATCH_BEGIN … BATCH_END, `acks` messages asking for an ack) on a
 * fresh netfilter socket and waits for every ack; the kernel's first refusal is the answer.
 */
export function sendBatch(batch: { bytes: Uint8Array; acks: number }): { ok: true } | { ok: false; error: string } {
  let c: ReturnType<typeof openLibc>;
  try {
    c = libc ??= openLibc();
  } catch (e) {
    return { ok: false, error: `libc cannot be loaded for netlink: ${(e as Error).message}` };
  }
  const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) return { ok: false, error: "cannot open a netfilter netlink socket" };
  try {
    const int = (v: number) => new Int32Array([v]);
    if (c.setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, ptr(int(Math.min(batch.bytes.length + 65536, 0x7fffffff))), 4) !== 0) return { ok: false, error: "netlink: SO_SNDBUFFORCE refused (CAP_NET_ADMIN needed)" };
    c.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, ptr(int(Math.max(1 << 20, batch.acks * 64))), 4);
    c.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, ptr(int(1)), 4);
    c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, ptr(new BigInt64Array([BigInt(ACK_TIMEOUT_S), 0n])), 16);
    const sent = Number(c.send(fd, ptr(batch.bytes), batch.bytes.length, 0));
    if (sent !== batch.bytes.length) return { ok: false, error: `netlink send: ${sent} of ${batch.bytes.length} bytes` };
    const rb = new Uint8Array(1 << 16);
    const dv = new DataView(rb.buffer);
    let got = 0;
    while (got < batch.acks) {
      const r = Number(c.recv(fd, ptr(rb), rb.length, 0));
      if (r <= 0) return { ok: false, error: `netlink: no answer from the kernel after ${got} of ${batch.acks} acks` };
      for (let o = 0; o + 20 <= r; ) {
        const len = dv.getUint32(o, true);
        if (len < 16) break;
        if (dv.getUint16(o + 4, true) === NLMSG_ERROR) {
          got++;
          const err = -dv.getInt32(o + 16, true);
          // One refusal aborts the whole batch (nothing committed); its ack is the answer.
          if (err !== 0) return { ok: false, error: `the kernel refused the set elements: ${ERRNO[err] ?? `errno ${err}`}` };
        }
        o += (len + 3) & ~3;
      }
    }
    return { ok: true };
  } finally {
    c.close(fd);
  }
}
