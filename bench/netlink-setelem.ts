/**
 * Prototype for issue #13 item 3(b): set elements sent to the kernel over netlink directly,
 * without nft. nft (CLI and libnftables alike) downloads a whole interval set before it adds
 * or deletes one element of it (reference/nftables.md §4: 70–80 s at 1M); the kernel itself
 * needs no such thing. This encodes NFT_MSG_NEWSETELEM / NFT_MSG_DELSETELEM messages (each
 * under 64 KiB) between one NFNL_MSG_BATCH_BEGIN and BATCH_END: one transaction, all or
 * nothing, sent with one sendmsg, every message acked (NETLINK_CAP_ACK keeps acks small).
 *
 * Interval sets hold a range as two elements: its first address, and the address after its
 * last one flagged NFT_SET_ELEM_INTERVAL_END (a range reaching the top of the address space
 * has no end element). The caller sends normalised, non-overlapping ranges; the kernel refuses
 * an overlap (the whole batch then changes nothing).
 *
 * Bench code, not the agent's: it runs in the namespace it was started in (ip netns exec).
 * Usage (child of sets.bench.ts): bun bench/netlink-setelem.ts <family> <table> <ops-file>
 * where the ops file holds 20-byte records: op (1 add, 2 delete), kind (1 hash element,
 * 2 interval), prefix length, address length (4|16), 16 address bytes; each record names its
 * set by a NUL-free name table given as the file's first line. Prints JSON timings.
 */
import { FAMILY, MAX_MSG, NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, NFNL_SUBSYS_NFTABLES, NFTA_DATA_VALUE, NFTA_LIST_ELEM, NFTA_SET_ELEM_KEY, NFTA_SET_ELEM_LIST_ELEMENTS, NFTA_SET_ELEM_LIST_SET, NFTA_SET_ELEM_LIST_TABLE, NFT_MSG_NEWSETELEM, NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST, NetlinkWriter, sendBatch as send } from "../src/nft/netlink.ts";

export { FAMILY };
const NFT_MSG_DELSETELEM = 14;
const NFTA_SET_ELEM_FLAGS = 3;
const NFT_SET_ELEM_INTERVAL_END = 1;

/** One element operation: a key (network byte order) for a hash set, or a range for an interval set. */
export interface ElemOp {
  del: boolean;
  set: string;
  /** First address of the range (or the hash key). */
  start: Uint8Array;
  /** The address after the range's last one; undefined for a hash element or a range reaching the top. */
  end?: Uint8Array;
}

/** src/nft/netlink.ts's writer, with the flags attribute interval ends need. */
class Writer extends NetlinkWriter {
  u32be(type: number, v: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, false);
    this.attr(type, b);
  }
}

