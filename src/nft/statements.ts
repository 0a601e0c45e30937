/**
 * Small builders for the typed statements of ir.ts, so the compiler reads close to the nft it
 * produces: `match(payload("ip", "saddr"), "==", namedSet(name))`, `counter()`,
 * `verdict("drop")`. They build data only; render.ts turns it into text.
 */
import type { Field, Operand, Statement, Value, VmapEntry } from "./ir.ts";

type MetaKey = Extract<Field, { kind: "meta" }>["key"];
type PayloadField = Extract<Field, { kind: "payload" }>;

export const meta = (key: MetaKey): Field => ({ kind: "meta", key });
export const payload = (protocol: PayloadField["protocol"], field: PayloadField["field"]): Field => ({ kind: "payload", protocol, field });
export const raw = (base: "ll" | "nh" | "th", offset: number, length: number): Field => ({ kind: "raw", base, offset, length });
export const ctState = (): Field => ({ kind: "ct", key: "state" });
export const exthdrFrag = (): Field => ({ kind: "exthdr", name: "frag" });
export const masked = (field: Field, mask: number): Field => ({ kind: "and", field, mask });
/** `field & <netmask of length>` on an address field (`ip saddr & 255.255.255.0`). */
export const prefixOf = (field: Field, length: number): Field => ({ kind: "prefix", field, length });
export const concat = (...fields: Field[]): Field => ({ kind: "concat", fields });

export const num = (value: number): Value => ({ kind: "number", value });
export const sym = (value: string): Value => ({ kind: "symbol", value });
export const str = (value: string): Value => ({ kind: "string", value });
export const addr = (value: string): Value => ({ kind: "address", value });
export const range = (min: number, max: number): Value => ({ kind: "range", min, max });
export const values = (...parts: Value[]): Value => ({ kind: "concat", values: parts });

export const value = (v: Value): Operand => ({ kind: "value", value: v });
/** An anonymous set, always written in braces (even with one element). */
export const set = (elements: Value[]): Operand => ({ kind: "set", elements });
/** One value alone, several as an anonymous set: how the compiler writes lists. */
export const oneOrSet = (elements: Value[]): Operand => (elements.length === 1 ? value(elements[0]!) : set(elements));
export const namedSet = (name: string): Operand => ({ kind: "named-set", name });
export const flags = (...names: string[]): Operand => ({ kind: "flags", flags: names });
export const exists = (): Operand => ({ kind: "exists" });

export const match = (left: Field, op: "==" | "!=", right: Operand): Statement => ({ kind: "match", left, op, right });
export const counter = (): Statement => ({ kind: "counter" });
export const markOr = (bits: number): Statement => ({ kind: "mark", op: "or", value: bits });
export const markAnd = (bits: number): Statement => ({ kind: "mark", op: "and", value: bits });
export const verdict = (v: "accept" | "drop" | "reject" | "return"): Statement => ({ kind: "verdict", verdict: v });
export const jump = (target: string): Statement => ({ kind: "jump", target });
export const goto = (target: string): Statement => ({ kind: "goto", target });
export const notrack = (): Statement => ({ kind: "notrack" });
export const log = (prefix: string): Statement => ({ kind: "log", prefix, level: "info" });
export const limit = (rate: number, per: "second" | "minute" | "hour" | "day", burst: number): Statement => ({ kind: "limit", rate, per, burst });
export const vmap = (key: Field, entries: VmapEntry[]): Statement => ({ kind: "vmap", key, entries });
export const setUpdate = (name: string, key: Field): Statement => ({ kind: "set-update", set: name, key });
