/**
 * The content hash of a ruleset without its script (issue #13: an attempt that adds one
 * address to a million-element set must not hash, or even render, 14 MB of text).
 *
 * The hash is what the agent compares to skip an unchanged config, writes in its tables' stamp
 * and keeps in the last good record (agent.ts, boot.ts, delta-adopt.ts): a SHA-256 of the
 * script as rendered with each set's elements replaced by one line, the set's element count
 * and digest. The digest of a set's elements is a sum, lane by lane mod 2^32, of two 32-bit
 * hashes of each element, so it does not depend on their order and follows a change of a few elements
 * in the time the change takes: an elements array marked as a set change of an earlier one
 * (src/derive.ts) whose digest is known gets that digest plus the added and minus the removed
 * elements' hashes. Every array's digest is kept weakly, so the sets in force keep theirs.
 * A sum of hashes does not resist someone choosing elements to collide; whoever writes the
 * config chooses the ruleset anyway, so only accidents matter, and those are 2^-64 rare.
 */
import { createHash } from "node:crypto";
import { setChangeOf } from "../derive.ts";
import { AddressList, MAX_TEXT } from "./address-list.ts";
import { sameElements } from "./delta.ts";
import type { Elements, NftRuleset } from "./ir.ts";
import { renderScript } from "./render.ts";

/** Two 32-bit lanes, summed mod 2^32 each. */
type Lanes = [number, number];

const digests = new WeakMap<Elements, Lanes>();
/** How many digests were made from nothing (all elements hashed), for the tests. */
export const digestStats = { full: 0, patched: 0 };

/** Two independent 32-bit hashes per element, one per lane (two murmur3 seeds: ~60 ms per 1M, no BigInt). */
const SEED_A = 0x68777eb1;
const SEED_B = 0x2f1b3c5d;

function sum(into: Lanes, elements: Elements, sign: 1 | -1): void {
  let [a, b] = into;
  if (elements instanceof AddressList) {
    // The same hashes as of the text (murmur3 of its ASCII bytes, as Bun.hash.murmur32v3 of the string), no string made: ~70 ms per 1M IPv4 against ~180 ms.
    const bytes = new Uint8Array(MAX_TEXT);
    for (let i = 0; i < elements.length; i++) {
      const n = elements.ascii(i, bytes);
      a = (a + sign * murmur3(bytes, n, SEED_A)) >>> 0;
      b = (b + sign * murmur3(bytes, n, SEED_B)) >>> 0;
    }
    into[0] = a;
    into[1] = b;
    return;
  }
  for (const e of elements) {
    a = (a + sign * Bun.hash.murmur32v3(e, SEED_A)) >>> 0;
    b = (b + sign * Bun.hash.murmur32v3(e, SEED_B)) >>> 0;
  }
  into[0] = a;
  into[1] = b;
}

/** MurmurHash3 (x86, 32-bit) of `bytes[0..n)`: what Bun.hash.murmur32v3 gives for a string of those ASCII bytes. */
function murmur3(bytes: Uint8Array, n: number, seed: number): number {
  let h = seed | 0;
  const blocks = n & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = n & 3;
  if (rest > 0) {
    let k = bytes[blocks]!;
    if (rest > 1) k |= bytes[blocks + 1]! << 8;
    if (rest > 2) k |= bytes[blocks + 2]! << 16;
    k = Math.imul(k, 0xcc9e2d51);
    h ^= Math.imul((k << 15) | (k >>> 17), 0x1b873593);
  }
  h ^= n;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function lanes(elements: Elements): Lanes {
  let d = digests.get(elements);
  if (d) return d;
  // The same elements as an array already digested (a delta found them equal): the same digest.
  const same = sameElements.get(elements);
  d = same && digests.get(same);
  if (d) {
    digests.set(elements, d);
    return d;
  }
  const change = setChangeOf<string, Elements>(elements);
  const base = change && digests.get(change.from);
  if (change && base) {
    d = [base[0], base[1]];
    sum(d, change.removed, -1);
    sum(d, change.added, 1);
    digestStats.patched++;
  } else {
    d = [0, 0];
    sum(d, elements, 1);
    digestStats.full++;
  }
  digests.set(elements, d);
  return d;
}

/**
 * The digest of a set's elements (16 hex digits; the same for the same elements in any order,
 * as a set holds them; no duplicates expected, as the compiler writes none).
 */
export function elementsDigest(elements: Elements): string {
  const [a, b] = lanes(elements);
  return a.toString(16).padStart(8, "0") + b.toString(16).padStart(8, "0");
}

/**
 * The ruleset's content hash, 16 hex digits: the same rulesets (the same elements in any order)
 * hash the same; anything the kernel would hold differently hashes differently.
 */
export function rulesetHash(ruleset: NftRuleset): string {
  const skeleton: NftRuleset = {
    tables: ruleset.tables.map((t) => ({ ...t, sets: t.sets.map((s) => ({ ...s, elements: s.elements.length === 0 ? [] : [`${s.elements.length}:${elementsDigest(s.elements)}`] })) })),
  };
  return createHash("sha256").update(renderScript(skeleton).text).digest("hex").slice(0, 16);
}