function elem(w: Writer, key: Uint8Array, intervalEnd: boolean) {
  const e = w.nest(NFTA_LIST_ELEM);
  const k = w.nest(NFTA_SET_ELEM_KEY);
  w.attr(NFTA_DATA_VALUE, key);
  w.endNest(k);
  if (intervalEnd) w.u32be(NFTA_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
  w.endNest(e);
}

/**
 * One batch (one transaction) of element messages: deletes first, then adds, grouped by set,
 * each message under MAX_MSG. Returns the bytes and the number of acked messages.
 */
export function encodeBatch(family: number, table: string, ops: readonly ElemOp[], seq0 = 1): { bytes: Uint8Array; acks: number } {
  const w = new Writer(1 << 20);
  let seq = seq0;
  const begin = w.msg(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq++, 0, NFNL_SUBSYS_NFTABLES);
  w.end(begin);
  let acks = 0;
  const groups = new Map<string, ElemOp[]>();
  for (const op of ops) {
    const key = `${op.del ? 0 : 1}\0${op.set}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(op);
  }
  for (const [key, group] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const del = key.startsWith("0");
    const type = (NFNL_SUBSYS_NFTABLES << 8) | (del ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM);
    const flags = NLM_F_REQUEST | NLM_F_ACK | (del ? 0 : NLM_F_CREATE);
    let i = 0;
    while (i < group.length) {
      const m = w.msg(type, flags, seq++, family, 0);
      w.str(NFTA_SET_ELEM_LIST_TABLE, table);
      w.str(NFTA_SET_ELEM_LIST_SET, group[i]!.set);
      const list = w.nest(NFTA_SET_ELEM_LIST_ELEMENTS);
      const start = w.n;
      while (i < group.length && w.n - start < MAX_MSG - 128) {
        const op = group[i++]!;
        elem(w, op.start, false);
        if (op.end) elem(w, op.end, true);
      }
      w.endNest(list);
      w.end(m);
      acks++;
    }
  }
  const end = w.msg(NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq++, 0, NFNL_SUBSYS_NFTABLES);
  w.end(end);
  return { bytes: w.buf.subarray(0, w.n), acks };
}

/** Sends one encoded batch and reads its acks (src/nft/netlink.ts sendBatch); throws with the kernel's refusal. */
export function sendBatch(batch: { bytes: Uint8Array; acks: number }): void {
  const sent = send(batch);
  if (!sent.ok) throw new Error(sent.error);
}

/** Record layout of the ops file (see the header). */
export const RECORD = 20;

export function encodeOps(sets: string[], ops: { del: boolean; set: number; interval: boolean; prefix: number; addr: Uint8Array }[]): Uint8Array {
  const head = new TextEncoder().encode(sets.join(",") + "\n");
  const out = new Uint8Array(head.length + ops.length * RECORD);
  out.set(head);
  let o = head.length;
  for (const op of ops) {
    out[o] = op.del ? 2 : 1;
    out[o + 1] = op.set;
    out[o + 2] = op.prefix;
    out[o + 3] = (op.interval ? 0x80 : 0) | op.addr.length;
    out.set(op.addr, o + 4);
    o += RECORD;
  }
  return out;
}

/** The range [addr, addr + 2^(bits-prefix)) as start and end keys; end undefined at the top. */
export function prefixRange(addr: Uint8Array, prefix: number): { start: Uint8Array; end?: Uint8Array } {
  const start = addr.slice();
  const end = addr.slice();
  // Add 2^(bits - prefix) to the network address, big-endian, with carry.
  const bits = addr.length * 8;
  if (prefix === 0) return { start };
  let byte = (prefix - 1) >> 3;
  let carry = 1 << (7 - ((prefix - 1) & 7));
  for (; byte >= 0 && carry; byte--) {
    const v = end[byte]! + carry;
    end[byte] = v & 255;
    carry = v >> 8;
  }
  void bits;
  return carry ? { start } : { start, end };
}

if (import.meta.main) {
  const [family, table, file] = process.argv.slice(2);
  const t0 = performance.now();
  const data = new Uint8Array(await Bun.file(file!).arrayBuffer());
  const nl = data.indexOf(10);
  const sets = new TextDecoder().decode(data.subarray(0, nl)).split(",");
  const ops: ElemOp[] = [];
  for (let o = nl + 1; o + RECORD <= data.length; o += RECORD) {
    const alen = data[o + 3]! & 0x7f;
    const addr = data.subarray(o + 4, o + 4 + alen);
    const set = sets[data[o + 1]!]!;
    const del = data[o] === 2;
    if (data[o + 3]! & 0x80) ops.push({ del, set, ...prefixRange(addr, data[o + 2]!) });
    else ops.push({ del, set, start: addr });
  }
  const t1 = performance.now();
  const batch = encodeBatch(FAMILY[family as keyof typeof FAMILY], table!, ops);
  const t2 = performance.now();
  sendBatch(batch);
  const t3 = performance.now();
  console.log(JSON.stringify({ ops: ops.length, bytes: batch.bytes.length, messages: batch.acks, readMs: t1 - t0, encodeMs: t2 - t1, kernelMs: t3 - t2 }));
}
