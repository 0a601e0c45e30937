/**
 * Fields and matches for the IR interpreter (interpret.ts): what a field of the IR reads from a
 * packet at one hook, and whether a match statement or a verdict map holds.
 *
 * nft adds a dependency in front of protocol fields (`ip saddr` gets `meta nfproto ipv4` in an
 * inet table, `meta protocol ip` in a netdev one; `icmp type` gets `meta l4proto icmp`). A
 * dependency that fails ends the rule whatever the operator, so `ip saddr != @x` does not
 * match an IPv6 packet: {@link readField} answers `undefined` then. A field the packet does not
 * determine reads as null; a lookup that only a null can decide throws.
 */
import type { Field, Operand, Statement, TableFamily, Value, VmapEntry } from "./ir.ts";
import { CT_STATES, InterpretError, holds, isInterval, textElement, valueElement, type Datum, type DatumType, type Element } from "./interpret-values.ts";

/** The packet as one base chain sees it. */
export interface HookView {
  /** Family of the table whose chain runs (dependencies differ). */
  table: TableFamily;
  family: 4 | 6;
  src: bigint;
  /** Destination before or after DNAT, as this hook sees it. */
  dst: bigint;
  protocol: number;
  srcPort?: number;
  dstPort?: number;
  icmpType?: number;
  icmpCode?: number;
  /** Interface names the kernel gives at this hook ("" where there is none, e.g. iifname in output). */
  iifname: string;
  oifname: string;
  /** The fragment on the wire as this hook sees it (inet hooks see the reassembled datagram). */
  fragment?: "first" | "later";
  /** The packet's mark now. */
  mark(): number;
  /** Conntrack state now (throws when the hook's order leaves it open). */
  ct(): string;
}

/** A named set, read for lookups. */
export interface ParsedSet {
  name: string;
  types: DatumType[];
  elements: Element[][];
}

/** A field's type and content; undefined when a dependency of the field fails. */
interface Read {
  types: DatumType[];
  data: Datum[];
}

const PORT_PROTOCOLS = new Set([6, 17, 33, 132, 136]);
const TRANSPORT: Record<string, number> = { tcp: 6, udp: 17, dccp: 33, sctp: 132, udplite: 136 };
const SET_TYPES = new Set<string>(["ipv4_addr", "ipv6_addr", "inet_proto", "inet_service", "nf_proto", "ether_type", "mark", "ifname", "icmp_type", "icmpv6_type", "icmp_code", "ct_state"]);

const one = (type: DatumType, datum: Datum): Read => ({ types: [type], data: [datum] });
const big = (n: number | undefined): bigint | null => (n === undefined ? null : BigInt(n));

/** What `field` reads from the packet at this hook. */
export function readField(field: Field, v: HookView): Read | undefined {
  switch (field.kind) {
    case "meta":
      switch (field.key) {
        case "nfproto":
          // A netdev chain sees NFPROTO_NETDEV (5), never ipv4/ipv6.
          return one("nf_proto", v.table === "netdev" ? 5n : v.family === 4 ? 2n : 10n);
        case "protocol":
          return one("ether_type", v.family === 4 ? 0x0800n : 0x86ddn);
        case "l4proto":
          return one("inet_proto", BigInt(v.protocol));
        case "mark":
          return one("mark", BigInt(v.mark()));
        case "iifname":
          return one("ifname", v.iifname);
        case "oifname":
          return one("ifname", v.oifname);
      }
      break;
    case "payload":
      return readPayload(field, v);
    case "ct":
      return one("ct_state", v.ct());
    case "exthdr":
      // `exthdr frag exists`: nft's dependency keeps it to IPv6; a reassembled datagram has no fragment header.
      return v.family === 6 ? one("boolean", v.fragment ? 1n : 0n) : undefined;
    case "and": {
      const inner = readField(field.field, v);
      if (!inner) return undefined;
      const [type, datum] = [inner.types[0]!, inner.data[0]];
      if (inner.types.length !== 1 || typeof datum === "string" || type === "ipv4_addr" || type === "ipv6_addr") throw new InterpretError("unsupported", `a mask on a field of type ${type}`);
      return one(type, datum === null || datum === undefined ? null : datum & BigInt(field.mask >>> 0));
    }
    case "prefix": {
      const inner = readField(field.field, v);
      if (!inner) return undefined;
      const [type, datum] = [inner.types[0]!, inner.data[0]];
      if (inner.types.length !== 1 || typeof datum !== "bigint" || (type !== "ipv4_addr" && type !== "ipv6_addr")) throw new InterpretError("unsupported", `a netmask on a field of type ${type}`);
      const bits = type === "ipv4_addr" ? 32n : 128n;
      const mask = ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(field.length))) - 1n);
      return one(type, datum & mask);
    }
    case "concat": {
      const out: Read = { types: [], data: [] };
      for (const f of field.fields) {
        const r = readField(f, v);
        if (!r) return undefined;
        out.types.push(...r.types);
        out.data.push(...r.data);
      }
      return out;
    }
    case "raw":
      throw new InterpretError("unsupported", `raw payload @${field.base},${field.offset},${field.length} (link-layer and VLAN headers are not modelled)`);
  }
  throw new InterpretError("unsupported", `field ${JSON.stringify(field)}`);
}

