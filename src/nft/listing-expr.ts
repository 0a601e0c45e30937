/**
 * One libnftables JSON statement (`man libnftables-json`) → one IR Statement, for listing.ts.
 * The right side of a match is read in the light of its left side: strings compared with an
 * address field are addresses, with an interface name quoted strings, with anything else
 * symbols (`tcp`, `echo-request`, `established`). An address range nft printed after merging
 * touching elements becomes the CIDRs that cover it exactly.
 */
import type { Field, Operand, Statement, TransportProtocol, Value, VmapEntry } from "./ir.ts";
import { addressRangeCidrs } from "./listing-addresses.ts";
import { netmask } from "./render.ts";

/** A listing nft produced that the IR cannot say, or that is malformed: where and why. */
export interface ListingError {
  code: "NFT_LISTING_INVALID";
  /** JSON path, e.g. `$.nftables[12].rule.expr[3].match.left`. */
  path: string;
  message: string;
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Thrown inside the parser only; parseRulesetJson turns it into a ListingError value. */
export class ListingParseError extends Error {
  constructor(readonly error: ListingError) {
    super(`${error.path}: ${error.message}`);
  }
}

export function fail(path: string, message: string): never {
  throw new ListingParseError({ code: "NFT_LISTING_INVALID", path, message });
}

export function expectObject(v: unknown, path: string): Record<string, Json> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(path, `expected an object, got ${JSON.stringify(v)?.slice(0, 80)}`);
  return v as Record<string, Json>;
}

/** The one key of a `{ kind: body }` object. */
function single(v: unknown, path: string): [string, Json] {
  const obj = expectObject(v, path);
  const keys = Object.keys(obj);
  if (keys.length !== 1) fail(path, `expected one key, got ${JSON.stringify(keys)}`);
  return [keys[0]!, obj[keys[0]!]!];
}

const META_KEYS = ["nfproto", "protocol", "l4proto", "mark", "iifname", "oifname"] as const;
const PAYLOAD_PROTOCOLS = ["ip", "ip6", "th", "icmp", "icmpv6", "tcp", "udp", "sctp", "udplite", "dccp"] as const;
const PAYLOAD_FIELDS = ["saddr", "daddr", "sport", "dport", "type", "code", "frag-off"] as const;
const TRANSPORT: readonly string[] = ["th", "tcp", "udp", "sctp", "udplite", "dccp"] satisfies readonly ("th" | TransportProtocol)[];
const VERDICTS = ["accept", "drop", "return"] as const;
const RATE_UNITS = ["second", "minute", "hour", "day"] as const;

function oneOf<T extends string>(v: unknown, options: readonly T[], path: string, what: string): T {
  if (typeof v !== "string" || !options.includes(v as T)) fail(path, `${what} ${JSON.stringify(v)} is not one of ${options.join(", ")}`);
  return v as T;
}

/** `ip saddr & 255.255.240.0` (a per-length set lookup, match.ts): the netmask must be one render.ts writes. */
function prefixField(field: Field, mask: string, path: string): Field {
  const family = field.kind === "payload" && field.protocol === "ip" ? 4 : field.kind === "payload" && field.protocol === "ip6" ? 6 : undefined;
  if (!family) fail(path, "an address mask on a field that is not an address");
  for (let length = 0; length <= (family === 4 ? 32 : 128); length++) if (netmask(family, length) === mask) return { kind: "prefix", field, length };
  return fail(path, `${JSON.stringify(mask).slice(0, 60)} is not a netmask`);
}

