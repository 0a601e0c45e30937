/**
 * The live inbound TCP sessions the lockout check (lockout.ts) keeps safe: the established
 * connections to this host's local ports (a port something listens on: the connection came
 * in), read from /proc/self/net/tcp and tcp6 of the agent's own network namespace, and the SSH
 * session of the `hostwall` command that asked (SSH_CONNECTION, passed along by the CLI).
 *
 * Hostile input: /proc is the kernel's, but a namespace may hold any number of sockets, so the
 * read is bounded (bytes) and every line is parsed strictly; a line that does not parse is
 * skipped. SSH_CONNECTION is the caller's environment: only a well-formed value is used.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { endianness } from "node:os";
import { formatCidr } from "../model/cidr.ts";
import { parseAddress } from "../model/cidr-parse.ts";

/** One live TCP session to a local port. */
export interface Session {
  family: 4 | 6;
  /** This host's address and port. */
  local: string;
  localPort: number;
  /** The other end. */
  peer: string;
  peerPort: number;
  /** socket: from /proc/net/tcp{,6}; ssh: SSH_CONNECTION of the command that asked. */
  source: "socket" | "ssh";
}

/** The sessions read, or why they could not be. */
export type SessionTable = { ok: true; sessions: Session[]; truncated: boolean } | { ok: false; error: string };

/** At most this much of each /proc table is read (about 100,000 sockets). */
const MAX_TABLE_BYTES = 16 * 1024 * 1024;

const ESTABLISHED = "01";
const LISTEN = "0A";

/**
 * Parses one /proc/net/tcp or tcp6 table: the established connections whose local port has a
 * listener (on that address or the wildcard). `littleEndian`: how the kernel wrote the
 * addresses (host byte order, per 32-bit word).
 */
export function parseTcpTable(text: string, family: 4 | 6, littleEndian = endianness() === "LE"): { established: Session[]; listening: Set<string> } {
  const established: Session[] = [];
  const listening = new Set<string>();
  const hexLen = family === 4 ? 8 : 32;
  const line = new RegExp(`^\\s*\\d+: ([0-9A-Fa-f]{${hexLen}}):([0-9A-Fa-f]{4}) ([0-9A-Fa-f]{${hexLen}}):([0-9A-Fa-f]{4}) ([0-9A-Fa-f]{2}) `);
  for (const l of text.split("\n")) {
    const m = line.exec(l);
    if (!m) continue;
    const state = m[5]!.toUpperCase();
    const local = decodeAddress(m[1]!, littleEndian);
    const localPort = parseInt(m[2]!, 16);
    if (state === LISTEN) listening.add(`${local.address}|${localPort}`);
    else if (state === ESTABLISHED) {
      const peer = decodeAddress(m[3]!, littleEndian);
      established.push({ family: local.family, local: local.address, localPort, peer: peer.address, peerPort: parseInt(m[4]!, 16), source: "socket" });
    }
  }
  return { established, listening };
}

/** A /proc address: 8 hex digits (IPv4) or 32 (IPv6, four words), each word in host byte order. IPv4-mapped IPv6 addresses become IPv4. */
function decodeAddress(hex: string, littleEndian: boolean): { family: 4 | 6; address: string } {
  const bytes: number[] = [];
  for (let w = 0; w < hex.length; w += 8) {
    const word = [0, 2, 4, 6].map((i) => parseInt(hex.slice(w + i, w + i + 2), 16));
    bytes.push(...(littleEndian ? word.reverse() : word));
  }
  if (bytes.length === 4) return { family: 4, address: bytes.join(".") };
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (mapped) return { family: 4, address: bytes.slice(12).join(".") };
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return canonical(groups.join(":"))!;
}

/** The inbound sessions of both tables: established, to a port with a listener. */
export function inboundSessions(tables: { text: string; family: 4 | 6 }[], littleEndian?: boolean): Session[] {
  const parsed = tables.map((t) => parseTcpTable(t.text, t.family, littleEndian));
  const listening = new Set(parsed.flatMap((p) => [...p.listening]));
  const listens = (s: Session) => listening.has(`${s.local}|${s.localPort}`) || listening.has(`0.0.0.0|${s.localPort}`) || listening.has(`::|${s.localPort}`);
  return parsed.flatMap((p) => p.established).filter(listens);
}

/** Reads at most `max` bytes of a /proc file (its size is 0 in stat: read until the end). */
function readBounded(path: string, max: number): { text: string; truncated: boolean } {
  const fd = openSync(path, "r");
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) return { text: Buffer.concat(chunks).toString("latin1"), truncated: false };
      chunks.push(Buffer.from(buf.subarray(0, n)));
      total += n;
      if (total >= max) return { text: Buffer.concat(chunks).toString("latin1"), truncated: true };
    }
  } finally {
    closeSync(fd);
  }
}

/** The live inbound sessions of this process's network namespace. */
export function readSessions(proc = "/proc/self/net"): SessionTable {
  try {
    const v4 = readBounded(`${proc}/tcp`, MAX_TABLE_BYTES);
    // A kernel without IPv6 has no tcp6 table: that is no error.
    let v6 = { text: "", truncated: false };
    try {
      v6 = readBounded(`${proc}/tcp6`, MAX_TABLE_BYTES);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    return { ok: true, sessions: inboundSessions([{ text: v4.text, family: 4 }, { text: v6.text, family: 6 }]), truncated: v4.truncated || v6.truncated };
  } catch (e) {
    return { ok: false, error: `cannot read the socket table ${proc}/tcp: ${(e as Error).message}` };
  }
}

/**
 * SSH_CONNECTION (`client_ip client_port server_ip server_port`) as a session, or undefined
 * when it is absent or malformed (it is the caller's environment: nothing in it is trusted).
 */
export function sshSession(value: string | undefined): Session | undefined {
  if (value === undefined || value.length > 200) return undefined;
  const m = /^([0-9a-fA-F:.]{2,45}) (\d{1,5}) ([0-9a-fA-F:.]{2,45}) (\d{1,5})$/.exec(value.trim());
  if (!m) return undefined;
  const peer = canonical(m[1]!);
  const local = canonical(m[3]!);
  const [peerPort, localPort] = [Number(m[2]), Number(m[4])];
  if (!peer || !local || peer.family !== local.family || peerPort < 1 || peerPort > 65535 || localPort < 1 || localPort > 65535) return undefined;
  return { family: local.family, local: local.address, localPort, peer: peer.address, peerPort, source: "ssh" };
}

/** An address in canonical text (formatCidr's; IPv4-mapped IPv6 as IPv4), or undefined. */
function canonical(text: string): { family: 4 | 6; address: string } | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(text);
  const p = parseAddress(mapped ? mapped[1]! : text);
  return p.ok ? { family: p.cidr.family, address: formatCidr(p.cidr) } : undefined;
}
