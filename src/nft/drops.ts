/**
 * Drop summaries (#14 item 5): with CompileOptions.dropSummaries every Deny rule adds the
 * address it denies to a dynamic set of its own (names.ts dropSet: bounded, expiring, a
 * counter per address). This module is the reading side, pure: which sets belong to which
 * rule (from the IR in force), `nft -j list set` → addresses with counters, and the summary
 * per rule: totals and the top sources by packets. Log rules have sets too (`logs-…`: the
 * addresses whose packets they logged), summarised the same way.
 */
import type { NftRuleset } from "./ir.ts";
import { expectObject, fail, ListingParseError, setElementText, type Json, type ListingError } from "./listing-expr.ts";

/** One address a rule denied, while its element lives. */
export interface DropSource {
  address: string;
  packets: number;
  bytes: number;
  /** Seconds until the element expires (renewed by every drop). */
  expires?: number;
}

/** A drop-summary set of the ruleset in force. */
export interface DropSet {
  family: string;
  table: string;
  set: string;
  /** The rule's origin id, e.g. `gnp/block/ingress/0`. */
  origin: string;
  /** drop: a Deny rule's set (`drops-…`); log: a Log rule's (`logs-…`, the addresses it logged). */
  kind: "drop" | "log";
}

/** What one Deny rule dropped: every family and table together. */
export interface DropSummary {
  origin: string;
  /** Sum over every address still in the sets. */
  packets: number;
  bytes: number;
  /** Addresses in the sets (at most the sets' size each). */
  sources: number;
  /** The top sources by packets (then bytes, then address). */
  top: DropSource[];
}

/** The drop-summary sets of a ruleset, with the rule each one belongs to (its comment). */
export function dropSets(ruleset: NftRuleset): DropSet[] {
  return ruleset.tables.flatMap((t) => t.sets.filter((s) => s.dynamic && s.comment).map((s) => ({ family: t.family, table: t.name, set: s.name, origin: s.comment!, kind: s.name.startsWith("logs-") ? ("log" as const) : ("drop" as const) })));
}

/** `nft -j list set …` of a drop-summary set → its addresses with counters. */
export function parseDropSetJson(json: string): { ok: true; sources: DropSource[] } | { ok: false; error: ListingError } {
  try {
    const doc = expectObject(JSON.parse(json), "$");
    if (!Array.isArray(doc.nftables)) fail("$.nftables", "no nftables array");
    const sources: DropSource[] = [];
    doc.nftables.forEach((item, i) => {
      const obj = expectObject(item, `$.nftables[${i}]`);
      if (!("set" in obj)) return;
      const set = expectObject(obj.set, `$.nftables[${i}].set`);
      const elem = set.elem === undefined ? [] : set.elem;
      if (!Array.isArray(elem)) fail(`$.nftables[${i}].set.elem`, "elem is not an array");
      elem.forEach((e, j) => sources.push(source(e, `$.nftables[${i}].set.elem[${j}]`)));
    });
    return { ok: true, sources };
  } catch (e) {
    if (e instanceof ListingParseError) return { ok: false, error: e.error };
    if (e instanceof SyntaxError) return { ok: false, error: { code: "NFT_LISTING_INVALID", path: "$", message: `not JSON: ${e.message}` } };
    throw e;
  }
}

function source(e: Json, path: string): DropSource {
  const wrapper = expectObject(e, path);
  const inner = expectObject(wrapper.elem, `${path}.elem`);
  const counter = expectObject(inner.counter, `${path}.elem.counter`);
  const [address] = setElementText(inner.val, `${path}.elem.val`);
  const n = (v: Json | undefined, p: string) => (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : fail(p, "expected a count"));
  return {
    address: address!,
    packets: n(counter.packets, `${path}.elem.counter.packets`),
    bytes: n(counter.bytes, `${path}.elem.counter.bytes`),
    ...(typeof inner.expires === "number" ? { expires: inner.expires } : {}),
  };
}

/** Per rule: the sources of all its sets together, totals, and the top `top` by packets. */
export function summariseDrops(read: { origin: string; sources: DropSource[] }[], top = 10): DropSummary[] {
  const byOrigin = new Map<string, Map<string, DropSource>>();
  for (const { origin, sources } of read) {
    const m = byOrigin.get(origin) ?? new Map<string, DropSource>();
    for (const s of sources) {
      const prev = m.get(s.address);
      m.set(s.address, prev ? { ...prev, packets: prev.packets + s.packets, bytes: prev.bytes + s.bytes } : { ...s });
    }
    byOrigin.set(origin, m);
  }
  const order = (a: DropSource, b: DropSource) => b.packets - a.packets || b.bytes - a.bytes || (a.address < b.address ? -1 : a.address > b.address ? 1 : 0);
  return [...byOrigin.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([origin, m]) => {
      const all = [...m.values()].sort(order);
      return { origin, packets: all.reduce((n, s) => n + s.packets, 0), bytes: all.reduce((n, s) => n + s.bytes, 0), sources: all.length, top: all.slice(0, top) };
    });
}
