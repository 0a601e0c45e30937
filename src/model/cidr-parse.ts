/**
 * Parsing CIDRs and addresses (the value is cidr.ts).
 *
 * Parsing follows Go's net.ParseCIDR / net.ParseIP, which is what Calico uses: no leading
 * zeros in IPv4 octets, 1–4 hex digits per IPv6 group, an IPv4 tail only in the last 32
 * bits, no zones, no brackets, no whitespace, and leading zeros allowed in the prefix length
 * (Go's dtoi accepts "/08"). It scans char codes without regexes or split(), and builds an
 * error message only on the failure path.
 */
import { formatCidr, makeCidr, type CidrParse, type Family } from "./cidr.ts";

// The scanners write the address into r0..r3 and return null, or return a message.

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

/**
 * The address of plain dotted-quad text, or -1 for any other text (for text formatCidr wrote:
 * leading zeros are not refused); nothing allocated (set elements, a million at a time).
 */
export function dottedQuad(s: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch === 46) {
      if (digits === 0 || part > 255) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (ch >= 48 && ch <= 57 && digits < 3) {
      part = part * 10 + (ch - 48);
      digits++;
    } else return -1;
  }
  if (dots !== 3 || digits === 0 || part > 255) return -1;
  return value * 256 + part;
}
