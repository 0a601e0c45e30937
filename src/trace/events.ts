/**
 * `nft monitor trace` output → one value per traced packet. nft 1.0.6 prints trace events as
 * text even with -j (measured in a namespace: `nft -j monitor trace` gave the same text lines),
 * so this parses the text, which has one fixed shape per event kind:
 *
 *   trace id 1a2b3c4d netdev hostwall ingress-eth0 packet: iif "eth0" ... ip saddr X ...
 *   trace id 1a2b3c4d netdev hostwall ingress-eth0 rule ip saddr X drop comment "gnp/p/ingress/0" (verdict drop)
 *   trace id 1a2b3c4d inet hostwall filter-input policy accept
 *
 * Pure: the lines are the input. Anything else (nft's banners, a line cut off) is skipped, never
 * guessed at.
 */

export interface TraceEvent {
  id: string;
  family: string;
  table: string;
  chain: string;
  kind: "packet" | "rule" | "policy";
  /** packet: the packet fields; rule: the rule text without comment and verdict; policy: the verdict. */
  text: string;
  /** rule: its comment. */
  comment?: string;
  /** rule: "accept", "drop", "continue", "jump chain", "return", ...; policy: accept or drop. */
  verdict?: string;
}

const LINE = /^trace id ([0-9a-f]+) (\S+) (\S+) (\S+) (packet:|rule|policy) ?(.*)$/;
const RULE_TAIL = /^(.*?)(?: comment "([^"]*)")? \(verdict ([^)]*)\)\s*$/;

export function parseTraceLine(line: string): TraceEvent | undefined {
  const m = LINE.exec(line.trimEnd());
  if (!m) return undefined;
  const [, id, family, table, chain, kind, rest] = m as unknown as [string, string, string, string, string, string, string];
  if (kind === "packet:") return { id, family, table, chain, kind: "packet", text: rest.trim() };
  if (kind === "policy") return { id, family, table, chain, kind: "policy", text: rest.trim(), verdict: rest.trim() };
  const r = RULE_TAIL.exec(rest);
  if (!r) return { id, family, table, chain, kind: "rule", text: rest.trim() };
  return { id, family, table, chain, kind: "rule", text: r[1]!.trim(), ...(r[2] !== undefined ? { comment: r[2] } : {}), verdict: r[3]!.trim() };
}

/** The fields of a `packet:` line that the summary and the evaluator need. */
export interface PacketFields {
  iif?: string;
  oif?: string;
  family?: 4 | 6;
  src?: string;
  dst?: string;
  /** nft's protocol name (tcp, udp, icmp, ipv6-icmp, ...) or number. */
  protocol?: string;
  sport?: number;
  dport?: number;
  icmpType?: string;
  icmpCode?: string;
}

export function parsePacketFields(text: string): PacketFields {
  const out: PacketFields = {};
  const word = (re: RegExp) => re.exec(text)?.[1];
  const iif = word(/(?:^| )iif "([^"]+)"/);
  const oif = word(/(?:^| )oif "([^"]+)"/);
  if (iif) out.iif = iif;
  if (oif) out.oif = oif;
  const v4s = word(/(?:^| )ip saddr (\S+)/);
  const v6s = word(/(?:^| )ip6 saddr (\S+)/);
  if (v4s) Object.assign(out, { family: 4, src: v4s, dst: word(/(?:^| )ip daddr (\S+)/) });
  else if (v6s) Object.assign(out, { family: 6, src: v6s, dst: word(/(?:^| )ip6 daddr (\S+)/) });
  const proto = word(/(?:^| )ip protocol (\S+)/) ?? word(/(?:^| )ip6 nexthdr (\S+)/);
  if (proto) out.protocol = proto;
  const sport = word(/(?:^| )(?:tcp|udp|sctp|udplite) sport (\d+)/);
  const dport = word(/(?:^| )(?:tcp|udp|sctp|udplite) dport (\d+)/);
  if (sport) out.sport = Number(sport);
  if (dport) out.dport = Number(dport);
  const icmpType = word(/(?:^| )icmp(?:v6)? type (\S+)/);
  const icmpCode = word(/(?:^| )icmp(?:v6)? code (\S+)/);
  if (icmpType) out.icmpType = icmpType;
  if (icmpCode) out.icmpCode = icmpCode;
  return out;
}
