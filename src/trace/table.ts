/**
 * The trace table: hostwall trace's own tables, never hostwall's or anyone else's. They only
 * set `meta nftrace set 1` on packets matching the filters, at the earliest hook of each path
 * (netdev ingress at -600, before hostwall's netdev chains at -500; raw prerouting and output at
 * -350, before hostwall's raw chains at -300), with a rate limit so a flood of matching packets
 * cannot turn into a flood of trace events. The tables' comment names the pid that holds them,
 * which is how a second trace is refused with the holder named. Pure: the script is the output.
 */
import { formatCidr, type Cidr } from "../model/cidr.ts";

export const TRACE_TABLE = "hostwall-trace";
export const TRACE_PRIORITY_NETDEV = -600;
export const TRACE_PRIORITY_RAW = -350;
/** Events per second at most: 50 packets already make a screenful, and cost the kernel nothing. */
export const TRACE_RATE = 50;

export interface TraceFilter {
  src?: Cidr;
  dst?: Cidr;
  /** nft protocol name or number (tcp, udp, icmp, icmpv6, ...). */
  proto?: string;
  sport?: number;
  dport?: number;
  /** Only this interface. */
  iface?: string;
  /** in: arriving packets only; out: leaving ones only. */
  direction?: "in" | "out";
}

/** The match part of the marking rule, per direction; `in` also sees forwarded packets. */
export function traceMatch(f: TraceFilter, dir: "in" | "out", netdev: boolean): string {
  const parts: string[] = [];
  if (f.iface && !netdev) parts.push(`${dir === "in" ? "iifname" : "oifname"} "${f.iface}"`);
  for (const [side, c] of [["saddr", f.src], ["daddr", f.dst]] as const) if (c) parts.push(`${c.family === 4 ? "ip" : "ip6"} ${side} ${formatCidr(c)}`);
  if (f.proto) parts.push(`meta l4proto ${f.proto === "icmpv6" ? "ipv6-icmp" : f.proto}`);
  if (f.sport !== undefined) parts.push(`th sport ${f.sport}`);
  if (f.dport !== undefined) parts.push(`th dport ${f.dport}`);
  return [...parts, `limit rate ${TRACE_RATE}/second`, "meta nftrace set 1"].join(" ");
}

/**
 * The script that creates both trace tables (`netdevIfaces`: the interfaces to watch in netdev,
 * which must exist). An existing trace table makes the `add table`... no: nft's `create table`
 * fails when the table exists, which is the refusal of a second trace, atomically.
 */
export function traceScript(f: TraceFilter, netdevIfaces: readonly string[], pid: number): string {
  const lines: string[] = [];
  const wantIn = f.direction !== "out";
  const wantOut = f.direction !== "in";
  lines.push(`create table netdev ${TRACE_TABLE} { comment "hostwall trace pid ${pid}"; }`);
  if (wantIn) {
    for (const [i, iface] of netdevIfaces.entries()) {
      lines.push(`add chain netdev ${TRACE_TABLE} in-${i} { type filter hook ingress device "${iface}" priority ${TRACE_PRIORITY_NETDEV}; policy accept; }`);
      lines.push(`add rule netdev ${TRACE_TABLE} in-${i} ${traceMatch(f, "in", true)}`);
    }
  }
  lines.push(`create table inet ${TRACE_TABLE} { comment "hostwall trace pid ${pid}"; }`);
  // Packets netdev did not see (no netdev chain for their interface, or fragments) are marked here.
  if (wantIn) {
    lines.push(`add chain inet ${TRACE_TABLE} prerouting { type filter hook prerouting priority ${TRACE_PRIORITY_RAW}; policy accept; }`);
    lines.push(`add rule inet ${TRACE_TABLE} prerouting ${traceMatch(f, "in", false)}`);
  }
  if (wantOut) {
    lines.push(`add chain inet ${TRACE_TABLE} output { type filter hook output priority ${TRACE_PRIORITY_RAW}; policy accept; }`);
    lines.push(`add rule inet ${TRACE_TABLE} output ${traceMatch(f, "out", false)}`);
  }
  return lines.join("\n") + "\n";
}

/** Deletes both trace tables, whichever exist (`destroy` needs nft 1.0.8; `add` then `delete` works on 1.0.6). */
export function removeScript(): string {
  return [`add table netdev ${TRACE_TABLE}`, `delete table netdev ${TRACE_TABLE}`, `add table inet ${TRACE_TABLE}`, `delete table inet ${TRACE_TABLE}`].join("\n") + "\n";
}

/** The pid a trace table's comment names. */
export function holderPid(comment: string | undefined): number | undefined {
  const m = /^hostwall trace pid (\d+)$/.exec(comment ?? "");
  return m ? Number(m[1]) : undefined;
}
