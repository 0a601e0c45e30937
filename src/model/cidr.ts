/**
 * CIDRs: parse, validate, canonical text and normalisation, sized for network sets of a
 * million entries (issue #4). ip-num is too slow for that (reference/bun.md §7), so this is
 * our own code, with ip-num kept only as a test oracle.
 *
 * Representation. A Cidr is a plain object `{family, prefix, a0, a1, a2, a3}`: the network
 * address as four big-endian unsigned 32-bit words, *left-aligned*, so an IPv4 address lives
 * in `a0` and `a1..a3` are 0. Left alignment puts prefix bit i at the same place for both
 * families, so masking, containment and ordering share one code path. Plain numbers won
 * against a bigint hi/lo pair when measured on 1M IPv6 values in Bun (build 94 ms / +90 MB
 * against 390 ms / +220 MB; sort 376 ms against 480 ms): JSC keeps doubles unboxed but puts
 * every bigint on the heap. Every Cidr has the same shape, so the hot loops stay monomorphic.
 * The address is always masked: host bits are zero in every Cidr this module returns.
 *
 * Parsing follows Go's net.ParseCIDR / net.ParseIP, which is what Calico uses: no leading
 * zeros in IPv4 octets, 1–4 hex digits per IPv6 group, an IPv4 tail only in the last 32
 * bits, no zones, no brackets, no whitespace, and leading zeros allowed in the prefix length
 * (Go's dtoi accepts "/08"). It scans char codes without regexes or split(), and builds an
 * error message only on the failure path.
 *
 * Normalisation is sort and sweep, O(n log n). IPv4 packs `start * 64 + prefix` into a
 * Float64Array and uses the native numeric sort. IPv6 radix-sorts an index permutation on
 * the 16-bit digits of the start address. The sweep joins overlapping and touching ranges,
 * then cuts each joined range greedily into the largest aligned blocks. That gives the
 * fewest CIDRs, because each block is the largest aligned one that starts at its position.
 */

/** IP version: 4 or 6. */
export type Family = 4 | 6;

/** A network prefix with its host bits cleared. */
export interface Cidr {
  /** IP version. */
  readonly family: Family;
  /** Prefix length: 0–32 for IPv4, 0–128 for IPv6. */
  readonly prefix: number;
  /** Address bits 0–31, the most significant ones; the whole address for IPv4. Unsigned. */
  readonly a0: number;
  /** Address bits 32–63 (IPv6 only; 0 for IPv4). */
  readonly a1: number;
  /** Address bits 64–95 (IPv6 only; 0 for IPv4). */
  readonly a2: number;
  /** Address bits 96–127 (IPv6 only; 0 for IPv4). */
  readonly a3: number;
}

/** Diagnostic codes produced by the parsers. */
export type CidrErrorCode = "INVALID_CIDR" | "CIDR_HOST_BITS";

/** Result of parsing: a Cidr, or an error code with a message for humans. */
/** `hostBits`: lax mode cleared set host bits (`10.0.0.1/8` read as 10.0.0.0/8). */
export type CidrParse = { ok: true; cidr: Cidr; hostBits?: true } | { ok: false; code: CidrErrorCode; message: string };

/** Every error code, for tests that check they were all exercised. */
export const CIDR_ERROR_CODES: readonly CidrErrorCode[] = ["INVALID_CIDR", "CIDR_HOST_BITS"];

/** The longest prefix of a family: 32 or 128. */
export function maxPrefix(family: Family): number {
  return family === 4 ? 32 : 128;
}

/** Builds a Cidr, clearing host bits. IPv4 takes its address in `a0`; pass 0 for the rest. */
export function makeCidr(family: Family, prefix: number, a0: number, a1 = 0, a2 = 0, a3 = 0): Cidr {
  return {
    family,
    prefix,
    a0: maskWord(a0, prefix),
    a1: maskWord(a1, prefix - 32),
    a2: maskWord(a2, prefix - 64),
    a3: maskWord(a3, prefix - 96),
  };
}

