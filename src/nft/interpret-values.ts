/**
 * Values for the IR interpreter (interpret.ts): what a packet field holds (a datum) and what an
 * IR value or set element stands for (an element: one value or an interval). Addresses are
 * parsed here with a parser of its own, not model/cidr, so that a CIDR formatting bug in the
 * compiler shows up as a disagreement instead of being shared by both sides.
 *
 * Every numeric datum is a bigint (addresses, ports, marks, protocol numbers alike), so one
 * interval test serves every type; interface names and conntrack states are strings.
 */
import type { Value } from "./ir.ts";

/** What the interpreter could not do, and where: never a silent match or skip. */
export type InterpretErrorCode =
  /** A statement, field or operand this interpreter does not model. */
  | "unsupported"
  /** A jump, goto or vmap to a chain the table does not have, or to a base chain. */
  | "unknown-chain"
  /** A lookup in a set the table does not declare. */
  | "unknown-set"
  /** A field compared with a value or set of another type (nft would refuse the script). */
  | "type-mismatch"
  /** A value or set element that cannot be read (bad address, unknown symbol, prefix in a hash set). */
  | "bad-value"
  /** The decision needs a packet field the packet does not determine (e.g. `th dport` of an ICMP packet). */
  | "unknown-packet-field"
  /** The packet itself is incomplete or contradictory. */
  | "bad-packet"
  /** A ruleset nft or the kernel would refuse (statement after a verdict, notrack outside prerouting/output). */
  | "invalid-ruleset"
  /** More than 16 nested jumps (the kernel's jump stack), e.g. a loop. */
  | "jump-depth"
  /** The kernel's order is not determined (a chain at exactly the NAT or conntrack priority that depends on it). */
  | "ambiguous-order";

/** Where in the ruleset an interpreter error arose. */
export interface InterpretLocation {
  table?: string;
  chain?: string;
  rule?: number;
}

export class InterpretError extends Error {
  constructor(
    readonly code: InterpretErrorCode,
    message: string,
    readonly where: InterpretLocation = {},
  ) {
    super(message);
    this.name = "InterpretError";
  }
}

/** The type of a field, which decides how values and set elements next to it are read. */
export type DatumType =
  | "ipv4_addr"
  | "ipv6_addr"
  | "inet_proto"
  | "inet_service"
  | "nf_proto"
  | "ether_type"
  | "mark"
  | "ifname"
  | "icmp_type"
  | "icmpv6_type"
  | "icmp_code"
  | "integer"
  | "ct_state"
  | "boolean";

/** A field's content: a number (as bigint), a string, or null when the packet does not determine it. */
export type Datum = bigint | string | null;

/** One value or set element: an interval of numbers, or a string (`prefix`: nft's `eth*` wildcard). */
export type Element = { lo: bigint; hi: bigint } | { str: string; prefix: boolean };

export const CT_STATES = new Set(["new", "established", "related", "invalid", "untracked"]);

const SYMBOLS: Partial<Record<DatumType, Record<string, number>>> = {
  nf_proto: { ipv4: 2, ipv6: 10 },
  ether_type: { ip: 0x0800, ip6: 0x86dd, arp: 0x0806, "8021q": 0x8100, vlan: 0x8100, "8021ad": 0x88a8 },
  inet_proto: { icmp: 1, igmp: 2, tcp: 6, udp: 17, dccp: 33, gre: 47, esp: 50, ah: 51, icmpv6: 58, "ipv6-icmp": 58, sctp: 132, udplite: 136 },
  icmp_type: {
    "echo-reply": 0, "destination-unreachable": 3, "source-quench": 4, redirect: 5, "echo-request": 8, "router-advertisement": 9, "router-solicitation": 10,
    "time-exceeded": 11, "parameter-problem": 12, "timestamp-request": 13, "timestamp-reply": 14, "info-request": 15, "info-reply": 16, "address-mask-request": 17, "address-mask-reply": 18,
  },
  icmpv6_type: {
    "destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "parameter-problem": 4, "echo-request": 128, "echo-reply": 129, "mld-listener-query": 130,
    "mld-listener-report": 131, "mld-listener-done": 132, "mld-listener-reduction": 132, "nd-router-solicit": 133, "nd-router-advert": 134, "nd-neighbor-solicit": 135,
    "nd-neighbor-advert": 136, "nd-redirect": 137, "router-renumbering": 138, "ind-neighbor-solicit": 141, "ind-neighbor-advert": 142, "mld2-listener-report": 143,
  },
};

/** Bit width of the numeric types, for range checks of values. */
const WIDTH: Partial<Record<DatumType, number>> = { inet_proto: 8, inet_service: 16, nf_proto: 8, ether_type: 16, mark: 32, icmp_type: 8, icmpv6_type: 8, icmp_code: 8, integer: 32 };

/** An IPv4 or IPv6 address as a number; undefined when the text is not one. */
export function parseIp(text: string): { family: 4 | 6; value: bigint } | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) {
    const parts = text.split(".").map(Number);
    if (parts.some((p) => p > 255)) return undefined;
    return { family: 4, value: parts.reduce((v, p) => (v << 8n) | BigInt(p), 0n) };
  }
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(":")) return undefined;
  let t = text;
  const lastColon = t.lastIndexOf(":");
  if (t.slice(lastColon + 1).includes(".")) {
    // An embedded IPv4 address (`::ffff:192.0.2.1`) stands for the last two groups.
    const v4 = parseIp(t.slice(lastColon + 1));
    if (!v4 || v4.family !== 4) return undefined;
    t = `${t.slice(0, lastColon + 1)}${(v4.value >> 16n).toString(16)}:${(v4.value & 0xffffn).toString(16)}`;
  }
  const halves = t.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  if ([...left, ...right].some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  const fill = 8 - left.length - right.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return undefined;
  const all = [...left, ...Array<string>(halves.length === 2 ? fill : 0).fill("0"), ...right].map((g) => BigInt(parseInt(g, 16)));
  return { family: 6, value: all.reduce((v, g) => (v << 16n) | g, 0n) };
}