function readPayload(field: Extract<Field, { kind: "payload" }>, v: HookView): Read | undefined {
  const { protocol, field: name } = field;
  // Past the first fragment the transport header is not there: the kernel breaks the rule.
  const transport = v.fragment !== "later";
  if (protocol === "ip" || protocol === "ip6") {
    if (v.family !== (protocol === "ip" ? 4 : 6)) return undefined;
    const type = protocol === "ip" ? "ipv4_addr" : "ipv6_addr";
    if (name === "saddr") return one(type, v.src);
    if (name === "daddr") return one(type, v.dst);
    // frag-off with its flags: MF on a first fragment, an offset (1480 bytes) on a later one; DF is not modelled.
    if (name === "frag-off" && protocol === "ip") return one("integer", v.fragment === "first" ? 0x2000n : v.fragment === "later" ? 185n : 0n);
  } else if (protocol === "icmp" || protocol === "icmpv6") {
    const [number, family] = protocol === "icmp" ? [1, 4] : [58, 6];
    // inet: `meta l4proto icmp` only; netdev: the network protocol as well.
    if (v.protocol !== number || (v.table === "netdev" && v.family !== family) || !transport) return undefined;
    if (name === "type") return one(protocol === "icmp" ? "icmp_type" : "icmpv6_type", need(v.icmpType, "icmpType"));
    if (name === "code") return one("icmp_code", need(v.icmpCode, "icmpCode"));
  } else if (name === "sport" || name === "dport") {
    if (protocol !== "th" && v.protocol !== TRANSPORT[protocol]) return undefined;
    if (!transport) return undefined;
    // th ports of a protocol without ports (ICMP: type/code and checksum) are not determined.
    if (!PORT_PROTOCOLS.has(v.protocol)) return one("inet_service", null);
    return one("inet_service", need(name === "sport" ? v.srcPort : v.dstPort, name === "sport" ? "srcPort" : "dstPort"));
  }
  throw new InterpretError("unsupported", `payload field ${protocol} ${name}`);
}

function need(n: number | undefined, what: string): bigint {
  if (n === undefined) throw new InterpretError("bad-packet", `the packet has no ${what}`);
  return big(n)!;
}

/** Index of the first element holding the data, -1 for none; throws when only an undetermined field could decide. */
export function lookup(elements: readonly Element[][], data: readonly Datum[]): number {
  let undecided = false;
  for (let i = 0; i < elements.length; i++) {
    const el = elements[i]!;
    let all = true;
    let unknown = false;
    for (let j = 0; j < data.length; j++) {
      const d = data[j]!;
      if (d === null) unknown = true;
      else if (!holds(el[j]!, d)) {
        all = false;
        break;
      }
    }
    if (all && !unknown) return i;
    if (all) undecided = true;
  }
  if (undecided) throw new InterpretError("unknown-packet-field", "the lookup depends on a field the packet does not determine (e.g. th dport of an ICMP packet)");
  return -1;
}

const parsedOperands = new WeakMap<object, { types: string; elements: Element[][] }>();

