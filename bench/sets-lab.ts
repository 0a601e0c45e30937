/**
 * Helpers of bench/sets.bench.ts: the deny list it measures (deterministic, mixed IPv4 and
 * IPv6 prefixes), the nft text of each layout, and a lab of namespaces: one receiver (`-d`)
 * with a veth per layout (d0, d1, …) and one sender namespace per veth, so the layouts sit
 * side by side and the packet rounds interleave them (the machine is shared: back-to-back
 * runs drift more than the differences measured).
 */
import { $ } from "bun";
import { join } from "node:path";
import { makeCidr, formatCidr, type Cidr } from "../src/model/cidr.ts";
import { mulberry32 as prng } from "../test/support/prng.ts";

export { prng };

/** Prefix lengths, weighted like reference/nftables.md M1 (IPv4) and a plausible IPv6 list. */
const V4_LENGTHS = [22, 22, 24, 24, 24, 24, 24, 26, 26, 28, 28, 28, 30, 30, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32];
const V6_LENGTHS = [32, 40, 48, 48, 56, 64, 64, 64, 128, 128, 128, 128];

/** Addresses the bench sends from or edits with: never inside a generated entry. */
const V4_RESERVED = [0xc0000200 /* 192.0.2 */, 0xc6336400 /* 198.51.100 */, 0xcb007100 /* 203.0.113 */];
export const EDIT_V4_NET = 0x0a000000; // 10.0.0.0/8: the 10k edits (set elements only, never sent from)

function v4Free(c: Cidr): boolean {
  const first = c.a0 >>> 24;
  if (first === 10 || first === 255 || first === 0) return false;
  return V4_RESERVED.every((r) => makeCidr(4, c.prefix, r).a0 !== c.a0 && makeCidr(4, 24, c.a0).a0 !== r);
}

/** 90% IPv4, 10% IPv6; none covers the bench's own addresses (2001:db8::/32 and fc00::/7 kept out too). */
export function generate(count: number): Cidr[] {
  const rnd = prng(13);
  const out: Cidr[] = [];
  const n4 = Math.round(count * 0.9);
  while (out.length < n4) {
    const c = makeCidr(4, V4_LENGTHS[rnd() % V4_LENGTHS.length]!, rnd());
    if (v4Free(c)) out.push(c);
  }
  while (out.length < count) {
    // 2000::/4 minus 2001:db8::/32; the rest random.
    const a0 = (0x20000000 | (rnd() & 0x0fffffff)) >>> 0;
    if (a0 >>> 16 === 0x2001 && (a0 & 0xffff) === 0x0db8) continue;
    out.push(makeCidr(6, V6_LENGTHS[rnd() % V6_LENGTHS.length]!, a0, rnd(), rnd(), rnd()));
  }
  // What the packet rounds hit: a host and a /24.
  out.push(makeCidr(4, 32, 0xc0000201), makeCidr(4, 24, 0xcb007100));
  return out;
}

/** `count` new entries in 10.0.0.0/8 (every 4th /24, mixed lengths): disjoint from everything and from each other. */
export function editEntries(count: number, from = 0): Cidr[] {
  const lens = [24, 26, 28, 30, 32];
  return Array.from({ length: count }, (_, i) => makeCidr(4, lens[i % lens.length]!, (EDIT_V4_NET + (from + i) * 4 * 256) >>> 0));
}

export function cidrBytes(c: Cidr): Uint8Array {
  const words = c.family === 4 ? [c.a0] : [c.a0, c.a1, c.a2, c.a3];
  const b = new Uint8Array(words.length * 4);
  const v = new DataView(b.buffer);
  words.forEach((w, i) => v.setUint32(i * 4, w, false));
  return b;
}

/** The address part of a Cidr as nft text (no /len). */
export function addrText(c: Cidr): string {
  return formatCidr(makeCidr(c.family, c.family === 4 ? 32 : 128, c.a0, c.a1, c.a2, c.a3));
}

/** The netmask of a prefix length, as nft text. */
export function maskText(family: 4 | 6, prefix: number): string {
  const full = family === 4 ? 32 : 128;
  const w = (i: number) => (prefix >= (i + 1) * 32 ? 0xffffffff : prefix <= i * 32 ? 0 : (0xffffffff << (32 - (prefix - i * 32))) >>> 0);
  return addrText(makeCidr(family, full, w(0), w(1), w(2), w(3)));
}

/** The per-prefix-length set name. */
export const plenSet = (family: 4 | 6, prefix: number) => `p${family}_${prefix}`;