/** An address number as canonical text (`192.0.2.1`, `2001:db8::1`: the longest run of zero groups as `::`). */
export function formatIp(value: bigint, family: 4 | 6): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => ((value >> s) & 0xffn).toString()).join(".");
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  let [best, bestLen] = [-1, 1];
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  return best < 0 ? hex(groups) : `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/** `192.0.2.0/24`, `2001:db8::1` → the interval of addresses (host bits must be zero, as nft wants). */
export function parseAddressElement(text: string, type: "ipv4_addr" | "ipv6_addr"): Element {
  const [addr = "", len, extra] = text.split("/");
  const ip = parseIp(addr);
  const bits = type === "ipv4_addr" ? 32 : 128;
  if (!ip || extra !== undefined) throw new InterpretError("bad-value", `not an address: ${JSON.stringify(text)}`);
  if ((ip.family === 4) !== (type === "ipv4_addr")) throw new InterpretError("type-mismatch", `${text} is not of type ${type}`);
  const prefix = len === undefined ? bits : /^\d{1,3}$/.test(len) ? Number(len) : NaN;
  if (!(prefix >= 0 && prefix <= bits)) throw new InterpretError("bad-value", `bad prefix length in ${JSON.stringify(text)}`);
  const size = 1n << BigInt(bits - prefix);
  if (ip.value % size !== 0n) throw new InterpretError("bad-value", `${text} has host bits set`);
  return { lo: ip.value, hi: ip.value + size - 1n };
}

function numberElement(n: number, type: DatumType): Element {
  const width = WIDTH[type];
  if (width === undefined || !Number.isInteger(n) || n < 0 || n >= 2 ** width) throw new InterpretError("bad-value", `${n} is not a value of type ${type}`);
  return { lo: BigInt(n), hi: BigInt(n) };
}

/** An IR value next to a field of type `type`. */
export function valueElement(v: Value, type: DatumType): Element {
  switch (v.kind) {
    case "number":
      return numberElement(v.value, type);
    case "range": {
      const [lo, hi] = [numberElement(v.min, type), numberElement(v.max, type)] as { lo: bigint; hi: bigint }[];
      if (lo!.lo > hi!.hi) throw new InterpretError("bad-value", `empty range ${v.min}-${v.max}`);
      return { lo: lo!.lo, hi: hi!.hi };
    }
    case "address":
      if (type !== "ipv4_addr" && type !== "ipv6_addr") throw new InterpretError("type-mismatch", `address ${v.value} compared with a field of type ${type}`);
      return parseAddressElement(v.value, type);
    case "string":
      if (type !== "ifname") throw new InterpretError("type-mismatch", `string "${v.value}" compared with a field of type ${type}`);
      if (v.value.length > 15) throw new InterpretError("bad-value", `interface name ${JSON.stringify(v.value)}`);
      return v.value.endsWith("*") ? { str: v.value.slice(0, -1), prefix: true } : { str: v.value, prefix: false };
    case "symbol":
      return symbolElement(v.value, type);
    case "concat":
      throw new InterpretError("type-mismatch", `a concatenated value compared with a single field of type ${type}`);
  }
}

function symbolElement(name: string, type: DatumType): Element {
  if (type === "ct_state") {
    if (!CT_STATES.has(name)) throw new InterpretError("bad-value", `unknown conntrack state ${name}`);
    return { str: name, prefix: false };
  }
  // nft reads digits as a number wherever a symbol may stand (`meta l4proto 17`).
  if (/^\d+$/.test(name)) return numberElement(Number(name), type);
  const n = SYMBOLS[type]?.[name];
  if (n === undefined) throw new InterpretError("bad-value", `unknown symbol ${JSON.stringify(name)} for type ${type}`);
  return { lo: BigInt(n), hi: BigInt(n) };
}

/**
 * A named set's element as the IR holds it, in one component's type: canonical text
 * (`192.0.2.10`, `6`, `8080`, `1000-2000`) or, for a set written with typed values, a Value.
 */
export function textElement(text: string, type: DatumType): Element {
  if (type === "ipv4_addr" || type === "ipv6_addr") return parseAddressElement(text, type);
  const range = /^(\d+)-(\d+)$/.exec(text);
  if (range) return valueElement({ kind: "range", min: Number(range[1]), max: Number(range[2]) }, type);
  if (/^\d+$/.test(text)) return numberElement(Number(text), type);
  return symbolElement(text, type);
}

/** Whether an element holds a datum (a null datum is the caller's to handle). */
export function holds(e: Element, d: bigint | string): boolean {
  if ("str" in e) return typeof d === "string" && (e.prefix ? d.startsWith(e.str) : d === e.str);
  return typeof d === "bigint" && e.lo <= d && d <= e.hi;
}

/** An element is an interval wider than one value (a prefix or a range): only interval sets may hold it. */
export function isInterval(e: Element): boolean {
  return !("str" in e) && e.lo !== e.hi;
}