/** Elements of a value, anonymous set or verdict map next to fields of `types`, parsed once per IR object. */
function elementsOf(key: object, values: () => readonly Value[], types: DatumType[]): Element[][] {
  const typeKey = types.length === 1 ? types[0]! : types.join(" . ");
  let cached = parsedOperands.get(key);
  if (!cached || cached.types !== typeKey) {
    cached = { types: typeKey, elements: values().map((val) => tupleOf(val, types)) };
    parsedOperands.set(key, cached);
  }
  return cached.elements;
}

function tupleOf(val: Value, types: DatumType[]): Element[] {
  if (types.length === 1) return [valueElement(val, types[0]!)];
  if (val.kind !== "concat" || val.values.length !== types.length) throw new InterpretError("type-mismatch", `a value of ${val.kind === "concat" ? val.values.length : 1} part(s) compared with a concatenation of ${types.length}`);
  return val.values.map((part, i) => valueElement(part, types[i]!));
}

/** Whether a match statement holds. `sets` resolves named sets of the chain's table. */
export function matches(st: Extract<Statement, { kind: "match" }>, v: HookView, sets: (name: string) => ParsedSet): boolean {
  const read = readField(st.left, v);
  if (!read) return false;
  const found = compare(read, st.right, sets);
  return st.op === "==" ? found : !found;
}

function compare(read: Read, right: Operand, sets: (name: string) => ParsedSet): boolean {
  switch (right.kind) {
    case "value":
      return lookup(elementsOf(right, () => [right.value], read.types), read.data) >= 0;
    case "set":
      return lookup(elementsOf(right, () => right.elements, read.types), read.data) >= 0;
    case "named-set": {
      const set = sets(right.name);
      if (set.types.length !== read.types.length || set.types.some((t, i) => t !== read.types[i])) throw new InterpretError("type-mismatch", `set ${set.name} of type ${set.types.join(" . ")} looked up with ${read.types.join(" . ")}`);
      return lookup(set.elements, read.data) >= 0;
    }
    case "flags": {
      if (read.types[0] !== "ct_state" || read.types.length !== 1) throw new InterpretError("unsupported", `flags compared with a field of type ${read.types.join(" . ")}`);
      for (const f of right.flags) if (!CT_STATES.has(f)) throw new InterpretError("bad-value", `unknown conntrack state ${f}`);
      return right.flags.includes(read.data[0] as string);
    }
    case "exists":
      if (read.types[0] !== "boolean") throw new InterpretError("unsupported", `exists on a field of type ${read.types.join(" . ")}`);
      return read.data[0] === 1n;
  }
}

/** The entry of a verdict map the packet selects, or undefined (the rule does nothing). */
export function vmapEntry(st: Extract<Statement, { kind: "vmap" }>, v: HookView): VmapEntry | undefined {
  const read = readField(st.key, v);
  if (!read) return undefined;
  const i = lookup(elementsOf(st, () => st.entries.map((e) => e.key), read.types), read.data);
  return i < 0 ? undefined : st.entries[i];
}

/** A named set of the IR read for lookups: its declared type, its elements (interval elements only in interval sets). */
export function parseSet(set: { name: string; type: string; interval: boolean; elements: Iterable<string | Value> }): ParsedSet {
  const types = set.type.split(" . ").map((t) => {
    if (!SET_TYPES.has(t)) throw new InterpretError("unsupported", `set ${set.name}: element type ${t}`);
    return t as DatumType;
  });
  const elements = Array.from(set.elements, (e) => {
    const tuple = typeof e === "string" ? textTuple(e, types) : tupleOf(e, types);
    if (!set.interval && tuple.some(isInterval)) throw new InterpretError("bad-value", `set ${set.name} holds ${typeof e === "string" ? e : JSON.stringify(e)} but has no interval flag (nft refuses it)`);
    return tuple;
  });
  return { name: set.name, types, elements };
}

function textTuple(text: string, types: DatumType[]): Element[] {
  const parts = text.split(" . ");
  if (parts.length !== types.length) throw new InterpretError("type-mismatch", `element ${JSON.stringify(text)} does not have the ${types.length} part(s) of its set`);
  return parts.map((p, i) => textElement(p.trim(), types[i]!));
}