/** The match of one per-prefix-length set: a plain lookup for hosts, a masked one otherwise. */
export function plenMatch(family: 4 | 6, prefix: number): string {
  const f = family === 4 ? "ip" : "ip6";
  return prefix === (family === 4 ? 32 : 128) ? `${f} saddr @${plenSet(family, prefix)}` : `${f} saddr & ${maskText(family, prefix)} @${plenSet(family, prefix)}`;
}

/** Elements written 16 to a line (one line of a million elements is slow for nft's lexer). */
export function elements(items: readonly string[]): string {
  const lines: string[] = [];
  for (let i = 0; i < items.length; i += 16) lines.push(items.slice(i, i + 16).join(", "));
  return lines.join(",\n");
}

export function setBlock(name: string, family: 4 | 6, interval: boolean, items: readonly string[], extra = ""): string {
  const body = items.length ? `\n elements = {\n${elements(items)}\n }` : "";
  return `set ${name} { type ${family === 4 ? "ipv4_addr" : "ipv6_addr"};${interval ? " flags interval;" : ""}${extra}${body}\n}\n`;
}

/** The rules after every layout's set rules: the addresses the miss rounds send from, dropped by a plain compare. */
export const MISS_RULES = `ip saddr 198.51.100.1 counter drop\nip6 saddr 2001:db8::1 counter drop\n`;

export function chainBlock(device: string | undefined, rules: string): string {
  const hook = device ? ` type filter hook ingress device "${device}" priority -500; policy accept;` : "";
  return `chain c {${hook}\n${rules}}\n`;
}

export interface Lab {
  dut: string;
  senders: string[];
  inDut(cmd: string[]): string[];
  close(): Promise<void>;
}

/** The namespaces: `-d` with veths d0..d(n-1), each peer s0 in its own `-s<i>` namespace. */
export async function makeLab(prefix: string, n: number): Promise<Lab> {
  const dut = `${prefix}-d`;
  const senders = Array.from({ length: n }, (_, i) => `${prefix}-s${i}`);
  const lab: Lab = {
    dut,
    senders,
    inDut: (cmd) => ["ip", "netns", "exec", dut, ...cmd],
    async close() {
      for (const ns of [dut, ...senders]) await $`ip netns del ${ns}`.quiet().nothrow();
    },
  };
  try {
    await $`ip netns add ${dut}`.quiet();
    await $`ip -n ${dut} link set lo up`.quiet();
    for (const [i, s] of senders.entries()) {
      await $`ip netns add ${s}`.quiet();
      await $`ip -n ${s} link add s0 type veth peer name d${i} netns ${dut}`.quiet();
      // Test addresses only (.1 the rounds' sources, .129 the edit probe's and a new source's).
      for (const a of ["192.0.2.1/24", "198.51.100.1/24", "203.0.113.1/24", "192.0.2.129/24", "198.51.100.129/24", "203.0.113.129/24"]) await $`ip -n ${s} addr add ${a} dev s0`.quiet();
      await $`ip -n ${s} addr add 2001:db8::1/64 dev s0 nodad`.quiet();
      await $`ip -n ${s} link set s0 up`.quiet();
      await $`ip -n ${s} link set lo up`.quiet();
      await $`ip -n ${dut} link set d${i} up`.quiet();
      const mac = JSON.parse(await $`ip -n ${dut} -j link show d${i}`.text())[0].address as string;
      // Static neighbours: the receiver has no addresses, nothing answers ARP or ND.
      for (const dst of ["192.0.2.2", "198.51.100.2", "203.0.113.2"]) await $`ip -n ${s} neigh add ${dst} lladdr ${mac} dev s0`.quiet();
      await $`ip -n ${s} neigh add 2001:db8::2 lladdr ${mac} dev s0`.quiet();
    }
  } catch (e) {
    await lab.close();
    throw e;
  }
  return lab;
}

const BUN = process.execPath;
const BLAST = join(import.meta.dir, "blast.ts");

/** One blast from `src` in sender `i`'s namespace, pinned to CPU 1: wall µs per packet and CPU µs per packet. */
export async function blastOnce(lab: Lab, i: number, src: string, ms: number): Promise<{ usPerPacket: number; cpuUsPerPacket: number; sent: number }> {
  const dst = src.includes(":") ? "2001:db8::2" : src.replace(/\.\d+$/, ".2");
  const out = await $`timeout ${Math.ceil(ms / 1000) + 20} ip netns exec ${lab.senders[i]!} taskset -c 1 ${BUN} ${BLAST} ${src} ${dst} ${ms}`.text();
  const [sent, cpuUs] = out.trim().split(" ").map(Number) as [number, number];
  if (!(sent > 0)) throw new Error(`blast from ${src} sent nothing: ${out}`);
  return { usPerPacket: (ms * 1000) / sent, cpuUsPerPacket: cpuUs / sent, sent };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
