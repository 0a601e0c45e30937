/**
 * Addresses as nft lists them and as the compiler writes them, brought to one form: nft merges
 * touching elements of interval sets and prints what is not one prefix as a range, so both
 * sides become the fewest CIDRs that cover the same addresses (model/cidr-normalize.ts).
 */
import { formatCidr, makeCidr, type Cidr } from "../model/cidr.ts";
import { normalizeCidrs } from "../model/cidr-normalize.ts";
import { parseCidr } from "../model/cidr-parse.ts";

function toBig(c: Cidr): bigint {
  return c.family === 4 ? BigInt(c.a0) : (BigInt(c.a0) << 96n) | (BigInt(c.a1) << 64n) | (BigInt(c.a2) << 32n) | BigInt(c.a3);
}

function fromBig(family: 4 | 6, n: bigint, prefix: number): Cidr {
  if (family === 4) return makeCidr(4, prefix, Number(n));
  const word = (shift: bigint) => Number((n >> shift) & 0xffffffffn);
  return makeCidr(6, prefix, word(96n), word(64n), word(32n), word(0n));
}

/** The CIDRs covering exactly `first`–`last` (inclusive), or undefined when they are not two addresses of one family in order. */
export function addressRangeCidrs(first: unknown, last: unknown): string[] | undefined {
  if (typeof first !== "string" || typeof last !== "string") return undefined;
  const a = parseCidr(first, "strict");
  const b = parseCidr(last, "strict");
  if (!a.ok || !b.ok || a.cidr.family !== b.cidr.family) return undefined;
  const family = a.cidr.family;
  const bits = family === 4 ? 32 : 128;
  if (a.cidr.prefix !== bits || b.cidr.prefix !== bits) return undefined;
  let lo = toBig(a.cidr);
  const hi = toBig(b.cidr);
  if (lo > hi) return undefined;
  const out: string[] = [];
  while (lo <= hi) {
    // The largest aligned block that starts at lo and ends within hi.
    let size = 0;
    while (size < bits && (lo & ((1n << BigInt(size + 1)) - 1n)) === 0n && lo + (1n << BigInt(size + 1)) - 1n <= hi) size++;
    out.push(formatCidr(fromBig(family, lo, bits - size)));
    lo += 1n << BigInt(size);
  }
  return out;
}

/** Address or CIDR texts → the fewest canonical CIDRs with the same union; undefined if one does not parse. */
export function canonicalAddresses(texts: readonly string[]): string[] | undefined {
  const cidrs: Cidr[] = [];
  for (const t of texts) {
    const p = parseCidr(t, "lax");
    if (!p.ok) return undefined;
    cidrs.push(p.cidr);
  }
  return normalizeCidrs(cidrs).map(formatCidr);
}