/** LOW[n] = 2^n - 1, the n low bits set, for n in 0..32 (as unsigned numbers). */
const LOW: number[] = Array.from({ length: 33 }, (_, n) => 2 ** n - 1);

/** Keeps the top `bits` bits of a 32-bit word (bits may be outside 0..32). */
function maskWord(w: number, bits: number): number {
  if (bits >= 32) return w >>> 0;
  if (bits <= 0) return 0;
  return (w & ~LOW[32 - bits]!) >>> 0;
}

// ---------------------------------------------------------------------------------------
// Parsing. The scanners write the address into r0..r3 and return null, or return a message.

let r0 = 0;
let r1 = 0;
let r2 = 0;
let r3 = 0;
const groups = new Uint16Array(8);

/**
 * Parses "a.b.c.d", "a.b.c.d/n", an IPv6 address, or "v6/n". A bare address becomes /32 or
 * /128. Mode "strict" (Calico rule nets) rejects set host bits with CIDR_HOST_BITS and a
 * suggestion of the masked form; mode "lax" (network-set nets) clears them, so 10.0.0.1/8 is
 * stored as 10.0.0.0/8. IPv4-mapped IPv6 (`::ffff:192.0.2.1`) stays family 6: nft matches
 * it only in IPv6 headers. (Calico's Go code sometimes treats it as IPv4, via net.IP.To4.)
 */
export function parseCidr(text: string, mode: "strict" | "lax"): CidrParse {
  const slash = text.indexOf("/");
  const end = slash < 0 ? text.length : slash;
  const family = scanAddress(text, end);
  if (typeof family === "string") return invalid(text, family);
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const bad = scanPrefix(text, slash + 1, max);
    if (bad !== null) return invalid(text, bad);
    prefix = scanned;
  }
  const cidr = makeCidr(family, prefix, r0, r1, r2, r3);
  if (cidr.a0 !== r0 || cidr.a1 !== r1 || cidr.a2 !== r2 || cidr.a3 !== r3) {
    if (mode === "strict") return { ok: false, code: "CIDR_HOST_BITS", message: `host bits set: did you mean ${formatCidr(cidr)}?` };
    return { ok: true, cidr, hostBits: true };
  }
  return { ok: true, cidr };
}

/** Parses a plain address without a prefix (HostEndpoint expectedIPs); gives a /32 or /128. */
export function parseAddress(text: string): CidrParse {
  if (text.includes("/")) return invalid(text, "expected a plain IP address without a /prefix");
  return parseCidr(text, "strict");
}

let scanned = 0;

/** Decimal prefix length from `from` to the end of text, like Go's dtoi: digits only. */
function scanPrefix(text: string, from: number, max: number): string | null {
  if (from === text.length) return "missing prefix length after /";
  let n = 0;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return `prefix /${text.slice(from)} is not a decimal number 0-${max}`;
    if (n <= max) n = n * 10 + c - 48;
  }
  if (n > max) return `prefix /${text.slice(from)} is longer than ${max} bits`;
  scanned = n;
  return null;
}

/** Decides the family the way Go's ParseIP does (first '.' or ':') and scans the address. */
function scanAddress(text: string, end: number): Family | string {
  if (end === 0) return text.length === 0 ? "empty string is not an IP address" : "missing address before /";
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) return scanV4(text, 0, end) ?? 4;
    if (c === 58) return scanV6(text, 0, end) ?? 6;
  }
  return "not an IP address (no '.' or ':')";
}

function scanV4(s: string, from: number, to: number): string | null {
  let acc = 0;
  let val = 0;
  let digits = 0;
  let dots = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits === 1 && val === 0) return explainV4(s.slice(from, to));
      val = val * 10 + c - 48;
      digits++;
      if (val > 255) return explainV4(s.slice(from, to));
    } else if (c === 46 && digits > 0 && dots < 3) {
      acc = acc * 256 + val;
      dots++;
      val = 0;
      digits = 0;
    } else {
      return explainV4(s.slice(from, to));
    }
  }
  if (digits === 0 || dots !== 3) return explainV4(s.slice(from, to));
  r0 = acc * 256 + val;
  r1 = r2 = r3 = 0;
  return null;
}