function natural(v: unknown, path: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) fail(path, `expected a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
}

function keysOnly(obj: Record<string, Json>, keys: readonly string[], path: string): void {
  for (const k of Object.keys(obj)) if (!keys.includes(k)) fail(`${path}.${k}`, `unexpected key ${JSON.stringify(k)}`);
}

/** A statement and, for a counter, its values. */
export function parseStatement(v: unknown, path: string): { statement: Statement; counter?: { packets: number; bytes: number } } {
  const [kind, body] = single(v, path);
  const at = `${path}.${kind}`;
  switch (kind) {
    case "match": {
      const m = expectObject(body, at);
      keysOnly(m, ["op", "left", "right"], at);
      const left = parseField(m.left, `${at}.left`);
      if (m.op === "in") {
        if (left.kind !== "ct") fail(`${at}.op`, "`in` is only expected for ct state");
        return { statement: { kind: "match", left, op: "==", right: parseOperand(m.right, left, `${at}.right`) } };
      }
      const op = oneOf(m.op, ["==", "!="] as const, `${at}.op`, "operator");
      return { statement: { kind: "match", left, op, right: parseOperand(m.right, left, `${at}.right`) } };
    }
    case "counter": {
      const c = expectObject(body, at);
      keysOnly(c, ["packets", "bytes"], at);
      return { statement: { kind: "counter" }, counter: { packets: natural(c.packets, `${at}.packets`), bytes: natural(c.bytes, `${at}.bytes`) } };
    }
    case "mangle":
      return { statement: parseMark(body, at) };
    case "limit": {
      const l = expectObject(body, at);
      keysOnly(l, ["rate", "burst", "per", "burst_unit"], at);
      if (l.burst_unit !== undefined && l.burst_unit !== "packets") fail(`${at}.burst_unit`, "only packet limits are part of the IR");
      return { statement: { kind: "limit", rate: natural(l.rate, `${at}.rate`), per: oneOf(l.per, RATE_UNITS, `${at}.per`, "unit"), burst: natural(l.burst ?? 0, `${at}.burst`) } };
    }
    case "log": {
      const l = expectObject(body, at);
      keysOnly(l, ["prefix", "level"], at);
      if (typeof l.prefix !== "string") fail(`${at}.prefix`, "log without a prefix");
      return { statement: { kind: "log", prefix: l.prefix, level: oneOf(l.level, ["info"] as const, `${at}.level`, "log level") } };
    }
    case "notrack":
      if (body !== null) fail(at, "notrack takes no arguments");
      return { statement: { kind: "notrack" } };
    case "reject": {
      // `reject` lists as port-unreachable of icmpx, or of icmp/icmpv6 where the rule pins the family.
      const plain = body === null || (typeof body === "object" && !Array.isArray(body) && ["icmpx", "icmp", "icmpv6"].includes(String(body.type)) && body.expr === "port-unreachable" && Object.keys(body).length === 2);
      if (!plain) fail(at, `reject ${JSON.stringify(body)}: only the default reject is part of the IR`);
      return { statement: { kind: "verdict", verdict: "reject" } };
    }
    case "jump":
    case "goto":
      return { statement: { kind, target: target(body, at) } };
    case "vmap":
      return { statement: parseVmap(body, at) };
    case "set": {
      // `update @s { ip saddr }` (a drop-summary set; its counter is the set's own).
      const u = expectObject(body, at);
      keysOnly(u, ["op", "elem", "set"], at);
      if (u.op !== "update") fail(`${at}.op`, `set ${JSON.stringify(u.op)}: only update is part of the IR`);
      if (typeof u.set !== "string" || !u.set.startsWith("@")) fail(`${at}.set`, "expected @name");
      return { statement: { kind: "set-update", set: u.set.slice(1), key: parseField(u.elem, `${at}.elem`) } };
    }
    default:
      if ((VERDICTS as readonly string[]).includes(kind)) {
        if (body !== null) fail(at, `${kind} takes no arguments`);
        return { statement: { kind: "verdict", verdict: kind as (typeof VERDICTS)[number] } };
      }
      return fail(path, `statement ${JSON.stringify(kind)} is not part of the IR`);
  }
}

function target(body: Json, at: string): string {
  const t = expectObject(body, at);
  keysOnly(t, ["target"], at);
  if (typeof t.target !== "string") fail(`${at}.target`, "jump without a target");
  return t.target;
}

function isMetaMark(v: Json | undefined): boolean {
  return typeof v === "object" && v !== null && !Array.isArray(v) && JSON.stringify(v) === '{"meta":{"key":"mark"}}';
}

/** `meta mark set meta mark | N` / `& N`: the only mangle the IR has. */
function parseMark(body: Json, at: string): Statement {
  const m = expectObject(body, at);
  keysOnly(m, ["key", "value"], at);
  if (!isMetaMark(m.key)) fail(`${at}.key`, "only meta mark is set by hostwall");
  const [op, args] = single(m.value, `${at}.value`);
  if ((op !== "|" && op !== "&") || !Array.isArray(args) || args.length !== 2 || !isMetaMark(args[0])) fail(`${at}.value`, "only `meta mark | N` and `meta mark & N` are part of the IR");
  return { kind: "mark", op: op === "|" ? "or" : "and", value: natural(args[1], `${at}.value.${op}[1]`) };
}

function parseVmap(body: Json, at: string): Statement {
  const m = expectObject(body, at);
  keysOnly(m, ["key", "data"], at);
  const key = parseField(m.key, `${at}.key`);
  const data = expectObject(m.data, `${at}.data`);
  if (!Array.isArray(data.set)) fail(`${at}.data`, "a verdict map needs an anonymous set");
  const entries: VmapEntry[] = data.set.map((pair, i) => {
    const p = `${at}.data.set[${i}]`;
    if (!Array.isArray(pair) || pair.length !== 2) fail(p, "expected [key, verdict]");
    const [verdict, body] = single(pair[1], `${p}[1]`);
    if (verdict !== "jump" && verdict !== "goto") fail(`${p}[1]`, `map verdict ${JSON.stringify(verdict)} is not jump or goto`);
    const keys = parseValues(pair[0], key, `${p}[0]`);
    if (keys.length !== 1) fail(`${p}[0]`, "a verdict map key is one value");
    return { key: keys[0]!, verdict, target: target(body, `${p}[1].${verdict}`) };
  });
  return { kind: "vmap", key, entries };
}

export function parseField(v: unknown, path: string): Field {
  if (typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 1) {
    const [kind, body] = single(v, path);
    const at = `${path}.${kind}`;
    switch (kind) {
      case "meta": {
        const m = expectObject(body, at);
        keysOnly(m, ["key"], at);
        return { kind: "meta", key: oneOf(m.key, META_KEYS, `${at}.key`, "meta key") };
      }
      case "payload": {
        const p = expectObject(body, at);
        if ("base" in p) {
          keysOnly(p, ["base", "offset", "len"], at);
          const raw: Field = { kind: "raw", base: oneOf(p.base, ["ll", "nh", "th"] as const, `${at}.base`, "payload base"), offset: natural(p.offset, `${at}.offset`), length: natural(p.len, `${at}.len`) };
          return transportAlias(raw) ?? raw;
        }
        keysOnly(p, ["protocol", "field"], at);
        // `th dport` is the 16 bits at offset 16 of the transport header, whatever nft calls
        // them: after an ICMP match it prints them as the ICMP checksum.
        if ((p.protocol === "icmp" || p.protocol === "icmpv6") && p.field === "checksum") return { kind: "payload", protocol: "th", field: "dport" };
        return { kind: "payload", protocol: oneOf(p.protocol, PAYLOAD_PROTOCOLS, `${at}.protocol`, "payload protocol"), field: oneOf(p.field, PAYLOAD_FIELDS, `${at}.field`, "payload field") };
      }
      case "ct": {
        const c = expectObject(body, at);
        keysOnly(c, ["key"], at);
        return { kind: "ct", key: oneOf(c.key, ["state"] as const, `${at}.key`, "ct key") };
      }
      case "exthdr": {
        const x = expectObject(body, at);
        keysOnly(x, ["name"], at);
        return { kind: "exthdr", name: oneOf(x.name, ["frag"] as const, `${at}.name`, "extension header") };
      }
      case "&": {
        if (!Array.isArray(body) || body.length !== 2) fail(at, "expected [field, mask]");
        const field = parseField(body[0], `${at}[0]`);
        if (typeof body[1] === "string") return prefixField(field, body[1], `${at}[1]`);
        return { kind: "and", field, mask: natural(body[1], `${at}[1]`) };
      }
      case "concat": {
        if (!Array.isArray(body) || body.length < 2) fail(at, "expected a list of fields");
        return { kind: "concat", fields: body.map((f, i) => parseField(f, `${at}[${i}]`)) };
      }
    }
  }
  return fail(path, `expression ${JSON.stringify(v)?.slice(0, 80)} is not a field the IR has`);
}

function parseOperand(v: Json | undefined, left: Field, path: string): Operand {
  if (typeof v === "string" && v.startsWith("@")) return { kind: "named-set", name: v.slice(1) };
  if (left.kind === "ct") {
    const flags = typeof v === "string" ? [v] : v;
    if (!Array.isArray(flags) || flags.length === 0 || flags.some((f) => typeof f !== "string")) fail(path, "ct state flags expected");
    return { kind: "flags", flags: flags as string[] };
  }
  if (left.kind === "exthdr") {
    if (v !== true) fail(path, "only `exists` is part of the IR for extension headers");
    return { kind: "exists" };
  }
  if (typeof v === "object" && v !== null && !Array.isArray(v) && "set" in v) {
    const elements = v.set;
    if (!Array.isArray(elements) || Object.keys(v).length !== 1) fail(path, "malformed anonymous set");
    return { kind: "set", elements: elements.flatMap((e, i) => parseValues(e, left, `${path}.set[${i}]`)) };
  }
  const values = parseValues(v, left, path);
  return values.length === 1 ? { kind: "value", value: values[0]! } : { kind: "set", elements: values };
}

/** `@th,0,16` and `@th,16,16` are what the IR calls `th sport` and `th dport`. */
function transportAlias(f: Field): Field | undefined {
  if (f.kind !== "raw" || f.base !== "th" || f.length !== 16 || (f.offset !== 0 && f.offset !== 16)) return undefined;
  return { kind: "payload", protocol: "th", field: f.offset === 0 ? "sport" : "dport" };
}

type ValueClass = "address" | "string" | "number" | "symbolic";

function valueClass(f: Field): ValueClass {
  switch (f.kind) {
    case "meta":
      return f.key === "iifname" || f.key === "oifname" ? "string" : f.key === "mark" ? "number" : "symbolic";
    case "payload":
      if (f.field === "saddr" || f.field === "daddr") return "address";
      return TRANSPORT.includes(f.protocol) ? "number" : "symbolic";
    case "raw":
    case "and":
      return "number";
    default:
      return "symbolic";
  }
}

/** One value of the JSON, as IR values (an address range → its CIDRs, so possibly several). */
function parseValues(v: Json | undefined, left: Field, path: string): Value[] {
  if (typeof v === "object" && v !== null && !Array.isArray(v)) {
    const [kind, body] = single(v, path);
    const at = `${path}.${kind}`;
    if (kind === "concat") {
      const fields = left.kind === "concat" ? left.fields : undefined;
      if (!Array.isArray(body) || !fields || body.length !== fields.length) fail(at, "concatenation does not fit its field");
      return [{ kind: "concat", values: body.map((x, i) => one(parseValues(x, fields[i]!, `${at}[${i}]`), `${at}[${i}]`)) }];
    }
    if (kind === "prefix") {
      const p = expectObject(body, at);
      keysOnly(p, ["addr", "len"], at);
      if (valueClass(left) !== "address" || typeof p.addr !== "string") fail(at, "a prefix of something that is not an address");
      return [{ kind: "address", value: `${p.addr}/${natural(p.len, `${at}.len`)}` }];
    }
    if (kind === "range") {
      if (!Array.isArray(body) || body.length !== 2) fail(at, "expected [min, max]");
      if (valueClass(left) === "address") {
        const cidrs = addressRangeCidrs(body[0], body[1]);
        if (!cidrs) fail(at, `address range ${JSON.stringify(body)} is malformed`);
        return cidrs.map((c) => ({ kind: "address", value: c }));
      }
      return [{ kind: "range", min: natural(body[0], `${at}[0]`), max: natural(body[1], `${at}[1]`) }];
    }
    return fail(path, `value kind ${JSON.stringify(kind)} is not part of the IR`);
  }
  if (typeof v === "number") return [{ kind: "number", value: natural(v, path) }];
  if (typeof v === "string") {
    const cls = valueClass(left);
    if (cls === "address") return [{ kind: "address", value: v }];
    if (cls === "string") return [{ kind: "string", value: v }];
    if (cls === "number") fail(path, `expected a number, got ${JSON.stringify(v)}`);
    return [{ kind: "symbol", value: v }];
  }
  return fail(path, `value ${JSON.stringify(v)?.slice(0, 80)} is not part of the IR`);
}

function one(values: Value[], path: string): Value {
  if (values.length !== 1) fail(path, "a range inside a concatenation is not part of the IR");
  return values[0]!;
}

/** A named set's element as the compiler writes it: `192.0.2.0/24`, `192.0.2.1 . tcp . 80` (ranges as their CIDRs). */
export function setElementText(v: unknown, path: string): string[] {
  if (typeof v === "string") return [v];
  if (typeof v === "object" && v !== null && !Array.isArray(v) && "elem" in v) {
    // A dynamic set's element with its expiry and counter: the value only (drops.ts reads the rest).
    const e = expectObject((v as Record<string, Json>).elem, `${path}.elem`);
    keysOnly(e, ["val", "expires", "timeout", "counter"], `${path}.elem`);
    return setElementText(e.val, `${path}.elem.val`);
  }
  if (typeof v === "number") return [String(natural(v, path))];
  const [kind, body] = single(v, path);
  const at = `${path}.${kind}`;
  if (kind === "prefix") {
    const p = expectObject(body, at);
    keysOnly(p, ["addr", "len"], at);
    if (typeof p.addr !== "string") fail(`${at}.addr`, "prefix without an address");
    return [`${p.addr}/${natural(p.len, `${at}.len`)}`];
  }
  if (kind === "range") {
    const cidrs = Array.isArray(body) && body.length === 2 ? addressRangeCidrs(body[0], body[1]) : undefined;
    if (!cidrs) fail(at, `range ${JSON.stringify(body)} is not an address range`);
    return cidrs;
  }
  if (kind === "concat") {
    if (!Array.isArray(body)) fail(at, "expected a list");
    return [body.map((x, i) => one1(setElementText(x, `${at}[${i}]`), `${at}[${i}]`)).join(" . ")];
  }
  return fail(path, `set element ${JSON.stringify(v)?.slice(0, 80)} is not part of the IR`);
}

function one1(texts: string[], path: string): string {
  if (texts.length !== 1) fail(path, "a range inside a concatenation is not part of the IR");
  return texts[0]!;
}
