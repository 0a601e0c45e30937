/**
 * The flags of `hostwall trace` (and the query of the agent's GET /trace) → the trace filter and
 * its bounds. Pure: every mistake is a TraceArgError naming the flag (the CLI's usage error, exit
 * 2; the API's 400), found before anything is installed in the kernel. The
 * filter values end up in an nft script, so each is checked to be exactly its kind (an
 * address, a number, an interface name), never passed through.
 */
import { parseCidr } from "../model/cidr-parse.ts";
import type { TraceFilter } from "./table.ts";

/** A bad trace flag or query parameter. */
export class TraceArgError extends Error {}

type Flags = Readonly<Record<string, string | true>>;

const PROTOCOLS = new Set(["tcp", "udp", "icmp", "icmpv6", "sctp", "udplite"]);
const PORT_PROTOCOLS = new Set(["tcp", "udp", "sctp", "udplite", "6", "17", "132", "136"]);
export const DEFAULT_TRACE_COUNT = 10;
export const DEFAULT_TRACE_SECONDS = 30;
/** One hour: a trace is a look at live traffic, not a service. */
const MAX_TRACE_SECONDS = 3600;

export interface TraceArgs {
  filter: TraceFilter;
  count: number;
  durationMs: number;
}

export function traceArgsFromFlags(flags: Flags): TraceArgs {
  const value = (name: string): string | undefined => (typeof flags[name] === "string" ? (flags[name] as string) : undefined);
  const filter: TraceFilter = {};
  for (const side of ["src", "dst"] as const) {
    const text = value(side);
    if (text === undefined) continue;
    const c = parseCidr(text, "lax");
    if (!c.ok) throw new TraceArgError(`--${side} needs an address or a prefix (192.0.2.1, 192.0.2.0/24, 2001:db8::/32), got ${JSON.stringify(text)}: ${c.message}`);
    filter[side] = c.cidr;
  }
  if (filter.src && filter.dst && filter.src.family !== filter.dst.family) throw new TraceArgError(`--src is IPv${filter.src.family} but --dst is IPv${filter.dst.family}; a packet has one IP version`);
  const proto = value("proto")?.toLowerCase();
  if (proto !== undefined) {
    if (!PROTOCOLS.has(proto) && !(/^\d{1,3}$/.test(proto) && Number(proto) >= 1 && Number(proto) <= 255)) throw new TraceArgError(`--proto must be tcp, udp, icmp, icmpv6, sctp, udplite or a number 1-255, got ${JSON.stringify(value("proto"))}`);
    filter.proto = /^\d+$/.test(proto) ? String(Number(proto)) : proto;
  }
  for (const [flag, key] of [["sport", "sport"], ["dport", "dport"]] as const) {
    const text = value(flag);
    if (text === undefined) continue;
    if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) throw new TraceArgError(`--${flag} must be a port 1-65535, got ${JSON.stringify(text)}`);
    if (!filter.proto || !PORT_PROTOCOLS.has(filter.proto)) throw new TraceArgError(`--${flag} needs --proto tcp, udp, sctp or udplite`);
    filter[key] = Number(text);
  }
  const iface = value("iface");
  if (iface !== undefined) {
    if (iface === "" || iface === "." || iface === ".." || Buffer.byteLength(iface) > 15 || !/^[A-Za-z0-9_.@-]+$/.test(iface)) throw new TraceArgError(`--iface needs an interface name (1-15 bytes of letters, digits, '_', '.', '@', '-'), got ${JSON.stringify(iface)}`);
    filter.iface = iface;
  }
  const direction = value("direction");
  if (direction !== undefined) {
    if (direction !== "in" && direction !== "out") throw new TraceArgError(`--direction must be in or out, got ${JSON.stringify(direction)}`);
    filter.direction = direction;
  }
  const countText = value("count");
  const count = countText === undefined ? DEFAULT_TRACE_COUNT : Number(countText);
  if (countText !== undefined && (!/^\d{1,6}$/.test(countText) || count < 1)) throw new TraceArgError(`--count must be a number of packets 1-999999, got ${JSON.stringify(countText)}`);
  const durationMs = durationFlag(value("duration"));
  return { filter, count, durationMs };
}

/** `30`, `30s`, `500ms`, `2m`: at most an hour. */
function durationFlag(text: string | undefined): number {
  if (text === undefined) return DEFAULT_TRACE_SECONDS * 1000;
  const m = /^(\d{1,7})(ms|s|m)?$/.exec(text);
  const ms = m ? Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "m" ? 60_000 : 1000) : NaN;
  if (!m || ms < 100 || ms > MAX_TRACE_SECONDS * 1000) throw new TraceArgError(`--duration must be 100ms to 1h as N (seconds), Ns, Nms or Nm; got ${JSON.stringify(text)}`);
  return ms;
}