/** Failure path of scanV4: says what is wrong in the order a reader would check. */
function explainV4(a: string): string {
  const odd = /[^0-9.]/.exec(a);
  if (odd) return `unexpected character ${JSON.stringify(odd[0])} in IPv4 address`;
  const parts = a.split(".");
  if (parts.length !== 4) return `IPv4 address needs 4 octets, found ${parts.length}`;
  for (const p of parts) {
    if (p === "") return "empty octet in IPv4 address";
    if (p.length > 1 && p[0] === "0") return `octet ${p} has a leading zero (ambiguous: octal or decimal?)`;
    if (Number(p) > 255) return `octet ${p} is out of range 0-255`;
  }
  return "invalid IPv4 address";
}

/** Scans an IPv6 address into r0..r3; mirrors Go's parseIPv6 (net/netip). */
function scanV6(s: string, from: number, to: number): string | null {
  let i = from;
  let n = 0;
  let ellipsis = -1;
  if (to - i >= 2 && s.charCodeAt(i) === 58 && s.charCodeAt(i + 1) === 58) {
    ellipsis = 0;
    i += 2;
  }
  while (i < to && n < 8) {
    let v = 0;
    let j = i;
    for (; j < to; j++) {
      const h = hexValue(s.charCodeAt(j));
      if (h < 0) break;
      v = v * 16 + h;
    }
    if (j < to && s.charCodeAt(j) === 46) {
      if (ellipsis < 0 && n !== 6) return "an embedded IPv4 address must replace the last two groups";
      if (n > 6) return "no room for an embedded IPv4 address after 7 groups";
      const bad = scanV4(s, i, to);
      if (bad !== null) return `${bad} (embedded in IPv6)`;
      groups[n++] = r0 >>> 16;
      groups[n++] = r0 & 0xffff;
      i = to;
      break;
    }
    if (j === i) {
      const c = s[j]!;
      if (c !== ":") return `unexpected character ${JSON.stringify(c)} in IPv6 address`;
      return i === from ? "IPv6 address starts with a single ':'" : "':::' in IPv6 address";
    }
    if (j - i > 4) return `IPv6 group ${s.slice(i, j)} has more than 4 hex digits`;
    groups[n++] = v;
    i = j;
    if (i === to) break;
    if (s.charCodeAt(i) !== 58) return `unexpected character ${JSON.stringify(s[i])} in IPv6 address`;
    if (i + 1 === to) return "IPv6 address ends with a single ':'";
    i++;
    if (s.charCodeAt(i) === 58) {
      if (ellipsis >= 0) return "more than one :: in IPv6 address";
      ellipsis = n;
      i++;
    }
  }
  if (i !== to) return "IPv6 address has more than 8 groups";
  if (n < 8) {
    if (ellipsis < 0) return `IPv6 address needs 8 groups or a ::, found ${n} groups`;
    const gap = 8 - n;
    for (let k = n - 1; k >= ellipsis; k--) groups[k + gap] = groups[k]!;
    for (let k = ellipsis; k < ellipsis + gap; k++) groups[k] = 0;
  } else if (ellipsis >= 0) {
    return ":: must stand for at least one group of zeros, but there are already 8 groups";
  }
  r0 = (groups[0]! * 65536 + groups[1]!) >>> 0;
  r1 = (groups[2]! * 65536 + groups[3]!) >>> 0;
  r2 = (groups[4]! * 65536 + groups[5]!) >>> 0;
  r3 = (groups[6]! * 65536 + groups[7]!) >>> 0;
  return null;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Builds an INVALID_CIDR result, preferring the mistakes people actually make. */
function invalid(text: string, detail: string): CidrParse {
  let message = detail;
  const ws = /\s/.exec(text);
  if (ws) message = `whitespace is not allowed (found ${JSON.stringify(ws[0])} at offset ${ws.index})`;
  else if (/[[\]]/.test(text)) message = "brackets are not allowed around an IPv6 address";
  else if (text.includes("%")) message = `zone ${text.slice(text.indexOf("%")).split("/")[0]} is not allowed`;
  return { ok: false, code: "INVALID_CIDR", message };
}

// ---------------------------------------------------------------------------------------
// Text, comparison, containment.

const OCTET: string[] = Array.from({ length: 256 }, (_, i) => String(i));

function formatV4(a: number): string {
  return `${OCTET[a >>> 24]}.${OCTET[(a >>> 16) & 255]}.${OCTET[(a >>> 8) & 255]}.${OCTET[a & 255]}`;
}

/** Output buffer for formatV6: one flat string per call joins 10x faster than a rope. */
const chars = new Uint16Array(48);
const HEX_DIGIT = Array.from("0123456789abcdef", (c) => c.charCodeAt(0));

/** IPv6 text with "/prefix" unless prefix is 128. */
function formatV6(a0: number, a1: number, a2: number, a3: number, prefix: number): string {
  // RFC 5952 §5 and Go: IPv4-mapped addresses keep the dotted tail.
  if (a0 === 0 && a1 === 0 && a2 === 0xffff) return `::ffff:${formatV4(a3)}${prefix === 128 ? "" : `/${prefix}`}`;
  const g = groups;
  g[0] = a0 >>> 16; g[1] = a0; g[2] = a1 >>> 16; g[3] = a1; // Uint16Array truncates
  g[4] = a2 >>> 16; g[5] = a2; g[6] = a3 >>> 16; g[7] = a3;
  // Longest run of zero groups, first one on ties; a single zero group is not compressed.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; i++) {
    if (g[i] !== 0) continue;
    let j = i + 1;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  let n = 0;
  for (let i = 0; i < 8; i++) {
    if (i === best) {
      chars[n++] = 58;
      chars[n++] = 58;
      i += bestLen - 1;
      continue;
    }
    if (n > 0 && chars[n - 1] !== 58) chars[n++] = 58;
    const v = g[i]!;
    if (v >= 0x1000) chars[n++] = HEX_DIGIT[v >>> 12]!;
    if (v >= 0x100) chars[n++] = HEX_DIGIT[(v >>> 8) & 15]!;
    if (v >= 0x10) chars[n++] = HEX_DIGIT[(v >>> 4) & 15]!;
    chars[n++] = HEX_DIGIT[v & 15]!;
  }
  if (prefix !== 128) {
    chars[n++] = 47;
    if (prefix >= 100) chars[n++] = 49;
    if (prefix >= 10) chars[n++] = 48 + (Math.floor(prefix / 10) % 10);
    chars[n++] = 48 + (prefix % 10);
  }
  return String.fromCharCode.apply(null, chars.subarray(0, n) as unknown as number[]);
}

/**
 * Canonical text. IPv4 is a dotted quad; IPv6 is RFC 5952 (lowercase, longest run of zero
 * groups compressed, the first one on ties, never a single group; IPv4-mapped addresses as
 * `::ffff:a.b.c.d`). Host prefixes (/32, /128) print as the bare address, as nft lists them;
 * every other prefix prints "/n", including /0.
 */
export function formatCidr(c: Cidr): string {
  if (c.family === 6) return formatV6(c.a0, c.a1, c.a2, c.a3, c.prefix);
  return c.prefix === 32 ? formatV4(c.a0) : `${formatV4(c.a0)}/${c.prefix}`;
}

/** True for a prefix of length 0 (0.0.0.0/0, ::/0), which matches every address. */
export function isCatchAll(c: Cidr): boolean {
  return c.prefix === 0;
}

/** True if every address of `inner` is in `outer` (same family only). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  const p = outer.prefix;
  return (
    outer.family === inner.family &&
    p <= inner.prefix &&
    maskWord(inner.a0, p) === outer.a0 &&
    maskWord(inner.a1, p - 32) === outer.a1 &&
    maskWord(inner.a2, p - 64) === outer.a2 &&
    maskWord(inner.a3, p - 96) === outer.a3
  );
}

/** Orders by family (4 first), then address, then prefix length (shorter first). */
export function compareCidr(a: Cidr, b: Cidr): number {
  return a.family - b.family || a.a0 - b.a0 || a.a1 - b.a1 || a.a2 - b.a2 || a.a3 - b.a3 || a.prefix - b.prefix;
}

// ---------------------------------------------------------------------------------------
// Normalisation.

/**
 * The minimal sorted, disjoint, non-adjacent CIDR cover of the union of the inputs: covered
 * and overlapping prefixes are dropped, touching ranges joined, and each range is cut into the
 * fewest CIDRs. /0 comes back as two /1 halves, as nft and Calico need. The output does not
 * depend on input order. Meant for one family; a mixed list gives IPv4 first, then IPv6.
 */
export function normalizeCidrs(list: readonly Cidr[]): Cidr[] {
  let n4 = 0;
  for (const c of list) if (c.family === 4) n4++;
  const out: Cidr[] = [];
  if (n4 > 0) normalizeV4(list, n4, out);
  if (n4 < list.length) normalizeV6(list, list.length - n4, out);
  return out;
}

function normalizeV4(list: readonly Cidr[], n: number, out: Cidr[]): void {
  // start < 2^32 and prefix < 64, so start * 64 + prefix is exact in a double.
  const keys = new Float64Array(n);
  let k = 0;
  for (const c of list) if (c.family === 4) keys[k++] = maskWord(c.a0, c.prefix) * 64 + c.prefix;
  keys.sort();
  let start = 0;
  let end = -1; // exclusive; -1 = no open range
  let single = -1; // prefix while the open range is exactly one input CIDR
  for (let i = 0; i < n; i++) {
    const key = keys[i]!;
    const s = Math.floor(key / 64);
    const p = key - s * 64;
    const e = s + 2 ** (32 - p);
    if (s <= end) {
      if (e > end) {
        end = e;
        single = -1;
      }
    } else {
      if (end >= 0) emitV4(start, end, single, out);
      start = s;
      end = e;
      single = p;
    }
  }
  emitV4(start, end, single, out);
}

function emitV4(s: number, e: number, single: number, out: Cidr[]): void {
  if (single > 0) {
    out.push({ family: 4, prefix: single, a0: s, a1: 0, a2: 0, a3: 0 });
    return;
  }
  while (s < e) {
    // The largest block aligned at s (2^31 at most, so /0 becomes two /1s) that fits.
    let size = s === 0 ? 2 ** 31 : (s & -s) >>> 0;
    while (s + size > e) size /= 2;
    out.push({ family: 4, prefix: 1 + Math.clz32(size), a0: s, a1: 0, a2: 0, a3: 0 });
    s += size;
  }
}

function normalizeV6(list: readonly Cidr[], n: number, out: Cidr[]): void {
  const words = new Uint32Array(n * 4);
  const prefixes = new Uint8Array(n);
  let k = 0;
  for (const c of list) {
    if (c.family !== 6) continue;
    const p = c.prefix;
    words[k * 4] = maskWord(c.a0, p);
    words[k * 4 + 1] = maskWord(c.a1, p - 32);
    words[k * 4 + 2] = maskWord(c.a2, p - 64);
    words[k * 4 + 3] = maskWord(c.a3, p - 96);
    prefixes[k++] = p;
  }
  const order = n > 256 ? radixOrder(words, n) : comparisonOrder(words, n);
  // The open range is [s, l] with an inclusive last address, since 2^128 does not fit; the
  // next input is [a, b]. Scalars, not arrays: this loop runs once per input. `single` is the
  // prefix while the open range is still exactly one input CIDR (most are), else -1, and
  // lets the flush skip cutting blocks.
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, l0 = 0, l1 = 0, l2 = 0, l3 = 0;
  let single = -1;
  for (let i = 0; i < n; i++) {
    const x = order[i]!;
    const p = prefixes[x]!;
    const a0 = words[x * 4]!, a1 = words[x * 4 + 1]!, a2 = words[x * 4 + 2]!, a3 = words[x * 4 + 3]!;
    const b0 = (a0 | HOST_BITS[p * 4]!) >>> 0;
    const b1 = (a1 | HOST_BITS[p * 4 + 1]!) >>> 0;
    const b2 = (a2 | HOST_BITS[p * 4 + 2]!) >>> 0;
    const b3 = (a3 | HOST_BITS[p * 4 + 3]!) >>> 0;
    if (i > 0) {
      if ((a0 - l0 || a1 - l1 || a2 - l2 || a3 - l3) <= 0 || isSuccessor(a0, a1, a2, a3, l0, l1, l2, l3)) {
        if ((b0 - l0 || b1 - l1 || b2 - l2 || b3 - l3) > 0) {
          l0 = b0; l1 = b1; l2 = b2; l3 = b3;
          single = -1;
        }
        continue;
      }
      flushV6(s0, s1, s2, s3, l0, l1, l2, l3, single, out);
    }
    s0 = a0; s1 = a1; s2 = a2; s3 = a3;
    l0 = b0; l1 = b1; l2 = b2; l3 = b3;
    single = p;
  }
  if (n > 0) flushV6(s0, s1, s2, s3, l0, l1, l2, l3, single, out);
}

/** True if a = l + 1 (as 128-bit numbers). */
function isSuccessor(a0: number, a1: number, a2: number, a3: number, l0: number, l1: number, l2: number, l3: number): boolean {
  const MAX = 0xffffffff;
  if (l3 !== MAX) return a3 === l3 + 1 && a2 === l2 && a1 === l1 && a0 === l0;
  if (a3 !== 0) return false;
  if (l2 !== MAX) return a2 === l2 + 1 && a1 === l1 && a0 === l0;
  if (a2 !== 0) return false;
  if (l1 !== MAX) return a1 === l1 + 1 && a0 === l0;
  return a1 === 0 && l0 !== MAX && a0 === l0 + 1;
}

const S = new Uint32Array(4);
const L = new Uint32Array(4);

/** Emits the closed range [s, l]: as is if it is one input CIDR, else cut into blocks. */
function flushV6(s0: number, s1: number, s2: number, s3: number, l0: number, l1: number, l2: number, l3: number, single: number, out: Cidr[]): void {
  if (single > 0) {
    out.push({ family: 6, prefix: single, a0: s0, a1: s1, a2: s2, a3: s3 });
    return;
  }
  S[0] = s0; S[1] = s1; S[2] = s2; S[3] = s3;
  L[0] = l0; L[1] = l1; L[2] = l2; L[3] = l3;
  emitV6(S, L, out);
}

/** HOST_BITS[p * 4 + w]: the host-bit mask of word w for an IPv6 prefix of length p. */
const HOST_BITS = new Uint32Array(129 * 4).map((_, i) => LOW[clampBits(128 - (i >> 2) - 32 * (3 - (i & 3)))]!);

function clampBits(b: number): number {
  return b < 0 ? 0 : b > 32 ? 32 : b;
}

const D = new Uint32Array(4);

/** Cuts the inclusive range [S, L] into the fewest CIDRs (S is modified). */
function emitV6(S: Uint32Array, L: Uint32Array, out: Cidr[]): void {
  for (;;) {
    // size = L - S + 1; the block has 2^k addresses with k limited by size and alignment.
    let borrow = 0;
    for (let w = 3; w >= 0; w--) {
      const d = L[w]! - S[w]! - borrow;
      borrow = d < 0 ? 1 : 0;
      D[w] = d; // wraps modulo 2^32
    }
    let carry = 1;
    for (let w = 3; w >= 0 && carry; w--) {
      D[w] = D[w]! + 1;
      carry = D[w] === 0 ? 1 : 0;
    }
    let k = carry ? 128 : 127 - leadingZeros128(D);
    const tz = trailingZeros128(S);
    if (tz < k) k = tz;
    if (k > 127) k = 127; // ::/0 becomes two /1s
    const p = 128 - k;
    out.push({ family: 6, prefix: p, a0: S[0]!, a1: S[1]!, a2: S[2]!, a3: S[3]! });
    // S = last address of the block + 1; stop when the block ended at L.
    let done = true;
    for (let w = 0; w < 4; w++) {
      const last = (S[w]! | LOW[clampBits(k - 32 * (3 - w))]!) >>> 0;
      if (last !== L[w]) done = false;
      S[w] = last;
    }
    if (done) return;
    for (let w = 3; w >= 0; w--) {
      S[w] = S[w]! + 1;
      if (S[w] !== 0) break;
    }
  }
}

function leadingZeros128(a: Uint32Array): number {
  for (let w = 0; w < 4; w++) if (a[w] !== 0) return 32 * w + Math.clz32(a[w]!);
  return 128;
}

function trailingZeros128(a: Uint32Array): number {
  for (let w = 3; w >= 0; w--) {
    const v = a[w]!;
    if (v !== 0) return 32 * (3 - w) + 31 - Math.clz32(v & -v);
  }
  return 128;
}

/** Indices 0..n-1 ordered by address, for short lists (rule nets) where radix set-up dominates. */
function comparisonOrder(words: Uint32Array, n: number): Uint32Array {
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((x, y) => {
    for (let w = 0; w < 4; w++) {
      const d = words[x * 4 + w]! - words[y * 4 + w]!;
      if (d !== 0) return d;
    }
    return 0;
  });
  return Uint32Array.from(order);
}

/**
 * Indices 0..n-1 ordered by 128-bit address (4 words each), by LSD radix sort on 16-bit
 * digits. All histograms are taken in one sequential pass; a digit that is the same for
 * every entry (common: a list inside one /32) costs no scatter pass.
 */
function radixOrder(words: Uint32Array, n: number): Uint32Array {
  const counts = new Uint32Array(8 * 65536);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < 8; d++) {
      const at = d * 65536 + digitOf(words, i, d);
      counts[at] = counts[at]! + 1;
    }
  }
  let src = new Uint32Array(n);
  for (let i = 0; i < n; i++) src[i] = i;
  let dst = new Uint32Array(n);
  for (let d = 0; d < 8; d++) {
    const base = d * 65536;
    if (counts[base + digitOf(words, 0, d)] === n) continue;
    let sum = 0;
    for (let v = 0; v < 65536; v++) {
      const c = counts[base + v]!;
      counts[base + v] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const x = src[i]!;
      const at = base + digitOf(words, x, d);
      const pos = counts[at]!;
      counts[at] = pos + 1;
      dst[pos] = x;
    }
    const t = src;
    src = dst;
    dst = t;
  }
  return src;
}

/** Digit d (0 = least significant 16 bits) of entry i. */
function digitOf(words: Uint32Array, i: number, d: number): number {
  const w = words[i * 4 + 3 - (d >> 1)]!;
  return d & 1 ? w >>> 16 : w & 0xffff;
}

/** Splits a normalised list into single hosts (/32, /128) and real prefixes, keeping order. */
export function splitHosts(list: readonly Cidr[]): { hosts: Cidr[]; prefixes: Cidr[] } {
  const hosts: Cidr[] = [];
  const prefixes: Cidr[] = [];
  for (const c of list) (c.prefix === (c.family === 4 ? 32 : 128) ? hosts : prefixes).push(c);
  return { hosts, prefixes };
}
